"""GitHub Copilot CLI session events, read in source order and told to the session builder.

:class:`SessionFile` reads one ``events.jsonl``. The mapping is described in
:mod:`eventkit.importers.copilot`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventkit.catalog.events import TokenUsage
from eventkit.importers.common import UNKNOWN_RECORD_TYPE, source_timestamp
from eventkit.importers.copilot_fields import (
    CONTEXT_FIELDS,
    SESSION_FIELDS,
    SKIPPED_TYPES,
    count,
    is_event_line,
    metric_usage,
    model_metrics,
    premium_requests,
    project_of,
    result_text,
    text,
)
from eventkit.importers.import_run import SourceFile
from eventkit.importers.session_builder import SessionBuilder, ThreadState

NOT_COPILOT = "not a GitHub Copilot CLI session"
NO_SHUTDOWN = "sessions without session.shutdown (no input or cache figures)"


class SessionFile:
    """One ``events.jsonl``'s records, read in order and reported to the builder."""

    def __init__(self, builder: SessionBuilder, source: SourceFile):
        self.b = builder
        self.file = source
        self.report = builder.report
        self.path = source.path
        self.started = False
        self.session_id = self.path.parent.name if self.path.name == "events.jsonl" else ""
        self.session_id = self.session_id or self.path.stem
        self.start: dict[str, Any] = {}
        self.thread: ThreadState | None = None
        self.last_at: datetime | None = None
        self.model: str | None = None
        self.interaction: str | None = None
        """The interaction of the open turn."""
        self.call: str | None = None
        """The model call between ``assistant.turn_start`` and ``turn_end``."""
        self.messages: dict[str, int] = {}
        """Model call id → ``assistant.message`` lines seen (its revision)."""
        self.output: dict[str, int] = {}
        """Model call id → output tokens of its messages."""
        self.run_calls: list[str] = []
        """Calls of the current run (since the file's start or the last shutdown)."""
        self.task_done = False
        self.shutdowns = 0

    # ------------------------------------------------------------------ lines

    def run(self) -> None:
        for number, record in self.file.jsonl_records():
            if not self.started:
                if not is_event_line(record):
                    self.report.skip(NOT_COPILOT)
                    self.report.warnings.append(
                        f"{self.file.label}: {NOT_COPILOT} (its first line is not a "
                        "session event); file skipped"
                    )
                    return
                self.started = True
            try:
                self.line(record, number)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                self.file.skip_line(number, "unexpected record shape", repr(exc))
        self.end()

    def line(self, record: dict[str, Any], number: int) -> None:
        if not is_event_line(record):
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, "no type, data or id")
            return
        kind, data = record["type"], record["data"]
        at = source_timestamp(record.get("timestamp"))
        if at is None:
            if self.last_at is None:
                self.file.skip_line(number, "record without timestamp")
                return
            at = self.last_at
            self.report.counts["records without timestamp (the previous one's used)"] += 1
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        src = self.file.source(number, event_id=record["id"])
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, data, at, src, record["id"])
        elif kind in SKIPPED_TYPES:
            if kind == "session.model_change" and isinstance(data.get("newModel"), str):
                self.model = data["newModel"]
            self.report.skip(SKIPPED_TYPES[kind])
        else:
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, f"type {kind!r}")

    def thread_at(self, at: datetime, src: dict[str, Any]) -> ThreadState:
        if self.thread is None:
            meta: dict[str, Any] = {
                k: self.start[k] for k in SESSION_FIELDS if self.start.get(k) is not None
            }
            context = self.start.get("context")
            if isinstance(context, dict):
                meta["context"] = {k: context[k] for k in CONTEXT_FIELDS if k in context}
            if not self.start:
                self.file.warn_line(src.get("line", 0), "no session.start; id from the folder")
                self.report.counts["sessions without session.start"] += 1
            self.thread = self.b.thread(
                self.session_id,
                at=source_timestamp(self.start.get("startTime")) or at,
                source=src,
                project_path=project_of(context),
                metadata={"session": meta} if meta else None,
            )
        return self.thread

    # ------------------------------------------------------------------ session

    def session_start(self, data, at, src, _id) -> None:
        if self.thread is not None:
            self.report.skip("session.start repeated")
            return
        self.start = data
        if isinstance(data.get("sessionId"), str) and data["sessionId"]:
            self.session_id = data["sessionId"]
        if isinstance(data.get("selectedModel"), str):
            self.model = data["selectedModel"]
        self.thread_at(at, src)

    def info(self, data, at, src, event_id) -> None:
        thread = self.thread_at(at, src)
        kind = data.get("infoType") if isinstance(data.get("infoType"), str) else None
        meta = {"record_type": "session.info", "info_type": kind}
        self.b.message(
            thread,
            (event_id, "info"),
            role="system",
            text=text(data.get("message")),
            at=at,
            source=src,
            metadata=meta,
        )

    def error(self, data, at, src, event_id) -> None:
        thread = self.thread_at(at, src)
        message = text(data.get("message")) or text(data.get("errorType")) or "error"
        self.b.set_turn_error(thread, message)
        self.b.message(
            thread,
            (event_id, "error"),
            role="system",
            text=message,
            at=at,
            source=src,
            metadata={"record_type": "session.error"},
        )

    def task_complete(self, data, at, src, _id) -> None:
        """The agent marked its task complete: the turn ends after the request in
        progress (at its ``assistant.turn_end``), or here when none is."""
        self.report.skip("session.task_complete (turn marker)")
        thread = self.thread_at(at, src)
        if self.call is None:
            self.b.end_turn(thread, reason="session.task_complete", at=at, source=src)
        else:
            self.task_done = True

    def abort(self, data, at, src, _id) -> None:
        thread = self.thread_at(at, src)
        self.close_call(thread)
        reason = text(data.get("reason"))
        meta = {"abort_reason": reason} if reason else None
        self.b.end_turn(
            thread, reason="abort", at=at, source=src, outcome="interrupted", metadata=meta
        )
        self.report.skip("abort (turn marker)")

    def shutdown(self, data, at, src, event_id) -> None:
        """The end of a run: its per-model figures restate the run's last call of each
        model (input and cache, the output the run's calls lack); the turn ends."""
        thread = self.thread_at(at, src)
        self.close_call(thread)
        self.shutdowns += 1
        self.report.counts["session.shutdown lines"] += 1
        total = data.get("totalPremiumRequests")
        if isinstance(total, int | float) and not isinstance(total, bool):
            self.report.counts["premium requests"] += total
        run = {
            k: data[k]
            for k in ("shutdownType", "totalPremiumRequests", "totalApiDurationMs", "codeChanges")
            if k in data
        }
        metrics = model_metrics(data)
        if not metrics:
            self.report.counts["session.shutdown without modelMetrics"] += 1
        restated: list[tuple[str, TokenUsage, dict[str, Any]]] = []
        unnamed = [c for c in self.run_calls if thread.calls[c].model is None]
        if unnamed and len(metrics) > 1:
            self.report.counts["calls without a model beside several shutdown models"] += 1
        for model in sorted(metrics):
            usage = metric_usage(metrics[model])
            requests, cost = premium_requests(metrics[model])
            meta = {
                "usage_from": "session.shutdown",
                "shutdown": {**run, "model_requests": requests, "model_premium_requests": cost},
            }
            calls = [
                c
                for c in self.run_calls
                if thread.calls[c].model == model or (c in unnamed and len(metrics) == 1)
            ]  # a run's calls before any model was named are the single model's
            carried = sum(thread.calls[c].usage.output_tokens for c in calls)
            if usage.output_tokens < carried:
                self.report.counts["shutdown output below its calls' sum (calls kept)"] += 1
            if len(calls) != requests:
                self.report.counts["shutdown request counts unlike the calls read"] += 1
            if not calls:
                self.report.counts["shutdown figures without a call of their model"] += 1
                restated.append((f"{self.session_id}:{event_id}:{model}", usage, meta))
                continue
            last = thread.calls[calls[-1]]
            own = last.usage.output_tokens + max(usage.output_tokens - carried, 0)
            full = usage.model_copy(update={"output_tokens": own})
            self.b.model_call(
                thread,
                last.id,
                at=last.at,
                source=src,
                model=model,
                usage=full,
                final=True,
                revision=last.lines + 1,
                metadata=meta,
            )
        self.b.end_turn(thread, reason="session.shutdown", at=at, source=src)
        for call_id, usage, meta in restated:
            model = call_id.rsplit(":", 1)[1]
            self.b.model_call(
                thread,
                call_id,
                at=at,
                source=src,
                model=model,
                usage=usage,
                final=True,
                metadata=meta,
            )
        self.run_calls = []
        self.interaction = None
        self.task_done = False

    # ------------------------------------------------------------------ turns

    def user(self, data, at, src, event_id) -> None:
        thread = self.thread_at(at, src)
        self.close_call(thread)
        content = text(data.get("content"))
        transformed = text(data.get("transformedContent"))
        meta: dict[str, Any] = {}
        for key, name in (("agentMode", "agent_mode"), ("interactionId", "interaction_id")):
            if isinstance(data.get(key), str):
                meta[name] = data[key]
        if not content.strip() and transformed:
            meta["prompt_from"] = "transformedContent"
            self.report.counts["user messages without content (transformedContent kept)"] += 1
        self.b.start_turn(
            thread,
            event_id,
            at=at,
            source=src,
            prompt=content if content.strip() else transformed,
            model=self.model,
            metadata=meta or None,
        )
        self.interaction = data.get("interactionId")
        self.task_done = False

    def turn_start(self, data, at, src, event_id) -> None:
        thread = self.thread_at(at, src)
        self.close_call(thread)
        interaction = data.get("interactionId")
        if thread.turn is not None and interaction and interaction != self.interaction:
            if self.interaction is not None:
                self.b.end_turn(thread, reason="next interaction")
        if thread.turn is None:
            self.b.ensure_turn(thread, ("interaction", interaction or event_id), at=at, source=src)
            self.interaction = interaction
        self.call = f"{interaction or event_id}:{data.get('turnId')}"

    def turn_end(self, data, at, src, _id) -> None:
        thread = self.thread_at(at, src)
        self.close_call(thread)
        self.b.touch(thread, at, src)
        if self.task_done:
            self.task_done = False
            self.b.end_turn(thread, reason="session.task_complete", at=at, source=src)

    def close_call(self, thread: ThreadState) -> None:
        """The request in progress is over: written (with no tokens if it had no message)."""
        call, self.call = self.call, None
        if call is None:
            return
        if call not in thread.calls:
            self.report.counts["model calls without assistant.message"] += 1
            self.b.model_call(
                thread,
                call,
                at=self.last_at,
                source=self.file.source(None, call=call),
                model=self.model,
                usage=TokenUsage(),
                final=True,
            )
            self.run_calls.append(call)
        self.b.close_model_calls(thread)

    # ------------------------------------------------------------------ responses

    def message(self, data, at, src, event_id) -> None:
        thread = self.thread_at(at, src)
        message_id = text(data.get("messageId")) or event_id
        call = self.call
        if call is None:
            self.report.counts["assistant messages outside turn_start/turn_end"] += 1
            call = f"{data.get('interactionId') or 'message'}:{message_id}"
        self.b.ensure_turn(thread, ("message", message_id), at=at, source=src)
        seen = self.messages.get(call, 0) + 1
        self.messages[call] = seen
        self.output[call] = self.output.get(call, 0) + count(data.get("outputTokens"))
        meta = {}
        if isinstance(data.get("requestId"), str):
            meta["request_id"] = data["requestId"]
        first = call not in thread.calls
        state = self.b.model_call(
            thread,
            call,
            at=at,
            source=src,
            model=self.model,
            usage=TokenUsage(output_tokens=self.output[call]),
            revision=seen,
            metadata=meta or None,
            final=self.call is None,
        )
        if first:
            self.run_calls.append(call)
        body = text(data.get("content"))
        if body:
            self.b.message(
                thread,
                (message_id, "text"),
                role="assistant",
                text=body,
                at=at,
                source=src,
                message_id=message_id,
            )
        if text(data.get("reasoningText")):
            self.report.counts["reasoning texts (not kept)"] += 1
        requests = data.get("toolRequests")
        for request in requests if isinstance(requests, list) else ():
            if not isinstance(request, dict) or not isinstance(request.get("toolCallId"), str):
                self.report.skip("tool request without toolCallId")
                continue
            self.tool_start(
                thread,
                request["toolCallId"],
                request.get("name"),
                request.get("arguments"),
                at,
                src,
                state.turn_id,
            )

    def tool_id(self, source_id: str) -> str:
        return f"{self.session_id}:{source_id}"

    def tool_start(self, thread, source_id, name, args, at, src, turn_id=None):
        call_id = self.tool_id(source_id)
        if self.b.tool_call(thread, call_id) is not None:
            return None
        return self.b.tool_started(
            thread,
            call_id,
            tool=str(name or "unknown"),
            input=args if isinstance(args, dict) else {"arguments": args},
            at=at,
            source={**src, "tool_call_id": source_id},
            input_raw=not isinstance(args, dict),
            turn_id=turn_id,
        )

    def execution_start(self, data, at, src, _id) -> None:
        thread = self.thread_at(at, src)
        source_id = data["toolCallId"]
        if self.b.tool_call(thread, self.tool_id(source_id)) is not None:
            self.report.skip("tool.execution_start (of a tool request)")
            return
        self.report.counts["tool executions without a tool request"] += 1
        self.tool_start(thread, source_id, data.get("toolName"), data.get("arguments"), at, src)

    def execution_complete(self, data, at, src, _id) -> None:
        thread = self.thread_at(at, src)
        source_id = data["toolCallId"]
        call_id = self.tool_id(source_id)
        if self.b.tool_call(thread, call_id) is None:
            self.report.counts["tool executions without a tool request"] += 1
            self.tool_start(thread, source_id, data.get("toolName"), data.get("arguments"), at, src)
        if self.model is None and isinstance(data.get("model"), str):
            self.model = data["model"]
        meta = {k: data[k] for k in ("model", "success") if k in data}
        self.b.tool_completed(
            thread,
            call_id,
            status="ok" if data.get("success") is True else "error",
            output=result_text(data),
            at=at,
            source={**src, "tool_call_id": source_id},
            metadata=meta,
        )

    # ------------------------------------------------------------------ end

    def end(self) -> None:
        if self.thread is None:
            return
        if self.run_calls:
            self.report.counts[NO_SHUTDOWN] += 1
            what = "no session.shutdown" if not self.shutdowns else "no shutdown after its last run"
            self.report.warnings.append(
                f"{self.file.label}: {what}: {len(self.run_calls)} model calls carry output "
                "tokens only (no input or cache figures)"
            )


_HANDLERS = {
    "session.start": SessionFile.session_start,
    "session.info": SessionFile.info,
    "session.error": SessionFile.error,
    "session.task_complete": SessionFile.task_complete,
    "session.shutdown": SessionFile.shutdown,
    "abort": SessionFile.abort,
    "user.message": SessionFile.user,
    "assistant.turn_start": SessionFile.turn_start,
    "assistant.turn_end": SessionFile.turn_end,
    "assistant.message": SessionFile.message,
    "tool.execution_start": SessionFile.execution_start,
    "tool.execution_complete": SessionFile.execution_complete,
}
"""Record types that become events (the rest are in ``SKIPPED_TYPES`` or unknown)."""


__all__ = ["NOT_COPILOT", "NO_SHUTDOWN", "SessionFile"]
