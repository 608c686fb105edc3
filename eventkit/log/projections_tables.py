"""The projection tables and their upkeep: rows loaded by key, changed in memory, written back.

Each table's name, key and column order come from its entity declaration
(:mod:`eventkit.catalog.entities`), and so does the SQL that reads and writes it. A
:class:`RowSet` holds the rows a run of events touches: one query per table loads
them, one ``executemany`` per table writes the changed ones back. Per-event SQL would
cost several times the append itself. What the events do to the rows is the
business of :mod:`eventkit.log.projections_rules`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from eventkit.catalog import entities
from eventkit.catalog.entities import Entity

Row = dict[str, Any]


@dataclass(frozen=True, eq=False)  # hashed by identity: tables are dict keys on hot paths
class ProjectionTable:
    """A projection table of the log, as its entity declares it."""

    entity: Entity

    # Cached: read for every row on the hot paths.
    @cached_property
    def name(self) -> str:
        return self.entity.table

    @cached_property
    def key(self) -> str:
        return self.entity.key

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Column order of the table; the first column is the primary key."""
        return self.entity.column_names

    @cached_property
    def select_sql(self) -> str:
        return self.select_where(self.key)

    def select_where(self, column: str) -> str:
        """The rows whose ``column`` is in the one bound parameter, a JSON array."""
        # One bound JSON array instead of N placeholders: no variable limit, and one
        # cached statement whatever the batch size.
        return (
            f"SELECT {', '.join(self.columns)} FROM {self.name} "
            f"WHERE {column} IN (SELECT value FROM json_each(?))"
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


PROJECTS = ProjectionTable(entities.PROJECTS)
THREADS = ProjectionTable(entities.THREADS)
TURNS = ProjectionTable(entities.TURNS)
MESSAGES = ProjectionTable(entities.MESSAGES)
TOOL_CALLS = ProjectionTable(entities.TOOL_CALLS)
CHECKPOINTS = ProjectionTable(entities.CHECKPOINTS)
SETTINGS = ProjectionTable(entities.SETTINGS)
MODEL_CALLS = ProjectionTable(entities.MODEL_CALLS)

TABLES: tuple[ProjectionTable, ...] = (
    PROJECTS,
    THREADS,
    TURNS,
    MESSAGES,
    TOOL_CALLS,
    CHECKPOINTS,
    SETTINGS,
    MODEL_CALLS,
)
"""Every projection table (what a rebuild empties), one per declared entity."""
assert [t.entity for t in TABLES] == list(entities.ENTITIES), "a projection table per entity"


class RowSet:
    """Rows of the projection tables, by table and key, and which of them changed."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.rows: dict[ProjectionTable, dict[str, Row]] = {table: {} for table in TABLES}
        self.dirty: dict[ProjectionTable, set[str]] = {table: set() for table in TABLES}

    def query(self, sql: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, whose one parameter is the JSON array of ``keys``."""
        return self.conn.execute(sql, (json.dumps(list(keys)),)).fetchall()

    def fetch(self, table: ProjectionTable, keys: set[str]) -> None:
        """Load the table's rows with these keys (those that exist)."""
        if not keys:
            return
        columns = table.columns
        rows = self.rows[table]
        for values in self.query(table.select_sql, keys):
            rows[values[0]] = dict(zip(columns, values, strict=True))

    def fetch_where(self, table: ProjectionTable, column: str, values: set[str]) -> None:
        """Load the table's rows whose ``column`` is one of ``values``; loaded rows stay."""
        if not values:
            return
        columns = table.columns
        rows = self.rows[table]
        for found in self.query(table.select_where(column), values):
            if found[0] not in rows:
                rows[found[0]] = dict(zip(columns, found, strict=True))

    def store(self) -> None:
        """Write the changed rows back."""
        for table in TABLES:
            dirty = self.dirty[table]
            if dirty:
                rows, values = self.rows[table], table.values
                self.conn.executemany(table.upsert_sql, [values(rows[key]) for key in dirty])

    def put(self, table: ProjectionTable, row: Row) -> None:
        """Add a new row (written back on :meth:`store`)."""
        key = row[table.key]
        self.rows[table][key] = row
        self.dirty[table].add(key)

    def touch(self, table: ProjectionTable, key: str) -> Row | None:
        """The existing row, marked for writing back; None if the entity does not exist."""
        row = self.rows[table].get(key)
        if row is not None:
            self.dirty[table].add(key)
        return row


__all__ = [
    "CHECKPOINTS",
    "MESSAGES",
    "MODEL_CALLS",
    "PROJECTS",
    "SETTINGS",
    "TABLES",
    "THREADS",
    "TOOL_CALLS",
    "TURNS",
    "ProjectionTable",
    "Row",
    "RowSet",
]
