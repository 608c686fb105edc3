"""The session builder: what every importer of agent sessions shares.

A format module (``claude_code.py``, ``codex.py``, …) only parses its records and tells
the builder what happened, in source order: a thread was seen, a prompt started a turn,
the model answered with text, a tool was called and returned, a model response spent
tokens, a marker ended the turn. The builder turns that into catalog events: threads
(and subagent threads linked to the call that started them), projects, turns and their
ends, model calls, messages, tool calls and approvals, titles, costs, output truncation
and provenance metadata, written in batches through :class:`~eventkit.EventStore` with
the import report kept as it goes.

Rules (``docs/importers.md`` has them for readers of the log):

- **Never look ahead.** Every event is a function of the source lines up to the one
  being read, so an import of a file that grew ends where one import of the whole file
  ends: what an earlier import wrote is either the same event (same id, skipped) or a
  restatement the read side resolves (a model call with a higher ``revision``, a title
  by ThreadRenamed).
- **Usage belongs to model calls.** :meth:`SessionBuilder.model_call` records each
  source line of a model response; a response that may still grow (Claude Code writes
  one as several lines sharing ``message.id``) is held open and written as
  ModelCallCompleted when it can no longer change (a line of another response in the
  same thread, the end of its turn, ``final=True``) or at the end of the file, with
  ``revision`` = how many of its lines were seen; a later import that sees more writes
  it again with a higher revision. TurnCompleted carries zero usage and no cost.
- **A turn ends only at a positive marker** the format names (:meth:`end_turn`; a new
  :meth:`start_turn` ends the open one as ``next prompt``). A turn without one at the
  end of the file stays running; its calls' tokens count all the same.
- **Threads** are written at their first fact with what is known then (the model may
  be ``""``: the read side takes the first model call's); a later title is a
  ThreadRenamed (:meth:`rename_thread`, and the first prompt of an untitled thread).
- **Event ids** derive from source identity and content, never from the clock or the
  price table: ``(format, kind, entity, key[, revision])``. Source ids that are unique
  across sessions (Claude's ``msg_…``/``toolu_…``, Codex's ``call_…``) are the entity ids
  of model calls and tool calls, so a response copied into a second file (a resumed
  session) is counted once.
- **Costs** per model call: a cost the source recorded (``recorded``), else the shipped
  price table's estimate (``estimated``), else none (the model is named in the report).

The API, all in source order (``at`` is the source's timestamp, ``source`` the
provenance dict of :meth:`SourceFile.source <eventkit.importers.import_run.SourceFile.source>`):

``thread(thread_id, at=, source=, project_path=, title="", model="", parent_thread_id=None,
parent_tool_call_id=None, metadata=None) -> ThreadState``
    The thread, written (with its project) the first time it is named in this import.
``find_thread(thread_id)``, ``rename_thread(thread, title, at=, source=, key=)``,
``title_of(text)``
``start_turn(thread, key, at=, source=, prompt=None, model=None, metadata=None,
turn_id=None)``,
``ensure_turn(thread, key, at=, source=)`` (a turn without a prompt, if none is open),
``end_turn(thread, reason=, at=None, source=None, outcome=None, error=None, metadata=None)``,
``set_turn_error(thread, error)``, ``touch(thread, at, source)``
``message(thread, key, role=, text=, at=, source=, metadata=None, message_id=None)``,
``message_delta(thread, message_id, key, delta=, at=, source=)``
``tool_started(thread, call_id, tool=, input=, at=, source=, metadata=None, input_raw=False,
turn_id=None)``,
``tool_completed(thread, call_id, status=, output=, at=, source=, metadata=None)``,
``tool_call(thread, call_id)`` (the call if it started), ``approval(thread, call_id,
approval_id, decision=, requested_at=, at=, source=)``
``model_call(thread, call_id, at=, source=, model=, usage=, stop_reason=None,
requested_at=None, recorded_cost_usd=None, cache_write_1h_tokens=0, final=False,
metadata=None, revision=None)``, ``close_model_calls(thread)`` (the source says the open one
is complete)
``entity_id(at, *key)``: a deterministic id for an entity the source does not name
``end_file()`` after each file (writes the calls still open), ``finish()`` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from eventkit.catalog.events import (
    ApprovalResolved,
    MessageAdded,
    MessageDelta,
    ModelCallCompleted,
    ThreadCreated,
    ThreadRenamed,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
)
from eventkit.importers.common import call_cost, ensure_project, truncate_output
from eventkit.importers.import_run import ImportRun

TITLE_CHARS = 80
"""Longest title taken from a prompt (cut at a word, with an ellipsis)."""

Outcome = Literal["success", "error", "interrupted"]


@dataclass(slots=True, eq=False)
class TurnState:
    """An open turn: what its end needs to know."""

    id: str
    key: str
    thread: ThreadState
    started_at: datetime
    last_at: datetime
    last_source: dict[str, Any]
    error: str | None = None
    model_calls: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    """Extra metadata for the TurnCompleted (a format's counts: thinking blocks, …)."""


@dataclass(slots=True, eq=False)
class ToolCallState:
    id: str
    thread_id: str
    turn_id: str
    tool: str
    done: bool = False


@dataclass(slots=True, eq=False)
class ModelCallState:
    """A model response as seen so far: its last line's counts, and how many lines."""

    id: str
    thread: ThreadState
    turn_id: str | None
    at: datetime
    source: dict[str, Any]
    first_line: int | None
    model: str | None = None
    usage: TokenUsage = TokenUsage()
    stop_reason: str | None = None
    requested_at: datetime | None = None
    recorded_cost_usd: float | None = None
    cache_write_1h_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    lines: int = 0
    written: int = 0
    """The revision last written (0: none yet)."""


@dataclass(slots=True, eq=False)
class ThreadState:
    id: str
    project_id: str
    title: str
    model: str
    parent_thread_id: str | None
    last_model: str | None = None
    """The model of the thread's latest model call (a new turn's model, where a format
    knows no better)."""
    turn: TurnState | None = None
    open_call: ModelCallState | None = None
    calls: dict[str, ModelCallState] = field(default_factory=dict)
    tools: dict[str, ToolCallState] = field(default_factory=dict)


class SessionBuilder:
    """Turns what a format module reports, in source order, into catalog events."""

    def __init__(self, run: ImportRun, *, provider: str, title_chars: int = TITLE_CHARS):
        self.run = run
        self.report = run.report
        self.writer = run.writer
        self.format = run.source_format
        self.provider = provider
        self.title_chars = title_chars
        self.threads: dict[str, ThreadState] = {}
        self._projects: dict[str, str] = {}
        self._open_calls: dict[str, ModelCallState] = {}
        """Calls held open (may still grow), by thread id."""

    # ------------------------------------------------------------------ ids and writing

    def entity_id(self, at: datetime, *key: object) -> str:
        """A deterministic id for an entity the source does not name uniquely."""
        return derived_id(at, self.format, *key)

    def _write(
        self,
        event: Any,
        identity: tuple[object, ...],
        source: dict[str, Any] | None,
        metadata: dict[str, Any] | None = None,
        *,
        id_at: datetime | None = None,
    ) -> str:
        meta = {"source": source} if source is not None else {}
        if metadata:
            meta.update(metadata)
        event_id = derived_id(id_at or event.at, self.format, *identity)
        return self.writer.add_with_id(event, event_id, meta or None)

    # ------------------------------------------------------------------ threads

    def title_of(self, text: str) -> str:
        """A title from a prompt: its first words, at most ``title_chars`` long."""
        line = " ".join(text.split())
        if len(line) <= self.title_chars:
            return line
        return line[: self.title_chars - 1].rstrip() + "…"

    def find_thread(self, thread_id: str) -> ThreadState | None:
        return self.threads.get(thread_id)

    def thread(
        self,
        thread_id: str,
        *,
        at: datetime,
        source: dict[str, Any],
        project_path: str,
        title: str = "",
        model: str = "",
        parent_thread_id: str | None = None,
        parent_tool_call_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ThreadState:
        """The thread ``thread_id``, written at its first fact with what is known then.

        Its project is the one at ``project_path`` (created when the log has none).
        A thread this import meets again is returned as it is; one that the log already
        holds from another source is not created twice.
        """
        state = self.threads.get(thread_id)
        if state is not None:
            return state
        project_id = self._project(project_path, at, source)
        state = ThreadState(thread_id, project_id, title, model or "", parent_thread_id)
        state.last_model = model or None
        self.threads[thread_id] = state
        self.report.threads += 1
        self.report.counts["threads"] += 1
        if parent_thread_id is not None:
            self.report.counts["subagent threads"] += 1
        if self.run.store.last_event(f"thread:{thread_id}", types=["ThreadCreated"]) is not None:
            event_id = derived_id(at, self.format, "ThreadCreated", thread_id)
            if not self.run.store.known_event_ids([event_id]):
                return state  # created from another source: continued, not created twice
        event = ThreadCreated(
            id=thread_id,
            project_id=project_id,
            title=title,
            provider=self.provider,
            model=model or "",
            parent_thread_id=parent_thread_id,
            parent_tool_call_id=parent_tool_call_id,
            at=at,
        )
        self._write(event, ("ThreadCreated", thread_id), source, metadata)
        return state

    def _project(self, path: str, at: datetime, source: dict[str, Any]) -> str:
        project_id = self._projects.get(path)
        if project_id is None:
            origin = {k: v for k, v in source.items() if k in ("format", "file", "line")}
            project_id = ensure_project(self.run.store, self.writer, path, at, origin)
            self._projects[path] = project_id
        return project_id

    def rename_thread(
        self, thread: ThreadState, title: str, *, at: datetime, source: dict[str, Any], key: object
    ) -> bool:
        """Restate the thread's title (ThreadRenamed) if it differs; ``key`` names the record."""
        if not title or title == thread.title:
            return False
        thread.title = title
        event = ThreadRenamed(id=thread.id, title=title, at=at)
        self._write(event, ("ThreadRenamed", thread.id, key), source)
        return True

    # ------------------------------------------------------------------ turns

    def start_turn(
        self,
        thread: ThreadState,
        key: object,
        *,
        at: datetime,
        source: dict[str, Any],
        prompt: str | None = None,
        model: str | None = None,
        metadata: dict[str, Any] | None = None,
        turn_id: str | None = None,
    ) -> TurnState:
        """A new turn (ending the open one as ``next prompt``), with its prompt as a message.

        ``turn_id``: the source's own id for the turn (Codex ``turn_id``), else one is
        derived from ``key``. The prompt of an untitled thread becomes its title
        (ThreadRenamed).
        """
        self.end_turn(thread, reason="next prompt")
        turn_id = turn_id or derived_id(at, self.format, thread.id, key, "turn")
        turn = thread.turn = TurnState(turn_id, str(key), thread, at, at, source)
        event = TurnStarted(id=turn_id, thread_id=thread.id, model=model, at=at)
        self._write(event, ("TurnStarted", thread.id, key), source, metadata)
        self.report.counts["turns"] += 1
        if prompt is not None:
            self.message(thread, (key, "prompt"), role="user", text=prompt, at=at, source=source)
            if not thread.title and prompt.strip():
                self.rename_thread(
                    thread, self.title_of(prompt), at=at, source=source, key=(key, "prompt")
                )
        return turn

    def ensure_turn(
        self, thread: ThreadState, key: object, *, at: datetime, source: dict[str, Any]
    ) -> TurnState:
        """The open turn, or a new one without a prompt (model output with none open)."""
        if thread.turn is not None:
            return thread.turn
        self.report.counts["turns without a prompt"] += 1
        return self.start_turn(thread, key, at=at, source=source, model=thread.last_model)

    def touch(self, thread: ThreadState, at: datetime, source: dict[str, Any]) -> None:
        """Activity in the open turn (its end, if not given, is its last activity)."""
        turn = thread.turn
        if turn is not None and at >= turn.last_at:
            turn.last_at, turn.last_source = at, source

    def set_turn_error(self, thread: ThreadState, error: str | None) -> None:
        """The open turn's error so far (an API error; ``None`` when a later response
        succeeds). A turn that ends with one ends as ``error``."""
        if thread.turn is not None:
            thread.turn.error = error

    def end_turn(
        self,
        thread: ThreadState,
        *,
        reason: str,
        at: datetime | None = None,
        source: dict[str, Any] | None = None,
        outcome: Outcome | None = None,
        error: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """End the open turn at a positive marker (``reason``: what the source showed).

        ``at`` defaults to the turn's last activity. ``outcome`` defaults to ``error``
        when the turn has one, else ``success``. The turn's open model call is written
        first. TurnCompleted carries no usage: its calls do. False if no turn was open.
        """
        turn = thread.turn
        if turn is None:
            return False
        thread.turn = None
        call = self._open_calls.get(thread.id)
        if call is not None and call.turn_id == turn.id:
            self._close_call(call)
        if at is not None and at > turn.last_at:
            turn.last_at = at
        if source is not None:
            turn.last_source = source
        error = error or turn.error
        if outcome is None:
            outcome = "error" if error else "success"
        meta: dict[str, Any] = {"completed_by": reason, "model_calls": turn.model_calls}
        meta.update(turn.metadata)
        if metadata:
            meta.update(metadata)
        event = TurnCompleted(
            id=turn.id,
            thread_id=thread.id,
            outcome=outcome,
            error=error if outcome == "error" else None,
            at=max(turn.last_at, turn.started_at),
        )
        self._write(
            event, ("TurnCompleted", turn.id), turn.last_source, meta, id_at=turn.started_at
        )
        self.report.counts[f"turns ended ({outcome})"] += 1
        return True

    # ------------------------------------------------------------------ messages

    def message(
        self,
        thread: ThreadState,
        key: object,
        *,
        role: Literal["user", "assistant", "system"],
        text: str,
        at: datetime,
        source: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> str:
        """A message (in the open turn, if any), written as the line shows it.

        ``message_id``: the source's own id, else one derived from ``key``.
        """
        message_id = message_id or derived_id(at, self.format, thread.id, key, "message")
        turn = thread.turn
        event = MessageAdded(
            id=message_id,
            thread_id=thread.id,
            turn_id=turn.id if turn is not None else None,
            role=role,
            text=text,
            at=at,
        )
        self._write(event, ("MessageAdded", thread.id, key), source, metadata)
        self.touch(thread, at, source)
        self.report.counts["messages"] += 1
        return message_id

    def message_delta(
        self,
        thread: ThreadState,
        message_id: str,
        key: object,
        *,
        delta: str,
        at: datetime,
        source: dict[str, Any],
    ) -> None:
        """More text of a message (``key`` names the record that carries it)."""
        turn = thread.turn
        event = MessageDelta(
            id=message_id,
            thread_id=thread.id,
            turn_id=turn.id if turn is not None else None,
            delta=delta,
            at=at,
        )
        self._write(event, ("MessageDelta", thread.id, message_id, key), source)
        self.touch(thread, at, source)

    # ------------------------------------------------------------------ tools

    def tool_started(
        self,
        thread: ThreadState,
        call_id: str,
        *,
        tool: str,
        input: dict[str, Any],
        at: datetime,
        source: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        input_raw: bool = False,
        turn_id: str | None = None,
    ) -> ToolCallState | None:
        """A tool call (in the open turn, or one opened for it). None if repeated.

        ``input_raw``: the source's arguments were not a JSON object and ``input``
        wraps them (recorded in metadata and counted). ``turn_id``: the turn the call
        belongs to when the format knows it (the turn of the response that made the
        call, recorded after that turn ended), instead of the open one.
        """
        if call_id in thread.tools:
            self.report.skip("tool call: repeated")
            return None
        if turn_id is None:
            turn_id = self.ensure_turn(thread, ("call", call_id), at=at, source=source).id
        state = thread.tools[call_id] = ToolCallState(call_id, thread.id, turn_id, tool)
        meta = dict(metadata or {})
        if input_raw:
            meta["input_raw"] = True
            self.report.counts["tool inputs kept raw (not a JSON object)"] += 1
        event = ToolCallStarted(
            id=call_id, thread_id=thread.id, turn_id=turn_id, tool=tool, input=input, at=at
        )
        self._write(event, ("ToolCallStarted", call_id), source, meta)
        if thread.turn is not None and thread.turn.id == turn_id:
            self.touch(thread, at, source)
        self.report.counts["tool calls"] += 1
        return state

    def tool_call(self, thread: ThreadState, call_id: str) -> ToolCallState | None:
        """A tool call this import has seen start in ``thread``."""
        return thread.tools.get(call_id)

    def tool_completed(
        self,
        thread: ThreadState,
        call_id: str,
        *,
        status: Literal["ok", "error", "denied"],
        output: str,
        at: datetime,
        source: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> ToolCallState | None:
        """A tool call's result (a long output keeps head and tail). None if unknown or
        already completed (counted as skipped)."""
        state = thread.tools.get(call_id)
        if state is None:
            self.report.skip("tool result: unknown tool call")
            return None
        if state.done:
            self.report.skip("tool result: repeated")
            return None
        state.done = True
        meta = dict(metadata or {})
        output = truncate_output(output, meta)
        event = ToolCallCompleted(
            id=call_id,
            thread_id=thread.id,
            turn_id=state.turn_id,
            status=status,
            output=output,
            at=at,
        )
        self._write(event, ("ToolCallCompleted", call_id), source, meta)
        if thread.turn is not None and thread.turn.id == state.turn_id:
            self.touch(thread, at, source)
        return state

    def approval(
        self,
        thread: ThreadState,
        call_id: str,
        approval_id: str,
        *,
        decision: Literal["accepted", "declined", "cancelled"],
        requested_at: datetime,
        at: datetime,
        source: dict[str, Any],
    ) -> bool:
        """How a person answered a tool call's approval request. False for an unknown call."""
        state = thread.tools.get(call_id)
        if state is None:
            self.report.skip("approval: unknown tool call")
            return False
        event = ApprovalResolved(
            id=approval_id,
            thread_id=thread.id,
            turn_id=state.turn_id,
            tool_call_id=call_id,
            decision=decision,
            requested_at=requested_at,
            at=at,
        )
        self._write(event, ("ApprovalResolved", approval_id), source)
        self.report.counts["approvals"] += 1
        return True

    # ------------------------------------------------------------------ model calls

    def model_call(
        self,
        thread: ThreadState,
        call_id: str,
        *,
        at: datetime,
        source: dict[str, Any],
        model: str | None,
        usage: TokenUsage,
        stop_reason: str | None = None,
        requested_at: datetime | None = None,
        recorded_cost_usd: float | None = None,
        cache_write_1h_tokens: int = 0,
        final: bool = False,
        metadata: dict[str, Any] | None = None,
        revision: int | None = None,
    ) -> ModelCallState:
        """One source line of model response ``call_id`` (its counts so far replace the
        earlier lines').

        A line of another response in the same thread writes the open one; so do the
        end of its turn, ``final=True`` (the source says the response is complete) and
        :meth:`end_file`. The call belongs to the turn open at its first line.

        ``revision``: how much of the response the source has shown, for a format that
        rewrites a response whole (Gemini CLI's records, upserted by id, or rewritten in
        a single-JSON file), where counting lines would not tell one state from the
        next; the greatest given so far is written. Default: one more per line.
        """
        open_call = self._open_calls.get(thread.id)
        if open_call is not None and open_call.id != call_id:
            self._close_call(open_call)
        state = thread.calls.get(call_id)
        if state is None:
            turn = thread.turn
            state = ModelCallState(
                call_id, thread, turn.id if turn else None, at, source, source.get("line")
            )
            thread.calls[call_id] = state
            if turn is not None:
                turn.model_calls += 1
            self.report.counts["model calls"] += 1
        state.lines = state.lines + 1 if revision is None else max(state.lines, revision)
        if at > state.at:
            state.at = at
        state.source = source
        if model:
            state.model = model
            thread.last_model = model
        state.usage = usage
        if stop_reason is not None:
            state.stop_reason = stop_reason
        if requested_at is not None:
            state.requested_at = requested_at
        if recorded_cost_usd is not None:
            state.recorded_cost_usd = recorded_cost_usd
        state.cache_write_1h_tokens = cache_write_1h_tokens
        if metadata:
            state.metadata.update(metadata)
        if thread.turn is not None and thread.turn.id == state.turn_id:
            self.touch(thread, at, source)
        if final:
            self._close_call(state)
        else:
            self._open_calls[thread.id] = state
        return state

    def close_model_calls(self, thread: ThreadState) -> None:
        """Write the thread's open model call (the source says it is complete)."""
        call = self._open_calls.get(thread.id)
        if call is not None:
            self._close_call(call)

    def _close_call(self, call: ModelCallState) -> None:
        if self._open_calls.get(call.thread.id) is call:
            del self._open_calls[call.thread.id]
        if call.written == call.lines:
            return
        call.written = call.lines
        cost, cost_source, cost_meta = call_cost(
            self.report, call.model, call.usage, call.recorded_cost_usd, call.cache_write_1h_tokens
        )
        event = ModelCallCompleted(
            id=call.id,
            thread_id=call.thread.id,
            turn_id=call.turn_id,
            model=call.model,
            usage=call.usage,
            cost_usd=cost,
            cost_source=cost_source,
            requested_at=call.requested_at,
            stop_reason=call.stop_reason,
            revision=call.lines,
            at=call.at,
        )
        meta: dict[str, Any] = {"lines": call.lines}
        if call.first_line is not None:
            meta["first_line"] = call.first_line
        if cost_meta:
            meta["cost"] = cost_meta
        meta.update(call.metadata)
        self._write(event, ("ModelCallCompleted", call.id, call.lines), call.source, meta)

    # ------------------------------------------------------------------ ends

    def end_file(self) -> None:
        """The end of a source file: write every model call still open (it may grow in
        a later import, which then restates it with a higher revision)."""
        for call in list(self._open_calls.values()):
            self._close_call(call)

    def finish(self) -> None:
        """The end of the import: count what stays open (running turns, tool calls
        without a result). Nothing is inferred ended."""
        self.end_file()
        for thread in self.threads.values():
            if thread.turn is not None:
                self.report.counts["turns left running (no end marker yet)"] += 1
            waiting = sum(1 for call in thread.tools.values() if not call.done)
            if waiting:
                self.report.counts["tool calls without a result"] += waiting


__all__ = [
    "TITLE_CHARS",
    "ModelCallState",
    "SessionBuilder",
    "ThreadState",
    "ToolCallState",
    "TurnState",
]
