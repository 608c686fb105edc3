"""One import: the log it writes to, its report, its writer, and the files it reads.

Every importer runs inside an :class:`ImportRun`::

    with ImportRun("claude-code", log, progress=progress, total_bytes=size) as run:
        for path in files:
            with run.file(path) as source:
                for number, record in source.jsonl_records():
                    ...  # parse, and tell the session builder what happened
    report = run.report

The run opens the log (a path or an open :class:`~eventkit.EventStore`; ``None`` is an
error naming the importer), flushes the writer when the block ends without an error and
closes a log it opened. A :class:`SourceFile` counts the file, names its lines in
provenance metadata (:meth:`SourceFile.source`) and in warnings, and reads JSON Lines
(:meth:`SourceFile.jsonl_records`), skipping damaged lines by reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from eventkit.errors import EventkitError
from eventkit.importers.common import (
    INVALID_JSON,
    TRUNCATED_LAST_LINE,
    EventWriter,
    ImportReport,
    open_log,
)
from eventkit.log.store import EventStore
from eventkit.progress import progress_bar

NOT_A_JSON_OBJECT = "not a JSON object"
NOT_UTF8 = "not UTF-8"
BLANK_LINE = "blank line"
_PROGRESS_STEP = 1 << 20  # bytes between progress-bar updates


class ImportRun:
    """The log, report and writer of one import (a context manager).

    ``log`` is a log path or an open :class:`EventStore` (kept open); ``None`` raises
    :class:`~eventkit.EventkitError`. ``total_bytes`` sizes the progress bar, shown in a
    terminal unless ``progress=False`` (``True`` forces it).
    """

    def __init__(
        self,
        source_format: str,
        log: str | os.PathLike[str] | EventStore | None,
        *,
        progress: bool | None = None,
        total_bytes: int | None = None,
        unit: str = "B",
    ):
        if log is None:
            raise EventkitError(
                f"importing {source_format} needs a log to write to (a path or an EventStore)"
            )
        self.source_format = source_format
        self.report = ImportReport(source_format)
        self.store, self._owned = open_log(log)
        self.writer = EventWriter(self.store, self.report)
        self._bar = progress_bar(
            total=total_bytes,
            desc=source_format,
            unit=unit,
            enabled=progress,
        )
        if unit == "B":
            self._bar.unit_scale = True

    def __enter__(self) -> ImportRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.writer.flush()
        finally:
            self._bar.close()
            if self._owned:
                self.store.close()

    def file(self, path: str | os.PathLike[str]) -> SourceFile:
        """A source file of this import (a context manager counting it in the report)."""
        return SourceFile(self, Path(path))

    def advance(self, amount: int) -> None:
        """Move the progress bar (bytes read, or records for a database source)."""
        self._bar.update(amount)


class SourceFile:
    """One file an import reads: its provenance, its line warnings, its JSON Lines."""

    def __init__(self, run: ImportRun, path: Path):
        self.run = run
        self.path = path
        self.label = str(path)
        self.report = run.report
        self.lines = 0
        """Lines read so far."""

    def __enter__(self) -> SourceFile:
        self.report.files += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.report.end_file(self.label)

    def source(self, line: int | None = None, **ids: Any) -> dict[str, Any]:
        """Provenance for an event: ``{"format", "file", "line", **ids}`` (``None``s left out).

        ``ids`` are the source's own identifiers of the record (``uuid``, ``record_id``,
        ``tool_use_id``…), so an event can be traced back to the line it came from.
        """
        src: dict[str, Any] = {"format": self.run.source_format, "file": self.label}
        if line is not None:
            src["line"] = line
        for key, value in ids.items():
            if value is not None and value != "":
                src[key] = value
        return src

    def skip_line(self, line: int, reason: str, detail: str | None = None) -> None:
        """A damaged line: counted by reason and named (``file:line``) in a warning."""
        self.report.skip_line(self.label, line, reason, detail)

    def warn_line(self, line: int, message: str) -> None:
        self.report.warn_line(self.label, line, message)

    def jsonl_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, object)`` for each line that is a JSON object.

        Blank lines are counted (``blank line``); damaged ones are skipped and named:
        ``invalid JSON``, ``truncated last line`` (the last line, without its newline,
        does not parse: a file cut off while it was written, which imports once the
        line is finished), ``not UTF-8``, ``not a JSON object``. A file that cannot be
        read is skipped whole (``unreadable file``), with a warning; an empty file is
        named in a warning.
        """
        report = self.report
        pending = 0
        try:
            with open(self.path, "rb") as lines:
                for number, raw in enumerate(lines, 1):
                    self.lines = number
                    report.lines_read += 1
                    pending += len(raw)
                    if pending >= _PROGRESS_STEP:
                        self.run.advance(pending)
                        pending = 0
                    try:
                        record = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        if not raw.strip():
                            report.skip(BLANK_LINE)
                            continue
                        self.skip_line(number, _decode_reason(raw), str(exc))
                        continue
                    if type(record) is not dict:
                        self.skip_line(number, NOT_A_JSON_OBJECT, type(record).__name__)
                        continue
                    yield number, record
        except OSError as exc:
            report.skip("unreadable file")
            report.warnings.append(f"{self.label}: cannot be read ({exc})")
            return
        finally:
            self.run.advance(pending)
        if self.lines == 0:
            report.warnings.append(f"{self.label}: empty file; nothing imported")


def _decode_reason(raw: bytes) -> str:
    """Why a line does not parse: cut off at the end of the file, not UTF-8, or bad JSON."""
    if not raw.endswith(b"\n"):
        return TRUNCATED_LAST_LINE  # only the last line can lack its newline
    try:
        raw.decode()
    except UnicodeDecodeError:
        return NOT_UTF8
    return INVALID_JSON


__all__ = ["BLANK_LINE", "NOT_A_JSON_OBJECT", "NOT_UTF8", "ImportRun", "SourceFile"]
