"""Projection tables: one row per entity, kept in step with the log.

The rules are those of ``docs/semantics.md``. The store calls :func:`apply` inside
its append transaction; :func:`catch_up` applies what was written with projections
off; :func:`rebuild_projections` replays the whole log into empty tables.

All three share one path over ``(sequence, type, at, payload dict)`` tuples, made
from the batch's models in :func:`apply` and from the log's payload text otherwise:
for a chunk of events, load the rows they touch (one query per table), apply the
events to those rows in memory in sequence order, and write the changed rows back
with one ``executemany`` per table. Per-event SQL would cost several times the
append itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from operator import itemgetter
from typing import Any

from pydantic_core import to_json

from eventkit.catalog.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Event,
    StoredEvent,
    format_timestamp,
    utc_now,
)
from eventkit.catalog.tool_categories import tool_category
from eventkit.errors import EventkitError, StorageError, UnsupportedSchemaError, sqlite_errors

PROJECTOR = "entities"
"""This projector's row in ``projection_state``."""

_CHUNK = 10_000
"""Events applied per round of load / apply / write when replaying from the log."""

Row = dict[str, Any]


@dataclass(frozen=True, eq=False)  # hashed by identity: tables are dict keys on hot paths
class ProjectionTable:
    """A projection table: its name and its columns in table order."""

    name: str
    columns: tuple[str, ...]
    """Column order of the table; the first column is the primary key."""

    @property
    def key(self) -> str:
        return self.columns[0]

    @cached_property
    def select_sql(self) -> str:
        # One bound JSON array instead of N placeholders: no variable limit, and one
        # cached statement whatever the batch size.
        return (
            f"SELECT {', '.join(self.columns)} FROM {self.name} "
            f"WHERE {self.key} IN (SELECT value FROM json_each(?))"
        )

    @cached_property
    def upsert_sql(self) -> str:
        # An upsert updates rows in place; INSERT OR REPLACE would delete and re-insert,
        # touching every index of the table.
        marks = ", ".join("?" * len(self.columns))
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns[1:])
        return (
            f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"
        )

    @cached_property
    def values(self) -> Callable[[Row], tuple[Any, ...]]:
        """A row's values in column order."""
        return itemgetter(*self.columns)


PROJECTS = ProjectionTable(
    "projection_projects",
    ("project_id", "name", "path", "created_at", "updated_at", "deleted_at"),
)
THREADS = ProjectionTable(
    "projection_threads",
    (
        "thread_id",
        "project_id",
        "parent_thread_id",
        "title",
        "provider",
        "model",
        "status",
        "created_at",
        "updated_at",
        "archived_at",
        "deleted_at",
        "turn_count",
        "message_count",
    ),
)
TURNS = ProjectionTable(
    "projection_turns",
    (
        "turn_id",
        "thread_id",
        "model",
        "status",
        "started_at",
        "completed_at",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost_usd",
        "cost_source",
        "tool_calls",
        "tool_errors",
        "error",
    ),
)
MESSAGES = ProjectionTable(
    "projection_messages",
    (
        "message_id",
        "thread_id",
        "turn_id",
        "role",
        "text",
        "created_at",
        "updated_at",
        "delta_count",
    ),
)
TOOL_CALLS = ProjectionTable(
    "projection_tool_calls",
    (
        "tool_call_id",
        "thread_id",
        "turn_id",
        "tool",
        "tool_category",
        "input",
        "status",
        "output",
        "started_at",
        "completed_at",
        "duration_ms",
        "approval_decision",
        "approval_wait_ms",
    ),
)
CHECKPOINTS = ProjectionTable(
    "checkpoints",
    (
        "checkpoint_id",
        "thread_id",
        "turn_id",
        "git_ref",
        "message",
        "files_changed",
        "additions",
        "deletions",
        "created_at",
        "restored_at",
    ),
)
SETTINGS = ProjectionTable("settings", ("key", "value", "updated_at"))

TABLES: tuple[ProjectionTable, ...] = (
    PROJECTS,
    THREADS,
    TURNS,
    MESSAGES,
    TOOL_CALLS,
    CHECKPOINTS,
    SETTINGS,
)
"""Every projection table (what :func:`rebuild_projections` empties)."""

_MICROSECOND = timedelta(microseconds=1)

_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

# The thread whose stream an event belongs to, by payload field. Every such event
# after the thread's creation moves the thread's updated_at, applied or not.
_THREAD_FIELD = {
    "ThreadCreated": "id",
    "ThreadRenamed": "id",
    "ThreadArchived": "id",
    "ThreadDeleted": "id",
    **{
        name: "thread_id"
        for name in (
            "TurnStarted",
            "TurnCompleted",
            "MessageAdded",
            "MessageDelta",
            "ToolCallStarted",
            "ToolCallCompleted",
            "ApprovalResolved",
            "CheckpointCreated",
            "CheckpointRestored",
        )
    },
}

# The entity rows an event may read or change: (table, payload field holding the key).
# Turns of calls completed in a chunk are added once the calls are loaded.
_TOUCHES: dict[str, tuple[tuple[ProjectionTable, str], ...]] = {
    "ProjectCreated": ((PROJECTS, "id"),),
    "ProjectRenamed": ((PROJECTS, "id"),),
    "ProjectDeleted": ((PROJECTS, "id"),),
    "TurnStarted": ((TURNS, "id"),),
    "TurnCompleted": ((TURNS, "id"),),
    "MessageAdded": ((MESSAGES, "id"),),
    "MessageDelta": ((MESSAGES, "id"),),
    "ToolCallStarted": ((TOOL_CALLS, "id"), (TURNS, "turn_id")),
    "ToolCallCompleted": ((TOOL_CALLS, "id"),),
    "ApprovalResolved": ((TOOL_CALLS, "tool_call_id"),),
    "CheckpointCreated": ((CHECKPOINTS, "id"),),
    "CheckpointRestored": ((CHECKPOINTS, "id"),),
}

_RawEvent = tuple[int, str, str, dict[str, Any]]
"""``(sequence, event_type, occurred_at, payload)`` as read from the log."""


def _duration_ms(start: str, end: str) -> float:
    """``end - start`` in milliseconds: whole microseconds / 1000, as the rules define it."""
    micros = (datetime.fromisoformat(end) - datetime.fromisoformat(start)) // _MICROSECOND
    return micros / 1000


def _json_text(value: Any) -> str:
    """Compact JSON of a payload value, character for character as the payload holds it.

    ``json.dumps`` would differ for some floats (``1e-05`` where the payload has
    ``0.00001``); pydantic's serializer is the one that wrote the payload.
    """
    return to_json(value).decode()


class _Chunk:
    """The entity rows a run of events touches, and the events applied to them."""

    def __init__(self, conn: sqlite3.Connection, events: list[_RawEvent]):
        self.conn = conn
        self.events = events
        self.rows: dict[ProjectionTable, dict[str, Row]] = {table: {} for table in TABLES}
        self.dirty: dict[ProjectionTable, set[str]] = {table: set() for table in TABLES}
        # Tool calls created before their turn (counted when the turn is created):
        # turn_id -> [calls, errors], for turns this chunk may create.
        self.waiting: dict[str, list[int]] = {}
        self._load()

    # ------------------------------------------------------------------ load / store

    def _load(self) -> None:
        wanted: dict[ProjectionTable, set[str]] = {table: set() for table in TABLES}
        for _, event_type, _, payload in self.events:
            for table, field in _TOUCHES.get(event_type, ()):
                wanted[table].add(payload[field])
            thread_field = _THREAD_FIELD.get(event_type)
            if thread_field is not None:
                wanted[THREADS].add(payload[thread_field])
        for table in (PROJECTS, THREADS, MESSAGES, TOOL_CALLS, CHECKPOINTS):
            self._fetch(table, wanted[table])
        # A completion that fails a call counts against the call's own turn.
        wanted[TURNS].update(call["turn_id"] for call in self.rows[TOOL_CALLS].values())
        self._fetch(TURNS, wanted[TURNS])
        started = {p["id"] for _, t, _, p in self.events if t == "TurnStarted"}
        new_turns = started - self.rows[TURNS].keys()
        if new_turns:
            query = (
                "SELECT turn_id, count(*), total(status = 'error') FROM projection_tool_calls "
                "WHERE turn_id IN (SELECT value FROM json_each(?)) GROUP BY turn_id"
            )
            found = {turn: [n, int(errors)] for turn, n, errors in self._query(query, new_turns)}
            self.waiting = {turn: found.get(turn, [0, 0]) for turn in new_turns}

    def _query(self, sql: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, (json.dumps(list(keys)),)).fetchall()

    def _fetch(self, table: ProjectionTable, keys: set[str]) -> None:
        if not keys:
            return
        columns = table.columns
        rows = self.rows[table]
        for values in self._query(table.select_sql, keys):
            rows[values[0]] = dict(zip(columns, values, strict=True))

    def store(self) -> None:
        for table in TABLES:
            dirty = self.dirty[table]
            if dirty:
                rows, values = self.rows[table], table.values
                self.conn.executemany(table.upsert_sql, [values(rows[key]) for key in dirty])

    def _put(self, table: ProjectionTable, row: Row) -> None:
        key = row[table.key]
        self.rows[table][key] = row
        self.dirty[table].add(key)

    # ------------------------------------------------------------------ apply

    def apply(self) -> None:
        threads = self.rows[THREADS]
        thread_dirty = self.dirty[THREADS]
        for _, event_type, at, payload in self.events:
            handler = _HANDLERS.get(event_type)
            if handler is None:  # a type this catalog does not know: skipped
                continue
            handler(self, payload, at)
            thread_field = _THREAD_FIELD.get(event_type)
            if thread_field is not None:
                thread_id = payload[thread_field]
                thread = threads.get(thread_id)
                if thread is not None and at > thread["updated_at"]:
                    thread["updated_at"] = at
                    thread_dirty.add(thread_id)

    def _touch(self, table: ProjectionTable, key: str) -> Row | None:
        """The existing row, marked for writing back; None if the entity does not exist."""
        row = self.rows[table].get(key)
        if row is not None:
            self.dirty[table].add(key)
        return row

    # projects

    def project_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[PROJECTS]:
            return
        self._put(
            PROJECTS,
            {
                "project_id": p["id"],
                "name": p["name"],
                "path": p["path"],
                "created_at": at,
                "updated_at": at,
                "deleted_at": None,
            },
        )

    def project_renamed(self, p: dict[str, Any], at: str) -> None:
        project = self._touch(PROJECTS, p["id"])
        if project is not None:
            project["name"] = p["name"]
            project["updated_at"] = max(project["updated_at"], at)

    def project_deleted(self, p: dict[str, Any], at: str) -> None:
        project = self._touch(PROJECTS, p["id"])
        if project is not None:
            if project["deleted_at"] is None:
                project["deleted_at"] = at
            project["updated_at"] = max(project["updated_at"], at)

    # threads (updated_at is moved for every event of the stream, in apply)

    def thread_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[THREADS]:
            return
        self._put(
            THREADS,
            {
                "thread_id": p["id"],
                "project_id": p["project_id"],
                "parent_thread_id": p.get("parent_thread_id"),
                "title": p["title"],
                "provider": p["provider"],
                "model": p["model"],
                "status": "active",
                "created_at": at,
                "updated_at": at,
                "archived_at": None,
                "deleted_at": None,
                "turn_count": 0,
                "message_count": 0,
            },
        )

    def thread_renamed(self, p: dict[str, Any], at: str) -> None:
        thread = self._touch(THREADS, p["id"])
        if thread is not None:
            thread["title"] = p["title"]

    def thread_archived(self, p: dict[str, Any], at: str) -> None:
        thread = self._touch(THREADS, p["id"])
        if thread is not None:
            if thread["archived_at"] is None:
                thread["archived_at"] = at
            if thread["status"] != "deleted":
                thread["status"] = "archived"

    def thread_deleted(self, p: dict[str, Any], at: str) -> None:
        thread = self._touch(THREADS, p["id"])
        if thread is not None:
            if thread["deleted_at"] is None:
                thread["deleted_at"] = at
            thread["status"] = "deleted"

    # turns

    def turn_started(self, p: dict[str, Any], at: str) -> None:
        turn_id = p["id"]
        if turn_id in self.rows[TURNS]:
            return
        thread = self._touch(THREADS, p["thread_id"])
        if thread is None:
            return
        thread["turn_count"] += 1
        calls, errors = self.waiting.pop(turn_id, (0, 0))
        self._put(
            TURNS,
            {
                "turn_id": turn_id,
                "thread_id": p["thread_id"],
                "model": p.get("model"),
                "status": "running",
                "started_at": at,
                "completed_at": None,
                "duration_ms": None,
                "input_tokens": None,
                "output_tokens": None,
                "cache_read_tokens": None,
                "cache_write_tokens": None,
                "reasoning_tokens": None,
                "cost_usd": None,
                "cost_source": None,
                "tool_calls": calls,
                "tool_errors": errors,
                "error": None,
            },
        )

    def turn_completed(self, p: dict[str, Any], at: str) -> None:
        turn = self.rows[TURNS].get(p["id"])
        if turn is None or turn["status"] != "running":
            return
        self.dirty[TURNS].add(p["id"])
        usage = p.get("usage") or {}
        turn["status"] = p["outcome"]
        turn["completed_at"] = at
        turn["duration_ms"] = _duration_ms(turn["started_at"], at)
        for column in _TOKEN_COLUMNS:
            turn[column] = usage.get(column, 0)
        turn["cost_usd"] = p.get("cost_usd")
        turn["cost_source"] = p.get("cost_source")
        turn["error"] = p.get("error")

    def _count_call(self, turn_id: str, calls: int, errors: int) -> None:
        turn = self._touch(TURNS, turn_id)
        if turn is not None:
            turn["tool_calls"] += calls
            turn["tool_errors"] += errors
        elif turn_id in self.waiting:
            waiting = self.waiting[turn_id]
            waiting[0] += calls
            waiting[1] += errors

    # messages

    def message_added(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[MESSAGES]:
            return
        thread = self._touch(THREADS, p["thread_id"])
        if thread is None:
            return
        thread["message_count"] += 1
        self._put(
            MESSAGES,
            {
                "message_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p.get("turn_id"),
                "role": p["role"],
                "text": p["text"],
                "created_at": at,
                "updated_at": at,
                "delta_count": 0,
            },
        )

    def message_delta(self, p: dict[str, Any], at: str) -> None:
        message = self._touch(MESSAGES, p["id"])
        if message is not None:
            message["text"] += p["delta"]
            message["delta_count"] += 1
            if at > message["updated_at"]:
                message["updated_at"] = at

    # tool calls

    def tool_call_started(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[TOOL_CALLS]:
            return
        if p["thread_id"] not in self.rows[THREADS]:
            return
        self._put(
            TOOL_CALLS,
            {
                "tool_call_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p["turn_id"],
                "tool": p["tool"],
                "tool_category": tool_category(p["tool"]),
                "input": _json_text(p["input"]),
                "status": "running",
                "output": None,
                "started_at": at,
                "completed_at": None,
                "duration_ms": None,
                "approval_decision": None,
                "approval_wait_ms": None,
            },
        )
        self._count_call(p["turn_id"], 1, 0)

    def tool_call_completed(self, p: dict[str, Any], at: str) -> None:
        call = self.rows[TOOL_CALLS].get(p["id"])
        if call is None or call["status"] != "running":
            return
        self.dirty[TOOL_CALLS].add(p["id"])
        call["status"] = p["status"]
        call["output"] = p["output"]
        call["completed_at"] = at
        call["duration_ms"] = _duration_ms(call["started_at"], at)
        if p["status"] == "error":
            self._count_call(call["turn_id"], 0, 1)

    def approval_resolved(self, p: dict[str, Any], at: str) -> None:
        call = self._touch(TOOL_CALLS, p["tool_call_id"])
        if call is not None:
            call["approval_decision"] = p["decision"]
            call["approval_wait_ms"] = _duration_ms(p["requested_at"], at)

    # checkpoints

    def checkpoint_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[CHECKPOINTS]:
            return
        if p["thread_id"] not in self.rows[THREADS]:
            return
        self._put(
            CHECKPOINTS,
            {
                "checkpoint_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p.get("turn_id"),
                "git_ref": p["git_ref"],
                "message": p["message"],
                "files_changed": p["files_changed"],
                "additions": p["additions"],
                "deletions": p["deletions"],
                "created_at": at,
                "restored_at": None,
            },
        )

    def checkpoint_restored(self, p: dict[str, Any], at: str) -> None:
        checkpoint = self._touch(CHECKPOINTS, p["id"])
        if checkpoint is not None:
            checkpoint["restored_at"] = at

    # settings: the last change wins, so nothing is read

    def setting_changed(self, p: dict[str, Any], at: str) -> None:
        self._put(SETTINGS, {"key": p["key"], "value": _json_text(p["value"]), "updated_at": at})


_HANDLERS: dict[str, Callable[[_Chunk, dict[str, Any], str], None]] = {
    "ProjectCreated": _Chunk.project_created,
    "ProjectRenamed": _Chunk.project_renamed,
    "ProjectDeleted": _Chunk.project_deleted,
    "ThreadCreated": _Chunk.thread_created,
    "ThreadRenamed": _Chunk.thread_renamed,
    "ThreadArchived": _Chunk.thread_archived,
    "ThreadDeleted": _Chunk.thread_deleted,
    "TurnStarted": _Chunk.turn_started,
    "TurnCompleted": _Chunk.turn_completed,
    "MessageAdded": _Chunk.message_added,
    "MessageDelta": _Chunk.message_delta,
    "ToolCallStarted": _Chunk.tool_call_started,
    "ToolCallCompleted": _Chunk.tool_call_completed,
    "ApprovalResolved": _Chunk.approval_resolved,
    "CheckpointCreated": _Chunk.checkpoint_created,
    "CheckpointRestored": _Chunk.checkpoint_restored,
    "SettingChanged": _Chunk.setting_changed,
}
assert _HANDLERS.keys() == EVENT_TYPES.keys(), "every catalog event needs a projection rule"


# --------------------------------------------------------------------------- driving


def _applied_through(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT last_sequence FROM projection_state WHERE projector = ?", (PROJECTOR,)
    ).fetchone()
    return row[0] if row else 0


def _set_applied_through(conn: sqlite3.Connection, sequence: int) -> None:
    conn.execute(
        "INSERT INTO projection_state (projector, last_sequence, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (projector) DO UPDATE SET "
        "last_sequence = excluded.last_sequence, updated_at = excluded.updated_at",
        (PROJECTOR, sequence, format_timestamp(utc_now())),
    )


def _apply_chunk(conn: sqlite3.Connection, events: list[_RawEvent]) -> None:
    chunk = _Chunk(conn, events)
    chunk.apply()
    chunk.store()


def _project_log(conn: sqlite3.Connection, after: int, through: int | None = None) -> int:
    """Apply the log's events with ``after < sequence <= through``; return how many."""
    query = (
        "SELECT sequence, event_type, occurred_at, schema_version, payload FROM events "
        "WHERE sequence > ?"
    )
    params: tuple[int, ...] = (after,)
    if through is not None:
        query += " AND sequence <= ?"
        params = (after, through)
    cursor = conn.execute(query + " ORDER BY sequence", params)
    count = 0
    while rows := cursor.fetchmany(_CHUNK):
        events: list[_RawEvent] = []
        for sequence, event_type, occurred_at, schema, payload in rows:
            if schema != SCHEMA_VERSION:
                raise UnsupportedSchemaError(
                    f"event {sequence} ({event_type}) has schema_version {schema}; this "
                    f"eventkit projects version {SCHEMA_VERSION} — upgrade eventkit"
                )
            if event_type in _HANDLERS:
                events.append((sequence, event_type, occurred_at, json.loads(payload)))
        try:
            _apply_chunk(conn, events)
        except (KeyError, TypeError, ValueError) as exc:
            # Only a payload written past the store's validation gets here.
            raise EventkitError(
                f"events {rows[0][0]}..{rows[-1][0]}: a payload does not match the catalog "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        count += len(rows)
        after = rows[-1][0]
    if count:
        _set_applied_through(conn, after)
    return count


# A model's field values are its __dict__ (pydantic keeps them there), which spares
# parsing the payload again. Only values that are not yet in their JSON form differ
# from what json.loads gives, and are converted here.
_FROM_MODEL: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "TurnCompleted": lambda f: {**f, "usage": vars(f["usage"])},
    "ApprovalResolved": lambda f: {**f, "requested_at": format_timestamp(f["requested_at"])},
}


def _payload_of(event: Event) -> dict[str, Any]:
    fields = vars(event)
    convert = _FROM_MODEL.get(event.type)
    return convert(fields) if convert is not None else fields


def apply(conn: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
    """Project a batch the store has just inserted, inside the store's open transaction.

    Events the projections have not seen that come before the batch (written by a
    store with projections off) are applied first, from the log, so none is skipped.
    """
    after = _applied_through(conn)
    fresh = sorted((e for e in events if e.sequence > after), key=lambda e: e.sequence)
    if not fresh:
        return
    first, through = fresh[0].sequence, fresh[-1].sequence
    if after < first - 1:
        _project_log(conn, after, first - 1)
    # The occurred_at column already holds each `at` as text; formatting it again
    # would cost more than reading it back.
    occurred = dict(
        conn.execute(
            "SELECT sequence, occurred_at FROM events WHERE sequence BETWEEN ? AND ?",
            (first, through),
        )
    )
    _apply_chunk(
        conn,
        [
            (e.sequence, e.event_type, occurred[e.sequence], _payload_of(e.event))
            for e in fresh
            if e.event_type in _HANDLERS
        ],
    )
    _set_applied_through(conn, through)


def _connection(conn: Any) -> sqlite3.Connection:
    conn = getattr(conn, "conn", conn)  # an EventStore will do as well
    if conn.in_transaction:
        raise StorageError("the connection is inside a transaction; commit it first")
    return conn


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], int], context: str) -> int:
    with sqlite_errors(context):
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return result


def catch_up(conn: sqlite3.Connection) -> int:
    """Apply, in one transaction, the log's events the projections have not seen.

    ``conn`` is a log's connection (or an :class:`~eventkit.EventStore`). Returns how
    many events were read; types this catalog does not know are skipped.
    """
    conn = _connection(conn)
    return _in_transaction(
        conn, lambda: _project_log(conn, _applied_through(conn)), "catching up projections"
    )


def rebuild_projections(conn: sqlite3.Connection) -> int:
    """Empty the projection tables and replay the whole log into them, in one transaction.

    ``conn`` as for :func:`catch_up`. Returns how many events were read. The tables
    come out exactly as incremental projection leaves them.
    """
    conn = _connection(conn)

    def rebuild() -> int:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table.name}")
        _set_applied_through(conn, 0)
        return _project_log(conn, 0)

    return _in_transaction(conn, rebuild, "rebuilding projections")


__all__ = ["PROJECTOR", "TABLES", "apply", "catch_up", "rebuild_projections"]
