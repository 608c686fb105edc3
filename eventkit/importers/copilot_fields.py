"""What GitHub Copilot CLI session events hold: record shapes, tool results, token figures.

Pure functions over one record's fields, used by
:mod:`eventkit.importers.copilot_events`; the mapping is described in
:mod:`eventkit.importers.copilot`.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventkit.catalog.events import TokenUsage

FORMAT = "copilot"
PROVIDER = "copilot"

SESSION_FIELDS = ("sessionId", "version", "producer", "copilotVersion", "startTime")
"""``session.start`` fields kept in the thread's metadata (with ``context``)."""

CONTEXT_FIELDS = ("cwd", "gitRoot", "branch", "headCommit", "baseCommit", "repository")
"""``session.start`` ``context`` fields kept in the thread's metadata."""

SKIPPED_TYPES = {
    "system.message": "system.message (the system prompt, not kept)",
    "session.mode_changed": "session.mode_changed (the mode is on user.message)",
    "session.model_change": "session.model_change (sets the model of later calls)",
    "session.resume": "session.resume (a resumed run)",
    "session.idle": "session.idle",
    "session.usage_info": "session.usage_info (context size)",
    "session.compaction_start": "session.compaction_start",
    "session.compaction_complete": "session.compaction_complete",
    "session.truncation": "session.truncation",
    "pending_messages.modified": "pending_messages.modified",
    "assistant.intent": "assistant.intent",
    "assistant.reasoning": "assistant.reasoning (reasoning text, not kept)",
    "assistant.reasoning_delta": "assistant.reasoning_delta",
    "assistant.message_delta": "assistant.message_delta (the whole message follows)",
    "assistant.usage": "assistant.usage (figures taken from session.shutdown)",
    "tool.user_requested": "tool.user_requested",
    "tool.execution_partial_result": "tool.execution_partial_result",
    "tool.execution_progress": "tool.execution_progress",
    "hook.start": "hook.start",
    "hook.end": "hook.end",
}
"""Record types that are known and carry nothing the catalog keeps (counted by reason)."""


def is_event_line(record: dict[str, Any]) -> bool:
    """A line of a Copilot CLI ``events.jsonl``: a ``type`` (``area.name``, or
    ``abort``), a ``data`` object and an ``id``."""
    kind = record.get("type")
    return (
        isinstance(kind, str)
        and ("." in kind or kind == "abort")
        and isinstance(record.get("data"), dict)
        and isinstance(record.get("id"), str)
    )


def count(value: Any) -> int:
    """A token figure (anything else, negative included, is 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0
    return int(value)


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def project_of(context: Any) -> str:
    """A session's project: its ``gitRoot``, else its ``cwd``."""
    if isinstance(context, dict):
        for key in ("gitRoot", "cwd"):
            if isinstance(context.get(key), str) and context[key]:
                return context[key]
    return "(unknown)"


def result_text(data: dict[str, Any]) -> str:
    """A ``tool.execution_complete``'s output: ``result.content`` (else the result as
    text), or the error's message when it failed."""
    result = data.get("result")
    if isinstance(result, dict) and isinstance(result.get("content"), str):
        return result["content"]
    if isinstance(result, str):
        return result
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    if result is None:
        return ""
    return orjson.dumps(result).decode()


def model_metrics(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``session.shutdown``'s ``modelMetrics``: model → the entry (non-dict ones dropped)."""
    metrics = data.get("modelMetrics")
    if not isinstance(metrics, dict):
        return {}
    return {str(k): v for k, v in metrics.items() if isinstance(v, dict)}


def metric_usage(entry: dict[str, Any]) -> TokenUsage:
    """One model's shutdown figures as catalog usage.

    ``inputTokens`` includes the cache reads and writes (the fixture's 186,809 input over
    6 requests against a last context of 35,322 tokens only fits if the 151,738 cache
    reads are part of it); uncached input is ``inputTokens − cacheReadTokens −
    cacheWriteTokens``. ``outputTokens`` includes ``reasoningTokens``.
    """
    usage = entry.get("usage") if isinstance(entry.get("usage"), dict) else {}
    read, write = count(usage.get("cacheReadTokens")), count(usage.get("cacheWriteTokens"))
    return TokenUsage(
        input_tokens=max(count(usage.get("inputTokens")) - read - write, 0),
        output_tokens=count(usage.get("outputTokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=count(usage.get("reasoningTokens")),
    )


def premium_requests(entry: dict[str, Any]) -> tuple[int, float]:
    """``(requests.count, requests.cost)`` of one model's shutdown figures."""
    requests = entry.get("requests") if isinstance(entry.get("requests"), dict) else {}
    cost = requests.get("cost")
    cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else 0.0
    return count(requests.get("count")), cost


__all__ = [
    "CONTEXT_FIELDS",
    "FORMAT",
    "PROVIDER",
    "SESSION_FIELDS",
    "SKIPPED_TYPES",
    "count",
    "is_event_line",
    "metric_usage",
    "model_metrics",
    "premium_requests",
    "project_of",
    "result_text",
    "text",
]
