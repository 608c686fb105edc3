"""pandas DataFrames of the log: the events, and one frame per entity.

The entity frames are a replay of the events independent of the projection tables:
the SQL of :mod:`eventkit.read.replay` over the typed views, fetched through Arrow. They
agree with the projection tables (a test proves it on randomized logs).

dtypes: timestamps ``datetime64[us, UTC]``; integers ``Int64``; floats ``Float64``;
text ``string``; low-cardinality text (event_type, status, role, provider, model,
tool, tool_category…) ``category``. Rows come in creation order (the sequence of
the event that created the entity). ``as_of`` (every entity frame) is an int, the
state after that sequence (inclusive), or a datetime: the events with
``occurred_at <= as_of``; a naive datetime or a date string is taken as UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import duckdb
import pandas as pd

from eventkit.catalog import entities
from eventkit.catalog.events import format_timestamp
from eventkit.errors import map_driver_error
from eventkit.read.arrow import arrow_to_pandas, fetch
from eventkit.read.engine import quote_literal
from eventkit.read.readers import events_table, session
from eventkit.read.replay import (
    checkpoints_sql,
    messages_sql,
    model_calls_sql,
    ordered,
    projects_sql,
    settings_sql,
    threads_sql,
    tool_calls_sql,
    turns_sql,
)

# ------------------------------------------------------------------ filters


def to_utc(value: object, name: str, *, up: bool = False) -> datetime:
    """An aware UTC datetime from a datetime, date, pandas Timestamp or ISO text.

    Timestamps have microseconds; a finer one is rounded down (``up``: up), so that a
    comparison with it keeps exactly the events it would keep at full precision.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a point in time") from exc
    if stamp is pd.NaT:
        raise ValueError(f"{name}={value!r} is not a point in time")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    stamp = stamp.ceil("us") if up else stamp.floor("us")
    return stamp.to_pydatetime()


def as_of_filter(as_of: object) -> str:
    """The SQL predicate keeping the events an ``as_of`` replays."""
    if as_of is None:
        return "true"
    if isinstance(as_of, bool):
        raise TypeError("as_of is a sequence number or a point in time, not a bool")
    if isinstance(as_of, int):
        return f'"sequence" <= {int(as_of)}'
    stamp = format_timestamp(to_utc(as_of, "as_of"))
    return f"occurred_at <= TIMESTAMPTZ {quote_literal(stamp)}"


# Low-cardinality text columns, returned as categoricals: those the entities declare so.
CATEGORICAL = (
    "event_type",
    *dict.fromkeys(name for entity in entities.ENTITIES for name in entity.of_type("category")),
)


def _frame(builder, src: object, as_of: object, what: str) -> pd.DataFrame:
    query = ordered(builder(as_of_filter(as_of)))
    with session(src) as con:
        return fetch(con, query, categorical=CATEGORICAL, context=f"reading {what}")


# ------------------------------------------------------------------ public API


def events_df(
    src: object,
    types: str | Iterable[str] | None = None,
    since: object = None,
    until: object = None,
) -> pd.DataFrame:
    """The log's events in sequence order, unknown types included with their raw payload.

    ``types`` keeps those event types; ``since`` (inclusive) and ``until``
    (exclusive) bound ``occurred_at``. ``payload`` and ``metadata`` are JSON text.
    """
    names = None
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
    start = to_utc(since, "since", up=True) if since is not None else None
    end = to_utc(until, "until", up=True) if until is not None else None
    with session(src) as con:
        try:
            table = events_table(con, names, start, end)
        except (duckdb.Error, RuntimeError) as exc:
            raise map_driver_error(exc, "reading events") from exc
    return arrow_to_pandas(table, categorical=("event_type",))


def projects_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per project: project_id, name, path, created_at, updated_at, deleted_at."""
    return _frame(projects_sql, src, as_of, "projects")


def threads_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per thread, with status (active, archived, deleted) and turn/message counts."""
    return _frame(threads_sql, src, as_of, "threads")


def turns_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per turn: status, timing, the five token counts, cost and its source, tools."""
    return _frame(turns_sql, src, as_of, "turns")


def messages_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per message; text is the MessageAdded text followed by its deltas."""
    return _frame(messages_sql, src, as_of, "messages")


def tool_calls_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per tool call, with its category, outcome, timing and approval."""
    return _frame(tool_calls_sql, src, as_of, "tool calls")


def checkpoints_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per git checkpoint, with when it was last restored."""
    return _frame(checkpoints_sql, src, as_of, "checkpoints")


def settings_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per setting key: its latest value (JSON text) and when it was set."""
    return _frame(settings_sql, src, as_of, "settings")


def model_calls_df(src: object, as_of: object = None) -> pd.DataFrame:
    """One row per model call, as its latest revision states it: tokens, cost, timing."""
    return _frame(model_calls_sql, src, as_of, "model calls")


__all__ = [
    "checkpoints_df",
    "events_df",
    "messages_df",
    "model_calls_df",
    "projects_df",
    "settings_df",
    "threads_df",
    "tool_calls_df",
    "turns_df",
]
