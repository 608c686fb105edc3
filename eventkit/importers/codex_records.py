"""Codex rollout records, read in file order and told to the session builder.

:class:`RolloutFile` reads one rollout line by line. Every decision rests on the lines
read so far (never on a later one), so importing a file while it grows and then whole
gives the events one import of the whole file gives. The mapping and its rules are in
:mod:`eventkit.importers.codex`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from eventkit.importers.codex_fields import (
    NEVER_COPIED_ITEMS,
    RECORD_TYPES,
    SKIP_EVENTS,
    SKIP_RESPONSE_ITEMS,
    THREAD_META_FIELDS,
    TURN_CONTEXT_FIELDS,
    UNMAPPED_RECORD_TYPES,
    CumulativeCounter,
    as_usage,
    block_texts,
    find_key,
    prompt_of,
    session_id_from_name,
    text_key,
    uuid7_ms,
)
from eventkit.importers.codex_tools import ToolCalls
from eventkit.importers.common import UNKNOWN_RECORD_TYPE, source_timestamp
from eventkit.importers.import_run import SourceFile
from eventkit.importers.session_builder import SessionBuilder, ThreadState

NOT_A_ROLLOUT = "not a Codex rollout"
INHERITED = "inherited history (copied from the parent thread)"


class RolloutFile:
    """One rollout's records, read in order and reported to the builder."""

    def __init__(self, builder: SessionBuilder, source: SourceFile):
        self.b = builder
        self.file = source
        self.report = builder.report
        self.name = source.path.name
        self.thread: ThreadState | None = None
        self.rejected = False
        self.last_at: datetime | None = None
        self.stamp: object = None
        """The timestamp text of the record being read."""
        self.counter = CumulativeCounter()
        self.model: str | None = None
        """The model of the ``turn_context`` in force."""
        self.context: dict[str, Any] = {}
        self.inherited = False
        """Reading history a fork copied from its parent (usage only sets the baseline)."""
        self.born_ms: int | None = None
        """When the thread was created (ms): turns from then on are its own."""
        self.task_turn = False
        """The open turn was started by ``task_started`` (prompts join it)."""
        self.fresh_turn = False
        """The open turn was started by a prompt and nothing else has happened in it."""
        self.task_alias: str | None = None
        self.prompts: dict[str, Counter[str]] = {"item": Counter(), "event": Counter()}
        self.answers: dict[str, Counter[str]] = {"item": Counter(), "event": Counter()}
        self.tools = tools = ToolCalls(builder, source, self.key)
        self.record_handlers = {
            "session_meta": self.on_session_meta,
            "turn_context": self.on_turn_context,
            "compacted": self.skipper("compacted (history summary, not mapped)"),
        }
        self.item_handlers = {
            "message": self.on_message,
            "function_call": tools.on_call,
            "custom_tool_call": tools.on_call,
            "local_shell_call": tools.on_call,
            "web_search_call": tools.on_web_search_call,
            "function_call_output": tools.on_output,
            "custom_tool_call_output": tools.on_output,
        }
        self.event_handlers = {
            "user_message": self.on_user_message,
            "agent_message": self.on_agent_message,
            "token_count": self.on_token_count,
            "task_started": self.on_task_started,
            "task_complete": self.on_task_complete,
            "turn_aborted": self.on_turn_aborted,
            "error": self.on_error,
            "web_search_end": tools.on_web_search_end,
            "exec_command_end": tools.on_exec_end,
            "patch_apply_end": tools.on_patch_end,
            "mcp_tool_call_end": tools.on_mcp_end,
            "thread_name_updated": self.on_thread_name,
        }

    # ------------------------------------------------------------------ the file

    def run(self) -> None:
        for number, record in self.file.jsonl_records():
            self.record(record, number)
        thread = self.thread
        if thread is not None and thread.turn is not None:
            self.report.warnings.append(
                f"{self.file.label}: the last turn ({thread.turn.id}) has no end marker yet; "
                "left running (its tokens count)"
            )
        elif thread is None and not self.rejected and self.file.lines:
            self.report.warnings.append(f"{self.file.label}: no Codex records; nothing imported")

    def record(self, record: dict[str, Any], number: int) -> None:
        if self.rejected:
            self.report.skip(NOT_A_ROLLOUT)
            return
        kind = record.get("type")
        payload = record.get("payload")
        if kind not in RECORD_TYPES:
            if kind in UNMAPPED_RECORD_TYPES and self.thread is not None:
                self.report.skip(UNMAPPED_RECORD_TYPES[kind])
                return
            if self.thread is None and self.last_at is None:
                self.reject(number, "its first record is not a Codex record")
                return
            detail = f"type {kind!r}" if isinstance(kind, str) else "no type"
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, detail)
            return
        if not isinstance(payload, dict):
            self.file.skip_line(number, "record without payload")
            return
        if kind == "response_item" or kind == "event_msg":
            sub = payload.get("type")
            if self.inherited and not self.own(kind, sub, payload):
                if sub == "token_count":
                    self.counter.read(payload, inherited=True)
                self.report.skip(INHERITED)
                return
            if sub in NEVER_COPIED_ITEMS or sub == "web_search_end":
                self.fresh_turn = False  # the model is at work in the turn
            handlers = self.item_handlers if kind == "response_item" else self.event_handlers
            handler = handlers.get(sub)
            if handler is None:
                skips = SKIP_RESPONSE_ITEMS if kind == "response_item" else SKIP_EVENTS
                self.report.skip(skips.get(sub) or f"{kind}/{sub} (not mapped)")
                return
        else:
            sub = None
            handler = self.record_handlers[kind]
        at = self.timestamp(record)
        if at is None:
            self.file.skip_line(number, "no timestamp")
            return
        if self.thread is None and kind != "session_meta" and not self.thread_from_name(at, number):
            return
        handler(payload, at, number)

    def timestamp(self, record: dict[str, Any]) -> datetime | None:
        stamp = record.get("timestamp")
        at = source_timestamp(stamp)
        if at is None:
            at, stamp = self.last_at, f"after {self.stamp}"
        if at is not None:
            self.last_at, self.stamp = at, stamp
        return at

    def reject(self, number: int, why: str) -> None:
        self.rejected = True
        self.report.skip(NOT_A_ROLLOUT)
        self.report.warnings.append(f"{self.file.label}: {NOT_A_ROLLOUT} ({why}); skipped")

    def skipper(self, reason: str):
        return lambda payload, at, number: self.report.skip(reason)

    def src(self, number: int, record: str, **ids: Any) -> dict[str, Any]:
        return self.file.source(number, record=record, **ids)

    def key(self, *content: object) -> tuple[object, ...]:
        """The identity of a record in events' ids: its timestamp and ``content`` (what it
        says), not its file or line, so a record copied into another file of the session
        (a resumed session) is the same fact."""
        return (self.stamp, *content)

    # ------------------------------------------------------------------ the thread

    def on_session_meta(self, p: dict[str, Any], at: datetime, number: int) -> None:
        session_id = p.get("id")
        if self.thread is not None:
            if session_id == self.thread.id or not isinstance(session_id, str):
                self.report.skip("repeated session_meta")
            else:  # a fork copies its parent's history, and its session_meta, after its own
                self.inherited = True
                self.report.skip(INHERITED)
            return
        if not isinstance(session_id, str) or not session_id:
            self.thread_from_name(at, number)
            return
        self.start_thread(session_id, p, at, number)

    def thread_from_name(self, at: datetime, number: int) -> bool:
        """A rollout without ``session_meta`` (its first lines lost): the session id from
        the file name, or the file is not a rollout."""
        session_id = session_id_from_name(self.name)
        if session_id is None:
            self.reject(number, "no session_meta")
            return False
        self.report.warnings.append(
            f"{self.file.label}: no session_meta; session id taken from the file name"
        )
        self.start_thread(session_id, {}, at, number)
        return True

    def start_thread(self, session_id: str, p: dict[str, Any], at: datetime, number: int) -> None:
        started = source_timestamp(p.get("timestamp")) or at
        cwd = p.get("cwd")
        if not isinstance(cwd, str) or not cwd:
            cwd = "(unknown)"
            self.report.warnings.append(
                f"{self.file.label}: no working directory; project '(unknown)'"
            )
        extras = {k: p[k] for k in THREAD_META_FIELDS if p.get(k) is not None}
        if "source" in extras:  # Codex's own "source" (cli, vscode, a subagent), not eventkit's
            extras["session_source"] = extras.pop("source")
        if p.get("instructions") or p.get("base_instructions"):
            extras["has_instructions"] = True
        subagent = p.get("source").get("subagent") if isinstance(p.get("source"), dict) else None
        parent = find_key(subagent, "parent_thread_id") or p.get("parent_thread_id")
        forked = p.get("forked_from_id")
        parent = parent or forked
        parent = parent if isinstance(parent, str) and parent and parent != session_id else None
        self.born_ms = uuid7_ms(session_id) or int(started.timestamp() * 1000)
        self.inherited = isinstance(forked, str) and bool(forked)
        src = self.src(number, "session_meta", session_id=session_id)
        self.warn_if_continued(session_id)
        self.thread = self.tools.thread = self.b.thread(
            session_id,
            at=started,
            source=src,
            project_path=cwd,
            parent_thread_id=parent,
            metadata=extras,
        )
        if parent is not None:
            kind = "fork" if self.inherited and subagent is None else "subagent"
            self.report.counts[f"child threads ({kind})"] += 1

    def warn_if_continued(self, session_id: str) -> None:
        existing = self.b.run.store.last_event(
            f"thread:{session_id}", types=["ThreadCreated"], lenient=True
        )
        source = (existing.metadata or {}).get("source") if existing is not None else None
        if isinstance(source, dict) and source.get("format") == "codex":
            first = str(source.get("file", ""))
            if first and first.rsplit("/", 1)[-1] != self.name:
                self.report.warnings.append(
                    f"{self.file.label}: continues session {session_id}, already imported "
                    f"from {first}; its thread is not created again"
                )

    def own(self, kind: str, sub: Any, p: dict[str, Any]) -> bool:
        """Whether a record in a fork's copied history is the thread's own: a turn that
        started after the thread was created (UUIDv7 turn ids), or a record a fork never
        copies (tool calls, reasoning, an assistant message that is not a final answer)."""
        if kind == "event_msg":
            own = sub == "task_started" and self.after_birth(p.get("turn_id"))
        elif sub == "message":
            own = p.get("role") == "assistant" and p.get("phase") != "final_answer"
        else:
            own = sub in NEVER_COPIED_ITEMS
        if own:
            self.inherited = False
            self.report.counts["forks: own records after the inherited history"] += 1
        return own

    def after_birth(self, turn_id: Any) -> bool:
        ms = uuid7_ms(turn_id)
        return ms is not None and self.born_ms is not None and ms >= self.born_ms

    def on_thread_name(self, p: dict[str, Any], at: datetime, number: int) -> None:
        name = p.get("thread_name") or p.get("name")
        if not isinstance(name, str) or not name.strip():
            self.report.skip("thread_name_updated without a name")
            return
        src = self.src(number, "thread_name_updated")
        self.b.rename_thread(self.thread, name, at=at, source=src, key=self.key("name", name))

    # ------------------------------------------------------------------ turns

    def on_turn_context(self, p: dict[str, Any], at: datetime, number: int) -> None:
        if self.inherited and (
            self.after_birth(p.get("turn_id")) or uuid7_ms(p.get("turn_id")) is None
        ):
            self.inherited = False  # forks copy turn contexts only with their turn ids
            self.report.counts["forks: own records after the inherited history"] += 1
        model = p.get("model")
        if isinstance(model, str) and model:
            self.model = model
        self.context = {k: p[k] for k in TURN_CONTEXT_FIELDS if k in p}
        turn = self.thread.turn
        if turn is not None and "context" not in turn.metadata and not self.inherited:
            turn.metadata["context"] = self.context
        if self.inherited:
            self.report.skip(INHERITED)

    def new_turn(
        self,
        at: datetime,
        number: int,
        record: str,
        *,
        task: bool = False,
        turn_id: str | None = None,
        key: tuple[object, ...] = (),
    ) -> None:
        """Start a turn at a prompt (versions without task events) or a ``task_started``."""
        thread = self.thread
        self.end_open_turn("next turn" if task else "next prompt")
        self.b.start_turn(
            thread,
            ("task", turn_id or self.key()) if task else key,
            at=at,
            source=self.src(number, record),
            model=self.model,
            turn_id=turn_id,
        )
        self.task_turn = task
        self.fresh_turn = not task
        self.task_alias = None
        for seen in (*self.prompts.values(), *self.answers.values()):
            seen.clear()
        self.tools.new_turn()

    def end_open_turn(
        self,
        reason: str,
        *,
        at: datetime | None = None,
        number: int | None = None,
        record: str | None = None,
        outcome: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """End the open turn at a marker; its calls still without an output fail then."""
        thread = self.thread
        turn = thread.turn
        if turn is None:
            return
        waiting = [c for c in thread.tools.values() if not c.done and c.turn_id == turn.id]
        when = at or turn.last_at
        src = self.src(number, record) if number is not None else turn.last_source
        for call in waiting:
            if call.id in self.tools.held:
                continue  # its process runs on: its end event completes it, whenever it comes
            meta = {"inferred": True, "reason": f"no output before the turn ended ({reason})"}
            self.b.tool_completed(
                thread, call.id, status="error", output="", at=when, source=src, metadata=meta
            )
        if (
            outcome is None
            and reason.startswith("next")
            and any(c.id not in self.tools.held for c in waiting)
        ):
            outcome = "interrupted"  # the user moved on while a call waited for its output
        self.b.end_turn(
            thread,
            reason=reason,
            at=at,
            source=src if number is not None else None,
            outcome=outcome,  # type: ignore[arg-type]
            metadata=metadata,
        )
        self.task_turn = self.fresh_turn = False

    def on_task_started(self, p: dict[str, Any], at: datetime, number: int) -> None:
        turn_id = p.get("turn_id")
        turn_id = turn_id if isinstance(turn_id, str) and turn_id else None
        if self.thread.turn is not None and self.fresh_turn:
            # the prompt came first and nothing since: this task is the prompt's turn
            self.task_turn, self.fresh_turn, self.task_alias = True, False, turn_id
            self.report.skip("task_started (joins the turn its prompt started)")
            return
        self.new_turn(at, number, "task_started", task=True, turn_id=turn_id)

    def on_task_complete(self, p: dict[str, Any], at: datetime, number: int) -> None:
        turn = self.thread.turn
        if turn is None:
            self.report.skip("task_complete without an open turn")
            return
        turn_id = p.get("turn_id")
        if isinstance(turn_id, str) and turn_id and turn_id not in (turn.id, self.task_alias):
            self.report.skip("task_complete for another turn")
            return
        keys = ("duration_ms", "time_to_first_token_ms")
        meta = {k: p[k] for k in keys if k in p}
        self.end_open_turn(
            "task_complete", at=at, number=number, record="task_complete", metadata=meta
        )

    def on_turn_aborted(self, p: dict[str, Any], at: datetime, number: int) -> None:
        if self.thread.turn is None:
            self.report.skip("turn_aborted without an open turn")
            return
        self.end_open_turn(
            "turn_aborted",
            at=at,
            number=number,
            record="turn_aborted",
            outcome="interrupted",
            metadata={"reason": p.get("reason")},
        )

    def on_error(self, p: dict[str, Any], at: datetime, number: int) -> None:
        if self.thread.turn is None:
            self.report.skip("error event outside a turn")
            return
        message = p.get("message")
        self.b.set_turn_error(
            self.thread, message if isinstance(message, str) and message else "error"
        )

    # ------------------------------------------------------------------ messages

    def on_message(self, p: dict[str, Any], at: datetime, number: int) -> None:
        role = p.get("role")
        content = p.get("content")
        texts = block_texts(content)
        if role == "user":
            prompt, ide = prompt_of(texts)
            if prompt is None:
                self.report.skip("context message (environment, instructions)")
                return
            meta: dict[str, Any] = {"ide_context": ide} if ide else {}
            if isinstance(content, list):
                images = sum(
                    1 for b in content if isinstance(b, dict) and "image" in str(b.get("type"))
                )
                if images:
                    meta["images"] = images
            if self.duplicate(self.prompts, "item", prompt):
                self.report.skip("prompt item (duplicate of a user_message)")
                return
            self.on_prompt(prompt, meta, at, number, "message")
        elif role == "assistant":
            text = "\n".join(texts)
            if self.duplicate(self.answers, "item", text):
                self.report.skip("assistant message (duplicate of an agent_message)")
                return
            self.on_answer(text, p.get("phase"), at, number, "message")
        elif role in ("developer", "system"):
            self.report.skip(f"{role} message (instructions)")
        else:
            self.report.skip("message with an unknown role")

    def on_user_message(self, p: dict[str, Any], at: datetime, number: int) -> None:
        message = p.get("message")
        if not isinstance(message, str):
            self.report.skip("user_message without text")
            return
        prompt, ide = prompt_of([message])
        if prompt is None:
            self.report.skip("context message (environment, instructions)")
            return
        if self.duplicate(self.prompts, "event", prompt):
            self.report.skip("user_message (duplicate of a prompt item)")
            return
        meta: dict[str, Any] = {"ide_context": ide} if ide else {}
        images = sum(len(p[k]) for k in ("images", "local_images") if isinstance(p.get(k), list))
        if images:
            meta["images"] = images
        self.on_prompt(prompt, meta, at, number, "user_message")

    def on_agent_message(self, p: dict[str, Any], at: datetime, number: int) -> None:
        message = p.get("message")
        if not isinstance(message, str):
            self.report.skip("agent_message without text")
            return
        if self.duplicate(self.answers, "event", message):
            self.report.skip("agent_message (duplicate of an assistant message)")
            return
        self.on_answer(message, p.get("phase"), at, number, "agent_message")

    @staticmethod
    def duplicate(seen: dict[str, Counter[str]], kind: str, text: str) -> bool:
        """Whether ``text`` was written in this turn as the other kind (a ``message`` item
        or a ``user_message``/``agent_message`` event): the one written first counts, so
        the choice never changes as the file grows."""
        other = seen["event" if kind == "item" else "item"]
        key = text_key(text)
        if other[key] > 0:
            other[key] -= 1
            return True
        return False

    @staticmethod
    def note(seen: dict[str, Counter[str]], record: str, text: str) -> None:
        seen["item" if record == "message" else "event"][text_key(text)] += 1

    def on_prompt(
        self, text: str, meta: dict[str, Any], at: datetime, number: int, record: str
    ) -> None:
        thread = self.thread
        key = ("prompt", *self.key(text))
        if thread.turn is None or not self.task_turn:
            self.new_turn(at, number, record, key=key)
        else:
            self.fresh_turn = False
        self.note(self.prompts, record, text)
        src = self.src(number, record)
        self.b.message(thread, key, role="user", text=text, at=at, source=src, metadata=meta)
        if not thread.title and text.strip():
            self.b.rename_thread(thread, self.b.title_of(text), at=at, source=src, key=key)

    def on_answer(self, text: str, phase: Any, at: datetime, number: int, record: str) -> None:
        self.fresh_turn = False
        self.note(self.answers, record, text)
        meta = {"phase": phase} if isinstance(phase, str) else None
        src = self.src(number, record)
        key = ("answer", *self.key(text))
        self.b.message(
            self.thread, key, role="assistant", text=text, at=at, source=src, metadata=meta
        )

    # ------------------------------------------------------------------ usage

    def on_token_count(self, p: dict[str, Any], at: datetime, number: int) -> None:
        reading = self.counter.read(p)
        if reading.delta is None:
            reason = {
                "repeat": "token_count (total unchanged)",
                "none": "token_count without info",
                "restart": "token_count (counter restarted at zero)",
                "regression": "token_count (below the high-water mark)",
                "seeded": "token_count (seeded from earlier history, no last usage)",
            }[reading.kind]
            self.report.skip(reason)
            return
        self.fresh_turn = False
        thread = self.thread
        meta: dict[str, Any] = {"counter": reading.kind}
        if reading.total is not None:
            meta["total_tokens"] = reading.total[0] + reading.total[2]
        if reading.kind != "call":
            self.report.counts[f"model calls ({reading.kind})"] += 1
        call_id = self.b.entity_id(
            at, thread.id, "model-call", *self.key(reading.total or reading.delta)
        )
        self.b.model_call(
            thread,
            call_id,
            at=at,
            source=self.src(number, "token_count"),
            model=self.model,
            usage=as_usage(reading.delta),
            final=True,
            metadata=meta,
        )


__all__ = ["RolloutFile"]
