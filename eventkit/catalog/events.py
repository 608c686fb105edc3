"""The event catalog: the one schema of an eventkit log.

Every event is a frozen pydantic model with a ``type`` literal (the discriminator)
and a timezone-aware ``at``. The variants, listed once in :data:`EVENT_CLASSES`, form
:data:`OrchestrationEvent`; its JSON is the stored payload. Everything else (the
``event_type`` column, stream ids, DuckDB view columns, DataFrame columns) is derived
from these models.

This module imports nothing of eventkit.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import os
import re
import threading
import time
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
)

SCHEMA_VERSION = 1
"""Version of this catalog, stored with every event."""

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""Largest payload (UTF-8 JSON) a log accepts."""

MAX_JSON_DEPTH = 200
"""Deepest nesting of objects and arrays a JSON field (a tool's input, a setting) may hold."""

MAX_COUNT = 2**63 - 1
"""Largest count (tokens, files, lines) a log accepts: SQLite and DuckDB hold 64 bits."""

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIMESTAMP_PRINTF = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


# --------------------------------------------------------------------------- time


def format_timestamp(value: datetime) -> str:
    """Render an aware datetime in the log's one sortable form, ``...T..:..:..ffffffZ``."""
    if value.tzinfo is not UTC:  # models hold UTC already: skip the checks for them
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp must be timezone-aware (naive datetimes are rejected)")
        value = value.astimezone(UTC)
    # Four times faster than strftime(TIMESTAMP_FORMAT), faster than isoformat(), and it
    # zero-pads the year; every appended event has its timestamps formatted.
    return _TIMESTAMP_PRINTF % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def parse_timestamp(text: str) -> datetime:
    """Parse a stored timestamp (or any ISO-8601 text with an offset) into aware UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is UTC:  # how the store writes them (``...Z``): already UTC
        return value
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone")
    return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _require_aware(value: datetime) -> datetime:
    if value.utcoffset() is None:  # naive (no tzinfo, or one that gives no offset)
        raise ValueError("timestamp must be timezone-aware (naive datetimes are rejected)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("timestamp is out of range in UTC (years 1 to 9999)") from None


Timestamp = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(format_timestamp, return_type=str, when_used="always"),
]
"""A timezone-aware datetime, normalised to UTC, serialised as ``...ffffffZ``."""

Id = Annotated[str, StringConstraints(min_length=1)]
"""A non-empty identifier (``msg_…``, ``toolu_…``, ``call_…`` or a UUIDv7)."""

NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
"""A non-negative count that fits the log's 64-bit integer columns."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_problem(value: Any) -> str | None:
    """What keeps ``value`` from being stored as JSON exactly as it is, or None.

    pydantic accepts NaN, infinities and lone surrogates in a JSON value, then writes
    NaN as ``null`` and a surrogate in a key as U+FFFD: the payload would silently
    differ from the event. Deep nesting is refused before serialization hits its limit.
    """
    stack: list[tuple[Any, int, tuple]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        problem = None
        if isinstance(item, float):
            if not math.isfinite(item):
                problem = f"{item} is not a JSON number"
        elif isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                problem = "text with a lone surrogate is not valid Unicode"
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                    problem = "a key with a lone surrogate is not valid Unicode"
                    break
                stack.append((child, depth + 1, (*path, key)))
        if problem:
            where = ".".join(map(str, path))
            return f"{problem} (at {where})" if where else problem
    return None


def _json_ok(value: Any) -> bool:
    """The quick form of ``_json_problem(value) is None`` (run for every tool input)."""
    if isinstance(value, str):
        return value.isascii() or not _SURROGATE.search(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if not isinstance(value, dict | list):
        return True
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            for key in item:
                if not key.isascii() and _SURROGATE.search(key):
                    return False
            item = item.values()
        for child in item:
            if isinstance(child, str):
                if not child.isascii() and _SURROGATE.search(child):
                    return False
            elif isinstance(child, float):
                if not math.isfinite(child):
                    return False
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return True


STORED = "eventkit.stored"
"""Validation context key: the payload is one the store wrote (after checking it).

Replay passes ``context={STORED: True}``: a payload read back from the log was
validated and serialized by the store, so the JSON checks that keep a value from
changing when it is *written* (finite numbers, valid Unicode, bounded depth) are
skipped; every model is still built and every field's type still checked.
"""


def _json_data(value: Any, info: ValidationInfo) -> Any:
    if info.context is not None and info.context.get(STORED):
        return value
    if not _json_ok(value):
        raise ValueError(_json_problem(value) or "cannot be stored as JSON")
    return value


JsonData = Annotated[JsonValue, AfterValidator(_json_data)]
"""Any JSON value that round-trips exactly: finite numbers, valid Unicode, bounded depth."""

JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_json_data)]
"""A JSON object, held to the same rules as :data:`JsonData`."""


# --------------------------------------------------------------------------- ids

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_uuid_lock = threading.Lock()
_uuid_last_ms = 0
_uuid_counter = 0
_VARIANT_HEX = "89ab"  # the variant bits 10 followed by two random bits, as one hex digit


def _uuid7_text(unix_ms: int, rand_a: int, rand_b: int) -> str:
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand_a & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_id() -> str:
    """A fresh UUIDv7 string; ids made in one process sort in creation order."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` fresh UUIDv7 strings in creation order: one clock read, one urandom call."""
    global _uuid_last_ms, _uuid_counter
    random_hex = os.urandom(8 * count).hex()
    stamps = []
    with _uuid_lock:
        now_ms = time.time_ns() // 1_000_000
        for _ in range(count):
            if now_ms > _uuid_last_ms:
                _uuid_last_ms = now_ms
                _uuid_counter = int.from_bytes(os.urandom(2)) & 0x3FF  # leave room to count up
            else:
                _uuid_counter += 1
                if _uuid_counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    _uuid_last_ms += 1
                    _uuid_counter = 0
            stamps.append((_uuid_last_ms, _uuid_counter))
    # Text assembled from hex pieces: big-int arithmetic per id costs twice as much.
    ids = []
    ms_prefix: dict[int, str] = {}
    for i, (ms, counter) in enumerate(stamps):
        prefix = ms_prefix.get(ms)
        if prefix is None:
            h = f"{ms & ((1 << 48) - 1):012x}"
            prefix = ms_prefix[ms] = f"{h[:8]}-{h[8:]}-7"
        r = random_hex[16 * i : 16 * i + 16]
        variant = _VARIANT_HEX[int(r[0], 16) & 0b11]
        ids.append(f"{prefix}{counter:03x}-{variant}{r[1:4]}-{r[4:]}")
    return ids


def derived_id(at: datetime, *source_identity: object) -> str:
    """A deterministic UUIDv7 for an event derived from a source record.

    The millisecond field comes from ``at``; the other bits from a SHA-256 of the
    source identity, so the same input always yields the same id.
    """
    # Integer arithmetic: float timestamp() * 1000 is off by one for some exact milliseconds.
    unix_ms = (_require_aware(at) - _EPOCH) // _ONE_MS
    digest = hashlib.sha256("\x1f".join(map(str, source_identity)).encode()).digest()
    return _uuid7_text(unix_ms, int.from_bytes(digest[:2]), int.from_bytes(digest[2:10]))


# --------------------------------------------------------------------------- models


class TokenUsage(BaseModel):
    """Tokens of one model call (or a turn). Total = input + cache_read + cache_write + output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: Count = 0
    """Uncached input tokens."""
    output_tokens: Count = 0
    """All generated tokens, reasoning included."""
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    reasoning_tokens: Count = 0
    """The part of ``output_tokens`` spent reasoning (0 when unknown)."""

    @property
    def total_tokens(self) -> int:
        cached = self.cache_read_tokens + self.cache_write_tokens
        return self.input_tokens + cached + self.output_tokens


class Event(BaseModel):
    """Base of every catalog event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_kind: ClassVar[str]
    """Prefix of the event's stream id (``project``, ``thread`` or ``settings``)."""
    stream_key: ClassVar[str | None]
    """Field holding the entity id the stream is named after (None: a singleton stream)."""

    type: str
    at: Timestamp

    @classmethod
    def event_type(cls) -> str:
        """The ``type`` literal of this variant: the value of the ``event_type`` column."""
        (literal,) = typing.get_args(cls.model_fields["type"].annotation)
        return literal

    @property
    def stream_id(self) -> str:
        return stream_id_of(self)


def stream_id_of(event: Event) -> str:
    """The stream an event belongs to: ``project:<id>``, ``thread:<id>`` or ``settings``."""
    if event.stream_key is None:
        return event.stream_kind
    return f"{event.stream_kind}:{getattr(event, event.stream_key)}"


class _ProjectEvent(Event):
    stream_kind: ClassVar[str] = "project"
    stream_key: ClassVar[str | None] = "id"


class _ThreadEvent(Event):
    stream_kind: ClassVar[str] = "thread"
    stream_key: ClassVar[str | None] = "id"


class _InThreadEvent(Event):
    stream_kind: ClassVar[str] = "thread"
    stream_key: ClassVar[str | None] = "thread_id"


class ProjectCreated(_ProjectEvent):
    type: Literal["ProjectCreated"] = "ProjectCreated"
    id: Id
    name: str
    path: str


class ProjectRenamed(_ProjectEvent):
    type: Literal["ProjectRenamed"] = "ProjectRenamed"
    id: Id
    name: str


class ProjectDeleted(_ProjectEvent):
    type: Literal["ProjectDeleted"] = "ProjectDeleted"
    id: Id


class ThreadCreated(_ThreadEvent):
    type: Literal["ThreadCreated"] = "ThreadCreated"
    id: Id
    project_id: Id
    title: str
    provider: str
    model: str
    parent_thread_id: Id | None = None
    """Set for a subagent's thread: the thread that spawned it."""
    parent_tool_call_id: Id | None = None
    """Set for a subagent's thread: the tool call (e.g. a ``Task`` call) that started it."""


class ThreadRenamed(_ThreadEvent):
    type: Literal["ThreadRenamed"] = "ThreadRenamed"
    id: Id
    title: str


class ThreadArchived(_ThreadEvent):
    type: Literal["ThreadArchived"] = "ThreadArchived"
    id: Id


class ThreadDeleted(_ThreadEvent):
    type: Literal["ThreadDeleted"] = "ThreadDeleted"
    id: Id


class TurnStarted(_InThreadEvent):
    type: Literal["TurnStarted"] = "TurnStarted"
    id: Id
    thread_id: Id
    model: str | None = None


class TurnCompleted(_InThreadEvent):
    type: Literal["TurnCompleted"] = "TurnCompleted"
    id: Id
    thread_id: Id
    outcome: Literal["success", "error", "interrupted"]
    error: str | None = None
    usage: TokenUsage = TokenUsage()
    cost_usd: NonNegativeFloat | None = None
    cost_source: Literal["recorded", "estimated"] | None = None


class MessageAdded(_InThreadEvent):
    type: Literal["MessageAdded"] = "MessageAdded"
    id: Id
    thread_id: Id
    turn_id: Id | None = None
    role: Literal["user", "assistant", "system"]
    text: str


class MessageDelta(_InThreadEvent):
    type: Literal["MessageDelta"] = "MessageDelta"
    id: Id
    thread_id: Id
    turn_id: Id | None = None
    delta: str


class ToolCallStarted(_InThreadEvent):
    type: Literal["ToolCallStarted"] = "ToolCallStarted"
    id: Id
    thread_id: Id
    turn_id: Id
    tool: str
    input: JsonObject


class ToolCallCompleted(_InThreadEvent):
    type: Literal["ToolCallCompleted"] = "ToolCallCompleted"
    id: Id
    thread_id: Id
    turn_id: Id
    status: Literal["ok", "error", "denied"]
    output: str


class ApprovalResolved(_InThreadEvent):
    type: Literal["ApprovalResolved"] = "ApprovalResolved"
    id: Id
    thread_id: Id
    turn_id: Id
    tool_call_id: Id
    decision: Literal["accepted", "declined", "cancelled"]
    requested_at: Timestamp


class CheckpointCreated(_InThreadEvent):
    type: Literal["CheckpointCreated"] = "CheckpointCreated"
    id: Id
    thread_id: Id
    turn_id: Id | None = None
    git_ref: str
    message: str
    files_changed: Count
    additions: Count
    deletions: Count


class CheckpointRestored(_InThreadEvent):
    type: Literal["CheckpointRestored"] = "CheckpointRestored"
    id: Id
    thread_id: Id


class ModelCallCompleted(_InThreadEvent):
    """One model response and the tokens it spent (``docs/semantics.md``, model calls).

    A second event for the same ``id`` restates the call (a grown source showed more of
    it): the one with the greatest ``(revision, sequence)`` holds. A restatement may
    change usage, cost, model, stop_reason and requested_at, never thread_id or turn_id.
    """

    type: Literal["ModelCallCompleted"] = "ModelCallCompleted"
    id: Id
    """The call's: the source's response id (Claude's ``message.id``) where it has one."""
    thread_id: Id
    turn_id: Id | None = None
    model: str | None = None
    usage: TokenUsage = TokenUsage()
    cost_usd: NonNegativeFloat | None = None
    cost_source: Literal["recorded", "estimated"] | None = None
    requested_at: Timestamp | None = None
    """When the request was sent, where the source says."""
    stop_reason: str | None = None
    revision: int = Field(default=1, ge=1, le=MAX_COUNT)
    """How much of the call the writer had seen: a restatement has a higher revision."""


class SettingChanged(Event):
    stream_kind: ClassVar[str] = "settings"
    stream_key: ClassVar[str | None] = None

    type: Literal["SettingChanged"] = "SettingChanged"
    key: Id
    value: JsonData


EVENT_CLASSES: tuple[type[Event], ...] = (
    ProjectCreated,
    ProjectRenamed,
    ProjectDeleted,
    ThreadCreated,
    ThreadRenamed,
    ThreadArchived,
    ThreadDeleted,
    TurnStarted,
    TurnCompleted,
    MessageAdded,
    MessageDelta,
    ToolCallStarted,
    ToolCallCompleted,
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    SettingChanged,
    ModelCallCompleted,
)
"""Every variant, in catalog order."""

EVENT_TYPES: dict[str, type[Event]] = {cls.event_type(): cls for cls in EVENT_CLASSES}
"""``event_type`` → model, derived from each model's ``type`` literal."""

THREAD_STREAM_FIELD: dict[str, str] = {
    cls.event_type(): cls.stream_key
    for cls in EVENT_CLASSES
    if cls.stream_kind == "thread" and cls.stream_key is not None
}
"""Event types of a thread's stream -> the payload field naming the thread."""

TURN_ACTIVITY_FIELD: dict[str, str] = {
    "TurnCompleted": "id",
    **{cls.event_type(): "turn_id" for cls in EVENT_CLASSES if "turn_id" in cls.model_fields},
}
"""Event types that name a turn after its start -> the payload field naming it (may be null).

A turn's ``last_activity_at`` is the greatest ``at`` of these (``docs/semantics.md``).
"""

# `A | B | …` of EVENT_CLASSES, so a new variant is listed in one place.
OrchestrationEvent = Annotated[
    functools.reduce(operator.or_, EVENT_CLASSES), Field(discriminator="type")
]
"""The discriminated union of all catalog events."""

_event_adapter: TypeAdapter[Event] = TypeAdapter(OrchestrationEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """Validate a payload (a dict or its JSON text) into its catalog model.

    Raises pydantic's ``ValidationError``; the store turns it into an
    :class:`~eventkit.errors.EventValidationError` naming batch index and field.
    """
    if isinstance(data, str | bytes):
        return _event_adapter.validate_json(data)
    return _event_adapter.validate_python(data)


def event_payload(event: Event) -> str:
    """The stored payload: the event's compact JSON (what ``model_dump_json()`` gives)."""
    # The serializer directly: model_dump_json's keyword handling is a tenth of the cost.
    return event.__pydantic_serializer__.to_json(event).decode()


class UnknownEvent(BaseModel):
    """An event whose type this catalog does not know (written by a newer writer).

    Only lenient replay produces these; ``data`` holds the whole raw payload.
    """

    model_config = ConfigDict(frozen=True)

    type: str
    at: Timestamp | None = None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored in the log, with its envelope."""

    sequence: int
    event_id: str
    event_type: str
    stream_id: str
    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    schema_version: int
    event: Event | UnknownEvent
    metadata: dict[str, Any] | None = None


def _stored_event_maker():
    new = object.__new__
    setters = tuple(getattr(StoredEvent, name).__set__ for name in StoredEvent.__slots__)
    (
        s_seq,
        s_id,
        s_type,
        s_stream,
        s_version,
        s_occurred,
        s_recorded,
        s_schema,
        s_event,
        s_meta,
    ) = setters

    def stored_event(
        sequence: int,
        event_id: str,
        event_type: str,
        stream_id: str,
        stream_version: int,
        occurred_at: datetime,
        recorded_at: datetime,
        schema_version: int,
        event: Event | UnknownEvent,
        metadata: dict[str, Any] | None,
    ) -> StoredEvent:
        """``StoredEvent(...)`` with every field given, twice as fast (for replay and append).

        A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
        by name; this sets the slots directly. The result is the same object.
        """
        stored = new(StoredEvent)
        s_seq(stored, sequence)
        s_id(stored, event_id)
        s_type(stored, event_type)
        s_stream(stored, stream_id)
        s_version(stored, stream_version)
        s_occurred(stored, occurred_at)
        s_recorded(stored, recorded_at)
        s_schema(stored, schema_version)
        s_event(stored, event)
        s_meta(stored, metadata)
        return stored

    return stored_event


stored_event = _stored_event_maker()


__all__ = [
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "MAX_COUNT",
    "MAX_JSON_DEPTH",
    "STORED",
    "stored_event",
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "THREAD_STREAM_FIELD",
    "TURN_ACTIVITY_FIELD",
    "ApprovalResolved",
    "CheckpointCreated",
    "CheckpointRestored",
    "Event",
    "MessageAdded",
    "MessageDelta",
    "ModelCallCompleted",
    "OrchestrationEvent",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectRenamed",
    "SettingChanged",
    "StoredEvent",
    "ThreadArchived",
    "ThreadCreated",
    "ThreadDeleted",
    "ThreadRenamed",
    "TokenUsage",
    "ToolCallCompleted",
    "ToolCallStarted",
    "TurnCompleted",
    "TurnStarted",
    "UnknownEvent",
    "derived_id",
    "event_payload",
    "format_timestamp",
    "new_id",
    "new_ids",
    "parse_event",
    "parse_timestamp",
    "stream_id_of",
    "utc_now",
]
