"""Deterministic batches, and the child processes of the reliability tests.

Run as a script, this is a child: ``python workload.py COMMAND ARGS...``. It imports
only the write side of eventkit (no DuckDB, no pandas) so it starts fast. Children
talk to the parent through short lines on stdout, written with one ``os.write`` each
(atomic on a pipe), so a child killed at any moment never leaves half a line.

Imported, it gives the tests the same batch builder, so the parent knows exactly
which events (ids, payloads, metadata) every batch holds.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta

from eventkit.catalog.events import (
    ApprovalResolved,
    CheckpointCreated,
    Event,
    MessageAdded,
    MessageDelta,
    SettingChanged,
    ThreadCreated,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
)
from eventkit.log.store import EventStore, NewEvent

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MIN_BATCH = 11


def batch_events(tag: str, number: int, size: int) -> list[NewEvent]:
    """Batch ``number`` of a writer ``tag``: one small session of exactly ``size`` events.

    Ids derive from ``(tag, number, index)``, so re-sending a batch re-sends the same
    events. Every batch writes to the shared ``settings`` stream, and (after the first)
    adds a delta to the previous batch's reply, so batches contend for streams and
    touch projection rows that earlier batches made.
    """
    if size < MIN_BATCH:
        raise ValueError(f"a batch has at least {MIN_BATCH} events")
    base = T0 + timedelta(minutes=number)
    thread, turn, call = f"{tag}-t{number}", f"{tag}-u{number}", f"{tag}-c{number}"
    prompt, reply = f"{tag}-m{number}", f"{tag}-r{number}"

    def at(i: int) -> datetime:
        return base + timedelta(seconds=i, microseconds=number % 1_000_000)

    events: list[Event] = [
        ThreadCreated(
            id=thread,
            project_id=f"{tag}-p",
            title=f"session {number}",
            provider="claude",
            model="m-1",
            at=at(0),
        ),
        TurnStarted(id=turn, thread_id=thread, model="m-1", at=at(1)),
        MessageAdded(
            id=prompt, thread_id=thread, turn_id=turn, role="user", text=f"task {number}", at=at(2)
        ),
        ToolCallStarted(
            id=call,
            thread_id=thread,
            turn_id=turn,
            tool="Bash",
            input={"command": f"make test-{number}", "timeout": number % 60},
            at=at(3),
        ),
        ApprovalResolved(
            id=f"{tag}-a{number}",
            thread_id=thread,
            turn_id=turn,
            tool_call_id=call,
            decision="accepted",
            requested_at=at(3),
            at=at(4),
        ),
        ToolCallCompleted(
            id=call,
            thread_id=thread,
            turn_id=turn,
            status="error" if number % 3 == 0 else "ok",
            output=f"exit {number % 3}",
            at=at(5),
        ),
        MessageAdded(id=reply, thread_id=thread, turn_id=turn, role="assistant", text="", at=at(6)),
    ]
    assert len(events) == DELTA_INDEX
    for i in range(DELTA_INDEX, size - 3):
        if i == DELTA_INDEX and number > 0:  # the previous batch's reply grows too
            previous = f"{tag}-t{number - 1}"
            events.append(
                MessageDelta(id=f"{tag}-r{number - 1}", thread_id=previous, delta="+", at=at(i))
            )
        else:
            events.append(
                MessageDelta(id=reply, thread_id=thread, turn_id=turn, delta=f"{i} ", at=at(i))
            )
    events += [
        CheckpointCreated(
            id=f"{tag}-k{number}",
            thread_id=thread,
            turn_id=turn,
            git_ref=f"{number:040x}",
            message="checkpoint",
            files_changed=number % 7,
            additions=number,
            deletions=number // 2,
            at=at(size - 3),
        ),
        TurnCompleted(
            id=turn,
            thread_id=thread,
            outcome="success",
            usage=TokenUsage(input_tokens=number, output_tokens=2 * number, cache_read_tokens=7),
            cost_usd=number / 1000,
            cost_source="recorded",
            at=at(size - 2),
        ),
        SettingChanged(key=f"{tag}.last_batch", value={"batch": number}, at=at(size - 1)),
    ]
    assert len(events) == size
    return [
        NewEvent(
            event,
            event_id=derived_id(event.at, tag, number, i),
            metadata={"tag": tag, "batch": number, "index": i},
        )
        for i, event in enumerate(events)
    ]


DELTA_INDEX = 7
"""Where a batch (after the first) holds its delta to the previous batch's reply."""


def thread_events(number: int, size: int) -> int:
    """How many events batch ``number`` writes to its own thread (all but two, or one)."""
    return size - 1 - (1 if number > 0 else 0)


# --------------------------------------------------------------------------- children


def say(line: str) -> None:
    """One line to the parent, in one write (atomic on a pipe)."""
    os.write(1, (line + "\n").encode())


def kill_child(log: str, first: int, size: int, pace: float, seed: int) -> None:
    """Append batches ``first, first + 1, …`` until killed; ``ack N`` after each returns.

    The pause of up to ``pace`` seconds comes between a commit and its acknowledgement,
    so a kill often finds a batch committed whose acknowledgement never left.
    """
    rng = random.Random(seed)
    store = EventStore.open(log)
    say("ready")
    number = first
    while True:
        say(f"begin {number}")
        store.append_all(batch_events("k", number, size))
        if pace:
            time.sleep(rng.uniform(0, pace))
        say(f"ack {number}")
        number += 1


def _wait_for(path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.002)


def writer(log: str, tag: str, batches: int, size: int, go: str, out: str) -> None:
    """Append ``batches`` batches once ``go`` exists; report each batch's sequences."""
    _wait_for(go)
    report: dict = {"batches": [], "errors": []}
    try:
        store = EventStore.open(log)  # the writers race to create and migrate the log
        for number in range(batches):
            events = batch_events(tag, number, size)
            if number > 0:
                # Only this writer writes its threads, so the version it expects for the
                # previous batch's thread must hold whatever the other writers do.
                delta = events[DELTA_INDEX]
                expected = thread_events(number - 1, size)
                events[DELTA_INDEX] = NewEvent(
                    delta.event, delta.event_id, delta.metadata, expected_version=expected
                )
            started = time.perf_counter()
            stored = store.append_all(events)
            report["batches"].append(
                {
                    "batch": number,
                    "sequences": [s.sequence for s in stored],
                    "seconds": time.perf_counter() - started,
                }
            )
        store.close()
    except BaseException:
        report["errors"].append(traceback.format_exc())
    with open(out, "w") as fh:
        json.dump(report, fh)


def tailer(log: str, total: int, go: str, out: str) -> None:
    """Follow the log with ``replay_from`` until ``total`` events were seen (or killed)."""
    _wait_for(go)
    report: dict = {"seen": [], "polls": 0, "polls_with_events": 0, "errors": []}
    seen = report["seen"]
    try:
        store = EventStore.open(log)
        last = 0
        while last < total:
            report["polls"] += 1
            fresh = 0
            for stored in store.replay_from(last + 1):
                seen.append([stored.sequence, stored.event_id])
                last = stored.sequence
                fresh += 1
            if fresh:
                report["polls_with_events"] += 1
            else:
                time.sleep(0.005)
        store.close()
    except BaseException:
        report["errors"].append(traceback.format_exc())
    with open(out, "w") as fh:
        json.dump(report, fh)


def steady_writer(log: str, size: int, stop: str, out: str) -> None:
    """Append batches until ``stop`` exists, timing every ``append_all``."""
    report: dict = {"latencies": [], "errors": []}
    try:
        store = EventStore.open(log)
        say("ready")
        number = 0
        while not os.path.exists(stop):
            events = batch_events("s", number, size)
            started = time.perf_counter()
            store.append_all(events)
            report["latencies"].append(time.perf_counter() - started)
            number += 1
            time.sleep(0.002)
        store.close()
    except BaseException:
        report["errors"].append(traceback.format_exc())
    with open(out, "w") as fh:
        json.dump(report, fh)


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "kill-child":
        log, first, size, pace, seed = args
        kill_child(log, int(first), int(size), float(pace), int(seed))
    elif command == "writer":
        log, tag, batches, size, go, out = args
        writer(log, tag, int(batches), int(size), go, out)
    elif command == "tailer":
        log, total, go, out = args
        tailer(log, int(total), go, out)
    elif command == "steady-writer":
        log, size, stop, out = args
        steady_writer(log, int(size), stop, out)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
