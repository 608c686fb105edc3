"""The projection rules: what each event does to the entity rows (``docs/semantics.md``).

:func:`apply_chunk` applies a run of events in sequence order: it loads the rows they
touch (:class:`~eventkit.log.projections_tables.RowSet`), applies each event's rule to
them in memory and writes the changed rows back. The frames replay the same rules in
DuckDB, written apart: their agreement is the check on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json

from eventkit.catalog.events import EVENT_TYPES, THREAD_STREAM_FIELD, TURN_ACTIVITY_FIELD
from eventkit.catalog.tool_categories import tool_category
from eventkit.log.projections_tables import (
    CHECKPOINTS,
    MESSAGES,
    MODEL_CALLS,
    PROJECTS,
    SETTINGS,
    TABLES,
    THREADS,
    TOOL_CALLS,
    TURNS,
    ProjectionTable,
    RowSet,
)

_MICROSECOND = timedelta(microseconds=1)

_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

_CALL_STATE = (
    "model",
    "requested_at",
    "completed_at",
    "duration_ms",
    *_TOKEN_COLUMNS,
    "cost_usd",
    "cost_source",
    "stop_reason",
    "revision",
)
"""What the holding ModelCallCompleted of a call gives it (all but its key, thread and turn)."""


# The entity rows an event may read or change: (table, payload field holding the key).
# Turns of calls completed in a chunk are added once the calls are loaded.
_TOUCHES: dict[str, tuple[tuple[ProjectionTable, str], ...]] = {
    "ProjectCreated": ((PROJECTS, "id"),),
    "ProjectRenamed": ((PROJECTS, "id"),),
    "ProjectDeleted": ((PROJECTS, "id"),),
    "TurnStarted": ((TURNS, "id"),),
    "TurnCompleted": ((TURNS, "id"),),
    "MessageAdded": ((MESSAGES, "id"),),
    "MessageDelta": ((MESSAGES, "id"),),
    "ToolCallStarted": ((TOOL_CALLS, "id"), (TURNS, "turn_id")),
    "ToolCallCompleted": ((TOOL_CALLS, "id"),),
    "ApprovalResolved": ((TOOL_CALLS, "tool_call_id"),),
    "CheckpointCreated": ((CHECKPOINTS, "id"),),
    "CheckpointRestored": ((CHECKPOINTS, "id"),),
    "ModelCallCompleted": ((MODEL_CALLS, "id"),),
}

RawEvent = tuple[int, str, str, dict[str, Any]]
"""``(sequence, event_type, occurred_at, payload)``: an event as the rules take it."""


def _duration_ms(start: str, end: str) -> float:
    """``end - start`` in milliseconds: whole microseconds / 1000, as the rules define it."""
    micros = (datetime.fromisoformat(end) - datetime.fromisoformat(start)) // _MICROSECOND
    return micros / 1000


def _call_state(p: dict[str, Any], at: str) -> dict[str, Any]:
    """A call's columns as one ModelCallCompleted states them (see :data:`_CALL_STATE`)."""
    usage = p.get("usage") or {}
    requested = p.get("requested_at")
    return {
        "model": p.get("model"),
        "requested_at": requested,
        "completed_at": at,
        "duration_ms": None if requested is None else _duration_ms(requested, at),
        **{column: usage.get(column, 0) for column in _TOKEN_COLUMNS},
        "cost_usd": p.get("cost_usd"),
        "cost_source": p.get("cost_source"),
        "stop_reason": p.get("stop_reason"),
        "revision": p.get("revision", 1),
    }


def _sum_calls(turn: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    """A turn's token columns, cost and cost_source from its model calls (``model_call_id`` order).

    The cost is added left to right in that order, so that every replay gets the same
    float; it is the priced calls' sum, and ``partial`` says that some calls had none.
    """
    for column in _TOKEN_COLUMNS:
        turn[column] = sum(call[column] for call in calls)
    cost = None
    sources = []
    for call in calls:
        if call["cost_usd"] is not None:
            cost = call["cost_usd"] if cost is None else cost + call["cost_usd"]
            sources.append(call["cost_source"])
    turn["cost_usd"] = cost
    if not sources:
        turn["cost_source"] = None
    elif len(sources) < len(calls):
        turn["cost_source"] = "partial"
    elif "estimated" in sources:
        turn["cost_source"] = "estimated"
    elif all(source == "recorded" for source in sources):
        turn["cost_source"] = "recorded"
    else:  # priced, of no stated source
        turn["cost_source"] = None


def _json_text(value: Any) -> str:
    """Compact JSON of a payload value, character for character as the payload holds it.

    ``json.dumps`` would differ for some floats (``1e-05`` where the payload has
    ``0.00001``); pydantic's serializer is the one that wrote the payload.
    """
    return to_json(value).decode()


class Chunk(RowSet):
    """The entity rows a run of events touches, and the events applied to them."""

    def __init__(self, conn: sqlite3.Connection, events: list[RawEvent]):
        super().__init__(conn)
        self.events = events
        # Tool calls created before their turn (counted when the turn is created):
        # turn_id -> [calls, errors], for turns this chunk may create.
        self.waiting: dict[str, list[int]] = {}
        # Model calls by turn_id: every call of each turn the chunk's model calls or
        # turn starts concern, loaded or created here.
        self.calls_by_turn: dict[str, set[str]] = {}
        # Turns whose usage is summed again from their calls once the chunk is applied.
        self.resum: set[str] = set()
        self._load()

    # ------------------------------------------------------------------ load

    def _load(self) -> None:
        wanted: dict[ProjectionTable, set[str]] = {table: set() for table in TABLES}
        for _, event_type, _, payload in self.events:
            for table, field in _TOUCHES.get(event_type, ()):
                wanted[table].add(payload[field])
            thread_field = THREAD_STREAM_FIELD.get(event_type)
            if thread_field is not None:
                wanted[THREADS].add(payload[thread_field])
            turn_field = TURN_ACTIVITY_FIELD.get(event_type)
            if turn_field is not None and payload.get(turn_field) is not None:
                wanted[TURNS].add(payload[turn_field])  # its last activity
        for table in (PROJECTS, THREADS, MESSAGES, TOOL_CALLS, CHECKPOINTS, MODEL_CALLS):
            self.fetch(table, wanted[table])
        # A completion that fails a call counts against the call's own turn.
        wanted[TURNS].update(call["turn_id"] for call in self.rows[TOOL_CALLS].values())
        # A model call is summed into its turn with the turn's other calls (a new call's
        # turn is the one its event names); a turn starting here counts those before it.
        call_turns = {call["turn_id"] for call in self.rows[MODEL_CALLS].values()}
        call_turns.update(
            p.get("turn_id") for _, t, _, p in self.events if t == "ModelCallCompleted"
        )
        call_turns.discard(None)
        wanted[TURNS].update(call_turns)
        call_turns.update(p["id"] for _, t, _, p in self.events if t == "TurnStarted")
        self.fetch_where(MODEL_CALLS, "turn_id", call_turns)
        for call in self.rows[MODEL_CALLS].values():
            if call["turn_id"] is not None:
                self.calls_by_turn.setdefault(call["turn_id"], set()).add(call["model_call_id"])
        self.fetch(TURNS, wanted[TURNS])
        started = {p["id"] for _, t, _, p in self.events if t == "TurnStarted"}
        new_turns = started - self.rows[TURNS].keys()
        if new_turns:
            query = (
                "SELECT turn_id, count(*), total(status = 'error') FROM projection_tool_calls "
                "WHERE turn_id IN (SELECT value FROM json_each(?)) GROUP BY turn_id"
            )
            found = {turn: [n, int(errors)] for turn, n, errors in self.query(query, new_turns)}
            self.waiting = {turn: found.get(turn, [0, 0]) for turn in new_turns}

    # ------------------------------------------------------------------ apply

    def apply(self) -> None:
        threads, turns = self.rows[THREADS], self.rows[TURNS]
        thread_dirty, turn_dirty = self.dirty[THREADS], self.dirty[TURNS]
        for _, event_type, at, payload in self.events:
            handler = RULES.get(event_type)
            if handler is None:  # a type this catalog does not know: skipped
                continue
            handler(self, payload, at)
            thread_field = THREAD_STREAM_FIELD.get(event_type)
            if thread_field is not None:
                thread_id = payload[thread_field]
                thread = threads.get(thread_id)
                if thread is not None and at > thread["updated_at"]:
                    thread["updated_at"] = at
                    thread_dirty.add(thread_id)
            turn_field = TURN_ACTIVITY_FIELD.get(event_type)
            if turn_field is not None:
                # Only TurnStarted creates a turn, so a turn found here started before.
                turn_id = payload.get(turn_field)
                turn = turns.get(turn_id) if turn_id is not None else None
                if turn is not None and at > turn["last_activity_at"]:
                    turn["last_activity_at"] = at
                    turn_dirty.add(turn_id)
        calls = self.rows[MODEL_CALLS]
        for turn_id in self.resum:
            turn = turns.get(turn_id)
            mine = self.calls_by_turn.get(turn_id)
            if turn is not None and mine:
                _sum_calls(turn, [calls[call_id] for call_id in sorted(mine)])
                turn_dirty.add(turn_id)

    # projects

    def project_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[PROJECTS]:
            return
        self.put(
            PROJECTS,
            {
                "project_id": p["id"],
                "name": p["name"],
                "path": p["path"],
                "created_at": at,
                "updated_at": at,
                "deleted_at": None,
            },
        )

    def project_renamed(self, p: dict[str, Any], at: str) -> None:
        project = self.touch(PROJECTS, p["id"])
        if project is not None:
            project["name"] = p["name"]
            project["updated_at"] = max(project["updated_at"], at)

    def project_deleted(self, p: dict[str, Any], at: str) -> None:
        project = self.touch(PROJECTS, p["id"])
        if project is not None:
            if project["deleted_at"] is None:
                project["deleted_at"] = at
            project["updated_at"] = max(project["updated_at"], at)

    # threads (updated_at is moved for every event of the stream, in apply)

    def thread_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[THREADS]:
            return
        self.put(
            THREADS,
            {
                "thread_id": p["id"],
                "project_id": p["project_id"],
                "parent_thread_id": p.get("parent_thread_id"),
                "title": p["title"],
                "provider": p["provider"],
                "model": p["model"],
                "status": "active",
                "created_at": at,
                "updated_at": at,
                "archived_at": None,
                "deleted_at": None,
                "turn_count": 0,
                "message_count": 0,
                "parent_tool_call_id": p.get("parent_tool_call_id"),
            },
        )

    def thread_renamed(self, p: dict[str, Any], at: str) -> None:
        thread = self.touch(THREADS, p["id"])
        if thread is not None:
            thread["title"] = p["title"]

    def thread_archived(self, p: dict[str, Any], at: str) -> None:
        thread = self.touch(THREADS, p["id"])
        if thread is not None:
            if thread["archived_at"] is None:
                thread["archived_at"] = at
            if thread["status"] != "deleted":
                thread["status"] = "archived"

    def thread_deleted(self, p: dict[str, Any], at: str) -> None:
        thread = self.touch(THREADS, p["id"])
        if thread is not None:
            if thread["deleted_at"] is None:
                thread["deleted_at"] = at
            thread["status"] = "deleted"

    # turns

    def turn_started(self, p: dict[str, Any], at: str) -> None:
        turn_id = p["id"]
        if turn_id in self.rows[TURNS]:
            return
        thread = self.touch(THREADS, p["thread_id"])
        if thread is None:
            return
        thread["turn_count"] += 1
        calls, errors = self.waiting.pop(turn_id, (0, 0))
        model_calls = len(self.calls_by_turn.get(turn_id, ()))
        if model_calls:
            self.resum.add(turn_id)
        self.put(
            TURNS,
            {
                "turn_id": turn_id,
                "thread_id": p["thread_id"],
                "model": p.get("model"),
                "status": "running",
                "started_at": at,
                "completed_at": None,
                "duration_ms": None,
                "input_tokens": None,
                "output_tokens": None,
                "cache_read_tokens": None,
                "cache_write_tokens": None,
                "reasoning_tokens": None,
                "cost_usd": None,
                "cost_source": None,
                "tool_calls": calls,
                "tool_errors": errors,
                "error": None,
                "last_activity_at": at,
                "model_calls": model_calls,
            },
        )

    def turn_completed(self, p: dict[str, Any], at: str) -> None:
        turn = self.rows[TURNS].get(p["id"])
        if turn is None or turn["status"] != "running":
            return
        self.dirty[TURNS].add(p["id"])
        usage = p.get("usage") or {}
        turn["status"] = p["outcome"]
        turn["completed_at"] = at
        turn["duration_ms"] = _duration_ms(turn["started_at"], at)
        if not turn["model_calls"]:  # a turn with model calls has their sums
            for column in _TOKEN_COLUMNS:
                turn[column] = usage.get(column, 0)
            turn["cost_usd"] = p.get("cost_usd")
            turn["cost_source"] = p.get("cost_source")
        turn["error"] = p.get("error")

    def _count_call(self, turn_id: str, calls: int, errors: int) -> None:
        turn = self.touch(TURNS, turn_id)
        if turn is not None:
            turn["tool_calls"] += calls
            turn["tool_errors"] += errors
        elif turn_id in self.waiting:
            waiting = self.waiting[turn_id]
            waiting[0] += calls
            waiting[1] += errors

    # messages

    def message_added(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[MESSAGES]:
            return
        thread = self.touch(THREADS, p["thread_id"])
        if thread is None:
            return
        thread["message_count"] += 1
        self.put(
            MESSAGES,
            {
                "message_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p.get("turn_id"),
                "role": p["role"],
                "text": p["text"],
                "created_at": at,
                "updated_at": at,
                "delta_count": 0,
            },
        )

    def message_delta(self, p: dict[str, Any], at: str) -> None:
        message = self.touch(MESSAGES, p["id"])
        if message is not None:
            message["text"] += p["delta"]
            message["delta_count"] += 1
            if at > message["updated_at"]:
                message["updated_at"] = at

    # tool calls

    def tool_call_started(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[TOOL_CALLS]:
            return
        if p["thread_id"] not in self.rows[THREADS]:
            return
        self.put(
            TOOL_CALLS,
            {
                "tool_call_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p["turn_id"],
                "tool": p["tool"],
                "tool_category": tool_category(p["tool"]),
                "input": _json_text(p["input"]),
                "status": "running",
                "output": None,
                "started_at": at,
                "completed_at": None,
                "duration_ms": None,
                "approval_decision": None,
                "approval_wait_ms": None,
            },
        )
        self._count_call(p["turn_id"], 1, 0)

    def tool_call_completed(self, p: dict[str, Any], at: str) -> None:
        call = self.rows[TOOL_CALLS].get(p["id"])
        if call is None or call["status"] != "running":
            return
        self.dirty[TOOL_CALLS].add(p["id"])
        call["status"] = p["status"]
        call["output"] = p["output"]
        call["completed_at"] = at
        call["duration_ms"] = _duration_ms(call["started_at"], at)
        if p["status"] == "error":
            self._count_call(call["turn_id"], 0, 1)

    def approval_resolved(self, p: dict[str, Any], at: str) -> None:
        call = self.touch(TOOL_CALLS, p["tool_call_id"])
        if call is not None:
            call["approval_decision"] = p["decision"]
            call["approval_wait_ms"] = _duration_ms(p["requested_at"], at)

    # checkpoints

    def checkpoint_created(self, p: dict[str, Any], at: str) -> None:
        if p["id"] in self.rows[CHECKPOINTS]:
            return
        if p["thread_id"] not in self.rows[THREADS]:
            return
        self.put(
            CHECKPOINTS,
            {
                "checkpoint_id": p["id"],
                "thread_id": p["thread_id"],
                "turn_id": p.get("turn_id"),
                "git_ref": p["git_ref"],
                "message": p["message"],
                "files_changed": p["files_changed"],
                "additions": p["additions"],
                "deletions": p["deletions"],
                "created_at": at,
                "restored_at": None,
            },
        )

    def checkpoint_restored(self, p: dict[str, Any], at: str) -> None:
        checkpoint = self.touch(CHECKPOINTS, p["id"])
        if checkpoint is not None:
            checkpoint["restored_at"] = at

    # model calls

    def model_call_completed(self, p: dict[str, Any], at: str) -> None:
        thread = self.rows[THREADS].get(p["thread_id"])
        if thread is not None and thread["model"] == "" and p.get("model"):
            thread["model"] = p["model"]  # the first call naming a model, applied or not
            self.dirty[THREADS].add(p["thread_id"])
        call_id = p["id"]
        call = self.rows[MODEL_CALLS].get(call_id)
        if call is None:
            if thread is None:
                return
            turn_id = p.get("turn_id")
            self.put(
                MODEL_CALLS,
                {
                    "model_call_id": call_id,
                    "thread_id": p["thread_id"],
                    "turn_id": turn_id,
                    **_call_state(p, at),
                },
            )
            if turn_id is not None:
                self.calls_by_turn.setdefault(turn_id, set()).add(call_id)
                turn = self.touch(TURNS, turn_id)
                if turn is not None:
                    turn["model_calls"] += 1
                    self.resum.add(turn_id)
            return
        # A restatement: sequence order makes this event the latest, so it holds unless
        # its revision is lower. thread_id and turn_id stay the first event's.
        if p.get("revision", 1) < call["revision"]:
            return
        call.update(_call_state(p, at))
        self.dirty[MODEL_CALLS].add(call_id)
        if call["turn_id"] is not None:
            self.resum.add(call["turn_id"])

    # settings: the last change wins, so nothing is read

    def setting_changed(self, p: dict[str, Any], at: str) -> None:
        self.put(SETTINGS, {"key": p["key"], "value": _json_text(p["value"]), "updated_at": at})


RULES: dict[str, Callable[[Chunk, dict[str, Any], str], None]] = {
    "ProjectCreated": Chunk.project_created,
    "ProjectRenamed": Chunk.project_renamed,
    "ProjectDeleted": Chunk.project_deleted,
    "ThreadCreated": Chunk.thread_created,
    "ThreadRenamed": Chunk.thread_renamed,
    "ThreadArchived": Chunk.thread_archived,
    "ThreadDeleted": Chunk.thread_deleted,
    "TurnStarted": Chunk.turn_started,
    "TurnCompleted": Chunk.turn_completed,
    "MessageAdded": Chunk.message_added,
    "MessageDelta": Chunk.message_delta,
    "ToolCallStarted": Chunk.tool_call_started,
    "ToolCallCompleted": Chunk.tool_call_completed,
    "ApprovalResolved": Chunk.approval_resolved,
    "CheckpointCreated": Chunk.checkpoint_created,
    "CheckpointRestored": Chunk.checkpoint_restored,
    "SettingChanged": Chunk.setting_changed,
    "ModelCallCompleted": Chunk.model_call_completed,
}
assert RULES.keys() == EVENT_TYPES.keys(), "every catalog event needs a projection rule"


def apply_chunk(conn: sqlite3.Connection, events: list[RawEvent]) -> None:
    """Apply ``events`` (sequence order, known types only) to the projection tables."""
    chunk = Chunk(conn, events)
    chunk.apply()
    chunk.store()


__all__ = ["RULES", "Chunk", "RawEvent", "apply_chunk"]
