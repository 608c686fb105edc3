"""One error tree for eventkit; SQLite driver errors are mapped onto it here, and only here.

EventkitError
├── EventValidationError        bad input: names the batch index and the field
│   └── PayloadTooLargeError    a payload over the 16 MiB limit
├── DuplicateEventError         same event_id, different payload
├── ConcurrencyError            expected_version did not match the stream
├── UnknownEventTypeError       typed replay met a type this catalog does not know
├── UnsupportedSchemaError      an event's schema_version is not one this code reads
├── LogNotFoundError            the read side was pointed at a path that does not exist
├── NotAnEventLogError          not SQLite, or SQLite with a foreign schema
├── MigrationError              an applied migration differs from the packaged one
│   └── NewerSchemaError        the log was written by a newer eventkit
├── ReadOnlyError               an attempt to write through the read side
└── StorageError                any other database failure (the driver's message kept)
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


class EventkitError(Exception):
    """Base of every error eventkit raises."""


class EventValidationError(EventkitError, ValueError):
    """An event (or input line) failed validation; nothing was written."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        self.index = index
        self.field = field
        where = []
        if index is not None:
            where.append(f"event {index}")
        if field:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class PayloadTooLargeError(EventValidationError):
    """A payload exceeds the log's size limit."""


class DuplicateEventError(EventkitError):
    """An event id is already stored with a different payload."""

    def __init__(self, message: str, *, event_id: str, index: int | None = None):
        self.event_id = event_id
        self.index = index
        super().__init__(message)


class ConcurrencyError(EventkitError):
    """``expected_version`` did not match the stream's current version."""

    def __init__(self, stream_id: str, expected: int, actual: int, *, index: int | None = None):
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.index = index
        where = f"event {index}: " if index is not None else ""
        super().__init__(f"{where}stream {stream_id!r} is at version {actual}, expected {expected}")


class UnknownEventTypeError(EventkitError):
    """Typed replay met an event type this catalog does not know (pass lenient=True)."""


class UnsupportedSchemaError(EventkitError):
    """An event's schema_version is not one this version of eventkit can read."""


class LogNotFoundError(EventkitError, FileNotFoundError):
    """A path given to the read side does not exist."""


class NotAnEventLogError(EventkitError):
    """The file is not SQLite, or holds a schema that is not an eventkit log."""


class MigrationError(EventkitError):
    """A migration failed, or an applied migration differs from the packaged one."""


class NewerSchemaError(MigrationError):
    """The log was migrated by a newer eventkit than this one."""


class ReadOnlyError(EventkitError):
    """A write was attempted through eventkit's read side."""


class StorageError(EventkitError):
    """A database failure not covered by a more specific error."""


@contextlib.contextmanager
def sqlite_errors(context: str) -> Iterator[None]:
    """Map ``sqlite3`` exceptions raised inside the block onto the eventkit tree."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "file is not a database" in message or "file is encrypted" in message:
            raise NotAnEventLogError(f"{context}: not an SQLite database ({message})") from exc
        if "append-only" in message:
            raise StorageError(f"{context}: {message}") from exc
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in message:
            raise ReadOnlyError(f"{context}: the log is read-only here ({message})") from exc
        raise StorageError(f"{context}: {message}") from exc
