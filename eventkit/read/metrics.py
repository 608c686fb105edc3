"""Metrics over the replayed entities: per turn, per thread, and per provider/model.

Built on the frames' replay SQL (:mod:`eventkit.read.replay`), so the numbers are those
of ``turns_df`` and ``threads_df``. Percentiles interpolate linearly (DuckDB
``quantile_cont``, as pandas' default and Spark's exact ``percentile``). Latency
is a completed turn's ``duration_ms``; running turns have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from eventkit.read.arrow import fetch
from eventkit.read.engine import quote_ident
from eventkit.read.frames import CATEGORICAL
from eventkit.read.readers import session
from eventkit.read.replay import ordered, threads_sql, tool_calls_sql, turns_sql

_TOTAL = "(t.input_tokens + t.cache_read_tokens + t.cache_write_tokens + t.output_tokens)"


def _turn_metrics_rows() -> str:
    return f"""
SELECT t.turn_id, t.thread_id, th.project_id, th.provider,
    coalesce(t.model, th.model) AS model, t.status,
    t.started_at, t.completed_at, t.duration_ms AS latency_ms,
    t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_write_tokens,
    t.reasoning_tokens, {_TOTAL} AS total_tokens,
    t.cost_usd, t.cost_source, t.tool_calls, t.tool_errors,
    CASE WHEN t.tool_calls > 0 THEN t.tool_errors / t.tool_calls END AS tool_error_rate,
    t._seq
FROM ({turns_sql()}) t LEFT JOIN ({threads_sql()}) th USING (thread_id)
"""


def turn_metrics(src: object) -> pd.DataFrame:
    """One row per turn: latency, tokens (total = input + cache + output), cost and tools.

    ``provider`` comes from the thread; ``model`` is the turn's, else the thread's.
    ``tool_error_rate`` is tool errors / tool calls (null without tool calls).
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
    Token and cost sums cover completed turns; ``cost_usd`` is null when no turn has one.
    """
    query = f"""
WITH th AS ({threads_sql()}),
tm AS ({_turn_metrics_rows()}),
turns AS (
    SELECT thread_id,
        count(*) FILTER (WHERE status NOT IN ('running')) AS completed_turns,
        count(*) FILTER (WHERE status = 'error') AS turn_errors,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd,
        sum(latency_ms) AS busy_ms
    FROM tm GROUP BY thread_id),
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
    CAST(coalesce(c.tool_calls, 0) AS BIGINT) AS tool_calls,
    CAST(coalesce(c.tool_errors, 0) AS BIGINT) AS tool_errors,
    CAST(coalesce(u.turn_errors, 0) AS BIGINT) AS turn_errors,
    CAST(coalesce(u.input_tokens, 0) AS BIGINT) AS input_tokens,
    CAST(coalesce(u.output_tokens, 0) AS BIGINT) AS output_tokens,
    CAST(coalesce(u.total_tokens, 0) AS BIGINT) AS total_tokens,
    u.cost_usd, u.busy_ms, th._seq
FROM th LEFT JOIN turns u USING (thread_id) LEFT JOIN calls c USING (thread_id)
"""
    with session(src) as con:
        return fetch(con, ordered(query), categorical=CATEGORICAL, context="summarizing threads")


BREAKDOWN_KEYS = ("provider", "model", "project_id", "thread_id", "status", "cost_source")
"""Columns :func:`model_breakdown` can group by."""


def model_breakdown(src: object, by: str | Sequence[str] = ("provider", "model")) -> pd.DataFrame:
    """Turns grouped by ``by``: counts, latency percentiles, tokens, cost, tool error rate.

    ``latency_p50_ms`` / ``p95`` / ``p99`` interpolate linearly over completed turns.
    Rows are ordered by the ``by`` columns (nulls last).
    """
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in BREAKDOWN_KEYS]
    if not keys or unknown:
        raise ValueError(f"by must name some of {', '.join(BREAKDOWN_KEYS)}; got {by!r}")
    group = ", ".join(quote_ident(k) for k in keys)
    latency = "latency_ms"
    query = f"""
SELECT {group},
    count(*) AS turns,
    count(*) FILTER (WHERE status <> 'running') AS completed_turns,
    count(*) FILTER (WHERE status = 'error') AS error_turns,
    quantile_cont({latency}, 0.5) AS latency_p50_ms,
    quantile_cont({latency}, 0.95) AS latency_p95_ms,
    quantile_cont({latency}, 0.99) AS latency_p99_ms,
    avg({latency}) AS latency_mean_ms,
    CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
    CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
    CAST(coalesce(sum(total_tokens), 0) AS BIGINT) AS total_tokens,
    sum(cost_usd) AS cost_usd,
    CAST(sum(tool_calls) AS BIGINT) AS tool_calls,
    CAST(sum(tool_errors) AS BIGINT) AS tool_errors,
    CASE WHEN sum(tool_calls) > 0 THEN sum(tool_errors) / sum(tool_calls) END
        AS tool_error_rate
FROM ({_turn_metrics_rows()})
GROUP BY {group}
ORDER BY {", ".join(f"{quote_ident(k)} ASC NULLS LAST" for k in keys)}
"""
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
    """What an analyst asks first: an overview, the breakdown by model, failing tools."""
    threads = thread_summary(src)
    turns = turn_metrics(src)
    completed = turns["latency_ms"].dropna()
    overview = pd.DataFrame(
        {
            "sessions": [int((threads["parent_thread_id"].isna()).sum())],
            "subagent_threads": [int(threads["parent_thread_id"].notna().sum())],
            "turns": [len(turns)],
            "completed_turns": [len(completed)],
            "latency_p50_s": [completed.quantile(0.5) / 1000 if len(completed) else None],
            "latency_p95_s": [completed.quantile(0.95) / 1000 if len(completed) else None],
            "total_tokens": [int(turns["total_tokens"].sum())],
            "cost_usd": [float(turns["cost_usd"].sum())],
        }
    )
    return {
        "overview": overview,
        "by_model": model_breakdown(src),
        "failing_tools": failing_tools(src),
    }


__all__ = [
    "BREAKDOWN_KEYS",
    "failing_tools",
    "model_breakdown",
    "summary",
    "thread_summary",
    "turn_metrics",
]
