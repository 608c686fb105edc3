"""The usage rule of ``docs/semantics.md``, restated in plain Python over a list of events.

Independent of eventkit's replays: the tests compare every total (``usage_totals``,
``thread_summary``, ``model_breakdown``, ``summary``, the Spark metrics) with
:func:`usage_rows` and :func:`totals`. Only what the totals need is replayed: which
threads, turns and model calls exist, each call as its holding event states it, each
turn's completion and model, each thread's model, provider and project.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date

import pandas as pd

import eventkit as ek

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
"""The token columns whose sum is the total (reasoning is part of output)."""


def usage_rows(events: Iterable[ek.Event]) -> list[dict]:
    """Every model call, then every turn without calls, with what totals group by."""
    threads: dict[str, dict] = {}
    turns: dict[str, dict] = {}
    calls: dict[str, dict] = {}
    for e in events:  # sequence order
        if isinstance(e, ek.ThreadCreated) and e.id not in threads:
            threads[e.id] = {"model": e.model, "provider": e.provider, "project": e.project_id}
        elif isinstance(e, ek.TurnStarted) and e.id not in turns and e.thread_id in threads:
            turns[e.id] = {"thread": e.thread_id, "model": e.model, "status": "running"}
        elif isinstance(e, ek.TurnCompleted) and turns.get(e.id, {}).get("status") == "running":
            turns[e.id].update(status=e.outcome, completed=e.at, usage=e.usage, cost=e.cost_usd)
        elif isinstance(e, ek.ModelCallCompleted):
            thread = threads.get(e.thread_id)
            if thread is not None and thread["model"] == "" and e.model:
                thread["model"] = e.model
            held = calls.get(e.id)
            if held is None and thread is not None:
                calls[e.id] = {"thread": e.thread_id, "turn": e.turn_id, "event": e}
            elif held is not None and e.revision >= held["event"].revision:
                held["event"] = e  # a later event of at least the same revision holds
    rows = []
    for call_id, call in calls.items():
        e, turn = call["event"], turns.get(call["turn"])
        thread = threads[call["thread"]]
        rows.append(
            {
                "model_call_id": call_id,
                "turn_id": call["turn"],
                "thread_id": call["thread"],
                "provider": thread["provider"],
                "project_id": thread["project"],
                "model": e.model or (turn and turn["model"]) or thread["model"],
                "status": turn and turn["status"],
                "day": e.at.astimezone(UTC).date(),
                **{k: getattr(e.usage, k) for k in (*TOKENS, "reasoning_tokens")},
                "cost_usd": e.cost_usd,
            }
        )
    with_calls = {call["turn"] for call in calls.values()}
    for turn_id, turn in turns.items():
        if turn_id in with_calls:
            continue
        thread = threads[turn["thread"]]
        usage = turn.get("usage")
        rows.append(
            {
                "model_call_id": None,
                "turn_id": turn_id,
                "thread_id": turn["thread"],
                "provider": thread["provider"],
                "project_id": thread["project"],
                "model": turn["model"] or thread["model"],
                "status": turn["status"],
                "day": turn["completed"].astimezone(UTC).date() if usage else None,
                **{k: getattr(usage, k) if usage else None for k in (*TOKENS, "reasoning_tokens")},
                "cost_usd": turn.get("cost"),
            }
        )
    return rows


def totals(rows: list[dict], by: Sequence[str]) -> dict[tuple, dict]:
    """``key tuple -> {model_calls, <token columns>, total_tokens, cost_usd}`` per group."""
    found: dict[tuple, dict] = defaultdict(
        lambda: (
            {"model_calls": 0, "total_tokens": 0, "cost_usd": None}
            | {k: 0 for k in (*TOKENS, "reasoning_tokens")}
        )
    )
    for row in rows:
        group = found[tuple(row[k] for k in by)]
        group["model_calls"] += row["model_call_id"] is not None
        for k in (*TOKENS, "reasoning_tokens"):
            group[k] += row[k] or 0
        group["total_tokens"] += sum(row[k] or 0 for k in TOKENS)
        if row["cost_usd"] is not None:
            group["cost_usd"] = (group["cost_usd"] or 0.0) + row["cost_usd"]
    return dict(found)


def key_of(value: object) -> object:
    """A frame's value as :func:`totals` keys it (missing -> None, a timestamp -> its date)."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value if isinstance(value, date) else str(value)
