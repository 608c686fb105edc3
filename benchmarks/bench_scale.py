"""Scaling: how cost grows from 100k to 1M events (10M with EVENTKIT_BENCH_10M=1).

Each size runs in its own process, so its peak memory (max RSS) is measured alone.
Per size: build the log (generated events, projections off, then ``catch_up``),
then ``events_df``, ``turns_df`` and a typed-view aggregate. Cost per million events
that stays flat across sizes means linear growth.

    python -m benchmarks.bench_scale [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._memory import peak_rss_mib

DEFAULT_SIZES = [100_000, 1_000_000] + (
    [10_000_000] if os.environ.get("EVENTKIT_BENCH_10M") else []
)
STEPS = ("build", "events_df", "turns_df", "typed_aggregate")


def _child(events: int) -> dict[str, float]:
    import eventkit as ek

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="eventkit-scale-") as tmp:
        os.environ["EVENTKIT_CACHE_DIR"] = str(Path(tmp) / "cache")
        log = Path(tmp) / "scale.db"
        start = time.perf_counter()
        ek.generate_log(log, events=events, projections=False, batch_size=5_000, progress=False)
        with ek.EventStore.open(log, projections=False) as store:
            ek.catch_up(store.conn)
            actual = store.last_sequence()
        timings["build"] = time.perf_counter() - start
        for name, work in (
            ("events_df", lambda: ek.events_df(log)),
            ("turns_df", lambda: ek.turns_df(log)),
            (
                "typed_aggregate",
                lambda: ek.sql(
                    log,
                    "select count(*), avg(usage_output_tokens), sum(cost_usd) from turn_completed",
                ),
            ),
        ):
            start = time.perf_counter()
            work()
            timings[name] = time.perf_counter() - start
    return {"events": actual, **timings, "peak_rss_mib": peak_rss_mib()}


def _measure(events: int) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_scale", "--child", str(events)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"scale run of {events:,} events failed ({proc.returncode})")
    return json.loads(out)


def run(
    sizes: Sequence[int] = DEFAULT_SIZES, *, echo: Callable[[str], None] | None = print
) -> dict[str, Any]:
    say = echo or (lambda _line: None)
    rows = []
    for size in sizes:
        result = _measure(size)
        rows.append(result)
        per_m = {s: result[s] / result["events"] * 1e6 for s in STEPS}
        say(
            f"{result['events']:>11,} events: "
            + "  ".join(f"{s} {result[s]:.2f}s ({per_m[s]:.2f}s/M)" for s in STEPS)
            + f"  peak RSS {result['peak_rss_mib']:,.0f} MiB"
        )
    base = rows[0]
    growth = {s: [(r[s] / r["events"]) / (base[s] / base["events"]) for r in rows] for s in STEPS}
    for s in STEPS:
        say(
            f"{s:>16}: cost per event relative to the smallest size: "
            + ", ".join(f"{g:.2f}x" for g in growth[s])
        )
    return {"benchmark": "scale", "rows": rows, "growth_per_event": growth, "passed": None}


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child)))
        return None
    return run([int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()
