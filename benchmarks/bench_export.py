"""Parquet export: export speed, and the cost of querying the dataset from 100k to 1M events.

(10M with ``EVENTKIT_BENCH_10M=1``.) Each size runs in its own process, so its peak
memory (max RSS) is measured alone. Per size: build the log (generated events,
projections off, then ``catch_up``); ``export_parquet`` it (events/s, files); then on
the dataset:

- ``compact``: the first connection, which makes the compacted copy of the dataset
  (one Parquet file per event type) that later queries read;
- ``typed_aggregate`` and ``turns_df``: warm, the median of three runs;
- ``aggregate_direct``: the typed aggregate over the part files themselves (no copy);

and last, 1% more events: exported, then added to the compacted copy (incremental).

Cost per million events that stays flat across sizes means linear growth. The
generated sessions are sparse in time (about 240 events a day), so the dataset has
a file per event type and day for every ~4,000 events: small files, whose count
grows with the log.

    python -m benchmarks.bench_export [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
AGGREGATE = "select count(*), avg(usage_output_tokens), sum(cost_usd) from turn_completed"
STEPS = ("export", "compact", "typed_aggregate", "turns_df", "aggregate_direct")


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _child(events: int) -> dict[str, Any]:
    import eventkit as ek

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eventkit-export-") as tmp:
        os.environ["EVENTKIT_CACHE_DIR"] = str(Path(tmp) / "cache")
        log, dataset = Path(tmp) / "bench.db", Path(tmp) / "dataset"
        start = time.perf_counter()
        ek.generate_log(log, events=events, projections=False, batch_size=5_000, progress=False)
        with ek.EventStore.open(log, projections=False) as store:
            ek.catch_up(store.conn)
            result["events"] = store.last_sequence()
        result["build"] = time.perf_counter() - start

        start = time.perf_counter()
        report = ek.export_parquet(log, dataset, progress=False)
        result["export"] = time.perf_counter() - start
        result["files"] = report.files
        result["dataset_mib"] = sum(p.stat().st_size for p in dataset.rglob("*")) / 2**20
        result["peak_rss_export_mib"] = peak_rss_mib()

        result["compact"] = _timed(lambda: ek.sql(dataset, "select 1"))
        result["peak_rss_compact_mib"] = peak_rss_mib()
        for name, work in (
            ("typed_aggregate", lambda: ek.sql(dataset, AGGREGATE)),
            ("turns_df", lambda: ek.turns_df(dataset)),
        ):
            result[name] = statistics.median(_timed(work) for _ in range(3))
        con = ek.connect_duckdb(dataset, cache=False)
        try:
            result["aggregate_direct"] = _timed(lambda: ek.sql(con, AGGREGATE))
        finally:
            con.close()

        # 1% more events: exported, then added to the compacted copy, incrementally.
        ek.generate_log(log, events=events // 100, seed=1, projections=False, progress=False)
        start = time.perf_counter()
        more = ek.export_parquet(log, dataset, progress=False)
        result["incremental_export"] = time.perf_counter() - start
        result["incremental_events"] = more.events
        result["incremental_compact"] = _timed(lambda: ek.sql(dataset, "select 1"))
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def _measure(events: int) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_export", "--child", str(events)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"export run of {events:,} events failed ({proc.returncode})")
    return json.loads(out)


def run(
    sizes: Sequence[int] = DEFAULT_SIZES, *, echo: Callable[[str], None] | None = print
) -> dict[str, Any]:
    say = echo or (lambda _line: None)
    rows = []
    for size in sizes:
        row = _measure(size)
        row["export_events_per_s"] = row["events"] / row["export"]
        row["incremental_events_per_s"] = row["incremental_events"] / row["incremental_export"]
        rows.append(row)
        say(
            f"{row['events']:>11,} events: export {row['export']:.1f}s "
            f"({row['export_events_per_s']:,.0f} ev/s, {row['files']:,} files, "
            f"{row['dataset_mib']:,.0f} MiB); then +{row['incremental_events']:,} events: "
            f"export {row['incremental_export']:.1f}s, compact "
            f"{row['incremental_compact']:.1f}s; peak RSS {row['peak_rss_mib']:,.0f} MiB "
            f"(after export {row['peak_rss_export_mib']:,.0f}, "
            f"after compact {row['peak_rss_compact_mib']:,.0f})"
        )
        say(
            "             dataset: "
            + "  ".join(
                f"{s} {row[s]:.2f}s ({row[s] / row['events'] * 1e6:.2f}s/M)" for s in STEPS[1:]
            )
        )
    base = rows[0]
    growth = {s: [(r[s] / r["events"]) / (base[s] / base["events"]) for r in rows] for s in STEPS}
    for s in STEPS:
        say(
            f"{s:>16}: cost per event relative to the smallest size: "
            + ", ".join(f"{g:.2f}x" for g in growth[s])
        )
    return {"benchmark": "export", "rows": rows, "growth_per_event": growth, "passed": None}


def markdown(export: dict[str, Any]) -> list[str]:
    """The results as a Markdown section of ``results.md``."""
    lines = [
        "",
        "## Parquet export and dataset queries",
        "",
        "| events | export | files | dataset | compact | typed aggregate | turns_df | "
        "+1% export | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in export["rows"]:
        lines.append(
            f"| {row['events']:,} | {row['export']:.1f} s ({row['export_events_per_s']:,.0f} ev/s) "
            f"| {row['files']:,} | {row['dataset_mib']:,.0f} MiB | {row['compact']:.2f} s "
            f"| {row['typed_aggregate']:.3f} s | {row['turns_df']:.2f} s "
            f"| {row['incremental_export']:.2f} s | {row['peak_rss_mib']:,.0f} MiB |"
        )
    lines += ["", "Cost per event relative to the smallest size (1.00x = linear):", ""]
    for step, growth in export["growth_per_event"].items():
        lines.append(f"- {step}: " + ", ".join(f"{g:.2f}x" for g in growth))
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child)))
        return None
    result = run([int(s) for s in args.sizes.split(",") if s])
    print("\n".join(markdown(result)))
    return result


if __name__ == "__main__":
    main()
