"""The EventStore contract, proven for a file log and an in-memory log alike.

Every test takes the parametrized ``store`` fixture, so each guarantee runs once per
backend. Raw ``sqlite3`` statements go through ``store.conn`` to look under the store.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from eventkit import errors
from eventkit.catalog.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
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
    UnknownEvent,
    format_timestamp,
)
from eventkit.errors import (
    ConcurrencyError,
    DuplicateEventError,
    EventkitError,
    EventValidationError,
    PayloadTooLargeError,
    ReadOnlyError,
    StorageError,
    UnknownEventTypeError,
    UnsupportedSchemaError,
)
from eventkit.log.migrations import open_or_create_db
from eventkit.log.store import EventStore, NewEvent, validate_event

STORED_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
T0 = datetime(2025, 5, 1, 9, 30, 0, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def one_of_each() -> list[Event]:
    """One event of every catalog variant, in an order that makes a coherent session."""
    return [
        ProjectCreated(id="p1", name="demo", path="/src/demo", at=at(0)),
        ProjectRenamed(id="p1", name="demo-2", at=at(1)),
        ThreadCreated(
            id="t1", project_id="p1", title="Fix it", provider="claude", model="m-1", at=at(2)
        ),
        ThreadCreated(
            id="t2",
            project_id="p1",
            title="sub",
            provider="claude",
            model="m-1",
            parent_thread_id="t1",
            # A non-UTC, whole-second time: stored as UTC with six digits.
            at=datetime(2025, 5, 1, 11, 30, 3, tzinfo=CEST),
        ),
        ThreadRenamed(id="t1", title="Fix the bug", at=at(4)),
        TurnStarted(id="u1", thread_id="t1", model="m-1", at=at(5)),
        MessageAdded(
            id="msg_1", thread_id="t1", turn_id="u1", role="user", text="héllo ✓", at=at(6)
        ),
        MessageDelta(id="msg_2", thread_id="t1", turn_id="u1", delta=" more", at=at(6.5)),
        ToolCallStarted(
            id="toolu_1",
            thread_id="t1",
            turn_id="u1",
            tool="Bash",
            input={"command": "ls -la", "timeout": 30, "flags": [1, None, {"a": True}]},
            at=at(7),
        ),
        ApprovalResolved(
            id="ap1",
            thread_id="t1",
            turn_id="u1",
            tool_call_id="toolu_1",
            decision="accepted",
            requested_at=at(7.25),
            at=at(7.5),
        ),
        ToolCallCompleted(
            id="toolu_1", thread_id="t1", turn_id="u1", status="ok", output="a\nb", at=at(8)
        ),
        CheckpointCreated(
            id="cp1",
            thread_id="t1",
            turn_id="u1",
            git_ref="abc123",
            message="wip",
            files_changed=2,
            additions=10,
            deletions=3,
            at=at(9),
        ),
        CheckpointRestored(id="cp1", thread_id="t1", at=at(10)),
        ModelCallCompleted(
            id="msg_01abc",
            thread_id="t1",
            turn_id="u1",
            model="m-1",
            usage=TokenUsage(input_tokens=10, output_tokens=20, cache_read_tokens=5),
            cost_usd=0.0123,
            cost_source="recorded",
            requested_at=at(10.25),
            stop_reason="end_turn",
            revision=2,
            at=at(10.5),
        ),
        TurnCompleted(id="u1", thread_id="t1", outcome="success", at=at(11)),
        ThreadArchived(id="t2", at=at(12)),
        ThreadDeleted(id="t2", at=at(13)),
        SettingChanged(key="theme", value={"dark": True, "size": [1, 2.5]}, at=at(14)),
        ProjectDeleted(id="p1", at=at(15)),
    ]


def expected_stream(event: Event) -> str:
    """The stream of an event, restated from the catalog table of the spec."""
    if event.type.startswith("Project"):
        return f"project:{event.id}"
    if event.type in ("ThreadCreated", "ThreadRenamed", "ThreadArchived", "ThreadDeleted"):
        return f"thread:{event.id}"
    if event.type == "SettingChanged":
        return "settings"
    return f"thread:{event.thread_id}"


def message(n: int, thread: str = "t1", text: str | None = None) -> MessageAdded:
    return MessageAdded(
        id=f"msg_{n}", thread_id=thread, role="assistant", text=text or f"text {n}", at=at(n)
    )


def turn_completed_dict(**changes: object) -> dict:
    data = {
        "type": "TurnCompleted",
        "id": "u9",
        "thread_id": "t1",
        "outcome": "success",
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "at": "2025-05-01T09:30:00.000000Z",
    }
    data.update(changes)
    return data


def count(store: EventStore) -> int:
    return store.conn.execute("SELECT count(*) FROM events").fetchone()[0]


def rows(store: EventStore) -> list[tuple]:
    return store.conn.execute("SELECT * FROM events ORDER BY sequence").fetchall()


def insert_raw(store: EventStore, *, event_type: str, payload: dict, schema_version: int = 1):
    """Write a row the way another (newer) writer could, bypassing the store."""
    stamp = format_timestamp(T0)
    store.conn.execute(
        "INSERT INTO events (event_id, event_type, stream_id, stream_version, occurred_at,"
        " recorded_at, schema_version, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            f"raw-{event_type}-{schema_version}",
            event_type,
            "future:1",
            schema_version,
            stamp,
            stamp,
            schema_version,
            json.dumps(payload),
        ),
    )


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    target = tmp_path / "log" if request.param == "file" else ":memory:"
    opened = EventStore(open_or_create_db(target))
    yield opened
    opened.close()


# --------------------------------------------------------------------------- round trip


def test_sample_covers_every_event_type():
    assert {e.type for e in one_of_each()} == set(EVENT_TYPES)


def test_every_event_type_round_trips(store):
    sample = one_of_each()
    stored = store.append_all(sample)
    replayed = list(store.replay_all())
    assert replayed == stored  # same envelope: sequence, ids, versions, times, metadata
    assert [s.event for s in replayed] == sample  # same model
    for original, back in zip(sample, replayed, strict=True):
        assert type(back.event) is type(original)
        assert back.event.model_dump_json() == original.model_dump_json()
        assert back.event_type == original.type
        assert back.occurred_at == original.at
        assert back.schema_version == SCHEMA_VERSION
        assert back.metadata is None
    assert [s.sequence for s in stored] == list(range(1, len(sample) + 1))
    assert len({s.event_id for s in stored}) == len(sample)


def test_event_type_column_equals_payload_type_for_every_variant(store):
    store.append_all(one_of_each())
    found = store.conn.execute(
        "SELECT event_type, json_extract(payload, '$.type') FROM events"
    ).fetchall()
    assert {column for column, _ in found} == {cls.event_type() for cls in EVENT_CLASSES}
    for column, payload_type in found:
        assert column == payload_type


def test_stream_ids_follow_the_catalog(store):
    sample = one_of_each()
    stored = store.append_all(sample)
    columns = [
        row[0] for row in store.conn.execute("SELECT stream_id FROM events ORDER BY sequence")
    ]
    assert columns == [expected_stream(e) for e in sample]
    assert [s.stream_id for s in stored] == columns
    assert set(columns) == {"project:p1", "thread:t1", "thread:t2", "settings"}


def test_stream_version_starts_at_one_per_stream(store):
    store.append_all(one_of_each())
    store.append(SettingChanged(key="theme", value="light", at=at(20)))
    versions: dict[str, list[int]] = {}
    for stream, version in store.conn.execute(
        "SELECT stream_id, stream_version FROM events ORDER BY sequence"
    ):
        versions.setdefault(stream, []).append(version)
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), stream
    assert store.stream_version("settings") == 2
    assert store.stream_version("thread:t1") == len(versions["thread:t1"])
    assert store.stream_version("thread:nope") == 0


def test_timestamps_are_stored_in_one_form(store):
    store.append_all(one_of_each())
    for occurred, recorded, payload in store.conn.execute(
        "SELECT occurred_at, recorded_at, payload FROM events"
    ):
        assert STORED_TIME.match(occurred), occurred
        assert STORED_TIME.match(recorded), recorded
        data = json.loads(payload)
        assert data["at"] == occurred
        if "requested_at" in data:
            assert STORED_TIME.match(data["requested_at"])


def test_non_utc_input_is_normalised_to_utc(store):
    ist = timezone(timedelta(hours=5, minutes=30))
    stored = store.append(
        ProjectCreated(id="p1", name="x", path="/", at=datetime(2025, 3, 1, 12, 0, tzinfo=ist))
    )
    assert stored.occurred_at.utcoffset() == timedelta(0)
    occurred, payload = store.conn.execute("SELECT occurred_at, payload FROM events").fetchone()
    assert occurred == "2025-03-01T06:30:00.000000Z"
    assert json.loads(payload)["at"] == occurred
    # A dict with an offset in text is normalised the same way.
    store.append({"type": "ProjectDeleted", "id": "p1", "at": "2025-03-01T13:00:00+05:30"})
    assert rows(store)[-1][5] == "2025-03-01T07:30:00.000000Z"


@pytest.mark.parametrize("naive", [datetime(2025, 1, 1, 12), "2025-01-01T12:00:00"])
def test_naive_datetime_is_rejected_naming_index_and_field(store, naive):
    batch = [
        message(1),
        {"type": "ProjectCreated", "id": "p1", "name": "x", "path": "/", "at": naive},
    ]
    with pytest.raises(EventValidationError) as caught:
        store.append_all(batch)
    assert (caught.value.index, caught.value.field) == (1, "at")
    assert "event 1" in str(caught.value) and "'at'" in str(caught.value)
    assert count(store) == 0


def test_naive_nested_timestamp_is_rejected(store):
    data = {
        "type": "ApprovalResolved",
        "id": "a",
        "thread_id": "t",
        "turn_id": "u",
        "tool_call_id": "c",
        "decision": "declined",
        "requested_at": "2025-01-01T00:00:00",
        "at": "2025-01-01T00:00:01Z",
    }
    with pytest.raises(EventValidationError) as caught:
        store.append(data)
    assert (caught.value.index, caught.value.field) == (0, "requested_at")


# --------------------------------------------------------------------------- atomicity


def test_batch_with_an_invalid_event_in_the_middle_writes_nothing(store):
    store.append(message(0))
    before = rows(store)
    batch = [message(1), message(2), turn_completed_dict(usage={"input_tokens": -1}), message(3)]
    with pytest.raises(EventValidationError) as caught:
        store.append_all(batch)
    assert (caught.value.index, caught.value.field) == (2, "usage.input_tokens")
    assert rows(store) == before
    # No sequence was consumed: the next append follows the last stored event.
    assert store.append(message(4)).sequence == before[-1][0] + 1


def test_batch_rejected_by_the_database_side_checks_consumes_no_sequence(store):
    store.append(message(0))
    before = rows(store)
    batch = [
        message(1),
        message(2),
        NewEvent(message(3, thread="t9"), expected_version=5),  # the stream is new: version 0
        message(4),
    ]
    with pytest.raises(ConcurrencyError) as caught:
        store.append_all(batch)
    assert caught.value.index == 2
    assert rows(store) == before
    assert store.last_sequence() == 1
    assert [s.sequence for s in store.append_all([message(5), message(6)])] == [2, 3]


def test_sequences_are_contiguous_within_a_batch(store):
    store.append(message(0))
    stored = store.append_all([message(n, thread=f"t{n % 3}") for n in range(1, 40)])
    assert [s.sequence for s in stored] == list(range(2, 41))
    assert [r[0] for r in rows(store)] == list(range(1, 41))


def test_empty_batch_writes_nothing(store):
    assert store.append_all([]) == []
    assert store.last_sequence() == 0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (turn_completed_dict(usage={"input_tokens": -1}), "usage.input_tokens"),
        (turn_completed_dict(outcome="exploded"), "outcome"),
        (turn_completed_dict(cost_usd=-0.5), "cost_usd"),
        (turn_completed_dict(id=""), "id"),
        (turn_completed_dict(surprise=1), "surprise"),
        ({"type": "ProjectCreated", "id": "p", "path": "/", "at": "2025-01-01T00:00:00Z"}, "name"),
        ({"type": "NoSuchEvent", "at": "2025-01-01T00:00:00Z"}, "type"),
        ({"id": "p", "at": "2025-01-01T00:00:00Z"}, "type"),
    ],
)
def test_validation_error_names_index_and_field(store, bad, field):
    with pytest.raises(EventValidationError) as caught:
        store.append_all([message(0), message(1), bad])
    assert caught.value.index == 2
    assert caught.value.field == field
    assert "event 2" in str(caught.value) and repr(field) in str(caught.value)
    assert count(store) == 0


def test_validation_error_lists_every_problem_of_the_event(store):
    bad = turn_completed_dict(outcome="exploded", usage={"input_tokens": -1}, cost_usd=-0.5)
    with pytest.raises(EventValidationError) as caught:
        store.append_all([message(0), bad])
    error = caught.value
    assert (error.index, error.field) == (1, "outcome")  # the first problem
    assert [field for field, _ in error.problems] == ["outcome", "usage.input_tokens", "cost_usd"]
    assert all(text for _, text in error.problems)
    text = str(error)
    assert "\n" not in text
    assert text.startswith("event 1: 3 problems: field 'outcome': ")
    for field, problem in error.problems:
        assert f"field {field!r}: {problem}" in text
    assert "more problem" not in text
    assert count(store) == 0


def test_a_single_problem_keeps_its_short_form(store):
    with pytest.raises(EventValidationError) as caught:
        store.append(turn_completed_dict(outcome="exploded"))
    assert caught.value.problems == [("outcome", caught.value.problems[0][1])]
    assert str(caught.value).startswith("event 0, field 'outcome': Input should be")


def test_unappendable_items_are_rejected_with_their_index(store):
    for bad in (42, "ProjectCreated", (message(1), ""), NewEvent(object())):
        with pytest.raises(EventValidationError) as caught:
            store.append_all([message(0), bad])
        assert caught.value.index == 1
    assert count(store) == 0


# --------------------------------------------------------------------------- input shapes


def test_dicts_are_accepted_and_validated_into_models(store):
    sample = one_of_each()
    stored = store.append_all([e.model_dump(mode="json") for e in sample])
    assert [s.event for s in stored] == sample
    assert [type(s.event) for s in stored] == [type(e) for e in sample]
    assert [s.event for s in store.replay_all()] == sample


def test_pairs_and_new_events_bring_ids_and_metadata(store):
    meta = {"source": "session.jsonl", "line": 7, "actor": "importer", "extras": {"k": [1]}}
    stored = store.append_all(
        [
            (message(1), "evt-pair"),
            NewEvent(message(2), event_id="evt-new", metadata=meta),
            NewEvent(message(3).model_dump(mode="json"), metadata={"correlation_id": "c1"}),
        ]
    )
    assert [s.event_id for s in stored[:2]] == ["evt-pair", "evt-new"]
    assert stored[2].event_id  # invented
    assert [s.metadata for s in stored] == [None, meta, {"correlation_id": "c1"}]
    metadata_column = [
        r[0] for r in store.conn.execute("SELECT metadata FROM events ORDER BY sequence")
    ]
    assert metadata_column[0] is None
    assert json.loads(metadata_column[1]) == meta
    assert list(store.replay_all()) == stored


def test_append_takes_id_metadata_and_expected_version(store):
    stored = store.append(message(1), event_id="e1", metadata={"a": 1}, expected_version=0)
    assert (stored.event_id, stored.metadata, stored.stream_version) == ("e1", {"a": 1}, 1)
    assert list(store.replay_all()) == [stored]


def test_metadata_must_be_json(store):
    with pytest.raises(EventValidationError) as caught:
        store.append_all([message(0), NewEvent(message(1), metadata={"when": object()})])
    assert (caught.value.index, caught.value.field) == (1, "metadata")
    assert count(store) == 0


# --------------------------------------------------------------------------- idempotency


def test_reappending_the_same_event_id_and_payload_returns_the_stored_event(store):
    first = store.append(message(1), event_id="e1", metadata={"line": 1})
    before = rows(store)
    again = store.append(message(1), event_id="e1", metadata={"line": 1})
    assert again == first
    assert rows(store) == before
    # Within a larger batch, only the new event is written and results keep input order.
    mixed = store.append_all([message(2), (message(1), "e1")])
    assert mixed[1] == first
    assert mixed[0].sequence == first.sequence + 1
    assert count(store) == 2


def test_reappending_with_the_id_the_store_invented_is_idempotent(store):
    first = store.append(message(1))
    again = store.append_all([message(2), (message(1), first.event_id)])
    assert again[1] == first
    assert again[0].sequence == first.sequence + 1
    assert count(store) == 2
    with pytest.raises(DuplicateEventError):
        store.append(message(1, text="other"), event_id=first.event_id)


def test_invented_ids_are_distinct_uuid7(store):
    stored = store.append_all([message(n) for n in range(300)] + [(message(300), "given")])
    invented = [s.event_id for s in stored[:-1]]
    assert len(set(invented)) == len(invented)
    assert invented == sorted(invented)
    assert all(uuid.UUID(i).version == 7 for i in invented)
    assert stored[-1].event_id == "given"


def test_same_event_id_with_a_different_payload_is_refused(store):
    store.append(message(1), event_id="e1")
    before = rows(store)
    with pytest.raises(DuplicateEventError) as caught:
        store.append_all([message(2), (message(1, text="changed"), "e1")])
    assert caught.value.event_id == "e1"
    assert caught.value.index == 1
    assert rows(store) == before


def test_duplicate_event_id_within_one_batch(store):
    stored = store.append_all([(message(1), "e1"), message(2), (message(1), "e1")])
    assert stored[0] == stored[2]
    assert count(store) == 2
    with pytest.raises(DuplicateEventError) as caught:
        store.append_all([(message(3), "e3"), (message(4), "e3")])
    assert (caught.value.event_id, caught.value.index) == ("e3", 1)
    assert count(store) == 2


# --------------------------------------------------------------------------- concurrency


def test_expected_version(store):
    stream = "thread:t1"
    assert store.append(message(1), expected_version=0).stream_version == 1
    assert store.append(message(2), expected_version=1).stream_version == 2
    before = rows(store)
    with pytest.raises(ConcurrencyError) as caught:
        store.append(message(3), expected_version=1)
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (stream, 1, 2)
    with pytest.raises(ConcurrencyError):
        store.append(message(3, thread="new"), expected_version=1)
    assert rows(store) == before
    # Within a batch, expected_version counts the batch's earlier events.
    stored = store.append_all(
        [NewEvent(message(3), expected_version=2), NewEvent(message(4), expected_version=3)]
    )
    assert [s.stream_version for s in stored] == [3, 4]


# --------------------------------------------------------------------------- reading


def test_last_sequence(store):
    assert store.last_sequence() == 0
    store.append_all([message(n) for n in range(5)])
    assert store.last_sequence() == 5
    store.append(message(5))
    assert store.last_sequence() == 6


def test_replay_from_boundaries(store):
    stored = store.append_all([message(n, thread=f"t{n % 2}") for n in range(10)])
    assert list(store.replay_from(1)) == stored
    assert list(store.replay_from(0)) == stored
    assert list(store.replay_from(4)) == stored[3:]  # inclusive
    assert [s.sequence for s in store.replay_from(10)] == [10]
    assert list(store.replay_from(11)) == []
    assert list(store.replay_from(1_000)) == []
    assert list(store.replay_all()) == stored


def test_replay_is_in_ascending_sequence_across_batches(store):
    for start in range(0, 30, 7):
        store.append_all([message(n, thread=f"t{n % 3}") for n in range(start, start + 7)])
    sequences = [s.sequence for s in store.replay_all()]
    assert sequences == sorted(sequences) == list(range(1, 36))


def test_types_filter(store):
    sample = one_of_each()
    store.append_all(sample)
    completed = list(store.replay_all(types=["TurnCompleted"]))
    assert [s.event for s in completed] == [e for e in sample if e.type == "TurnCompleted"]
    assert list(store.replay_all(types="TurnCompleted")) == completed
    several = {"ThreadCreated", "MessageAdded", "SettingChanged"}
    chosen = list(store.replay_all(types=sorted(several)))
    assert [s.event for s in chosen] == [e for e in sample if e.type in several]
    assert [s.sequence for s in chosen] == sorted(s.sequence for s in chosen)
    later = list(store.replay_from(4, types=several))
    assert later == [s for s in chosen if s.sequence >= 4]
    assert list(store.replay_all(types=["NoSuchEvent"])) == []


def test_read_stream_is_in_stream_order_and_only_that_stream(store):
    store.append_all([message(n, thread=("t1" if n % 3 else "t2")) for n in range(12)])
    t1 = list(store.read_stream("thread:t1"))
    assert {s.stream_id for s in t1} == {"thread:t1"}
    assert [s.stream_version for s in t1] == list(range(1, len(t1) + 1))
    assert [s.sequence for s in t1] == sorted(s.sequence for s in t1)
    assert len(t1) + len(list(store.read_stream("thread:t2"))) == 12
    assert list(store.read_stream("thread:none")) == []


def test_known_event_ids_are_those_the_log_holds(store):
    stored = store.append_all([message(n) for n in range(3)])
    ids = [s.event_id for s in stored]
    many = [f"absent-{n}" for n in range(1_200)]  # more than one lookup chunk
    assert store.known_event_ids([ids[0], "absent", ids[2], ids[0]]) == {ids[0], ids[2]}
    assert store.known_event_ids(many + ids) == set(ids)
    assert store.known_event_ids([]) == set()


def test_project_by_path_is_read_from_the_events(store):
    assert store.project_by_path("/src/a") is None
    store.projections = False  # the answer must not depend on the projection tables
    store.append_all(
        [
            ProjectCreated(id="late", name="a", path="/src/a", at=at(5)),
            ProjectCreated(id="early", name="a", path="/src/a", at=at(1)),
            ProjectCreated(id="other", name="b", path="/src/b", at=at(0)),
            ProjectRenamed(id="early", name="renamed", at=at(6)),
        ]
    )
    assert store.project_by_path("/src/a") == "early"  # the earliest created
    assert store.project_by_path("/src/b") == "other"
    store.append(ProjectDeleted(id="early", at=at(7)))
    assert store.project_by_path("/src/a") == "late"  # a deleted project is not found
    # A second ProjectCreated of a project does not move it (projections ignore it).
    store.append(ProjectCreated(id="other", name="b", path="/src/moved", at=at(8)))
    assert store.project_by_path("/src/moved") is None
    assert store.project_by_path("/src/b") == "other"
    # A ProjectDeleted before the project's creation is ignored, as projections do.
    store.append_all(
        [
            ProjectDeleted(id="new", at=at(9)),
            ProjectCreated(id="new", name="c", path="/src/c", at=at(10)),
        ]
    )
    assert store.project_by_path("/src/c") == "new"


def test_last_event_of_a_stream(store):
    assert store.last_event("thread:t1") is None
    created = ThreadCreated(
        id="t1", project_id="p1", title="first", provider="claude", model="m", at=at(0)
    )
    renames = [ThreadRenamed(id="t1", title=f"title {n}", at=at(n + 1)) for n in range(3)]
    stored = store.append_all([created, *renames, message(9)])
    last = store.last_event("thread:t1")
    assert last == stored[-1] and last.event_type == "MessageAdded"
    renamed = store.last_event("thread:t1", types=["ThreadRenamed"])
    assert renamed == stored[3] and renamed.event.title == "title 2"
    assert store.last_event("thread:t1", types="ThreadCreated") == stored[0]
    assert store.last_event("thread:t1", types=["TurnStarted"]) is None


def test_last_event_of_an_unknown_type_needs_lenient(store):
    payload = {"type": "FutureEvent", "at": "2025-05-01T09:30:00.000000Z"}
    insert_raw(store, event_type="FutureEvent", payload=payload)
    stream = rows(store)[-1][3]
    with pytest.raises(UnknownEventTypeError):
        store.last_event(stream)
    assert isinstance(store.last_event(stream, lenient=True).event, UnknownEvent)


def test_validate_event_checks_as_append_does_and_writes_nothing(store):
    checked = validate_event(turn_completed_dict())
    assert isinstance(checked, TurnCompleted)
    with pytest.raises(EventValidationError) as caught:
        validate_event(NewEvent(turn_completed_dict(), event_id=""), index=4)
    assert caught.value.index == 4 and caught.value.field == "event_id"
    with pytest.raises(EventValidationError) as caught:
        validate_event(turn_completed_dict(outcome="maybe"), index=2)
    assert caught.value.index == 2 and caught.value.field == "outcome"
    assert count(store) == 0


# --------------------------------------------------------------------------- the log is append-only


def test_update_and_delete_are_refused_by_the_database(store):
    store.append_all([message(1), message(2)])
    before = rows(store)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE events SET payload = '{}' WHERE sequence = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM events WHERE sequence = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM events")
    assert rows(store) == before


# --------------------------------------------------------------------------- unknown rows


def test_unknown_event_type_raises_unless_lenient(store):
    store.append(message(1))
    payload = {"type": "FutureThing", "at": "2025-05-01T09:30:00.000000Z", "shiny": [1, 2]}
    insert_raw(store, event_type="FutureThing", payload=payload)
    store.append(message(2))
    with pytest.raises(UnknownEventTypeError, match="FutureThing"):
        list(store.replay_all())
    lenient = list(store.replay_all(lenient=True))
    assert [s.sequence for s in lenient] == [1, 2, 3]
    unknown = lenient[1]
    assert isinstance(unknown.event, UnknownEvent)
    assert unknown.event.type == unknown.event_type == "FutureThing"
    assert unknown.event.data == payload
    assert unknown.event.at == T0
    assert isinstance(lenient[2].event, MessageAdded)
    # Readers that filter the unknown type out are not disturbed.
    assert len(list(store.replay_all(types=["MessageAdded"]))) == 2


def test_unsupported_schema_version_is_refused(store):
    payload = message(1).model_dump(mode="json")
    insert_raw(store, event_type="MessageAdded", payload=payload, schema_version=2)
    for lenient in (False, True):
        with pytest.raises(UnsupportedSchemaError, match="schema_version 2"):
            list(store.replay_all(lenient=lenient))


@pytest.mark.parametrize(
    ("payload_changes", "occurred_at"),
    [
        ({"role": "robot"}, "2025-05-01T09:30:00.000000Z"),
        ({}, "yesterday"),
    ],
)
def test_a_row_that_does_not_match_the_catalog_gives_an_eventkit_error(
    store, payload_changes, occurred_at
):
    payload = {**message(1).model_dump(mode="json"), **payload_changes}
    insert_raw(store, event_type="MessageAdded", payload=payload)
    store.conn.execute("DROP TRIGGER events_refuse_update")  # forge a damaged row
    store.conn.execute("UPDATE events SET occurred_at = ?", (occurred_at,))
    with pytest.raises(EventkitError, match="event 1") as caught:
        list(store.replay_all())
    assert type(caught.value) is EventkitError


# --------------------------------------------------------------------------- payload size


def test_payload_over_the_limit_is_refused(store):
    store.append(message(0))
    before = rows(store)
    too_big = message(1, text="x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLargeError) as caught:
        store.append_all([message(2), too_big])
    assert caught.value.index == 1
    assert isinstance(caught.value, EventValidationError)
    # Bytes count, not characters: 4-byte characters reach the limit sooner.
    wide = message(1, text="😀" * (MAX_PAYLOAD_BYTES // 4 + 1))
    assert len(wide.model_dump_json()) < MAX_PAYLOAD_BYTES
    with pytest.raises(PayloadTooLargeError):
        store.append(wide)
    assert rows(store) == before


def test_payload_at_the_limit_is_accepted(store):
    overhead = len(message(1, text="-").model_dump_json().encode()) - 1
    exact = message(1, text="y" * (MAX_PAYLOAD_BYTES - overhead))
    assert len(exact.model_dump_json().encode()) == MAX_PAYLOAD_BYTES
    stored = store.append(exact)
    (length,) = store.conn.execute("SELECT length(CAST(payload AS BLOB)) FROM events").fetchone()
    assert length == MAX_PAYLOAD_BYTES
    assert next(store.replay_all()) == stored


# --------------------------------------------------------------------------- errors


def test_every_error_is_an_eventkit_error():
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type)
        and issubclass(obj, Exception)
        and obj.__module__ == errors.__name__
    ]
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, EventkitError), cls
        assert not issubclass(cls, sqlite3.Error), cls


def test_closed_connection_gives_an_eventkit_error(store):
    store.append(message(1))
    store.close()
    calls = [
        lambda: store.append(message(2)),
        lambda: store.append_all([message(2), message(3)]),
        store.last_sequence,
        lambda: list(store.replay_all()),
        lambda: list(store.read_stream("thread:t1")),
        lambda: store.stream_version("thread:t1"),
        lambda: store.path,
        lambda: EventStore(store.conn),
    ]
    for call in calls:
        with pytest.raises(EventkitError) as caught:
            call()
        assert isinstance(caught.value, StorageError)
        assert not isinstance(caught.value, sqlite3.Error)


def test_read_only_connection_gives_read_only_error(store):
    store.append(message(1))
    store.conn.execute("PRAGMA query_only = ON")
    before = rows(store)
    with pytest.raises(ReadOnlyError) as caught:
        store.append_all([message(2), message(3)])
    assert not isinstance(caught.value, sqlite3.Error)
    assert not store.conn.in_transaction
    assert rows(store) == before
    store.conn.execute("PRAGMA query_only = OFF")
    assert store.append(message(2)).sequence == 2


def test_read_only_file_gives_read_only_error(tmp_path):
    path = tmp_path / "events.db"
    with EventStore(open_or_create_db(path)) as writer:
        writer.append(message(1))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    reader = EventStore(conn)
    with pytest.raises(ReadOnlyError):
        reader.append(message(2))
    assert [s.sequence for s in reader.replay_all()] == [1]
    reader.close()


def test_store_refuses_a_connection_inside_a_transaction():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("BEGIN")
    with pytest.raises(StorageError):
        EventStore(conn)
    conn.close()
