"""The DuckDB read side: typed views from the catalog, read-only access, no downloads."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pydantic_core import to_json
from randomlog import random_events
from unprivileged import child_python, child_user

import eventkit as ek
from eventkit.catalog.columns import EVENT_COLUMNS, typed_columns, view_name
from eventkit.catalog.events import EVENT_CLASSES
from eventkit.read import frames, readers, source

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).resolve().parent.parent
DUCKDB_TYPE_NAMES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_log(path: Path, events: list[ek.Event]) -> Path:
    with ek.EventStore.open(path) as store:
        store.append_all(events)
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache directory (and never the user's)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(root))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)
    return root


@pytest.fixture(scope="module")
def events() -> list[ek.Event]:
    return random_events(7)


@pytest.fixture
def log(tmp_path, events) -> Path:
    return build_log(tmp_path / "logdir" / "events.db", events)


def flatten(event: ek.Event) -> dict[str, object]:
    """The typed-view row an event should give, from the model (not from DuckDB)."""
    data = event.model_dump(exclude={"type", "at"})
    row: dict[str, object] = {}
    for name, value in data.items():
        if isinstance(value, dict) and name == "usage":
            row.update({f"usage_{k}": v for k, v in value.items()})
        elif name in ("input", "value"):
            row[name] = to_json(value).decode()  # the payload's spelling of the JSON
        else:
            row[name] = value
    return row


# ------------------------------------------------------------------ typed views


@pytest.mark.parametrize("cache", [False, True], ids=["live", "cached"])
def test_every_event_type_has_a_typed_view_with_the_model_columns(log, cache) -> None:
    con = ek.connect_duckdb(log, cache=cache)
    try:
        assert len(EVENT_CLASSES) == 18
        for event_class in EVENT_CLASSES:
            view = view_name(event_class.event_type())
            described = con.execute(f'DESCRIBE "{view}"').fetchall()
            expected = [
                (c.name, DUCKDB_TYPE_NAMES.get(c.duckdb_type, c.duckdb_type))
                for c in typed_columns(event_class)
            ]
            assert [(row[0], row[1]) for row in described] == expected, view
    finally:
        con.close()


def test_column_specs_follow_the_models() -> None:
    assert view_name("TurnCompleted") == "turn_completed"
    assert view_name("ToolCallStarted") == "tool_call_started"
    turn = {c.name: c for c in EVENT_COLUMNS["TurnCompleted"]}
    assert list(turn)[4:9] == [
        "usage_input_tokens",
        "usage_output_tokens",
        "usage_cache_read_tokens",
        "usage_cache_write_tokens",
        "usage_reasoning_tokens",
    ]
    assert turn["usage_output_tokens"].json_path == "$.usage.output_tokens"
    assert turn["usage_output_tokens"].duckdb_type == "BIGINT"
    assert turn["cost_usd"].duckdb_type == "DOUBLE" and turn["cost_usd"].nullable
    assert turn["outcome"].duckdb_type == "VARCHAR" and not turn["outcome"].nullable
    approval = {c.name: c for c in EVENT_COLUMNS["ApprovalResolved"]}
    assert approval["requested_at"].duckdb_type == "TIMESTAMPTZ"
    assert {c.name: c.duckdb_type for c in EVENT_COLUMNS["SettingChanged"]} == {
        "key": "VARCHAR",
        "value": "JSON",
    }
    assert EVENT_COLUMNS["ToolCallStarted"][-1].duckdb_type == "JSON"
    for event_class in EVENT_CLASSES:  # every model field is a column or the envelope
        fields = set(event_class.model_fields) - {"type", "at", "usage"}
        names = {c.name for c in EVENT_COLUMNS[event_class.event_type()]}
        assert fields <= names


@pytest.mark.parametrize("cache", [False, True], ids=["live", "cached"])
def test_typed_view_values_round_trip(log, events, cache) -> None:
    con = ek.connect_duckdb(log, cache=cache)
    try:
        for event_class in EVENT_CLASSES:
            event_type = event_class.event_type()
            view = view_name(event_type)
            got = ek.sql(con, f'SELECT * FROM "{view}" ORDER BY "sequence"')
            appended = [(i + 1, e) for i, e in enumerate(events) if e.type == event_type]
            assert got.sequence.tolist() == [seq for seq, _ in appended], view
            assert got.occurred_at.tolist() == [pd.Timestamp(e.at) for _, e in appended]
            assert (got.stream_id == [e.stream_id for _, e in appended]).all()
            for (_, event), row in zip(appended, got.itertuples(index=False), strict=True):
                expected = flatten(event)
                actual = {name: getattr(row, name) for name in expected}
                for name, value in expected.items():
                    if value is None:
                        assert pd.isna(actual[name]), (view, name)
                    elif name == "requested_at":
                        assert actual[name] == pd.Timestamp(value), (view, name)
                    else:
                        assert actual[name] == value, (view, name)
    finally:
        con.close()


def test_turn_completed_usage_and_cost_round_trip(tmp_path) -> None:
    at = pd.Timestamp("2025-01-06T09:00:00Z").to_pydatetime()
    log = build_log(
        tmp_path / "events.db",
        [
            ek.ProjectCreated(id="p", name="p", path="/p", at=at),
            ek.ThreadCreated(id="t", project_id="p", title="t", provider="x", model="m", at=at),
            ek.TurnStarted(id="u", thread_id="t", at=at),
            ek.TurnCompleted(
                id="u",
                thread_id="t",
                outcome="success",
                usage=ek.TokenUsage(input_tokens=11, output_tokens=4242, reasoning_tokens=7),
                cost_usd=0.125,
                cost_source="recorded",
                at=at,
            ),
        ],
    )
    row = ek.sql(log, "SELECT * FROM turn_completed").iloc[0]
    assert row.usage_output_tokens == 4242
    assert row.usage_input_tokens == 11 and row.usage_reasoning_tokens == 7
    assert row.usage_cache_read_tokens == 0
    assert row.cost_usd == 0.125 and row.cost_source == "recorded"
    agg = ek.sql(log, "SELECT count(*) AS n, sum(usage_output_tokens) AS t FROM turn_completed")
    assert agg.n.iloc[0] == 1 and agg.t.iloc[0] == 4242


def test_queries_over_many_sqlite_scans_run_on_one_thread(log) -> None:
    """Parallel scans sharing the extension's SQLite connection crash; one thread does not."""
    con = ek.connect_duckdb(log, cache=False)
    try:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        union = " UNION ALL ".join(
            f'SELECT "sequence" FROM "{view_name(c.event_type())}"' for c in EVENT_CLASSES
        )
        for _ in range(20):
            total = con.execute(f"SELECT count(*) FROM ({union})").fetchone()[0]
            assert total == con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()


def test_events_and_projection_views(log, events) -> None:
    con = ek.connect_duckdb(log)
    try:
        described = dict(con.execute("DESCRIBE events").fetchall()[i][:2] for i in range(10))
        assert described["occurred_at"] == described["recorded_at"] == "TIMESTAMP WITH TIME ZONE"
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == len(events)
        for view, table in source.PROJECTION_VIEWS.items():
            count = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            with sqlite3.connect(log) as conn:
                assert count == conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall():
                if name.endswith("_at"):
                    assert kind == "TIMESTAMP WITH TIME ZONE", (view, name)
        categories = dict(con.execute("SELECT tool, category FROM tool_categories").fetchall())
        assert categories["Bash"] == "shell"
    finally:
        con.close()


def test_sql_takes_parameters_and_connections(log) -> None:
    got = ek.sql(log, "SELECT count(*) AS n FROM events WHERE event_type = ?", ["TurnStarted"])
    with sqlite3.connect(log) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM events WHERE event_type = 'TurnStarted'"
        ).fetchone()[0]
    assert got.n.iloc[0] == expected
    assert str(got.n.dtype) == "Int64"
    con = ek.connect_duckdb(log)
    try:
        assert ek.sql(con, "SELECT 1 AS one").one.iloc[0] == 1
    finally:
        con.close()
    with pytest.raises(ek.StorageError):
        ek.sql(log, "SELECT * FROM no_such_view")


# ------------------------------------------------------------------ read-only


WRITES = [
    "INSERT INTO log.events (event_id) VALUES ('x')",
    "UPDATE log.log_info SET value = 'x'",
    "DELETE FROM log.settings",
    "CREATE TABLE log.intruder (a INTEGER)",
    "DROP TABLE log.settings",
    "SELECT * FROM sqlite_query('log', 'DELETE FROM settings RETURNING *')",
]


def test_sql_refuses_statements_that_reach_past_the_session(log, tmp_path) -> None:
    """ATTACH (then INSERT through it), COPY, EXPORT and LOAD would write files or the log."""
    before = sha256(log)
    reaching = [
        f"ATTACH '{log}' AS w (TYPE sqlite); INSERT INTO w.settings VALUES ('k', '1', 'x')",
        f"COPY (SELECT 1) TO '{tmp_path / 'leak.csv'}'",
        f"EXPORT DATABASE '{tmp_path / 'dump'}'",
        "LOAD 'json'",
    ]
    for statement in reaching:
        with pytest.raises(ek.ReadOnlyError, match="refused"):
            ek.sql(log, statement)
    assert sha256(log) == before
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "dump").exists()


def test_the_log_cannot_be_written_and_stays_byte_for_byte(log) -> None:
    before = sha256(log)
    for statement in WRITES:
        with pytest.raises(ek.ReadOnlyError):
            ek.sql(log, statement)
    con = ek.connect_duckdb(log, cache=True)
    try:
        for statement in WRITES[:5]:
            with pytest.raises(duckdb.Error):
                con.execute(statement)
    finally:
        con.close()
    for name in ("events_df", "projects_df", "threads_df", "turns_df", "messages_df"):
        getattr(frames, name)(log)
    frames.tool_calls_df(log, as_of=10)
    frames.settings_df(ek.EventStore.open(log))
    ek.sql(log, "DROP VIEW turn_completed")  # on a private reader: later calls keep it
    assert ek.sql(log, "SELECT count(*) AS n FROM turn_completed").n.iloc[0] > 0
    assert sha256(log) == before
    assert not list(log.parent.glob("*.parquet")) and not list(log.parent.glob("*.duckdb"))


def test_missing_and_foreign_files_are_refused(tmp_path) -> None:
    with pytest.raises(ek.LogNotFoundError):
        ek.connect_duckdb(tmp_path / "missing.db")
    with pytest.raises(ek.LogNotFoundError):
        ek.sql(tmp_path / "missing-dir", "SELECT 1")
    with pytest.raises(ek.LogNotFoundError):
        frames.events_df(tmp_path)  # a directory without events.db
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "missing-dir").exists()
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some words")
    with pytest.raises(ek.NotAnEventLogError):
        ek.connect_duckdb(text)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = sha256(foreign)
    with pytest.raises(ek.NotAnEventLogError):
        ek.sql(foreign, "SELECT 1")
    assert sha256(foreign) == before


def test_a_store_file_or_in_memory_is_a_source(tmp_path, events) -> None:
    def copies() -> set[str]:
        return {p.name for p in Path(tempfile.gettempdir()).glob("eventkit-read-*")}

    before = copies()
    store = ek.EventStore(ek.open_or_create_db(":memory:"))
    store.append_all(events)
    assert ek.sql(store, "SELECT count(*) AS n FROM events").n.iloc[0] == len(events)
    assert copies() == before  # the temporary copy went with the work
    con = ek.connect_duckdb(store)
    try:
        assert len(copies() - before) == 1
        assert con.execute("SELECT count(*) FROM turn_started").fetchone()[0] == sum(
            e.type == "TurnStarted" for e in events
        )
    finally:
        con.close()
    del con
    gc.collect()
    assert copies() == before  # ... and with the connection
    store.close()
    with ek.EventStore.open(tmp_path / "file.db") as file_store:
        file_store.append_all(events[:10])
        assert ek.sql(file_store, "SELECT count(*) AS n FROM events").n.iloc[0] == 10


_READ_ONLY_CHECK = """
import os, sys, json
import eventkit as ek
from eventkit.read import frames
log = sys.argv[1]
try:
    open(os.path.join(os.path.dirname(log), "probe"), "w")
    writable = True
except OSError:
    writable = False
turns = frames.turns_df(log)
result = {
    "uid": os.getuid(),
    "dir_writable": writable,
    "turns": len(turns),
    "events": len(frames.events_df(log)),
    "typed": int(ek.sql(log, "SELECT count(*) AS n FROM turn_completed").n.iloc[0]),
    "threads": len(frames.threads_df(log)),
}
print(json.dumps(result))
"""


def test_a_log_in_a_read_only_directory_is_read_from_a_copy(events) -> None:
    """A WAL log whose directory and file are read-only (no -shm can be created)."""
    child = child_python(child_user())  # root ignores permissions: the child is nobody
    base = Path(tempfile.mkdtemp(prefix="eventkit-ro-"))
    try:
        base.chmod(0o755)  # the unprivileged user must reach it
        log = build_log(base / "ro" / "events.db", events)
        with sqlite3.connect(log) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            expected_turns = conn.execute("SELECT count(*) FROM projection_turns").fetchone()[0]
        for leftover in log.parent.glob("events.db-*"):
            leftover.unlink()
        before = sha256(log)
        listing = sorted(p.name for p in log.parent.iterdir())
        log.chmod(0o444)
        log.parent.chmod(0o555)
        env = {**os.environ, "EVENTKIT_CACHE": "0"}
        run = child.run("-c", _READ_ONLY_CHECK, log, env=env, cwd=base, timeout=300)
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["uid"] != 0 and not result["dir_writable"]
        assert result["events"] == len(events)
        assert result["turns"] == expected_turns
        assert result["typed"] == sum(e.type == "TurnCompleted" for e in events)
        assert sha256(log) == before
        assert sorted(p.name for p in log.parent.iterdir()) == listing
    finally:
        for path in (base, *base.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


_OFFLINE_CHECK = """
import json, socket
import eventkit as ek
attempts = []
real_connect = socket.socket.connect
def refuse(self, address):
    attempts.append(str(address))
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
con = ek.connect_duckdb(__import__("sys").argv[1])
rows = con.execute(
    "SELECT extension_name, loaded, install_path FROM duckdb_extensions() WHERE loaded"
).fetchall()
settings = dict(con.execute(
    "SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%extensions'"
).fetchall())
n = con.execute("SELECT count(*) FROM turn_completed").fetchone()[0]
print(json.dumps({"rows": rows, "settings": settings, "n": n, "attempts": attempts}))
"""


def test_the_sqlite_extension_loads_without_network(log, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "EVENTKIT_CACHE": "0",
    }
    command = [sys.executable, "-c", _OFFLINE_CHECK, str(log)]
    # Without any network at all where a private network namespace can be made.
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        command = [unshare, "-rn", *command]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    loaded = {name: path for name, _, path in result["rows"]}
    assert "sqlite_scanner" in loaded
    assert result["settings"] == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    assert result["attempts"] == []
    assert result["n"] > 0
    assert not (home / ".duckdb").exists()  # nothing installed or downloaded


# ------------------------------------------------------------------ columnar cache


def _typed_rows(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {
        view_name(c.event_type()): ek.sql(
            con, f'SELECT * FROM "{view_name(c.event_type())}" ORDER BY "sequence"'
        )
        for c in EVENT_CLASSES
    }


def test_the_cache_gives_the_same_rows_and_follows_the_log(tmp_path, events, private_cache):
    log = build_log(tmp_path / "events.db", events[: len(events) // 2])
    cached = ek.connect_duckdb(log, cache=True)
    live = ek.connect_duckdb(log, cache=False)
    try:
        for view, frame in _typed_rows(cached).items():
            pd.testing.assert_frame_equal(frame, _typed_rows(live)[view], obj=view)
    finally:
        cached.close()
        live.close()
    (log_dir,) = private_cache.iterdir()
    manifest = json.loads((log_dir / "manifest.json").read_text())
    assert [c["extent"]["last"] for c in manifest["chunks"]] == [len(events) // 2]
    assert not list(tmp_path.glob("*.parquet"))

    with ek.EventStore.open(log) as store:  # the log grows past the cache
        store.append_all(events[len(events) // 2 :])
    reader = ek.connect_duckdb(log)  # the cache as it was, the rest read live
    live = ek.connect_duckdb(log, cache=False)
    try:
        assert reader.execute("SELECT count(*) FROM eventkit_cache").fetchone()[0] == 1
        assert reader.execute("SELECT count(*) FROM message_delta").fetchone()[0] == sum(
            e.type == "MessageDelta" for e in events
        )
        pd.testing.assert_frame_equal(
            ek.sql(reader, "SELECT * FROM events"), ek.sql(live, "SELECT * FROM events")
        )
        middle = sorted(e.at for e in events)[len(events) // 3]
        for kwargs in (
            {},
            {"types": ["TurnStarted", "ToolCallCompleted"]},
            {"since": middle},
            {"until": middle, "types": "MessageDelta"},
        ):
            pd.testing.assert_frame_equal(
                frames.events_df(reader, **kwargs), frames.events_df(live, **kwargs)
            )
        assert len(frames.events_df(reader)) == len(events)
    finally:
        reader.close()
        live.close()
    extended = ek.connect_duckdb(log, cache=True)
    try:
        manifest = json.loads((log_dir / "manifest.json").read_text())
        assert [c["extent"]["last"] for c in manifest["chunks"]] == [len(events) // 2, len(events)]
        expected = build_log(tmp_path / "fresh.db", events)
        fresh = ek.connect_duckdb(expected, cache=False)
        for view, frame in _typed_rows(extended).items():
            other = _typed_rows(fresh)[view].drop(columns=["event_id"])
            pd.testing.assert_frame_equal(frame.drop(columns=["event_id"]), other, obj=view)
        fresh.close()
        pd.testing.assert_frame_equal(frames.turns_df(extended), frames.turns_df(expected))
    finally:
        extended.close()


def test_a_cache_of_another_history_is_not_used(tmp_path, events, private_cache) -> None:
    log = build_log(tmp_path / "events.db", events[:100])
    ek.connect_duckdb(log, cache=True).close()
    # A copy with the same log_id whose history then differs from the cached one.
    other = tmp_path / "other.db"
    with sqlite3.connect(log) as conn:
        log_id = conn.execute("SELECT value FROM log_info WHERE key = 'log_id'").fetchone()[0]
    build_log(other, events[:50] + events[120:170])
    with sqlite3.connect(other) as conn:
        conn.execute("UPDATE log_info SET value = ? WHERE key = 'log_id'", (log_id,))
    con = ek.connect_duckdb(other, cache=True)
    try:
        got = con.execute("SELECT count(*), max(sequence) FROM events").fetchone()
        assert got == (100, 100)
        ids = {row[0] for row in con.execute("SELECT event_id FROM turn_started").fetchall()}
        with sqlite3.connect(other) as conn:
            expected = {
                row[0]
                for row in conn.execute(
                    "SELECT event_id FROM events WHERE event_type = 'TurnStarted'"
                )
            }
        assert ids == expected
    finally:
        con.close()


def test_cache_can_be_switched_off(tmp_path, events, private_cache, monkeypatch) -> None:
    log = build_log(tmp_path / "events.db", events[:60])
    monkeypatch.setenv("EVENTKIT_CACHE", "0")
    ek.connect_duckdb(log, cache=True).close()
    assert not private_cache.exists()


def test_shared_readers_notice_a_replaced_log(tmp_path, events) -> None:
    log = build_log(tmp_path / "events.db", events[:40])
    assert len(frames.events_df(log)) == 40
    log.unlink()
    for leftover in tmp_path.glob("events.db-*"):
        leftover.unlink()
    build_log(log, events[:25])
    assert len(frames.events_df(log)) == 25
    with ek.EventStore.open(log) as store:
        store.append_all(events[25:30])
    assert len(frames.events_df(log)) == 30  # the shared reader sees appends live
    readers.close_readers()


# ------------------------------------------------------------------ errors, opening, chunks


def _insert_turn_of_schema_2(path: Path) -> None:
    """A TurnStarted written by a newer eventkit (schema_version 2), of a thread that exists."""
    with sqlite3.connect(path) as conn:
        thread = conn.execute(
            "SELECT json_extract(payload, '$.id') FROM events WHERE event_type = 'ThreadCreated'"
        ).fetchone()[0]
        sequence = conn.execute("SELECT max(sequence) + 1 FROM events").fetchone()[0]
        payload = {
            "type": "TurnStarted",
            "at": "2030-01-01T00:00:00.000000Z",
            "id": "turn-from-the-future",
            "thread_id": thread,
        }
        conn.execute(
            "INSERT INTO events (sequence, event_id, event_type, stream_id, stream_version, "
            "occurred_at, recorded_at, schema_version, payload) "
            "VALUES (?, ?, 'TurnStarted', ?, 1, ?, ?, 2, ?)",
            (
                sequence,
                f"raw-{sequence}",
                f"future:{sequence}",
                payload["at"],
                payload["at"],
                json.dumps(payload),
            ),
        )


@pytest.mark.parametrize("cache", [False, True], ids=["live", "cached"])
def test_an_unknown_schema_version_fails_entities_in_one_line_and_events_keep_it(
    tmp_path, events, cache
) -> None:
    log = build_log(tmp_path / "events.db", events)
    if cache:
        ek.connect_duckdb(log, cache=True).close()
    _insert_turn_of_schema_2(log)
    with pytest.raises(ek.UnsupportedSchemaError) as raised:
        frames.turns_df(log)
    message = str(raised.value)
    assert isinstance(raised.value, ek.EventkitError)
    assert "\n" not in message and "schema_version 2" in message and "upgrade eventkit" in message
    assert "reading turns" in message  # the context names what was being read
    frame = frames.events_df(log)
    assert len(frame) == len(events) + 1
    assert frame.schema_version.iloc[-1] == 2
    assert json.loads(frame.payload.iloc[-1])["id"] == "turn-from-the-future"


def test_a_read_finds_its_log_once(tmp_path, events, monkeypatch) -> None:
    from eventkit.log import files

    log = build_log(tmp_path / "logdir" / "events.db", events)
    calls: list[object] = []
    resolve = files.resolve_log_path

    def counted(path):
        calls.append(path)
        return resolve(path)

    monkeypatch.setattr(files, "resolve_log_path", counted)
    readers.close_readers()
    frames.turns_df(log.parent)  # a new shared reader: found, inspected, attached
    assert calls == [log.parent]
    frames.turns_df(log.parent)  # the shared reader, reused
    assert calls == [log.parent, log.parent]
    readers.close_readers()


def test_the_chunk_store_keeps_rows_of_its_owner_and_merges(tmp_path) -> None:
    from eventkit.read.chunks import ChunkStore, Copy, Manifest

    con = duckdb.connect()
    store = ChunkStore(tmp_path / "store", {"owner": "a"})
    with store.locked(wait=False) as mine:
        assert mine
        manifest = Manifest()
        for start in (0, 3):
            copies = [
                Copy(
                    "numbers",
                    "numbers.parquet",
                    f"SELECT range AS n FROM range({start}, {start + 3})",
                ),
                Copy("nothing", "nothing.parquet", "SELECT 1 AS n WHERE false"),
            ]
            manifest.chunks.append(store.write_chunk(con, copies, {"upto": start + 3}, workers=2))
        assert [c.files for c in manifest.chunks] == [{"numbers": ["numbers.parquet"]}] * 2
        store.save(manifest)
    loaded = store.load()
    assert [c.extent for c in loaded.chunks] == [{"upto": 3}, {"upto": 6}]
    assert ChunkStore(store.directory, {"owner": "b"}).load().chunks == []  # not b's
    merged = store.merge(con, loaded, {"upto": 6})
    (file,) = merged.files["numbers"]
    rows = con.execute(
        "SELECT n FROM read_parquet(?)", [str(store.directory / merged.name / file)]
    ).fetchall()
    assert [n for (n,) in rows] == list(range(6))
    assert not list(store.directory.glob(".building-*"))
    assert not list(store.directory.glob(".manifest-*"))  # the atomic write left no temp file
