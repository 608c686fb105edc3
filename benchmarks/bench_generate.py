"""Generator throughput: events/s of ``synth.generate`` alone and written to a log.

The baseline is the cost of writing the same events: ``generate_log`` with
projections off, so the ratio shows what share of a build the generator takes.

    python -m benchmarks.bench_generate [--events 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def run(events: int = 200_000, *, echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    import eventkit as ek

    say = echo or (lambda _line: None)
    start = time.perf_counter()
    generated = sum(1 for _ in ek.generate(7, events=events))
    generate_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="eventkit-bench-generate-") as tmp:
        start = time.perf_counter()
        written = ek.generate_log(
            Path(tmp) / "log.db", seed=7, events=events, projections=False, progress=False
        )
        write_s = time.perf_counter() - start
    case = {
        "events": generated,
        "generate_events_per_s": generated / generate_s,
        "generate_log_events_per_s": written / write_s,
        "share_of_build": generate_s / write_s,
    }
    say(
        f"generate: {generated:,} events in {generate_s:.2f}s = "
        f"{case['generate_events_per_s']:,.0f} ev/s; generate_log (projections off) "
        f"{case['generate_log_events_per_s']:,.0f} ev/s"
    )
    return {"benchmark": "generate", "cases": [case], "passed": None}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    return run(parser.parse_args(argv).events)


if __name__ == "__main__":
    main()
