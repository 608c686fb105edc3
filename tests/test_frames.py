"""The pandas frames: an independent replay that must agree with the projection tables."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from randomlog import model_call_cases, random_events

import eventkit as ek
from eventkit.catalog.columns import EVENTS_COLUMNS
from eventkit.catalog.entities import ENTITIES, PANDAS_DTYPES
from eventkit.read import frames

pytestmark = pytest.mark.filterwarnings("error")

SEEDS = (0, 1, 2, 5, 11)

# frame -> (projection table, key column); JSON text (input, value) must match exactly
ENTITY_FRAMES = {entity.frame: (entity.table, entity.key) for entity in ENTITIES}

# frame -> its columns in order: the declarations are the spec (tests/test_entities.py
# checks them against the migration's DDL).
SPEC_COLUMNS = {
    "events_df": [c.name for c in EVENTS_COLUMNS],
    **{entity.frame: list(entity.column_names) for entity in ENTITIES},
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache directory (and never the user's)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(root))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)
    return root


def build_log(path: Path, events: list[ek.Event]) -> Path:
    """A log holding ``events`` (sequence i+1 for events[i]), projections kept in step."""
    with ek.EventStore.open(path) as store:
        for start in range(0, len(events), 50):
            store.append_all(events[start : start + 50])
    return path


def normalize(frame: pd.DataFrame, key: str, like: pd.DataFrame) -> pd.DataFrame:
    """Comparable form: sorted by key, each column in the kind of ``like``'s column."""
    out = {}
    for name in frame.columns:
        column, kind = frame[name], like[name].dtype
        if name.endswith("_at"):
            column = pd.to_datetime(column, utc=True).astype("datetime64[us, UTC]")
        elif isinstance(kind, pd.CategoricalDtype) or pd.api.types.is_string_dtype(kind):
            column = column.astype("string")
        elif pd.api.types.is_integer_dtype(kind):
            column = column.astype("Int64")
        elif pd.api.types.is_float_dtype(kind):
            column = column.astype("Float64")
        out[name] = column
    return pd.DataFrame(out).sort_values(key, kind="stable").reset_index(drop=True)


def projection(path: Path, table: str) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    return frame.convert_dtypes(dtype_backend="numpy_nullable")


def assert_frames_match_projections(src: object, log_path: Path, as_of: object = None) -> None:
    for frame_name, (table, key) in ENTITY_FRAMES.items():
        frame = getattr(frames, frame_name)(src, as_of=as_of)
        expected = projection(log_path, table)
        assert sorted(frame.columns) == sorted(expected.columns), frame_name
        got = normalize(frame, key, like=frame)
        want = normalize(expected[list(frame.columns)], key, like=frame)
        pd.testing.assert_frame_equal(got, want, check_dtype=True, obj=frame_name)


@pytest.fixture(scope="module", params=SEEDS)
def random_log(request, tmp_path_factory) -> tuple[Path, list[ek.Event]]:
    events = random_events(request.param)
    path = build_log(tmp_path_factory.mktemp(f"seed{request.param}") / "events.db", events)
    return path, events


def test_entity_frames_equal_projection_tables(random_log) -> None:
    path, _ = random_log
    assert_frames_match_projections(path, path)


def test_frames_over_a_cache_and_the_live_tail_equal_projections(tmp_path, random_log) -> None:
    _, events = random_log
    half = len(events) // 2
    path = build_log(tmp_path / "events.db", events[:half])
    ek.connect_duckdb(path, cache=True).close()  # caches the first half
    with ek.EventStore.open(path) as store:
        for start in range(half, len(events), 50):
            store.append_all(events[start : start + 50])
    con = ek.connect_duckdb(path)  # the cached half, then the rest read live
    try:
        assert con.execute(
            "SELECT count(*) FROM read_parquet(?)",
            [str(next((tmp_path / "cache").rglob("turn_started.parquet")))],
        ).fetchone()[0] == sum(e.type == "TurnStarted" for e in events[:half])
        assert_frames_match_projections(con, path)
        assert_frames_match_projections(con, build_log(tmp_path / "p.db", events[:half]), half)
    finally:
        con.close()


def test_as_of_sequence_equals_a_log_of_that_prefix(random_log, tmp_path) -> None:
    path, events = random_log
    for fraction in (0.1, 0.37, 0.5, 0.83):
        n = max(1, int(len(events) * fraction))
        prefix = build_log(tmp_path / f"prefix{n}.db", events[:n])
        assert_frames_match_projections(path, prefix, as_of=n)


def test_model_call_cases_agree_at_every_sequence(tmp_path) -> None:
    """Restatements, calls before their turn or without one, partial costs: each prefix."""
    events = model_call_cases()
    path = build_log(tmp_path / "events.db", events)
    assert_frames_match_projections(path, path)
    for n in range(1, len(events)):
        prefix = build_log(tmp_path / f"prefix{n}.db", events[:n])
        for frame_name in ("threads_df", "turns_df", "model_calls_df"):
            table, key = ENTITY_FRAMES[frame_name]
            frame = getattr(frames, frame_name)(path, as_of=n)
            want = projection(prefix, table)
            got = normalize(frame, key, like=frame)
            pd.testing.assert_frame_equal(
                got, normalize(want[list(frame.columns)], key, like=frame), obj=f"{frame_name}@{n}"
            )


def test_as_of_datetime_keeps_events_that_occurred_by_then(random_log, tmp_path) -> None:
    path, events = random_log
    times = sorted(e.at for e in events)
    cutoff = times[len(times) // 2]
    kept = build_log(tmp_path / "kept.db", [e for e in events if e.at <= cutoff])
    assert_frames_match_projections(path, kept, as_of=cutoff)
    # Naive datetimes and ISO text are read as UTC.
    naive = cutoff.replace(tzinfo=None)
    pd.testing.assert_frame_equal(
        frames.turns_df(path, as_of=naive), frames.turns_df(path, as_of=cutoff)
    )
    pd.testing.assert_frame_equal(
        frames.turns_df(path, as_of=cutoff.isoformat()), frames.turns_df(path, as_of=cutoff)
    )


def test_as_of_zero_is_empty_and_last_sequence_is_everything(random_log) -> None:
    path, events = random_log
    assert frames.threads_df(path, as_of=0).empty
    pd.testing.assert_frame_equal(
        frames.tool_calls_df(path, as_of=len(events)), frames.tool_calls_df(path)
    )


def test_frames_from_a_store_and_a_connection_agree(random_log) -> None:
    path, _ = random_log
    with ek.EventStore.open(path) as store:
        from_store = frames.messages_df(store)
    con = ek.connect_duckdb(path, cache=False)
    try:
        from_connection = frames.messages_df(con)
    finally:
        con.close()
    pd.testing.assert_frame_equal(from_store, frames.messages_df(path))
    pd.testing.assert_frame_equal(from_connection, frames.messages_df(path))


def test_an_in_memory_store_is_read_too() -> None:
    events = random_events(3, n_threads=2)
    store = ek.EventStore(ek.open_or_create_db(":memory:"))
    store.append_all(events)
    turns = frames.turns_df(store)
    expected = store.conn.execute("SELECT count(*) FROM projection_turns").fetchone()[0]
    assert len(turns) == expected > 0
    store.close()


# ------------------------------------------------------------------ columns and dtypes


def test_frames_have_the_spec_columns_and_dtypes(random_log) -> None:
    path, _ = random_log
    events = frames.events_df(path)
    assert list(events.columns) == SPEC_COLUMNS["events_df"]
    assert isinstance(events["event_type"].dtype, pd.CategoricalDtype)
    for entity in ENTITIES:
        frame = getattr(frames, entity.frame)(path)
        assert not frame.empty, entity.frame
        assert list(frame.columns) == SPEC_COLUMNS[entity.frame], entity.frame
        for column in entity.columns:
            dtype = frame[column.name].dtype
            if column.type == "category":
                assert isinstance(dtype, pd.CategoricalDtype), (entity.frame, column)
                assert list(dtype.categories) == sorted(dtype.categories), (entity.frame, column)
            else:
                want = pd.api.types.pandas_dtype(PANDAS_DTYPES[column.type])
                assert dtype == want, (entity.frame, column)


def test_rows_come_in_creation_order(random_log) -> None:
    path, _ = random_log
    events = frames.events_df(path)
    first_seen = events.drop_duplicates("event_id").set_index("event_id")
    assert first_seen.index.is_unique
    created = events[events.event_type == "TurnStarted"]
    ids = created.payload.map(lambda p: json.loads(p)["id"])
    turns = frames.turns_df(path)
    order = {turn: i for i, turn in reversed(list(enumerate(ids)))}
    positions = [order[t] for t in turns.turn_id]
    assert positions == sorted(positions)


# ------------------------------------------------------------------ events_df


def test_events_df_holds_every_event_in_sequence_order(random_log) -> None:
    path, events = random_log
    frame = frames.events_df(path)
    assert frame.sequence.tolist() == list(range(1, len(events) + 1))
    assert frame.event_type.astype(str).tolist() == [e.type for e in events]
    assert [json.loads(p)["type"] for p in frame.payload] == [e.type for e in events]
    assert frame.occurred_at.tolist() == [pd.Timestamp(e.at) for e in events]


def test_events_df_filters(random_log) -> None:
    path, events = random_log
    everything = frames.events_df(path)
    turns = frames.events_df(path, types=["TurnStarted", "TurnCompleted"])
    assert set(turns.event_type.astype(str)) == {"TurnStarted", "TurnCompleted"}
    assert len(turns) == sum(e.type in ("TurnStarted", "TurnCompleted") for e in events)
    assert turns.sequence.is_monotonic_increasing
    assert len(frames.events_df(path, types="SettingChanged")) == sum(
        e.type == "SettingChanged" for e in events
    )
    assert frames.events_df(path, types=[]).empty
    middle = sorted(e.at for e in events)[len(events) // 2]
    since = frames.events_df(path, since=middle)
    until = frames.events_df(path, until=middle)
    assert len(since) + len(until) == len(everything)  # since inclusive, until exclusive
    assert (since.occurred_at >= middle).all() and (until.occurred_at < middle).all()
    window = frames.events_df(
        path, types=["MessageDelta"], since=middle - timedelta(minutes=5), until=middle
    )
    expected = [
        e for e in events if e.type == "MessageDelta" and middle - timedelta(minutes=5) <= e.at
    ]
    assert len(window) == sum(e.at < middle for e in expected)


def _insert_raw(path: Path, event_type: str, payload: dict, *, schema_version: int = 1) -> None:
    with sqlite3.connect(path) as conn:
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
                "2025-03-01T10:00:00.000000Z",
                "2025-03-01T10:00:00.000000Z",
                schema_version,
                json.dumps(payload),
            ),
        )


def test_an_unknown_event_type_is_kept_by_events_df_and_ignored_by_entities(tmp_path) -> None:
    path = build_log(tmp_path / "events.db", random_events(4, n_threads=2))
    before = {name: getattr(frames, name)(path) for name in ENTITY_FRAMES}
    payload = {"type": "ThreadForked", "at": "2025-03-01T10:00:00.000000Z", "id": "th-4-0"}
    _insert_raw(path, "ThreadForked", payload)
    events = frames.events_df(path)
    last = events.iloc[-1]
    assert last.event_type == "ThreadForked"
    assert json.loads(last.payload) == payload
    assert "ThreadForked" in events.event_type.cat.categories
    for name, frame in before.items():
        pd.testing.assert_frame_equal(getattr(frames, name)(path), frame, obj=name)
    assert len(frames.events_df(path, types=["ThreadForked"])) == 1


def test_an_unknown_schema_version_is_refused_clearly(tmp_path) -> None:
    path = build_log(tmp_path / "events.db", random_events(4, n_threads=1))
    payload = {"type": "ThreadArchived", "at": "2025-03-01T10:00:00.000000Z", "id": "th-4-0"}
    _insert_raw(path, "ThreadArchived", payload, schema_version=2)
    assert frames.events_df(path).schema_version.iloc[-1] == 2  # the raw rows still read
    with pytest.raises(ek.UnsupportedSchemaError, match="schema_version 2"):
        frames.threads_df(path)


def test_points_in_time_finer_than_microseconds(random_log) -> None:
    path, events = random_log
    at = pd.Timestamp(sorted(e.at for e in events)[len(events) // 2])
    finer = at + pd.Timedelta(nanoseconds=500)
    assert len(frames.events_df(path, since=finer)) == len(frames.events_df(path, since=at)) - sum(
        e.at == at for e in events
    )
    assert len(frames.events_df(path, until=finer)) == len(frames.events_df(path, until=at)) + sum(
        e.at == at for e in events
    )
    pd.testing.assert_frame_equal(
        frames.turns_df(path, as_of=finer), frames.turns_df(path, as_of=at)
    )


def test_bad_as_of_values_are_refused(tmp_path) -> None:
    path = build_log(tmp_path / "events.db", random_events(4, n_threads=1))
    with pytest.raises(ValueError, match="as_of"):
        frames.turns_df(path, as_of="not a time")
    with pytest.raises(TypeError):
        frames.turns_df(path, as_of=True)


def test_empty_log_gives_empty_frames_with_columns(tmp_path) -> None:
    path = tmp_path / "events.db"
    ek.open_or_create_db(path).close()
    for name, columns in SPEC_COLUMNS.items():
        frame = getattr(frames, name)(path)
        assert frame.empty
        assert list(frame.columns) == columns, name


def test_missing_log_raises(tmp_path) -> None:
    with pytest.raises(ek.LogNotFoundError):
        frames.turns_df(tmp_path / "nope.db")


def test_public_names_are_exported() -> None:
    for name in [*SPEC_COLUMNS, "connect_duckdb", "sql"]:
        assert callable(getattr(ek, name))
    assert datetime(2025, 1, 1, tzinfo=UTC)  # keep the import used for readers of the file


# ------------------------------------------------------------------ metrics


def test_turn_metrics_are_the_turns_with_their_threads(random_log) -> None:
    path, _ = random_log
    metrics = ek.turn_metrics(path)
    turns = frames.turns_df(path)
    threads = frames.threads_df(path).set_index("thread_id")
    assert metrics.turn_id.tolist() == turns.turn_id.tolist()
    pd.testing.assert_series_equal(metrics.latency_ms, turns.duration_ms, check_names=False)
    total = (
        turns.input_tokens + turns.cache_read_tokens + turns.cache_write_tokens
    ) + turns.output_tokens
    pd.testing.assert_series_equal(metrics.total_tokens, total, check_names=False)
    provider = turns.thread_id.map(threads.provider.astype("string"))
    assert metrics.provider.astype("string").tolist() == provider.tolist()
    model = turns.model.astype("string").fillna(turns.thread_id.map(threads.model.astype("string")))
    assert metrics.model.astype("string").tolist() == model.tolist()
    with_calls = turns.tool_calls > 0
    rate = (turns.tool_errors / turns.tool_calls).where(with_calls)
    pd.testing.assert_series_equal(
        metrics.tool_error_rate[with_calls], rate[with_calls].astype("Float64"), check_names=False
    )
    assert metrics.tool_error_rate[~with_calls].isna().all()


def test_thread_summary_counts_match_the_frames(random_log) -> None:
    path, _ = random_log
    summary = ek.thread_summary(path).set_index("thread_id")
    threads = frames.threads_df(path).set_index("thread_id")
    calls = frames.tool_calls_df(path)
    turns = frames.turns_df(path)
    assert summary.index.tolist() == threads.index.tolist()
    assert (summary.turns == threads.turn_count).all()
    assert (summary.messages == threads.message_count).all()
    expected_calls = calls.groupby("thread_id").size()
    assert (summary.tool_calls == expected_calls.reindex(summary.index, fill_value=0)).all()
    errors = calls[calls.status == "error"].groupby("thread_id").size()
    assert (summary.tool_errors == errors.reindex(summary.index, fill_value=0)).all()
    out = turns.groupby("thread_id").output_tokens.sum()
    assert (summary.output_tokens == out.reindex(summary.index, fill_value=0)).all()
    span = (threads.updated_at - threads.created_at).dt.total_seconds() * 1000
    assert ((summary.span_ms - span).abs() < 1e-6).all()
    assert (summary.status.astype(str) == threads.status.astype(str)).all()


def test_model_breakdown_percentiles_interpolate_linearly(random_log) -> None:
    path, _ = random_log
    metrics = ek.turn_metrics(path)
    breakdown = ek.model_breakdown(path)
    assert list(breakdown.columns[:2]) == ["provider", "model"]
    keys = list(zip(breakdown.provider.astype(str), breakdown.model.astype(str), strict=True))
    assert keys == sorted(keys)
    assert breakdown.turns.sum() == len(metrics)
    grouped = metrics.astype({"provider": str, "model": str}).groupby(["provider", "model"])
    for row in breakdown.itertuples():
        group = grouped.get_group((row.provider, row.model))
        latency = group.latency_ms.dropna().astype(float)
        for q, got in ((0.5, row.latency_p50_ms), (0.95, row.latency_p95_ms)):
            if latency.empty:
                assert pd.isna(got)
            else:
                assert abs(got - latency.quantile(q)) < 1e-6  # pandas: linear by default
        assert row.tool_calls == group.tool_calls.sum()
        assert row.tool_errors == group.tool_errors.sum()
    by_status = ek.model_breakdown(path, by="status")
    assert set(by_status.status.astype(str)) == set(metrics.status.astype(str))
    with pytest.raises(ValueError, match="by must name"):
        ek.model_breakdown(path, by=("provider", "text"))
