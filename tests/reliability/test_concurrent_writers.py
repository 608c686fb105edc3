"""Writer processes append concurrently while a reader process tails the log.

Four writers (real processes) race to create the log, then append batches that
contend for a shared stream; a fifth process follows the log with ``replay_from``.
No writer may see an error, batches may not interleave, the sequence has no gap,
the reader sees every event once and in order, and the projections equal a fresh
replay of the log at the end.

``EVENTKIT_STRESS_WRITERS`` and ``EVENTKIT_STRESS_BATCHES`` scale it up.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import workload

import eventkit as ek

WRITERS = int(os.environ.get("EVENTKIT_STRESS_WRITERS") or 4)
BATCHES = int(os.environ.get("EVENTKIT_STRESS_BATCHES") or 80)
SIZES = (11, 25, 40)
"""Batch sizes, by writer: small and large batches interleave in time."""
TIMEOUT = 300.0
TAIL_GRACE = 30.0
"""How long the reader may take to catch up once the writers are done."""


def _spawn(err: Path, *args: str) -> subprocess.Popen:
    with open(err, "wb") as fh:
        return subprocess.Popen([sys.executable, workload.__file__, *args], stderr=fh)


def _wait(procs: dict[Path, subprocess.Popen], timeout: float) -> None:
    """Wait for the processes to succeed (``timeout`` 0: just end them)."""
    try:
        for err, proc in procs.items():
            if timeout:
                code = proc.wait(timeout=timeout)
                assert code == 0, f"{err.stem} exited with {code}:\n{err.read_text()[-3000:]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_concurrent_writers_and_a_tailing_reader(tmp_path: Path):
    log, go = tmp_path / "log" / "events.db", tmp_path / "go"
    sizes = {f"w{w}": SIZES[w % len(SIZES)] for w in range(WRITERS)}
    total = sum(size * BATCHES for size in sizes.values())
    outs = {tag: tmp_path / f"{tag}.json" for tag in sizes}
    tail_out = tmp_path / "tailer.json"
    procs = {
        tmp_path / f"{tag}.err": _spawn(
            tmp_path / f"{tag}.err",
            *("writer", str(log), tag, str(BATCHES), str(size), str(go), str(outs[tag])),
        )
        for tag, size in sizes.items()
    }
    tail_err = tmp_path / "tailer.err"
    tail = {tail_err: _spawn(tail_err, "tailer", *(str(log), str(total), str(go), str(tail_out)))}
    time.sleep(0.5)  # let them start and wait at the line
    started = time.monotonic()
    go.touch()
    try:
        _wait(procs, TIMEOUT)
    except BaseException:
        _wait(tail, 0)  # the reader would wait for events that never come
        raise
    elapsed = time.monotonic() - started
    _wait(tail, TAIL_GRACE)  # it stops once it has seen every event

    reports = {tag: json.loads(out.read_text()) for tag, out in outs.items()}
    for tag, report in reports.items():
        assert report["errors"] == [], f"writer {tag} saw an error:\n{report['errors'][0]}"
        assert len(report["batches"]) == BATCHES

    with closing(sqlite3.connect(log)) as conn:
        count, first, last = conn.execute(
            "SELECT count(*), min(sequence), max(sequence) FROM events"
        ).fetchone()
        assert (count, first, last) == (total, 1, total), "events lost, or a sequence gap"

        # Each batch is contiguous, and sits where its writer was told it went.
        stored = {
            (tag, batch): (n, lo, hi)
            for tag, batch, n, lo, hi in conn.execute(
                "SELECT json_extract(metadata, '$.tag'), json_extract(metadata, '$.batch'),"
                " count(*), min(sequence), max(sequence) FROM events GROUP BY 1, 2"
            )
        }
        for tag, report in reports.items():
            for item in report["batches"]:
                size, sequences = sizes[tag], item["sequences"]
                assert sequences == list(range(sequences[0], sequences[0] + size)), (
                    f"{tag} batch {item['batch']} is not contiguous: {sequences}"
                )
                assert stored[tag, item["batch"]] == (size, sequences[0], sequences[-1])
        assert len(stored) == WRITERS * BATCHES

        # Every stream's versions run 1..n in sequence order, the shared one included.
        rows = conn.execute(
            "SELECT stream_id, stream_version FROM events ORDER BY stream_id, sequence"
        ).fetchall()
        versions: dict[str, list[int]] = {}
        for stream, version in rows:
            versions.setdefault(stream, []).append(version)
        for stream, seen in versions.items():
            assert seen == list(range(1, len(seen) + 1)), f"{stream} versions {seen[:20]}"
        assert len(versions["settings"]) == WRITERS * BATCHES

        by_sequence = dict(conn.execute("SELECT sequence, event_id FROM events"))
        projected = conn.execute("SELECT max(last_sequence) FROM projection_state").fetchone()[0]
        assert projected == total

    tail = json.loads(tail_out.read_text())
    assert tail["errors"] == [], f"the reader saw an error:\n{tail['errors'][0]}"
    assert [s for s, _ in tail["seen"]] == list(range(1, total + 1)), "reader missed or repeated"
    assert {s: e for s, e in tail["seen"]} == by_sequence
    assert tail["polls_with_events"] > 1, "the reader never saw the log while it grew"

    assert ek.audit(log, checks=["projections_agree"]) == []
    turns = ek.sql(log, "SELECT count(*) AS n, sum(tool_errors) AS errors FROM turns")
    assert turns["n"][0] == WRITERS * BATCHES
    assert turns["errors"][0] == WRITERS * len(range(0, BATCHES, 3))
    print(
        f"{WRITERS} writers, {WRITERS * BATCHES} batches, {total} events in {elapsed:.1f} s; "
        f"the reader polled {tail['polls']} times, {tail['polls_with_events']} with new events"
    )
