"""Metrics over the replayed entities: per turn, per thread, per model, and usage totals.

Built on the frames' replay SQL (:mod:`eventkit.read.replay`), so the numbers are those
of ``turns_df``, ``threads_df`` and ``model_calls_df``. Percentiles interpolate linearly
(DuckDB ``quantile_cont``, as pandas' default and Spark's exact ``percentile``). Latency
is a completed turn's ``duration_ms``; running turns have none.

**Usage** (tokens and cost) is summed over the *usage rows* of ``docs/semantics.md``:
every model call, plus every turn without model calls. A call counts for its own model,
else its turn's, else its thread's, on the UTC day of its ``completed_at``; a call
without a turn counts for no turn. :func:`usage_rows_sql` is that rule, written once in
SQL that DuckDB and Spark both run (:mod:`eventkit.scale.spark` uses it too); every
total here (``thread_summary``, ``model_breakdown``, ``usage_totals``, ``summary``)
comes from it, and so do the report and the notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from eventkit.read.arrow import fetch
from eventkit.read.engine import quote_ident
from eventkit.read.frames import CATEGORICAL
from eventkit.read.readers import session
from eventkit.read.replay import (
    model_calls_sql,
    ordered,
    threads_sql,
    tool_calls_sql,
    turns_sql,
)

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

USAGE_KEYS = ("provider", "model", "project_id", "thread_id", "turn_id", "status", "day")
"""Columns :func:`usage_totals` can group by."""

BREAKDOWN_KEYS = ("provider", "model", "project_id", "thread_id", "status", "cost_source")
"""Columns :func:`model_breakdown` can group by."""


def _total(alias: str) -> str:
    """Total tokens = input + cache_read + cache_write + output (reasoning is in output)."""
    columns = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
    return "(" + " + ".join(f"{alias}.{column}" for column in columns) + ")"


def _model(*aliases: str) -> str:
    """The first model named (not null, not empty) of ``aliases``, else the last one's."""
    *named, last = aliases
    first = [f"nullif({alias}.model, '')" for alias in named]
    return f"coalesce({', '.join(first)}, {last}.model)"


def usage_rows_sql(model_calls: str, turns: str, threads: str) -> str:
    """The usage rows over relations with the model calls', turns' and threads' columns.

    One row per model call (``kind = 'model_call'``) and per turn without model calls
    (``kind = 'turn'``): the ids, the thread's project and provider, the ``model`` the
    figures count for (the call's, else its turn's, else its thread's; an empty model
    names none), the turn's
    ``status`` (null for a call without a started turn), ``completed_at`` and its UTC
    ``day``, the five token columns, ``total_tokens``, ``cost_usd`` and ``cost_source``.
    Plain SQL: DuckDB and Spark SQL (``spark.sql.session.timeZone=UTC``) both run it.
    """
    tokens = ", ".join(f"c.{t}" for t in TOKEN_COLUMNS)
    turn_tokens = ", ".join(f"t.{t}" for t in TOKEN_COLUMNS)
    return f"""
SELECT 'model_call' AS kind, c.model_call_id, c.turn_id, c.thread_id, th.project_id,
    th.provider, {_model("c", "t", "th")} AS model, t.status, c.completed_at,
    CAST(c.completed_at AS DATE) AS day, {tokens}, {_total("c")} AS total_tokens,
    c.cost_usd, c.cost_source
FROM {model_calls} c
LEFT JOIN {turns} t ON t.turn_id = c.turn_id
LEFT JOIN {threads} th ON th.thread_id = c.thread_id
UNION ALL
SELECT 'turn' AS kind, CAST(NULL AS STRING) AS model_call_id, t.turn_id, t.thread_id,
    th.project_id, th.provider, {_model("t", "th")} AS model, t.status,
    t.completed_at, CAST(t.completed_at AS DATE) AS day, {turn_tokens},
    {_total("t")} AS total_tokens, t.cost_usd, t.cost_source
FROM {turns} t
LEFT JOIN {threads} th ON th.thread_id = t.thread_id
WHERE t.model_calls = 0
"""


def usage_sums_sql(rows: str, keys: Sequence[str], quote=quote_ident) -> str:
    """Token and cost sums of usage ``rows`` grouped by ``keys`` (plain SQL, as above).

    ``model_calls`` counts the rows that are calls; the token sums are 0 for a group
    with no figures, ``cost_usd`` is null when no row of it has a cost.
    """
    group = ", ".join(quote(k) for k in keys)
    sums = ",\n    ".join(
        f"CAST(coalesce(sum({t}), 0) AS BIGINT) AS {t}" for t in (*TOKEN_COLUMNS, "total_tokens")
    )
    return f"""
SELECT {group}, CAST(count(model_call_id) AS BIGINT) AS model_calls,
    {sums},
    sum(cost_usd) AS cost_usd
FROM ({rows}) u GROUP BY {group}
"""


def _usage_rows() -> str:
    return usage_rows_sql(f"({model_calls_sql()})", f"({turns_sql()})", f"({threads_sql()})")


def _turn_metrics_rows() -> str:
    return f"""
SELECT t.turn_id, t.thread_id, th.project_id, th.provider,
    {_model("t", "th")} AS model, t.status,
    t.started_at, t.completed_at, t.duration_ms AS latency_ms,
    t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_write_tokens,
    t.reasoning_tokens, {_total("t")} AS total_tokens,
    t.cost_usd, t.cost_source, t.model_calls, t.tool_calls, t.tool_errors,
    CASE WHEN t.tool_calls > 0 THEN t.tool_errors / t.tool_calls END AS tool_error_rate,
    t.last_activity_at, t._seq
FROM ({turns_sql()}) t LEFT JOIN ({threads_sql()}) th USING (thread_id)
"""


def turn_metrics(src: object) -> pd.DataFrame:
    """One row per turn: latency, tokens (total = input + cache + output), cost and tools.

    ``provider`` comes from the thread; ``model`` is the turn's, else the thread's. A
    turn's tokens and cost are its model calls' sums, or its completion's when it has
    no calls (``docs/semantics.md``). ``tool_error_rate`` is tool errors / tool calls
    (null without tool calls).
    """
    with session(src) as con:
        return fetch(
            con,
            ordered(_turn_metrics_rows()),
            categorical=CATEGORICAL,
            context="computing turn metrics",
        )


def thread_summary(src: object) -> pd.DataFrame:
    """One row per thread: status, counts, errors, tokens, cost and the span of its activity.

    ``span_ms`` runs from the thread's creation to its last event (``updated_at``).
    Tokens, cost and ``model_calls`` are sums over the thread's usage rows: its model
    calls (in a turn or not, the turn completed or not) and its turns without calls;
    ``cost_usd`` is null when none has a cost. ``busy_ms`` adds up completed turns'
    latencies.
    """
    query = f"""
WITH th AS ({threads_sql()}),
tm AS ({_turn_metrics_rows()}),
turns AS (
    SELECT thread_id,
        count(*) FILTER (WHERE status NOT IN ('running')) AS completed_turns,
        count(*) FILTER (WHERE status = 'error') AS turn_errors,
        sum(latency_ms) AS busy_ms
    FROM tm GROUP BY thread_id),
spent AS ({usage_sums_sql(_usage_rows(), ["thread_id"])}),
calls AS (
    SELECT thread_id, count(*) AS tool_calls,
        count(*) FILTER (WHERE status = 'error') AS tool_errors
    FROM ({tool_calls_sql()}) GROUP BY thread_id)
SELECT th.thread_id, th.project_id, th.parent_thread_id, th.title, th.provider, th.model,
    th.status, th.created_at, th.updated_at,
    (epoch_us(th.updated_at) - epoch_us(th.created_at)) / 1000.0 AS span_ms,
    th.turn_count AS turns,
    CAST(coalesce(u.completed_turns, 0) AS BIGINT) AS completed_turns,
    th.message_count AS messages,
    CAST(coalesce(s.model_calls, 0) AS BIGINT) AS model_calls,
    CAST(coalesce(c.tool_calls, 0) AS BIGINT) AS tool_calls,
    CAST(coalesce(c.tool_errors, 0) AS BIGINT) AS tool_errors,
    CAST(coalesce(u.turn_errors, 0) AS BIGINT) AS turn_errors,
    CAST(coalesce(s.input_tokens, 0) AS BIGINT) AS input_tokens,
    CAST(coalesce(s.output_tokens, 0) AS BIGINT) AS output_tokens,
    CAST(coalesce(s.total_tokens, 0) AS BIGINT) AS total_tokens,
    s.cost_usd, u.busy_ms, th._seq
FROM th LEFT JOIN turns u USING (thread_id) LEFT JOIN spent s USING (thread_id)
LEFT JOIN calls c USING (thread_id)
"""
    with session(src) as con:
        return fetch(con, ordered(query), categorical=CATEGORICAL, context="summarizing threads")


def _keys(by: str | Sequence[str], allowed: Sequence[str]) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in allowed]
    if not keys or unknown or len(set(keys)) != len(keys):
        raise ValueError(f"by must name some of {', '.join(allowed)}; got {by!r}")
    return keys


def usage_totals(src: object, by: str | Sequence[str] = "model") -> pd.DataFrame:
    """Tokens and cost grouped by ``by`` (some of :data:`USAGE_KEYS`), over the usage rows.

    Columns: the ``by`` columns, ``model_calls`` (the rows that are calls), the five
    token columns, ``total_tokens`` and ``cost_usd`` (null when nothing in the group has
    a cost). ``day`` is the UTC day of each row's ``completed_at``. Rows are ordered by
    the ``by`` columns (nulls last). ``by="model"`` is what each model spent, calls
    outside any turn included.
    """
    keys = _keys(by, USAGE_KEYS)
    order = ", ".join(f"{quote_ident(k)} ASC NULLS LAST" for k in keys)
    query = f"SELECT * FROM ({usage_sums_sql(_usage_rows(), keys)}) ORDER BY {order}"
    with session(src) as con:
        return fetch(con, query, categorical=CATEGORICAL, context="summing usage")


def breakdown_sql(turns: str, spent: str, keys: Sequence[str], quote=quote_ident) -> str:
    """The breakdown's rows: per-key turn figures (``turns``) beside usage sums (``spent``).

    ``turns`` has the keys, turns, completed_turns, error_turns, the latency columns,
    tool_calls and tool_errors; ``spent`` is :func:`usage_sums_sql` by the same keys. A
    group only one side has (a model seen in calls outside any turn) gets zeros from
    the other. Plain SQL, run by DuckDB and Spark alike.
    """
    pick = ", ".join(f"coalesce(t.{quote(k)}, s.{quote(k)}) AS {quote(k)}" for k in keys)
    same = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in keys)
    order = ", ".join(f"{quote(k)} ASC NULLS LAST" for k in keys)

    def count(column: str, side: str = "t") -> str:
        return f"CAST(coalesce({side}.{column}, 0) AS BIGINT) AS {column}"

    return f"""
SELECT {pick}, {count("turns")}, {count("completed_turns")}, {count("error_turns")},
    {count("model_calls", "s")},
    t.latency_p50_ms, t.latency_p95_ms, t.latency_p99_ms, t.latency_mean_ms,
    {count("input_tokens", "s")}, {count("output_tokens", "s")}, {count("total_tokens", "s")},
    s.cost_usd, {count("tool_calls")}, {count("tool_errors")},
    CASE WHEN t.tool_calls > 0 THEN t.tool_errors / t.tool_calls END AS tool_error_rate
FROM ({turns}) t FULL OUTER JOIN ({spent}) s ON {same}
ORDER BY {order}
"""


def model_breakdown(src: object, by: str | Sequence[str] = ("provider", "model")) -> pd.DataFrame:
    """Turns and usage grouped by ``by``: counts, latency percentiles, tokens, cost, tool errors.

    Turn counts, latency and tool figures group the turns (a turn's model: its own, else
    its thread's); tokens, cost and ``model_calls`` group the usage rows (a call counts
    for its own model). ``latency_p50_ms`` / ``p95`` / ``p99`` interpolate linearly over
    completed turns. Rows are ordered by the ``by`` columns (nulls last).
    """
    keys = _keys(by, BREAKDOWN_KEYS)
    group = ", ".join(quote_ident(k) for k in keys)
    latency = "latency_ms"
    turns = f"""
SELECT {group},
    count(*) AS turns,
    count(*) FILTER (WHERE status <> 'running') AS completed_turns,
    count(*) FILTER (WHERE status = 'error') AS error_turns,
    quantile_cont({latency}, 0.5) AS latency_p50_ms,
    quantile_cont({latency}, 0.95) AS latency_p95_ms,
    quantile_cont({latency}, 0.99) AS latency_p99_ms,
    avg({latency}) AS latency_mean_ms,
    sum(tool_calls) AS tool_calls,
    sum(tool_errors) AS tool_errors
FROM ({_turn_metrics_rows()})
GROUP BY {group}
"""
    query = breakdown_sql(turns, usage_sums_sql(_usage_rows(), keys), keys)
    with session(src) as con:
        return fetch(con, query, categorical=CATEGORICAL, context="breaking down by model")


def failing_tools(src: object, limit: int = 10) -> pd.DataFrame:
    """The tools with the most errors: calls, errors, error rate, median duration."""
    query = f"""
SELECT tool, tool_category, count(*) AS calls,
    count(*) FILTER (WHERE status = 'error') AS errors,
    count(*) FILTER (WHERE status = 'error') / count(*) AS error_rate,
    quantile_cont(duration_ms, 0.5) AS duration_p50_ms
FROM ({tool_calls_sql()}) GROUP BY tool, tool_category
HAVING count(*) FILTER (WHERE status = 'error') > 0
ORDER BY errors DESC, error_rate DESC, tool LIMIT {int(limit)}
"""
    with session(src) as con:
        return fetch(con, query, categorical=CATEGORICAL, context="reading tool failures")


def summary(src: object) -> dict[str, pd.DataFrame]:
    """What an analyst asks first: an overview, the breakdown by model, failing tools.

    The overview's ``total_tokens`` and ``cost_usd`` are the sums over every usage row
    (``cost_usd`` null when nothing has a cost); ``model_calls`` counts the calls.
    """
    threads = thread_summary(src)
    turns = turn_metrics(src)
    completed = turns["latency_ms"].dropna()
    cost = threads["cost_usd"].dropna()
    overview = pd.DataFrame(
        {
            "sessions": [int((threads["parent_thread_id"].isna()).sum())],
            "subagent_threads": [int(threads["parent_thread_id"].notna().sum())],
            "turns": [len(turns)],
            "completed_turns": [len(completed)],
            "model_calls": [int(threads["model_calls"].sum())],
            "latency_p50_s": [completed.quantile(0.5) / 1000 if len(completed) else None],
            "latency_p95_s": [completed.quantile(0.95) / 1000 if len(completed) else None],
            "total_tokens": [int(threads["total_tokens"].sum())],
            "cost_usd": [float(cost.sum()) if len(cost) else None],
        }
    )
    return {
        "overview": overview,
        "by_model": model_breakdown(src),
        "failing_tools": failing_tools(src),
    }


__all__ = [
    "BREAKDOWN_KEYS",
    "TOKEN_COLUMNS",
    "USAGE_KEYS",
    "breakdown_sql",
    "failing_tools",
    "model_breakdown",
    "summary",
    "thread_summary",
    "turn_metrics",
    "usage_rows_sql",
    "usage_sums_sql",
    "usage_totals",
]
