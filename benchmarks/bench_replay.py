"""Typed replay (``EventStore.replay_all``, pydantic models) against raw rows + json.loads.

python -m benchmarks.bench_replay [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def run(events: int = 200_000, *, echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    import eventkit as ek

    say = echo or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="eventkit-replay-") as tmp:
        log = Path(tmp) / "replay.db"
        ek.generate_log(log, events=events, projections=False, batch_size=5_000, progress=False)
        with ek.EventStore.open(log, projections=False) as store:
            start = time.perf_counter()
            typed = sum(1 for _ in store.replay_all())
            typed_s = time.perf_counter() - start
        conn = sqlite3.connect(log)
        start = time.perf_counter()
        raw = sum(
            1
            for row in conn.execute("SELECT * FROM events ORDER BY sequence")
            if json.loads(row[8])
        )
        raw_s = time.perf_counter() - start
        conn.close()
    assert typed == raw
    case = {
        "case": "typed replay",
        "events": typed,
        "eventkit_s": typed_s,
        "baseline_s": raw_s,
        "ratio": raw_s / typed_s,
    }
    say(
        f"typed replay: {typed:,} events in {typed_s:.2f}s ({typed / typed_s:,.0f} ev/s); "
        f"raw rows + json.loads {raw_s:.2f}s; ratio {case['ratio']:.2f}x"
    )
    return {"benchmark": "replay", "cases": [case], "passed": None}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    return run(parser.parse_args(argv).events)


if __name__ == "__main__":
    main()
