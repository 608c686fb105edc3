"""Consolidating logs: ``merge(sources, into)``.

Events keep their ``event_id``; the destination assigns its own ``sequence`` and
``stream_version`` (streams such as ``settings`` exist in many logs). Each source is
read in its own sequence order, so every stream keeps its source order. Merging is
idempotent by ``event_id``: merging the same sources twice adds nothing. Each merged
event's metadata records where it came from (``merged_from``: source log_id and
sequence).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from eventkit.catalog.events import EVENT_TYPES
from eventkit.errors import DuplicateEventError, EventkitError, sqlite_errors
from eventkit.log.files import open_log_readonly
from eventkit.log.store import EventStore, NewEvent
from eventkit.progress import progress_bar

BATCH_SIZE = 1_000


@dataclass
class MergeReport:
    sources: int = 0
    events_read: int = 0
    events_written: int = 0
    events_already_present: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "events_read": self.events_read,
            "events_written": self.events_written,
            "events_already_present": self.events_already_present,
            "skipped": dict(sorted(self.skipped.items())),
        }

    def __str__(self) -> str:
        lines = [
            f"merged {self.sources} log(s): {self.events_read} event(s) read, "
            f"{self.events_written} written, {self.events_already_present} already present"
        ]
        lines += [f"  skipped {n} × {why}" for why, n in sorted(self.skipped.items())]
        return "\n".join(lines)


def merge(
    sources: list[str | os.PathLike[str]] | str | os.PathLike[str],
    into: str | os.PathLike[str] | EventStore,
    *,
    progress: bool | None = None,
) -> MergeReport:
    """Append every event of ``sources`` to the log ``into`` (created if needed)."""
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    report = MergeReport()
    store, owned = (into, False) if isinstance(into, EventStore) else (EventStore.open(into), True)
    try:
        for source in sources:
            _merge_one(source, store, report, progress)
            report.sources += 1
    finally:
        if owned:
            store.close()
    return report


def _merge_one(source, store: EventStore, report: MergeReport, progress: bool | None) -> None:
    with closing(open_log_readonly(source)) as conn, sqlite_errors(f"reading {source}"):
        log_id = dict(conn.execute("SELECT key, value FROM log_info")).get("log_id")
        if log_id is not None and store.path is not None:
            own = store.conn.execute("SELECT value FROM log_info WHERE key = 'log_id'").fetchone()
            if own and own[0] == log_id:
                raise EventkitError(f"{source} is the destination log itself (log_id {log_id})")
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        cursor = conn.execute(
            "SELECT sequence, event_id, event_type, payload, metadata FROM events ORDER BY sequence"
        )
        with progress_bar(total=total, desc=f"merge {source}", unit="ev", enabled=progress) as bar:
            while rows := cursor.fetchmany(BATCH_SIZE):
                batch = []
                for sequence, event_id, event_type, payload, metadata in rows:
                    report.events_read += 1
                    model = EVENT_TYPES.get(event_type)
                    if model is None:
                        report.skipped[f"unknown event type {event_type}"] += 1
                        continue
                    try:
                        event = model.model_validate_json(payload)
                    except ValidationError as exc:
                        raise EventkitError(
                            f"{source}: event {sequence} does not match the catalog: {exc}"
                        ) from exc
                    meta = json.loads(metadata) if metadata else {}
                    meta["merged_from"] = {"log_id": log_id, "sequence": sequence}
                    batch.append(NewEvent(event, event_id=event_id, metadata=meta))
                _append(store, batch, report, source)
                bar.update(len(rows))


def _append(store: EventStore, batch: list[NewEvent], report: MergeReport, source) -> None:
    if not batch:
        return
    before = store.last_sequence()
    try:
        stored = store.append_all(batch)
    except DuplicateEventError as exc:
        raise DuplicateEventError(
            f"{source}: event_id {exc.event_id!r} is already in the destination with a "
            "different payload; the logs disagree about that event",
            event_id=exc.event_id,
        ) from exc
    written = sum(1 for s in stored if s.sequence > before)
    report.events_written += written
    report.events_already_present += len(stored) - written
