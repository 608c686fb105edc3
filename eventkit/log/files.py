"""Finding a log and opening it read-only, wherever it lies: the one opener every reader uses.

Nothing here creates, migrates or writes a log. A log in WAL mode is normally read
with ``mode=ro``, which needs the ``-shm`` file beside it. On read-only media SQLite
cannot create that file, and there are two cases:

- no ``-wal`` with content: every event is in the main file, and ``immutable=1``
  reads it as it is;
- a ``-wal`` with content but no ``-shm``: the newest events are only in the WAL,
  which ``immutable=1`` would silently ignore. No process has the log open (every
  connection keeps the ``-shm``), so the two files cannot change under us: they are
  copied to a private temporary directory where SQLite replays the WAL into the copy.

:func:`find_log` names and checks the file (once per read); :func:`open_sqlite_readonly`
(or :func:`connect_readonly`, which needs no cleanup) opens any SQLite file that way;
:func:`open_log_readonly` is both, for an eventkit log.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from eventkit.errors import LogNotFoundError, NotAnEventLogError, StorageError, sqlite_errors

SQLITE_HEADER = b"SQLite format 3\x00"
LOG_SUFFIXES = (".db", ".sqlite", ".sqlite3")
DEFAULT_LOG_NAME = "events.db"
LOG_TABLES = frozenset({"events", "schema_migrations"})
"""Tables every eventkit log has (a SQLite file without them is someone else's)."""


def resolve_log_path(path: str | os.PathLike[str]) -> Path:
    """The log file a path names: a file, a path with a log suffix, or a directory's events.db."""
    path = Path(path)
    if path.is_file() or path.suffix.lower() in LOG_SUFFIXES:
        return path
    return path / DEFAULT_LOG_NAME


def find_log(path: str | os.PathLike[str]) -> Path:
    """The existing SQLite file a path names (see :func:`resolve_log_path`), checked.

    Raises :class:`LogNotFoundError` when there is none, :class:`NotAnEventLogError`
    for a file that is not SQLite and :class:`StorageError` for one that cannot be read.
    """
    log_path = resolve_log_path(path)
    try:
        with open(log_path, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise LogNotFoundError(f"no eventkit log at {log_path}") from None
    except IsADirectoryError:
        raise LogNotFoundError(f"{log_path} is a directory without an events.db") from None
    except PermissionError as exc:
        raise StorageError(f"cannot read {log_path}: {exc}") from exc
    if header != SQLITE_HEADER:
        raise NotAnEventLogError(f"{log_path} is not an SQLite database")
    return log_path


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


def copy_to_temp(source: sqlite3.Connection) -> Path:
    """A consistent private copy of an open database, made with SQLite's backup API.

    Returns the copy (``events.db`` in a new temporary directory the caller removes).
    """
    tempdir = Path(tempfile.mkdtemp(prefix="eventkit-read-"))
    copy = tempdir / "events.db"
    try:
        with closing(sqlite3.connect(copy)) as dest:
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")  # the copy needs no -wal/-shm
    except BaseException:
        shutil.rmtree(tempdir, ignore_errors=True)
        raise
    return copy


@dataclass
class ReadOnlyOpen:
    """A read-only connection and how it was made."""

    conn: sqlite3.Connection
    immutable: bool  # opened with immutable=1: SQLite could not create the -shm
    copy: Path | None  # a private copy (WAL replayed in) the caller removes with its folder


def open_sqlite_readonly(
    path: Path, *, check_same_thread: bool = True, leave_no_files: bool = False
) -> ReadOnlyOpen:
    """Open an SQLite file read-only, on read-only media too (see the module docstring).

    ``leave_no_files``: without a ``-wal`` every row is in the main file, so read it
    with ``immutable=1``, which creates no ``-wal``/``-shm`` beside it (for files that
    are another program's). Raises the driver's ``sqlite3.DatabaseError``: callers map
    it with their context.
    """

    def connect(target: Path, immutable: bool = False) -> sqlite3.Connection:
        uri = ro_uri(target, immutable=immutable)
        conn = sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    if leave_no_files and not Path(f"{path}-wal").exists():
        return ReadOnlyOpen(connect(path, immutable=True), True, None)
    try:
        return ReadOnlyOpen(connect(path), False, None)
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "encrypted" in str(exc):
            raise
        if has_unreadable_wal(path):
            copy = copy_with_wal(path)
            try:
                return ReadOnlyOpen(connect(copy), False, copy)
            except BaseException:
                shutil.rmtree(copy.parent, ignore_errors=True)
                raise
        return ReadOnlyOpen(connect(path, immutable=True), True, None)


def check_is_log(conn: sqlite3.Connection, where: object) -> set[str]:
    """The names in the database's schema; :class:`NotAnEventLogError` if it is not a log."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if not LOG_TABLES <= names:
        raise NotAnEventLogError(f"{where} is an SQLite database but not an eventkit log")
    return names


def connect_readonly(
    path: Path, *, check_same_thread: bool = True, leave_no_files: bool = False
) -> sqlite3.Connection:
    """:func:`open_sqlite_readonly` as one connection that needs no cleanup.

    A private copy (a pending WAL on read-only media) is loaded into memory and removed.
    """
    opened = open_sqlite_readonly(
        path, check_same_thread=check_same_thread, leave_no_files=leave_no_files
    )
    if opened.copy is None:
        return opened.conn
    try:
        memory = sqlite3.connect(":memory:", check_same_thread=check_same_thread)
        opened.conn.backup(memory)
        return memory
    finally:
        opened.conn.close()
        shutil.rmtree(opened.copy.parent, ignore_errors=True)


def open_log_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only SQLite connection to an existing log (never creates or migrates).

    On read-only media: ``immutable=1`` when every event is in the main file, an
    in-memory copy when some are still only in a ``-wal`` without its ``-shm``.
    """
    log_path = find_log(path)
    with sqlite_errors(f"opening {log_path}"):
        conn = connect_readonly(log_path, check_same_thread=False)
        try:
            check_is_log(conn, log_path)
        except BaseException:
            conn.close()
            raise
    return conn


__all__ = [
    "DEFAULT_LOG_NAME",
    "LOG_SUFFIXES",
    "SQLITE_HEADER",
    "ReadOnlyOpen",
    "check_is_log",
    "connect_readonly",
    "copy_to_temp",
    "copy_with_wal",
    "find_log",
    "has_unreadable_wal",
    "open_log_readonly",
    "open_sqlite_readonly",
    "resolve_log_path",
    "ro_uri",
]
