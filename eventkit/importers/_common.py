"""What every importer shares: the import report, the log handle, and batched writes."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..events import Event, ProjectCreated, derived_id, parse_timestamp
from ..store import EventStore, NewEvent

BATCH_SIZE = 1_000
MAX_TOOL_OUTPUT_CHARS = 256 * 1024
"""Tool outputs longer than this keep head and tail; the original size goes to metadata."""


@dataclass
class ImportReport:
    """What an import read, wrote and skipped (by reason)."""

    source_format: str
    files: int = 0
    lines_read: int = 0
    events_written: int = 0
    events_already_present: int = 0
    threads: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """What was mapped, by kind (turns, tool calls, subagent threads, …)."""

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    @property
    def lines_skipped(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_format": self.source_format,
            "files": self.files,
            "lines_read": self.lines_read,
            "events_written": self.events_written,
            "events_already_present": self.events_already_present,
            "threads": self.threads,
            "lines_skipped": self.lines_skipped,
            "skipped": dict(sorted(self.skipped.items())),
            "warnings": list(self.warnings),
            "counts": dict(sorted(self.counts.items())),
        }

    def __str__(self) -> str:
        lines = [
            f"{self.source_format}: {self.files} file(s), {self.lines_read} line(s) read, "
            f"{self.events_written} event(s) written, "
            f"{self.events_already_present} already present, {self.threads} thread(s)",
        ]
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped {count} × {reason}")
        lines.extend(f"  {count} × {what}" for what, count in sorted(self.counts.items()))
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def open_log(log: str | os.PathLike[str] | EventStore) -> tuple[EventStore, bool]:
    """The store to write to, and whether this call opened it (and must close it)."""
    if isinstance(log, EventStore):
        return log, False
    return EventStore.open(log), True


class EventWriter:
    """Collects an importer's events and appends them in atomic batches."""

    def __init__(self, store: EventStore, report: ImportReport, batch_size: int = BATCH_SIZE):
        self.store = store
        self.report = report
        self.batch_size = batch_size
        self._pending: list[NewEvent] = []

    def add(self, event: Event, source_identity: Iterable[object], metadata: dict | None) -> str:
        """Queue ``event`` with an id derived from its source identity; returns the id."""
        event_id = derived_id(event.at, *source_identity)
        self._pending.append(NewEvent(event, event_id=event_id, metadata=metadata))
        if len(self._pending) >= self.batch_size:
            self.flush()
        return event_id

    def flush(self) -> None:
        if not self._pending:
            return
        before = self.store.last_sequence()
        stored = self.store.append_all(self._pending)
        written = sum(1 for s in stored if s.sequence > before)
        self.report.events_written += written
        self.report.events_already_present += len(stored) - written
        self._pending = []


def ensure_project(
    store: EventStore, writer: EventWriter, path: str, at: datetime, source: dict
) -> str:
    """The id of the project at ``path``: an existing one in the log, or a new one."""
    writer.flush()  # a project queued earlier in this import must be visible
    row = store.conn.execute(
        "SELECT project_id FROM projection_projects WHERE path = ? AND deleted_at IS NULL "
        "ORDER BY created_at LIMIT 1",
        (path,),
    ).fetchone()
    if row:
        return row[0]
    project_id = derived_id(at, "project", path)
    name = Path(path).name or path
    writer.add(
        ProjectCreated(id=project_id, name=name, path=path, at=at),
        ("project", path),
        {"source": source},
    )
    writer.flush()
    return project_id


def truncate_output(text: str, metadata: dict) -> str:
    """Keep head and tail of a long tool output, recording the original size in metadata."""
    if len(text) <= MAX_TOOL_OUTPUT_CHARS:
        return text
    half = MAX_TOOL_OUTPUT_CHARS // 2
    metadata["output_truncated"] = {"original_chars": len(text), "kept_chars": 2 * half}
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n… [{omitted} characters omitted by eventkit] …\n{text[-half:]}"


def source_timestamp(value: Any) -> datetime | None:
    """A source record's ISO timestamp as aware UTC, or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
