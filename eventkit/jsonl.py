"""Canonical events as JSON Lines: one event per line, for ``eventkit append``.

A line is either an event payload (``{"type": "ProjectCreated", "at": ..., ...}``) or
an envelope ``{"event": {...}, "event_id": "...", "metadata": {...}}``. Blank lines
are ignored. Errors name the source and line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from pydantic import ValidationError

from .errors import EventValidationError
from .events import parse_event
from .store import NewEvent, _validation_error

_ENVELOPE_KEYS = {"event", "event_id", "metadata", "expected_version"}


def read_event_lines(
    lines: Iterable[str | bytes], source: str = "<input>"
) -> list[tuple[int, NewEvent]]:
    """Parse and validate every line into ``(line number, event)``.

    Raises :class:`EventValidationError` on the first bad line, naming ``source:line``.
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
        if not isinstance(data, dict):
            raise _line_error(source, number, "expected a JSON object")
        if "event" in data and set(data) <= _ENVELOPE_KEYS:
            payload, extra = data["event"], data
        else:
            payload, extra = data, {}
        if not isinstance(payload, dict):
            raise _line_error(source, number, "'event' must be a JSON object")
        try:
            event = parse_event(payload)
        except ValidationError as exc:
            inner = _validation_error(exc, 0)
            detail = str(inner).removeprefix("event 0, ")
            raise _line_error(source, number, detail, inner.field) from None
        envelope = NewEvent(
            event,
            event_id=extra.get("event_id"),
            metadata=extra.get("metadata"),
            expected_version=extra.get("expected_version"),
        )
        parsed.append((number, envelope))
    return parsed


def _line_error(
    source: str, line: int, message: str, field: str | None = None
) -> EventValidationError:
    error = EventValidationError(f"{source}:{line}: {message}")
    error.field = field
    error.line = line  # type: ignore[attr-defined]
    return error
