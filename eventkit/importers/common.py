"""What every importer reports: the import report, skip reasons, output truncation, timestamps.

The log an import writes to, its batched writes and the files it reads are in
:mod:`eventkit.importers.import_run`; the events of sessions are made by
:mod:`eventkit.importers.session_builder`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from eventkit.catalog import pricing
from eventkit.catalog.events import Event, ProjectCreated, TokenUsage, derived_id, parse_timestamp
from eventkit.log.store import EventStore, NewEvent

BATCH_SIZE = 1_000
MAX_TOOL_OUTPUT_CHARS = 256 * 1024
"""Tool outputs longer than this keep head and tail; the original size goes to metadata."""
MAX_LINE_WARNINGS_PER_FILE = 10
"""Warnings naming a file's lines (``file:line: reason``) listed per file; the rest are counted."""

INVALID_JSON = "invalid JSON"
TRUNCATED_LAST_LINE = "truncated last line"
UNKNOWN_RECORD_TYPE = "unknown record type"
"""Skip reasons every JSONL importer uses for damaged lines."""


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
    events_by_type: Counter[str] = field(default_factory=Counter)
    """Events written (new to the log), by event type."""
    cost_sources: Counter[str] = field(default_factory=Counter)
    """Model calls (turns, for a format without calls) by where their cost came from."""
    unpriced_models: Counter[str] = field(default_factory=Counter)
    """Models the price table does not know → model calls whose cost was left empty."""
    prices_as_of: str | None = None
    """The price table's date, once a cost has been estimated from it."""
    skipped_lines: list[tuple[str, int, str]] = field(default_factory=list)
    """Every damaged line skipped: ``(file, line, reason)`` (warnings list the first few)."""
    _line_warnings: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _unlisted: Counter[str] = field(default_factory=Counter, init=False, repr=False)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def skip_line(self, file: object, line: int, reason: str, detail: str | None = None) -> None:
        """Skip a damaged line: count it by reason and name it (``file:line``) in a warning."""
        self.skip(reason)
        text = f"{reason} ({detail})" if detail else reason
        self.skipped_lines.append((str(file), line, text))
        self.warn_line(file, line, f"{text}; line skipped")

    def warn_line(self, file: object, line: int, message: str) -> None:
        """A warning about one line; past :data:`MAX_LINE_WARNINGS_PER_FILE` only counted."""
        key = str(file)
        self._line_warnings[key] += 1
        if self._line_warnings[key] <= MAX_LINE_WARNINGS_PER_FILE:
            self.warnings.append(f"{key}:{line}: {message}")
        else:
            self._unlisted[key] += 1

    def end_file(self, file: object) -> None:
        """Say how many of the file's line warnings were not listed, if any."""
        key = str(file)
        more = self._unlisted.pop(key, 0)
        self._line_warnings.pop(key, None)
        if more:
            self.warnings.append(f"{key}: {more} more line warning(s) not listed")

    def priced(
        self, source: str | None, unpriced: Iterable[str] = (), as_of: str | None = None
    ) -> None:
        """Count a priced call's (or turn's) cost source, or the models that left it unpriced."""
        if source is not None:
            self.cost_sources[source] += 1
        for model in unpriced:
            self.unpriced_models[model] += 1
        if as_of is not None:
            self.prices_as_of = as_of

    priced_turn = priced  # the name older importers use

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
            "events_by_type": dict(sorted(self.events_by_type.items())),
            "threads": self.threads,
            "lines_skipped": self.lines_skipped,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_lines": [
                {"file": file, "line": line, "reason": reason}
                for file, line, reason in self.skipped_lines
            ],
            "warnings": [*self.cost_warnings(), *self.warnings],
            "counts": dict(sorted(self.counts.items())),
            "cost_sources": dict(sorted(self.cost_sources.items())),
            "unpriced_models": dict(sorted(self.unpriced_models.items())),
            "prices_as_of": self.prices_as_of,
        }

    def cost_warnings(self) -> list[str]:
        """One line per model the price table does not know."""
        return [
            f"no price for model {model} ({calls} model call(s)): cost left empty"
            for model, calls in sorted(self.unpriced_models.items())
        ]

    def __str__(self) -> str:
        lines = [
            f"{self.source_format}: {self.files} file(s), {self.lines_read} line(s) read, "
            f"{self.events_written} event(s) written, "
            f"{self.events_already_present} already present, {self.threads} thread(s)",
        ]
        for event_type, count in sorted(self.events_by_type.items()):
            lines.append(f"  wrote {count} × {event_type}")
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped {count} × {reason}")
        lines.extend(f"  {count} × {what}" for what, count in sorted(self.counts.items()))
        if self.cost_sources:
            sources = ", ".join(f"{n} {src}" for src, n in sorted(self.cost_sources.items()))
            dated = f" (prices as of {self.prices_as_of})" if self.prices_as_of else ""
            lines.append(f"  model call costs: {sources}{dated}")
        lines.extend(f"  warning: {w}" for w in self.cost_warnings())
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def open_log(log: str | os.PathLike[str] | EventStore) -> tuple[EventStore, bool]:
    """The store to write to, and whether this call opened it (and must close it)."""
    if isinstance(log, EventStore):
        return log, False
    return EventStore.open(log), True


class EventWriter:
    """Collects an import's events and appends them in validated, atomic batches.

    Event ids derive from source identity and content, never from the clock or the
    price table, so an event already in the log is the same fact: before each batch is
    appended, the ids the log holds are dropped (counted as already present), without
    comparing payloads. Re-importing unchanged input therefore writes nothing, even
    after the price table changed what an estimate would say.
    """

    def __init__(self, store: EventStore, report: ImportReport, batch_size: int = BATCH_SIZE):
        self.store = store
        self.report = report
        self.batch_size = batch_size
        self._pending: dict[str, NewEvent] = {}

    def add(
        self,
        event: Event,
        source_identity: Iterable[object],
        metadata: dict | None,
        *,
        once: bool = False,
        id_at: datetime | None = None,
    ) -> str:
        """Queue ``event`` with an id derived from its source identity; returns the id.

        ``id_at``: the time the id is derived from, when not the event's own ``at``
        (an event whose ``at`` moves as its source grows keeps one id). ``once`` is
        accepted for older callers: every event is written once now.
        """
        event_id = derived_id(id_at or event.at, *source_identity)
        return self.add_with_id(event, event_id, metadata)

    def add_with_id(self, event: Event, event_id: str, metadata: dict | None) -> str:
        """Queue ``event`` under an id the caller derived (see :meth:`add`)."""
        pending = self._pending
        if event_id in pending:  # the same fact twice in one batch: the first stands
            self.report.events_already_present += 1
            return event_id
        pending[event_id] = NewEvent(event, event_id=event_id, metadata=metadata)
        if len(pending) >= self.batch_size:
            self.flush()
        return event_id

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        present = self.store.known_event_ids(pending)
        if present:
            self.report.events_already_present += len(present)
            for event_id in present:
                del pending[event_id]
        if not pending:
            return
        before = self.store.last_sequence()
        stored = self.store.append_all(pending.values())
        written = 0
        by_type = self.report.events_by_type
        for item in stored:
            if item.sequence > before:
                written += 1
                by_type[item.event_type] += 1
        self.report.events_written += written
        self.report.events_already_present += len(stored) - written


@dataclass(frozen=True)
class UsagePart:
    """Tokens of a turn spent on one model (a Claude Code API response, a Codex turn)."""

    model: str | None
    usage: TokenUsage
    cache_write_1h_tokens: int = 0
    recorded_usd: float | None = None
    """The cost the source recorded for these tokens, if it did."""


def turn_cost(
    report: ImportReport, parts: Iterable[UsagePart]
) -> tuple[float | None, str | None, dict[str, Any]]:
    """``(cost_usd, cost_source, metadata)`` of a completed turn, counted in the report.

    Recorded costs win. Tokens without one are priced from the shipped table
    (:mod:`eventkit.catalog.pricing`), which makes the turn's cost ``estimated``. Tokens on a
    model the table does not know leave the cost empty and the model is reported. A
    turn without tokens costs 0.
    """
    recorded = estimated = 0.0
    any_recorded = any_estimated = False
    priced_as: dict[str, None] = {}
    unpriced: dict[str, None] = {}
    one_hour = 0
    for part in parts:
        if part.recorded_usd is not None:
            recorded += part.recorded_usd
            any_recorded = True
            continue
        if part.usage.total_tokens == 0:
            continue
        price = pricing.price_for(part.model)
        if price is None:
            unpriced[part.model or "(no model)"] = None
            continue
        estimated += price.cost(part.usage, cache_write_1h_tokens=part.cache_write_1h_tokens)
        any_estimated = True
        priced_as[price.model] = None
        one_hour += part.cache_write_1h_tokens
    if unpriced:
        report.priced_turn(None, unpriced)
        return None, None, {"unpriced_models": list(unpriced)}
    if any_recorded and not any_estimated:
        report.priced_turn("recorded")
        return round(recorded, 9), "recorded", {}
    meta: dict[str, Any] = {"prices_as_of": pricing.PRICES_AS_OF}
    if priced_as:
        meta["priced_as"] = list(priced_as)
    if one_hour:
        meta["cache_write_1h_tokens"] = one_hour
    if any_recorded:
        meta["recorded_usd"] = round(recorded, 9)
    report.priced_turn("estimated", as_of=pricing.PRICES_AS_OF)
    return round(recorded + estimated, 9), "estimated", meta


def call_cost(
    report: ImportReport,
    model: str | None,
    usage: TokenUsage,
    recorded_usd: float | None = None,
    cache_write_1h_tokens: int = 0,
) -> tuple[float | None, str | None, dict[str, Any]]:
    """``(cost_usd, cost_source, metadata)`` of one model call, counted in the report.

    A cost the source recorded wins (``recorded``). Otherwise the usage is priced on
    the call's model from the shipped table (``estimated``; 1-hour cache writes at their
    own rate). A model the table does not know leaves the cost empty and is reported;
    a call without tokens on such a model has no cost and is not reported.
    """
    if recorded_usd is not None:
        report.priced("recorded")
        return round(recorded_usd, 9), "recorded", {}
    price = pricing.price_for(model)
    if price is None:
        if usage.total_tokens == 0:
            return None, None, {}
        report.priced(None, [model or "(no model)"])
        return None, None, {"unpriced_model": model}
    cost = price.cost(usage, cache_write_1h_tokens=cache_write_1h_tokens)
    report.priced("estimated", as_of=pricing.PRICES_AS_OF)
    meta: dict[str, Any] = {"prices_as_of": pricing.PRICES_AS_OF, "priced_as": price.model}
    if cache_write_1h_tokens:
        meta["cache_write_1h_tokens"] = cache_write_1h_tokens
    return cost, "estimated", meta


def ensure_project(
    store: EventStore, writer: EventWriter, path: str, at: datetime, source: dict
) -> str:
    """The id of the project at ``path``: an existing one in the log, or a new one."""
    writer.flush()  # a project queued earlier in this import must be visible
    existing = store.project_by_path(path)
    if existing is not None:
        return existing
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
