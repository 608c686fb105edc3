"""Opening a log for reading only, wherever it lies: never creating, migrating or writing.

A log in WAL mode is normally read with ``mode=ro``, which needs the ``-shm`` file
beside it. On read-only media SQLite cannot create that file, and there are two cases:

- no ``-wal`` with content: every event is in the main file, and ``immutable=1``
  reads it as it is;
- a ``-wal`` with content but no ``-shm``: the newest events are only in the WAL,
  which ``immutable=1`` would silently ignore. No process has the log open (every
  connection keeps the ``-shm``), so the two files cannot change under us: they are
  copied to a private temporary directory where SQLite replays the WAL into the copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from eventkit.errors import LogNotFoundError, NotAnEventLogError, sqlite_errors

SQLITE_HEADER = b"SQLite format 3\x00"
LOG_SUFFIXES = (".db", ".sqlite", ".sqlite3")
DEFAULT_LOG_NAME = "events.db"


def resolve_log_path(path: str | os.PathLike[str]) -> Path:
    """The log file a path names: a file, a path with a log suffix, or a directory's events.db."""
    path = Path(path)
    if path.is_file() or path.suffix.lower() in LOG_SUFFIXES:
        return path
    return path / DEFAULT_LOG_NAME


def ro_uri(path: Path, *, immutable: bool = False) -> str:
    mode = "mode=ro&immutable=1" if immutable else "mode=ro"
    return f"file:{quote(str(path.resolve()))}?{mode}"


def has_unreadable_wal(path: Path) -> bool:
    """Whether the log's ``-wal`` holds events but its ``-shm`` is missing."""
    wal = Path(f"{path}-wal")
    try:
        return wal.stat().st_size > 0 and not Path(f"{path}-shm").exists()
    except OSError:
        return False


def copy_with_wal(path: Path) -> Path:
    """A private copy of a closed log and its ``-wal``, the WAL replayed into it.

    Returns the copy (``events.db`` in a new temporary directory the caller removes).
    """
    tempdir = Path(tempfile.mkdtemp(prefix="eventkit-read-"))
    copy = tempdir / "events.db"
    try:
        shutil.copyfile(path, copy)
        shutil.copyfile(f"{path}-wal", f"{copy}-wal")
        with closing(sqlite3.connect(copy)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")  # checkpoints the WAL into the copy
    except BaseException:
        shutil.rmtree(tempdir, ignore_errors=True)
        raise
    return copy


def open_log_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only SQLite connection to an existing log (never creates or migrates).

    On read-only media: ``immutable=1`` when every event is in the main file, an
    in-memory copy when some are still only in a ``-wal`` without its ``-shm``.
    """
    log_path = resolve_log_path(path)
    if not log_path.is_file():
        raise LogNotFoundError(f"no eventkit log at {Path(path)}")
    with sqlite_errors(f"opening {log_path}"):
        try:
            conn = _checked(sqlite3.connect(ro_uri(log_path), uri=True, check_same_thread=False))
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "encrypted" in str(exc):
                raise
            if not has_unreadable_wal(log_path):
                uri = ro_uri(log_path, immutable=True)
                conn = _checked(sqlite3.connect(uri, uri=True, check_same_thread=False))
            else:
                conn = _in_memory_copy(log_path)
    if not {"events", "schema_migrations"} <= _table_names(conn):
        conn.close()
        raise NotAnEventLogError(f"{log_path} is not an eventkit log")
    return conn


def _checked(conn: sqlite3.Connection) -> sqlite3.Connection:
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}


def _in_memory_copy(log_path: Path) -> sqlite3.Connection:
    copy = copy_with_wal(log_path)
    try:
        memory = sqlite3.connect(":memory:", check_same_thread=False)
        with closing(sqlite3.connect(copy)) as source:
            source.backup(memory)
        return memory
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
