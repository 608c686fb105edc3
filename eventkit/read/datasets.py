"""Parquet datasets: the format, reading the manifest, the compacted copy, and the views.

A dataset written by :mod:`eventkit.scale.export`: ``DIR/_eventkit_manifest.json`` and
``DIR/events/event_type=<type>/date=<day>/part-<source_log>-<first>-<last>.parquet``.
Only the events the manifest lists are read (sequence <= its last_sequence per
source): part files of an export still running, or of one that crashed, are not.
A dataset has a file per event type and day, often many small ones; every query
would open them all. Large datasets are read through a compacted copy instead: a
chunk store (:mod:`eventkit.read.chunks`) in the cache directory, a chunk of Parquet
files per event type for what the dataset gained since the chunk before.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from eventkit.catalog.columns import EVENTS_COLUMNS, Column, columns_of, typed_columns, view_name
from eventkit.catalog.events import EVENT_CLASSES, EVENT_TYPES, format_timestamp
from eventkit.errors import LogNotFoundError, NotAnEventLogError, UnsupportedSchemaError
from eventkit.read import replay
from eventkit.read.chunks import (
    CACHE_MIN_EVENTS,
    MAX_CHUNKS,
    ChunkStore,
    Copy,
    Manifest,
    cache_root,
    kind_file,
)
from eventkit.read.engine import quote_ident, quote_literal
from eventkit.read.views import create_replay_views, create_tool_categories, schema_check

DATASET_MANIFEST = "_eventkit_manifest.json"
"""The manifest file that makes a directory a dataset."""

DATASET_FORMAT = 1
"""The manifest ``format`` this eventkit writes and reads."""

DATASET_ENVELOPE: tuple[Column, ...] = (
    Column("source_log", "VARCHAR", ""),
    *(c for c in EVENTS_COLUMNS if c.name != "event_type"),
)
"""Columns every dataset file leads with; ``event_type`` and ``date`` are path partitions."""

DATASET_ENTITY_VIEWS: dict[str, Callable[..., str]] = {
    "projects": replay.projects_sql,
    "threads": replay.threads_sql,
    "turns": replay.turns_sql,
    "messages": replay.messages_sql,
    "tool_calls": replay.tool_calls_sql,
    "checkpoints": replay.checkpoints_sql,
    "settings": replay.settings_sql,
    "model_calls": replay.model_calls_sql,
}
"""A dataset's entity views (it has no projection tables): view -> its replay builder."""

_SOURCE_LOG = DATASET_ENVELOPE[0]
_COMPACT_FILES = 2_000  # part files read by one statement of the compaction
_PARTITION_TYPES = "hive_types = {'event_type': VARCHAR, 'date': DATE}"


def dataset_root(src: object) -> Path | None:
    """The dataset directory ``src`` names (one holding a manifest), else None."""
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        if (path / DATASET_MANIFEST).is_file():
            return path
    return None


def read_dataset_manifest(root: Path) -> dict[str, Any]:
    """A dataset's manifest: ``{"format": 1, "sources": {log_id: {...}}}``, checked."""
    path = root / DATASET_MANIFEST
    try:
        data = json.loads(path.read_text())
        sources = data["sources"]
        version = data["format"]
        for entry in sources.values():
            int(entry["last_sequence"])
    except FileNotFoundError:
        raise LogNotFoundError(f"no eventkit dataset at {root} (no {DATASET_MANIFEST})") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotAnEventLogError(f"{path} is not an eventkit dataset manifest ({exc})") from exc
    if version != DATASET_FORMAT:
        raise UnsupportedSchemaError(
            f"{root} is a dataset of format {version}; this eventkit reads format "
            f"{DATASET_FORMAT} — upgrade eventkit"
        )
    return data


@dataclass
class Dataset:
    """A dataset as its manifest describes it."""

    root: Path
    sources: dict[str, dict[str, Any]]  # log_id -> manifest entry, ordered by log_id
    identity: tuple  # of the manifest file

    @classmethod
    def open(cls, root: Path) -> Dataset:
        stat = (root / DATASET_MANIFEST).stat()
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        sources = read_dataset_manifest(root)["sources"]
        return cls(root, dict(sorted(sources.items())), identity)

    def committed(self) -> str:
        """The condition keeping the events the manifest lists."""
        kept = [
            f"(source_log = {quote_literal(s)} AND sequence <= {int(e['last_sequence'])})"
            for s, e in self.sources.items()
        ]
        return " OR ".join(kept) or "false"

    def scan(self, event_type: str | None = None) -> str | None:
        """``read_parquet`` over the part files (of one event type); None if there are none."""
        events = self.root / "events"
        folder = events / f"event_type={event_type}" if event_type else events
        pattern = "*/*.parquet" if event_type else "*/*/*.parquet"
        if next(folder.glob(pattern), None) is None:
            return None
        # Columns are matched by name, from the first file's schema: every file leads
        # with the envelope, and one eventkit writes the same columns for a type. (A
        # union by name reads every file's schema whenever a query binds the view: a
        # replay binds a dozen views, and large datasets have many thousand files.)
        return (
            f"read_parquet({quote_literal(str(folder / pattern))}, hive_partitioning = true, "
            f"{_PARTITION_TYPES})"
        )


def _cast(column: Column, value: str) -> str:
    return f"CAST({value} AS {column.duckdb_type}) AS {quote_ident(column.name)}"


def _dataset_select(columns: Sequence[Column], scan: str | None, where: str) -> str:
    if scan is None:  # no files: the same columns, no rows
        return f"SELECT {', '.join(_cast(c, 'NULL') for c in columns)} WHERE false"
    select = ", ".join(_cast(c, quote_ident(c.name)) for c in columns)
    return f"SELECT {select} FROM {scan} WHERE {where}"


def _dataset_check(dataset: Dataset) -> str:
    check = schema_check("sequence || ' of log ' || source_log")
    return f"CASE WHEN {dataset.committed()} THEN {check} ELSE false END"


def part_file_range(path: Path) -> tuple[str, int, int] | None:
    """``(source_log, first, last)`` from a part file's name, or None if it is not one."""
    stem = path.name.removesuffix(".parquet")
    if not stem.startswith("part-") or stem == path.name:
        return None
    source, _, last = stem.removeprefix("part-").rpartition("-")
    source, _, first = source.rpartition("-")
    try:
        return source, int(first), int(last)
    except ValueError:
        return None


def compact_dataset(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, mode: bool | None
) -> dict[str, list[str]] | None:
    """The compacted copy of a dataset: ``event_type -> files``; None to read it directly.

    Each chunk holds the events its dataset gained since the chunk before (Parquet
    files per event type, read from the new part files only). A copy of another
    history (the dataset was made again) is not used. Any failure reads the dataset
    directly instead.
    """
    root = cache_root()
    if mode is False or root is None:
        return None
    where = str(dataset.root.resolve())
    home = root / "datasets" / hashlib.sha256(where.encode()).hexdigest()[:16]
    store = ChunkStore(home, {"dataset": where})
    events = sum(int(e.get("events") or e["last_sequence"]) for e in dataset.sources.values())
    if mode is None and events < CACHE_MIN_EVENTS and not store.exists():
        return None
    try:
        # Another process compacting this dataset is waited for: reading a large
        # dataset directly costs more than waiting for its copy.
        with store.locked(wait=True):
            manifest = _load(store, dataset)
            if not _covers(manifest, dataset):
                manifest.chunks.append(_write_dataset_chunk(con, dataset, store, manifest))
                if len(manifest.chunks) > MAX_CHUNKS:
                    extent = manifest.chunks[-1].extent
                    manifest.chunks = [store.merge(con, manifest, extent)]
                store.save(manifest)
    except (OSError, ValueError, KeyError, TypeError, duckdb.Error, RuntimeError):
        return None
    return {kind: manifest.files(home, kind) for kind in manifest.kinds()}


def _load(store: ChunkStore, dataset: Dataset) -> Manifest:
    """The store's manifest, if its chunks are of this dataset's history; else an empty one."""
    manifest = store.load()
    # The oldest part file copied must still be there, unchanged: the same dataset.
    probe = manifest.notes.get("probe")
    if probe is not None:
        try:
            stat = (dataset.root / probe[0]).stat()
        except OSError:
            return Manifest()
        if [stat.st_size, stat.st_mtime_ns] != probe[1:]:
            return Manifest()
    for source, last in _upto(manifest).items():
        entry = dataset.sources.get(source)
        if entry is None or int(entry["last_sequence"]) < last:
            return Manifest()
    return manifest


def _upto(manifest: Manifest) -> dict[str, int]:
    """``log_id -> last sequence`` the chunks hold."""
    return dict(manifest.chunks[-1].extent["upto"]) if manifest.chunks else {}


def _covers(manifest: Manifest, dataset: Dataset) -> bool:
    upto = _upto(manifest)
    return all(
        upto.get(source, 0) == int(entry["last_sequence"])
        for source, entry in dataset.sources.items()
    )


def _write_dataset_chunk(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, store: ChunkStore, manifest: Manifest
):
    """A chunk of the events past the last chunk, read from the part files holding them."""
    covered = _upto(manifest)
    upto = {s: int(e["last_sequence"]) for s, e in dataset.sources.items()}
    new: dict[str, list[Path]] = {}
    for part in (dataset.root / "events").glob("*/*/part-*.parquet"):
        parsed = part_file_range(part)
        if parsed is None or parsed[0] not in upto:
            continue
        source, first, last = parsed
        if covered.get(source, 0) < first and last <= upto[source]:
            event_type = part.parent.parent.name.removeprefix("event_type=")
            new.setdefault(event_type, []).append(part)
    if manifest.notes.get("probe") is None and new:
        oldest = min(min(parts) for parts in new.values())
        stat = oldest.stat()
        manifest.notes["probe"] = [
            str(oldest.relative_to(dataset.root)),
            stat.st_size,
            stat.st_mtime_ns,
        ]
    where = " OR ".join(
        f"(source_log = {quote_literal(s)} AND sequence > {int(covered.get(s, 0))} "
        f"AND sequence <= {last})"
        for s, last in upto.items()
    )
    copies = []
    for event_type, parts in sorted(new.items()):
        event_class = EVENT_TYPES.get(event_type)
        columns = (*DATASET_ENVELOPE, *(columns_of(event_class) if event_class else ()))
        scan = (
            f"read_parquet(?, hive_partitioning = true, union_by_name = true, {_PARTITION_TYPES})"
        )
        select = _dataset_select(columns, scan, where or "false")
        query = f"SELECT {quote_literal(event_type)} AS event_type, * FROM ({select})"
        parts.sort()
        # A few thousand part files at a time: a scan holds state for each of its files.
        for number, start in enumerate(range(0, len(parts), _COMPACT_FILES)):
            listed = [str(p) for p in parts[start : start + _COMPACT_FILES]]
            copies.append(Copy(event_type, kind_file(event_type, number), query, [listed]))
    return store.write_chunk(con, copies, {"upto": upto})


def create_dataset_views(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, compacted: dict[str, list[str]] | None
) -> None:
    """The views over a dataset: those of a log, with entity views replayed from the events."""

    def scan(event_type: str | None = None) -> str | None:
        if compacted is None:
            return dataset.scan(event_type)
        if event_type is None:
            files = [f for parts in compacted.values() for f in parts]
        else:
            files = compacted.get(event_type, [])
        if not files:
            return None
        listed = ", ".join(quote_literal(f) for f in files)
        return f"read_parquet([{listed}], union_by_name = true)"

    committed = dataset.committed()
    con.execute(
        "CREATE OR REPLACE VIEW events AS "
        + _dataset_select((*EVENTS_COLUMNS, _SOURCE_LOG), scan(), committed)
    )
    where = _dataset_check(dataset)
    for event_class in EVENT_CLASSES:
        event_type = event_class.event_type()
        body = _dataset_select((*typed_columns(event_class), _SOURCE_LOG), scan(event_type), where)
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(view_name(event_type))} AS {body}")
    offsets, total = {}, 0
    for source, entry in dataset.sources.items():
        offsets[source] = total
        total += int(entry["last_sequence"])
    create_replay_views(con, offsets)
    create_tool_categories(con)
    for view, builder in DATASET_ENTITY_VIEWS.items():
        query = replay.ordered(builder())
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(view)} AS {query}")
    con.execute(
        "CREATE OR REPLACE TABLE eventkit_sources (source_log VARCHAR, path VARCHAR, "
        "last_sequence BIGINT, events BIGINT, exported_at VARCHAR, replay_offset BIGINT)"
    )
    rows = [
        (s, e.get("path"), int(e["last_sequence"]), e.get("events"), e.get("exported_at"))
        for s, e in dataset.sources.items()
    ]
    if rows:
        con.executemany(
            "INSERT INTO eventkit_sources VALUES (?, ?, ?, ?, ?, ?)",
            [(*row, offsets[row[0]]) for row in rows],
        )


def is_dataset(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a connection reads a dataset (it has an ``eventkit_sources`` table)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'eventkit_sources'"
    ).fetchone()
    return bool(found[0])


def dataset_events_table(
    con: duckdb.DuckDBPyConnection,
    types: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> pa.Table:
    where = []
    if types is not None:
        where.append(f"event_type IN ({', '.join(quote_literal(t) for t in types) or 'NULL'})")
    if since is not None:
        where.append(f"occurred_at >= TIMESTAMPTZ {quote_literal(format_timestamp(since))}")
    if until is not None:
        where.append(f"occurred_at < TIMESTAMPTZ {quote_literal(format_timestamp(until))}")
    condition = " AND ".join(where) or "true"
    query = f"SELECT * FROM events WHERE {condition} ORDER BY source_log, sequence"
    return con.sql(query).to_arrow_table()


__all__ = [
    "DATASET_ENTITY_VIEWS",
    "DATASET_ENVELOPE",
    "DATASET_FORMAT",
    "DATASET_MANIFEST",
    "Dataset",
    "compact_dataset",
    "create_dataset_views",
    "dataset_events_table",
    "dataset_root",
    "is_dataset",
    "part_file_range",
    "read_dataset_manifest",
]
