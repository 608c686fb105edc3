"""pandas DataFrames of the log: the events, and one frame per entity.

The entity frames are a replay of the events independent of the projection tables:
columnar SQL over the typed views (window functions and aggregates in DuckDB),
following ``docs/semantics.md``, fetched through Arrow. They agree with the
projection tables (a test proves it on randomized logs).

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
from eventkit.catalog.columns import view_name
from eventkit.catalog.events import format_timestamp
from eventkit.read.duck import (
    REPLAY_SCHEMA,
    arrow_to_pandas,
    duckdb_error,
    events_table,
    fetch,
    quote_literal,
    session,
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


# ------------------------------------------------------------------ replay SQL
#
# Each builder returns a query over the typed views as the replay sees them (the
# ``replay`` schema: for a dataset of several logs, ``sequence`` is the position in
# (source_log, sequence) order), restricted to the events kept by
# `cond`, with the frame's columns plus `_seq`, the sequence of the creating event
# (what rows are ordered by). Shared building blocks follow the rules' vocabulary:
# an entity is *created* by its first creation event (for children: the first one
# whose thread was created at a lower sequence); later events apply only after it.


def _v(event_type: str, cond: str) -> str:
    return f'(SELECT * FROM {REPLAY_SCHEMA}."{view_name(event_type)}" WHERE {cond})'


def _threads_created(cond: str) -> str:
    return (
        f"SELECT * FROM {_v('ThreadCreated', cond)} "
        'QUALIFY row_number() OVER (PARTITION BY id ORDER BY "sequence") = 1'
    )


def _children_created(event_type: str, cond: str) -> str:
    """First creation event per id among those whose thread existed at that point."""
    return (
        f"SELECT e.* FROM {_v(event_type, cond)} e "
        f"JOIN ({_threads_created(cond)}) t ON t.id = e.thread_id AND t.sequence < e.sequence "
        'QUALIFY row_number() OVER (PARTITION BY e.id ORDER BY e."sequence") = 1'
    )


def _after(event_type: str, created: str, cond: str, key: str = "id") -> str:
    """Events of a type for a created entity, coming after its creation."""
    return (
        f"SELECT e.* FROM {_v(event_type, cond)} e "
        f"JOIN {created} c ON c.id = e.{key} AND c.sequence < e.sequence"
    )


def _first(query: str, key: str = "id") -> str:
    order = f'PARTITION BY {key} ORDER BY "sequence"'
    return f"SELECT * FROM ({query}) QUALIFY row_number() OVER ({order}) = 1"


def _ms(end: str, start: str) -> str:
    return f"(epoch_us({end}) - epoch_us({start})) / 1000.0"


def projects_sql(cond: str = "true") -> str:
    created = (
        f"SELECT * FROM {_v('ProjectCreated', cond)} "
        'QUALIFY row_number() OVER (PARTITION BY id ORDER BY "sequence") = 1'
    )
    return entities.PROJECTS.select(
        f"""
WITH created AS ({created}),
renamed AS (
    SELECT id, arg_max_null(name, "sequence") AS name, max(occurred_at) AS last_at
    FROM ({_after("ProjectRenamed", "created", cond)}) GROUP BY id),
deleted AS (
    SELECT id, arg_min(occurred_at, "sequence") AS deleted_at, max(occurred_at) AS last_at
    FROM ({_after("ProjectDeleted", "created", cond)}) GROUP BY id)
SELECT c.id AS project_id, coalesce(r.name, c.name) AS name, c.path,
    c.occurred_at AS created_at,
    greatest(c.occurred_at, coalesce(r.last_at, c.occurred_at),
             coalesce(d.last_at, c.occurred_at)) AS updated_at,
    d.deleted_at, c."sequence" AS _seq
FROM created c LEFT JOIN renamed r USING (id) LEFT JOIN deleted d USING (id)
""",
        keep=("_seq",),
    )


# Events of a thread's stream, by the payload field naming the thread.
_THREAD_STREAM = {
    "ThreadCreated": "id",
    "ThreadRenamed": "id",
    "ThreadArchived": "id",
    "ThreadDeleted": "id",
    "TurnStarted": "thread_id",
    "TurnCompleted": "thread_id",
    "MessageAdded": "thread_id",
    "MessageDelta": "thread_id",
    "ToolCallStarted": "thread_id",
    "ToolCallCompleted": "thread_id",
    "ApprovalResolved": "thread_id",
    "CheckpointCreated": "thread_id",
    "CheckpointRestored": "thread_id",
}


def threads_sql(cond: str = "true") -> str:
    stream = " UNION ALL ".join(
        f'SELECT {field} AS thread_id, "sequence", occurred_at FROM {_v(event_type, cond)}'
        for event_type, field in _THREAD_STREAM.items()
    )
    return entities.THREADS.select(
        f"""
WITH created AS ({_threads_created(cond)}),
renamed AS (
    SELECT id, arg_max_null(title, "sequence") AS title
    FROM ({_after("ThreadRenamed", "created", cond)}) GROUP BY id),
archived AS (
    SELECT id, arg_min(occurred_at, "sequence") AS archived_at
    FROM ({_after("ThreadArchived", "created", cond)}) GROUP BY id),
deleted AS (
    SELECT id, arg_min(occurred_at, "sequence") AS deleted_at
    FROM ({_after("ThreadDeleted", "created", cond)}) GROUP BY id),
turns AS (
    SELECT thread_id AS id, count(*) AS n
    FROM ({_children_created("TurnStarted", cond)}) GROUP BY thread_id),
messages AS (
    SELECT thread_id AS id, count(*) AS n
    FROM ({_children_created("MessageAdded", cond)}) GROUP BY thread_id),
activity AS (
    SELECT s.thread_id AS id, max(s.occurred_at) AS last_at
    FROM ({stream}) s JOIN created c ON c.id = s.thread_id AND c.sequence < s.sequence
    GROUP BY s.thread_id)
SELECT c.id AS thread_id, c.project_id, c.parent_thread_id,
    coalesce(r.title, c.title) AS title, c.provider, c.model,
    CASE WHEN d.deleted_at IS NOT NULL THEN 'deleted'
         WHEN a.archived_at IS NOT NULL THEN 'archived' ELSE 'active' END AS status,
    c.occurred_at AS created_at,
    greatest(c.occurred_at, coalesce(act.last_at, c.occurred_at)) AS updated_at,
    a.archived_at, d.deleted_at,
    CAST(coalesce(t.n, 0) AS BIGINT) AS turn_count,
    CAST(coalesce(m.n, 0) AS BIGINT) AS message_count, c."sequence" AS _seq
FROM created c
LEFT JOIN renamed r USING (id) LEFT JOIN archived a USING (id)
LEFT JOIN deleted d USING (id) LEFT JOIN turns t USING (id)
LEFT JOIN messages m USING (id) LEFT JOIN activity act USING (id)
""",
        keep=("_seq",),
    )


def _tool_calls_ctes(cond: str) -> str:
    """CTEs ``calls`` (created tool calls) and ``call_done`` (their first completion)."""
    return f"""calls AS ({_children_created("ToolCallStarted", cond)}),
call_done AS ({_first(_after("ToolCallCompleted", "calls", cond))})"""


def turns_sql(cond: str = "true") -> str:
    return entities.TURNS.select(
        f"""
WITH started AS ({_children_created("TurnStarted", cond)}),
done AS ({_first(_after("TurnCompleted", "started", cond))}),
{_tool_calls_ctes(cond)},
call_counts AS (
    SELECT c.turn_id AS id, count(*) AS n, count(*) FILTER (WHERE d.status = 'error') AS errors
    FROM calls c LEFT JOIN call_done d USING (id) GROUP BY c.turn_id)
SELECT s.id AS turn_id, s.thread_id, s.model,
    coalesce(d.outcome, 'running') AS status,
    s.occurred_at AS started_at, d.occurred_at AS completed_at,
    {_ms("d.occurred_at", "s.occurred_at")} AS duration_ms,
    d.usage_input_tokens AS input_tokens, d.usage_output_tokens AS output_tokens,
    d.usage_cache_read_tokens AS cache_read_tokens,
    d.usage_cache_write_tokens AS cache_write_tokens,
    d.usage_reasoning_tokens AS reasoning_tokens,
    d.cost_usd, d.cost_source,
    CAST(coalesce(n.n, 0) AS BIGINT) AS tool_calls,
    CAST(coalesce(n.errors, 0) AS BIGINT) AS tool_errors,
    d.error, s."sequence" AS _seq
FROM started s LEFT JOIN done d USING (id) LEFT JOIN call_counts n USING (id)
""",
        keep=("_seq",),
    )


def messages_sql(cond: str = "true") -> str:
    return entities.MESSAGES.select(
        f"""
WITH created AS ({_children_created("MessageAdded", cond)}),
deltas AS (
    SELECT id, string_agg(delta, '' ORDER BY "sequence") AS text, count(*) AS n,
        max(occurred_at) AS last_at
    FROM ({_after("MessageDelta", "created", cond)}) GROUP BY id)
SELECT c.id AS message_id, c.thread_id, c.turn_id, c.role,
    c.text || coalesce(d.text, '') AS text,
    c.occurred_at AS created_at,
    greatest(c.occurred_at, coalesce(d.last_at, c.occurred_at)) AS updated_at,
    CAST(coalesce(d.n, 0) AS BIGINT) AS delta_count, c."sequence" AS _seq
FROM created c LEFT JOIN deltas d USING (id)
""",
        keep=("_seq",),
    )


def tool_calls_sql(cond: str = "true") -> str:
    # tool_category: the exact name first, then case-insensitively, else 'other' —
    # the lookup of eventkit.catalog.tool_categories.tool_category, over its table.
    return entities.TOOL_CALLS.select(
        f"""
WITH {_tool_calls_ctes(cond)},
approvals AS (
    SELECT tool_call_id AS id,
        arg_max_null(decision, "sequence") AS decision,
        arg_max_null({_ms("occurred_at", "requested_at")}, "sequence") AS wait_ms
    FROM ({_after("ApprovalResolved", "calls", cond, key="tool_call_id")})
    GROUP BY tool_call_id),
folded AS (SELECT lower(tool) AS tool, min(category) AS category
           FROM tool_categories GROUP BY lower(tool))
SELECT c.id AS tool_call_id, c.thread_id, c.turn_id, c.tool,
    coalesce(exact.category, folded.category, 'other') AS tool_category,
    CAST(c.input AS VARCHAR) AS input,
    coalesce(d.status, 'running') AS status, d.output,
    c.occurred_at AS started_at, d.occurred_at AS completed_at,
    {_ms("d.occurred_at", "c.occurred_at")} AS duration_ms,
    a.decision AS approval_decision, a.wait_ms AS approval_wait_ms, c."sequence" AS _seq
FROM calls c LEFT JOIN call_done d USING (id) LEFT JOIN approvals a USING (id)
LEFT JOIN tool_categories exact ON exact.tool = c.tool
LEFT JOIN folded ON folded.tool = lower(c.tool)
""",
        keep=("_seq",),
    )


def checkpoints_sql(cond: str = "true") -> str:
    return entities.CHECKPOINTS.select(
        f"""
WITH created AS ({_children_created("CheckpointCreated", cond)}),
restored AS (
    SELECT id, arg_max(occurred_at, "sequence") AS restored_at
    FROM ({_after("CheckpointRestored", "created", cond)}) GROUP BY id)
SELECT c.id AS checkpoint_id, c.thread_id, c.turn_id, c.git_ref, c.message,
    c.files_changed, c.additions, c.deletions,
    c.occurred_at AS created_at, r.restored_at, c."sequence" AS _seq
FROM created c LEFT JOIN restored r USING (id)
""",
        keep=("_seq",),
    )


def settings_sql(cond: str = "true") -> str:
    return entities.SETTINGS.select(
        f"""
SELECT key, arg_max_null(CAST(value AS VARCHAR), "sequence") AS value,
    arg_max(occurred_at, "sequence") AS updated_at, min("sequence") AS _seq
FROM {_v("SettingChanged", cond)}
GROUP BY key
""",
        keep=("_seq",),
    )


# Low-cardinality text columns, returned as categoricals: those the entities declare so.
CATEGORICAL = (
    "event_type",
    *dict.fromkeys(name for entity in entities.ENTITIES for name in entity.of_type("category")),
)


def ordered(rows: str) -> str:
    """A builder's rows in creation order, without the ordering column."""
    return f"SELECT * EXCLUDE (_seq) FROM ({rows}) ORDER BY _seq"


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
            raise duckdb_error(exc, "reading events") from exc
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


__all__ = [
    "checkpoints_df",
    "events_df",
    "messages_df",
    "projects_df",
    "settings_df",
    "threads_df",
    "tool_calls_df",
    "turns_df",
]
