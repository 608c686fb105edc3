"""Projection tables: one row per entity, kept in step with the log.

The rules are those of ``docs/semantics.md``. The store calls :func:`apply` inside
its append transaction; :func:`catch_up` applies what was written with projections
off; :func:`rebuild_projections` replays the whole log into empty tables.

All three share one path over ``(sequence, type, at, payload dict)`` tuples, made
from the batch's models in :func:`apply` and from the log's payload text otherwise,
applied a chunk at a time by :mod:`eventkit.log.projections_rules` to the tables of
:mod:`eventkit.log.projections_tables`. This module drives it: which events, in which
transaction, and how far the projections have got (``projection_state``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from eventkit.catalog.events import (
    SCHEMA_VERSION,
    Event,
    StoredEvent,
    format_timestamp,
    utc_now,
)
from eventkit.errors import EventkitError, StorageError, UnsupportedSchemaError, sqlite_errors
from eventkit.log.projections_rules import RULES, RawEvent, apply_chunk
from eventkit.log.projections_tables import TABLES

PROJECTOR = "entities"
"""This projector's row in ``projection_state``."""

_CHUNK = 10_000
"""Events applied per round of load / apply / write when replaying from the log."""


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
        events: list[RawEvent] = []
        for sequence, event_type, occurred_at, schema, payload in rows:
            if schema != SCHEMA_VERSION:
                raise UnsupportedSchemaError(
                    f"event {sequence} ({event_type}) has schema_version {schema}; this "
                    f"eventkit projects version {SCHEMA_VERSION} — upgrade eventkit"
                )
            if event_type in RULES:
                events.append((sequence, event_type, occurred_at, json.loads(payload)))
        try:
            apply_chunk(conn, events)
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
    "ModelCallCompleted": lambda f: {
        **f,
        "usage": vars(f["usage"]),
        "requested_at": None if f["requested_at"] is None else format_timestamp(f["requested_at"]),
    },
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
    apply_chunk(
        conn,
        [
            (e.sequence, e.event_type, occurred[e.sequence], _payload_of(e.event))
            for e in fresh
            if e.event_type in RULES
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


def replay_log(conn: sqlite3.Connection) -> int:
    """Empty the projection tables and replay the whole log, inside the caller's transaction.

    For a migration that changes the tables' shapes; :func:`rebuild_projections` is
    this in a transaction of its own. Returns how many events were read.
    """
    for table in TABLES:
        conn.execute(f"DELETE FROM {table.name}")
    _set_applied_through(conn, 0)
    return _project_log(conn, 0)


def rebuild_projections(conn: sqlite3.Connection) -> int:
    """Empty the projection tables and replay the whole log into them, in one transaction.

    ``conn`` as for :func:`catch_up`. Returns how many events were read. The tables
    come out exactly as incremental projection leaves them.
    """
    conn = _connection(conn)
    return _in_transaction(conn, lambda: replay_log(conn), "rebuilding projections")


__all__ = ["PROJECTOR", "TABLES", "apply", "catch_up", "rebuild_projections", "replay_log"]
