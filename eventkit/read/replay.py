"""The entity replay as SQL: one builder per entity frame, over the typed views.

Columnar SQL (window functions and aggregates in DuckDB) following ``docs/semantics.md``,
independent of the projection tables. The frames (:mod:`eventkit.read.frames`), the
metrics and a dataset's entity views (:mod:`eventkit.read.datasets`) all run these.
"""

from __future__ import annotations

from eventkit.catalog import entities
from eventkit.catalog.columns import view_name
from eventkit.catalog.events import EVENT_TYPES, THREAD_STREAM_FIELD, TURN_ACTIVITY_FIELD
from eventkit.read.views import REPLAY_SCHEMA

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


def _once(query: str, cond: str) -> str:
    """``query`` reading each event type once: every use of a type's rows is one CTE.

    A builder uses some types several times (tool calls for the calls and for turn
    activity; thread creations for every child entity). Over a log those reads are
    scans of SQLite, each parsing the payloads again; a materialized CTE (whose unused
    columns DuckDB still prunes) reads them once per query.
    """
    ctes = []
    for event_type in EVENT_TYPES:
        used = _v(event_type, cond)
        if query.count(used) > 1:
            name = f'"_once_{view_name(event_type)}"'
            query = query.replace(used, name)
            ctes.append(f"{name} AS MATERIALIZED {used}")
    return f"WITH {', '.join(ctes)} {query}" if ctes else query


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


_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def _model_calls_cte(cond: str) -> str:
    """CTEs ``call_created`` and ``model_calls``: each created model call as it holds.

    A call is created by its first ModelCallCompleted in a thread that exists by then,
    and held by the event of the greatest ``(revision, sequence)`` from that one on;
    thread_id and turn_id are the creating event's.
    """
    held = ", ".join(f"h.usage_{t} AS {t}" for t in _TOKENS)
    return f"""call_created AS ({_children_created("ModelCallCompleted", cond)}),
call_held AS (
    SELECT e.* FROM {_v("ModelCallCompleted", cond)} e
    JOIN call_created c ON c.id = e.id AND c."sequence" <= e."sequence"
    QUALIFY row_number() OVER (PARTITION BY e.id ORDER BY e.revision DESC, e."sequence" DESC)
        = 1),
model_calls AS (
    SELECT c.id AS model_call_id, c.thread_id, c.turn_id, h.model, h.requested_at,
        h.occurred_at AS completed_at, {_ms("h.occurred_at", "h.requested_at")} AS duration_ms,
        {held}, h.cost_usd, h.cost_source, h.stop_reason, h.revision, c."sequence" AS _seq
    FROM call_created c JOIN call_held h USING (id))"""


def projects_sql(cond: str = "true") -> str:
    created = (
        f"SELECT * FROM {_v('ProjectCreated', cond)} "
        'QUALIFY row_number() OVER (PARTITION BY id ORDER BY "sequence") = 1'
    )
    return _once(
        entities.PROJECTS.select(
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
        ),
        cond,
    )


def threads_sql(cond: str = "true") -> str:
    stream = " UNION ALL ".join(
        f'SELECT {field} AS thread_id, "sequence", occurred_at FROM {_v(event_type, cond)}'
        for event_type, field in THREAD_STREAM_FIELD.items()
    )
    return _once(
        entities.THREADS.select(
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
    GROUP BY s.thread_id),
first_model AS (
    SELECT m.thread_id AS id, arg_min(m.model, m."sequence") AS model
    FROM {_v("ModelCallCompleted", cond)} m
    JOIN created c ON c.id = m.thread_id AND c.sequence < m.sequence
    WHERE m.model <> '' GROUP BY m.thread_id)
SELECT c.id AS thread_id, c.project_id, c.parent_thread_id,
    coalesce(r.title, c.title) AS title, c.provider,
    CASE WHEN c.model = '' THEN coalesce(fm.model, c.model) ELSE c.model END AS model,
    CASE WHEN d.deleted_at IS NOT NULL THEN 'deleted'
         WHEN a.archived_at IS NOT NULL THEN 'archived' ELSE 'active' END AS status,
    c.occurred_at AS created_at,
    greatest(c.occurred_at, coalesce(act.last_at, c.occurred_at)) AS updated_at,
    a.archived_at, d.deleted_at,
    CAST(coalesce(t.n, 0) AS BIGINT) AS turn_count,
    CAST(coalesce(m.n, 0) AS BIGINT) AS message_count,
    c.parent_tool_call_id, c."sequence" AS _seq
FROM created c
LEFT JOIN renamed r USING (id) LEFT JOIN archived a USING (id)
LEFT JOIN deleted d USING (id) LEFT JOIN turns t USING (id)
LEFT JOIN messages m USING (id) LEFT JOIN activity act USING (id)
LEFT JOIN first_model fm USING (id)
""",
            keep=("_seq",),
        ),
        cond,
    )


def _tool_calls_ctes(cond: str) -> str:
    """CTEs ``calls`` (created tool calls) and ``call_done`` (their first completion)."""
    return f"""calls AS ({_children_created("ToolCallStarted", cond)}),
call_done AS ({_first(_after("ToolCallCompleted", "calls", cond))})"""


def turns_sql(cond: str = "true") -> str:
    named = " UNION ALL ".join(
        f'SELECT {field} AS turn_id, "sequence", occurred_at FROM {_v(event_type, cond)}'
        for event_type, field in TURN_ACTIVITY_FIELD.items()
    )
    # A turn with model calls has their sums; one without, its completion's usage.
    usage = ",\n    ".join(
        f"CASE WHEN u.n > 0 THEN u.{t} ELSE d.usage_{t} END AS {t}" for t in _TOKENS
    )
    sums = ", ".join(f"sum({t}) AS {t}" for t in _TOKENS)
    return _once(
        entities.TURNS.select(
            f"""
WITH started AS ({_children_created("TurnStarted", cond)}),
done AS ({_first(_after("TurnCompleted", "started", cond))}),
{_tool_calls_ctes(cond)},
call_counts AS (
    SELECT c.turn_id AS id, count(*) AS n, count(*) FILTER (WHERE d.status = 'error') AS errors
    FROM calls c LEFT JOIN call_done d USING (id) GROUP BY c.turn_id),
{_model_calls_cte(cond)},
call_usage AS (
    SELECT turn_id AS id, count(*) AS n, {sums},
        list_reduce(list(cost_usd ORDER BY model_call_id) FILTER (WHERE cost_usd IS NOT NULL),
                    lambda a, b: a + b) AS cost_usd,
        count(cost_usd) AS priced,
        count(*) FILTER (WHERE cost_usd IS NOT NULL AND cost_source = 'estimated') AS estimated,
        count(*) FILTER (WHERE cost_usd IS NOT NULL AND cost_source = 'recorded') AS recorded
    FROM model_calls WHERE turn_id IS NOT NULL GROUP BY turn_id),
activity AS (
    SELECT a.turn_id AS id, max(a.occurred_at) AS last_at
    FROM ({named}) a JOIN started s ON s.id = a.turn_id AND s.sequence < a.sequence
    GROUP BY a.turn_id)
SELECT s.id AS turn_id, s.thread_id, s.model,
    coalesce(d.outcome, 'running') AS status,
    s.occurred_at AS started_at, d.occurred_at AS completed_at,
    {_ms("d.occurred_at", "s.occurred_at")} AS duration_ms,
    {usage},
    CASE WHEN u.n > 0 THEN u.cost_usd ELSE d.cost_usd END AS cost_usd,
    CASE WHEN u.n IS NULL THEN d.cost_source
         WHEN u.priced = 0 THEN NULL
         WHEN u.priced < u.n THEN 'partial'
         WHEN u.estimated > 0 THEN 'estimated'
         WHEN u.recorded = u.n THEN 'recorded' END AS cost_source,
    CAST(coalesce(n.n, 0) AS BIGINT) AS tool_calls,
    CAST(coalesce(n.errors, 0) AS BIGINT) AS tool_errors,
    d.error,
    greatest(s.occurred_at, coalesce(act.last_at, s.occurred_at)) AS last_activity_at,
    CAST(coalesce(u.n, 0) AS BIGINT) AS model_calls, s."sequence" AS _seq
FROM started s LEFT JOIN done d USING (id) LEFT JOIN call_counts n USING (id)
LEFT JOIN call_usage u USING (id) LEFT JOIN activity act USING (id)
""",
            keep=("_seq",),
        ),
        cond,
    )


def model_calls_sql(cond: str = "true") -> str:
    return _once(
        entities.MODEL_CALLS.select(
            f"WITH {_model_calls_cte(cond)} SELECT * FROM model_calls", keep=("_seq",)
        ),
        cond,
    )


def messages_sql(cond: str = "true") -> str:
    return _once(
        entities.MESSAGES.select(
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
        ),
        cond,
    )


def tool_calls_sql(cond: str = "true") -> str:
    # tool_category: the exact name first, then case-insensitively, else 'other' —
    # the lookup of eventkit.catalog.tool_categories.tool_category, over its table.
    return _once(
        entities.TOOL_CALLS.select(
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
        ),
        cond,
    )


def checkpoints_sql(cond: str = "true") -> str:
    return _once(
        entities.CHECKPOINTS.select(
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
        ),
        cond,
    )


def settings_sql(cond: str = "true") -> str:
    return _once(
        entities.SETTINGS.select(
            f"""
SELECT key, arg_max_null(CAST(value AS VARCHAR), "sequence") AS value,
    arg_max(occurred_at, "sequence") AS updated_at, min("sequence") AS _seq
FROM {_v("SettingChanged", cond)}
GROUP BY key
""",
            keep=("_seq",),
        ),
        cond,
    )


def ordered(rows: str) -> str:
    """A builder's rows in creation order, without the ordering column."""
    return f"SELECT * EXCLUDE (_seq) FROM ({rows}) ORDER BY _seq"


__all__ = [
    "checkpoints_sql",
    "messages_sql",
    "model_calls_sql",
    "ordered",
    "projects_sql",
    "settings_sql",
    "threads_sql",
    "tool_calls_sql",
    "turns_sql",
]
