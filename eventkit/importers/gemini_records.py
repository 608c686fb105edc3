"""Gemini CLI chat records, read in source order and told to the session builder.

:class:`ChatFile` reads one file, in either form (JSON Lines, or the older single JSON
object with ``messages``); :class:`Chat` is what one session's files share within an
import (a session resumed from a ``.json`` file continues in a ``.jsonl`` beside it).
The mapping is described in :mod:`eventkit.importers.gemini`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from eventkit.importers.common import INVALID_JSON, UNKNOWN_RECORD_TYPE, source_timestamp
from eventkit.importers.gemini_fields import (
    CANCELLED_NOTICE,
    HEADER_FIELDS,
    RUNNING_STATUSES,
    SESSION_CONTEXT,
    STATE_SNAPSHOT,
    SUBAGENT_DONE_TOOL,
    TOOL_STATUS,
    display_of,
    function_responses,
    is_header,
    is_record_line,
    is_response,
    parent_session,
    project_path,
    response_failed,
    response_text,
    result_text,
    text_of,
    usage_of,
    written_by_cli,
)
from eventkit.importers.import_run import SourceFile
from eventkit.importers.session_builder import SessionBuilder, ThreadState

NOT_GEMINI = "not a Gemini CLI chat recording"


@dataclass(eq=False)
class Chat:
    """One session (thread) as this import has read it so far, across its files."""

    thread_id: str
    session_id: str
    kind: str | None
    thread: ThreadState | None = None
    seen: dict[str, str] = field(default_factory=dict)
    """Record id → its type, for every record read (records are upserts by id)."""
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``gemini`` record id → (message id, text written so far)."""
    thoughts: dict[str, int] = field(default_factory=dict)
    last_at: datetime | None = None
    prompts: set[str] = field(default_factory=set)
    """The text of every prompt read: what a compression may re-record."""
    compressed: bool = False
    """After a ``<state_snapshot>``, until the history gemini-cli re-records ends."""


class ChatFile:
    """One chat file's records, read in order and reported to the builder."""

    def __init__(self, builder: SessionBuilder, source: SourceFile, chats: dict[str, Chat]):
        self.b = builder
        self.file = source
        self.report = builder.report
        self.chats = chats
        self.path = source.path
        self.chat: Chat | None = None
        self.header: dict[str, Any] = {}
        self.header_at: datetime | None = None
        self.header_source: dict[str, Any] | None = None
        self.parent: str | None = None

    # ------------------------------------------------------------------ the two forms

    def run(self) -> None:
        if self.path.suffix == ".json" and self.single_json():
            return
        for number, record in self.file.jsonl_records():
            if self.chat is None and not self.start(record, number):
                self.foreign("its first line is neither a session header nor a record")
                return
            try:
                self.line(record, number)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                self.file.skip_line(number, "unexpected record shape", repr(exc))

    def single_json(self) -> bool:
        """The older form: one object with ``messages``. False to read the file as JSON
        Lines instead (a ``.json`` file that holds them)."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            return False  # the JSON Lines reader reports it
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            first = raw.split(b"\n", 1)[0]
            try:
                head = orjson.loads(first)
            except orjson.JSONDecodeError:
                head = None
            if isinstance(head, dict) and (is_header(head) or is_record_line(head)):
                return False
            self.report.lines_read += raw.count(b"\n") + 1
            self.report.skip(INVALID_JSON)
            self.report.warnings.append(
                f"{self.file.label}: {INVALID_JSON} ({exc}); a file rewritten while it was "
                "read imports once it is whole; file skipped"
            )
            return True
        if isinstance(data, dict) and is_header(data) and "messages" not in data:
            return False  # a JSON Lines file that holds its header only
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("messages"), list)
            or not (isinstance(data.get("sessionId"), str))
        ):
            self.report.lines_read += raw.count(b"\n") + 1
            self.foreign("a JSON value without sessionId and messages")
            return True
        self.report.lines_read += raw.count(b"\n") + 1
        self.file.run.advance(len(raw))
        self.report.counts["single-JSON chat files"] += 1
        header = {key: value for key, value in data.items() if key != "messages"}
        self.open(header, None)
        for index, message in enumerate(data["messages"], 1):
            if not isinstance(message, dict) or not isinstance(message.get("id"), str):
                self.report.skip("message without id")
                continue
            try:
                self.message_record(message, None, index)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                self.report.skip("unexpected record shape")
                self.report.warnings.append(f"{self.file.label}: message {index}: {exc!r}")
        return True

    def foreign(self, why: str) -> None:
        self.report.skip(NOT_GEMINI)
        self.report.warnings.append(f"{self.file.label}: {NOT_GEMINI} ({why}); file skipped")

    # ------------------------------------------------------------------ lines

    def start(self, record: dict[str, Any], number: int) -> bool:
        """The file's first line: a header, or (header lost) a record. False: another format."""
        if is_header(record):
            return True
        if not is_record_line(record):
            return False
        self.file.warn_line(number, "no session header; session id taken from the file name")
        self.report.counts["chat files without a session header"] += 1
        self.open({}, number)
        return True

    def line(self, record: dict[str, Any], number: int) -> None:
        if "$rewindTo" in record:
            self.rewind(record, number)
        elif "$patch" in record:
            self.report.skip("$patch line (records updated or removed, kept as read)")
            if self.chat is not None:
                self.chat.compressed = False
        elif "$set" in record:
            self.patch(record, number)
        elif isinstance(record.get("id"), str):
            self.message_record(record, number, None)
        elif is_header(record):
            if self.chat is None:
                self.open(record, number)
            else:
                self.report.skip("session header repeated")
                self.header.update({k: v for k, v in record.items() if k in HEADER_FIELDS})
        else:
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, "no id, $set or $rewindTo")

    def open(self, header: dict[str, Any], number: int | None) -> None:
        """The session of this file: its header, or the file name when it has none."""
        self.header = dict(header)
        session_id = str(header.get("sessionId") or self.path.stem)
        kind = header.get("kind") if isinstance(header.get("kind"), str) else None
        parent = parent_session(self.path, kind)
        thread_id = f"{parent}/{session_id}" if parent else session_id
        chat = self.chats.get(thread_id)
        if chat is None:
            chat = self.chats[thread_id] = Chat(thread_id, session_id, kind)
        self.chat = chat
        self.parent = parent
        self.header_at = source_timestamp(header.get("startTime"))
        self.header_source = self.file.source(number, session_id=session_id)
        if kind == "subagent" and parent is None:
            self.report.counts["subagent chats outside a parent's folder"] += 1
        if self.header_at is not None:
            self.thread_at(self.header_at, self.header_source)
        summary = header.get("summary")
        if isinstance(summary, str):  # a resumed session's, or the single-JSON object's
            self.retitle(summary, number, self.header_source)

    def thread_at(self, at: datetime, source: dict[str, Any]) -> ThreadState:
        chat = self.chat
        assert chat is not None
        if chat.thread is None:
            meta = {k: self.header[k] for k in HEADER_FIELDS if self.header.get(k) is not None}
            chat.thread = self.b.thread(
                chat.thread_id,
                at=self.header_at or at,
                source=self.header_source or source,
                project_path=project_path(self.path, self.header.get("projectHash")),
                parent_thread_id=self.parent,
                metadata={"session": meta} if meta else None,
            )
        return chat.thread

    def rewind(self, record: dict[str, Any], number: int) -> None:
        """``$rewindTo``: the person rewound the conversation to a record. The log keeps
        what was recorded (those responses were spent); the open turn ends there."""
        target = record["$rewindTo"]
        if not isinstance(target, str) or self.chat is None:
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, "$rewindTo without a record id")
            return
        self.chat.compressed = False
        self.report.counts["rewinds (rewound records kept)"] += 1
        thread = self.chat.thread
        if thread is not None and thread.turn is not None:
            src = self.file.source(number, rewind_to=target)
            self.b.end_turn(thread, reason="rewind", source=src, metadata={"rewind_to": target})

    def patch(self, record: dict[str, Any], number: int) -> None:
        """``$set``: header fields updated. ``summary`` retitles the thread; ``messages``
        (the model's context rewritten after compression) is not re-read."""
        fields = record["$set"]
        if not isinstance(fields, dict) or self.chat is None:
            self.file.skip_line(number, UNKNOWN_RECORD_TYPE, "$set without an object")
            return
        self.header.update({k: v for k, v in fields.items() if k in HEADER_FIELDS})
        if "messages" in fields:
            self.report.skip("$set messages (context rewrite, records kept as read)")
            self.chat.compressed = False
        summary = fields.get("summary")
        if isinstance(summary, str):
            src = self.file.source(number, session_id=self.chat.session_id)
            self.retitle(summary, number, src)
        if not {"messages", "summary"} & fields.keys():
            self.report.skip("$set line (session fields)")

    def retitle(self, summary: str, number: int | None, source: dict[str, Any]) -> None:
        chat = self.chat
        assert chat is not None
        at = chat.last_at or self.header_at
        if not summary.strip() or at is None:
            return
        thread = self.thread_at(at, source)
        self.b.rename_thread(
            thread, " ".join(summary.split()), at=at, source=source, key=("summary", number)
        )

    # ------------------------------------------------------------------ records

    def message_record(self, record: dict[str, Any], number: int | None, index: int | None):
        chat = self.chat
        if chat is None:  # a record before any header in a single-JSON file cannot happen
            return
        record_id = record["id"]
        kind = record.get("type")
        at = source_timestamp(record.get("timestamp"))
        if at is None:
            at = chat.last_at or self.header_at
            if at is None:
                self.skip(number, "record without timestamp")
                return
            self.report.counts["records without timestamp (the previous one's used)"] += 1
        if chat.last_at is None or at > chat.last_at:
            chat.last_at = at
        src = self.file.source(number, record_id=record_id, message=index)
        thread = self.thread_at(at, src)
        if kind == "gemini":
            self.response(thread, record, record_id, at, src)
            chat.seen[record_id] = kind
            return
        if record_id in chat.seen:
            self.report.skip(f"{kind} record repeated")
            return
        if kind == "user":
            self.user(thread, record, record_id, at, src)
        elif kind in ("info", "warning", "error"):
            self.notice(thread, kind, record, record_id, at, src)
        else:
            self.skip(number, UNKNOWN_RECORD_TYPE, f"type {kind!r}")
            return
        chat.seen[record_id] = kind

    def skip(self, number: int | None, reason: str, detail: str | None = None) -> None:
        if number is None:
            self.report.skip(reason)
        else:
            self.file.skip_line(number, reason, detail)

    def user(self, thread: ThreadState, record, record_id: str, at, src) -> None:
        """A prompt, or a record gemini-cli wrote itself: tool results, its continuation
        prompt, the session context, a compression summary and the prompts it re-records
        after one (a prompt's text read again before the compression's history ends)."""
        chat = self.chat
        assert chat is not None
        content = text_of(record.get("content"))
        if written_by_cli(record):
            self.tool_responses(thread, record, at, src)
            if content:
                meta = {"sent_as": "user", "written_by": "gemini-cli"}
                self.b.message(
                    thread,
                    (record_id, "cli"),
                    role="system",
                    text=content,
                    at=at,
                    source=src,
                    metadata=meta,
                )
            self.report.counts["user records written by the CLI (not prompts)"] += 1
            return
        head = content.lstrip()
        if head.startswith(SESSION_CONTEXT):
            self.report.skip("user: session context (not a prompt)")
            return
        if head.startswith(STATE_SNAPSHOT):
            chat.compressed = True
            meta = {"sent_as": "user", "written_by": "gemini-cli", "compression": True}
            self.b.message(
                thread,
                (record_id, "cli"),
                role="system",
                text=content,
                at=at,
                source=src,
                metadata=meta,
            )
            self.report.counts["context compressions"] += 1
            return
        display = text_of(record.get("displayContent"))
        prompt = display or content
        if chat.compressed and prompt in chat.prompts:
            self.report.skip("user: prompt re-recorded after a compression")
            return
        chat.compressed = False
        chat.prompts.add(prompt)
        meta: dict[str, Any] = {}
        if display and display != content:
            meta["model_prompt_chars"] = len(content)
        if prompt.startswith("/"):
            meta["command"] = prompt.split(maxsplit=1)[0]
            self.report.counts["slash commands"] += 1
        self.b.start_turn(
            thread, record_id, at=at, source=src, prompt=prompt, metadata=meta or None
        )

    def tool_responses(self, thread: ThreadState, record, at, src) -> None:
        """Tool results a CLI-written user record carries: they complete calls that are
        still running (a call already completed keeps its result)."""
        for response in function_responses(record.get("content")) + function_responses(
            record.get("displayContent")
        ):
            call_id = self.tool_id(response.get("id"))
            state = self.b.tool_call(thread, call_id) if call_id else None
            if state is None:
                self.report.counts["tool results in user records for calls not seen"] += 1
                continue
            if state.done:
                continue
            status = "error" if response_failed(response) else "ok"
            self.b.tool_completed(
                thread,
                call_id,
                status=status,
                output=response_text(response),
                at=at,
                source=src,
                metadata={"result_from": "user record"},
            )

    def notice(self, thread: ThreadState, kind: str, record, record_id: str, at, src) -> None:
        """``info``/``warning``/``error``: a system message; "Request cancelled." ends the
        turn as interrupted; an error is the open turn's error until a response follows."""
        text = text_of(record.get("content"))
        if kind == "info" and text.strip().casefold() == CANCELLED_NOTICE:
            self.b.end_turn(
                thread, reason="request cancelled", at=at, source=src, outcome="interrupted"
            )
            self.report.skip("info: request cancelled (turn marker)")
            return
        if kind == "error":
            self.b.set_turn_error(thread, text or "error")
        self.b.message(
            thread,
            (record_id, kind),
            role="system",
            text=text,
            at=at,
            source=src,
            metadata={"record_type": kind},
        )

    def response(self, thread: ThreadState, record, record_id: str, at, src) -> None:
        """A ``gemini`` record (each version of it): one model call, its text, its tool calls."""
        chat = self.chat
        assert chat is not None
        if not is_response(record):
            self.report.skip("gemini record without tokens or model (history re-recorded)")
            return
        chat.compressed = False
        first = record_id not in chat.seen
        if first:
            self.b.ensure_turn(thread, ("record", record_id), at=at, source=src)
            self.b.set_turn_error(thread, None)
        usage, counted, agrees = usage_of(record.get("tokens"))
        if counted and not agrees and first:
            self.report.counts["token totals that disagree with their parts"] += 1
        model = record.get("model") if isinstance(record.get("model"), str) else None
        self.b.model_call(
            thread,
            record_id,
            at=at,
            source=src,
            model=model,
            usage=usage,
            final=True,
            revision=2 if counted else 1,
        )
        thoughts = record.get("thoughts")
        seen = len(thoughts) if isinstance(thoughts, list) else 0
        new = seen - chat.thoughts.get(record_id, 0)
        if new > 0:
            chat.thoughts[record_id] = seen
            self.report.counts["thought summaries"] += new
            if thread.turn is not None:
                meta = thread.turn.metadata
                meta["thought_summaries"] = meta.get("thought_summaries", 0) + new
        self.text(thread, record, record_id, at, src)
        calls = record.get("toolCalls")
        turn_id = thread.calls[record_id].turn_id
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                self.tool(thread, call, turn_id, at, src)
            else:
                self.report.skip("tool call without id")

    def text(self, thread: ThreadState, record, record_id: str, at, src) -> None:
        """The response's text: a message at its first version with text; a later version
        that extends it adds the rest (MessageDelta)."""
        chat = self.chat
        assert chat is not None
        text = text_of(record.get("content"))
        known = chat.texts.get(record_id)
        if known is None:
            if text:
                message_id = self.b.message(
                    thread, (record_id, "text"), role="assistant", text=text, at=at, source=src
                )
                chat.texts[record_id] = (message_id, text)
        elif text != known[1]:
            if text.startswith(known[1]):
                self.b.message_delta(
                    thread,
                    known[0],
                    (record_id, len(text)),
                    delta=text[len(known[1]) :],
                    at=at,
                    source=src,
                )
                chat.texts[record_id] = (known[0], text)
            else:
                self.report.skip("gemini record: text rewritten (first version kept)")

    def tool_id(self, source_id: Any) -> str | None:
        """Tool call ids are short random strings: scoped by session to stay unique."""
        if not isinstance(source_id, str) or not source_id or self.chat is None:
            return None
        return f"{self.chat.session_id}:{source_id}"

    def tool(self, thread: ThreadState, call: dict[str, Any], turn_id, at, src) -> None:
        """One ``toolCalls`` entry of a response (in the response's turn, even when the
        record is rewritten with it after that turn ended, as a cancelled call is)."""
        call_id = self.tool_id(call["id"])
        assert call_id is not None
        tool_src = {**src, "tool_call_id": call["id"]}
        state = self.b.tool_call(thread, call_id)
        if state is None:
            args = call.get("args")
            meta = {k: call[k] for k in ("displayName", "description") if call.get(k)}
            state = self.b.tool_started(
                thread,
                call_id,
                tool=str(call.get("name") or "unknown"),
                input=args if isinstance(args, dict) else {"args": args},
                at=at,
                source=tool_src,
                metadata=meta or None,
                input_raw=not isinstance(args, dict),
                turn_id=turn_id,
            )
            if state is None:
                return
        status = call.get("status")
        mapped = TOOL_STATUS.get(status) if isinstance(status, str) else None
        if mapped is None:
            if status not in RUNNING_STATUSES:
                self.report.counts[f"tool status {status!r} (left running)"] += 1
            return
        if state.done:
            return
        done_at = max(source_timestamp(call.get("timestamp")) or at, at)
        meta: dict[str, Any] = {"source_status": status}
        if call.get("resultDisplay") not in (None, ""):
            meta["result_display"] = display_of(call["resultDisplay"])
        agent = call.get("agentId")
        if isinstance(agent, str) and agent:
            meta["subagent_thread_id"] = f"{thread.id}/{agent}"
        self.b.tool_completed(
            thread,
            call_id,
            status=mapped,
            output=result_text(call.get("result")),
            at=done_at,
            source=tool_src,
            metadata=meta,
        )
        chat = self.chat
        if chat is not None and chat.kind == "subagent" and mapped == "ok":
            if call.get("name") == SUBAGENT_DONE_TOOL and thread.turn is not None:
                self.b.end_turn(thread, reason=SUBAGENT_DONE_TOOL, at=done_at, source=tool_src)


__all__ = ["NOT_GEMINI", "Chat", "ChatFile"]
