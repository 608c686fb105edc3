"""The event catalog: ids, timestamps, token usage and the shape of every model."""

from __future__ import annotations

import inspect
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from eventkit.catalog import events
from eventkit.catalog.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    Event,
    OrchestrationEvent,
    ProjectCreated,
    TokenUsage,
    TurnCompleted,
    derived_id,
    format_timestamp,
    new_id,
    new_ids,
    parse_event,
    parse_timestamp,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AT = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)


def uuid_fields(text: str) -> tuple[int, int, int]:
    """(unix_ms, version, variant) of a UUID string."""
    value = uuid.UUID(text)
    return value.int >> 80, value.version, (value.int >> 62) & 0b11


# --------------------------------------------------------------------------- ids


def test_derived_id_is_deterministic_and_depends_on_source_identity():
    first = derived_id(AT, "claude-code", "session.jsonl", 12)
    assert derived_id(AT, "claude-code", "session.jsonl", 12) == first
    assert derived_id(AT, "claude-code", "session.jsonl", 13) != first
    assert derived_id(AT, "codex", "session.jsonl", 12) != first
    # Same identity at another time differs only in the millisecond field.
    later = derived_id(AT + timedelta(seconds=1), "claude-code", "session.jsonl", 12)
    assert later != first
    assert uuid.UUID(later).int & ((1 << 80) - 1) == uuid.UUID(first).int & ((1 << 80) - 1)


def test_derived_id_is_uuid7_shaped():
    text = derived_id(AT, "src", 1)
    assert str(uuid.UUID(text)) == text  # canonical lower-case 8-4-4-4-12 form
    _, version, variant = uuid_fields(text)
    assert version == 7
    assert variant == 0b10


@pytest.mark.parametrize(
    "at",
    [
        AT,
        datetime(1987, 3, 28, 20, 6, 51, 504000, tzinfo=UTC),  # float ms rounding trap
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, 999, tzinfo=UTC),
        datetime(2025, 6, 1, 12, 0, 0, 1000, tzinfo=timezone(timedelta(hours=-7))),
    ],
)
def test_derived_id_millisecond_field_comes_from_at(at):
    unix_ms, _, _ = uuid_fields(derived_id(at, "x"))
    assert unix_ms == (at - EPOCH) // timedelta(milliseconds=1)


def test_derived_id_millisecond_field_is_exact_for_every_millisecond_in_a_span():
    start = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    for step in range(3000):
        at = start + timedelta(milliseconds=step)
        assert uuid_fields(derived_id(at, "x"))[0] == (at - EPOCH) // timedelta(milliseconds=1)


def test_derived_id_rejects_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        derived_id(datetime(2025, 1, 1), "x")


def test_new_id_is_uuid7_and_monotonic_within_a_process():
    before_ms = (datetime.now(UTC) - EPOCH) // timedelta(milliseconds=1)
    ids = [new_id() for _ in range(10_000)] + new_ids(10_000) + [new_id() for _ in range(10)]
    after_ms = (datetime.now(UTC) - EPOCH) // timedelta(milliseconds=1)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for text in ids[:: len(ids) // 50]:
        unix_ms, version, variant = uuid_fields(text)
        assert (version, variant) == (7, 0b10)
        # Bursts may borrow a few future milliseconds to stay ordered.
        assert before_ms <= unix_ms <= after_ms + 50


def test_new_ids_makes_as_many_distinct_ids_as_asked():
    assert new_ids(0) == []
    batch = new_ids(5_000)
    assert len(batch) == len(set(batch)) == 5_000
    assert batch == sorted(batch)
    assert new_id() > batch[-1]
    for text in batch:
        assert str(uuid.UUID(text)) == text
        assert uuid_fields(text)[1:] == (7, 0b10)
    # The random tail differs from id to id, not only the counter.
    assert len({text[-12:] for text in batch}) == len(batch)


# --------------------------------------------------------------------------- time


def test_format_timestamp_has_six_digits_and_z():
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.000000Z"
    )
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.000007Z"
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2025-12-31T23:59:59.999999Z"),
        (datetime(2025, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), "2025-01-01T00:00:00.500000Z"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00.000000Z"),  # four-digit year
    ],
)
def test_format_timestamp_examples(moment, text):
    assert format_timestamp(moment) == text
    assert parse_timestamp(text) == moment


def test_format_timestamp_agrees_with_strftime():
    moment = datetime(2024, 2, 29, 13, 7, 3, 42, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))
    for step in range(2_000):
        value = moment + timedelta(seconds=step * 7_919, microseconds=step * 3_331)
        expected = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert format_timestamp(value) == expected


def test_format_timestamp_normalises_to_utc():
    ist = timezone(timedelta(hours=5, minutes=30))
    assert format_timestamp(datetime(2025, 1, 1, 2, 0, tzinfo=ist)) == (
        "2024-12-31T20:30:00.000000Z"
    )


def test_format_timestamp_rejects_naive():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "at",
    [AT, datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-3))), datetime.now(UTC)],
)
def test_parse_timestamp_round_trips_format(at):
    text = format_timestamp(at)
    parsed = parse_timestamp(text)
    assert parsed == at
    assert parsed.utcoffset() == timedelta(0)
    assert format_timestamp(parsed) == text


def test_parse_timestamp_accepts_offsets_and_refuses_naive_text():
    assert parse_timestamp("2025-01-01T05:30:00+05:30") == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no timezone"):
        parse_timestamp("2025-01-01T00:00:00")


def test_sortable_text_sorts_like_time():
    moments = [AT + timedelta(microseconds=n * 977_777) for n in range(-20, 20)]
    texts = [format_timestamp(m) for m in moments]
    assert sorted(texts) == texts


# --------------------------------------------------------------------------- models


def test_token_usage_total_and_defaults():
    usage = TokenUsage(
        input_tokens=11, output_tokens=7, cache_read_tokens=100, cache_write_tokens=30
    )
    assert usage.total_tokens == 11 + 7 + 100 + 30
    assert usage.reasoning_tokens == 0
    with_reasoning = usage.model_copy(update={"reasoning_tokens": 5})
    assert with_reasoning.total_tokens == usage.total_tokens  # reasoning is inside output
    assert TokenUsage().total_tokens == 0
    with pytest.raises(ValidationError):
        TokenUsage(output_tokens=-1)


def union_members() -> set[type]:
    (union, *_) = typing.get_args(OrchestrationEvent)
    return set(typing.get_args(union))


def test_catalog_has_eighteen_distinct_variants():
    assert len(EVENT_CLASSES) == 18
    assert len(set(EVENT_CLASSES)) == len(EVENT_CLASSES)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_every_variant_is_named_by_its_type_literal(cls):
    annotation = cls.model_fields["type"].annotation
    assert typing.get_origin(annotation) is typing.Literal
    assert typing.get_args(annotation) == (cls.__name__,)
    assert cls.event_type() == cls.__name__
    assert cls.model_fields["type"].default == cls.__name__
    assert EVENT_TYPES[cls.__name__] is cls
    assert cls in union_members()


def test_catalog_tables_agree():
    assert list(EVENT_TYPES.values()) == list(EVENT_CLASSES)
    assert union_members() == set(EVENT_CLASSES)
    concrete = {
        obj
        for obj in vars(events).values()
        if inspect.isclass(obj)
        and issubclass(obj, Event)
        and typing.get_origin(obj.model_fields["type"].annotation) is typing.Literal
    }
    assert concrete == set(EVENT_CLASSES)


def test_parse_event_picks_the_variant_by_type():
    event = TurnCompleted(id="u1", thread_id="t1", outcome="success", at=AT)
    payload = event.model_dump_json()
    assert parse_event(payload) == event
    assert parse_event(event.model_dump(mode="json")) == event
    assert type(parse_event(payload)) is TurnCompleted


@pytest.mark.parametrize("cls", [*EVENT_CLASSES, TokenUsage], ids=lambda cls: cls.__name__)
def test_models_are_frozen_and_refuse_extra_fields(cls: type[BaseModel]):
    assert cls.model_config.get("frozen") is True
    assert cls.model_config.get("extra") == "forbid"


def test_events_are_frozen():
    event = ProjectCreated(id="p1", name="demo", path="/src/demo", at=AT)
    with pytest.raises(ValidationError, match="frozen"):
        event.name = "renamed"
    with pytest.raises(ValidationError, match="frozen"):
        event.usage = TokenUsage()  # type: ignore[attr-defined]
    assert event.name == "demo"
    assert hash(event) == hash(ProjectCreated(id="p1", name="demo", path="/src/demo", at=AT))


def test_extra_fields_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        ProjectCreated(id="p1", name="demo", path="/", at=AT, colour="red")
    with pytest.raises(ValidationError, match="extra"):
        parse_event({"type": "ProjectDeleted", "id": "p1", "at": AT, "reason": "x"})
    with pytest.raises(ValidationError, match="extra"):
        TurnCompleted(
            id="u1", thread_id="t1", outcome="success", at=AT, usage={"input_tokens": 1, "x": 2}
        )


def test_naive_at_is_rejected_and_aware_at_normalised_to_utc():
    with pytest.raises(ValidationError, match="timezone-aware"):
        ProjectCreated(id="p1", name="demo", path="/", at=datetime(2025, 1, 1))
    tokyo = timezone(timedelta(hours=9))
    event = ProjectCreated(id="p1", name="demo", path="/", at=datetime(2025, 1, 1, 9, tzinfo=tokyo))
    assert event.at.utcoffset() == timedelta(0)
    assert event.at == datetime(2025, 1, 1, tzinfo=UTC)
    assert '"at":"2025-01-01T00:00:00.000000Z"' in event.model_dump_json()


def test_ids_must_be_non_empty():
    with pytest.raises(ValidationError):
        ProjectCreated(id="", name="demo", path="/", at=AT)
