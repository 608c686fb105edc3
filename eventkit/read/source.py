"""The log a ``src`` names: found and opened once through :mod:`eventkit.log.files`, inspected.

A log DuckDB cannot attach in place (a WAL log in a read-only directory, where
SQLite cannot create the ``-shm`` file; an in-memory store) is read from a private
temporary copy, removed when its reader goes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eventkit.catalog.entities import ENTITIES
from eventkit.errors import driver_errors, map_driver_error
from eventkit.log.files import (
    check_is_log,
    connect_readonly,
    copy_to_temp,
    find_log,
    open_sqlite_readonly,
)
from eventkit.read.engine import new_duckdb, quote_ident, quote_literal, sqlite_rows

PROJECTION_VIEWS: dict[str, str] = {entity.name: entity.table for entity in ENTITIES}
"""View name -> projection table of the log."""


@dataclass
class LogSource:
    """The SQLite file DuckDB attaches, and what was learnt while checking it."""

    path: Path
    origin: Path  # the log file itself (``path`` may be a copy of it)
    log_id: str
    last_sequence: int
    last_event_id: str | None
    tables: dict[str, list[str]]  # the projection tables present -> their columns
    tempdir: Path | None = None  # set when ``path`` is a temporary copy

    def remove_copy(self) -> None:
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)


def store_connection(src: object) -> sqlite3.Connection | None:
    """The connection of an EventStore (recognised by shape: the read side imports no writer)."""
    conn = getattr(src, "conn", None)
    return conn if isinstance(conn, sqlite3.Connection) and hasattr(src, "path") else None


def log_path_of(src: object) -> Path | None:
    """The checked log file a path or file-backed store names; None for an in-memory store."""
    if store_connection(src) is not None:
        if src.path is None:
            return None
        src = src.path
    if not isinstance(src, str | os.PathLike):
        raise TypeError(f"cannot read a log from a {type(src).__name__}")
    return find_log(src)


def open_source(src: object) -> LogSource:
    """Find, check and (when needed) copy the log a ``src`` names.

    ``src`` is a path, an :class:`~eventkit.EventStore`, or a :class:`Path` returned
    by :func:`log_path_of` (a path already found is not looked up again).
    """
    if store_connection(src) is not None and src.path is None:
        # An in-memory log has no file DuckDB could attach.
        with driver_errors("reading the in-memory log"):
            copy = copy_to_temp(src.conn)
        return _inspect_file(copy, tempdir=copy.parent)
    return _inspect_file(log_path_of(src))


def open_found(path: Path) -> LogSource:
    """:func:`open_source` for a log file :func:`log_path_of` returned (found once per read)."""
    return _inspect_file(path)


def _inspect_file(path: Path, tempdir: Path | None = None) -> LogSource:
    origin = path
    with driver_errors(f"reading {path}"):
        opened = open_sqlite_readonly(path)
        if opened.copy is not None:
            path, tempdir = opened.copy, opened.copy.parent
        try:
            log_id, last, last_id, tables = inspect_log(opened.conn, origin)
            if opened.immutable:  # DuckDB could not open it either: read a private copy
                path = copy_to_temp(opened.conn)
                tempdir = path.parent
        finally:
            opened.conn.close()
    return LogSource(path, origin, log_id, last, last_id, tables, tempdir)


def inspect_log(conn: sqlite3.Connection, where: object) -> tuple[str, int, str | None, dict]:
    """A log's ``(log_id, last sequence, last event_id, projection tables -> columns)``.

    Raises :class:`NotAnEventLogError` (via ``check_is_log``) for anything else.
    """
    names = check_is_log(conn, where)
    # Read here rather than through DuckDB: its catalog functions over an attached
    # SQLite database can crash when they run in parallel (duckdb-sqlite issue 176).
    tables = {
        table: [row[1] for row in conn.execute(f"PRAGMA table_info({quote_ident(table)})")]
        for table in PROJECTION_VIEWS.values()
        if table in names
    }
    info = dict(conn.execute("SELECT key, value FROM log_info")) if "log_info" in names else {}
    row = conn.execute(
        "SELECT sequence, event_id FROM events WHERE sequence = (SELECT max(sequence) FROM events)"
    ).fetchone()
    last, last_id = (row[0], row[1]) if row else (0, None)
    return info.get("log_id", ""), last, last_id, tables


def attach(log: LogSource) -> duckdb.DuckDBPyConnection:
    """A new connection with the log attached READ_ONLY as ``log``.

    When SQLite opened the log but DuckDB's reader cannot, a private copy is attached
    instead (``log.path`` and ``log.tempdir`` then name it).
    """
    try:
        return _attach(log)
    except (duckdb.Error, RuntimeError) as exc:
        if log.tempdir is not None:
            raise map_driver_error(exc, f"DuckDB cannot read {log.path}") from exc
    with driver_errors(f"copying {log.path}"):
        with contextlib.closing(connect_readonly(log.path, leave_no_files=True)) as conn:
            log.path = copy_to_temp(conn)
    log.tempdir = log.path.parent
    try:
        return _attach(log)
    except (duckdb.Error, RuntimeError) as exc:
        raise map_driver_error(exc, f"DuckDB cannot read {log.path}") from exc


def _attach(log: LogSource) -> duckdb.DuckDBPyConnection:
    con = new_duckdb()
    try:
        con.execute(f"ATTACH {quote_literal(str(log.path))} AS log (TYPE sqlite, READ_ONLY)")
        sqlite_rows(con, "SELECT count(*) FROM log_info")
    except BaseException:
        con.close()
        raise
    return con


def identity(log: LogSource) -> tuple:
    """What must not change for an open reader to still show the log its path names."""
    stat = log.origin.stat()
    found: tuple = (stat.st_dev, stat.st_ino)
    if log.tempdir is not None and log.origin != log.path:  # a copy shows a moment only
        wal = Path(f"{log.origin}-wal")
        wal_stat = wal.stat() if wal.exists() else None
        found += (stat.st_size, stat.st_mtime_ns)
        found += (wal_stat.st_size, wal_stat.st_mtime_ns) if wal_stat else ()
    return found


__all__ = [
    "PROJECTION_VIEWS",
    "LogSource",
    "attach",
    "identity",
    "inspect_log",
    "log_path_of",
    "open_found",
    "open_source",
    "store_connection",
]
