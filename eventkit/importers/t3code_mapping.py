"""t3code's orchestration events mapped to canonical events (see
:mod:`eventkit.importers.t3code` for the mapping), written through the import run."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventkit.catalog.events import (
    ApprovalResolved,
    CheckpointCreated,
    CheckpointRestored,
    Event,
    MessageAdded,
    MessageDelta,
    ProjectCreated,
    ProjectDeleted,
    ProjectRenamed,
    ThreadArchived,
    ThreadCreated,
    ThreadDeleted,
    ThreadRenamed,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
)
from eventkit.importers.common import source_timestamp, truncate_output
from eventkit.importers.import_run import ImportRun, SourceFile
from eventkit.importers.t3code_source import (
    DECISIONS,
    RUNNING,
    SETTLED,
    Row,
    activity_item_id,
    loads,
    positive_count,
    tool_name,
    tool_status,
)

FORMAT = "t3code"
DEFAULT_PROVIDER = "t3code"

KNOWN_UNMAPPED = frozenset(
    {
        "thread.unarchived",
        "thread.settled",
        "thread.unsettled",
        "thread.snoozed",
        "thread.unsnoozed",
        "thread.pinned",
        "thread.unpinned",
        "thread.pin-reordered",
        "thread.runtime-mode-set",
        "thread.interaction-mode-set",
        "thread.user-input-response-requested",
        "thread.checkpoint-revert-requested",
        "thread.session-stop-requested",
        "thread.proposed-plan-upserted",
    }
)
"""t3code event types with no canonical counterpart (skipped, by name)."""


@dataclass
class _Thread:
    id: str
    model: str | None = None
    running: str | None = None
    """The turn in progress (requested or running), if any."""
    turns: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    """message id → text so far."""
    waiting_user: dict[str, tuple[Row, dict[str, Any], datetime]] = field(default_factory=dict)
    user_turn: dict[str, str] = field(default_factory=dict)
    """user message id → the turn that claimed it."""
    checkpoints: dict[int, str] = field(default_factory=dict)
    """checkpoint turn count → newest checkpoint id."""


class T3codeMapper:
    def __init__(
        self,
        file: SourceFile,
        run: ImportRun,
        turn_ids: dict[str, str],
        claimed: set[str],
    ) -> None:
        self.file, self.path, self.store, self.report = file, file.path, run.store, run.report
        self.turn_ids, self.claimed = turn_ids, claimed
        self.writer = run.writer
        self.threads: dict[str, _Thread] = {}
        self.owners: dict[tuple[str, str], str] = {}
        self.calls: dict[str, tuple[str, str]] = {}  # call id → (thread, turn)
        self.open_calls: dict[tuple[str, str, str], deque[str]] = defaultdict(deque)
        self.done_calls: set[str] = set()
        self.approvals: dict[str, tuple[datetime, str, str, str]] = {}
        self.resolved: set[str] = set()
        self.handlers = {
            "project.created": self.on_project_created,
            "project.meta-updated": self.on_project_meta,
            "project.deleted": self.on_project_deleted,
            "thread.created": self.on_thread_created,
            "thread.meta-updated": self.on_thread_meta,
            "thread.archived": self.on_thread_archived,
            "thread.deleted": self.on_thread_deleted,
            "thread.message-sent": self.on_message,
            "thread.turn-start-requested": self.on_turn_start,
            "thread.turn-interrupt-requested": self.on_interrupt,
            "thread.session-set": self.on_session,
            "thread.activity-appended": self.on_activity,
            "thread.approval-response-requested": self.on_approval_response,
            "thread.turn-diff-completed": self.on_diff,
            "thread.reverted": self.on_reverted,
        }

    # ---------------------------------------------------------------- plumbing

    def row(self, row: Row) -> None:
        self.report.lines_read += 1
        handler = self.handlers.get(row.event_type)
        if handler is None:
            if row.event_type in KNOWN_UNMAPPED:
                self.report.skip(f"{row.event_type} (no canonical event)")
            else:
                self.report.skip(f"unknown event type {row.event_type!r}")
            return
        payload = loads(row.payload_json)
        at = source_timestamp(row.occurred_at)
        if not isinstance(payload, dict) or at is None:
            reason = "invalid payload_json" if at is not None else "invalid occurred_at"
            self.report.skip(reason)
            self.report.warnings.append(
                f"{self.path}: event {row.sequence} ({row.event_type}): {reason}; skipped"
            )
            return
        handler(row, payload, at)

    def emit(self, event: Event, row: Row, *identity: object, **extra: Any) -> str:
        source = self.file.source(
            sequence=row.sequence, event_id=row.event_id, event_type=row.event_type
        )
        metadata: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        metadata["source"] = source
        for key, value in (
            ("actor", row.actor_kind),
            ("command_id", row.command_id),
            ("correlation_id", row.correlation_id),
            ("causation_id", row.causation_event_id),
        ):
            if value:
                metadata[key] = value
        t3_meta = loads(row.metadata_json)
        if isinstance(t3_meta, dict) and t3_meta:
            metadata["t3code_metadata"] = t3_meta
        return self.writer.add(event, (FORMAT, row.event_id, event.type, *identity), metadata)

    def unique(self, kind: str, thread_id: str, source_id: str) -> str:
        """t3code's id for an item, prefixed by its thread if another thread used it first
        (t3code scopes message and item ids by thread; eventkit ids are global)."""
        owner = self.owners.setdefault((kind, source_id), thread_id)
        return source_id if owner == thread_id else f"{thread_id}/{source_id}"

    def thread(self, payload: dict[str, Any], row: Row) -> _Thread:
        thread_id = payload.get("threadId") or row.stream_id or "unknown"
        state = self.threads.get(thread_id)
        if state is None:
            state = self.threads[thread_id] = _Thread(thread_id)
        return state

    def finish(self) -> None:
        for thread in self.threads.values():
            for message_id, (row, payload, at) in list(thread.waiting_user.items()):
                # its turn-start request never came: keep the prompt, outside any turn
                self.add_user_message(thread, row, payload, at, None, "unclaimed")
                del thread.waiting_user[message_id]
        self.writer.flush()

    # ---------------------------------------------------------------- projects

    def on_project_created(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        project_id = p.get("projectId") or row.stream_id
        if not project_id:
            self.report.skip("project.created without a projectId")
            return
        event = ProjectCreated(
            id=project_id,
            name=str(p.get("title") or ""),
            path=str(p.get("workspaceRoot") or ""),
            at=at,
        )
        self.emit(event, row, default_model=p.get("defaultModelSelection"))

    def on_project_meta(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        project_id = p.get("projectId") or row.stream_id
        title = p.get("title")
        if not project_id or not isinstance(title, str) or not title:
            self.report.skip("project.meta-updated without a title")
            return
        self.emit(ProjectRenamed(id=project_id, name=title, at=at), row)

    def on_project_deleted(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        project_id = p.get("projectId") or row.stream_id
        if not project_id:
            self.report.skip("project.deleted without a projectId")
            return
        self.emit(ProjectDeleted(id=project_id, at=at), row)

    # ---------------------------------------------------------------- threads

    def on_thread_created(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        selection = p.get("modelSelection") if isinstance(p.get("modelSelection"), dict) else {}
        provider = selection.get("provider") or selection.get("instanceId") or p.get("provider")
        model = selection.get("model") or p.get("model")
        thread.model = model if isinstance(model, str) and model else None
        event = ThreadCreated(
            id=thread.id,
            project_id=str(p.get("projectId") or "unknown"),
            title=str(p.get("title") or ""),
            provider=provider if isinstance(provider, str) and provider else DEFAULT_PROVIDER,
            model=thread.model or "unknown",
            parent_thread_id=p.get("parentThreadId") or None,
            at=at,
        )
        extra = {k: p.get(k) for k in ("runtimeMode", "interactionMode", "branch", "worktreePath")}
        self.emit(event, row, **extra)
        self.report.threads += 1

    def on_thread_meta(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        selection = p.get("modelSelection")
        if isinstance(selection, dict) and isinstance(selection.get("model"), str):
            thread.model = selection["model"]  # for the turns that follow
        title = p.get("title")
        if not isinstance(title, str) or not title:
            self.report.skip("thread.meta-updated without a title")
            return
        self.emit(ThreadRenamed(id=thread.id, title=title, at=at), row)

    def on_thread_archived(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        self.emit(ThreadArchived(id=self.thread(p, row).id, at=at), row)

    def on_thread_deleted(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        self.emit(ThreadDeleted(id=self.thread(p, row).id, at=at), row)

    # ---------------------------------------------------------------- turns

    def start_turn(self, thread: _Thread, turn_id: str, row: Row, at: datetime, model: Any) -> None:
        if thread.running and thread.running not in thread.closed:
            self.end_turn(thread, thread.running, row, at, "success", None, inferred=True)
        thread.turns.add(turn_id)
        thread.running = turn_id
        model = model if isinstance(model, str) and model else thread.model
        self.emit(TurnStarted(id=turn_id, thread_id=thread.id, model=model, at=at), row)

    def end_turn(
        self,
        thread: _Thread,
        turn_id: str,
        row: Row,
        at: datetime,
        outcome: str,
        error: str | None,
        *,
        inferred: bool = False,
    ) -> None:
        error = error or thread.errors.get(turn_id)
        if error and outcome == "success":
            outcome = "error"
        event = TurnCompleted(
            id=turn_id,
            thread_id=thread.id,
            outcome=outcome,  # type: ignore[arg-type]
            error=error if outcome == "error" else None,
            at=at,
        )
        self.emit(event, row, turn_id, inferred=True if inferred else None)
        thread.closed.add(turn_id)
        if thread.running == turn_id:
            thread.running = None

    def turn_of(self, thread: _Thread, turn_id: Any) -> str | None:
        """The open turn an item belongs to: its own if known, else the running one."""
        if isinstance(turn_id, str) and turn_id in thread.turns:
            return turn_id
        if thread.running and thread.running not in thread.closed:
            return thread.running
        return None

    def on_turn_start(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        turn_id = self.turn_ids.get(row.event_id) or derived_id(at, FORMAT, row.event_id, "turn")
        selection = p.get("modelSelection") if isinstance(p.get("modelSelection"), dict) else {}
        self.start_turn(thread, turn_id, row, at, selection.get("model"))
        message_id = p.get("messageId")
        if isinstance(message_id, str):
            thread.user_turn[message_id] = turn_id
            waiting = thread.waiting_user.pop(message_id, None)
            if waiting is not None:
                self.add_user_message(thread, *waiting, turn_id)

    def on_session(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        session = p.get("session") if isinstance(p.get("session"), dict) else {}
        status = session.get("status")
        active = session.get("activeTurnId")
        running = thread.running if thread.running not in thread.closed else None
        if status in RUNNING and isinstance(active, str) and active:
            if active in thread.turns:
                self.report.skip("thread.session-set (no turn change)")
                return
            # a turn t3code started without a request of its own (or whose request
            # ran under another id): it begins here
            self.start_turn(thread, active, row, at, None)
            return
        if status in SETTLED and running is not None:
            outcome = {"error": "error", "interrupted": "interrupted"}.get(status, "success")
            error = session.get("lastError") if status == "error" else None
            self.end_turn(thread, running, row, at, outcome, error or None)
            return
        self.report.skip("thread.session-set (no turn change)")

    def on_interrupt(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        turn_id = p.get("turnId") if p.get("turnId") in thread.turns else thread.running
        if not turn_id or turn_id in thread.closed:
            self.report.skip("interrupt without a running turn")
            return
        self.end_turn(thread, turn_id, row, at, "interrupted", None)

    # ---------------------------------------------------------------- messages

    def on_message(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        message_id = p.get("messageId")
        text = p.get("text") if isinstance(p.get("text"), str) else ""
        role = p.get("role")
        if not isinstance(message_id, str) or not message_id:
            self.report.skip("message without a messageId")
            return
        if role not in ("user", "assistant", "system"):
            self.report.skip(f"message with role {role!r}")
            return
        if message_id not in thread.messages and message_id not in thread.waiting_user:
            if role == "user":
                turn_id = thread.user_turn.get(message_id)
                if turn_id is None and message_id in self.claimed:
                    thread.waiting_user[message_id] = (row, p, at)  # until its turn starts
                    return
                if turn_id is None:
                    turn_id = self.turn_of(thread, p.get("turnId"))
                self.add_user_message(thread, row, p, at, turn_id)
                return
            if not text and not p.get("streaming"):
                self.report.skip("empty message")
                return
            turn_id = self.turn_of(thread, p.get("turnId"))
            event = MessageAdded(
                id=self.unique("message", thread.id, message_id),
                thread_id=thread.id,
                turn_id=turn_id,
                role=role,
                text=text,
                at=at,
            )
            self.emit(event, row, streaming=bool(p.get("streaming")) or None)
            thread.messages[message_id] = text
            return
        if message_id in thread.waiting_user:
            self.report.skip("repeated user message")
            return
        so_far = thread.messages[message_id]
        if p.get("streaming"):
            delta = text
        elif not text:
            self.report.skip("end of a streamed message (empty)")
            return
        elif text == so_far:
            self.report.skip("final text equal to the streamed text")
            return
        elif text.startswith(so_far):
            delta = text[len(so_far) :]
        else:
            self.report.skip("message text replaced (no canonical event)")
            return
        if not delta:
            self.report.skip("empty delta")
            return
        turn_id = self.turn_of(thread, p.get("turnId"))
        self.emit(
            MessageDelta(
                id=self.unique("message", thread.id, message_id),
                thread_id=thread.id,
                turn_id=turn_id,
                delta=delta,
                at=at,
            ),
            row,
        )
        thread.messages[message_id] = so_far + delta

    def add_user_message(
        self,
        thread: _Thread,
        row: Row,
        p: dict[str, Any],
        at: datetime,
        turn_id: str | None,
        *identity: object,
    ) -> None:
        text = p.get("text") if isinstance(p.get("text"), str) else ""
        attachments = p.get("attachments")
        event = MessageAdded(
            id=self.unique("message", thread.id, p["messageId"]),
            thread_id=thread.id,
            turn_id=turn_id,
            role="user",
            text=text,
            at=at,
        )
        self.emit(event, row, *identity, attachments=len(attachments) if attachments else None)
        thread.messages[p["messageId"]] = text

    # ---------------------------------------------------------------- activities

    def on_activity(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        activity = p.get("activity") if isinstance(p.get("activity"), dict) else {}
        kind = activity.get("kind")
        data = activity.get("payload") if isinstance(activity.get("payload"), dict) else {}
        when = source_timestamp(activity.get("createdAt")) or at
        turn_id = self.turn_of(thread, activity.get("turnId"))
        meta = loads(row.metadata_json) if row.metadata_json else None
        item_id = activity_item_id(meta, data)
        if kind == "tool.started":
            self.tool_started(thread, row, when, turn_id, item_id, activity, data)
        elif kind in ("tool.completed", "tool.denied"):
            self.tool_completed(thread, row, when, turn_id, item_id, activity, data)
        elif kind == "approval.requested":
            self.approval_requested(thread, row, when, turn_id, item_id, data, meta)
        elif kind == "approval.resolved":
            request_id = data.get("requestId") or (meta or {}).get("requestId")
            self.resolve(thread, row, when, request_id, data.get("decision"))
        elif kind == "runtime.error":
            if turn_id is None:
                self.report.skip("runtime.error outside a turn")
                return
            thread.errors[turn_id] = str(data.get("message") or activity.get("summary") or "error")
        else:
            self.report.skip(f"activity {kind} (not mapped)")

    def tool_started(
        self,
        thread: _Thread,
        row: Row,
        at: datetime,
        turn_id: str | None,
        item_id: str | None,
        activity: dict[str, Any],
        data: dict[str, Any],
    ) -> str | None:
        if turn_id is None:
            self.report.skip("tool activity outside a turn")
            return None
        if item_id is not None:
            call_id = self.unique("call", thread.id, item_id)
        else:
            call_id = derived_id(at, FORMAT, row.event_id, "call")
        if call_id in self.calls:
            self.report.skip("repeated tool.started")
            return None
        item_type = str(data.get("itemType") or "tool")
        tool = tool_name(activity, data)
        tool_input = {k: data[k] for k in ("itemType", "detail", "title", "input") if k in data}
        if isinstance(activity.get("summary"), str):
            tool_input.setdefault("title", activity["summary"].removesuffix(" started"))
        event = ToolCallStarted(
            id=call_id, thread_id=thread.id, turn_id=turn_id, tool=tool, input=tool_input, at=at
        )
        self.emit(event, row, summary=activity.get("summary"))
        self.calls[call_id] = (thread.id, turn_id)
        if item_id is None:
            self.open_calls[(thread.id, turn_id, item_type)].append(call_id)
        return call_id

    def tool_completed(
        self,
        thread: _Thread,
        row: Row,
        at: datetime,
        turn_id: str | None,
        item_id: str | None,
        activity: dict[str, Any],
        data: dict[str, Any],
    ) -> None:
        call_id = self.unique("call", thread.id, item_id) if item_id else None
        call_id = call_id if call_id in self.calls else None
        if call_id is None and turn_id is not None:
            queue = self.open_calls[(thread.id, turn_id, str(data.get("itemType") or "tool"))]
            while queue and call_id is None:
                candidate = queue.popleft()
                call_id = candidate if candidate not in self.done_calls else None
        if call_id is None:  # completed without a start in the log: start it here
            call_id = self.tool_started(thread, row, at, turn_id, item_id, activity, data)
            if call_id is None:
                return
        if call_id in self.done_calls:
            self.report.skip("repeated tool completion")
            return
        status = tool_status(activity.get("kind"), data)
        # t3code's activities carry a short detail (the command, the file), not the
        # tool's output: the output is empty unless the payload has one.
        meta: dict[str, Any] = {k: data[k] for k in ("detail", "data", "status") if k in data}
        output = data.get("output", "")
        if not isinstance(output, str):
            output = json.dumps(output, ensure_ascii=False)
        output = truncate_output(output, meta)
        event = ToolCallCompleted(
            id=call_id,
            thread_id=thread.id,
            turn_id=self.calls[call_id][1],
            status=status,  # type: ignore[arg-type]
            output=output,
            at=at,
        )
        self.emit(event, row, **meta)
        self.done_calls.add(call_id)

    # ---------------------------------------------------------------- approvals

    def approval_requested(
        self,
        thread: _Thread,
        row: Row,
        at: datetime,
        turn_id: str | None,
        item_id: str | None,
        data: dict[str, Any],
        meta: Any,
    ) -> None:
        request_id = data.get("requestId") or (meta or {}).get("requestId")
        if not isinstance(request_id, str) or not request_id or turn_id is None:
            self.report.skip("approval request without an id or a turn")
            return
        call_id = self.unique("call", thread.id, item_id) if item_id else None
        if call_id not in self.calls:
            call_id = self.last_open_call(thread, turn_id)
        request_id = self.unique("approval", thread.id, request_id)
        self.approvals[request_id] = (at, thread.id, turn_id, call_id or request_id)

    def last_open_call(self, thread: _Thread, turn_id: str) -> str | None:
        for call_id, (thread_id, call_turn) in reversed(self.calls.items()):
            if thread_id == thread.id and call_turn == turn_id and call_id not in self.done_calls:
                return call_id
        return None

    def on_approval_response(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        self.resolve(self.thread(p, row), row, at, p.get("requestId"), p.get("decision"))

    def resolve(
        self, thread: _Thread, row: Row, at: datetime, request_id: Any, decision: Any
    ) -> None:
        if isinstance(request_id, str) and request_id:
            request_id = self.unique("approval", thread.id, request_id)
        if not isinstance(request_id, str) or request_id not in self.approvals:
            self.report.skip("approval resolution without a request")
            return
        if request_id in self.resolved:
            self.report.skip("approval already resolved")
            return
        mapped = DECISIONS.get(str(decision).replace("_", "").replace("-", "").lower())
        if mapped is None:
            self.report.skip("approval resolution without a decision")
            return
        requested_at, thread_id, turn_id, tool_call = self.approvals[request_id]
        event = ApprovalResolved(
            id=request_id,
            thread_id=thread_id,
            turn_id=turn_id,
            tool_call_id=tool_call,
            decision=mapped,  # type: ignore[arg-type]
            requested_at=requested_at,
            at=at,
        )
        self.emit(event, row, decision=decision)
        self.resolved.add(request_id)

    # ---------------------------------------------------------------- checkpoints

    def on_diff(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        ref = p.get("checkpointRef")
        if not isinstance(ref, str) or not ref:
            self.report.skip("turn diff without a checkpointRef")
            return
        files = [f for f in p.get("files") or [] if isinstance(f, dict)]
        checkpoint_id = derived_id(at, FORMAT, row.event_id, "checkpoint")
        turn_id = p.get("turnId") if isinstance(p.get("turnId"), str) and p["turnId"] else None
        event = CheckpointCreated(
            id=checkpoint_id,
            thread_id=thread.id,
            turn_id=turn_id,
            git_ref=ref,
            message="",
            files_changed=len(files),
            additions=sum(positive_count(f.get("additions")) for f in files),
            deletions=sum(positive_count(f.get("deletions")) for f in files),
            at=at,
        )
        count = p.get("checkpointTurnCount")
        self.emit(
            event,
            row,
            checkpoint_turn_count=count,
            status=p.get("status"),
            assistant_message_id=p.get("assistantMessageId"),
        )
        if isinstance(count, int):
            thread.checkpoints[count] = checkpoint_id

    def on_reverted(self, row: Row, p: dict[str, Any], at: datetime) -> None:
        thread = self.thread(p, row)
        count = p.get("turnCount")
        checkpoint_id = thread.checkpoints.get(count) if isinstance(count, int) else None
        if checkpoint_id is None:
            self.report.skip("revert to a checkpoint not in the log")
            return
        self.emit(
            CheckpointRestored(id=checkpoint_id, thread_id=thread.id, at=at), row, turn_count=count
        )


__all__ = ["DEFAULT_PROVIDER", "FORMAT", "KNOWN_UNMAPPED", "T3codeMapper"]
