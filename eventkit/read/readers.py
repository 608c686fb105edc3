"""Readers: a DuckDB connection with its views over a log or dataset, shared per process.

:func:`connect_duckdb` makes one for the caller. :func:`sql` and the frames share one
open reader per log and process (the extension and the views cost more to set up
than most queries); a reader whose log was replaced, or has grown far past its
cache, is reopened. Connections over a log run each query on one thread
(``threads = 1``): the sqlite extension shares one SQLite connection among the scans
of a query, and parallel scans corrupt it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import threading
import weakref
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from eventkit.catalog.events import format_timestamp
from eventkit.errors import EventkitError, ReadOnlyError, map_driver_error
from eventkit.read.arrow import fetch
from eventkit.read.cache import LogCache, cache_is_behind, current_cache, refresh_cache
from eventkit.read.cache_builder import build_in_background
from eventkit.read.chunks import CACHE_MIN_EVENTS
from eventkit.read.datasets import (
    Dataset,
    compact_dataset,
    create_dataset_views,
    dataset_events_table,
    dataset_root,
    is_dataset,
)
from eventkit.read.engine import new_duckdb, quiet, quote_literal, sqlite_rows
from eventkit.read.source import (
    LogSource,
    attach,
    identity,
    log_path_of,
    open_found,
    open_source,
    store_connection,
)
from eventkit.read.views import create_log_views, live_events_select


class LogReader:
    """A DuckDB connection over one log, with its views and (maybe) its cache.

    ``cache`` as for :func:`connect_duckdb`. With ``cache`` None the reader never waits
    for the cache: it uses what the cache holds and reads the rest live, and a cache
    that is missing or far behind is built in the background
    (:mod:`eventkit.read.cache_builder`) once :meth:`want_cache` is called; the views
    take it when :meth:`take_new_cache` finds it ready.
    """

    def __init__(self, log: LogSource, cache: bool | None):
        self.log = log
        self.cache_mode = cache
        self.pid = os.getpid()
        self._built: LogCache | None = None
        self._gave_up = False
        self._lock = threading.Lock()
        try:
            self.con = attach(log)
            if log.tempdir is not None:  # the copy goes when the connection does
                weakref.finalize(self.con, shutil.rmtree, log.tempdir, True)
            self.identity = identity(log)
            if cache is None:
                self.cache = current_cache(self.con, log)
                self._behind = log.tempdir is None and cache_is_behind(log, self.cache)
            else:
                self.cache = refresh_cache(self.con, log, cache)
                self._behind = False
            create_log_views(self.con, log, self.cache)
        except BaseException:
            log.remove_copy()
            raise

    def want_cache(self) -> None:
        """Start building the cache in the background, if it is missing or behind."""
        if self._behind:
            self._behind = False
            build_in_background(self.log.origin, self._cache_built)

    def _cache_built(self, cache: LogCache | None) -> None:
        held = self.cache.last_sequence if self.cache else 0
        if cache is None:
            self._gave_up = True  # no cache here (not writable, disabled): read live
        elif cache.last_sequence > held:
            self._built = cache

    def take_new_cache(self) -> None:
        """Point the views at a cache built since they were made (queries running go on)."""
        with self._lock:
            cache, self._built = self._built, None
            if cache is not None:
                create_log_views(self.con, self.log, cache)
                self.cache = cache

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        self.log.remove_copy()

    def current(self) -> bool:
        """Whether this reader still shows the log at its path (and may be reused)."""
        if self.pid != os.getpid():
            return False
        try:
            if identity(self.log) != self.identity:
                return False
            probe = (
                "SELECT (SELECT value FROM log_info WHERE key = 'log_id'), "
                "(SELECT max(sequence) FROM events)"
            )
            ((log_id, last),) = sqlite_rows(self.con, probe)
        except (OSError, duckdb.Error, RuntimeError):
            return False
        if log_id != self.log.log_id:
            return False
        last = int(last or 0)
        cached = self.cache.last_sequence if self.cache else 0
        if self.cache_mode is None and not self._gave_up and last - cached >= CACHE_MIN_EVENTS:
            self._behind = self.log.tempdir is None  # grown well past the cache: extend it
        return True


class DatasetReader:
    """A DuckDB connection over a Parquet dataset, with the same views as over a log."""

    def __init__(self, root: Path, cache: bool | None):
        self.dataset = Dataset.open(root)
        self.pid = os.getpid()
        # No sqlite extension here: queries may use every core.
        self.con = new_duckdb(sqlite=False)
        try:
            # DuckDB keeps what it reads of files in memory, up to its memory limit: a
            # dataset of many files read once (to compact it) would fill it for nothing.
            self.con.execute("SET GLOBAL enable_external_file_cache = false")
            compacted = compact_dataset(self.con, self.dataset, cache)
            create_dataset_views(self.con, self.dataset, compacted)
        except (duckdb.Error, RuntimeError) as exc:
            self.con.close()
            raise map_driver_error(exc, f"reading the dataset {root}") from exc
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    def current(self) -> bool:
        """Whether the manifest is still the one this reader was made from."""
        try:
            latest = Dataset.open(self.dataset.root).identity
        except (OSError, EventkitError):
            return False
        return self.pid == os.getpid() and latest == self.dataset.identity


_READERS: dict[Path, LogReader | DatasetReader] = {}
_READERS_LOCK = threading.Lock()


def _open_reader(src: object, cache: bool | None) -> LogReader | DatasetReader:
    root = dataset_root(src)
    return LogReader(open_source(src), cache) if root is None else DatasetReader(root, cache)


def _shared_reader(src: str | os.PathLike[str]) -> LogReader | DatasetReader:
    """The process's reader for a log or dataset path, reopened when it moved on."""
    root = dataset_root(src)
    key = root.resolve() if root is not None else log_path_of(src).resolve()
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is not None and reader.current():
            if isinstance(reader, LogReader):
                reader.take_new_cache()
            return reader
        if reader is not None:  # not closed: a cursor in another thread may still read it
            del _READERS[key]
        if root is None:  # the path was found above: it is not looked up again
            reader = LogReader(open_found(key), None)
        else:
            reader = DatasetReader(key, None)
        _READERS[key] = reader
        return reader


@atexit.register
def close_readers() -> None:
    """Close the connections :func:`sql` and the frames keep open between calls."""
    with _READERS_LOCK:
        for reader in _READERS.values():
            if reader.pid == os.getpid():
                reader.close()
        _READERS.clear()


# ------------------------------------------------------------------ public API


def connect_duckdb(src: object, *, cache: bool | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the log attached READ_ONLY as ``log``, and views.

    ``src`` is a log file, a directory holding ``events.db``, an
    :class:`~eventkit.EventStore` (an in-memory store is copied to a temporary file),
    or a Parquet dataset directory written by :func:`~eventkit.export_parquet`: its
    views are the same (plus a ``source_log`` column), the entity views are replayed
    from the events, and ``eventkit_sources`` lists its logs. The views are described
    in :mod:`eventkit.read.views`; the ``eventkit_cache`` table lists cached events files.
    ``cache``: None uses the columnar cache for large logs, True always, False never
    (``EVENTKIT_CACHE=0`` also turns it off; ``EVENTKIT_CACHE_DIR`` moves it).
    The connection is the caller's: close it when done.

    Raises :class:`LogNotFoundError` for a missing path and :class:`NotAnEventLogError`
    for a file that is not an eventkit log.
    """
    reader = _open_reader(src, cache)
    if isinstance(reader, LogReader):
        reader.want_cache()  # for the connections after this one
    return reader.con


@contextlib.contextmanager
def session(src: object, *, private: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one piece of work.

    A connection is used as it is. A log or dataset path shares one open reader per process
    (loading the extension and creating the views costs more than most queries);
    each piece of work gets its own cursor on it. ``private`` (work that may change
    the connection, such as dropping a view) and an in-memory store get a reader
    of their own, closed afterwards.
    """
    if isinstance(src, duckdb.DuckDBPyConnection):
        yield src
        return
    if store_connection(src) is not None and src.path is not None:
        src = src.path
    if isinstance(src, str | os.PathLike) and not private:
        reader = _shared_reader(src)
        cursor = reader.con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            quiet(cursor)
            yield cursor
        finally:
            cursor.close()
        if isinstance(reader, LogReader):
            reader.want_cache()  # after the first piece of work, never before it
        return
    reader = _open_reader(src, None if private else False)
    try:
        yield reader.con
    finally:
        reader.close()


def events_table(
    con: duckdb.DuckDBPyConnection,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """The ``events`` rows as Arrow, in sequence order; ``since`` <= occurred_at < ``until``.

    Cached events come straight from their Parquet files (pyarrow reads them several
    times faster than any SQL engine hands rows over); the rest comes from the log,
    with the filters run by SQLite. A dataset's rows (with ``source_log``) come in
    ``(source_log, sequence)`` order.
    """
    if is_dataset(con):
        return dataset_events_table(con, types, since, until)
    cached = con.execute("SELECT file, cached_through FROM eventkit_cache").fetchall()
    files, through = [f for f, _ in cached], (cached[0][1] if cached else 0)
    in_sqlite: list[str] = []
    in_arrow = None

    def both(sql: str, expression: pc.Expression) -> None:
        nonlocal in_arrow
        in_sqlite.append(sql)
        in_arrow = expression if in_arrow is None else in_arrow & expression

    stamp = pa.timestamp("us", tz="UTC")
    if types is not None:
        listed = ", ".join(quote_literal(t) for t in types) or "NULL"
        both(f"event_type IN ({listed})", pc.field("event_type").isin(list(types)))
    if since is not None:
        text = quote_literal(format_timestamp(since))
        both(f"occurred_at >= {text}", pc.field("occurred_at") >= pa.scalar(since, stamp))
    if until is not None:
        text = quote_literal(format_timestamp(until))
        both(f"occurred_at < {text}", pc.field("occurred_at") < pa.scalar(until, stamp))
    parts = []
    if files:
        parts.append(ds.dataset(files, format="parquet").to_table(filter=in_arrow))
    if not files and not in_sqlite:  # the whole table: DuckDB's scan uses every core
        query = "SELECT * FROM events"
    else:
        query = live_events_select(through, where=" AND ".join(in_sqlite))
    tail = con.sql(query).to_arrow_table()
    parts.append(tail.cast(parts[0].schema) if files and tail.schema != parts[0].schema else tail)
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    sequence = table.column("sequence")
    if len(sequence) > 1 and not pc.all(pc.less(sequence[:-1], sequence[1:])).as_py():
        table = table.sort_by("sequence")  # scans keep table order; this is the guarantee
    return table


_READING_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.CALL,
}
_REFUSED_STATEMENTS = {
    duckdb.StatementType.ATTACH,
    duckdb.StatementType.DETACH,
    duckdb.StatementType.COPY,
    duckdb.StatementType.COPY_DATABASE,
    duckdb.StatementType.EXPORT,
    duckdb.StatementType.EXTENSION,
    duckdb.StatementType.LOAD,
}
"""Statements that reach past the session (other databases, files, extensions)."""


def sql(src: object, query: str, params: Sequence[Any] | dict[str, Any] | None = None):
    """Run a query over the log's views and return a DataFrame.

    ``src`` as for :func:`connect_duckdb`, or a connection it returned. A statement
    that would write to the log raises :class:`ReadOnlyError`, and so do statements
    that reach past the session (ATTACH, COPY, EXPORT, INSTALL, LOAD); over a dataset,
    so does every statement that is not a query.
    """
    try:
        kinds = {statement.type for statement in duckdb.extract_statements(query)}
    except duckdb.Error as exc:
        raise map_driver_error(exc, "reading the query") from exc
    refused = kinds & _REFUSED_STATEMENTS
    if refused:
        names = ", ".join(sorted(kind.name for kind in refused))
        raise ReadOnlyError(
            f"eventkit.sql runs queries over the log's views only: {names} statements "
            "are refused (they reach other databases or files); use connect_duckdb for that"
        )
    reading = kinds <= _READING_STATEMENTS
    with session(src, private=not reading) as con:
        if not reading and is_dataset(con):
            raise ReadOnlyError("a dataset is read-only through eventkit: the query would write")
        return fetch(con, query, params)


__all__ = [
    "DatasetReader",
    "LogReader",
    "close_readers",
    "connect_duckdb",
    "events_table",
    "session",
    "sql",
]
