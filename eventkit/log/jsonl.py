"""Canonical events as JSON Lines: one event per line, for ``eventkit append``.

A line is either an event payload (``{"type": "ProjectCreated", "at": ..., ...}``) or
an envelope ``{"event": {...}, "event_id": "...", "metadata": {...}}``. Blank lines
are ignored. Every line is checked as the store would check it (the event, its
envelope, its size as JSON) before anything is written, so a bad line anywhere in a
file fails the whole file. Errors name the source, the line number and the field.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from eventkit.errors import EventValidationError
from eventkit.log.store import NewEvent, validate_event

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
