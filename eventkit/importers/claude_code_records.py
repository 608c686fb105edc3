"""Claude Code records, read in source order and told to the session builder.

:class:`SessionFile` reads one file (a session or a subagent transcript) line by line;
:class:`SubagentLinks` carries across the files of one import what links a subagent to
the ``Task`` call that started it. The mapping is described in
:mod:`eventkit.importers.claude_code`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from eventkit.catalog.events import TokenUsage, parse_timestamp
from eventkit.importers.claude_code_fields import (
    COMMAND_PREFIXES,
    CONTEXT_KEYS,
    DENIED_PREFIXES,
    END_STOP_REASONS,
    END_SUBTYPES,
    INTERRUPTED,
    LOCAL_PREFIXES,
    SESSION_END_COMMANDS,
    STOP_HOOK,
    SUBAGENT_RESULT_KEYS,
    TURN_KEYS,
    UNMAPPED_TYPES,
    PendingCommand,
    SubagentLinks,
    command_of,
    content_text,
    prompt_of,
    recorded_cost,
    usage_of,
)
from eventkit.importers.common import UNKNOWN_RECORD_TYPE
from eventkit.importers.import_run import SourceFile
from eventkit.importers.session_builder import SessionBuilder, ThreadState

PROGRESS_USAGE_NOTE = (
    "not recorded: the subagent's transcript is absent and its progress lines copy only "
    "a response's first, partial counts"
)

# --------------------------------------------------------------------------- one file


class SessionFile:
    """One file's records, read in order and reported to the builder."""

    def __init__(self, builder: SessionBuilder, source: SourceFile, links: SubagentLinks):
        self.b = builder
        self.file = source
        self.report = builder.report
        self.links = links
        self.path = source.path
        self.summaries: dict[str, tuple[str, int]] = {}
        """leafUuid → (title, line) of summaries whose leaf this file has not shown yet."""
        self.uuids: dict[str, tuple[datetime, ThreadState]] = {}
        """This file's records by uuid: when, and in which thread (a summary's leaf)."""
        self.last_at: datetime | None = None
        self.sidechain_roots: dict[str, str] = {}
        self.commands: dict[str, PendingCommand] = {}
        self.seen: dict[str, set[str]] = {}
        self.progress_children: set[str] = set()
        self.subagents: dict[str, ThreadState] = {}

    def run(self) -> None:
        for number, record in self.file.jsonl_records():
            try:
                self.record(record, number)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                self.file.skip_line(number, "unexpected record shape", repr(exc))
        for thread_id in list(self.commands):
            self.report.skip("user: local command (no model response)")
            del self.commands[thread_id]
        for call_id, child in self.subagents.items():
            if call_id in self.links.finished and child.turn is not None:
                self.b.end_turn(child, reason="Task result")

    # ------------------------------------------------------------------ records

    def record(self, record: dict[str, Any], number: int) -> None:
        kind = record.get("type")
        if kind == "summary":
            self.on_summary(record, number)
            return
        at = None
        if "timestamp" in record or kind in ("user", "assistant"):
            at = self.timestamp(record, number)
            if at is None:
                return
            if self.last_at is None or at > self.last_at:
                self.last_at = at
        if kind in ("user", "assistant"):
            self.message_record(
                record, number, at, self.file.source(number, uuid=record.get("uuid"))
            )
        elif kind == "system":
            self.on_system(record, number, at)
        elif kind == "progress":
            self.on_progress(record, number, at)
        elif kind in UNMAPPED_TYPES:
            self.report.skip(f"{kind} line")
        else:
            detail = f"type {kind!r}" if isinstance(kind, str) else "no type"
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, detail)

    def timestamp(self, record: dict[str, Any], number: int) -> datetime | None:
        stamp = record.get("timestamp")
        if not isinstance(stamp, str):
            self.file.skip_line(number, f"{record.get('type')} line without timestamp")
            return None
        try:
            return parse_timestamp(stamp)
        except ValueError:
            self.file.skip_line(number, "bad timestamp", stamp)
            return None

    def on_summary(self, record: dict[str, Any], number: int) -> None:
        """A summary titles the session whose record ``leafUuid`` names: this file's, once
        that record is read (Claude Code also writes other sessions' summaries)."""
        self.report.skip("summary")
        title, leaf = record.get("summary"), record.get("leafUuid")
        if not isinstance(title, str) or not title.strip() or not isinstance(leaf, str):
            return
        if leaf in self.uuids:
            self.retitle(leaf, title, number)
        else:
            self.summaries[leaf] = (title, number)

    def retitle(self, leaf: str, title: str, number: int) -> None:
        at, thread = self.uuids[leaf]
        at = max(at, self.last_at or at)
        src = self.file.source(number, leafUuid=leaf)
        self.b.rename_thread(thread, title, at=at, source=src, key=("summary", number))

    # ------------------------------------------------------------------ threads

    def session_of(self, record: dict[str, Any]) -> str:
        return str(record.get("sessionId") or self.path.stem)

    def thread_for(
        self,
        record: dict[str, Any],
        at: datetime,
        src: dict[str, Any],
        *,
        child: str | None = None,
        child_call: str | None = None,
    ) -> ThreadState:
        """The record's thread (the session, or a subagent), created at its first fact."""
        session = self.session_of(record)
        if child is None and not record.get("isSidechain"):
            thread_id, parent = session, None
        else:
            parent = session
            thread_id = child or self.sidechain_thread(record, session)
        thread = self.b.find_thread(thread_id)
        if thread is not None:
            return thread
        context = {k: record[k] for k in CONTEXT_KEYS if record.get(k)}
        prompt = prompt_of(record)
        title = self.b.title_of(prompt) if prompt else ""
        message = record.get("message") if record.get("type") == "assistant" else None
        model = message.get("model") if isinstance(message, dict) else None
        call = None
        if parent is not None:
            sidecar = self.sidecar() if child is None else {}
            if sidecar:
                context["subagent"] = sidecar
            call = child_call or sidecar.get("toolUseId")
            call = call or self.links.call_for(session, prompt, record.get("agentId"))
            if call is not None:
                self.links.linked.add(call)
            context["subagent_source"] = (
                "progress lines"
                if child
                else "subagent file"
                if self.is_agent_file
                else "sidechain"
            )
        thread = self.b.thread(
            thread_id,
            at=at,
            source=src,
            project_path=record.get("cwd") or str(self.path.parent),
            title=title,
            model=model if model and model != "<synthetic>" else "",
            parent_thread_id=parent,
            parent_tool_call_id=call,
            metadata=context,
        )
        if parent is not None:
            self.report.counts[f"subagent threads ({context['subagent_source']})"] += 1
            if call is not None:
                self.links.children[call] = thread
                self.subagents[call] = thread
            else:
                self.report.counts["subagent threads without their Task call"] += 1
        return thread

    @property
    def is_agent_file(self) -> bool:
        return self.path.name.startswith("agent-")

    def sidecar(self) -> dict[str, Any]:
        """The subagent file's ``agent-<id>.meta.json`` (newer versions), or ``{}``: its
        ``toolUseId`` names the Task call that started the subagent."""
        if not self.is_agent_file:
            return {}
        try:
            data = orjson.loads(self.path.with_name(self.path.stem + ".meta.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        use_id = data.get("toolUseId")
        if use_id is not None and not (isinstance(use_id, str) and use_id):
            data.pop("toolUseId")
        return data

    def sidechain_thread(self, record: dict[str, Any], session: str) -> str:
        agent = record.get("agentId")
        if agent:
            return f"{session}/agent-{agent}"
        uuid = record.get("uuid")
        root = self.sidechain_roots.get(record.get("parentUuid") or "") or uuid or "unknown"
        if uuid:
            self.sidechain_roots[uuid] = root
        return f"{session}/sidechain-{root}"

    # ------------------------------------------------------------------ user and assistant

    def message_record(
        self,
        record: dict[str, Any],
        number: int,
        at: datetime,
        src: dict[str, Any],
        child: str | None = None,
        child_call: str | None = None,
    ) -> None:
        thread = self.thread_for(record, at, src, child=child, child_call=child_call)
        uuid = record.get("uuid")
        if uuid and child is None:
            self.uuids.setdefault(uuid, (at, thread))
            pending = self.summaries.pop(uuid, None) if self.summaries else None
            if pending is not None:
                self.retitle(uuid, *pending)
        if uuid:
            seen = self.seen.setdefault(thread.id, set())
            if uuid in seen:
                self.report.skip("repeated record")
                return
            seen.add(uuid)
        if record["type"] == "user":
            self.on_user(thread, record, number, at, src)
        else:
            self.on_assistant(thread, record, number, at, src)

    def on_user(
        self, thread: ThreadState, record: dict, number: int, at: datetime, src: dict
    ) -> None:
        if record.get("isMeta"):
            self.report.skip("user: meta message")
            return
        if record.get("isCompactSummary"):
            self.report.skip("user: compaction summary")
            return
        content = record["message"].get("content")
        if isinstance(content, list):
            results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            if results:
                for block in results:
                    self.on_tool_result(thread, block, record, at, src)
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "text":
                        if str(block.get("text") or "").startswith(INTERRUPTED):
                            self.interrupted(thread, at, src)
                        else:
                            self.report.skip("user: text beside tool_result")
                return
        text = content_text(content)
        stripped = text.lstrip()
        key = str(record.get("uuid") or f"line {number}")
        if stripped.startswith(INTERRUPTED):
            self.interrupted(thread, at, src)
        elif stripped.startswith(COMMAND_PREFIXES):
            self.drop_command(thread)
            name, command = command_of(text)
            if name in SESSION_END_COMMANDS:
                self.report.skip(f"user: {name}")
                self.b.end_turn(thread, reason=name)
                return
            self.b.end_turn(thread, reason="next command")
            context = {k: record[k] for k in TURN_KEYS if record.get(k)}
            self.commands[thread.id] = PendingCommand(command, key, at, src, context)
        elif stripped.startswith(LOCAL_PREFIXES):
            self.report.skip("user: local command output")
        elif not stripped:
            self.report.skip("user: empty prompt")
        else:
            self.drop_command(thread)
            context = {k: record[k] for k in TURN_KEYS if record.get(k)}
            self.b.start_turn(
                thread,
                key,
                at=at,
                source=src,
                prompt=text,
                model=thread.last_model,
                metadata=context,
            )

    def drop_command(self, thread: ThreadState) -> None:
        if self.commands.pop(thread.id, None) is not None:
            self.report.skip("user: local command (no model response)")

    def interrupted(self, thread: ThreadState, at: datetime, src: dict) -> None:
        self.report.skip("user: interruption marker")
        self.b.end_turn(thread, reason="interruption", at=at, source=src, outcome="interrupted")

    def on_tool_result(
        self, thread: ThreadState, block: dict, record: dict, at: datetime, src: dict
    ) -> None:
        use_id = block.get("tool_use_id")
        if not isinstance(use_id, str) or self.b.tool_call(thread, use_id) is None:
            self.report.skip("tool_result: unknown tool_use")
            return
        text = content_text(block.get("content"))
        if not block.get("is_error"):
            status = "ok"
        elif text.lstrip().startswith(DENIED_PREFIXES):
            status = "denied"
        else:
            status = "error"
        metadata: dict[str, Any] = {}
        result = record.get("toolUseResult")
        subagent = None
        if isinstance(result, dict) and ("agentId" in result or "totalTokens" in result):
            subagent = {k: result[k] for k in SUBAGENT_RESULT_KEYS if k in result}
            metadata["subagent"] = subagent  # its usage is the subagent's: counted there
        done = self.b.tool_completed(
            thread,
            use_id,
            status=status,
            output=text,
            at=at,
            source={**src, "tool_use_id": use_id},
            metadata=metadata,
        )
        if done is None:
            return
        if subagent is not None:
            self.task_returned(thread, use_id, result, status, text, record, at, src)
        if text.lstrip().startswith(INTERRUPTED):
            self.interrupted(thread, at, src)

    def task_returned(
        self,
        thread: ThreadState,
        use_id: str,
        result: dict,
        status: str,
        text: str,
        record: dict,
        at: datetime,
        src: dict,
    ) -> None:
        """A Task call returned: its subagent's turn is over."""
        links = self.links
        links.finished.add(use_id)
        agent = result.get("agentId")
        session = self.session_of(record)
        if isinstance(agent, str):
            links.agent_calls.setdefault((session, agent), use_id)
            if not self.transcript_exists(session, agent):
                self.report.counts["Task results without a subagent transcript"] += 1
                self.file.warn_line(
                    src["line"],
                    f"subagent {agent} (Task {use_id}) has no transcript file; its usage is "
                    "not counted (progress lines hold partial counts), toolUseResult.usage "
                    "kept as metadata",
                )
        child = links.children.get(use_id)
        if child is None or child.turn is None:
            return
        if child.id in self.progress_children:  # progress lines lack the final answer
            final = content_text(result.get("content"))
            if final.strip():
                key = (str(record.get("uuid") or src["line"]), "final answer")
                self.b.message(child, key, role="assistant", text=final, at=at, source=src)
        outcome = "interrupted" if text.lstrip().startswith(INTERRUPTED) else None
        if status != "ok" and outcome is None:
            outcome = "error"
        error = text or status if outcome == "error" else None
        self.b.end_turn(child, reason="Task result", outcome=outcome, error=error)

    def on_assistant(
        self, thread: ThreadState, record: dict, number: int, at: datetime, src: dict
    ) -> None:
        message = record["message"]
        model = message.get("model")
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        elif not isinstance(blocks, list):
            blocks = []
        key = str(record.get("uuid") or f"line {number}")
        if record.get("isApiErrorMessage"):
            self.turn_for_response(thread, key, at, src)
            error = content_text(blocks).strip() or str(record.get("error") or "API error")
            self.report.skip("assistant: API error message")
            self.b.end_turn(
                thread, reason="API error", at=at, source=src, outcome="error", error=error
            )
            return
        if model == "<synthetic>":
            self.report.skip("assistant: synthetic message")
            return
        turn = self.turn_for_response(thread, key, at, src)
        self.b.set_turn_error(thread, None)
        response = message.get("id")
        call_id = response if isinstance(response, str) and response else None
        base = src
        if call_id or record.get("requestId"):
            base = {**src, "message_id": call_id, "request_id": record.get("requestId")}
            base = {k: v for k, v in base.items() if v is not None}
        usage, one_hour = usage_of(message.get("usage"))
        stop = message.get("stop_reason")
        note = None
        if thread.id in self.progress_children:
            # a progress line copies a response's first, partial counts: the response
            # happened (its model names the subagent's), but its usage counts only from
            # the subagent's own transcript, absent here
            self.report.counts["subagent responses without usage (progress lines)"] += 1
            usage, one_hour, note = TokenUsage(), 0, {"usage": PROGRESS_USAGE_NOTE}
        self.b.model_call(
            thread,
            call_id or self.b.entity_id(at, thread.id, key, "model call"),
            at=at,
            source=base,
            model=model if isinstance(model, str) and model else None,
            usage=usage,
            stop_reason=stop if isinstance(stop, str) else None,
            recorded_cost_usd=None if note else recorded_cost(record),
            cache_write_1h_tokens=one_hour,
            metadata=note,
        )
        for index, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                text = str(block.get("text") or "")
                if text.strip():
                    self.b.message(
                        thread,
                        (key, index),
                        role="assistant",
                        text=text,
                        at=at,
                        source={**base, "block": index},
                    )
                else:
                    self.report.skip("assistant: empty text block")
            elif kind in ("thinking", "redacted_thinking"):
                thinking = turn.metadata.setdefault("thinking", {"blocks": 0, "chars": 0})
                thinking["blocks"] += 1
                thinking["chars"] += len(block.get("thinking") or block.get("data") or "")
                self.report.skip("assistant: thinking block")
            elif kind == "tool_use":
                self.on_tool_use(thread, record, block, number, at, base)
            else:
                self.report.skip(f"assistant: {kind} block")
        if stop in END_STOP_REASONS:
            self.b.end_turn(thread, reason=stop, at=at, source=src)

    def turn_for_response(self, thread: ThreadState, key: str, at: datetime, src: dict):
        command = self.commands.pop(thread.id, None)
        if command is not None:  # the model answers a slash command: it was a prompt
            return self.b.start_turn(
                thread,
                command.key,
                at=command.at,
                source=command.source,
                prompt=command.text,
                model=thread.last_model,
                metadata=command.context,
            )
        return self.b.ensure_turn(thread, key, at=at, source=src)

    def on_tool_use(
        self, thread: ThreadState, record: dict, block: dict, number: int, at: datetime, src: dict
    ) -> None:
        use_id = block.get("id")
        if not isinstance(use_id, str) or not use_id:
            self.report.skip("assistant: tool_use without id")
            return
        arguments = block.get("input")
        raw = not isinstance(arguments, dict)
        name = str(block.get("name") or "unknown")
        if raw:
            arguments = {"input": arguments}
            self.file.warn_line(
                number,
                f"input of tool_use {use_id} ({name}) is not a JSON object; kept as "
                '{"input": ...}',
            )
        elif isinstance(arguments.get("prompt"), str) and not record.get("isSidechain"):
            key = (self.session_of(record), arguments["prompt"])
            self.links.task_prompts.setdefault(key, []).append(use_id)
        self.b.tool_started(
            thread,
            use_id,
            tool=name,
            input=arguments,
            at=at,
            source={**src, "tool_use_id": use_id},
            input_raw=raw,
        )

    # ------------------------------------------------------------------ system and progress

    def on_system(self, record: dict[str, Any], number: int, at: datetime | None) -> None:
        subtype = record.get("subtype")
        self.report.skip(f"system: {subtype}")
        if at is None or not record.get("sessionId"):
            return
        src = self.file.source(number, uuid=record.get("uuid"))
        thread = self.thread_for(record, at, src)
        content = record.get("content")
        if subtype in END_SUBTYPES:
            self.b.end_turn(thread, reason=subtype, at=at, source=src)
        elif subtype is None and isinstance(content, str) and STOP_HOOK.match(content):
            self.b.end_turn(thread, reason="Stop hook", at=at, source=src)  # 1.0.x
        elif isinstance(content, str) and content.lstrip().startswith(COMMAND_PREFIXES):
            name, _ = command_of(content)  # a local command (2.x): the agent was idle
            self.b.end_turn(thread, reason=name if name in SESSION_END_COMMANDS else "command")

    def on_progress(self, record: dict[str, Any], number: int, at: datetime | None) -> None:
        data = record.get("data") if isinstance(record.get("data"), dict) else {}
        kind = data.get("type")
        session = self.session_of(record)
        call = record.get("parentToolUseID")
        agent = data.get("agentId")
        if kind == "agent_progress" and isinstance(agent, str) and isinstance(call, str):
            self.links.agent_calls.setdefault((session, agent), call)
        if kind != "agent_progress":
            self.report.skip(f"progress: {kind}")
            return
        inner = data.get("message")
        if not isinstance(inner, dict) or inner.get("type") not in ("user", "assistant"):
            self.report.skip("progress: agent_progress without a message")
            return
        agent = str(agent or call or "unknown")
        if self.transcript_exists(session, agent):
            self.report.skip("progress: agent_progress (subagent file imported instead)")
            return
        inner_at = self.timestamp(inner, number)
        if inner_at is None:
            return
        inner = {**inner, "sessionId": session, "agentId": agent}
        for key in CONTEXT_KEYS:
            inner.setdefault(key, record.get(key))
        thread_id = f"{session}/agent-{agent}"
        self.progress_children.add(thread_id)
        src = self.file.source(number, uuid=inner.get("uuid"), progress_uuid=record.get("uuid"))
        call = call if isinstance(call, str) else None  # the progress line names its Task call
        self.message_record(inner, number, inner_at, src, child=thread_id, child_call=call)

    def transcript_exists(self, session: str, agent: str) -> bool:
        """Whether the subagent's own transcript exists: ``<session>/subagents/`` (2.1.2
        on), or beside the session file (2.0.x)."""
        folder = self.path.parent
        if self.is_agent_file:
            return True
        key = (folder, session, agent)
        found = self.links.transcripts.get(key)
        if found is None:
            name = f"agent-{agent}.jsonl"
            found = (folder / session / "subagents" / name).is_file() or (folder / name).is_file()
            self.links.transcripts[key] = found
        return found


__all__ = ["SessionFile"]
