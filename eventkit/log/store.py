"""The EventStore: validated, atomic, idempotent appends to the log, and typed replay.

The store is the only writer of the ``events`` table. It knows SQLite and the event
catalog, and keeps the projection tables in step inside the same transaction; it
knows nothing of DuckDB or pandas.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from eventkit.catalog.events import (
    EVENT_TYPES,
    MAX_JSON_DEPTH,
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    STORED,
    Event,
    StoredEvent,
    UnknownEvent,
    event_payload,
    format_timestamp,
    new_ids,
    parse_event,
    parse_timestamp,
    stored_event,
    stream_id_of,
    utc_now,
)
from eventkit.errors import (
    ConcurrencyError,
    DuplicateEventError,
    EventkitError,
    EventValidationError,
    PayloadTooLargeError,
    StorageError,
    UnknownEventTypeError,
    UnsupportedSchemaError,
    sqlite_errors,
)
from eventkit.log import projections
from eventkit.log.migrations import open_or_create_db

_COLUMNS = (
    "sequence, event_id, event_type, stream_id, stream_version, occurred_at, "
    "recorded_at, schema_version, payload, metadata"
)
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_ID_LOOKUP_CHUNK = 500
_PROJECT_BY_PATH = """
SELECT json_extract(created.payload, '$.id') FROM events AS created
WHERE created.event_type = 'ProjectCreated' AND json_extract(created.payload, '$.path') = ?
  AND NOT EXISTS (SELECT 1 FROM events AS earlier WHERE earlier.stream_id = created.stream_id
                  AND earlier.event_type = 'ProjectCreated' AND earlier.sequence < created.sequence)
  AND NOT EXISTS (SELECT 1 FROM events AS deleted WHERE deleted.stream_id = created.stream_id
                  AND deleted.event_type = 'ProjectDeleted' AND deleted.sequence > created.sequence)
ORDER BY created.occurred_at, created.sequence
LIMIT 1
"""
_REPLAY_CHUNK = 2_000
_BEGIN_ATTEMPTS = 5
_FIELD_PARTS = 6  # a field path longer than this (deeply nested JSON) is cut short


@dataclass(frozen=True)
class NewEvent:
    """An event to append with the envelope a caller brings (importers, merges)."""

    event: Event | Mapping[str, Any]
    event_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    expected_version: int | None = None


@dataclass(slots=True)
class _Pending:
    index: int
    event: Event
    event_id: str | None
    """None until the store invents one (see ``invented``)."""
    stream_id: str
    payload: str
    occurred_at: str
    metadata: str | None
    expected_version: int | None
    invented: bool = False


def _validation_error(exc: ValidationError, index: int) -> EventValidationError:
    """The store's error for a pydantic failure: every problem, each with its field."""
    problems: list[tuple[str | None, str]] = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
        elif loc and loc[0] in EVENT_TYPES:  # drop the discriminator's tag from the path
            loc = loc[1:]
        detail = error["msg"]
        if error["type"] in ("recursion_depth_exceeded", "recursion_loop"):  # past MAX_JSON_DEPTH
            detail = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            loc = loc[:1]
        if len(loc) > _FIELD_PARTS:
            loc = [*loc[:_FIELD_PARTS], "…"]
        problem = (".".join(loc) or None, detail)
        if problem not in problems:  # a cut-short path can repeat one already listed
            problems.append(problem)
    return EventValidationError.listing(problems, index=index)


def _occurred_text(event: Event, payload: str) -> str:
    """The stored form of ``event.at``, sliced from the payload that already holds it."""
    # Formatting a timestamp costs more than the rest of a row; ``at`` follows ``type``.
    prefix = f'{{"type":"{event.type}","at":"'
    end = len(prefix) + 27  # len("2025-01-01T00:00:00.000000Z")
    if payload.startswith(prefix) and payload[end : end + 1] == '"':
        return payload[len(prefix) : end]
    return format_timestamp(event.at)


def _to_pending(item: object, index: int) -> _Pending:
    event_id = metadata = expected = None
    if isinstance(item, Event):  # the common case first: Mapping is a slower ABC check
        event = item
    elif isinstance(item, Mapping):
        event = item
    elif isinstance(item, tuple) and len(item) == 2:
        event, event_id = item
    elif hasattr(item, "event"):
        event = item.event
        event_id = getattr(item, "event_id", None)
        metadata = getattr(item, "metadata", None)
        expected = getattr(item, "expected_version", None)
    else:
        raise EventValidationError(
            f"cannot append a {type(item).__name__}; give an event model, a dict, "
            "an (event, event_id) pair or a NewEvent",
            index=index,
        )
    if isinstance(event, Event):
        pass
    elif isinstance(event, Mapping):
        try:
            event = parse_event(dict(event))
        except ValidationError as exc:
            raise _validation_error(exc, index) from None
    else:
        raise EventValidationError(
            f"expected an event model or dict, got {type(event).__name__}", index=index
        )
    if event_id is not None and (
        not isinstance(event_id, str) or not event_id or not _is_unicode(event_id)
    ):
        raise EventValidationError(
            "must be a non-empty string of valid Unicode", index=index, field="event_id"
        )
    if expected is not None and (
        not isinstance(expected, int) or isinstance(expected, bool) or expected < 0
    ):
        raise EventValidationError(
            f"must be a stream version (an integer >= 0), got {expected!r}",
            index=index,
            field="expected_version",
        )
    try:
        payload = event_payload(event)
    except (PydanticSerializationError, UnicodeError, ValueError) as exc:
        raise EventValidationError(
            f"cannot be stored as JSON: {exc}", index=index, field=_unserializable_field(event)
        ) from None
    # Cheap bound first: a str of n code points is at most 4n bytes of UTF-8.
    if len(payload) * 4 > MAX_PAYLOAD_BYTES and len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"payload is {len(payload.encode()):,} bytes; the limit is {MAX_PAYLOAD_BYTES:,}",
            index=index,
        )
    metadata_text = None
    if metadata is not None:
        try:
            if not isinstance(metadata, Mapping):
                raise TypeError(f"got {type(metadata).__name__}")
            metadata_text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False)
            metadata_text.encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise EventValidationError(
                f"must be a JSON object: {exc}", index=index, field="metadata"
            ) from None
    return _Pending(
        index,
        event,
        event_id,
        stream_id_of(event),
        payload,
        _occurred_text(event, payload),
        metadata_text,
        expected,
    )


def _is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates), as SQLite needs it."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unserializable_field(event: Event) -> str | None:
    """The first field of ``event`` that cannot be written as JSON (for the error)."""
    serializer = event.__pydantic_serializer__
    for name in type(event).model_fields:
        try:
            serializer.to_json(event, include={name})
        except (PydanticSerializationError, UnicodeError, ValueError):
            return name
    return None


def _decode(row: Sequence[Any], lenient: bool) -> StoredEvent:
    (seq, event_id, event_type, stream_id, version, occurred, recorded, schema, payload, meta) = row
    if schema != SCHEMA_VERSION:
        raise UnsupportedSchemaError(
            f"event {seq} ({event_type}) has schema_version {schema}; this eventkit reads "
            f"version {SCHEMA_VERSION} — upgrade eventkit"
        )
    model = EVENT_TYPES.get(event_type)
    if model is not None:
        event: Event | UnknownEvent = model.__pydantic_validator__.validate_json(
            payload, context=_STORED
        )
    elif lenient:
        data = json.loads(payload)
        event = UnknownEvent(type=event_type, at=data.get("at"), data=data)
    else:
        raise UnknownEventTypeError(
            f"event {seq} has type {event_type!r}, unknown to this eventkit "
            "(written by a newer version?); replay with lenient=True to skip past it"
        )
    global _recorded
    # The envelope's occurred_at is the payload's "at" as the store wrote it (the payload
    # opens with {"type":"...","at":"...): then it is the parsed event.at.
    at = getattr(event, "at", None)
    if at is None or not payload.startswith(occurred, 17 + len(event_type)):
        at = parse_timestamp(occurred)
    # Events appended in one batch share their recorded_at text.
    seen = _recorded
    if seen[0] != recorded:
        seen = _recorded = (recorded, parse_timestamp(recorded))
    return stored_event(
        seq,
        event_id,
        event_type,
        stream_id,
        version,
        at,
        seen[1],
        schema,
        event,
        _load_metadata(meta) if meta is not None else None,
    )


_STORED = {STORED: True}
_recorded: tuple[str | None, datetime | None] = (None, None)


def _load_metadata(text: str) -> dict[str, Any]:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, which json reads exactly
        return json.loads(text)


def validate_event(item: object, index: int = 0) -> Event:
    """The event model of ``item``, checked as :meth:`EventStore.append_all` checks it.

    ``item`` is anything ``append_all`` takes. Nothing is written: this is the store's
    own validation (the event, its envelope, its size as JSON) for callers that check
    a whole input before appending any of it. Raises :class:`EventValidationError` (or
    :class:`PayloadTooLargeError`) naming ``index`` and the field.
    """
    return _to_pending(item, index).event


class EventStore:
    """Append-only access to an eventkit log.

    ``projections=False`` skips projection upkeep on append (bulk loads); run
    :func:`eventkit.catch_up` afterwards. The store manages transactions itself, so
    it puts ``conn`` in autocommit mode.
    """

    def __init__(self, conn: sqlite3.Connection, *, projections: bool = True):
        with sqlite_errors("opening the store"):
            if conn.in_transaction:
                raise StorageError("the connection is inside a transaction; commit it first")
            conn.isolation_level = None
        self.conn = conn
        self.projections = projections

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, projections: bool = True) -> EventStore:
        """Open (creating and migrating if needed) the log at ``path``."""
        return cls(open_or_create_db(path), projections=projections)

    @property
    def path(self) -> Path | None:
        """The log's file, or None for an in-memory log."""
        with sqlite_errors("reading the log"):
            row = self.conn.execute("PRAGMA database_list").fetchone()
        return Path(row[2]) if row and row[2] else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        event: Event | Mapping[str, Any],
        *,
        expected_version: int | None = None,
        event_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """Append one event. ``expected_version`` is the stream's version before it."""
        (stored,) = self.append_all([NewEvent(event, event_id, metadata, expected_version)])
        return stored

    def append_all(self, events: Iterable[object]) -> list[StoredEvent]:
        """Append a batch atomically: all events or none, with contiguous sequences.

        Items are event models, dicts in the payload's JSON shape, ``(event, event_id)``
        pairs, or objects with ``event``, ``event_id`` and ``metadata`` (:class:`NewEvent`).
        An event id already stored with the same payload is returned as stored and not
        written again; with a different payload it raises :class:`DuplicateEventError`.
        """
        pending = [_to_pending(item, index) for index, item in enumerate(events)]
        if not pending:
            return []
        invented = [item for item in pending if item.event_id is None]
        for item, event_id in zip(invented, new_ids(len(invented)), strict=True):
            item.event_id = event_id
            item.invented = True
        recorded_at = utc_now()
        with sqlite_errors("appending to the log"):
            self._begin()
            try:
                result = self._write(pending, recorded_at)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        return result

    def _begin(self) -> None:
        # busy_timeout already waits; this covers the rare busy that SQLite reports early.
        for attempt in range(_BEGIN_ATTEMPTS):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or attempt == _BEGIN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)

    def _write(self, pending: list[_Pending], recorded_at: datetime) -> list[StoredEvent]:
        existing = self._existing(pending)
        results: list[StoredEvent | None] = [None] * len(pending)
        fresh: list[_Pending] = []
        seen: dict[str, _Pending] = {}
        for item in pending:
            if not item.invented:  # invented ids are new and unique by construction
                stored = existing.get(item.event_id)
                earlier = seen.get(item.event_id)
                if stored is not None or earlier is not None:
                    known_payload = stored[1] if stored is not None else earlier.payload
                    if known_payload != item.payload:
                        raise DuplicateEventError(
                            f"event {item.index}: event_id {item.event_id!r} is already "
                            "stored with a different payload",
                            event_id=item.event_id,
                            index=item.index,
                        )
                    continue
                seen[item.event_id] = item
            fresh.append(item)

        versions = self._stream_versions({item.stream_id for item in fresh})
        sequence = self.last_sequence()
        recorded_text = format_timestamp(recorded_at)
        rows, stored_fresh = [], []
        for item in fresh:
            current = versions[item.stream_id]
            if item.expected_version is not None and item.expected_version != current:
                raise ConcurrencyError(
                    item.stream_id, item.expected_version, current, index=item.index
                )
            sequence += 1
            versions[item.stream_id] = current + 1
            event = item.event
            rows.append(
                (
                    sequence,
                    item.event_id,
                    event.type,
                    item.stream_id,
                    current + 1,
                    item.occurred_at,
                    recorded_text,
                    SCHEMA_VERSION,
                    item.payload,
                    item.metadata,
                )
            )
            stored_fresh.append(
                stored_event(
                    sequence,
                    item.event_id,
                    event.type,
                    item.stream_id,
                    current + 1,
                    event.at,
                    recorded_at,
                    SCHEMA_VERSION,
                    event,
                    _load_metadata(item.metadata) if item.metadata else None,
                )
            )
            results[item.index] = stored_fresh[-1]
        if rows:
            self.conn.executemany(_INSERT, rows)
            if self.projections:
                projections.apply(self.conn, stored_fresh)
        if len(fresh) < len(pending):  # fill in the already stored and repeated events
            by_id = {s.event_id: s for s in stored_fresh}
            for item in pending:
                if results[item.index] is None:
                    results[item.index] = by_id.get(item.event_id) or existing[item.event_id][0]
        return results  # type: ignore[return-value]

    def _existing(self, pending: list[_Pending]) -> dict[str, tuple[StoredEvent, str]]:
        # Ids the store just invented (UUIDv7) cannot be stored already: look up the others.
        ids = list({item.event_id for item in pending if not item.invented})
        found: dict[str, tuple[StoredEvent, str]] = {}
        for start in range(0, len(ids), _ID_LOOKUP_CHUNK):
            chunk = ids[start : start + _ID_LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM events WHERE event_id IN ({marks})"
            for row in self.conn.execute(query, chunk):
                found[row[1]] = (_decode(row, lenient=True), row[8])
        return found

    def _stream_versions(self, stream_ids: set[str]) -> dict[str, int]:
        query = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?"
        return {sid: self.conn.execute(query, (sid,)).fetchone()[0] for sid in stream_ids}

    # ------------------------------------------------------------------ reading

    def last_sequence(self) -> int:
        """The sequence of the newest event (0 for an empty log)."""
        with sqlite_errors("reading the log"):
            return self.conn.execute("SELECT coalesce(max(sequence), 0) FROM events").fetchone()[0]

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 if it has no events)."""
        with sqlite_errors("reading the log"):
            return self._stream_versions({stream_id})[stream_id]

    def replay_all(
        self, *, types: Iterable[str] | None = None, lenient: bool = False
    ) -> Iterator[StoredEvent]:
        """Every event in ascending sequence, optionally only the given types."""
        return self.replay_from(1, types=types, lenient=lenient)

    def replay_from(
        self, sequence: int, *, types: Iterable[str] | None = None, lenient: bool = False
    ) -> Iterator[StoredEvent]:
        """Events with sequence >= ``sequence``, ascending.

        Unknown event types raise :class:`UnknownEventTypeError` unless ``lenient``,
        which yields them as :class:`~eventkit.catalog.events.UnknownEvent`.
        """
        where, params = ["sequence >= ?"], [sequence]
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            where.append(f"event_type IN ({','.join('?' * len(types))})")
            params.extend(types)
        return self._replay(" AND ".join(where), params, lenient)

    def read_stream(self, stream_id: str, *, lenient: bool = False) -> Iterator[StoredEvent]:
        """One stream's events in stream_version order."""
        return self._replay("stream_id = ?", [stream_id], lenient, order="stream_version")

    def _replay(
        self, where: str, params: list[Any], lenient: bool, order: str = "sequence"
    ) -> Iterator[StoredEvent]:
        query = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY {order}"
        with sqlite_errors("reading the log"):
            cursor = self.conn.execute(query, params)
        while True:
            with sqlite_errors("reading the log"):
                rows = cursor.fetchmany(_REPLAY_CHUNK)
            if not rows:
                return
            for row in rows:
                try:
                    yield _decode(row, lenient)
                except ValueError as exc:  # pydantic's ValidationError, bad JSON or timestamps
                    raise EventkitError(
                        f"event {row[0]} ({row[2]}) in the log does not match the catalog: {exc}"
                    ) from exc

    def known_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Those of ``event_ids`` that the log holds."""
        ids = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        with sqlite_errors("reading the log"):
            for start in range(0, len(ids), _ID_LOOKUP_CHUNK):
                chunk = ids[start : start + _ID_LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT event_id FROM events WHERE event_id IN ({marks})"
                found.update(row[0] for row in self.conn.execute(query, chunk))
        return found

    def project_by_path(self, path: str) -> str | None:
        """The id of the live project at ``path`` (the earliest created), or None.

        Read from the events, as the projections define a project: its first
        ProjectCreated gives its path (a later one is ignored), a ProjectDeleted after
        that deletes it. So the answer holds with projections off or behind.
        """
        with sqlite_errors("reading the log"):
            row = self.conn.execute(_PROJECT_BY_PATH, (path,)).fetchone()
        return row[0] if row else None

    def last_event(
        self, stream_id: str, *, types: Iterable[str] | None = None, lenient: bool = False
    ) -> StoredEvent | None:
        """The newest event of a stream (only of ``types`` if given), or None.

        An entity's latest state where its events restate it: a thread's last
        ThreadRenamed, the last SettingChanged of the settings stream.
        """
        where, params = ["stream_id = ?"], [stream_id]
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            where.append(f"event_type IN ({','.join('?' * len(types))})")
            params.extend(types)
        query = (
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            "ORDER BY stream_version DESC LIMIT 1"
        )
        with sqlite_errors("reading the log"):
            row = self.conn.execute(query, params).fetchone()
        if row is None:
            return None
        try:
            return _decode(row, lenient)
        except ValueError as exc:  # pydantic's ValidationError, bad JSON or timestamps
            raise EventkitError(
                f"event {row[0]} ({row[2]}) in the log does not match the catalog: {exc}"
            ) from exc
