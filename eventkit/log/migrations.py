"""Creating and migrating logs: ``open_or_create_db`` and ``run_migrations``.

Migrations are the numbered ``NNN_name.sql`` files of the top-level ``migrations/``
folder, shipped inside the wheel as ``eventkit/migrations``. Each is applied once,
in order, in its own ``BEGIN IMMEDIATE`` transaction, and recorded with its name
and SHA-256 in ``schema_migrations``.

Migrations after ``001`` change the projection tables' shapes (``002`` adds the model
calls and the columns derived from them), and a table's new column holds nothing of
the events already in the log. So the transaction that applies the newest migration
also empties the projection tables and replays the whole log into them: a log written
by an older eventkit comes out of its first writer's open exactly as a log written by
this one (``docs/semantics.md``, *Logs written before model calls*).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from eventkit.catalog.events import format_timestamp, new_id, utc_now
from eventkit.errors import MigrationError, NewerSchemaError, NotAnEventLogError, sqlite_errors
from eventkit.log.files import SQLITE_HEADER, resolve_log_path
from eventkit.log.projections import replay_log

BUSY_TIMEOUT_MS = 60_000

_MIGRATION_NAME = re.compile(r"^(\d{3})_([A-Za-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """Where the migration files are: inside the installed package, or the repo root."""
    packaged = Path(__file__).parents[1] / "migrations"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).parents[2] / "migrations"
    if source_tree.is_dir():
        return source_tree
    raise MigrationError(f"migration files not found (looked in {packaged} and {source_tree})")


@cache
def known_migrations() -> tuple[Migration, ...]:
    found = []
    for path in sorted(migrations_dir().glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNN_name.sql")
        found.append(Migration(int(match[1]), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must run 1, 2, 3… without gaps: {versions}")
    return tuple(found)


def open_or_create_db(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open a log for writing, creating it (and missing parents) if needed, and migrate it.

    ``path`` names a file when it exists as one or has a suffix (``.db``, ``.sqlite``,
    ``.sqlite3``); otherwise it is a directory holding ``events.db``. ``":memory:"``
    opens a private in-memory log. Refuses, writing nothing, a file that is not
    SQLite, a foreign schema, or a log newer than this eventkit.
    """
    if str(path) == ":memory:":
        conn = _connect(":memory:")
    else:
        log_path = resolve_log_path(path)
        if log_path.exists():
            _check_existing_file(log_path)
        else:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(log_path)
        try:
            _check_schema(conn, log_path)
            with sqlite_errors(f"opening {log_path}"):
                _enable_wal(conn)
        except BaseException:
            conn.close()
            raise
    try:
        run_migrations(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect(target: str | Path) -> sqlite3.Connection:
    with sqlite_errors(f"opening {target}"):
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching to WAL reports "database is locked" at once, without the busy handler,
    # while another process holds a lock (e.g. it is creating the same log): retry.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _check_existing_file(log_path: Path) -> None:
    with open(log_path, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise NotAnEventLogError(f"{log_path} is not an SQLite database; refusing to touch it")


def _check_schema(conn: sqlite3.Connection, where: object) -> None:
    """Refuse, reading only, a foreign schema or a log newer than this eventkit."""
    with sqlite_errors(f"reading {where}"):
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return
    if "schema_migrations" not in tables or "events" not in tables:
        sample = ", ".join(sorted(t for t in tables if not t.startswith("sqlite_"))[:5])
        raise NotAnEventLogError(
            f"{where} is an SQLite database but not an eventkit log (tables: {sample})"
        )
    _verify(applied_migrations(conn), known_migrations())


def applied_migrations(conn: sqlite3.Connection) -> dict[int, tuple[str, str]]:
    """``version -> (name, checksum)`` of the migrations a log has had."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not exists:
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations")
    return {version: (name, checksum) for version, name, checksum in rows}


def _verify(applied: dict[int, tuple[str, str]], known: tuple[Migration, ...]) -> None:
    newest_known = known[-1].version if known else 0
    newer = sorted(v for v in applied if v > newest_known)
    if newer:
        raise NewerSchemaError(
            f"the log has schema version {newer[-1]} but this eventkit knows up to "
            f"{newest_known}; upgrade eventkit to read it (the file was not touched)"
        )
    for migration in known:
        recorded = applied.get(migration.version)
        if recorded and recorded[1] != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was applied with a different checksum "
                f"({recorded[1][:12]}… vs {migration.checksum[:12]}…): the log and this "
                "eventkit disagree on the schema"
            )


def run_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations in order; idempotent. Returns the names applied.

    Applying the newest migration (beyond ``001``) rebuilds the projection tables from
    the log in the same transaction.
    """
    known = known_migrations()
    with sqlite_errors("reading schema_migrations"):
        _verify(applied_migrations(conn), known)
    done: list[str] = []
    for migration in known:
        with sqlite_errors(f"applying migration {migration.name}"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                applied = applied_migrations(conn)
                _verify(applied, known)
                if migration.version not in applied:
                    _apply(conn, migration)
                    done.append(migration.name)
                    if migration is known[-1] and migration.version > 1 and _has_events(conn):
                        replay_log(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    return done


def _has_events(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for statement in split_statements(migration.sql):
        conn.execute(statement)
    now = format_timestamp(utc_now())
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
        (migration.version, migration.name, migration.checksum, now),
    )
    if migration.version == 1:
        conn.executemany(
            "INSERT OR IGNORE INTO log_info (key, value) VALUES (?, ?)",
            [("log_id", new_id()), ("created_at", now)],
        )


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (triggers' inner ``;`` included)."""
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        if not pending and line.strip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def log_info(conn: sqlite3.Connection) -> dict[str, str]:
    """The log's ``log_info`` key/value pairs (``log_id``, ``created_at``…)."""
    with sqlite_errors("reading log_info"):
        return dict(conn.execute("SELECT key, value FROM log_info"))
