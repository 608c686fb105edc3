"""Canonical events as JSON Lines: one event per line, for ``eventkit append``.

A line is either an event payload (``{"type": "ProjectCreated", "at": ..., ...}``) or
an envelope ``{"event": {...}, "event_id": "...", "metadata": {...}}``. Blank lines
are ignored. Every line is checked as the store would check it (the event, its
envelope, its size as JSON) before anything is written, so a bad line anywhere in a
file fails the whole file. Errors name the source, the line number and the field.
:func:`append_jsonl` appends such a file to a log in all-or-nothing batches.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from eventkit.errors import EventkitError, EventValidationError
from eventkit.log.store import EventStore, NewEvent, validate_event

_ENVELOPE_KEYS = {"event", "event_id", "metadata", "expected_version"}


def read_event_lines(
    lines: Iterable[str | bytes], source: str = "<input>"
) -> list[tuple[int, NewEvent]]:
    """Parse and validate every line into ``(line number, event)``.

    Raises :class:`EventValidationError` (or its :class:`PayloadTooLargeError`) on the
    first bad line, naming ``source:line`` and the field.
    """
    parsed: list[tuple[int, NewEvent]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise _line_error(source, number, f"not UTF-8 ({exc.reason})") from None
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _line_error(source, number, f"invalid JSON ({exc.msg})") from None
        except RecursionError:  # the json module recurses once per level of nesting
            raise _line_error(source, number, "invalid JSON (nested too deeply)") from None
        if not isinstance(data, dict):
            raise _line_error(source, number, "expected a JSON object")
        if "event" in data and set(data) <= _ENVELOPE_KEYS:
            payload, extra = data["event"], data
        else:
            payload, extra = data, {}
        if not isinstance(payload, dict):
            raise _line_error(source, number, "'event' must be a JSON object")
        envelope = NewEvent(
            payload,
            event_id=extra.get("event_id"),
            metadata=extra.get("metadata"),
            expected_version=extra.get("expected_version"),
        )
        try:
            event = validate_event(envelope)  # the store's own checks, before anything is written
        except EventValidationError as exc:
            raise _at_line(exc, source, number) from None
        parsed.append((number, dataclasses.replace(envelope, event=event)))
    return parsed


def _at_line(error: EventValidationError, source: str, line: int) -> EventValidationError:
    """The store's error for event 0, restated for a line (keeping its class and field)."""
    detail = str(error).removeprefix("event 0, ").removeprefix("event 0: ")
    restated = _line_error(source, line, detail, error.field, type(error))
    restated.problems = error.problems
    return restated


def _line_error(
    source: str,
    line: int,
    message: str,
    field: str | None = None,
    kind: type[EventValidationError] = EventValidationError,
) -> EventValidationError:
    error = kind(f"{source}:{line}: {message}")
    error.field = field
    error.line = line  # type: ignore[attr-defined]
    return error


@dataclass(frozen=True)
class AppendReport:
    """What :func:`append_jsonl` wrote: new events, those already stored, the sequences."""

    source: str
    written: int
    already_present: int
    first_sequence: int | None
    last_sequence: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        present = f", {self.already_present} already present" if self.already_present else ""
        span = f"; sequences {self.first_sequence}..{self.last_sequence}" if self.written else ""
        return f"appended {self.written} event(s){present}{span}"


def append_jsonl(
    log: str | os.PathLike[str],
    lines: str | os.PathLike[str] | Iterable[str | bytes],
    *,
    source: str | None = None,
    batch_size: int = 1_000,
) -> AppendReport:
    """Append the events of a JSON Lines file (a path, or lines) to ``log``.

    Every line is validated before anything is written; then events are appended in
    transactions of ``batch_size``, each all or nothing. An error names
    ``source:line``; a conflict in a later batch leaves the earlier ones written (the
    message says how many). ``source`` names the input in errors (default: the path).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    if isinstance(lines, str | os.PathLike):
        source = source or str(lines)
        with open(lines, "rb") as fh:
            events = read_event_lines(fh, source)
    else:
        source = source or "<input>"
        events = read_event_lines(lines, source)
    with EventStore.open(log) as store:
        before = store.last_sequence()
        stored = []
        for start in range(0, len(events), batch_size):
            batch = events[start : start + batch_size]
            try:
                stored += store.append_all([event for _, event in batch])
            except EventkitError as exc:
                index = getattr(exc, "index", None)
                if index is None:
                    raise
                earlier = f" ({len(stored)} earlier event(s) were written)" if stored else ""
                # Restate the message for the line but keep the error's class, so a
                # caller can still catch DuplicateEventError or ConcurrencyError.
                exc.args = (
                    f"{source}:{batch[index][0]}: {exc}; nothing from this batch was "
                    f"written{earlier}",
                )
                raise
    written = sum(1 for s in stored if s.sequence > before)
    return AppendReport(
        source=source,
        written=written,
        already_present=len(stored) - written,
        first_sequence=before + 1 if written else None,
        last_sequence=before + written if written else None,
    )
