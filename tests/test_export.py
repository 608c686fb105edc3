"""Parquet export: the dataset layout, incremental and crash-safe export, and reading it back."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from randomlog import model_call_cases, random_events

import eventkit as ek
from eventkit import cli
from eventkit.catalog.columns import columns_of, view_name
from eventkit.catalog.entities import ENTITIES
from eventkit.catalog.events import EVENT_TYPES
from eventkit.read import frames
from eventkit.scale import export

pytestmark = pytest.mark.filterwarnings("error")

ENTITY_FRAMES = tuple(entity.frame for entity in ENTITIES)  # model_calls_df included
METRICS = ("turn_metrics", "thread_summary", "model_breakdown", "usage_totals")
ENVELOPE = [
    ("source_log", pa.string()),
    ("sequence", pa.int64()),
    ("event_id", pa.string()),
    ("stream_id", pa.string()),
    ("stream_version", pa.int64()),
    ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("schema_version", pa.int64()),
    ("payload", pa.string()),
    ("metadata", pa.string()),
]
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache directory (and never the user's)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(root))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)
    return root


def build_log(path: Path, events: list[ek.Event]) -> Path:
    with ek.EventStore.open(path) as store:
        for start in range(0, len(events), 50):
            store.append_all(events[start : start + 50])
    return path


def log_id(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT value FROM log_info WHERE key = 'log_id'").fetchone()[0]


def log_events(path: Path) -> pd.DataFrame:
    with closing(sqlite3.connect(path)) as conn:
        return pd.read_sql(
            "SELECT sequence, event_id, event_type, payload FROM events ORDER BY sequence", conn
        )


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def part_files(root: Path) -> list[Path]:
    return sorted(root.glob("events/*/*/*.parquet"))


def read_back(src: object) -> dict[str, pd.DataFrame]:
    """Every frame and metric of a log or dataset, without the dataset's source_log."""
    found = {"events_df": frames.events_df(src).drop(columns="source_log", errors="ignore")}
    for name in ENTITY_FRAMES:
        found[name] = getattr(frames, name)(src)
    for name in METRICS:
        found[name] = getattr(ek, name)(src)
    return found


def assert_same_frames(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == want.keys()
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)


@pytest.fixture(scope="module", params=["random", "generated", "model_calls"])
def exported(request, tmp_path_factory) -> tuple[Path, Path]:
    """A log (randomized rules cases, generated sessions, model-call cases), its dataset."""
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "random":
        log = build_log(base / "events.db", random_events(5))
    elif request.param == "model_calls":
        log = build_log(base / "events.db", model_call_cases())
    else:
        log = base / "events.db"
        ek.generate_log(log, events=3_000, seed=4, progress=False)
    ek.export_parquet(log, base / "dataset", progress=False)
    return log, base / "dataset"


# ------------------------------------------------------------------ layout


def test_the_dataset_holds_every_event_once_as_duckdb_and_pyarrow_read_it(exported) -> None:
    log, dataset = exported
    want = log_events(log)
    got = ek.sql(dataset, "SELECT sequence, event_id, event_type, payload FROM events")
    got = got.sort_values("sequence").reset_index(drop=True)
    assert got.event_id.tolist() == want.event_id.tolist()
    assert got.payload.tolist() == want.payload.tolist()
    assert got.event_type.tolist() == want.event_type.tolist()

    table = pads.dataset(dataset / "events", partitioning="hive").to_table(
        columns=["source_log", "sequence", "event_id", "event_type", "payload"]
    )
    arrow = table.to_pandas().sort_values("sequence").reset_index(drop=True)
    assert set(arrow.source_log) == {log_id(log)}
    assert arrow.sequence.tolist() == want.sequence.tolist()
    assert arrow.event_id.tolist() == want.event_id.tolist()
    assert arrow.payload.tolist() == want.payload.tolist()
    counts = arrow.groupby("event_type").size().to_dict()
    assert counts == want.groupby("event_type").size().to_dict()


def test_part_files_follow_the_layout(exported) -> None:
    log, dataset = exported
    source = log_id(log)
    events = log_events(log).set_index("sequence")
    files = part_files(dataset)
    assert files
    for path in files:
        event_type = path.parent.parent.name.removeprefix("event_type=")
        day = path.parent.name.removeprefix("date=")
        table = pq.read_table(path, partitioning=None)
        payload_columns = [
            (c.name, ARROW_TYPES[c.duckdb_type]) for c in columns_of(EVENT_TYPES[event_type])
        ]
        assert [(f.name, f.type) for f in table.schema] == ENVELOPE + payload_columns
        sequences = table.column("sequence").to_pylist()
        assert path.name == f"part-{source}-{min(sequences)}-{max(sequences)}.parquet"
        assert set(table.column("source_log").to_pylist()) == {source}
        assert set(events.loc[sequences].event_type) == {event_type}
        days = {t.strftime("%Y-%m-%d") for t in table.column("occurred_at").to_pylist()}
        assert days == {day}
    manifest = json.loads((dataset / "_eventkit_manifest.json").read_text())
    assert manifest["format"] == 1
    entry = manifest["sources"][source]
    assert entry["last_sequence"] == entry["events"] == len(events)
    assert entry["path"] == str(log)
    assert entry["exported_at"].endswith("Z")


def test_typed_columns_equal_the_logs_typed_views(exported) -> None:
    log, dataset = exported
    for event_type in EVENT_TYPES:
        view = view_name(event_type)
        want = ek.sql(log, f'SELECT * FROM "{view}" ORDER BY sequence')
        got = ek.sql(dataset, f'SELECT * FROM "{view}" ORDER BY sequence')
        assert got.columns[-1] == "source_log"
        pd.testing.assert_frame_equal(got.drop(columns="source_log"), want, obj=view)


# ------------------------------------------------------------------ the read side


@pytest.mark.parametrize("cache", [False, True], ids=["direct", "compacted"])
def test_frames_and_metrics_of_the_dataset_equal_the_logs(exported, cache) -> None:
    log, dataset = exported
    con = ek.connect_duckdb(dataset, cache=cache)
    try:
        view = ek.sql(con, "SELECT sql FROM duckdb_views() WHERE view_name = 'turn_started'")
        assert ("event_type=TurnStarted" in view.sql.iloc[0]) is not cache
        assert_same_frames(read_back(con), read_back(log))
        middle = int(log_events(log).sequence.median())
        for name in ENTITY_FRAMES:
            want = getattr(frames, name)(log, as_of=middle)
            pd.testing.assert_frame_equal(getattr(frames, name)(con, as_of=middle), want)
    finally:
        con.close()
    assert_same_frames(read_back(dataset), read_back(log))  # the shared reader


def test_the_compacted_copy_grows_by_chunks_of_new_events(tmp_path, private_cache) -> None:
    events = random_events(2)
    log = build_log(tmp_path / "events.db", events[:100])
    dataset = tmp_path / "dataset"

    def chunks() -> list[Path]:
        return sorted(private_cache.glob("datasets/*/chunk-*"), key=lambda p: p.stat().st_mtime)

    def count(con, table: str = "events") -> int:
        return int(ek.sql(con, f"SELECT count(*) AS n FROM {table}").n.iloc[0])

    ek.export_parquet(log, dataset)
    ek.connect_duckdb(dataset, cache=True).close()
    (first,) = chunks()
    con = ek.connect_duckdb(dataset, cache=True)
    try:
        views = " ".join(ek.sql(con, "SELECT sql FROM duckdb_views()").sql)
        assert str(first) in views and "event_type=" not in views
        assert count(con) == 100
    finally:
        con.close()
    assert chunks() == [first]  # made once

    build_log(log, events[100:])
    ek.export_parquet(log, dataset)
    con = ek.connect_duckdb(dataset, cache=True)
    try:
        assert count(con) == len(events)
        assert_same_frames(read_back(con), read_back(log))
    finally:
        con.close()
    assert chunks()[0] == first
    added = duckdb.sql(f"SELECT count(*) FROM read_parquet('{chunks()[1]}/*.parquet')")
    assert added.fetchone()[0] == len(events) - 100

    # A dataset made again at the same place is another history: its copy starts over.
    for path in sorted(dataset.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    ek.export_parquet(log, dataset)
    con = ek.connect_duckdb(dataset, cache=True)
    try:
        assert_same_frames(read_back(con), read_back(log))
    finally:
        con.close()
    assert len(chunks()) == 3


def test_the_dataset_is_read_only(exported, tmp_path) -> None:
    _, dataset = exported
    before = tree_digest(dataset)
    target = dataset / "events" / "event_type=TurnStarted" / "intruder.parquet"
    for statement in (
        f"COPY (SELECT 1 AS a) TO '{target}'",
        "INSERT INTO events (event_id) VALUES ('x')",
        "CREATE TABLE t AS SELECT 1 AS a",
        "DELETE FROM turn_started",
    ):
        with pytest.raises(ek.ReadOnlyError):
            ek.sql(dataset, statement)
    read_back(dataset)
    assert tree_digest(dataset) == before


# ------------------------------------------------------------------ incremental, crash-safe


def test_exporting_again_adds_exactly_the_new_events(tmp_path) -> None:
    events = random_events(11)
    half = len(events) // 2
    log = build_log(tmp_path / "events.db", events[:half])
    dataset = tmp_path / "dataset"
    first = ek.export_parquet(log, dataset)
    assert first.events == half and first.sources[0].first_sequence == 1
    assert ek.sql(dataset, "SELECT count(*) AS n FROM events").n.iloc[0] == half

    build_log(log, events[half:])
    second = ek.export_parquet(log, dataset)
    assert second.events == len(events) - half
    assert (second.sources[0].first_sequence, second.sources[0].last_sequence) == (
        half + 1,
        len(events),
    )
    assert second.files == len(part_files(dataset)) - first.files
    assert_same_frames(read_back(dataset), read_back(log))  # the shared reader saw the change

    before = tree_digest(dataset)
    third = ek.export_parquet(log, dataset)
    assert (third.events, third.files) == (0, 0)
    assert tree_digest(dataset) == before
    entry = json.loads((dataset / "_eventkit_manifest.json").read_text())["sources"]
    assert entry[log_id(log)]["events"] == len(events)
    ids = pads.dataset(dataset / "events", partitioning="hive").to_table(columns=["event_id"])
    assert len(ids) == len(set(ids.column("event_id").to_pylist())) == len(events)


def test_a_crashed_export_is_ignored_by_readers_and_cleaned_by_the_next(
    tmp_path, monkeypatch
) -> None:
    events = random_events(12)
    half = len(events) // 2
    log = build_log(tmp_path / "events.db", events[:half])
    dataset = tmp_path / "dataset"
    ek.export_parquet(log, dataset)
    committed = set(part_files(dataset))
    build_log(log, events[half:])

    class Killed(Exception):
        pass

    def crash(out, manifest):
        raise Killed("before the manifest")

    write_manifest = export._write_manifest
    monkeypatch.setattr(export, "_write_manifest", crash)
    with pytest.raises(Killed):
        ek.export_parquet(log, dataset)
    monkeypatch.setattr(export, "_write_manifest", write_manifest)
    leftovers = set(part_files(dataset)) - committed
    assert leftovers  # new part files, but the manifest does not list their events
    (dataset / ".staging-1-dead").mkdir()  # and a staging folder of a killed process
    for cache in (False, True):
        con = ek.connect_duckdb(dataset, cache=cache)
        try:
            assert ek.sql(con, "SELECT count(*) AS n FROM events").n.iloc[0] == half
            assert ek.sql(con, "SELECT max(sequence) AS n FROM turn_started").n.iloc[0] <= half
        finally:
            con.close()

    report = ek.export_parquet(log, dataset)
    assert report.events == len(events) - half
    assert not list(dataset.glob(".staging-*"))
    assert set(part_files(dataset)) == committed | leftovers  # rewritten, not duplicated
    table = pads.dataset(dataset / "events", partitioning="hive").to_table(columns=["event_id"])
    assert sorted(table.column("event_id").to_pylist()) == sorted(log_events(log).event_id)
    assert_same_frames(read_back(dataset), read_back(log))


def test_a_large_export_commits_batch_by_batch_and_resumes(tmp_path, monkeypatch) -> None:
    events = random_events(13)
    log = build_log(tmp_path / "events.db", events)
    dataset = tmp_path / "dataset"
    monkeypatch.setattr(export, "BATCH_EVENTS", 100)
    committed: list[int] = []
    write_manifest = export._write_manifest

    class Killed(Exception):
        pass

    def crash_on_the_third(out, manifest):
        if len(committed) == 2:
            raise Killed
        write_manifest(out, manifest)
        committed.append(manifest["sources"][log_id(log)]["last_sequence"])

    monkeypatch.setattr(export, "_write_manifest", crash_on_the_third)
    with pytest.raises(Killed):
        ek.export_parquet(log, dataset)
    assert committed == [100, 200]
    assert ek.sql(dataset, "SELECT max(sequence) AS n FROM events").n.iloc[0] == 200
    monkeypatch.setattr(export, "_write_manifest", write_manifest)
    report = ek.export_parquet(log, dataset)
    assert (report.sources[0].first_sequence, report.events) == (201, len(events) - 200)
    assert_same_frames(read_back(dataset), read_back(log))


def test_two_logs_in_one_dataset_replay_as_one_log_ordered_by_source(tmp_path) -> None:
    a = build_log(tmp_path / "a.db", random_events(21, n_threads=3))
    b = build_log(tmp_path / "b.db", random_events(22, n_threads=3))
    dataset = tmp_path / "dataset"
    report = ek.export_parquet([a, b], dataset)
    assert [s.log_id for s in report.sources] == [log_id(a), log_id(b)]
    manifest = json.loads((dataset / "_eventkit_manifest.json").read_text())
    assert set(manifest["sources"]) == {log_id(a), log_id(b)}

    events = ek.events_df(dataset)
    assert list(events.columns[-1:]) == ["source_log"]
    keys = list(zip(events.source_log, events.sequence, strict=True))
    assert keys == sorted(keys)
    assert len(events) == len(log_events(a)) + len(log_events(b))
    assert set(events.event_id) == set(log_events(a).event_id) | set(log_events(b).event_id)
    sources = ek.sql(dataset, "SELECT * FROM eventkit_sources ORDER BY source_log")
    first, second = sorted([(log_id(a), a), (log_id(b), b)])
    assert sources.replay_offset.tolist() == [0, len(log_events(first[1]))]

    # The same entities as one log holding the first log's events, then the second's.
    union = tmp_path / "union.db"
    ek.merge([first[1], second[1]], union, progress=False)
    want, got = read_back(union), read_back(dataset)
    del want["events_df"], got["events_df"]
    assert_same_frames(got, want)


# ------------------------------------------------------------------ odd logs, errors


def _insert_raw(path: Path, event_type: str, payload: dict, *, schema_version: int = 1) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        sequence = conn.execute("SELECT max(sequence) + 1 FROM events").fetchone()[0]
        conn.execute(
            "INSERT INTO events (sequence, event_id, event_type, stream_id, stream_version, "
            "occurred_at, recorded_at, schema_version, payload, metadata) "
            "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, NULL)",
            (
                sequence,
                f"raw-{sequence}",
                event_type,
                f"future:{sequence}",
                "2025-03-02T10:00:00.000000Z",
                "2025-03-02T10:00:00.000000Z",
                schema_version,
                json.dumps(payload),
            ),
        )


def test_an_unknown_event_type_is_exported_with_its_envelope(tmp_path) -> None:
    log = build_log(tmp_path / "events.db", random_events(4, n_threads=2))
    payload = {"type": "ThreadForked", "at": "2025-03-02T10:00:00.000000Z", "id": "th-4-0"}
    _insert_raw(log, "ThreadForked", payload)
    dataset = tmp_path / "dataset"
    ek.export_parquet(log, dataset)
    (path,) = dataset.glob("events/event_type=ThreadForked/date=2025-03-02/*.parquet")
    assert [(f.name, f.type) for f in pq.read_schema(path)] == ENVELOPE
    assert_same_frames(read_back(dataset), read_back(log))
    assert json.loads(ek.events_df(dataset, types="ThreadForked").payload.iloc[0]) == payload


def test_an_unknown_schema_version_is_refused_and_nothing_is_written(tmp_path) -> None:
    log = build_log(tmp_path / "events.db", random_events(4, n_threads=1))
    payload = {"type": "ThreadArchived", "at": "2025-03-02T10:00:00.000000Z", "id": "th-4-0"}
    _insert_raw(log, "ThreadArchived", payload, schema_version=2)
    dataset = tmp_path / "dataset"
    with pytest.raises(ek.UnsupportedSchemaError, match="schema_version 2"):
        ek.export_parquet(log, dataset)
    assert not part_files(dataset) and not (dataset / "_eventkit_manifest.json").exists()


def test_a_missing_log_is_an_error_and_nothing_is_written(tmp_path, small_log) -> None:
    with pytest.raises(ek.LogNotFoundError):
        ek.export_parquet(tmp_path / "missing", tmp_path / "dataset")
    with pytest.raises(ek.LogNotFoundError):
        ek.export_parquet([small_log, tmp_path / "missing.db"], tmp_path / "dataset")
    assert not (tmp_path / "dataset").exists()
    with pytest.raises(ek.LogNotFoundError):
        ek.sql(tmp_path / "dataset", "SELECT 1")


def test_a_directory_that_is_not_a_dataset_is_refused(tmp_path, small_log) -> None:
    folder = build_log(tmp_path / "logs" / "events.db", random_events(3, n_threads=1)).parent
    with pytest.raises(ek.EventkitError, match="holds an eventkit log and no eventkit dataset"):
        ek.export_parquet(folder, folder)  # beside the log itself
    with pytest.raises(ek.EventkitError, match="other files"):
        ek.export_parquet(small_log, small_log.parent)
    assert not {"events", ".lock", "_eventkit_manifest.json"} & {p.name for p in folder.iterdir()}


def test_a_log_behind_the_dataset_is_refused(tmp_path) -> None:
    events = random_events(6, n_threads=2)
    log = build_log(tmp_path / "events.db", events)
    backup = ek.backup(log, tmp_path / "backup.db").path  # same log_id, same history
    dataset = tmp_path / "dataset"
    build_log(log, random_events(7, n_threads=1))
    ek.export_parquet(log, dataset)
    with pytest.raises(ek.EventkitError, match="not the history that was exported"):
        ek.export_parquet(backup, dataset)


# ------------------------------------------------------------------ CLI


def test_cli_export_prints_what_it_did(tmp_path, small_log, capsys) -> None:
    dataset = tmp_path / "dataset"
    code = cli.main(["export", str(small_log), "--parquet", str(dataset)])
    out = capsys.readouterr().out
    events = len(log_events(small_log))
    files = len(part_files(dataset))
    assert code == 0
    head, line = out.splitlines()
    assert head.startswith(
        f"exported {events} event(s) from 1 log(s) to {dataset}: {files} file(s) in "
    )
    assert line == (
        f"  {small_log} (log_id {log_id(small_log)}): {events} event(s), sequences 1..{events}"
    )
    code = cli.main(["export", str(small_log), "--parquet", str(dataset), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["events"] == 0 and report["files"] == 0
    assert report["sources"][0]["log_id"] == log_id(small_log)
    code = cli.main(["export", str(tmp_path / "missing"), "--parquet", str(dataset)])
    assert code == 2 and "no eventkit log" in capsys.readouterr().err


def test_export_parquet_is_public() -> None:
    assert ek.export_parquet is export.export_parquet
    assert "export_parquet" in ek.__all__


def test_an_empty_log_gives_an_empty_dataset_with_every_column(tmp_path) -> None:
    log = tmp_path / "events.db"
    ek.EventStore.open(log).close()
    dataset = tmp_path / "dataset"
    report = ek.export_parquet(log, dataset)
    assert (report.events, report.files) == (0, 0)
    entry = json.loads((dataset / "_eventkit_manifest.json").read_text())["sources"][log_id(log)]
    assert {k: v for k, v in entry.items() if k != "exported_at"} == {
        "last_sequence": 0,
        "path": str(log),
        "events": 0,
    }
    for cache in (False, True):
        con = ek.connect_duckdb(dataset, cache=cache)
        try:
            assert_same_frames(read_back(con), read_back(log))
        finally:
            con.close()


def test_a_dataset_exported_in_part_by_an_older_eventkit_reads_its_missing_columns_as_null(
    tmp_path,
) -> None:
    """Part files written before ThreadCreated had parent_tool_call_id, then newer ones."""
    from oldlog import v1_events

    events = v1_events(random_events(8))
    half = max(i for i, e in enumerate(events) if e.type == "ThreadCreated")  # one after it
    log = build_log(tmp_path / "events.db", events[:half])
    dataset = tmp_path / "dataset"
    ek.export_parquet(log, dataset, progress=False)
    for part in (dataset / "events" / "event_type=ThreadCreated").rglob("*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.drop_columns(["parent_tool_call_id"]), part)  # as 001 wrote it
    build_log(log, events[half:])
    ek.export_parquet(log, dataset, progress=False)  # new part files hold the column
    names = {
        tuple(pq.read_schema(p).names)
        for p in (dataset / "events" / "event_type=ThreadCreated").rglob("*.parquet")
    }
    assert len(names) == 2  # both kinds of file are there
    for cache in (False, True):
        con = ek.connect_duckdb(dataset, cache=cache)
        try:
            assert_same_frames(read_back(con), read_back(log))
        finally:
            con.close()
