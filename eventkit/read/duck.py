"""The DuckDB read side: a log attached READ_ONLY, with typed views per event type.

:func:`connect_duckdb` loads DuckDB's sqlite extension from its pip package (never
downloading anything), attaches the log as ``log`` and creates views:

- ``events``: the envelope, timestamps as TIMESTAMPTZ;
- one typed view per catalog event type (``turn_completed``…): envelope columns
  ``sequence, event_id, stream_id, stream_version, occurred_at`` then the model's
  columns from :mod:`eventkit.catalog.columns`, extracted from the payload with their types;
- ``projects``, ``threads``, ``turns``, ``messages``, ``tool_calls``,
  ``checkpoints``, ``settings`` over the projection tables;
- a ``tool_categories`` table (tool name -> category) for joins.

A Parquet dataset written by :func:`~eventkit.export_parquet` is read the same way:
the same ``events`` and typed views (hive-partitioned Parquet, plus ``source_log``),
and since a dataset has no projection tables, entity views replayed from the events
by :mod:`eventkit.read.frames`. Large datasets are read through a compacted copy in the
cache directory (a file per event type, extended as the dataset grows).

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

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from eventkit.catalog.columns import (
    EVENTS_COLUMNS,
    TYPED_ENVELOPE,
    Column,
    columns_of,
    typed_columns,
    view_name,
)
from eventkit.catalog.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    Event,
    format_timestamp,
)
from eventkit.catalog.tool_categories import TOOL_CATEGORIES
from eventkit.errors import (
    EventkitError,
    LogNotFoundError,
    NotAnEventLogError,
    ReadOnlyError,
    StorageError,
    UnsupportedSchemaError,
)
from eventkit.log.files import SQLITE_HEADER, copy_with_wal, has_unreadable_wal, resolve_log_path
from eventkit.log.files import ro_uri as _ro_uri

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

REPLAY_SCHEMA = "replay"
"""Schema of the typed views as the entity replay reads them (see :func:`_create_replay_views`)."""

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


def _open_sqlite_ro(path: Path) -> tuple[sqlite3.Connection, bool, Path | None]:
    """A read-only connection: ``(conn, immutable, copy)``; see :mod:`eventkit.log.files`.

    ``immutable`` when the log lies where SQLite cannot create its ``-shm``; ``copy``
    (a private file with the WAL replayed in) when its newest events are in a ``-wal``
    without its ``-shm``.
    """
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, False, None
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not a database" in message or "encrypted" in message:
            raise NotAnEventLogError(f"{path} is not an SQLite database ({message})") from exc
        if has_unreadable_wal(path):
            copy = copy_with_wal(path)
            return sqlite3.connect(_ro_uri(copy), uri=True), False, copy
        conn = sqlite3.connect(_ro_uri(path, immutable=True), uri=True)
        return conn, True, None


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
        conn, immutable, copy = _open_sqlite_ro(path)
        if copy is not None:
            path, tempdir = copy, copy.parent
        try:
            log_id, last, last_id, tables = _inspect(conn, origin)
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


def _live_typed_select(
    event_class: type[Event],
    after: int,
    through: int | None = None,
    *,
    envelope: Sequence[Column] = TYPED_ENVELOPE,
    lead: Sequence[str] = (),
    tail: Sequence[str] = (),
    json_as_text: bool = False,
) -> str:
    """The typed rows of one event type with ``after < sequence [<= through]``, from the log.

    ``sqlite_query`` hands the filter to SQLite, which answers it from the
    ``(event_type, sequence)`` index instead of a scan of the whole table. The rows
    hold ``envelope``, then the payload columns; ``lead`` and ``tail`` are more
    expressions before and after them (over the envelope as the log stores it).
    ``json_as_text`` makes JSON columns VARCHAR (their text is the same).
    """
    bounds = f"sequence > {int(after)}"
    if through is not None:
        bounds += f" AND sequence <= {int(through)}"
    stored = [c.name for c in envelope if c.name not in ("schema_version", "payload")]
    inner = (
        f"SELECT {', '.join(stored)}, schema_version, payload FROM events "
        f"WHERE event_type = {quote_literal(event_class.event_type())} "
        f"AND {bounds} ORDER BY sequence"
    )
    columns = columns_of(event_class)
    scalars = [c for c in columns if c.duckdb_type != "JSON"]
    select = [*lead]
    select += [
        f"CAST({quote_ident(c.name)} AS {c.duckdb_type}) AS {quote_ident(c.name)}" for c in envelope
    ]
    for column in columns:
        name = quote_ident(column.name)
        if column.duckdb_type == "JSON":
            text = _json_text(column, column is columns[-1])
            select.append(f"{f'CAST({text} AS VARCHAR)' if json_as_text else text} AS {name}")
        else:
            index = scalars.index(column) + 1
            select.append(f"CAST(__v[{index}] AS {column.duckdb_type}) AS {name}")
    select += tail
    paths = ", ".join(quote_literal(c.json_path) for c in scalars)
    extract = f"json_extract_string(payload, [{paths}])" if scalars else "NULL"
    return (
        f"SELECT {', '.join(select)} FROM ("
        f"SELECT *, {extract} AS __v "
        f"FROM sqlite_query('log', {quote_literal(inner)}) WHERE {_schema_check('sequence')})"
    )


def _schema_check(where: str) -> str:
    """A condition that is true for a known ``schema_version`` and fails the query otherwise.

    A payload of a schema this catalog does not describe must not be read as if it were.
    ``where`` is SQL text naming the event in the message.
    """
    return (
        f"CASE WHEN CAST(schema_version AS BIGINT) <> {SCHEMA_VERSION} THEN "
        f"error({quote_literal(_SCHEMA_ERROR + ': event ')} || {where} || "
        f"' has schema_version ' || schema_version || "
        f"{quote_literal(f'; this eventkit reads version {SCHEMA_VERSION} — upgrade eventkit')})"
        " ELSE true END"
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
    _create_replay_views(con, {})
    _create_tool_categories(con)


def _create_replay_views(con: duckdb.DuckDBPyConnection, offsets: dict[str, int]) -> None:
    """The typed views as the entity replay reads them, in the ``replay`` schema.

    A log's are its typed views. Over several logs (a dataset), ``sequence`` becomes the
    position in the union ordered by ``(source_log, sequence)``: each log's sequences
    shifted by ``offsets[source_log]``, the events of the logs before it.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {REPLAY_SCHEMA}")
    shift = ""
    if len(offsets) > 1:
        cases = " ".join(f"WHEN {quote_literal(s)} THEN {int(n)}" for s, n in offsets.items())
        shift = f' REPLACE ("sequence" + CASE source_log {cases} END AS "sequence")'
    for event_class in EVENT_CLASSES:
        view = quote_ident(view_name(event_class.event_type()))
        con.execute(
            f"CREATE OR REPLACE VIEW {REPLAY_SCHEMA}.{view} AS SELECT *{shift} FROM main.{view}"
        )


def _create_tool_categories(con: duckdb.DuckDBPyConnection) -> None:
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
    rows = _sqlite_rows(con, probe)
    if not rows or rows[0][0] != chunks[-1].last_event_id:
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


# ------------------------------------------------------------------ Parquet datasets
#
# A dataset written by eventkit.scale.export: DIR/_eventkit_manifest.json and
# DIR/events/event_type=<type>/date=<day>/part-<source_log>-<first>-<last>.parquet.
# Only the events the manifest lists are read (sequence <= its last_sequence per
# source): part files of an export still running, or of one that crashed, are not.
# A dataset has a file per event type and day, often many small ones; every query
# would open them all. Large datasets are read through a compacted copy instead (a
# Parquet file per event type in the cache directory, extended as the dataset grows).

DATASET_MANIFEST = "_eventkit_manifest.json"
"""The manifest file that makes a directory a dataset."""

DATASET_FORMAT = 1
"""The manifest ``format`` this eventkit writes and reads."""

DATASET_ENVELOPE: tuple[Column, ...] = (
    Column("source_log", "VARCHAR", ""),
    *(c for c in EVENTS_COLUMNS if c.name != "event_type"),
)
"""Columns every dataset file leads with; ``event_type`` and ``date`` are path partitions."""

DATASET_ENTITY_VIEWS: dict[str, str] = {
    "projects": "projects_sql",
    "threads": "threads_sql",
    "turns": "turns_sql",
    "messages": "messages_sql",
    "tool_calls": "tool_calls_sql",
    "checkpoints": "checkpoints_sql",
    "settings": "settings_sql",
}
"""A dataset's entity views (it has no projection tables): view -> replay builder in frames."""

_SOURCE_LOG = DATASET_ENVELOPE[0]
_COMPACT_FILES = 2_000  # part files read by one statement of the compaction
_DATASET_CACHE_FORMAT = 1
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
class _Dataset:
    root: Path
    sources: dict[str, dict[str, Any]]  # log_id -> manifest entry, ordered by log_id
    identity: tuple  # of the manifest file

    @classmethod
    def open(cls, root: Path) -> _Dataset:
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


def _dataset_check(dataset: _Dataset) -> str:
    check = _schema_check("sequence || ' of log ' || source_log")
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


def _compact_dataset(
    con: duckdb.DuckDBPyConnection, dataset: _Dataset, mode: bool | None
) -> dict[str, list[str]] | None:
    """The compacted copy of a dataset: ``event_type -> files``; None to read it directly.

    Kept in the cache directory as chunks, like a log's cache: each chunk holds the
    events its dataset gained since the chunk before (Parquet files per event type,
    read from the new part files only). A copy of another history (the dataset was
    made again) is not used. Any failure reads the dataset directly instead.
    """
    root = cache_root()
    if mode is False or root is None:
        return None
    home = root / "datasets" / hashlib.sha256(str(dataset.root.resolve()).encode()).hexdigest()[:16]
    events = sum(int(e.get("events") or e["last_sequence"]) for e in dataset.sources.values())
    if mode is None and events < CACHE_MIN_EVENTS and not home.is_dir():
        return None
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(home / ".lock", "a+") as lock:
            # Another process compacting this dataset is waited for: reading a large
            # dataset directly costs more than waiting for its copy.
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = _read_compacted(home, dataset)
            if not _covers(state, dataset):
                state["chunks"].append(_write_dataset_chunk(con, dataset, home, state))
                if len(state["chunks"]) > _MAX_CHUNKS:
                    state["chunks"] = [_merge_dataset_chunks(con, home, state["chunks"])]
                tmp = home / f".manifest-{os.getpid()}.json"
                tmp.write_text(json.dumps(state, indent=1))
                os.replace(tmp, home / "manifest.json")
                _remove_unused_chunks(home, state["chunks"])
    except (OSError, ValueError, KeyError, TypeError, duckdb.Error, RuntimeError):
        return None
    files: dict[str, list[str]] = {}
    for chunk in state["chunks"]:
        for event_type, names in chunk["kinds"].items():
            files.setdefault(event_type, []).extend(str(home / chunk["name"] / n) for n in names)
    return files


def _read_compacted(home: Path, dataset: _Dataset) -> dict[str, Any]:
    """The cache manifest, if its chunks are of this dataset's history; else an empty one."""
    empty = {"format": _DATASET_CACHE_FORMAT, "spec": _spec_digest(), "probe": None, "chunks": []}
    try:
        state = json.loads((home / "manifest.json").read_text())
        upto = state["chunks"][-1]["upto"] if state["chunks"] else {}
        probe = state["probe"]
    except (OSError, ValueError, KeyError, TypeError):
        return empty
    if (state.get("format"), state.get("spec")) != (empty["format"], empty["spec"]):
        return empty
    # The oldest part file copied must still be there, unchanged: the same dataset.
    if probe is not None:
        try:
            stat = (dataset.root / probe[0]).stat()
        except OSError:
            return empty
        if [stat.st_size, stat.st_mtime_ns] != probe[1:]:
            return empty
    for source, last in upto.items():
        entry = dataset.sources.get(source)
        if entry is None or int(entry["last_sequence"]) < last:
            return empty
    if not all((home / chunk["name"]).is_dir() for chunk in state["chunks"]):
        return empty
    return state


def _covers(state: dict[str, Any], dataset: _Dataset) -> bool:
    upto = state["chunks"][-1]["upto"] if state["chunks"] else {}
    return all(
        upto.get(source, 0) == int(entry["last_sequence"])
        for source, entry in dataset.sources.items()
    )


def _kind_file(event_type: str, number: int = 0) -> str:
    if event_type in EVENT_TYPES:
        return f"{view_name(event_type)}-{number:04d}.parquet"
    return f"unknown-{hashlib.sha256(event_type.encode()).hexdigest()[:12]}-{number:04d}.parquet"


def _write_dataset_chunk(
    con: duckdb.DuckDBPyConnection, dataset: _Dataset, home: Path, state: dict[str, Any]
) -> dict[str, Any]:
    """A chunk of the events past the last chunk, read from the part files holding them."""
    covered = state["chunks"][-1]["upto"] if state["chunks"] else {}
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
    if state["probe"] is None and new:
        oldest = min(min(parts) for parts in new.values())
        stat = oldest.stat()
        state["probe"] = [str(oldest.relative_to(dataset.root)), stat.st_size, stat.st_mtime_ns]
    where = " OR ".join(
        f"(source_log = {quote_literal(s)} AND sequence > {int(covered.get(s, 0))} "
        f"AND sequence <= {last})"
        for s, last in upto.items()
    )
    name = f"chunk-{os.urandom(4).hex()}"
    building = home / f".building-{name}"
    building.mkdir()
    kinds: dict[str, list[str]] = {}
    for event_type, parts in sorted(new.items()):
        event_class = EVENT_TYPES.get(event_type)
        columns = (*DATASET_ENVELOPE, *(columns_of(event_class) if event_class else ()))
        scan = (
            f"read_parquet(?, hive_partitioning = true, union_by_name = true, {_PARTITION_TYPES})"
        )
        select = _dataset_select(columns, scan, where or "false")
        parts.sort()
        # A few thousand part files at a time: a scan holds state for each of its files.
        for number, start in enumerate(range(0, len(parts), _COMPACT_FILES)):
            kinds.setdefault(event_type, []).append(_kind_file(event_type, number))
            target = building / kinds[event_type][-1]
            con.execute(
                f"COPY (SELECT {quote_literal(event_type)} AS event_type, * FROM ({select})) "
                f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)",
                [[str(p) for p in parts[start : start + _COMPACT_FILES]]],
            )
    building.rename(home / name)
    return {"name": name, "upto": upto, "kinds": kinds}


def _merge_dataset_chunks(
    con: duckdb.DuckDBPyConnection, home: Path, chunks: list[dict[str, Any]]
) -> dict[str, Any]:
    name = f"chunk-{os.urandom(4).hex()}"
    building = home / f".building-{name}"
    building.mkdir()
    kinds = {}
    for event_type in sorted({t for chunk in chunks for t in chunk["kinds"]}):
        files = [
            str(home / c["name"] / file) for c in chunks for file in c["kinds"].get(event_type, ())
        ]
        kinds[event_type] = [_kind_file(event_type)]
        target = quote_literal(str(building / kinds[event_type][0]))
        con.execute(
            "COPY (SELECT * FROM read_parquet(?, union_by_name = true)) "
            f"TO {target} (FORMAT parquet, COMPRESSION zstd)",
            [files],
        )
    building.rename(home / name)
    return {"name": name, "upto": chunks[-1]["upto"], "kinds": kinds}


def _remove_unused_chunks(home: Path, chunks: list[dict[str, Any]]) -> None:
    keep = {chunk["name"] for chunk in chunks}
    now = time.time()
    for entry in home.iterdir():
        if entry.is_dir() and entry.name not in keep:
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > _ORPHAN_GRACE_S:
                    shutil.rmtree(entry)


def _create_dataset_views(
    con: duckdb.DuckDBPyConnection, dataset: _Dataset, compacted: dict[str, list[str]] | None
) -> None:
    from eventkit.read import frames  # the replay SQL: one implementation, for logs and datasets

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
    _create_replay_views(con, offsets)
    _create_tool_categories(con)
    for view, builder in DATASET_ENTITY_VIEWS.items():
        query = frames.ordered(getattr(frames, builder)())
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


def _is_dataset(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a connection reads a dataset (its views were made by :class:`_DatasetReader`)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'eventkit_sources'"
    ).fetchone()
    return bool(found[0])


class _DatasetReader:
    """A DuckDB connection over a Parquet dataset, with the same views as over a log."""

    def __init__(self, root: Path, cache: bool | None):
        self.dataset = _Dataset.open(root)
        self.pid = os.getpid()
        # No sqlite extension here: queries may use every core.
        self.con = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            self.con.execute("SET GLOBAL TimeZone = 'UTC'")
            # DuckDB keeps what it reads of files in memory, up to its memory limit: a
            # dataset of many files read once (to compact it) would fill it for nothing.
            self.con.execute("SET GLOBAL enable_external_file_cache = false")
            _quiet(self.con)
            compacted = _compact_dataset(self.con, self.dataset, cache)
            _create_dataset_views(self.con, self.dataset, compacted)
        except (duckdb.Error, RuntimeError) as exc:
            self.con.close()
            raise duckdb_error(exc, f"reading the dataset {root}") from exc
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    def current(self) -> bool:
        """Whether the manifest is still the one this reader was made from."""
        try:
            latest = _Dataset.open(self.dataset.root).identity
        except (OSError, EventkitError):
            return False
        return self.pid == os.getpid() and latest == self.dataset.identity


def _dataset_events_table(
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


# ------------------------------------------------------------------ readers


def _sqlite_rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    """Rows of an SQLite query on the attached log, on a cursor closed at once.

    A result left pending on a long-lived connection keeps its SQLite read open, and
    other reads of the log in this process then fail with "database disk image is
    malformed" while another process appends (tests/reliability).
    """
    with contextlib.closing(con.cursor()) as cursor:
        probe = f"SELECT * FROM sqlite_query('log', {quote_literal(query)})"
        return cursor.execute(probe).fetchall()


def _attach(log: _Log) -> duckdb.DuckDBPyConnection:
    con = _new_duckdb()
    try:
        con.execute(f"ATTACH {quote_literal(str(log.path))} AS log (TYPE sqlite, READ_ONLY)")
        _sqlite_rows(con, "SELECT count(*) FROM log_info")
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
            ((log_id, last),) = _sqlite_rows(self.con, probe)
        except (OSError, duckdb.Error, RuntimeError):
            return False
        if log_id != self.log.log_id:
            return False
        last = int(last or 0)
        cached = self.cache.last_sequence if self.cache else 0
        if self.cache_mode is not False and last - cached >= CACHE_MIN_EVENTS:
            return False  # grown well past the cache: a new reader extends it
        return True


_READERS: dict[Path, _Reader | _DatasetReader] = {}
_READERS_LOCK = threading.Lock()


def _open_reader(src: object, cache: bool | None) -> _Reader | _DatasetReader:
    root = dataset_root(src)
    return _Reader(src, cache) if root is None else _DatasetReader(root, cache)


def _shared_reader(src: str | os.PathLike[str]) -> _Reader | _DatasetReader:
    """The process's reader for a log or dataset path, reopened when it moved on."""
    root = dataset_root(src)
    if root is not None:
        key = root.resolve()
    else:
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
        reader = _READERS[key] = _Reader(key, None) if root is None else _DatasetReader(key, None)
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
    from the events, and ``eventkit_sources`` lists its logs.
    ``cache``: None uses the columnar cache for large logs, True always, False never
    (``EVENTKIT_CACHE=0`` also turns it off; ``EVENTKIT_CACHE_DIR`` moves it).
    The connection is the caller's: close it when done.

    Raises :class:`LogNotFoundError` for a missing path and :class:`NotAnEventLogError`
    for a file that is not an eventkit log.
    """
    return _open_reader(src, cache).con


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
    if _is_dataset(con):
        return _dataset_events_table(con, types, since, until)
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
    that would write to the log raises :class:`ReadOnlyError`; over a dataset, so
    does every statement that is not a query.
    """
    try:
        kinds = {statement.type for statement in duckdb.extract_statements(query)}
    except duckdb.Error as exc:
        raise duckdb_error(exc, "reading the query") from exc
    reading = kinds <= _READING_STATEMENTS
    with session(src, private=not reading) as con:
        if not reading and _is_dataset(con):
            raise ReadOnlyError("a dataset is read-only through eventkit: the query would write")
        return fetch(con, query, params)


__all__ = [
    "CACHE_MIN_EVENTS",
    "DATASET_ENVELOPE",
    "DATASET_FORMAT",
    "DATASET_MANIFEST",
    "PROJECTION_VIEWS",
    "arrow_to_pandas",
    "cache_root",
    "close_readers",
    "connect_duckdb",
    "dataset_root",
    "events_table",
    "fetch",
    "read_dataset_manifest",
    "session",
    "sql",
]
