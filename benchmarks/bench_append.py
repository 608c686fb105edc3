"""Append throughput: ``EventStore.append_all`` against raw ``sqlite3.executemany``.

The baseline inserts the very rows the store wrote (ids, timestamps and payload text
already made, read back from the store's log) into a table with the ``events`` DDL of
``migrations/001_initial.sql``, one ``BEGIN IMMEDIATE`` per batch, on a connection set
up like the store's (WAL, ``synchronous=NORMAL``). Batches of 1, 100 and 1,000, with
projections off and on; each figure is the best of a few interleaved runs, and CPU-time
ratios are printed beside the wall-clock ones for busy machines. Targets (batches of
1,000, wall clock): >= 0.6x with projections off, >= 0.35x with projections on.

    python -m benchmarks.bench_append [--events N] [--batch-sizes 1,100,1000] [--repeat R]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventkit.catalog.events import (
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
    ModelCallCompleted,
    ProjectCreated,
    ProjectDeleted,
    ProjectRenamed,
    SettingChanged,
    ThreadArchived,
    ThreadCreated,
    ThreadDeleted,
    ThreadRenamed,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
)
from eventkit.log.migrations import BUSY_TIMEOUT_MS, migrations_dir, split_statements
from eventkit.log.store import EventStore

DEFAULT_EVENTS = 100_000
BATCH_SIZES = (1, 100, 1_000)
MAX_BATCHES = 20_000
TARGET_BATCH = 1_000
TARGETS = {"projections_off": 0.6, "projections_on": 0.35}

_WORDS = (
    "the a of to and in that is for it with as on this be are by from or we test file "
    "function error value return import class module data line call update config path "
    "build check result output input state thread turn event log index query table "
    "schema migration commit branch diff patch review fix refactor rename handle case "
    "should would could first then next because however instead already still only "
    "python sqlite duckdb pandas frame column row batch stream version sequence payload"
).split()
_TOOLS = ("Bash", "Read", "Edit", "Write", "Grep", "Glob", "WebFetch", "Task", "shell")
_MODELS = ("claude-sonnet-4", "gpt-5-codex", "claude-opus-4", "o4-mini")


# --------------------------------------------------------------------------- events


class _Text:
    """Deterministic prose: slices of one long random word stream."""

    def __init__(self, rng: random.Random, size: int = 1 << 20):
        words = rng.choices(_WORDS, k=size // 5)
        self.corpus = " ".join(words)
        self.rng = rng

    def __call__(self, low: int, high: int) -> str:
        length = self.rng.randint(low, high)
        start = self.rng.randrange(0, len(self.corpus) - length)
        return self.corpus[start : start + length]


def make_events(count: int, seed: int = 7) -> list[Event]:
    """``count`` realistic events, the same for the same seed (all 18 types from ~6,000 on).

    Sessions of a few projects: threads (some subagents) of 2-8 turns, each with user and
    assistant messages of a few hundred to a few thousand characters, streamed deltas,
    tool calls with outputs up to 4,000 characters, approvals, checkpoints and restores,
    model calls with token usage and cost (a tenth restated), renames, archives,
    deletions and setting changes.
    """
    return list(itertools.islice(_sessions(random.Random(seed)), count))


def _sessions(rng: random.Random) -> Iterator[Event]:
    """An endless, time-ordered stream of sessions."""
    text = _Text(rng)
    clock = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    n = 0

    def tick(low: float = 0.05, high: float = 20.0) -> datetime:
        nonlocal clock
        clock += timedelta(seconds=rng.uniform(low, high))
        return clock

    projects = [f"proj-{i}" for i in range(8)]
    for project in projects:
        yield ProjectCreated(id=project, name=project, path=f"/home/dev/{project}", at=tick())
    yield SettingChanged(key="theme", value={"dark": True, "font": 13}, at=tick())
    while True:
        n += 1
        thread = f"thread-{n}"
        model = rng.choice(_MODELS)
        parent = f"thread-{n - 1}" if n > 1 and rng.random() < 0.1 else None
        yield ThreadCreated(
            id=thread,
            project_id=rng.choice(projects),
            title=text(20, 80),
            provider="anthropic" if model.startswith("claude") else "openai",
            model=model,
            parent_thread_id=parent,
            at=tick(),
        )
        for t in range(rng.randint(2, 8)):
            yield from _turn(rng, text, tick, thread, f"{thread}-turn-{t}", model)
            if rng.random() < 0.05:
                yield ThreadRenamed(id=thread, title=text(20, 80), at=tick())
        if rng.random() < 0.1:
            yield ThreadArchived(id=thread, at=tick())
        if rng.random() < 0.03:
            yield ThreadDeleted(id=thread, at=tick())
        if rng.random() < 0.05:
            yield SettingChanged(key=f"setting.{rng.randint(1, 20)}", value=rng.random(), at=tick())
        if n % 50 == 0:
            project = rng.choice(projects)
            yield ProjectRenamed(id=project, name=f"{project}-v{n}", at=tick())
        if n % 100 == 0:
            project = f"scratch-{n}"
            yield ProjectCreated(id=project, name=project, path="/tmp/scratch", at=tick())
            yield ProjectDeleted(id=project, at=tick())


def _turn(
    rng: random.Random,
    text: _Text,
    tick: Callable[..., datetime],
    thread: str,
    turn: str,
    model: str,
) -> Iterator[Event]:
    yield TurnStarted(id=turn, thread_id=thread, model=model, at=tick())
    yield MessageAdded(
        id=f"{turn}-u", thread_id=thread, turn_id=turn, role="user", text=text(80, 900), at=tick()
    )
    reply = f"{turn}-a"
    yield MessageAdded(
        id=reply, thread_id=thread, turn_id=turn, role="assistant", text=text(200, 3000), at=tick()
    )
    for _ in range(rng.randint(0, 3)):
        yield MessageDelta(id=reply, thread_id=thread, turn_id=turn, delta=text(20, 400), at=tick())
    calls = rng.randint(0, 6)
    for c in range(calls):
        call = f"{turn}-call-{c}"
        tool = rng.choice(_TOOLS)
        yield ToolCallStarted(
            id=call,
            thread_id=thread,
            turn_id=turn,
            tool=tool,
            input={"command": text(10, 200), "path": f"/src/{text(5, 30)}", "timeout": 120},
            at=tick(),
        )
        if rng.random() < 0.1:
            requested = tick(0.01, 0.5)
            yield ApprovalResolved(
                id=f"{call}-approval",
                thread_id=thread,
                turn_id=turn,
                tool_call_id=call,
                decision=rng.choice(("accepted", "accepted", "declined", "cancelled")),
                requested_at=requested,
                at=tick(1, 60),  # a person's wait
            )
        status = rng.choices(("ok", "error", "denied"), weights=(90, 8, 2))[0]
        yield ToolCallCompleted(
            id=call, thread_id=thread, turn_id=turn, status=status, output=text(50, 4000), at=tick()
        )
    if calls and rng.random() < 0.3:
        checkpoint = f"{turn}-cp"
        yield CheckpointCreated(
            id=checkpoint,
            thread_id=thread,
            turn_id=turn,
            git_ref=f"{rng.getrandbits(160):040x}",
            message=text(20, 120),
            files_changed=rng.randint(1, 12),
            additions=rng.randint(0, 400),
            deletions=rng.randint(0, 200),
            at=tick(),
        )
        if rng.random() < 0.1:
            yield CheckpointRestored(id=checkpoint, thread_id=thread, at=tick())
    # The turn's tokens, as 1-3 model calls (some restated); the completion has none.
    for m in range(rng.randint(1, 3)):
        output = rng.randint(50, 4000)
        at = tick()
        for revision in range(1, 3 if rng.random() < 0.1 else 2):
            yield ModelCallCompleted(
                id=f"{turn}-response-{m}",
                thread_id=thread,
                turn_id=turn,
                model=model,
                usage=TokenUsage(
                    input_tokens=rng.randint(10, 5000),
                    output_tokens=output * revision // 2,
                    cache_read_tokens=rng.randint(0, 80_000),
                    cache_write_tokens=rng.randint(0, 8_000),
                    reasoning_tokens=rng.randint(0, output // 2),
                ),
                cost_usd=round(rng.uniform(0.001, 0.2), 6),
                cost_source="estimated",
                requested_at=at - timedelta(seconds=rng.uniform(1, 20)),
                stop_reason="end_turn",
                revision=revision,
                at=at if revision == 1 else tick(),
            )
    yield TurnCompleted(
        id=turn,
        thread_id=thread,
        outcome=rng.choices(("success", "error", "interrupted"), weights=(90, 6, 4))[0],
        at=tick(),
    )


# --------------------------------------------------------------------------- runs


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _events_ddl() -> list[str]:
    sql = next(migrations_dir().glob("001_*.sql")).read_text(encoding="utf-8")
    statements = split_statements(sql)
    return [
        s
        for s in statements
        if s.upper().startswith("CREATE TABLE EVENTS") or " ON EVENTS" in s.upper()
    ]


def _connect_like_the_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class _Clock:
    """Wall and CPU seconds of a block (CPU time shows the cost when the machine is busy)."""

    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def time_store(
    events: Sequence[Event], size: int, projections: bool, path: Path
) -> tuple[_Clock, list[tuple]]:
    """Time appending ``events`` in batches of ``size``; also return the rows as stored."""
    store = EventStore.open(path, projections=projections)
    batches = _batches(events, size)
    with _Clock() as clock:
        for batch in batches:
            store.append_all(batch)
    rows = store.conn.execute("SELECT * FROM events ORDER BY sequence").fetchall()
    store.close()
    return clock, rows


def time_baseline(rows: Sequence[tuple], size: int, path: Path) -> _Clock:
    """Time inserting ``rows`` with ``executemany``, one ``BEGIN IMMEDIATE`` per batch."""
    conn = _connect_like_the_store(path)
    for statement in _events_ddl():
        conn.execute(statement)
    marks = ", ".join("?" * len(rows[0]))
    insert = f"INSERT INTO events VALUES ({marks})"
    batches = _batches(rows, size)
    with _Clock() as clock:
        for batch in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(rows)
    conn.close()
    return clock


def run_case(sample: Sequence[Event], size: int, repeat: int, work: Path) -> dict[str, float | int]:
    """Best of ``repeat`` interleaved runs of store (projections off, on) and baseline."""
    best: dict[str, _Clock] = {}
    rows: list[tuple] = []
    for attempt in range(repeat):
        runs = {}
        runs["off"], stored = time_store(sample, size, False, work / f"off-{size}-{attempt}.db")
        runs["on"], _ = time_store(sample, size, True, work / f"on-{size}-{attempt}.db")
        rows = rows or stored
        runs["baseline"] = time_baseline(rows, size, work / f"base-{size}-{attempt}.db")
        for name, clock in runs.items():
            if name not in best or clock.wall < best[name].wall:
                best[name] = clock
    n = len(sample)
    return {
        "batch": size,
        "events": n,
        "baseline_events_per_s": n / best["baseline"].wall,
        "projections_off_events_per_s": n / best["off"].wall,
        "projections_on_events_per_s": n / best["on"].wall,
        "ratio_projections_off": best["baseline"].wall / best["off"].wall,
        "ratio_projections_on": best["baseline"].wall / best["on"].wall,
        "cpu_ratio_projections_off": best["baseline"].cpu / best["off"].cpu,
        "cpu_ratio_projections_on": best["baseline"].cpu / best["on"].cpu,
    }


def run(
    events: int = DEFAULT_EVENTS,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    *,
    repeat: int = 3,
    max_batches: int = MAX_BATCHES,
    seed: int = 7,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run every case; return ``{"benchmark", "events", "cases", "targets", "passed"}``.

    A case of batch size ``b`` appends the first ``min(events, b * max_batches)`` events,
    so batches of one stay quick; each figure is the best of ``repeat`` runs.
    """
    say = echo or (lambda _line: None)
    sample = make_events(events, seed)
    kinds = len({type(e) for e in sample})
    say(f"append benchmark: {len(sample):,} events of {kinds} types, best of {repeat}")
    say(
        f"{'batch':>6} {'events':>8} {'baseline ev/s':>14} {'store off ev/s':>15} {'ratio':>6} "
        f"{'store on ev/s':>14} {'ratio':>6}   cpu ratios off/on"
    )
    cases = []
    with tempfile.TemporaryDirectory(prefix="eventkit-bench-") as tmp:
        for size in batch_sizes:
            case = run_case(sample[: size * max_batches], size, repeat, Path(tmp))
            cases.append(case)
            say(
                f"{size:>6} {case['events']:>8,} {case['baseline_events_per_s']:>14,.0f} "
                f"{case['projections_off_events_per_s']:>15,.0f} "
                f"{case['ratio_projections_off']:>5.2f}x "
                f"{case['projections_on_events_per_s']:>14,.0f} "
                f"{case['ratio_projections_on']:>5.2f}x   "
                f"{case['cpu_ratio_projections_off']:.2f}x / "
                f"{case['cpu_ratio_projections_on']:.2f}x"
            )
    target_case = next((c for c in cases if c["batch"] == TARGET_BATCH), None)
    passed = None
    if target_case is not None:
        passed = all(target_case[f"ratio_{name}"] >= goal for name, goal in TARGETS.items())
        say(
            f"targets at batch {TARGET_BATCH:,}: >= {TARGETS['projections_off']}x off, "
            f">= {TARGETS['projections_on']}x on -> {'met' if passed else 'MISSED'}"
        )
    return {
        "benchmark": "append",
        "events": len(sample),
        "cases": cases,
        "targets": TARGETS,
        "passed": passed,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, BATCH_SIZES)),
        help="comma-separated batch sizes (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    parser.add_argument(
        "--max-batches",
        type=int,
        default=MAX_BATCHES,
        help="batches per case at most (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s]
    return run(args.events, sizes, repeat=args.repeat, max_batches=args.max_batches, seed=args.seed)


if __name__ == "__main__":
    main()
