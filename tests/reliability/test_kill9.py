"""kill -9 at random moments: acknowledged batches survive, whole, exactly once.

A child process appends batches of 50 events and acknowledges each on a pipe once
``append_all`` returns; the parent SIGKILLs it 0.05-2 s after starting it. Half the
rounds kill at that moment wherever the child is (starting up, creating the log,
between batches, inside an append); the other half wait from that moment for the
child to begin its next append and kill it 0-4 ms into it, so commits (and the
moments between a commit and its acknowledgement) are hit often.

After every round the log must pass ``PRAGMA integrity_check``, hold every
acknowledged batch exactly once and no partial batch, have no sequence gap, and
have projections equal to a fresh replay. A batch found committed but never
acknowledged is re-sent (same event ids) and must not be written again; the next
child starts by re-sending it too.

``EVENTKIT_KILL_ROUNDS=1000`` runs the long mode; ``EVENTKIT_KILL_SEED`` replays a
seed (printed at the start and in every failure).
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import workload

from eventkit.apps.audit import projection_differences
from eventkit.catalog.events import event_payload
from eventkit.log.store import EventStore

ROUNDS = int(os.environ.get("EVENTKIT_KILL_ROUNDS") or 20)
SEED = int(os.environ.get("EVENTKIT_KILL_SEED") or random.SystemRandom().randrange(2**32))
BATCH = 50
KILL_AFTER = (0.05, 2.0)
MID_APPEND_JITTER = 0.004
PACE = 0.004
"""Up to this many seconds between a commit and its acknowledgement: keeps each log
small, and leaves batches committed whose acknowledgement never left."""
ROUNDS_PER_LOG = 5
"""Each log lives for this many rounds, so the per-round checks stay cheap."""
WORKLOAD = Path(workload.__file__)


def _fail(round_no: int, message: str) -> None:
    pytest.fail(f"round {round_no}: {message} (EVENTKIT_KILL_SEED={SEED} reproduces the schedule)")


class Child:
    """A kill-child process and the lines it has written so far."""

    def __init__(self, log: Path, first: int, seed: int, stderr: Path):
        self.stderr_path = stderr
        with open(stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKLOAD),
                    "kill-child",
                    str(log),
                    str(first),
                    str(BATCH),
                    str(PACE),
                    str(seed),
                ],
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.fd = self.proc.stdout.fileno()
        self.pending = b""
        self.eof = False

    def read(self, timeout: float) -> list[str]:
        """Complete lines that arrive within ``timeout`` seconds (fewer if it ends)."""
        if self.eof:
            return []
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return []
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
            return []
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        return [line.decode() for line in lines]

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait()

    def drain(self) -> list[str]:
        """Every line still in the pipe (the child is dead: read to the end)."""
        lines = []
        while not self.eof:
            lines += self.read(5.0)
        self.proc.stdout.close()
        return lines

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]


@dataclass
class Round:
    """What the parent saw of one child."""

    acked: list[int] = field(default_factory=list)
    begun: list[int] = field(default_factory=list)
    ready: bool = False

    def take(self, lines: list[str]) -> None:
        for line in lines:
            word, _, number = line.partition(" ")
            if word == "ready":
                self.ready = True
            elif word == "begin":
                self.begun.append(int(number))
            elif word == "ack":
                self.acked.append(int(number))
            else:
                raise AssertionError(f"unexpected line from the child: {line!r}")

    @property
    def in_flight(self) -> int | None:
        """The batch the child had begun and not acknowledged when it died."""
        if self.begun and (not self.acked or self.begun[-1] > self.acked[-1]):
            return self.begun[-1]
        return None


def run_round(log: Path, first: int, rng: random.Random, round_no: int, tmp: Path) -> Round:
    delay = rng.uniform(*KILL_AFTER)
    mid_append = rng.random() < 0.5
    jitter = rng.uniform(0, MID_APPEND_JITTER)
    child = Child(log, first, rng.randrange(2**32), tmp / f"child-{round_no}.err")
    seen = Round()
    try:
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0 and not child.eof:
            seen.take(child.read(left))
        if mid_append and not child.eof:
            begun = len(seen.begun)
            give_up = time.monotonic() + 30
            while len(seen.begun) == begun and not child.eof and time.monotonic() < give_up:
                seen.take(child.read(give_up - time.monotonic()))
            time.sleep(jitter)
        if child.proc.poll() is not None:
            _fail(round_no, f"the child died on its own:\n{child.stderr()}")
        code = child.kill()
        seen.take(child.drain())
    finally:
        if child.proc.poll() is None:
            child.kill()
    if code != -signal.SIGKILL:
        _fail(round_no, f"the child exited with {code}:\n{child.stderr()}")
    if seen.acked != list(range(first, first + len(seen.acked))):
        _fail(round_no, f"acknowledgements out of order: {seen.acked}")
    return seen


def _open_for_checks(log: Path) -> sqlite3.Connection:
    """Read-only, so the crashed WAL is left for the next child to recover.

    A kill while the first migration was being written (before WAL mode) can leave
    a hot rollback journal, which only a writable connection may roll back.
    """
    conn = sqlite3.connect(f"file:{log}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if "readonly" not in str(exc) and "read-only" not in str(exc):
            raise
        conn = sqlite3.connect(log)
    return conn


def verify_log(log: Path, acked_through: int, round_no: int) -> dict[int, tuple[int, int]]:
    """Check the log after a kill; returns ``batch -> (first, last sequence)``."""
    if not log.exists():
        assert acked_through < 0, f"round {round_no}: the log is gone"
        return {}
    with closing(_open_for_checks(log)) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            _fail(round_no, f"integrity_check: {integrity}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "events" not in tables or "schema_migrations" not in tables:
            if acked_through >= 0:
                _fail(round_no, f"acknowledged batches but the log has no schema: {tables}")
            return {}
        batches = {}
        for number, count, distinct, first, last in conn.execute(
            "SELECT json_extract(metadata, '$.batch'), count(*), count(DISTINCT event_id),"
            " min(sequence), max(sequence) FROM events GROUP BY 1 ORDER BY 1"
        ):
            if count != BATCH or distinct != BATCH or last - first != BATCH - 1:
                _fail(
                    round_no,
                    f"batch {number} has {count} events ({distinct} ids) at sequences "
                    f"{first}..{last}: a partial, duplicated or interleaved batch",
                )
            batches[number] = (first, last)
        missing = set(range(acked_through + 1)) - batches.keys()
        if missing:
            _fail(round_no, f"acknowledged batches lost: {sorted(missing)[:10]}")
        if batches and max(batches) > acked_through + 1:
            _fail(round_no, f"batch {max(batches)} is stored but was never sent")
        count, last_sequence = conn.execute(
            "SELECT count(*), coalesce(max(sequence), 0) FROM events"
        ).fetchone()
        if count != last_sequence:
            _fail(round_no, f"{count} events but the last sequence is {last_sequence}: a gap")
        skewed = conn.execute(
            "SELECT stream_id FROM events GROUP BY stream_id"
            " HAVING count(*) != max(stream_version) OR min(stream_version) != 1"
        ).fetchall()
        if skewed:
            _fail(round_no, f"stream versions with gaps: {skewed[:5]}")
        for number in sorted(batches)[-2:]:  # the newest batches hold what was sent
            expected = {
                item.event_id: event_payload(item.event)
                for item in workload.batch_events("k", number, BATCH)
            }
            stored = dict(
                conn.execute(
                    "SELECT event_id, payload FROM events WHERE json_extract(metadata, "
                    "'$.batch') = ?",
                    (number,),
                )
            )
            if stored != expected:
                _fail(round_no, f"batch {number} is not what the child sent")
        projected = conn.execute(
            "SELECT coalesce(max(last_sequence), 0) FROM projection_state"
        ).fetchone()[0]
        if projected != last_sequence:
            _fail(round_no, f"projections at sequence {projected}, the log at {last_sequence}")
        differences = [str(f) for f in projection_differences(conn)]
        if differences:
            _fail(round_no, f"projections differ from a fresh replay: {differences}")
    return batches


def resend_is_idempotent(log: Path, number: int, stored: tuple[int, int], round_no: int) -> None:
    """Re-send a batch that was committed but never acknowledged: nothing new is written."""
    with EventStore.open(log) as store:
        before = store.last_sequence()
        again = store.append_all(workload.batch_events("k", number, BATCH))
        after = store.last_sequence()
    sequences = [s.sequence for s in again]
    if after != before or sequences != list(range(stored[0], stored[1] + 1)):
        _fail(round_no, f"re-sending batch {number} wrote events ({before} -> {after})")


def test_kill9_loses_no_acknowledged_batch(tmp_path: Path):
    print(f"kill -9: {ROUNDS} rounds, EVENTKIT_KILL_SEED={SEED}")
    rng = random.Random(SEED)
    tally = {"killed before ready": 0, "in flight, committed": 0, "in flight, rolled back": 0}
    acked_total = 0
    log, acked_through = None, -1
    started = time.monotonic()
    for round_no in range(ROUNDS):
        if round_no % ROUNDS_PER_LOG == 0:
            if log is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{log}{suffix}").unlink(missing_ok=True)
            log, acked_through = tmp_path / f"log{round_no // ROUNDS_PER_LOG}.db", -1
        seen = run_round(log, acked_through + 1, rng, round_no, tmp_path)
        acked_total += len(seen.acked)
        if seen.acked:
            acked_through = seen.acked[-1]
        batches = verify_log(log, acked_through, round_no)
        if not seen.ready:
            tally["killed before ready"] += 1
        in_flight = seen.in_flight
        if in_flight is not None:
            if in_flight in batches:
                tally["in flight, committed"] += 1
                resend_is_idempotent(log, in_flight, batches[in_flight], round_no)
            else:
                tally["in flight, rolled back"] += 1
    elapsed = time.monotonic() - started
    print(
        f"kill -9: {ROUNDS} rounds in {elapsed:.1f} s, {acked_total} acknowledged batches "
        f"({acked_total * BATCH} events); " + ", ".join(f"{k}: {v}" for k, v in tally.items())
    )
    assert acked_total > 0, "no round got as far as acknowledging a batch"
