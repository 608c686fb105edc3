"""The log's columnar cache: its events and typed rows as Parquet chunks, kept in step by sequence.

For large logs (:data:`~eventkit.read.chunks.CACHE_MIN_EVENTS`) reading Parquet is much
faster than reading SQLite: a chunk store (:mod:`eventkit.read.chunks`) under the user's
cache directory (``$EVENTKIT_CACHE_DIR``, else ``~/.cache/eventkit``), keyed by the
log's ``log_id``, holds a file of the events and one per event type for each range
of sequences, and is extended as the log grows (in the background, by
:mod:`eventkit.read.cache_builder`, so that no read waits for it). Cache files are
never written beside the log; the log stays the source of truth: events past the
cache are always read live from it, and a cache whose history differs from the
log's is not used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from eventkit.catalog.events import EVENT_CLASSES, EVENT_TYPES
from eventkit.read.chunks import (
    CACHE_MIN_EVENTS,
    MAX_CHUNKS,
    ChunkStore,
    Copy,
    Manifest,
    cache_root,
    kind_file,
)
from eventkit.read.engine import sqlite_rows
from eventkit.read.source import LogSource
from eventkit.read.views import EVENTS, live_events_select, live_typed_select

KINDS = (EVENTS, *(cls.event_type() for cls in EVENT_CLASSES))
"""What a chunk holds: the ``events`` rows, and the typed rows of each event type."""


@dataclass
class LogCache:
    """What a log's cache holds: chunks of the events through ``last_sequence``."""

    directory: Path
    manifest: Manifest = field(default_factory=Manifest)

    @property
    def last_sequence(self) -> int:
        chunks = self.manifest.chunks
        return int(chunks[-1].extent["last"]) if chunks else 0

    def files(self, kind: str) -> list[str]:
        """The chunks' files of ``EVENTS`` or of an event type, in sequence order."""
        return self.manifest.files(self.directory, kind)


def _live_select(kind: str, after: int, through: int | None) -> str:
    if kind == EVENTS:
        return live_events_select(after, through)
    return live_typed_select(EVENT_TYPES[kind], after, through)


def _load(con: duckdb.DuckDBPyConnection, store: ChunkStore, log: LogSource) -> LogCache:
    """The cache as its manifest describes it, if it still matches the log; else empty."""
    cache = LogCache(store.directory)
    manifest = store.load()
    if not manifest.chunks:
        return cache
    last = manifest.chunks[-1].extent
    if int(last["last"]) > log.last_sequence:
        return cache
    # A log with this log_id whose history differs (a restored or diverged copy).
    rows = sqlite_rows(con, f"SELECT event_id FROM events WHERE sequence = {int(last['last'])}")
    if not rows or rows[0][0] != last["last_event_id"]:
        return cache
    cache.manifest = manifest
    return cache


def _store(log: LogSource, mode: bool | None) -> ChunkStore | None:
    root = cache_root()
    if mode is False or root is None or not log.log_id:
        return None
    return ChunkStore(root / log.log_id, {"log_id": log.log_id})


def current_cache(con: duckdb.DuckDBPyConnection, log: LogSource) -> LogCache | None:
    """What the cache holds now, if it matches the log; writes nothing (a first read of a
    log that has no cache yet reads it live, and is never slowed by building one)."""
    store = _store(log, None)
    if store is None or not store.exists():
        return None
    try:
        return _load(con, store, log)
    except (OSError, duckdb.Error, RuntimeError):
        return None


def cache_is_behind(log: LogSource, cache: LogCache | None) -> bool:
    """Whether a refresh would add to the cache (the log is large, or grew, enough)."""
    if _store(log, None) is None or log.last_event_id is None:
        return False
    return log.last_sequence - (cache.last_sequence if cache else 0) >= CACHE_MIN_EVENTS


def refresh_cache(
    con: duckdb.DuckDBPyConnection, log: LogSource, mode: bool | None, *, workers: int = 0
) -> LogCache | None:
    """Bring the cache up to the log (when worthwhile) and return what it holds.

    ``mode``: None caches large logs, True any log, False none. ``workers``: threads
    reading the event types at once (0: one per core, up to 4). Any failure leaves
    the cache as it was and reads the log live instead: the cache only ever makes
    reading faster.
    """
    store = _store(log, mode)
    if store is None:
        return None
    threshold = 1 if mode else CACHE_MIN_EVENTS
    if log.last_sequence < threshold and not store.exists():
        return None  # too small to be worth a cache: leave no trace
    try:
        with store.locked(wait=False) as mine:
            cache = _load(con, store, log)
            if not mine:  # another process is refreshing: use what is there
                return cache
            after, through = cache.last_sequence, log.last_sequence
            if through - after < threshold or log.last_event_id is None:
                return cache
            copies = [Copy(k, kind_file(k), _live_select(k, after, through)) for k in KINDS]
            extent = {"first": after + 1, "last": through, "last_event_id": log.last_event_id}
            workers = workers or max(1, min(4, os.cpu_count() or 1))  # a type per core
            manifest = cache.manifest
            manifest.chunks.append(store.write_chunk(con, copies, extent, workers=workers))
            if len(manifest.chunks) > MAX_CHUNKS:
                whole = {**extent, "first": manifest.chunks[0].extent["first"]}
                manifest.chunks = [store.merge(con, manifest, whole, workers=workers)]
            store.save(manifest)
            return cache
    except (OSError, duckdb.Error, RuntimeError):
        return None


__all__ = ["KINDS", "LogCache", "cache_is_behind", "current_cache", "refresh_cache"]
