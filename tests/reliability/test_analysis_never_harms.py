"""Analysis never harms the log.

A log that cannot be written (a read-only bind mount, or read-only permissions for
an unprivileged user) is analysed with DuckDB, the frames, ``stats``, ``audit`` and
``search``:
the results equal those from the writable original, and the file is byte for byte
what it was, with nothing created beside it. And long DuckDB reads running while a
writer process appends do not hold the writer up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import workload
from unprivileged import child_python, child_user

import eventkit as ek

ANALYSE = Path(__file__).with_name("analyse.py")
EVENTS = 3_000


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def world_dir() -> Iterator[Path]:
    """A temporary directory an unprivileged user can reach (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="eventkit-ro-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for path in [base, *base.rglob("*")]:  # read-only directories block the removal
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_mount():
                    path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def analyse(log: Path, home: Path, *, as_user: int | None = None) -> dict:
    """Run ``analyse.py`` on ``log`` in a fresh process; ``home`` is all it may write."""
    child = child_python(as_user)
    for sub in ("cache", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    out = home / "results.pickle"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "TMPDIR": str(home / "tmp"),
        "TQDM_DISABLE": "1",
    }
    env.pop("EVENTKIT_CACHE_DIR", None)
    if as_user is not None:
        for path in [home, *home.rglob("*")]:
            os.chown(path, as_user, as_user)
    # analyse.py is handed over as text: the checkout may be out of the child's reach
    script = home / "analyse.py"
    shutil.copyfile(ANALYSE, script)
    script.chmod(0o644)
    result = child.run(script, log, out, cwd=home, env=env, timeout=300)
    assert result.returncode == 0, f"the analysis failed:\n{result.stderr[-4000:]}"
    with open(out, "rb") as fh:
        return pickle.load(fh)


def assert_same_results(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if key in ("euid", "log_writable"):
            continue
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[key], value, obj=key)
        else:
            assert got[key] == value, key


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("original") / "events.db"
    ek.generate_log(path, events=EVENTS, seed=11, progress=False)
    assert not Path(f"{path}-wal").exists(), "the log was not closed cleanly"
    return path


@pytest.fixture(scope="module")
def reference(original: Path, tmp_path_factory) -> dict:
    results = analyse(original, tmp_path_factory.mktemp("home"))
    assert results["log_writable"] and len(results["events_df"]) >= EVENTS
    assert results["audit"] == [], "the generated log should audit clean"
    return results


@contextlib.contextmanager
def read_only_mount(source: Path, target: Path) -> Iterator[None]:
    """``source`` bind-mounted read-only at ``target``; skips if this system cannot."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount(8)")
    target.mkdir()
    steps = (
        ["mount", "--bind", str(source), str(target)],
        ["mount", "-o", "remount,bind,ro", str(target)],
    )
    mounted = False
    try:
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"cannot make a read-only bind mount here: {result.stderr.strip()}")
            mounted = True
        try:
            (target / "probe").touch()
        except OSError:
            pass
        else:
            pytest.skip("the bind mount is not read-only here")
        yield
    finally:
        if mounted:
            subprocess.run(["umount", str(target)], check=True)


@contextlib.contextmanager
def read_only_location(how: str, shelf: Path, base: Path) -> Iterator[tuple[Path, int | None]]:
    """``shelf`` made unwritable: ``(where to read it, the user to read it as)``."""
    if how == "read-only-mount":
        with read_only_mount(shelf, base / "mnt"):
            yield base / "mnt", None
        return
    for path in shelf.iterdir():
        path.chmod(0o444)
    shelf.chmod(0o555)
    # Root reads and writes whatever the permissions say: drop to nobody.
    yield shelf, child_user()


def analyse_read_only(how: str, shelf: Path, base: Path) -> dict:
    """Analyse the log on ``shelf`` where it cannot be written; check nothing changed."""
    with read_only_location(how, shelf, base) as (log_dir, user):
        log = log_dir / "events.db"
        digests = {p.name: sha256(p) for p in log_dir.iterdir()}
        mode = stat.S_IMODE(log.stat().st_mode)

        results = analyse(log, base / "home", as_user=user)

        assert results["log_writable"] is False, "the test did not make the log read-only"
        if user is not None:
            assert results["euid"] == user
        assert {p.name: sha256(p) for p in log_dir.iterdir()} == digests, "files changed"
        assert stat.S_IMODE(log.stat().st_mode) == mode
    return results


HOW = ["read-only-mount", "unprivileged-user"]


@pytest.mark.parametrize("how", HOW)
def test_a_read_only_log_is_analysed_and_left_untouched(how, original, reference):
    with world_dir() as base:
        shelf = base / "shelf"
        shelf.mkdir()
        shutil.copy2(original, shelf / "events.db")
        results = analyse_read_only(how, shelf, base)
        assert sha256(shelf / "events.db") == sha256(original)
        assert_same_results(results, reference)


@pytest.mark.parametrize("how", HOW)
def test_a_read_only_copy_with_a_pending_wal_is_read_in_full(how, tmp_path):
    """A copy of a live log (its -wal holding the newest events, no -shm) on read-only media."""
    live = tmp_path / "live" / "events.db"
    with world_dir() as base:
        shelf = base / "shelf"
        shelf.mkdir()
        with ek.EventStore.open(live) as store:
            store.append_all(workload.batch_events("a", 0, 40))
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.conn.execute("PRAGMA wal_autocheckpoint = 0")
            store.append_all(workload.batch_events("a", 1, 40))
            for suffix in ("", "-wal"):
                shutil.copyfile(f"{live}{suffix}", shelf / f"events.db{suffix}")
        assert (shelf / "events.db-wal").stat().st_size > 0
        results = analyse_read_only(how, shelf, base)
    assert results["stats"]["events"] == 80
    assert_same_results(results, analyse(live, tmp_path / "home"))


# --------------------------------------------------------------------------- readers vs writers

READ_SECONDS = 6.0
MAX_APPEND_SECONDS = 5.0
HEAVY_QUERIES = (
    # a self-join over the events: seconds of DuckDB work, reading the log all along
    "SELECT count(*) AS n FROM events a JOIN events b"
    " ON a.event_type = b.event_type AND a.sequence % 40 = b.sequence % 40",
    "SELECT t.thread_id, count(*) AS n, sum(t.usage_output_tokens) AS tokens"
    " FROM turn_completed t JOIN tool_call_started c USING (thread_id) GROUP BY 1",
    "SELECT event_type, count(*) AS n, sum(length(payload)) AS bytes FROM events GROUP BY 1",
)


@pytest.fixture(scope="module")
def reads_beside_a_writer(tmp_path_factory) -> dict:
    """Heavy DuckDB reads for a few seconds while a writer process appends; what both saw."""
    tmp = tmp_path_factory.mktemp("concurrent")
    log, stop, out = tmp / "events.db", tmp / "stop", tmp / "writer.json"
    before = ek.generate_log(log, events=10_000, seed=5, progress=False)
    err = tmp / "writer.err"
    with open(err, "wb") as fh:
        writer = subprocess.Popen(
            [
                sys.executable,
                workload.__file__,
                "steady-writer",
                str(log),
                "20",
                str(stop),
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=fh,
        )
    counts, queries, read_errors = [], 0, []
    try:
        assert writer.stdout.readline() == b"ready\n", err.read_text()
        deadline = time.monotonic() + READ_SECONDS
        # At least two rounds: on a loaded machine one round can outlast READ_SECONDS.
        while time.monotonic() < deadline or len(counts) < 2:
            try:
                counts.append(int(ek.sql(log, "SELECT count(*) AS n FROM events")["n"][0]))
                con = ek.connect_duckdb(log)  # a fresh connection attaches the log again
                try:
                    for query in HEAVY_QUERIES:
                        con.execute(query).fetchall()
                        queries += 1
                finally:
                    con.close()
                ek.turns_df(log)
                queries += 2
            except Exception as exc:  # noqa: BLE001 - recorded, judged by its own test
                read_errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        stop.touch()
        code = writer.wait(timeout=120)
    assert code == 0, err.read_text()
    report = json.loads(out.read_text())
    with ek.EventStore.open(log) as store:
        last = store.last_sequence()
    return {
        "log": log,
        "before": before,
        "last": last,
        "writer": report,
        "counts": counts,
        "queries": queries,
        "read_errors": read_errors,
    }


def test_long_duckdb_reads_do_not_hold_up_a_writer(reads_beside_a_writer):
    run = reads_beside_a_writer
    report = run["writer"]
    assert report["errors"] == [], f"the writer saw an error:\n{report['errors'][0]}"
    latencies = report["latencies"]
    worst = max(latencies)
    print(
        f"{run['queries']} DuckDB reads in {READ_SECONDS:.0f} s; the writer made "
        f"{len(latencies)} appends, the slowest {worst * 1000:.0f} ms"
    )
    assert worst < MAX_APPEND_SECONDS, f"an append waited {worst:.1f} s behind the readers"
    assert len(latencies) >= 20, "the writer hardly wrote while the readers ran"
    assert run["last"] == run["before"] + len(latencies) * 20
    assert ek.audit(run["log"], checks=["projections_agree"]) == []


def test_duckdb_reads_do_not_fail_while_a_writer_appends(reads_beside_a_writer):
    run = reads_beside_a_writer
    assert run["read_errors"] == [], (
        f"{len(run['read_errors'])} of {run['queries']} reads failed: {run['read_errors'][:3]}"
    )
    counts = run["counts"]
    assert counts == sorted(counts) and counts[-1] > counts[0], "the readers saw no growth"
