"""The DuckDB read side: a log attached READ_ONLY, with typed views per event type.

:func:`connect_duckdb` loads DuckDB's sqlite extension from its pip package (never
downloading anything), attaches the log as ``log`` and creates views:

- ``events``: the envelope, timestamps as TIMESTAMPTZ;
- one typed view per catalog event type (``turn_completed``…): envelope columns
  ``sequence, event_id, stream_id, stream_version, occurred_at`` then the model's
  columns from :mod:`eventkit.columns`, extracted from the payload with their types;
- ``projects``, ``threads``, ``turns``, ``messages``, ``tool_calls``,
  ``checkpoints``, ``settings`` over the projection tables;
- a ``tool_categories`` table (tool name -> category) for joins.

Nothing here creates, migrates or writes a log. A log DuckDB cannot open in place
(a WAL log in a read-only directory, where SQLite cannot create the ``-shm`` file)
is read from a temporary consistent copy made with SQLite's backup API.

Typed views read the log through SQLite's ``(event_type, sequence)`` index. For
large logs (:data:`CACHE_MIN_EVENTS`) a columnar cache makes reading much faster:
Parquet files of the events and of each event type under the user's cache
directory (``$EVENTKIT_CACHE_DIR``, else ``~/.cache/eventkit``), keyed by the log's
``log_id`` and extended by sequence number as the log grows. Cache files are
immutable and never written beside the log; the log stays the source of truth:
events past the cache are always read live from it, and a cache whose history
differs from the log's is not used. The ``eventkit_cache`` table of a connection
lists the cached events files.

:func:`sql` and the frames share one open reader per log and process (the extension
and the views cost more to set up than most queries); a reader whose log was
replaced, or has grown far past its cache, is reopened. Connections run each query
on one thread (``threads = 1``): the sqlite extension shares one SQLite connection
among the scans of a query, and parallel scans corrupt it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .columns import EVENTS_COLUMNS, Column, typed_columns, view_name
from .errors import (
    EventkitError,
    LogNotFoundError,
    NotAnEventLogError,
    ReadOnlyError,
    StorageError,
    UnsupportedSchemaError,
)
from .events import EVENT_CLASSES, EVENT_TYPES, SCHEMA_VERSION, Event, format_timestamp
from .migrations import SQLITE_HEADER, resolve_log_path
from .tool_categories import TOOL_CATEGORIES

PROJECTION_VIEWS: dict[str, str] = {
    "projects": "projection_projects",
    "threads": "projection_threads",
    "turns": "projection_turns",
    "messages": "projection_messages",
    "tool_calls": "projection_tool_calls",
    "checkpoints": "checkpoints",
    "settings": "settings",
}
"""View name -> projection table of the log."""

CACHE_MIN_EVENTS = 50_000
"""With ``cache=None`` (automatic), events past the cache are cached once there are this many."""

_MAX_CHUNKS = 8  # more cache chunks than this are merged into one
_ORPHAN_GRACE_S = 3600.0  # a replaced chunk stays this long for connections still reading it
_CACHE_FORMAT = 2
_SCHEMA_ERROR = "eventkit: unsupported schema_version"

# ------------------------------------------------------------------ SQL helpers


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _extension_path() -> Path:
    """The sqlite extension shipped by the pinned ``duckdb-extension-sqlite-scanner`` package."""
    try:
        import duckdb_extension_sqlite_scanner as package
    except ImportError as exc:
        raise EventkitError(
            "the DuckDB sqlite extension is missing: install duckdb-extension-sqlite-scanner"
        ) from exc
    version = duckdb.__version__.split("+")[0].split("-")[0]
    path = (
        Path(package.__file__).parent
        / "extensions"
        / f"v{version}"
        / "sqlite_scanner.duckdb_extension"
    )
    if not path.is_file():
        raise EventkitError(
            f"no sqlite extension for DuckDB {version} at {path}: install "
            f"duckdb-extension-sqlite-scanner=={version}"
        )
    return path


def _new_duckdb() -> duckdb.DuckDBPyConnection:
    # Autoinstall/autoload off: a missing extension is an error, never a download.
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD {quote_literal(str(_extension_path()))}")
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursors of the connection too
    # The sqlite extension runs every scan of an attached database in a query on one
    # shared SQLite connection; DuckDB running two such scans on two threads at once
    # corrupts it (seen as crashes). One thread per query; concurrent cursors are
    # safe, each transaction having its own SQLite connection.
    con.execute("SET threads = 1")
    _quiet(con)
    return con


def _quiet(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar (it would reach stderr).

    In Jupyter DuckDB starts with it off and refuses to touch the setting without
    ipywidgets, so only what is on is switched off.
    """
    if con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]:
        con.execute("SET enable_progress_bar = false")


# ------------------------------------------------------------------ finding the log


@dataclass
class _Log:
    """The SQLite file DuckDB attaches, and what was learnt while checking it."""

    path: Path
    origin: Path  # the log file itself (``path`` may be a copy of it)
    log_id: str
    last_sequence: int
    last_event_id: str | None
    tables: dict[str, list[str]]  # the projection tables present -> their columns
    tempdir: Path | None = None  # set when ``path`` is a temporary copy


def _ro_uri(path: Path, *, immutable: bool = False) -> str:
    mode = "immutable=1" if immutable else "mode=ro"
    return f"file:{quote(str(path.resolve()))}?{mode}"


def _inspect(conn: sqlite3.Connection, where: object) -> tuple[str, int, str | None, dict]:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if not {"events", "schema_migrations"} <= names:
        raise NotAnEventLogError(f"{where} is an SQLite database but not an eventkit log")
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


def _copy_to_temp(source: sqlite3.Connection) -> Path:
    """A consistent private copy of a log, made with SQLite's backup API."""
    tempdir = Path(tempfile.mkdtemp(prefix="eventkit-read-"))
    copy = tempdir / "events.db"
    dest = sqlite3.connect(copy)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")  # the copy needs no -wal/-shm
    finally:
        dest.close()
    return copy


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except IsADirectoryError:
        raise LogNotFoundError(f"{path} is a directory without an events.db") from None
    except PermissionError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    if header != SQLITE_HEADER:
        raise NotAnEventLogError(f"{path} is not an SQLite database")


def _open_sqlite_ro(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection; ``immutable`` when SQLite cannot open the log normally.

    Normal read-only opening of a WAL log needs its ``-shm`` file, which SQLite cannot
    create in a read-only directory; ``immutable=1`` reads the main file as it is.
    """
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, False
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not a database" in message or "encrypted" in message:
            raise NotAnEventLogError(f"{path} is not an SQLite database ({message})") from exc
        conn = sqlite3.connect(_ro_uri(path, immutable=True), uri=True)
        return conn, True


def _store_connection(src: object) -> sqlite3.Connection | None:
    """The connection of an EventStore (recognised by shape: the read side imports no writer)."""
    conn = getattr(src, "conn", None)
    return conn if isinstance(conn, sqlite3.Connection) and hasattr(src, "path") else None


def _resolve(src: object) -> _Log:
    """Find, check and (when needed) copy the log a ``src`` names."""
    if _store_connection(src) is not None:
        if src.path is None:  # an in-memory log has no file DuckDB could attach
            with _sqlite_errors("reading the in-memory log"):
                copy = _copy_to_temp(src.conn)
            return _inspect_file(copy, tempdir=copy.parent)
        src = src.path
    if not isinstance(src, str | os.PathLike):
        raise TypeError(f"cannot read a log from a {type(src).__name__}")
    path = resolve_log_path(src)
    if not path.exists():
        raise LogNotFoundError(f"no eventkit log at {path}")
    _check_header(path)
    return _inspect_file(path)


def _inspect_file(path: Path, tempdir: Path | None = None) -> _Log:
    origin = path
    with _sqlite_errors(f"reading {path}"):
        conn, immutable = _open_sqlite_ro(path)
        try:
            log_id, last, last_id, tables = _inspect(conn, path)
            if immutable:  # DuckDB could not open it either: read a private copy
                path = _copy_to_temp(conn)
                tempdir = path.parent
        finally:
            conn.close()
    return _Log(path, origin, log_id, last, last_id, tables, tempdir)


@contextlib.contextmanager
def _sqlite_errors(context: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise NotAnEventLogError(f"{context}: not an SQLite database ({exc})") from exc
        raise StorageError(f"{context}: {exc}") from exc


# ------------------------------------------------------------------ typed views


def _live_typed_select(event_class: type[Event], after: int, through: int | None = None) -> str:
    """The typed rows of one event type with ``after < sequence [<= through]``, from the log.

    ``sqlite_query`` hands the filter to SQLite, which answers it from the
    ``(event_type, sequence)`` index instead of a scan of the whole table.
    """
    bounds = f"sequence > {int(after)}"
    if through is not None:
        bounds += f" AND sequence <= {int(through)}"
    inner = (
        "SELECT sequence, event_id, stream_id, stream_version, occurred_at, schema_version, "
        f"payload FROM events WHERE event_type = {quote_literal(event_class.event_type())} "
        f"AND {bounds} ORDER BY sequence"
    )
    columns = typed_columns(event_class)
    scalars = [c for c in columns if c.json_path and c.duckdb_type != "JSON"]
    paths = ", ".join(quote_literal(c.json_path) for c in scalars)
    select = []
    for column in columns:
        name = quote_ident(column.name)
        if not column.json_path:  # an envelope column
            select.append(f"CAST({name} AS {column.duckdb_type}) AS {name}")
        elif column.duckdb_type == "JSON":
            select.append(f"{_json_text(column, column is columns[-1])} AS {name}")
        else:
            index = scalars.index(column) + 1
            select.append(f"CAST(__v[{index}] AS {column.duckdb_type}) AS {name}")
    # A payload of a schema this catalog does not describe must not be read as if it were.
    check = (
        f"CASE WHEN CAST(schema_version AS BIGINT) <> {SCHEMA_VERSION} THEN "
        f"error({quote_literal(_SCHEMA_ERROR + ': event ')} || sequence || "
        f"' has schema_version ' || schema_version || "
        f"{quote_literal(f'; this eventkit reads version {SCHEMA_VERSION} — upgrade eventkit')})"
        " ELSE true END"
    )
    return (
        f"SELECT {', '.join(select)} FROM ("
        f"SELECT *, json_extract_string(payload, [{paths}]) AS __v "
        f"FROM sqlite_query('log', {quote_literal(inner)}) WHERE {check})"
    )


def _json_text(column: Column, last: bool) -> str:
    """A JSON field as the payload spells it, where that can be cut out of the payload.

    Re-serializing parsed JSON would change the spelling of some numbers (``1e+16``
    becomes ``10000000000000000.0``) and round integers beyond 64 bits. The store
    writes compact JSON in field order, so the model's last field runs from its key
    to the payload's closing brace; anything else falls back to ``json_extract``.
    """
    extracted = f"json_extract(payload, {quote_literal(column.json_path)})"
    key = column.json_path.removeprefix("$.")
    if not last or "." in key:
        return extracted
    marker = quote_literal(f',"{key}":')
    start = f"strpos(payload, {marker})"
    text = f"substr(payload, {start} + {len(key) + 4}, length(payload) - {start} - {len(key) + 4})"
    return (
        f"CASE WHEN {start} > 0 AND ends_with(payload, '}}') AND json_valid({text}) "
        f"THEN CAST({text} AS JSON) ELSE {extracted} END"
    )


def _typed_view_sql(event_class: type[Event], files: Sequence[str], after: int) -> str:
    live = _live_typed_select(event_class, after)
    if not files:
        return live
    names = ", ".join(quote_ident(c.name) for c in typed_columns(event_class))
    listed = ", ".join(quote_literal(f) for f in files)
    return f"SELECT {names} FROM read_parquet([{listed}]) UNION ALL {live}"


def _events_select(source: str) -> str:
    select = ", ".join(
        f"CAST({quote_ident(c.name)} AS {c.duckdb_type}) AS {quote_ident(c.name)}"
        for c in EVENTS_COLUMNS
    )
    return f"SELECT {select} FROM {source}"


def live_events_select(after: int, through: int | None = None, where: str = "") -> str:
    """The ``events`` rows with ``after < sequence [<= through]``, filtered in SQLite.

    ``where`` is an SQLite condition over the ``events`` table (its text timestamps).
    """
    bounds = f"sequence > {int(after)}"
    if through is not None:
        bounds += f" AND sequence <= {int(through)}"
    if where:
        bounds += f" AND ({where})"
    columns = ", ".join(c.name for c in EVENTS_COLUMNS)
    inner = f"SELECT {columns} FROM events WHERE {bounds} ORDER BY sequence"
    return _events_select(f"sqlite_query('log', {quote_literal(inner)})")


def _events_view_sql(cache: _CacheState | None) -> str:
    files = cache.files(EVENTS) if cache else []
    if not files:  # DuckDB's own scan of the table reads it on every core
        return _events_select("log.events")
    names = ", ".join(quote_ident(c.name) for c in EVENTS_COLUMNS)
    listed = ", ".join(quote_literal(f) for f in files)
    return (
        f"SELECT {names} FROM read_parquet([{listed}]) "
        f"UNION ALL {live_events_select(cache.last_sequence)}"
    )


def _create_views(con: duckdb.DuckDBPyConnection, log: _Log, cache: _CacheState | None) -> None:
    con.execute(f"CREATE OR REPLACE VIEW events AS {_events_view_sql(cache)}")
    # Where the cached events are, for readers that take them straight from Parquet.
    rows = [(f, cache.last_sequence) for f in cache.files(EVENTS)] if cache else []
    con.execute("CREATE OR REPLACE TABLE eventkit_cache (file VARCHAR, cached_through BIGINT)")
    if rows:
        con.executemany("INSERT INTO eventkit_cache VALUES (?, ?)", rows)
    for event_class in EVENT_CLASSES:
        view = view_name(event_class.event_type())
        files = cache.files(event_class.event_type()) if cache else []
        after = cache.last_sequence if cache else 0
        body = _typed_view_sql(event_class, files, after)
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(view)} AS {body}")
    for view, table in PROJECTION_VIEWS.items():
        columns = log.tables.get(table)
        if not columns:
            continue
        select = ", ".join(
            f"CAST({quote_ident(c)} AS TIMESTAMPTZ) AS {quote_ident(c)}"
            if c.endswith("_at")
            else quote_ident(c)
            for c in columns
        )
        con.execute(
            f"CREATE OR REPLACE VIEW {quote_ident(view)} AS "
            f"SELECT {select} FROM log.{quote_ident(table)}"
        )
    pairs = pa.table({"tool": list(TOOL_CATEGORIES), "category": list(TOOL_CATEGORIES.values())})
    con.register("_tool_category_pairs", pairs)
    con.execute("CREATE OR REPLACE TABLE tool_categories AS SELECT * FROM _tool_category_pairs")
    con.unregister("_tool_category_pairs")


# ------------------------------------------------------------------ columnar cache


def cache_root() -> Path | None:
    """Where caches live: ``$EVENTKIT_CACHE_DIR``, else the user cache dir; None if disabled."""
    if os.environ.get("EVENTKIT_CACHE", "").lower() in ("0", "off", "false", "no"):
        return None
    explicit = os.environ.get("EVENTKIT_CACHE_DIR")
    if explicit is not None:
        return Path(explicit) if explicit else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "eventkit"


def _spec_digest() -> str:
    spec = [EVENTS_COLUMNS, *((c.event_type(), typed_columns(c)) for c in EVENT_CLASSES)]
    return hashlib.sha256(repr((_CACHE_FORMAT, spec)).encode()).hexdigest()[:16]


EVENTS = "events"
"""The cache's kind for the ``events`` table itself (the others are event types)."""

_KINDS = (EVENTS, *(cls.event_type() for cls in EVENT_CLASSES))


def _file_name(kind: str) -> str:
    return f"{EVENTS if kind == EVENTS else view_name(kind)}.parquet"


def _live_select(kind: str, after: int, through: int | None) -> str:
    if kind == EVENTS:
        return live_events_select(after, through)
    return _live_typed_select(EVENT_TYPES[kind], after, through)


@dataclass
class _Chunk:
    name: str
    first: int
    last: int
    last_event_id: str
    types: list[str]


@dataclass
class _CacheState:
    directory: Path
    chunks: list[_Chunk] = field(default_factory=list)

    @property
    def last_sequence(self) -> int:
        return self.chunks[-1].last if self.chunks else 0

    def files(self, kind: str) -> list[str]:
        """The chunks' files of ``EVENTS`` or of an event type, in sequence order."""
        return [
            str(self.directory / chunk.name / _file_name(kind))
            for chunk in self.chunks
            if kind in chunk.types
        ]


def _read_manifest(con: duckdb.DuckDBPyConnection, directory: Path, log: _Log) -> _CacheState:
    """The cache as its manifest describes it, if it still matches the log; else empty."""
    state = _CacheState(directory)
    try:
        data = json.loads((directory / "manifest.json").read_text())
        if data.get("log_id") != log.log_id or data.get("spec") != _spec_digest():
            return state
        chunks = [_Chunk(**chunk) for chunk in data["chunks"]]
    except (OSError, ValueError, KeyError, TypeError):
        return state
    if not chunks or chunks[-1].last > log.last_sequence:
        return state
    # A log with this log_id whose history differs (a restored or diverged copy).
    probe = f"SELECT event_id FROM events WHERE sequence = {int(chunks[-1].last)}"
    row = con.execute(f"SELECT * FROM sqlite_query('log', {quote_literal(probe)})").fetchone()
    if row is None or row[0] != chunks[-1].last_event_id:
        return state
    if not all((directory / chunk.name).is_dir() for chunk in chunks):
        return state
    state.chunks = chunks
    return state


def _write_manifest(state: _CacheState, log: _Log) -> None:
    data = {
        "format": _CACHE_FORMAT,
        "log_id": log.log_id,
        "spec": _spec_digest(),
        "chunks": [chunk.__dict__ for chunk in state.chunks],
    }
    tmp = state.directory / f".manifest-{os.getpid()}.json"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, state.directory / "manifest.json")


def _write_chunk(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    selects: Callable[[str], str],
    first: int,
    last: int,
    last_event_id: str,
) -> _Chunk:
    """Write one immutable chunk: the events, and a Parquet file per event type in it."""
    name = f"{first:012d}-{last:012d}-{os.urandom(3).hex()}"
    building = directory / f".building-{name}"
    building.mkdir()

    def write(kind: str) -> str | None:
        target = building / _file_name(kind)
        cursor = con.cursor()  # one per thread: each type's read runs on its own core
        try:
            # The sources come in sequence order, and COPY keeps it.
            (rows,) = cursor.execute(
                f"COPY ({selects(kind)}) TO {quote_literal(str(target))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
        finally:
            cursor.close()
        if rows:
            return kind
        target.unlink()
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        written = list(pool.map(write, _KINDS))
    types = [kind for kind in written if kind]
    building.rename(directory / name)
    return _Chunk(name, first, last, last_event_id, types)


def _remove_orphans(state: _CacheState) -> None:
    keep = {chunk.name for chunk in state.chunks}
    now = time.time()
    for entry in state.directory.iterdir():
        if not entry.is_dir() or entry.name in keep:
            continue
        with contextlib.suppress(OSError):
            if now - entry.stat().st_mtime > _ORPHAN_GRACE_S:
                shutil.rmtree(entry)


def _refresh_cache(
    con: duckdb.DuckDBPyConnection, log: _Log, mode: bool | None
) -> _CacheState | None:
    """Bring the cache up to the log (when worthwhile) and return what it holds.

    Any failure leaves the cache as it was and reads the log live instead: the
    cache only ever makes reading faster.
    """
    root = cache_root()
    if mode is False or root is None or not log.log_id:
        return None
    directory = root / log.log_id
    threshold = 1 if mode else CACHE_MIN_EVENTS
    if log.last_sequence < threshold and not directory.is_dir():
        return None  # too small to be worth a cache: leave no trace
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(directory / ".lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another process is refreshing: use what is there
                return _read_manifest(con, directory, log)
            state = _read_manifest(con, directory, log)
            pending = log.last_sequence - state.last_sequence
            if pending >= threshold and log.last_event_id is not None:
                state.chunks.append(
                    _write_chunk(
                        con,
                        directory,
                        lambda kind: _live_select(kind, state.last_sequence, log.last_sequence),
                        state.last_sequence + 1,
                        log.last_sequence,
                        log.last_event_id,
                    )
                )
                if len(state.chunks) > _MAX_CHUNKS:
                    state.chunks = [_merge_chunks(con, state)]
                _write_manifest(state, log)
                _remove_orphans(state)
            return state
    except (OSError, duckdb.Error, RuntimeError):
        return None


def _merge_chunks(con: duckdb.DuckDBPyConnection, state: _CacheState) -> _Chunk:
    def merged(kind: str) -> str:
        files = state.files(kind)
        if not files:
            return _live_select(kind, 0, 0)
        columns = EVENTS_COLUMNS if kind == EVENTS else typed_columns(EVENT_TYPES[kind])
        names = ", ".join(quote_ident(c.name) for c in columns)
        listed = ", ".join(quote_literal(f) for f in files)
        return f"SELECT {names} FROM read_parquet([{listed}])"

    first, last = state.chunks[0], state.chunks[-1]
    return _write_chunk(con, state.directory, merged, first.first, last.last, last.last_event_id)


# ------------------------------------------------------------------ readers


def _attach(log: _Log) -> duckdb.DuckDBPyConnection:
    con = _new_duckdb()
    try:
        con.execute(f"ATTACH {quote_literal(str(log.path))} AS log (TYPE sqlite, READ_ONLY)")
        con.execute("SELECT count(*) FROM log.log_info").fetchone()
    except BaseException:
        con.close()
        raise
    return con


def _identity(log: _Log) -> tuple:
    """What must not change for an open reader to still show the log its path names."""
    stat = log.origin.stat()
    identity: tuple = (stat.st_dev, stat.st_ino)
    if log.tempdir is not None and log.origin != log.path:  # a copy shows a moment only
        wal = Path(f"{log.origin}-wal")
        wal_stat = wal.stat() if wal.exists() else None
        identity += (stat.st_size, stat.st_mtime_ns)
        identity += (wal_stat.st_size, wal_stat.st_mtime_ns) if wal_stat else ()
    return identity


class _Reader:
    """A DuckDB connection over one log, with its views and (maybe) its cache."""

    def __init__(self, src: object, cache: bool | None):
        self.log = log = _resolve(src)
        self.cache_mode = cache
        self.pid = os.getpid()
        try:
            try:
                self.con = _attach(log)
            except (duckdb.Error, RuntimeError) as exc:
                if log.tempdir is not None:
                    raise StorageError(f"DuckDB cannot read {log.path}: {exc}") from exc
                # SQLite opened it but DuckDB's reader cannot: read a private copy.
                with _sqlite_errors(f"copying {log.path}"):
                    uri = _ro_uri(log.path, immutable=True)
                    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                        log.path = _copy_to_temp(conn)
                log.tempdir = log.path.parent
                self.con = _attach(log)
            if log.tempdir is not None:  # the copy goes when the connection does
                weakref.finalize(self.con, shutil.rmtree, log.tempdir, True)
            self.identity = _identity(log)
            self.cache = _refresh_cache(self.con, log, cache)
            _create_views(self.con, log, self.cache)
        except BaseException:
            self.cleanup()
            raise

    def cleanup(self) -> None:
        if self.log.tempdir is not None:
            shutil.rmtree(self.log.tempdir, ignore_errors=True)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        self.cleanup()

    def current(self) -> bool:
        """Whether this reader still shows the log at its path (and may be reused)."""
        if self.pid != os.getpid():
            return False
        try:
            if _identity(self.log) != self.identity:
                return False
            probe = (
                "SELECT (SELECT value FROM log_info WHERE key = 'log_id'), "
                "(SELECT max(sequence) FROM events)"
            )
            log_id, last = self.con.execute(
                f"SELECT * FROM sqlite_query('log', {quote_literal(probe)})"
            ).fetchone()
        except (OSError, duckdb.Error, RuntimeError):
            return False
        if log_id != self.log.log_id:
            return False
        last = int(last or 0)
        cached = self.cache.last_sequence if self.cache else 0
        if self.cache_mode is not False and last - cached >= CACHE_MIN_EVENTS:
            return False  # grown well past the cache: a new reader extends it
        return True


_READERS: dict[Path, _Reader] = {}
_READERS_LOCK = threading.Lock()


def _shared_reader(src: str | os.PathLike[str]) -> _Reader:
    """The process's reader for a log path, reopened when the log moved on."""
    path = resolve_log_path(src)
    if not path.exists():
        raise LogNotFoundError(f"no eventkit log at {path}")
    key = path.resolve()
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is not None and reader.current():
            return reader
        if reader is not None:  # not closed: a cursor in another thread may still read it
            del _READERS[key]
        reader = _READERS[key] = _Reader(key, None)
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

    ``src`` is a log file, a directory holding ``events.db``, or an
    :class:`~eventkit.EventStore` (an in-memory store is copied to a temporary file).
    ``cache``: None uses the columnar cache for large logs, True always, False never
    (``EVENTKIT_CACHE=0`` also turns it off; ``EVENTKIT_CACHE_DIR`` moves it).
    The connection is the caller's: close it when done.

    Raises :class:`LogNotFoundError` for a missing path and :class:`NotAnEventLogError`
    for a file that is not an eventkit log.
    """
    return _Reader(src, cache).con


@contextlib.contextmanager
def session(src: object, *, private: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one piece of work.

    A connection is used as it is. A log path shares one open reader per process
    (loading the extension and creating the views costs more than most queries);
    each piece of work gets its own cursor on it. ``private`` (work that may change
    the connection, such as dropping a view) and an in-memory store get a reader
    of their own, closed afterwards.
    """
    if isinstance(src, duckdb.DuckDBPyConnection):
        yield src
        return
    if _store_connection(src) is not None and src.path is not None:
        src = src.path
    if isinstance(src, str | os.PathLike) and not private:
        cursor = _shared_reader(src).con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            _quiet(cursor)
            yield cursor
        finally:
            cursor.close()
        return
    reader = _Reader(src, None if private else False)
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
    with the filters run by SQLite.
    """
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


def duckdb_error(exc: BaseException, context: str) -> EventkitError:
    """The eventkit error for a DuckDB failure."""
    message = str(exc)
    lowered = message.lower()
    if _SCHEMA_ERROR in message:
        detail = message[message.index(_SCHEMA_ERROR) + len(_SCHEMA_ERROR) :].lstrip(": ")
        return UnsupportedSchemaError(f"{context}: {detail}")
    if "read-only" in lowered or "readonly" in lowered or "read only" in lowered:
        return ReadOnlyError(f"{context}: the log is read-only through eventkit ({message})")
    return StorageError(f"{context}: {message}")


_PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int64Dtype(),
    pa.int16(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.Int64Dtype(),
    pa.uint16(): pd.Int64Dtype(),
    pa.uint32(): pd.Int64Dtype(),
    pa.float32(): pd.Float64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.string_view(): pd.StringDtype(),
}


def arrow_to_pandas(table: pa.Table, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """A DataFrame of nullable dtypes: Int64, Float64, boolean, string, datetime64[us, UTC].

    Columns named in ``categorical`` become pandas categoricals with sorted categories.
    """
    for name in categorical:
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).dictionary_encode())
    frame = table.to_pandas(types_mapper=_PANDAS_TYPES.get)
    for name in categorical:
        if name in frame.columns:
            column = frame[name]
            frame[name] = column.cat.reorder_categories(sorted(column.cat.categories))
    return frame


def fetch(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    categorical: Sequence[str] = (),
    context: str = "querying the log",
) -> pd.DataFrame:
    """Run ``query`` and return its result through Arrow (see :func:`arrow_to_pandas`)."""
    try:
        relation = con.sql(query, params=params)
        table = relation.to_arrow_table() if relation is not None else pa.table({})
    except (duckdb.Error, RuntimeError) as exc:
        raise duckdb_error(exc, context) from exc
    return arrow_to_pandas(table, categorical)


_READING_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.CALL,
}


def sql(src: object, query: str, params: Sequence[Any] | dict[str, Any] | None = None):
    """Run a query over the log's views and return a DataFrame.

    ``src`` as for :func:`connect_duckdb`, or a connection it returned. A statement
    that would write to the log raises :class:`ReadOnlyError`.
    """
    try:
        kinds = {statement.type for statement in duckdb.extract_statements(query)}
    except duckdb.Error as exc:
        raise duckdb_error(exc, "reading the query") from exc
    with session(src, private=not kinds <= _READING_STATEMENTS) as con:
        return fetch(con, query, params)


__all__ = [
    "CACHE_MIN_EVENTS",
    "PROJECTION_VIEWS",
    "arrow_to_pandas",
    "cache_root",
    "close_readers",
    "connect_duckdb",
    "events_table",
    "fetch",
    "session",
    "sql",
]
