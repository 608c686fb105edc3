"""The log's full-text index: SQLite FTS5 beside the columnar cache, kept in step by sequence.

The index is a separate SQLite database, never the log: ``<cache root>/<log_id>/search.db``
(the cache root of :func:`~eventkit.read.chunks.cache_root`, ``search.lock`` beside it),
for logs of any size. It holds one document per searchable text:

- a message (``MessageAdded``), its ``MessageDelta`` texts joined on in sequence order,
  so a phrase streamed over several deltas is found; a delta for a message not created
  before it, and a second ``MessageAdded`` for an id, are ignored (as in the replay);
- a tool call's input (``ToolCallStarted``: the tool's name, then one ``key: value`` line
  per value of its input) and its output (``ToolCallCompleted``);
- a thread's title (``ThreadCreated``, and each ``ThreadRenamed``).

Each document is keyed by the sequence of the event that created it. ``meta`` records the
last sequence read and that event's ``event_id``: a later read adds only the events after
it; a log whose event at that sequence differs (a restored or diverged copy with the same
``log_id``), or that is shorter, is indexed again from the start. One process updates the
index at a time (``flock`` on ``search.lock``; others wait, then find it up to date), each
batch of sequences in one transaction with its ``meta``: readers never see half of one.

The tokenizer is FTS5's ``trigram`` (case-insensitive): any run of three or more
characters matches wherever it occurs, so file names, paths, error codes, ids, digits
and CJK text are found as written. When the cache is off (``EVENTKIT_CACHE=0``) or its
directory cannot be written, the index is built in memory for the one search.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventkit.errors import driver_errors
from eventkit.log.files import open_sqlite_readonly
from eventkit.read.chunks import cache_root
from eventkit.read.source import inspect_log, log_path_of, store_connection

INDEX_FORMAT = 1
"""Bumped when what the index holds changes: an index of another format is rebuilt."""

INDEX_FILE = "search.db"
LOCK_FILE = "search.lock"
TOKENIZER = "trigram case_sensitive 0"
BATCH_SEQUENCES = 50_000
"""Sequences read per transaction while the index catches up."""

LOCK_TIMEOUT_S = 600.0
"""How long SQLite waits for another process's transaction on the index."""

MESSAGE = "MessageAdded"
DELTA = "MessageDelta"
TOOL_STARTED = "ToolCallStarted"
TOOL_COMPLETED = "ToolCallCompleted"
THREAD_TITLES = ("ThreadCreated", "ThreadRenamed")
INDEXED_TYPES = (MESSAGE, TOOL_STARTED, TOOL_COMPLETED, *THREAD_TITLES)
"""The event types of the index's documents (a delta's text is in its message's)."""
READ_TYPES = (*INDEXED_TYPES, DELTA)

TOOL_OUTPUT_FIELDS = {"ok": "tool output", "error": "tool error", "denied": "tool denied"}

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS docs (
    sequence INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    field TEXT NOT NULL,
    thread_id TEXT,
    turn_id TEXT,
    item_id TEXT,
    occurred_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS docs_messages ON docs (item_id, thread_id) "
    f"WHERE event_type = '{MESSAGE}'",
    "CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5 "
    f"(body, event_type UNINDEXED, tokenize = '{TOKENIZER}')",
)
"""``docs`` holds what a document is; ``texts`` (rowid = ``docs.sequence``) its text, and its
event type again, so that a search of some types is filtered before it is ranked."""


@dataclass
class LogText:
    """The log being indexed, opened read-only, and where it ends."""

    conn: sqlite3.Connection
    where: str
    log_id: str
    last_sequence: int
    last_event_id: str | None

    def event_id_at(self, sequence: int) -> str | None:
        row = self.conn.execute(
            "SELECT event_id FROM events WHERE sequence = ?", (sequence,)
        ).fetchone()
        return row[0] if row else None

    def last_at_or_before(self, sequence: int) -> tuple[int, str | None]:
        """The last event at or before ``sequence``: its sequence and ``event_id``."""
        row = self.conn.execute(
            "SELECT sequence, event_id FROM events WHERE sequence <= ? "
            "ORDER BY sequence DESC LIMIT 1",
            (sequence,),
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)


@contextlib.contextmanager
def open_log_text(src: object) -> Iterator[LogText]:
    """The log ``src`` names (a path or an EventStore), opened read-only."""
    conn = store_connection(src)
    if conn is not None and src.path is None:  # an in-memory store: read its connection
        with driver_errors("reading the in-memory log"):
            yield _inspect(conn, "the in-memory log")
        return
    path = log_path_of(src)
    with driver_errors(f"reading {path}"):
        opened = open_sqlite_readonly(path)
    try:
        with driver_errors(f"reading {path}"):
            yield _inspect(opened.conn, str(path))
    finally:
        opened.conn.close()
        if opened.copy is not None:
            shutil.rmtree(opened.copy.parent, ignore_errors=True)


def _inspect(conn: sqlite3.Connection, where: str) -> LogText:
    log_id, last, last_id, _ = inspect_log(conn, where)
    return LogText(conn, where, log_id, last, last_id)


# --------------------------------------------------------------------------- documents


def flatten_input(value: Any, prefix: str = "") -> list[str]:
    """A tool input as lines ``key: value`` (nested keys dotted), strings unquoted."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            lines += flatten_input(item, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(value, list):
        return [line for item in value for line in flatten_input(item, prefix)]
    if value is None:
        return []
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return [f"{prefix}: {text}" if prefix else text]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def document(event_type: str, payload: dict) -> tuple[str, str | None, str | None, str, str]:
    """``(field, thread_id, turn_id, item_id, body)`` of an indexed event's document."""
    if event_type not in (MESSAGE, TOOL_STARTED, TOOL_COMPLETED):  # a thread's title
        return (
            "thread title",
            payload.get("id"),
            None,
            payload.get("id"),
            _text(payload.get("title")),
        )
    if event_type == MESSAGE:
        field = f"{_text(payload.get('role')) or 'message'} message"
        body = _text(payload.get("text"))
    elif event_type == TOOL_STARTED:
        field = "tool input"
        body = "\n".join([_text(payload.get("tool")), *flatten_input(payload.get("input"))])
    else:
        field = TOOL_OUTPUT_FIELDS.get(_text(payload.get("status")), "tool output")
        body = _text(payload.get("output"))
    return field, payload.get("thread_id"), payload.get("turn_id"), payload.get("id"), body


@dataclass
class SearchIndex:
    """An open index, up to date with the log when it was opened."""

    conn: sqlite3.Connection
    path: Path | None  # None: built in memory for this search
    last_sequence: int
    generation: int  # how many times it was (re)built from the start
    added_from: int  # the first sequence read this time (0: nothing was read)
    rebuilt: bool  # whether this opening indexed the log from the start


def index_path(log_id: str) -> Path | None:
    """Where a log's index lives: None when the cache is off or the log has no ``log_id``."""
    root = cache_root()
    if root is None or not log_id:
        return None
    return root / log_id / INDEX_FILE


@contextlib.contextmanager
def open_index(src: object) -> Iterator[SearchIndex]:
    """The index of the log ``src`` names, brought up to date (see the module docstring)."""
    with open_log_text(src) as log:
        index = None
        path = index_path(log.log_id)
        if path is not None:
            try:
                index = _open_persistent(path, log)
            except (OSError, sqlite3.Error):
                index = None  # an unwritable or broken cache: index in memory instead
        if index is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            try:
                with driver_errors(f"indexing {log.where}"):
                    index = _bring_up_to_date(conn, None, log)
            except BaseException:
                conn.close()
                raise
    try:
        yield index
    finally:
        index.conn.close()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _open_persistent(path: Path, log: LogText) -> SearchIndex:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(path.with_name(LOCK_FILE)):
        try:
            return _connect_and_update(path, log)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError:  # not an SQLite file, or damaged: the log is the truth
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return _connect_and_update(path, log)


def _connect_and_update(path: Path, log: LogText) -> SearchIndex:
    conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
    try:
        return _bring_up_to_date(conn, path, log)
    except BaseException:
        conn.close()
        raise


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta"))


def _set_meta(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(k, None if v is None else str(v)) for k, v in values.items()],
    )


def _identity(log: LogText) -> dict[str, str]:
    return {"format": str(INDEX_FORMAT), "tokenizer": TOKENIZER, "log_id": log.log_id}


def _bring_up_to_date(conn: sqlite3.Connection, path: Path | None, log: LogText) -> SearchIndex:
    try:
        meta = _meta(conn)
    except sqlite3.OperationalError:  # a new index
        meta = {}
        if path is not None:
            conn.execute("PRAGMA journal_mode = WAL")
    identity = _identity(log)
    same = all(meta.get(k) == v for k, v in identity.items())
    last = int(meta.get("last_sequence") or 0) if same else 0
    generation = int(meta.get("generation") or 0)
    diverged = bool(last) and (
        last > log.last_sequence or log.event_id_at(last) != meta.get("last_event_id")
    )
    rebuilt = not same or diverged
    if rebuilt:  # new, of another format, or of another history: from the start
        generation += 1
        last = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("texts", "docs", "meta"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA:
                conn.execute(statement)
            _set_meta(conn, {**identity, "last_sequence": 0, "generation": generation})
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    added_from = last + 1 if log.last_sequence > last else 0
    if path is not None and last < log.last_sequence:
        conn.execute("PRAGMA synchronous = NORMAL")
    while last < log.last_sequence:
        end = min(last + BATCH_SEQUENCES, log.last_sequence)
        if end == log.last_sequence:
            through, through_id = log.last_sequence, log.last_event_id
        else:  # the last event of the batch (sequences may have gaps)
            through, through_id = log.last_at_or_before(end)
        conn.execute("BEGIN IMMEDIATE")
        try:
            _add_events(conn, log, last, end)
            _set_meta(conn, {"last_sequence": through, "last_event_id": through_id})
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        last = end
    return SearchIndex(conn, path, last, generation, added_from, rebuilt)


def _add_events(conn: sqlite3.Connection, log: LogText, after: int, through: int) -> None:
    """Index the log's events with ``after < sequence <= through``."""
    marks = ", ".join("?" for _ in READ_TYPES)
    rows = log.conn.execute(
        "SELECT sequence, event_type, occurred_at, payload FROM events "
        f"WHERE sequence > ? AND sequence <= ? AND event_type IN ({marks}) ORDER BY sequence",
        (after, through, *READ_TYPES),
    )
    new_docs: list[tuple] = []
    new_texts: dict[int, list[str]] = {}  # sequence -> parts of a document added here
    messages: dict[tuple[str, str], int] = {}  # (item_id, thread_id) -> its sequence
    grown: dict[int, list[str]] = {}  # sequence of a message indexed before -> its text parts
    for sequence, event_type, occurred_at, payload in rows:
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if event_type == DELTA:
            key = (data.get("id"), data.get("thread_id"))
            owner = messages.get(key)
            if owner is None:
                owner = _indexed_message(conn, key)
                if owner is None:
                    continue  # a delta for a message not created before it
                messages[key] = owner
                grown[owner] = [_indexed_text(conn, owner)]
            parts = new_texts.get(owner)
            (parts if parts is not None else grown[owner]).append(_text(data.get("delta")))
            continue
        field, thread_id, turn_id, item_id, body = document(event_type, data)
        if event_type == MESSAGE:
            key = (item_id, thread_id)
            if key in messages or _indexed_message(conn, key) is not None:
                continue  # a second creation of the message
            messages[key] = sequence
        elif not body:
            continue
        new_docs.append((sequence, event_type, field, thread_id, turn_id, item_id, occurred_at))
        new_texts[sequence] = [body]
    conn.executemany(
        "INSERT INTO docs (sequence, event_type, field, thread_id, turn_id, item_id, "
        "occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        new_docs,
    )
    conn.executemany(
        "INSERT INTO texts (rowid, body, event_type) VALUES (?, ?, ?)",
        ((doc[0], "".join(new_texts[doc[0]]), doc[1]) for doc in new_docs),
    )
    conn.executemany(
        "UPDATE texts SET body = ? WHERE rowid = ?",
        (("".join(parts), sequence) for sequence, parts in grown.items()),
    )


def _indexed_message(conn: sqlite3.Connection, key: tuple[Any, Any]) -> int | None:
    row = conn.execute(
        f"SELECT sequence FROM docs WHERE event_type = '{MESSAGE}' AND item_id IS ? "
        "AND thread_id IS ?",
        key,
    ).fetchone()
    return row[0] if row else None


def _indexed_text(conn: sqlite3.Connection, sequence: int) -> str:
    row = conn.execute("SELECT body FROM texts WHERE rowid = ?", (sequence,)).fetchone()
    return row[0] if row else ""


__all__ = [
    "BATCH_SEQUENCES",
    "INDEXED_TYPES",
    "INDEX_FILE",
    "INDEX_FORMAT",
    "LOCK_FILE",
    "TOKENIZER",
    "LogText",
    "SearchIndex",
    "document",
    "flatten_input",
    "index_path",
    "open_index",
    "open_log_text",
]
