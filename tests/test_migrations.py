"""Creating, migrating and refusing logs: ``open_or_create_db`` and ``run_migrations``."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from eventkit.errors import EventkitError, MigrationError, NewerSchemaError, NotAnEventLogError
from eventkit.log.migrations import (
    BUSY_TIMEOUT_MS,
    known_migrations,
    log_info,
    migrations_dir,
    open_or_create_db,
    run_migrations,
    split_statements,
)

REPO = Path(__file__).resolve().parent.parent
PROJECTION_TABLES = {
    "projection_projects",
    "projection_threads",
    "projection_turns",
    "projection_messages",
    "projection_tool_calls",
    "checkpoints",
    "settings",
    "projection_model_calls",
}
BOOKKEEPING_TABLES = {"events", "projection_state", "schema_migrations", "log_info"}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def indexes(conn: sqlite3.Connection, table: str) -> dict[str, tuple[bool, list[str]]]:
    """index name -> (unique, columns) for every index of ``table``, automatic ones included."""
    found = {}
    for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})"):
        cols = [row[2] for row in conn.execute(f"PRAGMA index_info({name!r})")]
        found[name] = (bool(unique), cols)
    return found


@pytest.fixture
def conn(tmp_path):
    opened = open_or_create_db(tmp_path / "events.db")
    yield opened
    opened.close()


def make_log(path: Path) -> Path:
    """Create a log at ``path``, close it, and return the file (all WAL content checkpointed)."""
    open_or_create_db(path).close()
    assert not Path(f"{path}-wal").exists()
    return path


# --------------------------------------------------------------------------- running migrations


def test_packaged_migrations_are_numbered_files():
    found = known_migrations()
    files = sorted(migrations_dir().glob("*.sql"))
    assert [m.name for m in found] == [f.stem for f in files]
    assert [m.version for m in found] == list(range(1, len(files) + 1))
    assert found[0].name == "001_initial"
    for migration, file in zip(found, files, strict=True):
        assert migration.checksum == sha256_of(file)


def test_migrations_are_idempotent(conn):
    applied_rows = conn.execute("SELECT * FROM schema_migrations").fetchall()
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert run_migrations(conn) == []
    assert run_migrations(conn) == []
    assert conn.execute("SELECT * FROM schema_migrations").fetchall() == applied_rows
    assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == (
        schema
    )


def test_schema_migrations_has_one_row_per_file_with_name_and_checksum(conn):
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    files = sorted(migrations_dir().glob("*.sql"))
    assert [(v, n, c) for v, n, c, _ in rows] == [
        (index, file.stem, sha256_of(file)) for index, file in enumerate(files, start=1)
    ]
    for *_, applied_at in rows:
        assert applied_at.endswith("Z") and len(applied_at) == len("2025-01-01T00:00:00.000000Z")


def test_fresh_connection_is_migrated_by_run_migrations():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert run_migrations(conn) == [m.name for m in known_migrations()]
    assert run_migrations(conn) == []
    assert BOOKKEEPING_TABLES <= table_names(conn)
    conn.close()


def test_split_statements_keeps_triggers_whole():
    sql = (migrations_dir() / "001_initial.sql").read_text()
    statements = split_statements(sql)
    triggers = [s for s in statements if s.upper().startswith("CREATE TRIGGER")]
    assert len(triggers) == 2
    for trigger in triggers:
        assert trigger.rstrip().upper().endswith("END;")
    assert all(sqlite3.complete_statement(s) for s in statements)
    with pytest.raises(MigrationError, match="incomplete"):
        split_statements("CREATE TABLE t (x);\nCREATE TABLE u (")


# --------------------------------------------------------------------------- where the log is


def test_directory_path_gets_events_db_and_parents_are_created(tmp_path):
    target = tmp_path / "a" / "b" / "logs"
    open_or_create_db(target).close()
    assert (target / "events.db").is_file()
    assert sorted(p.name for p in target.iterdir()) == ["events.db"]


@pytest.mark.parametrize("suffix", [".db", ".sqlite", ".sqlite3", ".DB"])
def test_path_with_log_suffix_is_a_file(tmp_path, suffix):
    target = tmp_path / "deep" / f"mylog{suffix}"
    open_or_create_db(target).close()
    assert target.is_file()
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


def test_existing_file_without_suffix_is_used_as_the_log(tmp_path):
    target = make_log(tmp_path / "made.db")
    renamed = target.rename(tmp_path / "plainfile")
    open_or_create_db(renamed).close()
    assert renamed.is_file()
    assert not (tmp_path / "plainfile.d").exists()


def test_existing_empty_file_becomes_a_log(tmp_path):
    target = tmp_path / "empty.db"
    target.touch()
    conn = open_or_create_db(target)
    assert BOOKKEEPING_TABLES <= table_names(conn)
    conn.close()


def test_wal_mode_and_busy_timeout(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    assert timeout == BUSY_TIMEOUT_MS
    assert timeout >= 1_000


def test_log_id_is_a_uuid_that_survives_reopening(tmp_path):
    conn = open_or_create_db(tmp_path)
    info = log_info(conn)
    conn.close()
    assert str(uuid.UUID(info["log_id"])) == info["log_id"]
    again = open_or_create_db(tmp_path)
    assert log_info(again) == info
    again.close()
    other = open_or_create_db(tmp_path / "other")
    assert log_info(other)["log_id"] != info["log_id"]
    other.close()


# --------------------------------------------------------------------------- the schema


def test_schema_has_every_table(conn):
    assert table_names(conn) == PROJECTION_TABLES | BOOKKEEPING_TABLES
    assert columns(conn, "events") == [
        "sequence",
        "event_id",
        "event_type",
        "stream_id",
        "stream_version",
        "occurred_at",
        "recorded_at",
        "schema_version",
        "payload",
        "metadata",
    ]
    assert columns(conn, "projection_state") == ["projector", "last_sequence", "updated_at"]
    assert columns(conn, "schema_migrations") == ["version", "name", "checksum", "applied_at"]
    assert columns(conn, "log_info") == ["key", "value"]


def test_events_columns_are_as_specified(conn):
    info = {row[1]: row for row in conn.execute("PRAGMA table_info(events)")}
    # (cid, name, type, notnull, default, pk)
    assert info["sequence"][2] == "INTEGER" and info["sequence"][5] == 1
    for name in ("event_id", "event_type", "stream_id", "occurred_at", "recorded_at", "payload"):
        assert info[name][2] == "TEXT" and info[name][3] == 1, name
    assert info["schema_version"][3] == 1 and info["schema_version"][4] == "1"
    assert info["metadata"][3] == 0
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
    assert "AUTOINCREMENT" in sql.upper()
    assert "json_valid(payload)" in sql


def test_events_indexes(conn):
    found = indexes(conn, "events")
    by_columns = {tuple(cols): unique for unique, cols in found.values()}
    assert by_columns[("event_type", "sequence")] is False
    assert by_columns[("event_id",)] is True
    assert by_columns[("stream_id", "stream_version")] is True
    # The primary key is the rowid: no index of its own, and none added on top.
    assert ("sequence",) not in by_columns
    assert all(cols[0] != "sequence" for _, cols in found.values())
    assert len(found) == 3


def test_projection_indexes(conn):
    assert indexes(conn, "projection_turns")["idx_turns_thread"] == (False, ["thread_id"])
    assert indexes(conn, "projection_messages")["idx_messages_turn"] == (False, ["turn_id"])


def test_triggers_refuse_update_and_delete(conn):
    triggers = dict(
        conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    )
    kinds = {sql.upper().split(" ON ")[0].split()[-1] for sql in triggers.values()}
    assert kinds == {"UPDATE", "DELETE"}
    conn.execute(
        "INSERT INTO events (event_id, event_type, stream_id, stream_version, occurred_at,"
        " recorded_at, payload) VALUES ('e', 'X', 's', 1, 't', 't', '{}')"
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET event_type = 'Y'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO events (event_id, event_type, stream_id, stream_version, occurred_at,"
            " recorded_at, payload) VALUES ('e2', 'X', 's', 1, 't', 't', '{}')"
        )
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO events (event_id, event_type, stream_id, stream_version, occurred_at,"
            " recorded_at, payload) VALUES ('e3', 'X', 's', 2, 't', 't', 'not json')"
        )


# --------------------------------------------------------------------------- refusals


def test_non_sqlite_file_is_refused_untouched(tmp_path):
    target = tmp_path / "notes.db"
    target.write_bytes(b"these are my notes, not a database\n" * 200)
    before = sha256_of(target)
    with pytest.raises(NotAnEventLogError, match="not an SQLite database"):
        open_or_create_db(target)
    assert sha256_of(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_short_non_sqlite_file_is_refused_untouched(tmp_path):
    target = tmp_path / "tiny.sqlite"
    target.write_bytes(b"hi")
    with pytest.raises(NotAnEventLogError):
        open_or_create_db(target)
    assert target.read_bytes() == b"hi"


def test_foreign_sqlite_schema_is_refused_untouched(tmp_path):
    target = tmp_path / "app.db"
    foreign = sqlite3.connect(target)
    foreign.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    foreign.execute("INSERT INTO users (name) VALUES ('ada')")
    foreign.commit()
    foreign.close()
    before = sha256_of(target)
    with pytest.raises(NotAnEventLogError, match="not an eventkit log"):
        open_or_create_db(target)
    assert sha256_of(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_newer_schema_is_refused_untouched(tmp_path):
    target = make_log(tmp_path / "events.db")
    raw = sqlite3.connect(target)
    raw.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
        " VALUES (999, '999_future', 'abc', '2030-01-01T00:00:00.000000Z')"
    )
    raw.commit()
    raw.close()
    assert not Path(f"{target}-wal").exists()
    before = sha256_of(target)
    with pytest.raises(NewerSchemaError, match="999") as caught:
        open_or_create_db(target)
    assert isinstance(caught.value, MigrationError)
    assert sha256_of(target) == before
    # run_migrations on an open connection refuses too.
    raw = sqlite3.connect(target, isolation_level=None)
    with pytest.raises(NewerSchemaError):
        run_migrations(raw)
    raw.close()
    assert sha256_of(target) == before


def test_checksum_mismatch_is_refused(tmp_path):
    target = make_log(tmp_path / "events.db")
    raw = sqlite3.connect(target)
    raw.execute("UPDATE schema_migrations SET checksum = ? WHERE version = 1", ("0" * 64,))
    raw.commit()
    raw.close()
    with pytest.raises(MigrationError, match="checksum") as caught:
        open_or_create_db(target)
    assert not isinstance(caught.value, NewerSchemaError)


def test_refusals_are_eventkit_errors():
    for cls in (NotAnEventLogError, MigrationError, NewerSchemaError):
        assert issubclass(cls, EventkitError)
        assert not issubclass(cls, sqlite3.Error)


# --------------------------------------------------------------------------- concurrency

# Each process imports eventkit, says it is ready, and waits for the start signal so
# that all of them race on the database itself.
OPEN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from eventkit.log.migrations import log_info, open_or_create_db
    go = Path(sys.argv[2])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.0005)
    conn = open_or_create_db(sys.argv[1])
    print(log_info(conn)["log_id"])
    conn.close()
    """
)


@pytest.mark.parametrize("round_", range(4))
def test_processes_creating_the_same_new_log_at_once_all_succeed(tmp_path, round_):
    target = tmp_path / "shared" / "log"  # neither the directory nor the file exists yet
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_SCRIPT, str(target), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(6)
    ]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n"
    time.sleep(0.001 * round_)
    go.touch()
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    log_ids = {out.strip() for out, _ in results}
    assert len(log_ids) == 1
    conn = open_or_create_db(target)
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
        known_migrations()
    )
    assert log_info(conn)["log_id"] == log_ids.pop()
    conn.close()


# --------------------------------------------------------------------------- logs of version 1


def projection_snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    from eventkit.catalog.entities import ENTITIES

    return {
        entity.table: conn.execute(f"SELECT * FROM {entity.table} ORDER BY {entity.key}").fetchall()
        for entity in ENTITIES
    }


@pytest.fixture
def v1_log(tmp_path) -> tuple[Path, list]:
    from oldlog import v1_events, write_v1_log
    from randomlog import random_events

    events = v1_events(random_events(3))
    return write_v1_log(tmp_path / "old.db", events), events


def test_a_v1_log_opened_by_a_writer_is_migrated_and_its_projections_rebuilt(v1_log, tmp_path):
    import eventkit as ek

    path, events = v1_log
    raw = sqlite3.connect(path)
    assert [v for (v,) in raw.execute("SELECT version FROM schema_migrations")] == [1]
    assert "projection_model_calls" not in table_names(raw)
    assert "last_activity_at" not in columns(raw, "projection_turns")
    raw.close()

    conn = open_or_create_db(path)
    names = [n for (n,) in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert names == [m.name for m in known_migrations()]
    assert table_names(conn) == PROJECTION_TABLES | BOOKKEEPING_TABLES
    migrated = projection_snapshot(conn)
    state = conn.execute("SELECT last_sequence FROM projection_state").fetchone()[0]
    conn.close()

    with ek.EventStore.open(tmp_path / "fresh.db") as fresh:
        fresh.append_all(events)
        expected = projection_snapshot(fresh.conn)
    assert migrated == expected
    assert state == len(events)
    # The rebuild filled the columns 002 added: every turn has its last activity.
    from eventkit.catalog.entities import TURNS

    last, started = (TURNS.column_names.index(c) for c in ("last_activity_at", "started_at"))
    turns = migrated["projection_turns"]
    assert turns and all(row[last] is not None and row[last] >= row[started] for row in turns)


def test_a_failed_rebuild_leaves_the_v1_log_as_it_was(v1_log, monkeypatch):
    from eventkit.log import migrations

    path, _ = v1_log

    def broken(conn):
        raise RuntimeError("rebuild failed")

    monkeypatch.setattr(migrations, "replay_log", broken)
    with pytest.raises(RuntimeError, match="rebuild failed"):
        open_or_create_db(path)
    raw = sqlite3.connect(path)
    assert [v for (v,) in raw.execute("SELECT version FROM schema_migrations")] == [1]
    assert "projection_model_calls" not in table_names(raw)
    raw.close()
    monkeypatch.undo()
    conn = open_or_create_db(path)  # the next writer migrates it
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM projection_turns").fetchone()[0] > 0
    conn.close()


def test_the_read_side_reads_a_v1_log_without_migrating_it(v1_log, tmp_path, monkeypatch):
    import pandas as pd

    import eventkit as ek
    from eventkit.catalog.entities import MODEL_CALLS, TURNS

    monkeypatch.setenv("EVENTKIT_CACHE", "0")
    path, events = v1_log
    before = sha256_of(path)
    with ek.EventStore.open(tmp_path / "fresh.db") as fresh:
        fresh.append_all(events)
    empty = ek.sql(path, "SELECT * FROM model_calls")
    assert empty.empty and list(empty.columns) == list(MODEL_CALLS.column_names)
    turns_view = ek.sql(path, "SELECT * FROM turns ORDER BY turn_id")
    assert list(turns_view.columns) == list(TURNS.column_names)
    assert turns_view["last_activity_at"].isna().all() and len(turns_view) > 0
    # The frames replay the events: complete either way.
    for frame in ("threads_df", "turns_df", "model_calls_df", "tool_calls_df"):
        pd.testing.assert_frame_equal(
            getattr(ek, frame)(path), getattr(ek, frame)(tmp_path / "fresh.db"), obj=frame
        )
    assert ek.turns_df(path)["last_activity_at"].notna().all()
    views = ek.list_views(path)
    assert "model_calls" in set(views["view"])
    assert sha256_of(path) == before  # nothing written, nothing migrated
