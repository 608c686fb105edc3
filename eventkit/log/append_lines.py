"""Appending a JSON Lines file of canonical events to a log, in all-or-nothing batches."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from eventkit.errors import EventkitError
from eventkit.log.jsonl import read_event_lines
from eventkit.log.store import EventStore

__all__ = ["AppendReport", "append_jsonl"]


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
