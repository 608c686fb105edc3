"""The views over a log: ``events``, one typed view per event type, projections, replay.

- ``events``: the envelope, timestamps as TIMESTAMPTZ;
- one typed view per catalog event type (``turn_completed``…): envelope columns
  ``sequence, event_id, stream_id, stream_version, occurred_at`` then the model's
  columns from :mod:`eventkit.catalog.columns`, extracted from the payload with their types;
- ``projects``, ``threads``, ``turns``, ``messages``, ``tool_calls``,
  ``checkpoints``, ``settings``, ``model_calls`` over the projection tables (a table a
  log written before its migration lacks is an empty view; a missing column reads NULL);
- the typed views as the entity replay reads them, in the ``replay`` schema;
- a ``tool_categories`` table (tool name -> category) for joins.

Typed views read the log through SQLite's ``(event_type, sequence)`` index, past the
columnar cache (:mod:`eventkit.read.cache`) when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import duckdb
import pyarrow as pa

from eventkit.catalog.columns import (
    EVENTS_COLUMNS,
    TYPED_ENVELOPE,
    Column,
    columns_of,
    typed_columns,
    view_name,
)
from eventkit.catalog.entities import ENTITIES
from eventkit.catalog.events import EVENT_CLASSES, SCHEMA_VERSION, Event
from eventkit.catalog.tool_categories import TOOL_CATEGORIES
from eventkit.errors import SCHEMA_MARKER
from eventkit.read.engine import quote_ident, quote_literal
from eventkit.read.source import LogSource

REPLAY_SCHEMA = "replay"
"""Schema of the typed views as the entity replay reads them (see :func:`create_replay_views`)."""

EVENTS = "events"
"""The ``events`` table as a kind of cached rows (the other kinds are event types)."""


class CachedRows(Protocol):
    """What the views read of a columnar cache (:class:`eventkit.read.cache.LogCache`)."""

    @property
    def last_sequence(self) -> int: ...

    def files(self, kind: str) -> list[str]: ...


def live_typed_select(
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
        f"FROM sqlite_query('log', {quote_literal(inner)}) WHERE {schema_check('sequence')})"
    )


def schema_check(where: str) -> str:
    """A condition that is true for a known ``schema_version`` and fails the query otherwise.

    A payload of a schema this catalog does not describe must not be read as if it were.
    ``where`` is SQL text naming the event in the message.
    """
    return (
        f"CASE WHEN CAST(schema_version AS BIGINT) <> {SCHEMA_VERSION} THEN "
        f"error({quote_literal(SCHEMA_MARKER + ': event ')} || {where} || "
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
    live = live_typed_select(event_class, after)
    if not files:
        return live
    names = ", ".join(quote_ident(c.name) for c in typed_columns(event_class))
    listed = ", ".join(quote_literal(f) for f in files)
    return f"SELECT {names} FROM read_parquet([{listed}]) UNION ALL {live}"


def events_select(source: str) -> str:
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
    return events_select(f"sqlite_query('log', {quote_literal(inner)})")


def _events_view_sql(cache: CachedRows | None) -> str:
    files = cache.files(EVENTS) if cache else []
    if not files:  # DuckDB's own scan of the table reads it on every core
        return events_select("log.events")
    names = ", ".join(quote_ident(c.name) for c in EVENTS_COLUMNS)
    listed = ", ".join(quote_literal(f) for f in files)
    return (
        f"SELECT {names} FROM read_parquet([{listed}]) "
        f"UNION ALL {live_events_select(cache.last_sequence)}"
    )


def create_log_views(
    con: duckdb.DuckDBPyConnection, log: LogSource, cache: CachedRows | None
) -> None:
    """The views over a log: ``events``, the typed views, projection, replay, tool categories."""
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
    for entity in ENTITIES:
        present = log.tables.get(entity.table)
        if present:
            # Shaped by the declaration; a column an older log's table lacks reads as NULL.
            missing = [c.name for c in entity.columns if c.name not in present]
            extra = "".join(f", NULL AS {quote_ident(name)}" for name in missing)
            rows = f"SELECT *{extra} FROM log.{quote_ident(entity.table)}"
        else:  # a table an older log lacks (it has no rows of that entity): empty
            nulls = ", ".join(f"NULL AS {quote_ident(c.name)}" for c in entity.columns)
            rows = f"SELECT {nulls} WHERE false"
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(entity.name)} AS {entity.select(rows)}")
    create_replay_views(con, {})
    create_tool_categories(con)


def create_replay_views(con: duckdb.DuckDBPyConnection, offsets: dict[str, int]) -> None:
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


def create_tool_categories(con: duckdb.DuckDBPyConnection) -> None:
    pairs = pa.table({"tool": list(TOOL_CATEGORIES), "category": list(TOOL_CATEGORIES.values())})
    con.register("_tool_category_pairs", pairs)
    con.execute("CREATE OR REPLACE TABLE tool_categories AS SELECT * FROM _tool_category_pairs")
    con.unregister("_tool_category_pairs")


__all__ = [
    "EVENTS",
    "CachedRows",
    "REPLAY_SCHEMA",
    "create_log_views",
    "create_replay_views",
    "create_tool_categories",
    "events_select",
    "live_events_select",
    "live_typed_select",
    "schema_check",
]
