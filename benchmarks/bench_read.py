"""Read throughput: eventkit's DuckDB read side against plain SQLite and Python.

Three cases, each measured in the same run on the same log:

- ``events_df(log)`` against ``pandas.read_sql("select * from events", conn)``
  (target >= 3x faster);
- ``turns_df(log)`` against a per-row Python replay: ``json.loads`` of every payload
  in sequence order with dict updates per turn (target >= 5x);
- a typed-view aggregate through ``sql()`` against the same aggregate in SQLite with
  ``json_extract`` over ``events where event_type = 'TurnCompleted'`` (target >= 3x).

The log (default 1,000,000 events; ``EVENTKIT_BENCH_EVENTS`` or ``--events`` for
more) is built once into ``benchmarks/.work/``. eventkit's columnar cache lives in
``benchmarks/.work/cache``: the first read of a fresh log builds it ("cold", reported
apart), later reads use it ("warm", the median of ``--repeat`` runs; the ratios).

    python -m benchmarks.bench_read [--events N] [--repeat 5] [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ._timing import median_time, time_call

WORK = Path(__file__).resolve().parent / ".work"
DEFAULT_EVENTS = int(os.environ.get("EVENTKIT_BENCH_EVENTS", "1000000"))
TARGETS = {"events_df": 3.0, "turns_df": 5.0, "typed_aggregate": 3.0}
AGGREGATE_VIEW = "SELECT count(*), avg(usage_output_tokens), sum(cost_usd) FROM turn_completed"
AGGREGATE_SQLITE = (
    "SELECT count(*), avg(json_extract(payload, '$.usage.output_tokens')), "
    "sum(json_extract(payload, '$.cost_usd')) FROM events WHERE event_type = 'TurnCompleted'"
)


# ------------------------------------------------------------------ the log


def build_log(path: Path, events: int, seed: int, say: Callable[[str], None]) -> Path:
    """A generated log of about ``events`` events, built once and kept."""
    import eventkit as ek

    if path.exists():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            stored = conn.execute("SELECT coalesce(max(sequence), 0) FROM events").fetchone()[0]
            done = conn.execute("SELECT max(last_sequence) FROM projection_state").fetchone()[0]
        if stored >= events and done == stored:
            return path
        for stale in path.parent.glob(f"{path.name}*"):
            stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    say(f"building a log of {events:,} events in {path} (once) ...")
    start = time.perf_counter()
    ek.generate_log(path, events=events, seed=seed, projections=False, batch_size=5_000)
    conn = ek.open_or_create_db(path)
    try:
        ek.catch_up(conn)
    finally:
        conn.close()
    say(f"  built in {time.perf_counter() - start:.0f}s")
    return path


# ------------------------------------------------------------------ baselines


def read_sql_events(path: Path) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql("select * from events", conn)


TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def python_replay_turns(path: Path) -> pd.DataFrame:
    """The turns frame the straightforward way: one event at a time, in sequence order."""
    threads: set[str] = set()
    turns: dict[str, dict[str, Any]] = {}
    calls: dict[str, dict[str, Any]] = {}
    counts: dict[str, list[int]] = {}
    spent: dict[str, dict[str, Any]] = {}  # model calls, as their latest revision states them
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT sequence, event_type, occurred_at, payload FROM events ORDER BY sequence"
        )
        for _, event_type, at, payload in rows:
            p = json.loads(payload)
            if event_type == "ThreadCreated":
                threads.add(p["id"])
            elif event_type == "TurnStarted":
                if p["id"] not in turns and p["thread_id"] in threads:
                    turns[p["id"]] = {
                        "turn_id": p["id"],
                        "thread_id": p["thread_id"],
                        "model": p.get("model"),
                        "status": "running",
                        "started_at": at,
                    }
            elif event_type == "TurnCompleted":
                turn = turns.get(p["id"])
                if turn is not None and turn["status"] == "running":
                    usage = p.get("usage") or {}
                    start = datetime.fromisoformat(turn["started_at"])
                    turn.update(
                        status=p["outcome"],
                        completed_at=at,
                        duration_ms=(datetime.fromisoformat(at) - start).total_seconds() * 1e3,
                        input_tokens=usage.get("input_tokens"),
                        output_tokens=usage.get("output_tokens"),
                        cache_read_tokens=usage.get("cache_read_tokens"),
                        cache_write_tokens=usage.get("cache_write_tokens"),
                        reasoning_tokens=usage.get("reasoning_tokens"),
                        cost_usd=p.get("cost_usd"),
                        cost_source=p.get("cost_source"),
                        error=p.get("error"),
                    )
            elif event_type == "ToolCallStarted":
                if p["id"] not in calls and p["thread_id"] in threads:
                    calls[p["id"]] = {"turn_id": p["turn_id"], "status": "running"}
                    counts.setdefault(p["turn_id"], [0, 0])[0] += 1
            elif event_type == "ToolCallCompleted":
                call = calls.get(p["id"])
                if call is not None and call["status"] == "running":
                    call["status"] = p["status"]
                    if p["status"] == "error":
                        counts.setdefault(call["turn_id"], [0, 0])[1] += 1
            elif event_type == "ModelCallCompleted":
                held = spent.get(p["id"])
                revision = p.get("revision", 1)
                if held is None and p["thread_id"] in threads:
                    spent[p["id"]] = {"turn_id": p.get("turn_id"), "revision": revision, "p": p}
                elif held is not None and revision >= held["revision"]:
                    held.update(revision=revision, p=p)
    by_turn: dict[str, list[dict[str, Any]]] = {}
    for call_id in sorted(spent):
        by_turn.setdefault(spent[call_id]["turn_id"], []).append(spent[call_id]["p"])
    for turn_id, turn in turns.items():
        turn["tool_calls"], turn["tool_errors"] = counts.get(turn_id, (0, 0))
        mine = by_turn.get(turn_id)
        if mine:  # a turn's usage is its model calls' sums
            for column in TOKENS:
                turn[column] = sum(c["usage"].get(column, 0) for c in mine)
            costs = [c["cost_usd"] for c in mine if c.get("cost_usd") is not None]
            turn["cost_usd"] = sum(costs) if costs else None
    frame = pd.DataFrame.from_records(list(turns.values()))
    for column in ("started_at", "completed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def sqlite_aggregate(path: Path) -> tuple:
    with sqlite3.connect(path) as conn:
        return conn.execute(AGGREGATE_SQLITE).fetchone()


# ------------------------------------------------------------------ timing


def run(
    events: int = DEFAULT_EVENTS,
    *,
    repeat: int = 5,
    seed: int = 0,
    cache: bool = True,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the three cases; return ``{"benchmark", "events", "cases", "targets", "passed"}``."""
    say = echo or (lambda _line: None)
    log = build_log(WORK / f"read-{events}.db", events, seed, say)
    cache_dir = WORK / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)  # "cold" means: no cache yet
    os.environ["EVENTKIT_CACHE_DIR"] = str(cache_dir)
    if cache:
        os.environ.pop("EVENTKIT_CACHE", None)
    else:  # to see what the cache is worth
        os.environ["EVENTKIT_CACHE"] = "0"

    import eventkit as ek
    from eventkit.read import readers

    readers.close_readers()
    with sqlite3.connect(log) as conn:
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    say(
        f"read benchmark: {n_events:,} events, median of {repeat} warm runs, "
        f"columnar cache {'on' if cache else 'off'}"
    )

    cold_connect, _ = time_call(lambda: ek.sql(log, "SELECT 1"))  # extension, views, cache build
    cases: list[dict[str, Any]] = []

    def case(name: str, ours: Callable[[], Any], baseline: Callable[[], Any]) -> Any:
        cold, _ = time_call(ours)
        warm, got = median_time(ours, repeat)
        base, expected = median_time(baseline, max(1, repeat - 1))
        cases.append(
            {
                "case": name,
                "eventkit_s": warm,
                "eventkit_cold_s": cold,
                "baseline_s": base,
                "ratio": base / warm,
                "target": TARGETS[name],
                "met": base / warm >= TARGETS[name],
            }
        )
        c = cases[-1]
        say(
            f"{name:>16}: eventkit {warm:7.3f}s (first call {cold:6.3f}s)  "
            f"baseline {base:7.3f}s  ratio {c['ratio']:6.1f}x  "
            f"(target {c['target']}x: {'met' if c['met'] else 'MISSED'})"
        )
        return got, expected

    got, expected = case("events_df", lambda: ek.events_df(log), lambda: read_sql_events(log))
    assert len(got) == len(expected) == n_events
    got, expected = case("turns_df", lambda: ek.turns_df(log), lambda: python_replay_turns(log))
    assert len(got) == len(expected)
    assert int(got.output_tokens.sum()) == int(expected.output_tokens.sum())
    assert int(got.tool_errors.sum()) == int(expected.tool_errors.sum())
    got, expected = case(
        "typed_aggregate",
        lambda: ek.sql(log, AGGREGATE_VIEW),
        lambda: sqlite_aggregate(log),
    )
    assert int(got.iloc[0, 0]) == expected[0]
    assert abs(float(got.iloc[0, 2]) - expected[2]) < 1e-6 * max(1.0, abs(expected[2]))

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    passed = all(c["met"] for c in cases)
    say(f"first connection (extension, views, cache build): {cold_connect:.2f}s")
    say(f"peak memory (RSS): {peak_mib:,.0f} MiB; targets {'met' if passed else 'MISSED'}")
    readers.close_readers()
    return {
        "benchmark": "read",
        "events": n_events,
        "cache": cache,
        "cases": cases,
        "first_connection_s": cold_connect,
        "peak_rss_mib": peak_mib,
        "targets": TARGETS,
        "passed": passed,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-cache", action="store_true", help="read the log without the columnar cache"
    )
    args = parser.parse_args(argv)
    return run(args.events, repeat=args.repeat, seed=args.seed, cache=not args.no_cache)


if __name__ == "__main__":
    main()
