"""Projection tables: incremental == rebuilt == a reference replay of docs/semantics.md."""

from __future__ import annotations

import functools
import json
import operator
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from randomlog import model_call_cases, random_batches, random_events

import eventkit as ek
from eventkit.catalog.entities import ENTITIES
from eventkit.catalog.events import format_timestamp
from eventkit.catalog.tool_categories import CATEGORIES, TOOL_CATEGORIES, tool_category
from eventkit.log import projections

TABLES = tuple(entity.table for entity in ENTITIES)
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def ts(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(conn: sqlite3.Connection) -> dict[str, dict[str, tuple]]:
    """Every projection table as ``{primary key: row}``."""
    return {t: {row[0]: row for row in conn.execute(f"SELECT * FROM {t}")} for t in TABLES}


def state(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT last_sequence FROM projection_state WHERE projector = ?", (projections.PROJECTOR,)
    ).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------- reference


def _payload_value(event: ek.Event, field: str) -> str:
    """A field's JSON text exactly as it sits in the stored payload (the last field)."""
    payload = event.model_dump_json()
    key = f'"{field}":'
    assert payload.endswith("}") and payload.count(key) >= 1
    return payload[payload.index(key) + len(key) : -1]


def reference(events: list[ek.Event], conn: sqlite3.Connection) -> dict[str, dict[str, tuple]]:
    """Replay ``events`` (sequence order) by docs/semantics.md, one event at a time.

    Deliberately naive and independent of eventkit.log.projections: counts are
    recomputed from the finished rows, JSON text is cut out of the payload.
    """
    projects: dict[str, dict] = {}
    threads: dict[str, dict] = {}
    turns: dict[str, dict] = {}
    messages: dict[str, dict] = {}
    calls: dict[str, dict] = {}
    checkpoints: dict[str, dict] = {}
    settings: dict[str, dict] = {}
    model_calls: dict[str, dict] = {}

    def ms(start: datetime, end: datetime) -> float:
        return (end - start) // timedelta(microseconds=1) / 1000

    def text(value: datetime) -> str:
        return format_timestamp(value)

    for e in events:
        at = text(e.at)
        match e:
            case ek.ProjectCreated() if e.id not in projects:
                projects[e.id] = dict(
                    project_id=e.id,
                    name=e.name,
                    path=e.path,
                    created_at=at,
                    updated_at=at,
                    deleted_at=None,
                    _at=e.at,
                )
            case ek.ProjectRenamed() if e.id in projects:
                projects[e.id]["name"] = e.name
            case ek.ProjectDeleted() if e.id in projects:
                projects[e.id]["deleted_at"] = projects[e.id]["deleted_at"] or at
            case ek.ThreadCreated() if e.id not in threads:
                threads[e.id] = dict(
                    thread_id=e.id,
                    project_id=e.project_id,
                    parent_thread_id=e.parent_thread_id,
                    title=e.title,
                    provider=e.provider,
                    model=e.model,
                    status="active",
                    created_at=at,
                    updated_at=at,
                    archived_at=None,
                    deleted_at=None,
                    parent_tool_call_id=e.parent_tool_call_id,
                )
                continue  # the creation itself is not "after" it
            case ek.ThreadRenamed() if e.id in threads:
                threads[e.id]["title"] = e.title
            case ek.ThreadArchived() if e.id in threads:
                thread = threads[e.id]
                thread["archived_at"] = thread["archived_at"] or at
                if thread["status"] != "deleted":
                    thread["status"] = "archived"
            case ek.ThreadDeleted() if e.id in threads:
                threads[e.id]["deleted_at"] = threads[e.id]["deleted_at"] or at
                threads[e.id]["status"] = "deleted"
            case ek.TurnStarted() if e.id not in turns and e.thread_id in threads:
                turns[e.id] = dict(
                    turn_id=e.id,
                    thread_id=e.thread_id,
                    model=e.model,
                    status="running",
                    started_at=at,
                    completed_at=None,
                    duration_ms=None,
                    input_tokens=None,
                    output_tokens=None,
                    cache_read_tokens=None,
                    cache_write_tokens=None,
                    reasoning_tokens=None,
                    cost_usd=None,
                    cost_source=None,
                    error=None,
                    last_activity_at=at,
                    _start=e.at,
                )
                continue  # the start itself is not "after" it
            case ek.TurnCompleted() if turns.get(e.id, {}).get("status") == "running":
                turn = turns[e.id]
                turn.update(
                    status=e.outcome,
                    completed_at=at,
                    duration_ms=ms(turn["_start"], e.at),
                    cost_usd=e.cost_usd,
                    cost_source=e.cost_source,
                    error=e.error,
                    **e.usage.model_dump(),
                )
            case ek.MessageAdded() if e.id not in messages and e.thread_id in threads:
                messages[e.id] = dict(
                    message_id=e.id,
                    thread_id=e.thread_id,
                    turn_id=e.turn_id,
                    role=e.role,
                    text=e.text,
                    created_at=at,
                    updated_at=at,
                    delta_count=0,
                )
            case ek.MessageDelta() if e.id in messages:
                message = messages[e.id]
                message["text"] += e.delta
                message["delta_count"] += 1
                message["updated_at"] = max(message["updated_at"], at)
            case ek.ToolCallStarted() if e.id not in calls and e.thread_id in threads:
                calls[e.id] = dict(
                    tool_call_id=e.id,
                    thread_id=e.thread_id,
                    turn_id=e.turn_id,
                    tool=e.tool,
                    tool_category=TOOL_CATEGORIES.get(e.tool)
                    or {k.lower(): v for k, v in TOOL_CATEGORIES.items()}.get(e.tool.lower())
                    or "other",
                    input=_payload_value(e, "input"),
                    status="running",
                    output=None,
                    started_at=at,
                    completed_at=None,
                    duration_ms=None,
                    approval_decision=None,
                    approval_wait_ms=None,
                    _start=e.at,
                )
            case ek.ToolCallCompleted() if calls.get(e.id, {}).get("status") == "running":
                call = calls[e.id]
                call.update(
                    status=e.status,
                    output=e.output,
                    completed_at=at,
                    duration_ms=ms(call["_start"], e.at),
                )
            case ek.ApprovalResolved() if e.tool_call_id in calls:
                calls[e.tool_call_id].update(
                    approval_decision=e.decision, approval_wait_ms=ms(e.requested_at, e.at)
                )
            case ek.CheckpointCreated() if e.id not in checkpoints and e.thread_id in threads:
                checkpoints[e.id] = dict(
                    checkpoint_id=e.id,
                    thread_id=e.thread_id,
                    turn_id=e.turn_id,
                    git_ref=e.git_ref,
                    message=e.message,
                    files_changed=e.files_changed,
                    additions=e.additions,
                    deletions=e.deletions,
                    created_at=at,
                    restored_at=None,
                )
            case ek.CheckpointRestored() if e.id in checkpoints:
                checkpoints[e.id]["restored_at"] = at
            case ek.SettingChanged():
                settings[e.key] = dict(key=e.key, value=_payload_value(e, "value"), updated_at=at)
            case ek.ModelCallCompleted():
                thread = threads.get(e.thread_id)
                if thread is not None and thread["model"] == "" and e.model:
                    thread["model"] = e.model
                state = dict(
                    model=e.model,
                    requested_at=e.requested_at and text(e.requested_at),
                    completed_at=at,
                    duration_ms=e.requested_at and ms(e.requested_at, e.at),
                    cost_usd=e.cost_usd,
                    cost_source=e.cost_source,
                    stop_reason=e.stop_reason,
                    revision=e.revision,
                    **e.usage.model_dump(),
                )
                if e.id not in model_calls and thread is not None:
                    model_calls[e.id] = dict(
                        model_call_id=e.id, thread_id=e.thread_id, turn_id=e.turn_id, **state
                    )
                elif e.id in model_calls and e.revision >= model_calls[e.id]["revision"]:
                    model_calls[e.id].update(state)
        # last_activity_at: every later event naming the turn (its completion, or its
        # turn_id), applied or not.
        named = e.id if isinstance(e, ek.TurnCompleted) else getattr(e, "turn_id", None)
        if named in turns:
            turns[named]["last_activity_at"] = max(turns[named]["last_activity_at"], at)
        # updated_at: every event of a project stream applied to an existing project
        # (a second creation is ignored, so not applied); every event of a thread's
        # stream after its creation, applied or not.
        if isinstance(e, ek.ProjectRenamed | ek.ProjectDeleted) and e.id in projects:
            projects[e.id]["updated_at"] = max(projects[e.id]["updated_at"], at)
        if e.stream_id.startswith("thread:"):
            thread = threads.get(e.stream_id.removeprefix("thread:"))
            if thread is not None:
                thread["updated_at"] = max(thread["updated_at"], at)

    for thread in threads.values():
        thread["turn_count"] = sum(t["thread_id"] == thread["thread_id"] for t in turns.values())
        thread["message_count"] = sum(
            m["thread_id"] == thread["thread_id"] for m in messages.values()
        )
    for turn in turns.values():
        mine = [c for c in calls.values() if c["turn_id"] == turn["turn_id"]]
        turn["tool_calls"] = len(mine)
        turn["tool_errors"] = sum(c["status"] == "error" for c in mine)
        spent = sorted(
            (c for c in model_calls.values() if c["turn_id"] == turn["turn_id"]),
            key=lambda c: c["model_call_id"],
        )
        turn["model_calls"] = len(spent)
        if spent:  # the calls' sums, whatever the completion says
            for column in ek.TokenUsage.model_fields:
                turn[column] = sum(c[column] for c in spent)
            costs = [c["cost_usd"] for c in spent if c["cost_usd"] is not None]
            sources = {c["cost_source"] for c in spent if c["cost_usd"] is not None}
            turn["cost_usd"] = functools.reduce(operator.add, costs) if costs else None
            if not costs:
                turn["cost_source"] = None
            elif len(costs) < len(spent):
                turn["cost_source"] = "partial"
            elif "estimated" in sources:
                turn["cost_source"] = "estimated"
            else:
                turn["cost_source"] = "recorded" if sources == {"recorded"} else None

    result = {}
    everything = (projects, threads, turns, messages, calls, checkpoints, settings, model_calls)
    for table, rows in zip(TABLES, everything, strict=True):
        columns = [info[1] for info in conn.execute(f"PRAGMA table_info({table})")]
        result[table] = {key: tuple(row[c] for c in columns) for key, row in rows.items()}
    return result


def append_in_batches(store: ek.EventStore, events: list[ek.Event], seed: int) -> None:
    for batch in random_batches(events, seed):
        store.append_all(batch)


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("seed", range(6))
def test_incremental_equals_rebuild_equals_reference(seed: int) -> None:
    events = random_events(seed)
    conn = ek.open_or_create_db(":memory:")
    append_in_batches(ek.EventStore(conn), events, seed)
    incremental = snapshot(conn)
    assert state(conn) == len(events)

    assert ek.rebuild_projections(conn) == len(events)
    assert snapshot(conn) == incremental
    assert state(conn) == len(events)

    expected = reference(events, conn)
    for table in TABLES:
        assert incremental[table] == expected[table], table


def test_reference_log_exercises_the_irregular_cases() -> None:
    """Guard against the generator going soft: the tables must show its anomalies."""
    events = random_events(0)
    conn = ek.open_or_create_db(":memory:")
    ek.EventStore(conn).append_all(events)
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    assert one("SELECT count(*) FROM projection_threads WHERE status = 'deleted'") >= 1
    assert one("SELECT count(*) FROM projection_threads WHERE thread_id = 'th-ghost'") == 0
    assert one("SELECT count(*) FROM projection_turns WHERE tool_errors > 0") >= 1
    assert one("SELECT count(*) FROM projection_turns WHERE status = 'running'") >= 1
    assert one("SELECT count(*) FROM projection_tool_calls WHERE approval_wait_ms < 0") >= 0
    assert one("SELECT count(*) FROM projection_tool_calls WHERE approval_decision IS NOT NULL")
    assert one("SELECT count(*) FROM checkpoints WHERE restored_at IS NOT NULL") >= 1
    assert one("SELECT count(*) FROM projection_messages WHERE delta_count > 0") >= 1
    assert one("SELECT count(*) FROM projection_messages WHERE text LIKE '%LOST%'") == 0
    assert one("SELECT count(*) FROM projection_projects WHERE deleted_at IS NOT NULL") >= 1
    assert one("SELECT count(*) FROM settings") >= 1
    calls = "SELECT count(*) FROM projection_model_calls"
    assert one(f"{calls} WHERE revision > 1") >= 1
    assert one(f"{calls} WHERE turn_id IS NULL") >= 1
    assert one(f"{calls} WHERE model_call_id = 'ghost.mc1'") == 0
    turns = "SELECT count(*) FROM projection_turns"
    assert one(f"{turns} WHERE model_calls > 0 AND status = 'running'") >= 1
    assert one(f"{turns} WHERE model_calls = 0 AND input_tokens IS NOT NULL") >= 1
    assert one(f"{turns} WHERE cost_source = 'partial'") >= 1
    assert one(f"{turns} WHERE last_activity_at > coalesce(completed_at, started_at)") >= 1
    assert one("SELECT count(*) FROM projection_threads WHERE parent_tool_call_id IS NOT NULL")
    # th-0-0 is created with an empty model and takes its first call's.
    assert one("SELECT model FROM projection_threads WHERE thread_id = 'th-0-0'") != ""


@pytest.mark.parametrize("seed", [1, 2])
def test_catch_up_after_appends_without_projections(seed: int) -> None:
    events = random_events(seed)
    conn = ek.open_or_create_db(":memory:")
    append_in_batches(ek.EventStore(conn, projections=False), events, seed)
    assert all(not rows for rows in snapshot(conn).values())

    assert ek.catch_up(conn) == len(events)
    assert snapshot(conn) == reference(events, conn)
    assert state(conn) == len(events)
    assert ek.catch_up(conn) == 0


def test_mixed_batches_with_and_without_projections(tmp_path) -> None:
    events = random_events(7)
    conn = ek.open_or_create_db(tmp_path / "log.db")
    on, off = ek.EventStore(conn), ek.EventStore(conn, projections=False)
    rng = random.Random(7)
    for batch in random_batches(events, 7):
        rng.choice((on, off)).append_all(batch)
    ek.catch_up(conn)
    assert snapshot(conn) == reference(events, conn)


def test_projecting_store_catches_up_inside_its_append(tmp_path) -> None:
    """A writer with projections off, then another with them on: nothing is skipped."""
    path = tmp_path / "log.db"
    events = random_events(3)
    half = len(events) // 2
    with ek.EventStore.open(path, projections=False) as bulk:
        append_in_batches(bulk, events[:half], 3)
    with ek.EventStore.open(path) as live:
        live.append_all(events[half : half + 1])
        assert state(live.conn) == half + 1
        assert snapshot(live.conn) == reference(events[: half + 1], live.conn)
        append_in_batches(live, events[half + 1 :], 4)
        assert snapshot(live.conn) == reference(events, live.conn)


def test_catch_up_and_rebuild_refuse_an_open_transaction() -> None:
    conn = ek.open_or_create_db(":memory:")
    conn.execute("BEGIN")
    with pytest.raises(ek.StorageError):
        ek.catch_up(conn)
    with pytest.raises(ek.StorageError):
        ek.rebuild_projections(conn)


def test_catch_up_accepts_a_store() -> None:
    store = ek.EventStore(ek.open_or_create_db(":memory:"), projections=False)
    store.append(ek.SettingChanged(key="k", value=1, at=T0))
    assert ek.catch_up(store) == 1


# --------------------------------------------------------------------------- raw log rows


def _insert_raw(conn: sqlite3.Connection, event_type: str, payload: dict, schema: int = 1) -> None:
    """A row as a newer writer might have stored it (bypassing the store)."""
    seq = conn.execute("SELECT coalesce(max(sequence), 0) + 1 FROM events").fetchone()[0]
    conn.execute(
        "INSERT INTO events (sequence, event_id, event_type, stream_id, stream_version, "
        "occurred_at, recorded_at, schema_version, payload) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
        (
            seq,
            f"raw-{seq}",
            event_type,
            f"future:{seq}",
            payload["at"],
            payload["at"],
            schema,
            json.dumps(payload),
        ),
    )


def test_unknown_event_types_are_skipped() -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append(ek.SettingChanged(key="a", value=1, at=T0))
    _insert_raw(conn, "ThreadPinned", {"type": "ThreadPinned", "at": format_timestamp(T0)})
    store.append(ek.SettingChanged(key="b", value=2, at=T0))  # catches up past it
    assert state(conn) == 3
    assert sorted(snapshot(conn)["settings"]) == ["a", "b"]
    assert ek.rebuild_projections(conn) == 3
    assert sorted(snapshot(conn)["settings"]) == ["a", "b"]


def test_unknown_schema_version_is_refused_clearly() -> None:
    conn = ek.open_or_create_db(":memory:")
    ek.EventStore(conn, projections=False).append(ek.SettingChanged(key="a", value=1, at=T0))
    _insert_raw(
        conn,
        "SettingChanged",
        {"type": "SettingChanged", "at": format_timestamp(T0), "key": "b", "value": 2},
        schema=2,
    )
    with pytest.raises(ek.UnsupportedSchemaError, match="schema_version 2"):
        ek.catch_up(conn)
    assert state(conn) is None
    assert snapshot(conn)["settings"] == {}
    assert not conn.in_transaction


def test_a_payload_that_skipped_validation_is_reported_not_leaked() -> None:
    conn = ek.open_or_create_db(":memory:")
    _insert_raw(conn, "TurnStarted", {"type": "TurnStarted", "at": format_timestamp(T0)})
    with pytest.raises(ek.EventkitError, match="does not match the catalog"):
        ek.catch_up(conn)
    assert state(conn) is None and not conn.in_transaction


# --------------------------------------------------------------------------- transactions


def test_rejected_batch_leaves_projections_untouched() -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append_all(
        [
            (
                ek.ThreadCreated(id="t", project_id="p", title="a", provider="x", model="m", at=T0),
                "e1",
            ),
            (ek.TurnStarted(id="u", thread_id="t", at=ts(1)), "e2"),
        ]
    )
    before, sequence = snapshot(conn), state(conn)
    with pytest.raises(ek.DuplicateEventError):
        store.append_all(
            [
                (ek.ThreadRenamed(id="t", title="b", at=ts(2)), "e3"),
                (ek.TurnCompleted(id="u", thread_id="t", outcome="success", at=ts(3)), "e4"),
                (ek.TurnStarted(id="other", thread_id="t", at=ts(4)), "e2"),  # e2 differs
            ]
        )
    assert snapshot(conn) == before
    assert state(conn) == sequence == store.last_sequence() == 2


def test_projection_failure_rolls_back_the_append(monkeypatch) -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append(ek.SettingChanged(key="a", value=1, at=T0))

    def broken(*args: object) -> None:
        raise RuntimeError("projection failed")

    monkeypatch.setattr(projections, "apply_chunk", broken)
    with pytest.raises(RuntimeError):
        store.append(ek.SettingChanged(key="a", value=2, at=ts(1)))
    assert store.last_sequence() == 1
    assert not conn.in_transaction
    monkeypatch.undo()
    assert snapshot(conn)["settings"]["a"][1] == "1"


def test_apply_of_an_empty_or_already_applied_batch_does_nothing() -> None:
    conn = ek.open_or_create_db(":memory:")
    (stored,) = ek.EventStore(conn).append_all([ek.SettingChanged(key="a", value=1, at=T0)])
    before = snapshot(conn)
    conn.execute("BEGIN")
    projections.apply(conn, [])
    projections.apply(conn, [stored])
    conn.execute("COMMIT")
    assert snapshot(conn) == before and state(conn) == 1


# --------------------------------------------------------------------------- rules


@pytest.fixture
def log() -> tuple[ek.EventStore, sqlite3.Connection]:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append_all(
        [
            ek.ProjectCreated(id="p", name="demo", path="/src/demo", at=T0),
            ek.ThreadCreated(id="t", project_id="p", title="a", provider="x", model="m", at=T0),
            ek.TurnStarted(id="u", thread_id="t", model="opus", at=ts(1)),
        ]
    )
    return store, conn


def row(conn: sqlite3.Connection, table: str, key: str) -> dict | None:
    cursor = conn.execute(f"SELECT * FROM {table} WHERE {table_key(table)} = ?", (key,))
    values = cursor.fetchone()
    if values is None:
        return None
    return dict(zip([d[0] for d in cursor.description], values, strict=True))


def table_key(table: str) -> str:
    return {
        "projection_projects": "project_id",
        "projection_threads": "thread_id",
        "projection_turns": "turn_id",
        "projection_messages": "message_id",
        "projection_tool_calls": "tool_call_id",
        "checkpoints": "checkpoint_id",
        "settings": "key",
        "projection_model_calls": "model_call_id",
    }[table]


def test_message_text_is_added_text_then_deltas_in_sequence_order(log) -> None:
    store, conn = log
    store.append_all([ek.MessageDelta(id="m", thread_id="t", delta="lost", at=ts(1))])
    store.append_all(
        [
            ek.MessageAdded(
                id="m", thread_id="t", turn_id="u", role="assistant", text="Hé", at=ts(5)
            ),
            ek.MessageDelta(id="m", thread_id="t", delta=" one", at=ts(9)),
        ]
    )
    store.append_all(
        [
            ek.MessageDelta(id="m", thread_id="t", delta=" two", at=ts(7)),  # earlier clock
            ek.MessageAdded(id="m", thread_id="t", role="user", text="again", at=ts(10)),
            ek.MessageDelta(id="m", thread_id="t", delta=" 🙂", at=ts(8)),
        ]
    )
    message = row(conn, "projection_messages", "m")
    assert message["text"] == "Hé one two 🙂"
    assert message["delta_count"] == 3
    assert message["role"] == "assistant" and message["turn_id"] == "u"
    assert message["created_at"] == format_timestamp(ts(5))
    assert message["updated_at"] == format_timestamp(ts(9))
    assert row(conn, "projection_threads", "t")["message_count"] == 1


def test_children_of_a_thread_not_yet_created_are_ignored() -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append_all(
        [
            ek.TurnStarted(id="u", thread_id="t", at=T0),
            ek.MessageAdded(id="m", thread_id="t", role="user", text="x", at=T0),
            ek.ToolCallStarted(id="c", thread_id="t", turn_id="u", tool="Bash", input={}, at=T0),
            ek.ThreadCreated(id="t", project_id="p", title="a", provider="x", model="m", at=ts(5)),
            ek.TurnCompleted(id="u", thread_id="t", outcome="success", at=ts(6)),
            ek.MessageDelta(id="m", thread_id="t", delta="y", at=ts(7)),
        ]
    )
    thread = row(conn, "projection_threads", "t")
    assert (thread["turn_count"], thread["message_count"]) == (0, 0)
    assert thread["updated_at"] == format_timestamp(ts(7))  # ignored events count too
    assert snapshot(conn)["projection_turns"] == {}
    assert snapshot(conn)["projection_messages"] == {}
    assert snapshot(conn)["projection_tool_calls"] == {}


def test_turn_completion_duration_tokens_and_first_completion_only(log) -> None:
    store, conn = log
    usage = ek.TokenUsage(
        input_tokens=10,
        output_tokens=20,
        cache_read_tokens=30,
        cache_write_tokens=40,
        reasoning_tokens=5,
    )
    store.append_all(
        [
            ek.TurnCompleted(id="never", thread_id="t", outcome="success", at=ts(2)),
            ek.TurnCompleted(
                id="u",
                thread_id="t",
                outcome="error",
                error="boom",
                usage=usage,
                cost_usd=0.25,
                cost_source="recorded",
                at=ts(2.500001),
            ),
        ]
    )
    store.append(ek.TurnCompleted(id="u", thread_id="t", outcome="success", at=ts(9)))
    turn = row(conn, "projection_turns", "u")
    assert turn["status"] == "error" and turn["error"] == "boom"
    assert turn["duration_ms"] == 1500.001
    assert turn["completed_at"] == format_timestamp(ts(2.500001))
    assert [
        turn[k]
        for k in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        )
    ] == [10, 20, 30, 40, 5]
    assert (turn["cost_usd"], turn["cost_source"], turn["model"]) == (0.25, "recorded", "opus")
    assert row(conn, "projection_turns", "never") is None


def test_running_turn_has_null_tokens_and_cost(log) -> None:
    _, conn = log
    turn = row(conn, "projection_turns", "u")
    assert turn["status"] == "running"
    assert turn["input_tokens"] is None and turn["cost_usd"] is None
    assert turn["duration_ms"] is None and (turn["tool_calls"], turn["tool_errors"]) == (0, 0)


def test_tool_counts_include_calls_before_the_turn_and_only_error_status(log) -> None:
    store, conn = log

    def started(call: str, turn: str, at: float) -> ek.ToolCallStarted:
        return ek.ToolCallStarted(
            id=call, thread_id="t", turn_id=turn, tool="Bash", input={}, at=ts(at)
        )

    def done(call: str, status: str, at: float) -> ek.ToolCallCompleted:
        return ek.ToolCallCompleted(
            id=call, thread_id="t", turn_id="x", status=status, output="", at=ts(at)
        )

    # Calls of turn "v" before it starts, one failing across batches, one in this batch.
    store.append_all([started("early1", "v", 2), done("early1", "error", 3)])
    store.append_all([started("early2", "v", 4)])
    store.append_all(
        [
            done("early2", "denied", 5),
            started("early3", "v", 5),
            ek.TurnStarted(id="v", thread_id="t", at=ts(6)),
            done("early3", "error", 7),
            started("c1", "v", 8),
        ]
    )
    store.append_all(
        [
            done("c1", "error", 9),
            done("c1", "ok", 10),  # second completion ignored
            started("c2", "u", 10),
            done("c2", "ok", 11),
            started("c3", "nowhere", 12),
            done("c3", "error", 13),
            done("never", "error", 13),
        ]
    )
    v = row(conn, "projection_turns", "v")
    assert (v["tool_calls"], v["tool_errors"]) == (4, 3)
    u = row(conn, "projection_turns", "u")
    assert (u["tool_calls"], u["tool_errors"]) == (1, 0)
    assert row(conn, "projection_tool_calls", "c3")["status"] == "error"  # unknown turn: kept
    assert row(conn, "projection_tool_calls", "never") is None
    assert row(conn, "projection_tool_calls", "c1")["duration_ms"] == 1000.0
    before = snapshot(conn)
    ek.rebuild_projections(conn)
    assert snapshot(conn) == before


def test_tool_call_input_is_the_payloads_compact_json(log) -> None:
    store, conn = log
    data = {
        "π": 1e-05,
        "tiny": 1.5e-07,
        "big": 1e22,
        "neg": -0.0,
        "s": "naïve 🙂\u2028",
        "list": [0.1, 2, None, True, {"ж": 1.0}],
        "esc": '"\\/\x00',
    }
    event = ek.ToolCallStarted(
        id="c", thread_id="t", turn_id="u", tool="exec_command", input=data, at=ts(2)
    )
    store.append(event)
    stored = conn.execute("SELECT input FROM projection_tool_calls").fetchone()[0]
    payload = conn.execute(
        "SELECT payload FROM events WHERE event_type = ?", ("ToolCallStarted",)
    ).fetchone()[0]
    assert payload.endswith(f'"input":{stored}}}')
    # The payload's float forms (not json.dumps's 1e-05), no spaces, no ASCII escapes.
    assert '"π":0.00001,"tiny":1.5e-7,"big":1e+22,"neg":-0.0,"s":"naïve 🙂\u2028"' in stored
    assert ", " not in stored and ": " not in stored
    assert json.loads(stored) == data
    assert row(conn, "projection_tool_calls", "c")["tool_category"] == "shell"


def test_approvals_last_resolution_wins_and_wait_can_be_negative(log) -> None:
    store, conn = log
    store.append(
        ek.ToolCallStarted(id="c", thread_id="t", turn_id="u", tool="Edit", input={}, at=ts(2))
    )

    def approval(decision: str, requested: float, at: float, call: str = "c") -> ek.Event:
        return ek.ApprovalResolved(
            id=f"a-{at}",
            thread_id="t",
            turn_id="u",
            tool_call_id=call,
            decision=decision,
            requested_at=ts(requested),
            at=ts(at),
        )

    store.append(approval("accepted", 2, 4.25))
    call = row(conn, "projection_tool_calls", "c")
    assert (call["approval_decision"], call["approval_wait_ms"]) == ("accepted", 2250.0)
    store.append_all([approval("declined", 10, 9.999999), approval("accepted", 1, 2, "nope")])
    call = row(conn, "projection_tool_calls", "c")
    assert (call["approval_decision"], call["approval_wait_ms"]) == ("declined", -0.001)
    assert call["status"] == "running"


def test_soft_delete_and_archive(log) -> None:
    store, conn = log
    store.append_all(
        [
            ek.ThreadArchived(id="t", at=ts(5)),
            ek.ThreadDeleted(id="t", at=ts(6)),
            ek.ThreadArchived(id="t", at=ts(7)),
            ek.ThreadDeleted(id="t", at=ts(8)),
            ek.MessageAdded(id="m", thread_id="t", role="user", text="after", at=ts(9)),
            ek.ProjectDeleted(id="p", at=ts(3)),
            ek.ProjectRenamed(id="p", name="still here", at=ts(4)),
            ek.ProjectDeleted(id="p", at=ts(2)),
            ek.ProjectCreated(id="p", name="again", path="/", at=ts(20)),
        ]
    )
    thread = row(conn, "projection_threads", "t")
    assert thread["status"] == "deleted"
    assert thread["archived_at"] == format_timestamp(ts(5))
    assert thread["deleted_at"] == format_timestamp(ts(6))
    assert thread["message_count"] == 1 and thread["updated_at"] == format_timestamp(ts(9))
    project = row(conn, "projection_projects", "p")
    assert project["deleted_at"] == format_timestamp(ts(3))
    assert project["name"] == "still here" and project["path"] == "/src/demo"
    assert project["updated_at"] == format_timestamp(ts(4))  # not the ignored creation's


def test_deleted_then_archived_stays_deleted(log) -> None:
    store, conn = log
    store.append_all([ek.ThreadDeleted(id="t", at=ts(5)), ek.ThreadArchived(id="t", at=ts(6))])
    thread = row(conn, "projection_threads", "t")
    assert (thread["status"], thread["archived_at"]) == ("deleted", format_timestamp(ts(6)))
    store.append(
        ek.ThreadCreated(id="u2", project_id="p", title="b", provider="x", model="m", at=ts(7))
    )
    store.append(ek.ThreadArchived(id="u2", at=ts(8)))
    assert row(conn, "projection_threads", "u2")["status"] == "archived"


def test_checkpoint_restored_at_is_the_latest_restore(log) -> None:
    store, conn = log
    store.append_all(
        [
            ek.CheckpointRestored(id="cp", thread_id="t", at=ts(2)),
            ek.CheckpointCreated(
                id="cp",
                thread_id="t",
                turn_id="u",
                git_ref="abc",
                message="m",
                files_changed=3,
                additions=10,
                deletions=2,
                at=ts(3),
            ),
        ]
    )
    checkpoint = row(conn, "checkpoints", "cp")
    assert checkpoint["restored_at"] is None
    assert (
        checkpoint["git_ref"],
        checkpoint["files_changed"],
        checkpoint["additions"],
        checkpoint["deletions"],
        checkpoint["turn_id"],
    ) == ("abc", 3, 10, 2, "u")
    store.append_all(
        [
            ek.CheckpointRestored(id="cp", thread_id="t", at=ts(10)),
            ek.CheckpointRestored(id="cp", thread_id="t", at=ts(8)),
        ]
    )
    assert row(conn, "checkpoints", "cp")["restored_at"] == format_timestamp(ts(8))


def test_settings_last_change_in_sequence_order_wins(log) -> None:
    store, conn = log
    store.append_all(
        [
            ek.SettingChanged(key="theme", value={"dark": True, "size": 1e-05}, at=ts(5)),
            ek.SettingChanged(key="model", value="opus", at=ts(6)),
        ]
    )
    store.append_all(
        [
            ek.SettingChanged(key="theme", value=["ü", None, 2.5], at=ts(2)),  # earlier clock
        ]
    )
    assert row(conn, "settings", "theme") == {
        "key": "theme",
        "value": '["ü",null,2.5]',
        "updated_at": format_timestamp(ts(2)),
    }
    assert row(conn, "settings", "model")["value"] == '"opus"'


def test_second_creations_are_ignored(log) -> None:
    store, conn = log
    store.append_all(
        [
            ek.ProjectCreated(id="p", name="other", path="/x", at=ts(5)),
            ek.ThreadCreated(id="t", project_id="q", title="b", provider="y", model="n", at=ts(5)),
            ek.TurnStarted(id="u", thread_id="t", model="other", at=ts(5)),
        ]
    )
    assert row(conn, "projection_projects", "p")["name"] == "demo"
    thread = row(conn, "projection_threads", "t")
    assert (thread["project_id"], thread["title"], thread["turn_count"]) == ("p", "a", 1)
    assert thread["updated_at"] == format_timestamp(ts(5))  # applied or not
    assert row(conn, "projection_turns", "u")["model"] == "opus"


# --------------------------------------------------------------------------- tool categories


@pytest.mark.parametrize(
    ("tool", "category"),
    [
        ("Bash", "shell"),
        ("BashOutput", "shell"),
        ("KillShell", "shell"),
        ("Edit", "edit"),
        ("MultiEdit", "edit"),
        ("Write", "edit"),
        ("NotebookEdit", "edit"),
        ("Read", "read"),
        ("Glob", "search"),
        ("Grep", "search"),
        ("LS", "search"),
        ("WebFetch", "web"),
        ("WebSearch", "web"),
        ("Task", "task"),
        ("TodoWrite", "task"),
        ("ExitPlanMode", "task"),
        ("AskUserQuestion", "other"),
        ("Skill", "other"),
        ("SlashCommand", "other"),
        ("shell", "shell"),
        ("exec_command", "shell"),
        ("write_stdin", "shell"),
        ("local_shell", "shell"),
        ("apply_patch", "edit"),
        ("update_plan", "task"),
        ("web_search", "web"),
        ("view_image", "read"),
        ("read_file", "read"),
        ("list_dir", "search"),
        ("grep_files", "search"),
        ("command_execution", "shell"),
        ("commandExecution", "shell"),
        ("file_change", "edit"),
        ("fileChange", "edit"),
        ("file_read", "read"),
        ("mcp_tool_call", "other"),
        ("mcp__github__create_issue", "other"),
        ("bash", "shell"),  # case-insensitive fallback
        ("WEB_SEARCH", "web"),
        ("ls", "search"),
        ("no-such-tool", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_tool_category(tool: str | None, category: str) -> None:
    assert tool_category(tool) == category


def test_tool_category_table_is_consistent() -> None:
    assert isinstance(TOOL_CATEGORIES, dict)
    assert set(TOOL_CATEGORIES.values()) <= set(CATEGORIES)
    by_lower: dict[str, set[str]] = {}
    for name, category in TOOL_CATEGORIES.items():
        by_lower.setdefault(name.lower(), set()).add(category)
    assert all(len(found) == 1 for found in by_lower.values()), by_lower


# --------------------------------------------------------------------------- model calls


def call(
    call_id: str,
    at: float,
    *,
    turn: str | None = "u",
    thread: str = "t",
    revision: int = 1,
    tokens: int = 0,
    cost: float | None = None,
    source: str | None = None,
    model: str | None = None,
    requested: float | None = None,
) -> ek.ModelCallCompleted:
    return ek.ModelCallCompleted(
        id=call_id,
        thread_id=thread,
        turn_id=turn,
        model=model,
        usage=ek.TokenUsage(input_tokens=tokens, output_tokens=tokens // 10),
        cost_usd=cost,
        cost_source=source,
        requested_at=None if requested is None else ts(requested),
        stop_reason="end_turn",
        revision=revision,
        at=ts(at),
    )


def test_a_model_call_is_held_by_its_greatest_revision_then_sequence(log) -> None:
    store, conn = log
    store.append(call("m", 3, revision=2, tokens=100, requested=2.5, model="opus"))
    held = row(conn, "projection_model_calls", "m")
    assert (held["revision"], held["input_tokens"], held["output_tokens"]) == (2, 100, 10)
    assert held["duration_ms"] == 500.0 and held["requested_at"] == format_timestamp(ts(2.5))
    assert held["completed_at"] == format_timestamp(ts(3))
    store.append(call("m", 4, revision=1, tokens=999))  # a lower revision later: ignored
    assert row(conn, "projection_model_calls", "m")["input_tokens"] == 100
    store.append_all(
        [
            call("m", 3.5, revision=2, tokens=200),  # the same revision later: it holds
            call("m", 5, revision=1, tokens=1),
        ]
    )
    held = row(conn, "projection_model_calls", "m")
    assert (held["input_tokens"], held["model"], held["duration_ms"]) == (200, None, None)
    assert held["completed_at"] == format_timestamp(ts(3.5))
    # A higher revision naming another turn and thread: applied, but they stay the first's.
    store.append(call("m", 6, revision=3, tokens=300, turn="elsewhere", thread="nowhere"))
    held = row(conn, "projection_model_calls", "m")
    assert (held["thread_id"], held["turn_id"], held["revision"]) == ("t", "u", 3)
    assert held["input_tokens"] == 300
    assert row(conn, "projection_turns", "u")["input_tokens"] == 300
    assert row(conn, "projection_turns", "elsewhere") is None
    before = snapshot(conn)
    ek.rebuild_projections(conn)
    assert snapshot(conn) == before


def test_a_turns_usage_is_the_sum_of_its_calls_and_cost_adds_up_in_id_order(log) -> None:
    store, conn = log
    # Added in id order (a, b, c) the costs give 0.6000000000000001; in log order, 0.6.
    store.append_all([call("c", 2, tokens=30, cost=0.3, source="recorded")])
    store.append_all([call("b", 3, tokens=20, cost=0.2, source="recorded")])
    turn = row(conn, "projection_turns", "u")
    assert (turn["status"], turn["model_calls"], turn["input_tokens"]) == ("running", 2, 50)
    assert (turn["cost_usd"], turn["cost_source"]) == (0.5, "recorded")
    store.append_all(
        [
            call("a", 4, tokens=10, cost=0.1, source="estimated"),
            ek.TurnCompleted(
                id="u",
                thread_id="t",
                outcome="success",
                usage=ek.TokenUsage(input_tokens=7, output_tokens=7),
                cost_usd=9.0,
                cost_source="recorded",
                at=ts(5),
            ),
        ]
    )
    turn = row(conn, "projection_turns", "u")
    assert (turn["input_tokens"], turn["output_tokens"], turn["model_calls"]) == (60, 6, 3)
    assert turn["cost_usd"] == (0.1 + 0.2) + 0.3 == 0.6000000000000001
    assert turn["cost_source"] == "estimated" and turn["status"] == "success"
    store.append(call("d", 6, tokens=40))  # unpriced: the cost is a lower bound
    turn = row(conn, "projection_turns", "u")
    assert (turn["input_tokens"], turn["cost_source"]) == (100, "partial")
    assert turn["cost_usd"] == 0.6000000000000001
    assert turn["last_activity_at"] == format_timestamp(ts(6))


def test_a_turn_without_calls_takes_its_completions_usage_and_unpriced_calls_have_no_cost(
    log,
) -> None:
    store, conn = log
    store.append_all(
        [
            ek.TurnStarted(id="v", thread_id="t", at=ts(2)),
            call("v1", 3, turn="v", tokens=10),
            call("v2", 4, turn="v", tokens=10, source="estimated"),  # a source, no cost
            ek.TurnCompleted(
                id="u",
                thread_id="t",
                outcome="success",
                usage=ek.TokenUsage(input_tokens=7, cache_read_tokens=3),
                cost_usd=0.25,
                cost_source="recorded",
                at=ts(5),
            ),
        ]
    )
    u = row(conn, "projection_turns", "u")
    assert (u["input_tokens"], u["cache_read_tokens"], u["cost_usd"]) == (7, 3, 0.25)
    assert (u["cost_source"], u["model_calls"]) == ("recorded", 0)
    v = row(conn, "projection_turns", "v")
    assert (v["input_tokens"], v["cost_usd"], v["cost_source"], v["model_calls"]) == (
        20,
        None,
        None,
        2,
    )


def test_model_calls_before_their_turn_count_when_it_starts() -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append_all(
        [
            call("lost", 0, turn="v", tokens=1, revision=2),  # before its thread: ignored
            ek.ThreadCreated(id="t", project_id="p", title="a", provider="x", model="m", at=T0),
            call("early1", 1, turn="v", tokens=10, cost=0.5, source="recorded"),
        ]
    )
    store.append_all([call("early2", 2, turn="v", tokens=20, cost=0.25, source="recorded")])
    store.append_all(
        [
            call("loose", 2.5, turn=None, tokens=5),  # no turn: counts for no turn
            ek.TurnStarted(id="v", thread_id="t", at=ts(3)),
            call("late", 4, turn="v", tokens=30, cost=0.125, source="recorded"),
            call("lost", 5, turn="v", tokens=2),  # after its thread: this creates the call
        ]
    )
    v = row(conn, "projection_turns", "v")
    assert (v["model_calls"], v["input_tokens"], v["cost_source"]) == (4, 62, "partial")
    assert v["cost_usd"] == 0.875 and v["last_activity_at"] == format_timestamp(ts(5))
    assert row(conn, "projection_model_calls", "lost")["revision"] == 1
    assert row(conn, "projection_model_calls", "loose")["turn_id"] is None
    assert row(conn, "projection_threads", "t")["turn_count"] == 1
    before = snapshot(conn)
    ek.rebuild_projections(conn)
    assert snapshot(conn) == before


def test_last_activity_is_the_latest_event_naming_the_turn_after_it_started(log) -> None:
    store, conn = log
    store.append_all(
        [
            ek.MessageAdded(id="m", thread_id="t", turn_id="u", role="user", text="x", at=ts(5)),
            ek.MessageDelta(id="m", thread_id="t", turn_id="u", delta="y", at=ts(3)),  # earlier
            ek.ToolCallStarted(id="c", thread_id="t", turn_id="u", tool="Bash", input={}, at=ts(4)),
            # In a thread that does not exist, naming the turn: ignored, yet activity.
            ek.ToolCallCompleted(
                id="c", thread_id="nowhere", turn_id="u", status="ok", output="", at=ts(8)
            ),
        ]
    )
    assert row(conn, "projection_turns", "u")["last_activity_at"] == format_timestamp(ts(8))
    store.append_all(
        [
            ek.TurnStarted(id="v", thread_id="t", at=ts(20)),
            ek.TurnCompleted(id="u", thread_id="t", outcome="success", at=ts(9)),
            ek.TurnCompleted(id="u", thread_id="t", outcome="error", at=ts(11)),  # ignored
            ek.TurnStarted(id="u", thread_id="t", at=ts(30)),  # a second start: not activity
            ek.MessageAdded(id="m2", thread_id="t", turn_id="v", role="user", text="", at=ts(2)),
        ]
    )
    u = row(conn, "projection_turns", "u")
    assert u["last_activity_at"] == format_timestamp(ts(11)) and u["status"] == "success"
    v = row(conn, "projection_turns", "v")
    assert v["last_activity_at"] == format_timestamp(ts(20))  # its start is later


def test_a_thread_created_without_a_model_takes_its_first_calls() -> None:
    conn = ek.open_or_create_db(":memory:")
    store = ek.EventStore(conn)
    store.append_all(
        [
            call("before", 0, thread="t", model="too-early"),
            ek.ThreadCreated(id="t", project_id="p", title="a", provider="x", model="", at=T0),
            ek.ThreadCreated(
                id="s",
                project_id="p",
                title="sub",
                provider="x",
                model="m",
                parent_thread_id="t",
                parent_tool_call_id="toolu_1",
                at=T0,
            ),
            call("c1", 1, thread="t", model=None),
            call("c2", 2, thread="t", model=""),
        ]
    )
    assert row(conn, "projection_threads", "t")["model"] == ""
    store.append_all(
        [
            call("c1", 3, thread="t", model="opus", revision=1),
            call("c3", 4, thread="t", model="sonnet"),
            call("s1", 5, thread="s", model="other", turn=None),
        ]
    )
    assert row(conn, "projection_threads", "t")["model"] == "opus"
    sub = row(conn, "projection_threads", "s")
    assert (sub["model"], sub["parent_tool_call_id"]) == ("m", "toolu_1")


def test_the_model_call_cases_give_the_rows_the_rules_say() -> None:
    events = model_call_cases()
    conn = ek.open_or_create_db(":memory:")
    ek.EventStore(conn).append_all(events)
    assert snapshot(conn) == reference(events, conn)
    u1 = row(conn, "projection_turns", "u1")
    # u1.early 40, u1.b held at revision 3 (120), u1.a by the later same revision (90),
    # u1.late 10 and before-thread 5 (created by its restatement): five calls.
    assert (u1["model_calls"], u1["input_tokens"], u1["cache_read_tokens"]) == (5, 265, 2650)
    assert u1["cost_usd"] == (0.1 + 0.25) + 0.3 and u1["cost_source"] == "partial"
    u2 = row(conn, "projection_turns", "u2")
    assert (u2["model_calls"], u2["input_tokens"], u2["cost_usd"]) == (0, 1000, 0.5)
    s1 = row(conn, "projection_turns", "s1")
    assert (s1["status"], s1["input_tokens"], s1["cost_source"]) == ("running", 70, "estimated")
    assert row(conn, "projection_threads", "t")["model"] == "opus"
    assert row(conn, "projection_threads", "sub")["parent_tool_call_id"] == "toolu_task"
    loose = row(conn, "projection_model_calls", "loose")
    assert (loose["turn_id"], loose["model"]) == (None, "haiku")
    assert row(conn, "projection_model_calls", "u1.ghost")["turn_id"] == "never-started"
