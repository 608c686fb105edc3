"""The tool calls of a Codex rollout: calls, outputs, end events and web searches.

A call's status rests only on what was written up to the line that completes it (the
rules are in :mod:`eventkit.importers.codex`): an end event before its output, else
the output itself; an exec output whose process is still running is held until its
``exec_command_end`` or a ``write_stdin`` output that reports the process's exit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventkit.importers.codex_fields import (
    FAILED_RE,
    POLL_TOOLS,
    REJECTED_RE,
    Output,
    mcp_success,
    parse_arguments,
    read_output,
    running_session,
    search_key,
)
from eventkit.importers.import_run import SourceFile
from eventkit.importers.session_builder import SessionBuilder, ThreadState


@dataclass(slots=True)
class HeldOutput:
    """The output of an exec call whose process was still running when it was written."""

    output: Output
    line: int


class ToolCalls:
    """One rollout's tool calls, told to the builder as their records come."""

    def __init__(
        self,
        builder: SessionBuilder,
        source: SourceFile,
        key: Callable[..., tuple[object, ...]],
    ):
        self.b = builder
        self.file = source
        self.report = builder.report
        self.key = key
        self.thread: ThreadState = None  # type: ignore[assignment]  # set with the thread
        self.held: dict[str, HeldOutput] = {}
        """Exec calls whose process was running at their output, by call id."""
        self.process_owner: dict[int, str] = {}
        """Process session id → the exec call that started it."""
        self.polled: dict[str, int] = {}
        """``write_stdin`` call id → the process session it polls."""
        self.ends: dict[str, tuple[bool, int | None, str]] = {}
        """End events read before their call's output: (ok, exit code, record)."""
        self.searches: dict[str, list[tuple[str, str]]] = {"call": [], "end": []}
        """(query, call id) of this turn's web searches still waiting for their other half."""

    def new_turn(self) -> None:
        self.searches = {"call": [], "end": []}

    def pair(self, kind: str, key: str) -> str | None:
        """The call id of this turn's first unpaired ``kind`` search for ``key`` (taken)."""
        waiting = self.searches[kind]
        for i, (query, call_id) in enumerate(waiting):
            if query == key:
                del waiting[i]
                return call_id
        return None

    def src(self, number: int, record: str, **ids: Any) -> dict[str, Any]:
        return self.file.source(number, record=record, **ids)

    def on_call(self, p: dict[str, Any], at: datetime, number: int) -> None:
        kind = p.get("type")
        call_id = p.get("call_id") or p.get("id")
        if not isinstance(call_id, str) or not call_id:
            self.report.skip("tool call without call_id")
            return
        meta: dict[str, Any] = {}
        raw = False
        if kind == "function_call":
            name = str(p.get("name") or "unknown")
            tool_input, raw = parse_arguments(p.get("arguments"))
            if raw:
                self.file.warn_line(
                    number,
                    f"arguments of {name} ({call_id}) are not a JSON object; "
                    'kept as {"raw": ...}',
                )
            if name in POLL_TOOLS and type(tool_input.get("session_id")) is int:
                self.polled[call_id] = tool_input["session_id"]
        elif kind == "custom_tool_call":
            name = str(p.get("name") or "unknown")
            value = p.get("input")
            parsed, free = parse_arguments(value)
            tool_input = {"input": value if isinstance(value, str) else ""} if free else parsed
        else:  # local_shell_call
            name = "local_shell"
            action = p.get("action")
            tool_input, raw = parse_arguments(action)
        if isinstance(p.get("namespace"), str):
            meta["namespace"] = p["namespace"]
        self.b.tool_started(
            self.thread,
            call_id,
            tool=name,
            input=tool_input,
            at=at,
            source=self.src(number, kind, call_id=call_id),
            metadata=meta,
            input_raw=raw,
        )

    def on_output(self, p: dict[str, Any], at: datetime, number: int) -> None:
        call_id = p.get("call_id")
        call = self.thread.tools.get(call_id) if isinstance(call_id, str) else None
        if call is None:
            self.report.skip("tool output without a call")
            return
        if call.done or call_id in self.held:
            self.report.skip("repeated tool output")
            return
        out = read_output(p.get("output"))
        head = out.text.lstrip()[:300]
        meta: dict[str, Any] = dict(out.extra)
        end = self.ends.pop(call_id, None)
        if REJECTED_RE.search(head):
            status = "denied"
        elif end is not None:
            status = "ok" if end[0] else "error"
            meta["completed_by"] = end[2]
            if end[1] is not None:
                meta["exit_code"] = end[1]
        elif out.success is not None:
            status = "ok" if out.success else "error"
        elif call.tool in POLL_TOOLS:  # the exit code is the polled process's, not this call's
            status = "error" if FAILED_RE.search(head) else "ok"
            if out.exit_code is not None:
                meta["process_exit_code"] = out.exit_code
                self.process_exited(self.polled.get(call_id), out.exit_code, at, number)
        elif out.exit_code is not None:
            status = "ok" if out.exit_code == 0 else "error"
            meta["exit_code"] = out.exit_code
        elif (process := running_session(head)) is not None:
            self.held[call_id] = HeldOutput(out, number)
            self.process_owner[process] = call_id
            self.b.touch(self.thread, at, self.src(number, p.get("type", "output")))
            return
        else:
            status = "error" if FAILED_RE.search(head) else "ok"
        src = self.src(number, p.get("type", "output"), call_id=call_id)
        self.b.tool_completed(
            self.thread, call_id, status=status, output=out.text, at=at, source=src, metadata=meta
        )

    def finish_held(
        self, call_id: str, ok: bool, code: int | None, by: str, at: datetime, number: int
    ) -> None:
        """Complete an exec call whose process was running when its output was written."""
        held = self.held.pop(call_id)
        meta: dict[str, Any] = dict(held.output.extra)
        meta.update({"completed_by": by, "output_line": held.line})
        if code is not None:
            meta["exit_code"] = code
        self.b.tool_completed(
            self.thread,
            call_id,
            status="ok" if ok else "error",
            output=held.output.text,
            at=at,
            source=self.src(number, by, call_id=call_id),
            metadata=meta,
        )

    def process_exited(self, process: int | None, code: int, at: datetime, number: int) -> None:
        owner = self.process_owner.pop(process, None) if process is not None else None
        if owner is not None and owner in self.held:
            self.finish_held(owner, code == 0, code, "write_stdin", at, number)

    def end_event(
        self, call_id: Any, ok: bool | None, code: int | None, by: str, at: datetime, number: int
    ) -> None:
        """An ``…_end`` event: completes a held call, or decides the status of an output
        still to come; a call already completed keeps its status."""
        if not isinstance(call_id, str) or ok is None:
            return
        if call_id in self.held:
            self.finish_held(call_id, ok, code, by, at, number)
            return
        call = self.thread.tools.get(call_id)
        if call is None or not call.done:
            self.ends[call_id] = (ok, code, by)

    def on_exec_end(self, p: dict[str, Any], at: datetime, number: int) -> None:
        code = p.get("exit_code")
        code = code if type(code) is int else None
        ok = None if code is None else code == 0
        self.end_event(p.get("call_id"), ok, code, "exec_command_end", at, number)

    def on_patch_end(self, p: dict[str, Any], at: datetime, number: int) -> None:
        ok = p.get("success") if isinstance(p.get("success"), bool) else None
        self.end_event(p.get("call_id"), ok, None, "patch_apply_end", at, number)

    def on_mcp_end(self, p: dict[str, Any], at: datetime, number: int) -> None:
        ok = mcp_success(p.get("result"))
        self.end_event(p.get("call_id"), ok, None, "mcp_tool_call_end", at, number)

    def on_web_search_call(self, p: dict[str, Any], at: datetime, number: int) -> None:
        key = search_key(p.get("action"))
        if self.pair("end", key) is not None:
            self.report.skip("web_search_call (read from its earlier web_search_end)")
            return
        call_id = p.get("id") or p.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            call_id = self.b.entity_id(at, self.thread.id, "web-search", *self.key(key))
        action = p.get("action")
        src = self.src(number, "web_search_call", call_id=call_id)
        tool_input = action if isinstance(action, dict) else {}
        if (
            self.b.tool_started(
                self.thread, call_id, tool="web_search", input=tool_input, at=at, source=src
            )
            is None
        ):
            return
        self.searches["call"].append((key, call_id))
        status = p.get("status")
        if status in ("completed", "failed"):
            self.b.tool_completed(
                self.thread,
                call_id,
                status="ok" if status == "completed" else "error",
                output="",
                at=at,
                source=src,
            )

    def on_web_search_end(self, p: dict[str, Any], at: datetime, number: int) -> None:
        action = p.get("action")
        key = search_key(action if action is not None else p.get("query"))
        earlier = self.pair("call", key)
        if earlier is not None:
            self.report.skip("web_search_end (of the web_search_call before it)")
            call = self.thread.tools.get(earlier)
            if call is not None and not call.done:  # the call was written in progress
                src = self.src(number, "web_search_end", call_id=earlier)
                self.b.tool_completed(
                    self.thread, earlier, status="ok", output="", at=at, source=src
                )
            return
        call_id = p.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            self.report.skip("web_search_end without a call id")
            return
        tool_input = action if isinstance(action, dict) else {"query": p.get("query")}
        src = self.src(number, "web_search_end", call_id=call_id)
        thread = self.thread
        if (
            self.b.tool_started(
                thread, call_id, tool="web_search", input=tool_input, at=at, source=src
            )
            is None
        ):
            return
        self.searches["end"].append((key, call_id))
        self.b.tool_completed(thread, call_id, status="ok", output="", at=at, source=src)


__all__ = ["HeldOutput", "ToolCalls"]
