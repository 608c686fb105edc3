"""Exporting logs to a Parquet dataset: ``export_parquet(logs, out_dir)``.

The dataset is a directory that DuckDB, pyarrow and Spark read with hive partitioning::

    DIR/_eventkit_manifest.json
    DIR/events/event_type=<EventType>/date=<YYYY-MM-DD>/part-<source_log>-<first>-<last>.parquet

A part file holds events of one type, on one UTC day of ``occurred_at``, from one log:
the envelope (:data:`~eventkit.read.datasets.DATASET_ENVELOPE`: ``source_log`` — the log's
``log_id`` —, ``sequence``, ``event_id``, ``stream_id``, ``stream_version``,
``occurred_at``, ``recorded_at``, ``schema_version``, ``payload``, ``metadata``), then
the type's payload columns from :mod:`eventkit.catalog.columns`, as the DuckDB typed views
have them (JSON as text, timestamps as ``timestamp[us, UTC]``). ``first`` and
``last`` are the lowest and highest sequence in the file. An event type this eventkit
does not know gets the envelope only. ``event_type`` and ``date`` are in the path only.

The manifest (``{"format": 1, "sources": {log_id: {"last_sequence", "path",
"events", "exported_at"}}}``) says which events the dataset holds: those of each log
up to its ``last_sequence``. Exporting again appends the events after it, never one
twice. An export goes in batches of sequences; each writes its part files first and
then replaces the manifest atomically. A crashed export leaves part files past the
manifest, which readers ignore and the next export deletes before it goes on from
the last committed batch. Logs are read through the read side and never written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from eventkit.catalog.columns import EVENTS_COLUMNS
from eventkit.catalog.events import EVENT_TYPES, format_timestamp
from eventkit.errors import EventkitError, map_driver_error
from eventkit.log.files import DEFAULT_LOG_NAME
from eventkit.progress import progress_bar
from eventkit.read.chunks import write_json_atomic
from eventkit.read.datasets import (
    DATASET_ENVELOPE,
    DATASET_FORMAT,
    DATASET_MANIFEST,
    part_file_range,
    read_dataset_manifest,
)
from eventkit.read.engine import quote_ident, quote_literal
from eventkit.read.readers import LogReader
from eventkit.read.source import open_source
from eventkit.read.views import live_typed_select

BATCH_EVENTS = 250_000
"""Sequences exported (and committed to the manifest) at a time."""

_DATE = "CAST(CAST(occurred_at AS TIMESTAMPTZ) AS DATE) AS date"  # over the stored text
_ENVELOPE = DATASET_ENVELOPE[1:]  # source_log is a constant of each export


@dataclass
class SourceExport:
    """What one export did for one log."""

    path: str
    log_id: str
    events: int = 0
    files: int = 0
    first_sequence: int | None = None
    last_sequence: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ExportReport:
    """What :func:`export_parquet` wrote: per log, the events and files; the time it took."""

    out_dir: str
    sources: list[SourceExport] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def events(self) -> int:
        return sum(s.events for s in self.sources)

    @property
    def files(self) -> int:
        return sum(s.files for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "events": self.events,
            "files": self.files,
            "elapsed_s": round(self.elapsed_s, 3),
            "sources": [s.as_dict() for s in self.sources],
        }

    def __str__(self) -> str:
        lines = [
            f"exported {self.events} event(s) from {len(self.sources)} log(s) to "
            f"{self.out_dir}: {self.files} file(s) in {self.elapsed_s:.1f}s"
        ]
        for s in self.sources:
            span = f"sequences {s.first_sequence}..{s.last_sequence}" if s.events else "up to date"
            lines.append(f"  {s.path} (log_id {s.log_id}): {s.events} event(s), {span}")
        return "\n".join(lines)


def export_parquet(
    logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool | None = None,
) -> ExportReport:
    """Export the events of ``logs`` to the Parquet dataset ``out_dir`` (created if needed).

    Incremental: a log already in the dataset contributes the events after those it
    holds. Every log is opened (and checked) before anything is written, so a
    missing log raises :class:`~eventkit.LogNotFoundError` and writes nothing.
    ``out_dir`` must be a dataset or a new or empty directory.
    """
    start = time.perf_counter()
    paths = [logs] if isinstance(logs, str | os.PathLike) else list(logs)
    out = Path(out_dir)
    report = ExportReport(str(out_dir))
    readers: list[LogReader] = []
    try:
        for path in paths:
            readers.append(LogReader(open_source(path), False))
        _check_target(out)
        out.mkdir(parents=True, exist_ok=True)
        with _locked(out):
            manifest = _read_manifest(out)
            _remove_uncommitted(out, manifest)
            for path, reader in zip(paths, readers, strict=True):
                report.sources.append(_export_log(reader, str(path), out, manifest, progress))
    finally:
        for reader in readers:
            reader.close()
    report.elapsed_s = time.perf_counter() - start
    return report


# ------------------------------------------------------------------ the target


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EventkitError(f"{out} is a file, not a dataset directory")
    if not out.is_dir() or (out / DATASET_MANIFEST).is_file():
        return
    # A directory without a manifest: new, or left by a first export that crashed.
    foreign = [p.name for p in out.iterdir() if p.name not in ("events", ".lock")]
    foreign = [name for name in foreign if not name.startswith((".staging-", ".manifest-"))]
    if foreign:
        what = "an eventkit log" if DEFAULT_LOG_NAME in foreign else "other files"
        raise EventkitError(
            f"{out} holds {what} and no eventkit dataset: export into a new or empty directory"
        )


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One export at a time into a dataset (across processes)."""
    with open(out / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EventkitError(f"another export into {out} is running") from None
        yield


def _read_manifest(out: Path) -> dict[str, Any]:
    if (out / DATASET_MANIFEST).is_file():
        return read_dataset_manifest(out)
    return {"format": DATASET_FORMAT, "sources": {}}


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Replace the manifest atomically, once the files it lists are on disk."""
    # Durable: the part files first, so the manifest never lists a file not yet written.
    write_json_atomic(out / DATASET_MANIFEST, manifest, durable=True)


def _remove_uncommitted(out: Path, manifest: dict[str, Any]) -> None:
    """Delete what a crashed export left: staging folders, part files past the manifest."""
    for staging in out.glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
    for tmp in out.glob(".manifest-*.tmp"):
        tmp.unlink(missing_ok=True)
    sources = manifest["sources"]
    for part in out.glob("events/*/*/part-*.parquet"):
        parsed = part_file_range(part)
        if parsed is None:
            continue
        source, first, _ = parsed
        if source not in sources or first > int(sources[source]["last_sequence"]):
            part.unlink()


# ------------------------------------------------------------------ one log


def _export_log(
    reader: LogReader, path: str, out: Path, manifest: dict[str, Any], progress: bool | None
) -> SourceExport:
    log = reader.log
    if not log.log_id:
        raise EventkitError(f"{path} has no log_id in its log_info table")
    entry = manifest["sources"].get(log.log_id)
    after = int(entry["last_sequence"]) if entry else 0
    through = log.last_sequence
    if through < after:
        raise EventkitError(
            f"{out} holds events of log {log.log_id} through sequence {after}, but {path} "
            f"ends at {through}: it is not the history that was exported"
        )
    done = SourceExport(path, log.log_id, last_sequence=through)
    if entry and after == through and entry.get("path") == path:
        return done  # nothing new: the manifest (and caches keyed by it) stay as they are
    total = sum(_new_events_by_type(reader.con, after, through).values())
    events = int(entry.get("events", 0)) if entry else 0
    with progress_bar(total=total, desc=f"export {path}", unit="ev", enabled=progress) as bar:
        # In batches of sequences: memory stays bounded, and each batch is committed.
        for start in range(after, through, BATCH_EVENTS) if total else [after]:
            end = min(start + BATCH_EVENTS, through)
            rows = _export_batch(reader, log.log_id, start, end, out, bar)
            events += sum(int(row[1]) for row in rows)
            done.events += sum(int(row[1]) for row in rows)
            done.files += len(rows)
            first = [int(row[-1]) for row in rows]
            if first and done.first_sequence is None:
                done.first_sequence = min(first)
            manifest["sources"][log.log_id] = {
                "last_sequence": end,
                "path": path,
                "events": events,
                "exported_at": format_timestamp(datetime.now(UTC)),
            }
            _write_manifest(out, manifest)
    if done.events != total:
        raise EventkitError(f"exporting {path}: wrote {done.events} events of {total}")
    return done


def _export_batch(
    reader: LogReader, log_id: str, after: int, through: int, out: Path, bar: Any
) -> list[tuple]:
    """Write the events in ``(after, through]`` as part files; a row per file, with its first."""
    counts = _new_events_by_type(reader.con, after, through)
    if not counts:
        return []
    staging = out / f".staging-{os.getpid()}-{os.urandom(4).hex()}"
    staging.mkdir()
    try:

        def write(event_type: str) -> list[tuple]:
            rows = _copy(reader.con, event_type, log_id, after, through, staging)
            bar.update(counts[event_type])
            return rows

        workers = max(1, min(4, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            written = [row for rows in pool.map(write, sorted(counts)) for row in rows]
        if sum(int(row[1]) for row in written) != sum(counts.values()):
            raise EventkitError(f"exporting sequences {after + 1}..{through}: rows went missing")
        return [(*row, _publish(row, staging, out, log_id)) for row in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _new_events_by_type(con: duckdb.DuckDBPyConnection, after: int, through: int) -> dict:
    """``event_type -> count`` of the events in ``(after, through]``, from the type index.

    A loose index scan: SQLite jumps from one event type to the next in the
    ``(event_type, sequence)`` index, and counts each type's range there.
    """
    bounds = f"sequence > {int(after)} AND sequence <= {int(through)}"
    query = (
        "WITH RECURSIVE t(x) AS (SELECT (SELECT min(event_type) FROM events) UNION ALL "
        "SELECT (SELECT min(event_type) FROM events WHERE event_type > t.x) FROM t "
        "WHERE t.x IS NOT NULL) "
        f"SELECT x, (SELECT count(*) FROM events WHERE event_type = t.x AND {bounds}) "
        "FROM t WHERE x IS NOT NULL"
    )
    try:
        rows = con.execute(f"SELECT * FROM sqlite_query('log', {quote_literal(query)})").fetchall()
    except (duckdb.Error, RuntimeError) as exc:
        raise map_driver_error(exc, "reading the log's event types") from exc
    return {event_type: int(n) for event_type, n in rows if int(n)}


def _select(event_type: str, log_id: str, after: int, through: int) -> str:
    """The rows of one event type as the dataset stores them, plus their ``date``."""
    source = f"{quote_literal(log_id)} AS source_log"
    event_class = EVENT_TYPES.get(event_type)
    if event_class is not None:
        return live_typed_select(
            event_class,
            after,
            through,
            envelope=_ENVELOPE,
            lead=[source],
            tail=[_DATE],
            json_as_text=True,
        )
    # An event type of a newer eventkit: its envelope.
    names = ", ".join(c.name for c in EVENTS_COLUMNS)
    inner = (
        f"SELECT {names} FROM events WHERE event_type = {quote_literal(event_type)} "
        f"AND sequence > {int(after)} AND sequence <= {int(through)} ORDER BY sequence"
    )
    select = ", ".join(
        f"CAST({quote_ident(c.name)} AS {c.duckdb_type}) AS {quote_ident(c.name)}"
        for c in _ENVELOPE
    )
    return f"SELECT {source}, {select}, {_DATE} FROM sqlite_query('log', {quote_literal(inner)})"


def _copy(
    con: duckdb.DuckDBPyConnection,
    event_type: str,
    log_id: str,
    after: int,
    through: int,
    staging: Path,
) -> list[tuple]:
    """Write one event type's new rows under ``staging``, a file per day; their stats."""
    target = staging / f"event_type={event_type}"
    cursor = con.cursor()  # one per thread: each type's read runs on its own core
    try:
        return cursor.execute(
            f"COPY ({_select(event_type, log_id, after, through)}) "
            f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd, "
            "PARTITION_BY (date), RETURN_STATS true)"
        ).fetchall()
    except (duckdb.Error, RuntimeError) as exc:
        raise map_driver_error(exc, f"exporting {event_type} events") from exc
    finally:
        cursor.close()


def _publish(row: tuple, staging: Path, out: Path, log_id: str) -> int:
    """Move a written file to its place, named by its sequence range; its first sequence."""
    written = Path(row[0])
    stats = row[4].get('"sequence"') or row[4].get("sequence") or {}
    try:
        first, last = int(stats["min"]), int(stats["max"])
    except (KeyError, ValueError):  # no statistics: read the column
        first, last = duckdb.execute(
            "SELECT min(sequence), max(sequence) FROM read_parquet(?)", [str(written)]
        ).fetchone()
    relative = written.parent.relative_to(staging)  # event_type=…/date=…
    folder = out / "events" / relative
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(written, folder / f"part-{log_id}-{first}-{last}.parquet")
    return first


__all__ = ["ExportReport", "SourceExport", "export_parquet"]
