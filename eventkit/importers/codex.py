"""Import Codex CLI rollout files (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``).

Each line is ``{timestamp, type, payload}``. A file is read twice: the first pass
indexes what later lines tell about earlier ones (exit codes of ``exec_command_end``,
``web_search_end`` pairs, which prompts and answers are written twice); the second
pass emits canonical events in file order. Event ids derive from the session id, the
file name and the line, so importing a file again writes nothing.

Mapping (tested on rollouts of Codex CLI 0.40.0 and 0.125.0):

- ``session_meta`` → ThreadCreated (provider ``codex``, id = session id, model from the
  first ``turn_context``, title from the first prompt, project from ``cwd``). Unmapped
  fields (cli_version, originator, git, approval and sandbox policy, effort, …) go to
  the event's metadata. A session already in the log from another file is continued,
  not created twice.
- Turns: when a file has ``task_started``/``task_complete`` (newer versions), they
  delimit turns and their ``turn_id`` is the turn id; a prompt inside an open turn
  joins it. Otherwise every prompt starts a turn. ``turn_aborted`` closes a turn as
  interrupted, an ``error`` event makes its outcome ``error``. A turn without an end
  marker ends at the next turn (interrupted if a tool call was still waiting, else
  success) or, at the end of the file, is completed (``metadata.inferred``) only when
  its last item is a final assistant message with no tool call waiting; otherwise it
  stays open (running).
- Prompts: user messages that are not context. Context messages (environment,
  AGENTS.md / user instructions, skills, shell-command and abort markers) and
  developer messages are skipped. An IDE prompt (``# Context from my IDE setup:``)
  keeps only the request; the IDE context goes to metadata. A prompt written both as
  a ``message`` item and as a ``user_message`` event counts once (the one written
  first; so the choice never changes as a live file grows), as does an answer written
  as ``message`` and ``agent_message``.
- Tools: ``function_call``, ``custom_tool_call``, ``local_shell_call`` and
  ``web_search_call`` → ToolCallStarted; their outputs (by ``call_id``) →
  ToolCallCompleted. Arguments that are not a JSON object are kept as
  ``{"raw": ...}`` (custom tools' free-form input as ``{"input": ...}``). Status is
  ``error`` when the call's ``exec_command_end``/``patch_apply_end``/``mcp_tool_call_end``
  says so, else when its output carries a non-zero exit code (legacy JSON
  ``metadata.exit_code``, ``Exit code: N``, ``Process exited with code N``) or a
  ``… failed`` message; ``denied`` when the user rejected it; else ``ok``. The exit
  code a ``write_stdin`` poll reports belongs to the ``exec_command`` that started the
  process, so a failed command counts once. A ``web_search_call`` takes the call id of
  its ``web_search_end`` and completes with the call. A call still waiting for its
  output when its turn ends is completed then as ``error`` (``metadata.inferred``).
- Usage: ``token_count.info.total_token_usage`` is cumulative, so a turn's usage is the
  counter at its end (the start of the next turn, or the end of the file) minus the
  counter at its start: repeated reports are not counted twice and the turns sum to
  the session total. ``input_tokens`` = input − cached, ``cache_read_tokens`` = cached,
  ``output_tokens`` includes reasoning. A counter that goes down (a restarted process)
  is added to, not subtracted from.
- Cost: rollouts record none, so a turn's usage is priced on its model (its
  ``turn_context``) from :mod:`eventkit.catalog.pricing` (``cost_source`` ``estimated``). A
  model the price table does not know leaves the cost empty and is named in the
  report (``unpriced_models``). A TurnCompleted already in the log is kept as it is
  on re-import, so a newer price table (or a grown file) never conflicts with it.
- Growing files: ThreadCreated, TurnStarted, ToolCallCompleted and TurnCompleted
  are written once (a TurnCompleted's id derives from its turn, not the line that
  ended it). What a later line would change in them (a title or model not yet
  known, a status an ``exec_command_end`` decides, a turn inferred ended that goes
  on) stays as the first import wrote it; a fresh import of the whole file gives it.
- ``thread_name_updated`` → ThreadRenamed.
- Skipped with a reason (see the report): reasoning items and events, ghost
  snapshots, compaction summaries, duplicates, token counts without ``info``, payload
  types not mapped, and damaged lines, each also named (``file:line``) in a warning:
  ``invalid JSON``, ``truncated last line`` (a last line without newline that does not
  parse: a rollout cut off mid-write), ``not UTF-8``, ``not a JSON object``, ``unknown
  record type`` (a top-level ``type`` other than ``session_meta``, ``turn_context``,
  ``response_item``, ``event_msg``, ``compacted``), ``record without payload``, ``no
  timestamp``. An empty file, or a ``.jsonl`` file with no Codex records, is skipped
  with a warning. A file that changed since an earlier import in a way that
  contradicts it is reported, not aborted on.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from eventkit.catalog.events import (
    Event,
    MessageAdded,
    ThreadCreated,
    ThreadRenamed,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
)
from eventkit.errors import DuplicateEventError, EventkitError, SourceNotFoundError
from eventkit.importers.common import (
    INVALID_JSON,
    TRUNCATED_LAST_LINE,
    UNKNOWN_RECORD_TYPE,
    EventWriter,
    ImportReport,
    UsagePart,
    ensure_project,
    open_log,
    source_timestamp,
    truncate_output,
    turn_cost,
)
from eventkit.log.store import EventStore
from eventkit.progress import progress_bar

FORMAT = "codex"
PROVIDER = "codex"
TITLE_CHARS = 80

_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# agents.md instructions for ",
    "<skill>",
    "<skill ",
    "<user_shell_command>",
    "<turn_aborted>",
    "<tool_context>",
    "<reasoning_context>",
    "<pinned_notes>",
    "<subagent_notification>",
    "<context_update>",
)
"""User-role texts that Codex writes as context, not as the user's intent."""

_IDE_CONTEXT = "# Context from my IDE setup:"
_IDE_REQUEST = "## My request for Codex:"

_POLL_TOOLS = frozenset({"write_stdin"})
"""Tools that poll a running process: the exit code they see is the process's, not theirs."""

_THREAD_META_FIELDS = ("cli_version", "originator", "source", "model_provider", "git")
_TURN_META_FIELDS = ("approval_policy", "sandbox_policy", "effort", "summary", "cwd")

_SKIP_RESPONSE_ITEMS = {
    "reasoning": "reasoning (not mapped)",
    "ghost_snapshot": "ghost_snapshot (git snapshot, not mapped)",
    "compaction": "compaction (not mapped)",
}
_SKIP_EVENTS = {
    "agent_reasoning": "agent_reasoning (not mapped)",
    "agent_reasoning_raw_content": "agent_reasoning (not mapped)",
    "agent_reasoning_section_break": "agent_reasoning (not mapped)",
    "context_compacted": "compaction (not mapped)",
    "stream_error": "stream_error (retried by Codex)",
}

_RECORD_TYPES = frozenset(
    {"session_meta", "turn_context", "response_item", "event_msg", "compacted"}
)
"""Top-level record types of a rollout; others are skipped as ``unknown record type``."""
_EXIT_RE = re.compile(r"(?:Exit code:|Process exited with code)\s*(-?\d+)")
_SESSION_RE = re.compile(r"Process running with session ID\s+(\d+)")
_FAILED_RE = re.compile(r"^[\w .-]{0,60}?\bfailed\b|^unsupported call\b", re.IGNORECASE)
_REJECTED_RE = re.compile(r"\brejected by (?:the )?user\b", re.IGNORECASE)


# --------------------------------------------------------------------------- entry point


def import_codex(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | EventStore | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import Codex rollout files into ``log``.

    ``paths`` is a rollout file, a directory (searched recursively for ``*.jsonl``), a
    list of them, or None for ``$CODEX_HOME/sessions`` (default ``~/.codex/sessions``).
    ``log`` is a log path or an open :class:`~eventkit.EventStore`. A progress bar shows
    in a terminal (``progress=False`` or ``TQDM_DISABLE`` turn it off). A path that
    does not exist raises :class:`~eventkit.SourceNotFoundError` before the log is opened.
    """
    if log is None:
        raise EventkitError("import_codex needs a log to write to (a path or an EventStore)")
    files = rollout_files(paths)
    report = ImportReport(FORMAT)
    store, owned = open_log(log)
    try:
        total = sum(f.stat().st_size for f in files)
        with progress_bar(total=total, desc="codex", unit="B", enabled=progress) as bar:
            for path in files:
                _import_file(path, store, report)
                bar.update(path.stat().st_size)
    finally:
        if owned:
            store.close()
    return report


def default_sessions_dir() -> Path:
    """``$CODEX_HOME/sessions``, or ``~/.codex/sessions``."""
    home = os.environ.get("CODEX_HOME")
    return (Path(home) if home else Path.home() / ".codex") / "sessions"


def rollout_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> list[Path]:
    """The rollout files named by ``paths`` (files as given, directories searched)."""
    if paths is None:
        paths = [default_sessions_dir()]
    elif isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[Path] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.jsonl") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise SourceNotFoundError(f"no Codex rollout file or directory at {path}")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class _Record:
    line: int
    at: datetime
    kind: str
    """``response_item/function_call``, ``event_msg/token_count``, ``turn_context``, …"""
    payload: dict[str, Any]


def _records(path: Path, report: ImportReport | None) -> Iterator[_Record]:
    """Parse the file's lines; with a report, count what cannot be read and name its lines."""
    last_at: datetime | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if report is not None:
                report.lines_read += 1
            data, problem, detail = _parse_line(raw)
            if problem is None:
                at = source_timestamp(data.get("timestamp")) or last_at
                kind = data.get("type")
                payload = data.get("payload")
                if kind not in _RECORD_TYPES:
                    problem = UNKNOWN_RECORD_TYPE
                    detail = f"type {kind!r}" if isinstance(kind, str) else "no type"
                elif not isinstance(payload, dict):
                    problem = "record without payload"
                elif at is None:
                    problem = "no timestamp"
                else:
                    last_at = at
                    sub = payload.get("type")
                    if kind in ("response_item", "event_msg"):
                        kind = f"{kind}/{sub}"
                    yield _Record(number, at, kind, payload)
                    continue
            if report is not None:
                report.skip_line(path, number, problem, detail)


def _parse_line(raw: bytes) -> tuple[Any, str | None, str | None]:
    """The line's record, or None with the reason it was skipped and a detail."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "not UTF-8", str(exc)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the last line can lack its newline: a rollout cut off mid-write.
        cut = not raw.endswith(b"\n")
        return None, TRUNCATED_LAST_LINE if cut else INVALID_JSON, str(exc)
    if not isinstance(data, dict):
        return None, "not a JSON object", type(data).__name__
    return data, None, None


# --------------------------------------------------------------------------- texts


def _block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    texts = []
    for block in content:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            texts.append(block["text"])
    return texts


def _is_context(text: str) -> bool:
    return text.lstrip()[:64].lower().startswith(_CONTEXT_PREFIXES)


def _prompt(texts: list[str]) -> tuple[str | None, str | None]:
    """The prompt in a user message's texts and its IDE context, or None if all context."""
    kept = [t for t in texts if t.strip() and not _is_context(t)]
    if not kept:
        return None, None
    text = "\n".join(kept)
    if text.lstrip().startswith(_IDE_CONTEXT) and _IDE_REQUEST in text:
        head, _, request = text.partition(_IDE_REQUEST)
        return request.strip(), head.strip()
    return text, None


def _key(text: str) -> str:
    return " ".join(text.split())


def _title(text: str | None) -> str:
    if not text:
        return ""
    flat = _key(text)
    return flat if len(flat) <= TITLE_CHARS else flat[: TITLE_CHARS - 1].rstrip() + "…"


# --------------------------------------------------------------------------- usage

_ZERO = (0, 0, 0, 0)


def _raw_usage(data: Any) -> tuple[int, int, int, int] | None:
    """(input incl. cached, cached, output incl. reasoning, reasoning) of a usage block."""
    if not isinstance(data, dict):
        return None
    values = []
    for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens"):
        value = data.get(name, 0)
        values.append(value if isinstance(value, int) and value >= 0 else 0)
    return tuple(values)  # type: ignore[return-value]


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int, int, int]:
    return tuple(x + y for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _usage_between(start: tuple[int, ...], end: tuple[int, ...]) -> TokenUsage:
    d_in, d_cached, d_out, d_reason = (max(0, e - s) for s, e in zip(start, end, strict=True))
    return TokenUsage(
        input_tokens=max(0, d_in - d_cached),
        cache_read_tokens=d_cached,
        output_tokens=d_out,
        reasoning_tokens=min(d_reason, d_out),
    )


class _UsageCounter:
    """The session's cumulative token counter, robust to repeats and restarts."""

    def __init__(self) -> None:
        self.base: tuple[int, int, int, int] = _ZERO
        self.current: tuple[int, int, int, int] = _ZERO

    @property
    def total(self) -> tuple[int, int, int, int]:
        return _add(self.base, self.current)

    def observe(self, payload: dict[str, Any]) -> bool:
        """Fold in one ``token_count`` event; False if it carried no usage."""
        info = payload.get("info")
        if isinstance(info, dict):
            total = _raw_usage(info.get("total_token_usage"))
            if total is not None:
                if any(t < c for t, c in zip(total, self.current, strict=True)):
                    self.base = _add(self.base, self.current)  # the counter restarted
                self.current = total
                return True
            last = _raw_usage(info.get("last_token_usage"))
            if last is not None:
                self.base = _add(self.base, last)
                return True
            return False
        if info is None and "input_tokens" in payload:  # early versions: per-call usage
            self.base = _add(self.base, _raw_usage(payload) or _ZERO)
            return True
        return False


# --------------------------------------------------------------------------- outputs


@dataclass(slots=True)
class _Output:
    text: str
    exit_code: int | None = None
    success: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _read_output(value: Any) -> _Output:
    """A tool output: plain text, legacy JSON text with metadata, or content blocks."""
    if isinstance(value, dict):
        text = value.get("content", value.get("output", ""))
        out = _read_output(text)
        if isinstance(value.get("success"), bool):
            out.success = value["success"]
        return out
    if isinstance(value, list):
        return _Output("\n".join(_block_texts(value)))
    text = value if isinstance(value, str) else json.dumps(value)
    if text.startswith("{") and '"metadata"' in text:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("output"), str):
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            code = meta.get("exit_code")
            extra = {k: v for k, v in meta.items() if k != "exit_code"}
            return _Output(data["output"], code if isinstance(code, int) else None, None, extra)
    match = _EXIT_RE.search(text[:2000])
    return _Output(text, int(match.group(1)) if match else None)


def _parse_arguments(arguments: Any) -> tuple[dict[str, Any], bool]:
    """Tool input as a JSON object, and whether it had to be kept raw."""
    if isinstance(arguments, dict):
        return arguments, False
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value, False
        return {"raw": arguments}, True
    return {"raw": json.dumps(arguments)}, True


# --------------------------------------------------------------------------- first pass


@dataclass
class _Index:
    """What the whole file says, gathered before any event is written."""

    session: dict[str, Any] | None = None
    session_at: datetime | None = None
    session_line: int = 0
    first_prompt: str | None = None
    first_user_message: str | None = None
    turn_contexts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    has_task_events: bool = False
    prompt_items: Counter[str] = field(default_factory=Counter)
    assistant_items: Counter[str] = field(default_factory=Counter)
    call_names: dict[str, str] = field(default_factory=dict)
    call_sessions: dict[str, int] = field(default_factory=dict)
    """write_stdin call id → the process session it polls."""
    end_events: dict[str, tuple[bool | None, int | None]] = field(default_factory=dict)
    """call id → (success, exit code) from exec_command_end / patch_apply_end / mcp ends."""
    session_exit: dict[int, int] = field(default_factory=dict)
    """process session id → exit code, as reported to a poll."""
    session_owner: dict[str, int] = field(default_factory=dict)
    """exec_command call id → the process session it started."""
    search_calls: list[tuple[int, Any]] = field(default_factory=list)
    search_ends: list[tuple[int, str, Any]] = field(default_factory=list)
    search_pairs: dict[int, tuple[int, str]] = field(default_factory=dict)
    """web_search_call line → (web_search_end line, call id)."""
    records: int = 0

    def model_for(self, line: int, turn_id: str | None = None) -> dict[str, Any] | None:
        """The turn context of a turn opened at ``line`` (by turn id, else the next one)."""
        if turn_id is not None:
            for _, ctx in self.turn_contexts:
                if ctx.get("turn_id") == turn_id:
                    return ctx
        for ctx_line, ctx in self.turn_contexts:
            if ctx_line > line:
                return ctx
        return self.turn_contexts[-1][1] if self.turn_contexts else None


def _index(path: Path) -> _Index:
    idx = _Index()
    for rec in _records(path, None):
        idx.records += 1
        p = rec.payload
        kind = rec.kind
        if kind == "session_meta":
            if idx.session is None:
                idx.session, idx.session_at, idx.session_line = p, rec.at, rec.line
        elif kind == "turn_context":
            idx.turn_contexts.append((rec.line, p))
        elif kind == "response_item/message":
            role = p.get("role")
            if role == "user":
                prompt, _ = _prompt(_block_texts(p.get("content")))
                if prompt is not None:
                    idx.prompt_items[_key(prompt)] += 1
                    idx.first_prompt = idx.first_prompt or prompt
            elif role == "assistant":
                idx.assistant_items[_key("\n".join(_block_texts(p.get("content"))))] += 1
        elif kind == "event_msg/user_message":
            if idx.first_user_message is None and isinstance(p.get("message"), str):
                prompt, _ = _prompt([p["message"]])
                idx.first_user_message = prompt
        elif kind in ("event_msg/task_started", "event_msg/task_complete"):
            idx.has_task_events = True
        elif kind == "response_item/function_call":
            call_id, name = p.get("call_id"), p.get("name")
            if isinstance(call_id, str) and isinstance(name, str):
                idx.call_names[call_id] = name
                if name in _POLL_TOOLS:
                    args, _ = _parse_arguments(p.get("arguments"))
                    if isinstance(args.get("session_id"), int):
                        idx.call_sessions[call_id] = args["session_id"]
        elif kind == "response_item/function_call_output":
            _index_output(idx, p)
        elif kind == "event_msg/exec_command_end":
            code = p.get("exit_code")
            if isinstance(p.get("call_id"), str) and isinstance(code, int):
                idx.end_events[p["call_id"]] = (code == 0, code)
        elif kind == "event_msg/patch_apply_end":
            if isinstance(p.get("call_id"), str) and isinstance(p.get("success"), bool):
                idx.end_events[p["call_id"]] = (p["success"], None)
        elif kind == "event_msg/mcp_tool_call_end":
            if isinstance(p.get("call_id"), str):
                idx.end_events[p["call_id"]] = (_mcp_success(p.get("result")), None)
        elif kind == "response_item/web_search_call":
            idx.search_calls.append((rec.line, p.get("action")))
        elif kind == "event_msg/web_search_end":
            if isinstance(p.get("call_id"), str):
                idx.search_ends.append((rec.line, p["call_id"], p.get("action") or p.get("query")))
    _pair_searches(idx)
    return idx


def _index_output(idx: _Index, payload: dict[str, Any]) -> None:
    call_id = payload.get("call_id")
    name = idx.call_names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        return
    text = _read_output(payload.get("output")).text[:2000]
    if name in _POLL_TOOLS:
        session = idx.call_sessions.get(call_id)
        match = _EXIT_RE.search(text)
        if session is not None and match:
            idx.session_exit[session] = int(match.group(1))
    else:
        match = _SESSION_RE.search(text)
        if match:
            idx.session_owner[call_id] = int(match.group(1))


def _mcp_success(result: Any) -> bool | None:
    if isinstance(result, dict):
        if "Err" in result:
            return False
        ok = result.get("Ok")
        if isinstance(ok, dict):
            return not (ok.get("isError") or ok.get("is_error"))
    return None


def _pair_searches(idx: _Index) -> None:
    """Pair each web_search_call with the nearest unpaired web_search_end of its query."""
    free = list(idx.search_ends)
    for line, action in idx.search_calls:
        query = _search_query(action)
        candidates = [e for e in free if _search_query(e[2]) == query] or free
        if not candidates:
            continue
        best = min(candidates, key=lambda e: abs(e[0] - line))
        if abs(best[0] - line) > 50:  # too far away to be this call's end
            continue
        free.remove(best)
        idx.search_pairs[line] = (best[0], best[1])


def _search_query(action: Any) -> Any:
    if isinstance(action, dict):
        return action.get("query") or action.get("url") or action
    return action


# --------------------------------------------------------------------------- second pass


@dataclass
class _Turn:
    id: str
    usage_start: tuple[int, int, int, int]
    model: str | None
    last_at: datetime
    last_line: int
    from_task: bool
    last_kind: str = "start"
    open_calls: set[str] = field(default_factory=set)
    error: str | None = None
    closed: tuple[str, datetime, int, dict[str, Any]] | None = None
    """(outcome, at, line, metadata) once the turn has ended."""
    started_at: datetime | None = None


def _seen_twice(seen: dict[str, Counter[str]], kind: str, text: str) -> bool:
    """Whether ``text`` was already written as the other kind (item/event); else note it."""
    other = "event" if kind == "item" else "item"
    key = _key(text)
    if seen[other][key] > 0:
        seen[other][key] -= 1
        return True
    seen[kind][key] += 1
    return False


def _import_file(path: Path, store: EventStore, report: ImportReport) -> None:
    idx = _index(path)
    report.files += 1
    writer = EventWriter(store, report)
    try:
        _Session(path, store, writer, report, idx).run()
        writer.flush()
    except DuplicateEventError as exc:
        report.warnings.append(
            f"{path}: not fully imported: it differs from what an earlier import wrote "
            f"(the file changed since?): {exc}"
        )
    finally:
        report.end_file(path)


class _Session:
    """Turns one rollout file into canonical events."""

    def __init__(
        self,
        path: Path,
        store: EventStore,
        writer: EventWriter,
        report: ImportReport,
        idx: _Index,
    ) -> None:
        self.path, self.store, self.writer, self.report, self.idx = path, store, writer, report, idx
        self.file = path.name
        self.session_id = ""
        self.usage = _UsageCounter()
        self.turn: _Turn | None = None
        self.turns_seen = 0
        self.calls: dict[str, str] = {}  # call id → turn id, for calls started
        self.call_names: dict[str, str] = {}
        self.completed: set[str] = set()
        # A prompt or answer written twice (item and event) counts once: the one written
        # first wins, so the choice never changes as the file grows.
        self.prompts_seen: dict[str, Counter[str]] = {"item": Counter(), "event": Counter()}
        self.answers_seen: dict[str, Counter[str]] = {"item": Counter(), "event": Counter()}
        # ends read with a call written before them (an end written first is the call)
        self.used_search_ends = {end for call, (end, _) in idx.search_pairs.items() if end > call}

    # ---------------------------------------------------------------- plumbing

    def source(self, rec: _Record) -> dict[str, Any]:
        return {"format": FORMAT, "file": str(self.path), "line": rec.line, "record": rec.kind}

    def emit(
        self,
        event: Event,
        rec: _Record,
        *identity: object,
        meta: dict[str, Any] | None = None,
        once: bool = False,
    ) -> str:
        """Queue ``event``, its id derived from the session, the file, the line and its type."""
        metadata: dict[str, Any] = dict(meta) if meta else {}
        metadata["source"] = self.source(rec)
        ident = (FORMAT, self.session_id, self.file, rec.line, event.type, *identity)
        return self.writer.add(event, ident, metadata, once=once)

    # ---------------------------------------------------------------- main loop

    def run(self) -> None:
        if not self.start_thread():
            return
        handlers = {
            "session_meta": self.on_session_meta,
            "turn_context": self.on_used,
            "compacted": self.on_skip("compacted (history summary, not mapped)"),
            "response_item/message": self.on_message,
            "response_item/function_call": self.on_call,
            "response_item/custom_tool_call": self.on_call,
            "response_item/local_shell_call": self.on_call,
            "response_item/web_search_call": self.on_web_search,
            "response_item/function_call_output": self.on_output,
            "response_item/custom_tool_call_output": self.on_output,
            "event_msg/user_message": self.on_user_message,
            "event_msg/agent_message": self.on_agent_message,
            "event_msg/token_count": self.on_token_count,
            "event_msg/task_started": self.on_task_started,
            "event_msg/task_complete": self.on_task_complete,
            "event_msg/turn_aborted": self.on_turn_aborted,
            "event_msg/error": self.on_error,
            "event_msg/web_search_end": self.on_web_search_end,
            "event_msg/exec_command_end": self.on_used,
            "event_msg/patch_apply_end": self.on_used,
            "event_msg/mcp_tool_call_end": self.on_used,
            "event_msg/thread_name_updated": self.on_thread_name,
        }
        for rec in _records(self.path, self.report):
            handler = handlers.get(rec.kind)
            if handler is not None:
                handler(rec)
                continue
            sub = rec.kind.partition("/")[2]
            if rec.kind.startswith("response_item/") and sub in _SKIP_RESPONSE_ITEMS:
                self.report.skip(_SKIP_RESPONSE_ITEMS[sub])
            elif rec.kind.startswith("event_msg/") and sub in _SKIP_EVENTS:
                self.report.skip(_SKIP_EVENTS[sub])
            else:
                self.report.skip(f"{rec.kind} (not mapped)")
        self.finish()

    def on_used(self, rec: _Record) -> None:
        """A record read for what it tells about others (model, exit codes)."""

    def on_skip(self, reason: str) -> Callable[[_Record], None]:
        return lambda rec: self.report.skip(reason)

    # ---------------------------------------------------------------- thread

    def start_thread(self) -> bool:
        idx = self.idx
        meta = idx.session or {}
        session_id = meta.get("id")
        if not isinstance(session_id, str) or not session_id:
            match = re.search(
                r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", self.file
            )
            if idx.records == 0 and not self.path.read_bytes().strip():
                self.report.warnings.append(f"{self.path}: empty file; nothing imported")
                return False
            if idx.records == 0 or match is None:
                self.report.warnings.append(f"{self.path}: not a Codex rollout (no session_meta)")
                # still count its lines and skip them
                for _ in _records(self.path, self.report):
                    self.report.skip("not a Codex rollout")
                return False
            session_id = match.group(1)
            self.report.warnings.append(
                f"{self.path}: no session_meta; session id taken from the file name"
            )
        self.session_id = session_id
        first_ctx = idx.turn_contexts[0][1] if idx.turn_contexts else {}
        at = source_timestamp(meta.get("timestamp")) or idx.session_at
        if at is None:  # no session_meta: the first record's time
            at = next(iter(_records(self.path, None))).at
        existing = self.store.last_event(
            f"thread:{session_id}", types=["ThreadCreated"], lenient=True
        )
        if existing is not None and existing.metadata:
            source = existing.metadata.get("source")
            source = source if isinstance(source, dict) else {}
            if source.get("format") == FORMAT and Path(source.get("file", "")).name != self.file:
                self.report.warnings.append(
                    f"{self.path}: continues session {session_id}, already imported from "
                    f"{source.get('file')}; its thread is not created again"
                )
                return True
        cwd = meta.get("cwd") or first_ctx.get("cwd")
        if not isinstance(cwd, str) or not cwd:
            cwd = "(unknown)"
            self.report.warnings.append(f"{self.path}: no working directory; project '(unknown)'")
        rec = _Record(idx.session_line or 1, at, "session_meta", meta)
        project_id = ensure_project(self.store, self.writer, cwd, at, self.source(rec))
        model = first_ctx.get("model") if isinstance(first_ctx.get("model"), str) else None
        extras = {k: meta[k] for k in _THREAD_META_FIELDS if meta.get(k) is not None}
        if "source" in extras:  # Codex's own "source" (cli, vscode, …), not eventkit's
            extras["session_source"] = extras.pop("source")
        extras.update({k: first_ctx[k] for k in _TURN_META_FIELDS[:3] if k in first_ctx})
        if meta.get("instructions") or meta.get("base_instructions"):
            extras["has_instructions"] = True
        parent = _find_key(meta.get("source"), "parent_thread_id")
        event = ThreadCreated(
            id=session_id,
            project_id=project_id,
            title=_title(idx.first_prompt or idx.first_user_message),
            provider=PROVIDER,
            model=model or "unknown",
            parent_thread_id=parent if isinstance(parent, str) and parent else None,
            at=at,
        )
        # Once: a file read while still short (no prompt or turn_context yet) gave the
        # thread a title and model that a later import of the grown file would change.
        self.emit(event, rec, meta=extras, once=True)
        self.report.threads += 1
        return True

    def on_session_meta(self, rec: _Record) -> None:
        if rec.line != self.idx.session_line:
            self.report.skip("repeated session_meta")

    def on_thread_name(self, rec: _Record) -> None:
        name = rec.payload.get("thread_name") or rec.payload.get("name")
        if not isinstance(name, str) or not name.strip():
            self.report.skip("thread_name_updated without a name")
            return
        self.emit(ThreadRenamed(id=self.session_id, title=name, at=rec.at), rec)

    # ---------------------------------------------------------------- turns

    def open_turn(
        self, rec: _Record, turn_id: str | None, meta: dict[str, Any], from_task: bool = False
    ) -> _Turn:
        self.end_turn_before(rec)
        ctx = self.idx.model_for(rec.line, turn_id) or {}
        if turn_id is None:
            turn_id = derived_id(rec.at, FORMAT, self.session_id, self.file, "turn", rec.line)
        model = ctx.get("model") if isinstance(ctx.get("model"), str) else None
        start = self.usage.total if self.turns_seen else _ZERO
        self.turns_seen += 1
        turn = _Turn(turn_id, start, model, rec.at, rec.line, from_task, started_at=rec.at)
        extras = {k: ctx[k] for k in _TURN_META_FIELDS if k in ctx}
        extras.update(meta)
        self.emit(
            TurnStarted(id=turn_id, thread_id=self.session_id, model=model, at=rec.at),
            rec,
            meta=extras,
            once=True,  # its model may come from a turn_context written after it
        )
        self.turn = turn
        return turn

    def end_turn_before(self, rec: _Record) -> None:
        """A new turn starts at ``rec``: the current one ends here at the latest."""
        turn = self.turn
        if turn is None:
            return
        if turn.closed is None:
            self.infer_end(turn, "interrupted" if turn.open_calls else "success")
        self.complete(turn)

    def infer_end(self, turn: _Turn, outcome: str) -> None:
        # At the turn's last line, so the same turn ends the same way whether the next
        # turn or the end of the file (of a session still being written) ended it.
        turn.closed = (outcome, turn.last_at, turn.last_line, {"inferred": True})

    def close_turn(self, rec: _Record, outcome: str, meta: dict[str, Any]) -> None:
        turn = self.turn
        if turn is not None and turn.closed is None:
            turn.closed = (outcome, rec.at, rec.line, meta)

    def complete(self, turn: _Turn) -> None:
        """Write the TurnCompleted of a closed turn, with the usage counted up to now."""
        assert turn.closed is not None
        outcome, at, line, meta = turn.closed
        if turn.error and outcome == "success":
            outcome = "error"
        usage = _usage_between(turn.usage_start, self.usage.total)
        cost, cost_source, cost_meta = turn_cost(self.report, [UsagePart(turn.model, usage)])
        if cost_meta:
            meta = {**meta, "cost": cost_meta}
        event = TurnCompleted(
            id=turn.id,
            thread_id=self.session_id,
            outcome=outcome,  # type: ignore[arg-type]
            error=turn.error if outcome == "error" else None,
            usage=usage,
            cost_usd=cost,
            cost_source=cost_source,  # type: ignore[arg-type]
            at=at,
        )
        rec = _Record(line, at, "turn_end", {})
        for call_id in [c for c in self.calls if c in turn.open_calls]:
            # the turn ended before the call's output: it did not succeed
            reason = f"no output before the turn ended ({outcome})"
            self.complete_call(rec, call_id, "error", "", {"inferred": True, "reason": reason})
        # Written once, with one id per turn (from its start, not from the line that
        # ended it): a re-import keeps the stored turn even if the file has grown since
        # or its estimated cost (a newer price table) would come out differently now.
        metadata = {**meta, "source": self.source(rec)}
        ident = (FORMAT, self.session_id, "TurnCompleted", turn.id)
        self.writer.add(event, ident, metadata, once=True, id_at=turn.started_at)
        self.turn = None

    def active_turn(self, rec: _Record) -> _Turn:
        """The open turn, or a new one (without a prompt) for activity outside any turn."""
        if self.turn is not None and self.turn.closed is None:
            return self.turn
        return self.open_turn(rec, None, {"without_prompt": True})

    def open_turn_id(self) -> str | None:
        turn = self.turn
        return turn.id if turn is not None and turn.closed is None else None

    def touch(self, rec: _Record, kind: str) -> None:
        turn = self.turn
        if turn is not None and turn.closed is None:
            turn.last_at = max(turn.last_at, rec.at)
            turn.last_line = rec.line
            turn.last_kind = kind

    def on_task_started(self, rec: _Record) -> None:
        turn_id = rec.payload.get("turn_id")
        turn_id = turn_id if isinstance(turn_id, str) and turn_id else None
        turn = self.turn
        if turn is not None and turn.closed is None and not turn.from_task:
            if turn.last_kind == "prompt":  # the prompt came first: this task is its turn
                turn.from_task = True
                return
        self.open_turn(rec, turn_id, {}, from_task=True)

    def on_task_complete(self, rec: _Record) -> None:
        turn_id = rec.payload.get("turn_id")
        turn = self.turn
        if turn is None or turn.closed is not None:
            self.report.skip("task_complete without an open turn")
            return
        if isinstance(turn_id, str) and turn_id and turn_id != turn.id:
            self.report.skip("task_complete for another turn")
            return
        meta = {
            k: rec.payload[k] for k in ("duration_ms", "time_to_first_token_ms") if k in rec.payload
        }
        self.close_turn(rec, "success", meta)

    def on_turn_aborted(self, rec: _Record) -> None:
        turn = self.turn
        if turn is None or turn.closed is not None:
            self.report.skip("turn_aborted without an open turn")
            return
        self.close_turn(rec, "interrupted", {"reason": rec.payload.get("reason")})

    def on_error(self, rec: _Record) -> None:
        message = rec.payload.get("message")
        turn = self.turn
        if turn is None or turn.closed is not None:
            self.report.skip("error event outside a turn")
            return
        turn.error = message if isinstance(message, str) and message else "error"

    def on_token_count(self, rec: _Record) -> None:
        if not self.usage.observe(rec.payload):
            self.report.skip("token_count without info")

    def finish(self) -> None:
        turn = self.turn
        if turn is None:
            return
        if turn.closed is None:
            if turn.last_kind != "answer" or turn.open_calls:
                self.report.warnings.append(
                    f"{self.path}: the last turn ({turn.id}) has no end; left running"
                )
                return
            self.infer_end(turn, "success")
        self.complete(turn)

    # ---------------------------------------------------------------- messages

    def on_message(self, rec: _Record) -> None:
        p = rec.payload
        role = p.get("role")
        texts = _block_texts(p.get("content"))
        if role == "user":
            prompt, ide = _prompt(texts)
            if prompt is None:
                self.report.skip("context message (environment, instructions)")
                return
            meta = {"ide_context": ide} if ide else {}
            images = sum(
                1
                for b in p.get("content") or []
                if isinstance(b, dict) and "image" in str(b.get("type"))
            )
            if images:
                meta["images"] = images
            if _seen_twice(self.prompts_seen, "item", prompt):
                self.report.skip("prompt item (duplicate of a user_message)")
                return
            self.on_prompt(rec, prompt, meta)
        elif role == "assistant":
            text = "\n".join(texts)
            if _seen_twice(self.answers_seen, "item", text):
                self.report.skip("assistant message (duplicate of an agent_message)")
                return
            self.add_answer(rec, text, p.get("phase"))
        elif role in ("developer", "system"):
            self.report.skip(f"{role} message (instructions)")
        else:
            self.report.skip("message with an unknown role")

    def on_user_message(self, rec: _Record) -> None:
        message = rec.payload.get("message")
        if not isinstance(message, str):
            self.report.skip("user_message without text")
            return
        prompt, ide = _prompt([message])
        if prompt is None:
            self.report.skip("context message (environment, instructions)")
            return
        if _seen_twice(self.prompts_seen, "event", prompt):
            self.report.skip("user_message (duplicate of a prompt item)")
            return
        self.on_prompt(rec, prompt, {"ide_context": ide} if ide else {})

    def on_prompt(self, rec: _Record, text: str, meta: dict[str, Any]) -> None:
        turn = self.turn
        joins = self.idx.has_task_events and turn is not None and turn.closed is None
        if not joins:
            turn = self.open_turn(rec, None, {})
        assert turn is not None
        message_id = derived_id(rec.at, FORMAT, self.session_id, self.file, "message", rec.line)
        event = MessageAdded(
            id=message_id,
            thread_id=self.session_id,
            turn_id=turn.id,
            role="user",
            text=text,
            at=rec.at,
        )
        self.emit(event, rec, meta=meta)
        self.touch(rec, "prompt")

    def on_agent_message(self, rec: _Record) -> None:
        message = rec.payload.get("message")
        if not isinstance(message, str):
            self.report.skip("agent_message without text")
            return
        if _seen_twice(self.answers_seen, "event", message):
            self.report.skip("agent_message (duplicate of an assistant message)")
            return
        self.add_answer(rec, message, rec.payload.get("phase"))

    def add_answer(self, rec: _Record, text: str, phase: Any) -> None:
        message_id = derived_id(rec.at, FORMAT, self.session_id, self.file, "message", rec.line)
        event = MessageAdded(
            id=message_id,
            thread_id=self.session_id,
            turn_id=self.open_turn_id(),
            role="assistant",
            text=text,
            at=rec.at,
        )
        self.emit(event, rec, meta={"phase": phase} if isinstance(phase, str) else None)
        self.touch(rec, "commentary" if phase == "commentary" else "answer")

    # ---------------------------------------------------------------- tools

    def on_call(self, rec: _Record) -> None:
        p = rec.payload
        call_id = p.get("call_id") or p.get("id")
        if not isinstance(call_id, str) or not call_id:
            self.report.skip("tool call without call_id")
            return
        if call_id in self.calls:
            self.report.skip("repeated tool call id")
            return
        meta: dict[str, Any] = {}
        if rec.kind.endswith("/function_call"):
            name = p.get("name") or "unknown"
            tool_input, raw = _parse_arguments(p.get("arguments"))
            if raw:
                meta["input_raw"] = True
                self.report.counts["tool inputs kept raw (not a JSON object)"] += 1
                self.report.warn_line(
                    self.path,
                    rec.line,
                    f"arguments of {name} ({call_id}) are not a JSON object; "
                    'kept as {"raw": ...}',
                )
        elif rec.kind.endswith("/custom_tool_call"):
            name = p.get("name") or "unknown"
            value = p.get("input")
            parsed, raw = _parse_arguments(value)
            tool_input = {"input": value if isinstance(value, str) else ""} if raw else parsed
        else:  # local_shell_call
            name = "local_shell"
            action = p.get("action")
            tool_input = action if isinstance(action, dict) else {"raw": json.dumps(action)}
        if isinstance(p.get("namespace"), str):
            meta["namespace"] = p["namespace"]
        self.start_call(rec, call_id, str(name), tool_input, meta)

    def start_call(
        self, rec: _Record, call_id: str, tool: str, tool_input: dict[str, Any], meta: dict
    ) -> str:
        turn = self.active_turn(rec)
        event = ToolCallStarted(
            id=call_id,
            thread_id=self.session_id,
            turn_id=turn.id,
            tool=tool,
            input=tool_input,
            at=rec.at,
        )
        self.emit(event, rec, call_id, meta=meta or None)
        self.calls[call_id] = turn.id
        self.call_names[call_id] = tool
        turn.open_calls.add(call_id)
        self.touch(rec, "tool")
        return turn.id

    def on_output(self, rec: _Record) -> None:
        call_id = rec.payload.get("call_id")
        if not isinstance(call_id, str) or call_id not in self.calls:
            self.report.skip("tool output without a call")
            return
        if call_id in self.completed:
            self.report.skip("repeated tool output")
            return
        out = _read_output(rec.payload.get("output"))
        status, exit_code = self.status_of(call_id, out)
        meta: dict[str, Any] = dict(out.extra)
        if exit_code is not None:
            meta["exit_code"] = exit_code
        elif out.exit_code is not None:  # a poll saw its process exit
            meta["process_exit_code"] = out.exit_code
        text = truncate_output(out.text, meta)
        self.complete_call(rec, call_id, status, text, meta)

    def complete_call(
        self, rec: _Record, call_id: str, status: str, output: str, meta: dict[str, Any]
    ) -> None:
        turn_id = self.calls[call_id]
        event = ToolCallCompleted(
            id=call_id,
            thread_id=self.session_id,
            turn_id=turn_id,
            status=status,  # type: ignore[arg-type]
            output=output,
            at=rec.at,
        )
        # Once: its status can rest on lines written later (an exec_command_end after
        # the output); a re-import of the grown file keeps the stored completion.
        self.emit(event, rec, call_id, meta=meta or None, once=True)
        self.completed.add(call_id)
        if self.turn is not None and self.turn.id == turn_id:
            self.turn.open_calls.discard(call_id)
        self.touch(rec, "tool_output")

    def status_of(self, call_id: str, out: _Output) -> tuple[str, int | None]:
        """``ok``/``error``/``denied`` and the exit code that decided it (if any)."""
        name = self.call_names.get(call_id, "")
        head = out.text.lstrip()[:300]
        if _REJECTED_RE.search(head):
            return "denied", None
        end = self.idx.end_events.get(call_id)
        if end is not None and end[0] is not None:
            return ("ok" if end[0] else "error"), end[1]
        if out.success is not None:
            return ("ok" if out.success else "error"), out.exit_code
        if name in _POLL_TOOLS:  # the exit code is the polled process's, not this call's
            return ("error" if _FAILED_RE.search(head) else "ok"), None
        code = out.exit_code
        if code is None and call_id in self.idx.session_owner:
            code = self.idx.session_exit.get(self.idx.session_owner[call_id])
        if code is not None:
            return ("ok" if code == 0 else "error"), code
        return ("error" if _FAILED_RE.search(head) else "ok"), None

    def on_web_search(self, rec: _Record) -> None:
        p = rec.payload
        pair = self.idx.search_pairs.get(rec.line)
        if pair is not None and pair[0] < rec.line:
            # its web_search_end came first and was read as the call: the first record
            # of a pair is the call, so the call is the same however far the file had grown
            self.report.skip("web_search_call (read from its earlier web_search_end)")
            return
        call_id = p.get("id") or p.get("call_id") or (pair[1] if pair else None)
        if not isinstance(call_id, str) or not call_id:
            call_id = derived_id(rec.at, FORMAT, self.session_id, self.file, "search", rec.line)
        if call_id in self.calls:
            self.report.skip("repeated tool call id")
            return
        action = p.get("action")
        tool_input = action if isinstance(action, dict) else {}
        meta = {"web_search_end_line": pair[0]} if pair else {}
        self.start_call(rec, call_id, "web_search", tool_input, meta)
        status = p.get("status")
        if status == "completed" or pair is not None:
            self.complete_call(rec, call_id, "ok", "", {})
        elif status == "failed":
            self.complete_call(rec, call_id, "error", "", {})

    def on_web_search_end(self, rec: _Record) -> None:
        if rec.line in self.used_search_ends:
            return  # read with its web_search_call
        call_id = rec.payload.get("call_id")
        if not isinstance(call_id, str) or not call_id or call_id in self.calls:
            self.report.skip("web_search_end without a call")
            return
        action = rec.payload.get("action")
        tool_input = action if isinstance(action, dict) else {"query": rec.payload.get("query")}
        self.start_call(rec, call_id, "web_search", tool_input, {})
        self.complete_call(rec, call_id, "ok", "", {})


def _find_key(value: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in nested dicts."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = _find_key(item, key)
            if found is not None:
                return found
    return None
