"""Logs as an eventkit of schema version 1 wrote them (migration ``001`` only).

``write_v1_log(path, events)`` builds one by hand: migration ``001``'s DDL applied
statement by statement, its ``schema_migrations`` row, a ``log_info``, the events as
the store stores them, and projection tables holding the columns ``001`` has, filled as
a writer of that version left them. The events must be ones that eventkit could
write: no ModelCallCompleted, no ``parent_tool_call_id`` (:func:`v1_events` keeps those).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import eventkit as ek
from eventkit.catalog.entities import ENTITIES
from eventkit.log.migrations import known_migrations, split_statements


def v1_events(events: list[ek.Event]) -> list[ek.Event]:
    """The events a version-1 writer could have written: no model calls, no parent tool call."""
    kept = []
    for event in events:
        if isinstance(event, ek.ModelCallCompleted):
            continue
        if isinstance(event, ek.ThreadCreated) and event.parent_tool_call_id is not None:
            event = event.model_copy(update={"parent_tool_call_id": None})
        kept.append(event)
    return kept


def write_v1_log(path: Path, events: list[ek.Event]) -> Path:
    """A log at ``path`` holding ``events`` as eventkit wrote it before migration 002."""
    assert not any(isinstance(e, ek.ModelCallCompleted) for e in events)
    # The rows as the store writes them, from a private in-memory log.
    current = ek.open_or_create_db(":memory:")
    ek.EventStore(current).append_all(events)
    initial = known_migrations()[0]
    assert initial.name == "001_initial"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.execute("BEGIN")
        for statement in split_statements(initial.sql):
            old.execute(statement)
        old.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        old.execute(
            "INSERT INTO schema_migrations VALUES (1, ?, ?, '2025-01-01T00:00:00.000000Z')",
            (initial.name, initial.checksum),
        )
        old.executemany(
            "INSERT INTO log_info VALUES (?, ?)",
            [("log_id", ek.new_id()), ("created_at", "2025-01-01T00:00:00.000000Z")],
        )
        old.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            current.execute("SELECT * FROM events ORDER BY sequence").fetchall(),
        )
        for entity in ENTITIES:
            exists = old.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ?", (entity.table,)
            ).fetchone()
            if not exists:
                continue
            columns = [row[1] for row in old.execute(f"PRAGMA table_info({entity.table})")]
            names = ", ".join(columns)
            rows = current.execute(f"SELECT {names} FROM {entity.table}").fetchall()
            marks = ", ".join("?" * len(columns))
            old.executemany(f"INSERT INTO {entity.table} ({names}) VALUES ({marks})", rows)
        old.executemany(
            "INSERT INTO projection_state VALUES (?, ?, ?)",
            current.execute("SELECT * FROM projection_state").fetchall(),
        )
        old.execute("COMMIT")
    current.close()
    return path
