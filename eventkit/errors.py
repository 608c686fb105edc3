"""One error tree for eventkit; driver errors (SQLite, DuckDB, pyarrow, Spark) are mapped here.

EventkitError
├── EventValidationError        bad input: names the batch index and every field at fault
│   └── PayloadTooLargeError    a payload over the 16 MiB limit
├── DuplicateEventError         same event_id, different payload
├── ConcurrencyError            expected_version did not match the stream
├── UnknownEventTypeError       typed replay met a type this catalog does not know
├── UnsupportedSchemaError      an event's schema_version is not one this code reads
├── LogNotFoundError            the read side was pointed at a path that does not exist
├── SourceNotFoundError         an importer was pointed at input that does not exist
├── NotAnEventLogError          not SQLite, or SQLite with a foreign schema
├── MigrationError              an applied migration differs from the packaged one
│   └── NewerSchemaError        the log was written by a newer eventkit
├── ReadOnlyError               an attempt to write through the read side
├── ReportError                 the report could not be made from a log
├── ThreadNotFoundError         a thread id the log does not hold
└── StorageError                any other database failure (the driver's message kept)
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence


class EventkitError(Exception):
    """Base of every error eventkit raises."""


class EventValidationError(EventkitError, ValueError):
    """An event (or input line) failed validation; nothing was written.

    ``problems`` lists every ``(field, message)`` found in the event, in the order
    found; ``field`` is the first problem's field.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        field: str | None = None,
        problems: Sequence[tuple[str | None, str]] | None = None,
    ):
        self.index = index
        self.field = field
        self.problems: list[tuple[str | None, str]] = (
            list(problems) if problems else [(field, message)]
        )
        where = []
        if index is not None:
            where.append(f"event {index}")
        if field and len(self.problems) == 1:  # several problems name their fields in the text
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)

    @classmethod
    def listing(
        cls, problems: Sequence[tuple[str | None, str]], *, index: int | None = None
    ) -> EventValidationError:
        """One error naming every ``(field, message)`` problem of an event, on one line."""
        if len(problems) == 1:
            field, message = problems[0]
            return cls(message, index=index, field=field)
        listed = "; ".join(
            f"field {field!r}: {message}" if field else message for field, message in problems
        )
        return cls(
            f"{len(problems)} problems: {listed}",
            index=index,
            field=problems[0][0],
            problems=problems,
        )


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


class SourceNotFoundError(EventkitError, FileNotFoundError):
    """An importer's input (an agent's log file or folder) does not exist."""


class SearchQueryError(EventkitError, ValueError):
    """A search that cannot run: an empty query, an unknown event type, a bad limit."""


class ReportError(EventkitError):
    """The report notebook failed while running against the log."""


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


_DRIVERS = ("sqlite3", "_sqlite3", "duckdb", "_duckdb", "pyarrow", "pyspark", "py4j")
SCHEMA_MARKER = "eventkit: unsupported schema_version"
"""Text a read-side query raises (DuckDB ``error()``) when it meets an unknown schema_version."""


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a database or data driver eventkit uses (by its module)."""
    return any(
        (klass.__module__ or "").split(".")[0] in _DRIVERS for klass in type(exc).__mro__[:-1]
    )


def map_driver_error(exc: BaseException, context: str) -> EventkitError:
    """The eventkit error for a failure of SQLite, DuckDB, pyarrow or Spark.

    The one boundary where driver exceptions become eventkit's: no driver is imported
    here; exceptions are recognized by the module that defines them.
    """
    if isinstance(exc, EventkitError):
        return exc
    message = str(exc).strip() or type(exc).__name__
    lowered = message.lower()
    if SCHEMA_MARKER in message:
        detail = message[message.index(SCHEMA_MARKER) + len(SCHEMA_MARKER) :].lstrip(": ")
        detail = detail.splitlines()[0] if detail else "unknown schema_version"
        return UnsupportedSchemaError(f"{context}: {detail}")
    if "file is not a database" in lowered or "file is encrypted" in lowered:
        return NotAnEventLogError(f"{context}: not an SQLite database ({message})")
    if "append-only" in lowered:
        return StorageError(f"{context}: {message}")
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return ReadOnlyError(f"{context}: the log is read-only here ({message})")
    return StorageError(f"{context}: {message}")


@contextlib.contextmanager
def driver_errors(context: str) -> Iterator[None]:
    """Map driver exceptions raised inside the block onto the eventkit tree."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, EventkitError) or not (
            is_driver_error(exc) or isinstance(exc, sqlite3.Error)
        ):
            raise
        raise map_driver_error(exc, context) from exc


sqlite_errors = driver_errors
"""The same boundary, by the name the write side has always used."""


class ThreadNotFoundError(EventkitError, LookupError):
    """A thread id the log does not hold (at the ``as_of`` asked for)."""
