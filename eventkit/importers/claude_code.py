"""Import Claude Code session logs (JSONL) into an eventkit log.

Claude Code writes one file per session under ``~/.claude/projects/<project>/``
(``$CLAUDE_CONFIG_DIR/projects`` when that is set), and a subagent's transcript
under ``<session>/subagents/agent-<agentId>.jsonl``. The mapping:

Sessions and threads
    The records of one ``sessionId`` form a thread whose id is the sessionId
    (provider ``claude-code``). ``model`` is the first real assistant model;
    ``title`` is the file's last ``summary`` line if it has one, else the first
    prompt cut to 80 characters. ``project_id`` comes from the first ``cwd``
    (:func:`ensure_project`, once per path and import). ``at`` is the session's
    earliest record.
Prompts and turns
    A user line whose content is text (not ``tool_result``) is a prompt: it
    completes the open turn and starts a new one (TurnStarted, MessageAdded role
    user). A slash command (``<command-name>``) becomes a prompt, with the text
    ``/name args``, only if the model answers it; otherwise (``/clear``, ``/model``)
    it is skipped as a local command. ``isMeta`` lines, local command output and
    compaction summaries are not prompts. An assistant line with no open turn opens
    one without a user message. TurnStarted's model is the turn's first response's.
Assistant output
    Each non-empty ``text`` block is one MessageAdded (role assistant); its
    API message id, request id and block index are in metadata. Per block rather
    than per ``message.id`` because a response's lines are written one block at a
    time, so a block never changes once written. ``thinking`` blocks are counted,
    not stored as messages (count and length in TurnCompleted metadata). A
    ``tool_use`` block is a ToolCallStarted; the matching ``tool_result`` is a
    ToolCallCompleted: ``error`` if ``is_error``, ``denied`` if the text says the
    user or a permission rule refused it, else ``ok``. Outputs are the result's
    text (text blocks joined; images as ``[image]``), long ones truncated.
Usage and completion
    Lines of one API response share ``message.id`` and repeat its usage, earlier
    ones partial, so a turn's usage is the per-response maximum of each counter,
    summed over its responses. A turn completes when the next prompt arrives, at
    its last response or tool result. The last turn of a thread completes only if
    its last response stopped with ``end_turn``, a ``system`` ``turn_duration`` or
    ``stop_hook_summary`` line followed it, it was interrupted, or it failed, or
    the file ends with the model's text answer and no tool call waiting
    (``completed_by`` ``final answer``: transcripts seldom record ``stop_reason``);
    otherwise it stays open and its usage is counted once it ends. Outcome:
    ``interrupted`` after a "[Request interrupted by user…]" marker, ``error`` after
    an API error line (``isApiErrorMessage``; a later good response clears it), else ``success``.
    Cost: a ``costUSD`` the log records for a response (older versions) is used
    (``cost_source`` ``recorded``); otherwise each response's usage is priced on its
    model from :mod:`eventkit.catalog.pricing` (1-hour cache writes, from
    ``usage.cache_creation``, at their own rate) and the turn's cost is ``estimated``.
    A model the price table does not know leaves the cost empty and is named in the
    report (``unpriced_models``).
Subagents
    Each becomes a child thread (``parent_thread_id`` = the session's thread)
    with its own turns, messages and tool calls. ``isSidechain`` records (a
    subagent file, or older logs that keep them in the session file) go to the
    thread ``<sessionId>/agent-<agentId>``, or ``<sessionId>/sidechain-<root uuid>``
    without an agentId. ``agent_progress`` lines carry a subagent's messages
    inside the session file; they go to the same thread id unless the subagent
    file exists beside the session, which is then the only source. Progress lines
    hold partial usage and lack the final answer, so the parent's ``Task`` result
    adds the final message and its usage and completes the child's turn.
Skipped
    Other lines (``file-history-snapshot``, ``queue-operation``, hook
    ``progress``, other ``system`` subtypes, ``attachment``) produce no events and
    are counted in ``report.skipped`` by reason, as are lines used only as signals
    (summaries, interruption markers, end-of-turn lines) and unmapped assistant
    blocks (counted per block). Damaged lines are skipped with a warning naming
    ``file:line``: ``invalid JSON``, ``truncated last line`` (a last line without
    newline that does not parse: a session cut off mid-write), ``not a JSON object``,
    ``unknown record type``, ``unexpected record shape``, bad or missing timestamps.
    A ``tool_use`` input that is not a JSON object is kept as ``{"input": ...}``
    (``metadata.input_raw``) and named in a warning.

Ids are derived from the thread id, the record's uuid (or the tool_use id) and a
role tag, so re-importing writes nothing. ThreadCreated, TurnStarted and
TurnCompleted summarise several lines; once one is in the log a re-import keeps
it (a TurnCompleted's id derives from its turn's start), so re-importing a session
that has grown since never conflicts; a last turn inferred ended that then goes on
keeps what the earlier import wrote.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eventkit.catalog.events import (
    Event,
    MessageAdded,
    ThreadCreated,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnCompleted,
    TurnStarted,
    derived_id,
    parse_timestamp,
)
from eventkit.errors import SourceNotFoundError
from eventkit.importers.common import (
    INVALID_JSON,
    TRUNCATED_LAST_LINE,
    UNKNOWN_RECORD_TYPE,
    EventWriter,
    ImportReport,
    UsagePart,
    ensure_project,
    open_log,
    truncate_output,
    turn_cost,
)
from eventkit.log.store import EventStore

FORMAT = "claude-code"
PROVIDER = "claude-code"
TITLE_CHARS = 80
UNKNOWN_MODEL = "unknown"

_INTERRUPTED = "[Request interrupted by user"
_COMMAND_PREFIXES = ("<command-name>", "<command-message>")
_LOCAL_PREFIXES = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "<bash-input>",
    "<bash-stdout>",
    "<bash-stderr>",
    "<user-memory-input>",
)
_DENIED_PREFIXES = (
    "The user doesn't want to proceed with this tool use",
    "The user doesn't want to take this action right now",
    "Claude requested permissions to use",
    "Permission to use ",
)
_END_OF_TURN = frozenset({"turn_duration", "stop_hook_summary"})
_UNMAPPED_TYPES = frozenset(
    {"file-history-snapshot", "queue-operation", "attachment", "custom-title"}
)
"""Record types Claude Code writes that carry nothing to map: skipped without a warning."""
_USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}
_ONE_HOUR = "cache_write_1h"
"""Per-response counter: the part of the cache writes made to the 1-hour cache."""
_CONTEXT_KEYS = ("version", "gitBranch", "cwd")
_COMMAND_NAME = re.compile(r"<command-name>(.*?)</command-name>", re.S)
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)


# --------------------------------------------------------------------------- files


def default_projects_dir() -> Path:
    """Claude Code's sessions: ``$CLAUDE_CONFIG_DIR/projects``, else ``~/.claude/projects``."""
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config).expanduser() if config else Path.home() / ".claude"
    return base / "projects"


def claude_code_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> list[Path]:
    """The session files to import: files as given, directories searched for ``*.jsonl``."""
    if paths is None:
        roots: list[Path] = [default_projects_dir()]
    elif isinstance(paths, str | os.PathLike):
        roots = [Path(paths)]
    else:
        roots = [Path(p) for p in paths]
    files: list[Path] = []
    seen: set[Path] = set()
    for root in roots:
        if root.is_dir():
            # Sessions before subagent files, so a project takes its session's start.
            found = sorted(
                (p for p in root.rglob("*.jsonl") if p.is_file()),
                key=lambda p: ("subagents" in p.parts, p),
            )
        elif root.is_file():
            found = [root]
        else:
            hint = " (set CLAUDE_CONFIG_DIR or pass a path)" if paths is None else ""
            raise SourceNotFoundError(f"no Claude Code logs at {root}{hint}")
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                files.append(path)
    return files


# --------------------------------------------------------------------------- state


@dataclass
class _Out:
    """An event waiting for its thread's ThreadCreated to be written first."""

    event: Event | None
    identity: tuple[object, ...]
    metadata: dict[str, Any]
    once: bool = False
    turn: _Turn | None = None
    """Set for a TurnStarted: built when written, so it carries the turn's model."""
    thread_id: str | None = None
    id_at: datetime | None = None
    """The time the id derives from, when not the event's ``at`` (TurnCompleted)."""


@dataclass
class _Turn:
    id: str
    key: str
    started_at: datetime
    last_at: datetime
    source: dict[str, Any]
    last_source: dict[str, Any]
    context: dict[str, Any]
    model: str | None = None
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    """API response (message id) → its usage counters, the largest value seen of each."""
    models: dict[str, str] = field(default_factory=dict)
    """API response → the model that answered it."""
    recorded_costs: dict[str, float] = field(default_factory=dict)
    """API response → the cost the log recorded for it (``costUSD``, older versions)."""
    interrupted: bool = False
    error: str | None = None
    ended_by: str | None = None
    answered: bool = False
    """The turn's latest response is text with no tool call after it."""
    thinking_blocks: int = 0
    thinking_chars: int = 0


@dataclass
class _Call:
    id: str
    turn: _Turn
    done: bool = False


@dataclass
class _Command:
    text: str
    key: str
    at: datetime
    source: dict[str, Any]
    context: dict[str, Any]


@dataclass
class _Thread:
    id: str
    ns: str
    """Namespace of derived ids: the thread id, tagged for progress-line subagents."""
    kind: str
    parent_id: str | None = None
    first_at: datetime | None = None
    source: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    first_prompt: str | None = None
    model: str | None = None
    summary: str | None = None
    turn: _Turn | None = None
    command: _Command | None = None
    calls: dict[str, _Call] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    outs: list[_Out] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _content_text(content: object) -> str:
    """Text of a message or tool_result content: a string, or blocks joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False)
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "text":
                parts.append(str(block.get("text") or ""))
            elif kind == "image":
                parts.append("[image]")
            elif kind is not None:
                parts.append(f"[{kind}]")
    return "\n".join(parts)


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _command_text(text: str) -> str:
    name = _COMMAND_NAME.search(text)
    args = _COMMAND_ARGS.search(text)
    parts = [name.group(1).strip() if name else "", args.group(1).strip() if args else ""]
    return " ".join(p for p in parts if p) or text.strip()


def _counters(usage: object) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    out = {}
    for source, target in _USAGE_FIELDS.items():
        value = usage.get(source)
        if isinstance(value, int) and value > 0:
            out[target] = value
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):
        value = creation.get("ephemeral_1h_input_tokens")
        if isinstance(value, int) and value > 0:
            out[_ONE_HOUR] = value
    return out


def _token_usage(counters: dict[str, int]) -> TokenUsage:
    return TokenUsage(**{name: value for name, value in counters.items() if name != _ONE_HOUR})


def _recorded_cost(record: dict[str, Any]) -> float | None:
    value = record.get("costUSD")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _merge_max(into: dict[str, int], counters: dict[str, int]) -> None:
    for name, value in counters.items():
        if value > into.get(name, 0):
            into[name] = value


# --------------------------------------------------------------------------- import


def import_claude_code(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
    log: str | os.PathLike[str] | EventStore,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import Claude Code sessions into ``log``; see the module docstring for the mapping.

    ``paths`` is a file, a directory (searched recursively for ``*.jsonl``), a list
    of those, or None for the default location. ``log`` is a path or an
    :class:`EventStore`. A progress bar shows on a terminal; ``progress=False``
    turns it off, ``True`` forces it on. A path that does not exist raises
    :class:`~eventkit.SourceNotFoundError` before the log is opened.
    """
    files = claude_code_files(paths)
    report = ImportReport(FORMAT)
    store, owned = open_log(log)
    try:
        importer = _Importer(store, report)
        total = sum(path.stat().st_size for path in files)
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc="claude-code",
            disable=not _progress_enabled(progress),
            file=sys.stderr,
        ) as bar:
            for path in files:
                _FileImport(importer, path).run(bar)
        importer.writer.flush()
    finally:
        if owned:
            store.close()
    return report


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")


class _Importer:
    """What lasts across files: the writer, known projects, summary events written once."""

    def __init__(self, store: EventStore, report: ImportReport):
        self.store = store
        self.report = report
        self.writer = EventWriter(store, report)
        self.projects: dict[str, str] = {}
        self.once_ids: set[str] = set()

    def project(self, path: str, at: datetime, source: dict[str, Any]) -> str:
        if path not in self.projects:
            self.projects[path] = ensure_project(self.store, self.writer, path, at, source)
        return self.projects[path]

    def add_all(self, outs: list[_Out]) -> None:
        """Queue a thread's events; one written once is skipped if the log has it."""
        events: list[Event] = []
        once: dict[str, int] = {}
        for index, out in enumerate(outs):
            event = out.event
            if event is None:
                turn = out.turn
                assert turn is not None and out.thread_id is not None
                event = TurnStarted(
                    id=turn.id, thread_id=out.thread_id, model=turn.model, at=turn.started_at
                )
            events.append(event)
            if out.once:
                once[derived_id(out.id_at or event.at, *out.identity)] = index
        present = self._stored(once)
        skip = {index for event_id, index in once.items() if event_id in present}
        self.once_ids.update(once)
        for index, (out, event) in enumerate(zip(outs, events, strict=True)):
            if index in skip:
                self.report.events_already_present += 1
            else:
                self.writer.add(event, out.identity, out.metadata, id_at=out.id_at)

    def _stored(self, event_ids: Iterable[str]) -> set[str]:
        """The ids already queued by this import or stored in the log."""
        found = {event_id for event_id in event_ids if event_id in self.once_ids}
        rest = [event_id for event_id in event_ids if event_id not in found]
        return found | self.store.known_event_ids(rest)


class _FileImport:
    """One file: records are routed to threads whose events are buffered, then written."""

    def __init__(self, importer: _Importer, path: Path):
        self.importer = importer
        self.report = importer.report
        self.path = path
        self.label = str(path)
        self.threads: dict[str, _Thread] = {}
        self.sidechain_roots: dict[str, str] = {}
        self.task_children: dict[str, _Thread] = {}
        self.agent_files: dict[tuple[str, str], bool] = {}
        self.summary: str | None = None
        self.lines = 0

    # ------------------------------------------------------------------ driving

    def run(self, bar: tqdm) -> None:
        self.report.files += 1
        pending_bytes = 0
        try:
            with open(self.path, "rb") as lines:
                for number, raw in enumerate(lines, 1):
                    self.report.lines_read += 1
                    self.lines = number
                    pending_bytes += len(raw)
                    if pending_bytes >= 1 << 20:
                        bar.update(pending_bytes)
                        pending_bytes = 0
                    self._line(raw, number)
        except OSError as exc:  # nothing of a file that cannot be read whole is written
            self.report.skip("unreadable file")
            self.report.warnings.append(f"{self.label}: cannot be read ({exc})")
            self.report.end_file(self.label)
            return
        bar.update(pending_bytes)
        if self.lines == 0:
            self.report.warnings.append(f"{self.label}: empty file; nothing imported")
        self._finish()
        self.report.end_file(self.label)

    def _line(self, raw: bytes, number: int) -> None:
        if not raw.strip():
            self.report.skip("blank line")
            return
        try:
            record = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            # Only the last line can lack its newline: a session cut off mid-write.
            cut = not raw.endswith(b"\n")
            self._skip_with_warning(TRUNCATED_LAST_LINE if cut else INVALID_JSON, number, str(exc))
            return
        if not isinstance(record, dict):
            self._skip_with_warning("not a JSON object", number, type(record).__name__)
            return
        try:
            self._record(record, number)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            self._skip_with_warning("unexpected record shape", number, repr(exc))

    def _skip_with_warning(self, reason: str, number: int, detail: str) -> None:
        self.report.skip_line(self.label, number, reason, detail)

    def _record(self, record: dict[str, Any], number: int) -> None:
        kind = record.get("type")
        if kind == "summary":
            if isinstance(record.get("summary"), str) and record["summary"].strip():
                self.summary = record["summary"]
            self.report.skip("summary")
            return
        at = None
        if "timestamp" in record or kind in ("user", "assistant"):
            at = self._at(record, number)
            if at is None:
                return
        thread = None
        if at is not None and (record.get("sessionId") or kind in ("user", "assistant")):
            # Any record of a session (hooks too) can be its earliest.
            thread = self._thread_for(record)
            self._touch(thread, record, at, self._source(number, record, {}))
        if kind in ("user", "assistant"):
            assert at is not None
            self._message_record(record, number, at, thread, {})
        elif kind == "system":
            self._system(record, at)
        elif kind == "progress":
            self._progress(record, number)
        elif kind in _UNMAPPED_TYPES:
            self.report.skip(f"{kind} line")
        else:
            detail = f"type {kind!r}" if isinstance(kind, str) else "no type"
            self._skip_with_warning(UNKNOWN_RECORD_TYPE, number, detail)

    # ------------------------------------------------------------------ threads

    def _thread(self, thread_id: str, ns: str, kind: str, parent: str | None) -> _Thread:
        thread = self.threads.get(ns)
        if thread is None:
            thread = self.threads[ns] = _Thread(thread_id, ns, kind, parent)
        return thread

    def _session_id(self, record: dict[str, Any]) -> str:
        return str(record.get("sessionId") or self.path.stem)

    def _thread_for(self, record: dict[str, Any]) -> _Thread:
        session = self._session_id(record)
        if not record.get("isSidechain"):
            return self._thread(session, session, "session", None)
        kind = "subagent file" if self.path.name.startswith("agent-") else "sidechain lines"
        agent = record.get("agentId")
        if agent:
            thread_id = f"{session}/agent-{agent}"
        else:
            uuid = record.get("uuid")
            root = self.sidechain_roots.get(record.get("parentUuid")) or uuid or "unknown"
            if uuid:
                self.sidechain_roots[uuid] = root
            thread_id = f"{session}/sidechain-{root}"
        return self._thread(thread_id, thread_id, kind, session)

    def _touch(self, thread: _Thread, record: dict[str, Any], at: datetime, src: dict) -> None:
        if thread.first_at is None or at < thread.first_at:
            thread.first_at = at
        if thread.source is None:
            thread.source = src
        for key in _CONTEXT_KEYS:
            if key not in thread.context and record.get(key):
                thread.context[key] = record[key]

    def _at(self, record: dict[str, Any], number: int) -> datetime | None:
        stamp = record.get("timestamp")
        if not isinstance(stamp, str):
            self._skip_with_warning(f"{record.get('type')} line without timestamp", number, "")
            return None
        try:
            return parse_timestamp(stamp)
        except ValueError:
            self._skip_with_warning("bad timestamp", number, stamp)
            return None

    def _source(self, number: int, record: dict[str, Any], extra: dict) -> dict[str, Any]:
        src: dict[str, Any] = {"format": FORMAT, "file": self.label, "line": number}
        if record.get("uuid"):
            src["uuid"] = record["uuid"]
        src.update(extra)
        return src

    # ------------------------------------------------------------------ records

    def _message_record(
        self,
        record: dict[str, Any],
        number: int,
        at: datetime,
        thread: _Thread | None,
        extra: dict[str, Any],
    ) -> None:
        thread = thread or self._thread_for(record)
        uuid = record.get("uuid")
        if uuid:
            if uuid in thread.seen:
                self.report.skip("repeated record")
                return
            thread.seen.add(uuid)
        src = self._source(number, record, extra)
        self._touch(thread, record, at, src)
        if record["type"] == "user":
            self._user(thread, record, at, src)
        else:
            self._assistant(thread, record, at, src)

    def _system(self, record: dict[str, Any], at: datetime | None) -> None:
        subtype = record.get("subtype")
        self.report.skip(f"system: {subtype}")
        if subtype in _END_OF_TURN and at is not None:
            thread = self._thread_for(record)
            if thread.turn is not None:
                thread.turn.ended_by = subtype

    def _progress(self, record: dict[str, Any], number: int) -> None:
        data = record.get("data") if isinstance(record.get("data"), dict) else {}
        kind = data.get("type")
        if kind != "agent_progress":
            self.report.skip(f"progress: {kind}")
            return
        inner = data.get("message")
        if not isinstance(inner, dict) or inner.get("type") not in ("user", "assistant"):
            self.report.skip("progress: agent_progress without a message")
            return
        session = self._session_id(record)
        agent = str(data.get("agentId") or record.get("parentToolUseID") or "unknown")
        if self._agent_file_exists(session, agent):
            self.report.skip("progress: agent_progress (subagent file imported instead)")
            return
        thread_id = f"{session}/agent-{agent}"
        child = self._thread(thread_id, f"{thread_id}#progress", "progress lines", session)
        if record.get("parentToolUseID"):
            self.task_children[record["parentToolUseID"]] = child
        at = self._at(inner, number)
        if at is None:
            return
        inner = {**inner, "sessionId": session}
        for key in _CONTEXT_KEYS:
            inner.setdefault(key, record.get(key))
        extra = {"progress_uuid": record.get("uuid")}
        self._message_record(inner, number, at, child, extra)

    def _agent_file_exists(self, session: str, agent: str) -> bool:
        key = (session, agent)
        if key not in self.agent_files:
            path = self.path.parent / session / "subagents" / f"agent-{agent}.jsonl"
            self.agent_files[key] = path.is_file()
        return self.agent_files[key]

    # ------------------------------------------------------------------ user lines

    def _user(self, thread: _Thread, record: dict[str, Any], at: datetime, src: dict) -> None:
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
                    self._tool_result(thread, block, record, at, src)
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "text":
                        if str(block.get("text") or "").startswith(_INTERRUPTED):
                            self._interrupt(thread, at, src)
                        else:
                            self.report.skip("user: text beside tool_result")
                return
        text = _content_text(content)
        stripped = text.lstrip()
        if stripped.startswith(_INTERRUPTED):
            self._interrupt(thread, at, src)
        elif stripped.startswith(_COMMAND_PREFIXES):
            self._drop_command(thread)
            key = record.get("uuid") or str(at)
            context = self._turn_context(record)
            thread.command = _Command(_command_text(text), key, at, src, context)
        elif stripped.startswith(_LOCAL_PREFIXES):
            self.report.skip("user: local command output")
        elif not stripped:
            self.report.skip("user: empty prompt")
        else:
            self._drop_command(thread)
            key = record.get("uuid") or str(at)
            self._prompt(thread, text, key, at, src, self._turn_context(record))

    def _turn_context(self, record: dict[str, Any]) -> dict[str, Any]:
        keys = ("version", "gitBranch", "permissionMode")
        return {key: record[key] for key in keys if record.get(key)}

    def _drop_command(self, thread: _Thread) -> None:
        if thread.command is not None:
            self.report.skip("user: local command (no model response)")
            thread.command = None

    def _prompt(
        self, thread: _Thread, text: str, key: str, at: datetime, src: dict, context: dict
    ) -> _Turn:
        self._close_turn(thread, "next prompt")
        turn = self._open_turn(thread, key, at, src, context)
        message_id = derived_id(at, thread.ns, key, "user-message")
        event = MessageAdded(
            id=message_id, thread_id=thread.id, turn_id=turn.id, role="user", text=text, at=at
        )
        self._emit(thread, event, (thread.ns, key, "MessageAdded"), {"source": src})
        self.report.counts["messages"] += 1
        if thread.first_prompt is None:
            thread.first_prompt = text
        return turn

    def _open_turn(
        self, thread: _Thread, key: str, at: datetime, src: dict, context: dict
    ) -> _Turn:
        turn_id = derived_id(at, thread.ns, key, "turn")
        turn = thread.turn = _Turn(turn_id, key, at, at, src, src, context)
        metadata = {"source": src, **context}
        identity = (thread.ns, key, "TurnStarted")
        thread.outs.append(_Out(None, identity, metadata, True, turn, thread.id))
        self.report.counts["turns"] += 1
        return turn

    def _interrupt(self, thread: _Thread, at: datetime, src: dict) -> None:
        self.report.skip("user: interruption marker")
        if thread.turn is not None:
            thread.turn.interrupted = True
            self._extend(thread.turn, at, src)

    def _extend(self, turn: _Turn, at: datetime, src: dict) -> None:
        if at >= turn.last_at:
            turn.last_at, turn.last_source = at, src

    def _tool_result(
        self, thread: _Thread, block: dict, record: dict, at: datetime, src: dict
    ) -> None:
        use_id = block.get("tool_use_id")
        call = thread.calls.get(use_id) if isinstance(use_id, str) else None
        if call is None:
            self.report.skip("tool_result: unknown tool_use")
            return
        if call.done:
            self.report.skip("tool_result: repeated")
            return
        call.done = True
        text = _content_text(block.get("content"))
        if not block.get("is_error"):
            status = "ok"
        elif text.lstrip().startswith(_DENIED_PREFIXES):
            status = "denied"
        else:
            status = "error"
        if text.lstrip().startswith(_INTERRUPTED):
            call.turn.interrupted = True
        metadata: dict[str, Any] = {"source": {**src, "tool_use_id": use_id}}
        output = truncate_output(text, metadata)
        event = ToolCallCompleted(
            id=call.id,
            thread_id=thread.id,
            turn_id=call.turn.id,
            status=status,
            output=output,
            at=at,
        )
        self._emit(thread, event, (thread.ns, use_id, "ToolCallCompleted"), metadata)
        self._extend(call.turn, at, src)
        child = self.task_children.pop(use_id, None)
        if child is not None:
            self._finish_child(child, record, status, text, at, src)

    def _finish_child(
        self, child: _Thread, record: dict, status: str, text: str, at: datetime, src: dict
    ) -> None:
        """A ``Task`` result ends a progress-line subagent: add its final answer and usage."""
        turn = child.turn
        if turn is None:
            return
        result = record.get("toolUseResult")
        if isinstance(result, dict):
            final = _content_text(result.get("content"))
            key = record.get("uuid") or str(at)
            if final.strip():
                message_id = derived_id(at, child.ns, key, "final-message")
                event = MessageAdded(
                    id=message_id,
                    thread_id=child.id,
                    turn_id=turn.id,
                    role="assistant",
                    text=final,
                    at=at,
                )
                self._emit(child, event, (child.ns, key, "FinalMessage"), {"source": src})
                self.report.counts["messages"] += 1
            if final_usage := _counters(result.get("usage")):
                _merge_max(turn.usage.setdefault("final answer", {}), final_usage)
            if result.get("status") not in (None, "completed") and status == "ok":
                turn.error = f"subagent status {result.get('status')}"
        if text.lstrip().startswith(_INTERRUPTED):
            turn.interrupted = True
        elif status != "ok":
            turn.error = text or status
        self._extend(turn, at, src)
        self._close_turn(child, "Task result")

    # ------------------------------------------------------------------ assistant lines

    def _assistant(self, thread: _Thread, record: dict, at: datetime, src: dict) -> None:
        message = record["message"]
        model = message.get("model")
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        blocks = blocks if isinstance(blocks, list) else []
        if record.get("isApiErrorMessage"):
            turn = self._turn_for_response(thread, record, at, src)
            turn.error = _content_text(blocks).strip() or str(record.get("error") or "API error")
            self._extend(turn, at, src)
            self.report.skip("assistant: API error message")
            return
        if model == "<synthetic>":
            self.report.skip("assistant: synthetic message")
            return
        turn = self._turn_for_response(thread, record, at, src)
        self._extend(turn, at, src)
        turn.error = None
        if model:
            turn.model = turn.model or model
            thread.model = thread.model or model
        response = message.get("id") or f"line {src['line']}"
        _merge_max(turn.usage.setdefault(response, {}), _counters(message.get("usage")))
        if model:
            turn.models.setdefault(response, model)
        recorded = _recorded_cost(record)
        if recorded is not None:
            turn.recorded_costs[response] = max(recorded, turn.recorded_costs.get(response, 0.0))
        turn.ended_by = "end_turn" if message.get("stop_reason") == "end_turn" else None
        extra = {"message_id": message.get("id"), "request_id": record.get("requestId")}
        base = {**src, **{k: v for k, v in extra.items() if v}}
        key = record.get("uuid") or f"line {src['line']}"
        for index, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                self._assistant_text(thread, turn, block, key, index, at, base)
            elif kind in ("thinking", "redacted_thinking"):
                turn.thinking_blocks += 1
                turn.thinking_chars += len(block.get("thinking") or block.get("data") or "")
                self.report.skip("assistant: thinking block")
            elif kind == "tool_use":
                self._tool_use(thread, turn, block, at, base)
            else:
                self.report.skip(f"assistant: {kind} block")
        kinds = [block.get("type") for block in blocks if isinstance(block, dict)]
        if "tool_use" in kinds:
            turn.answered = False
        elif "text" in kinds:
            turn.answered = True

    def _turn_for_response(self, thread: _Thread, record: dict, at: datetime, src: dict) -> _Turn:
        command = thread.command
        if command is not None:  # the model answers a slash command: it was a prompt
            thread.command = None
            return self._prompt(
                thread, command.text, command.key, command.at, command.source, command.context
            )
        if thread.turn is None:
            key = record.get("uuid") or f"line {src['line']}"
            self.report.counts["turns without a prompt"] += 1
            return self._open_turn(thread, key, at, src, self._turn_context(record))
        return thread.turn

    def _assistant_text(
        self, thread: _Thread, turn: _Turn, block: dict, key: str, index: int, at: datetime, src
    ) -> None:
        text = str(block.get("text") or "")
        if not text.strip():
            self.report.skip("assistant: empty text block")
            return
        message_id = derived_id(at, thread.ns, key, index, "assistant-message")
        event = MessageAdded(
            id=message_id, thread_id=thread.id, turn_id=turn.id, role="assistant", text=text, at=at
        )
        metadata = {"source": {**src, "block": index}}
        self._emit(thread, event, (thread.ns, key, index, "MessageAdded"), metadata)
        self.report.counts["messages"] += 1

    def _tool_use(self, thread: _Thread, turn: _Turn, block: dict, at: datetime, src) -> None:
        use_id = block.get("id")
        if not isinstance(use_id, str) or not use_id or use_id in thread.calls:
            self.report.skip("assistant: repeated tool_use")
            return
        call_id = derived_id(at, thread.ns, use_id, "tool-call")
        thread.calls[use_id] = _Call(call_id, turn)
        arguments = block.get("input")
        metadata: dict[str, Any] = {"source": {**src, "tool_use_id": use_id}}
        if not isinstance(arguments, dict):
            arguments = {"input": arguments}
            metadata["input_raw"] = True
            self.report.counts["tool inputs kept raw (not a JSON object)"] += 1
            self.report.warn_line(
                self.label,
                src["line"],
                f"input of tool_use {use_id} ({block.get('name') or 'unknown'}) is not a JSON "
                'object; kept as {"input": ...}',
            )
        event = ToolCallStarted(
            id=call_id,
            thread_id=thread.id,
            turn_id=turn.id,
            tool=str(block.get("name") or "unknown"),
            input=arguments,
            at=at,
        )
        self._emit(thread, event, (thread.ns, use_id, "ToolCallStarted"), metadata)
        self.report.counts["tool calls"] += 1

    # ------------------------------------------------------------------ completion

    def _emit(
        self,
        thread: _Thread,
        event: Event,
        identity: tuple,
        metadata: dict,
        once: bool = False,
        id_at: datetime | None = None,
    ) -> None:
        thread.outs.append(_Out(event, identity, metadata, once, id_at=id_at))

    def _close_turn(self, thread: _Thread, reason: str) -> None:
        turn = thread.turn
        if turn is None:
            return
        thread.turn = None
        outcome = "interrupted" if turn.interrupted else "error" if turn.error else "success"
        totals: Counter[str] = Counter()
        parts = []
        for response, counters in turn.usage.items():
            totals.update(counters)
            parts.append(
                UsagePart(
                    model=turn.models.get(response) or turn.model,
                    usage=_token_usage(counters),
                    cache_write_1h_tokens=counters.get(_ONE_HOUR, 0),
                    recorded_usd=turn.recorded_costs.get(response),
                )
            )
        cost, cost_source, cost_meta = turn_cost(self.report, parts)
        metadata: dict[str, Any] = {
            "source": turn.last_source,
            "completed_by": turn.ended_by if reason == "end of file" else reason,
            "responses": len(turn.usage),
        }
        if turn.thinking_blocks:
            metadata["thinking"] = {"blocks": turn.thinking_blocks, "chars": turn.thinking_chars}
        if cost_meta:
            metadata["cost"] = cost_meta
        event = TurnCompleted(
            id=turn.id,
            thread_id=thread.id,
            outcome=outcome,
            error=turn.error if outcome == "error" else None,
            usage=_token_usage(totals),
            cost_usd=cost,
            cost_source=cost_source,
            at=max(turn.last_at, turn.started_at),
        )
        # One id per turn (from its start), however far the file had grown when it ended.
        identity = (thread.ns, turn.key, "TurnCompleted")
        self._emit(thread, event, identity, metadata, once=True, id_at=turn.started_at)

    def _finish(self) -> None:
        threads = sorted(self.threads.values(), key=lambda t: t.parent_id is not None)
        if self.summary is not None and threads and threads[0].parent_id is None:
            threads[0].summary = self.summary
        for thread in threads:
            self._drop_command(thread)
            turn = thread.turn
            if turn is not None:
                if turn.interrupted or turn.error:
                    turn.ended_by = turn.ended_by or (
                        "interrupted" if turn.interrupted else "error"
                    )
                open_calls = any(
                    not call.done and call.turn is turn for call in thread.calls.values()
                )
                if not turn.ended_by and turn.answered and not open_calls:
                    turn.ended_by = "final answer"  # the file ends after the model's answer
                if turn.ended_by:
                    self._close_turn(thread, "end of file")
                else:
                    self.report.counts["turns left open"] += 1
            open_calls = sum(1 for call in thread.calls.values() if not call.done)
            if open_calls:
                self.report.counts["tool calls without a result"] += open_calls
            if thread.outs:
                self._write(thread)

    def _write(self, thread: _Thread) -> None:
        importer = self.importer
        assert thread.first_at is not None and thread.source is not None
        path = thread.context.get("cwd") or str(self.path.parent)
        source = {k: v for k, v in thread.source.items() if k != "uuid"}
        project_id = importer.project(path, thread.first_at, source)
        title = thread.summary or _title(thread.first_prompt or "")
        event = ThreadCreated(
            id=thread.id,
            project_id=project_id,
            title=title,
            provider=PROVIDER,
            model=thread.model or UNKNOWN_MODEL,
            parent_thread_id=thread.parent_id,
            at=thread.first_at,
        )
        metadata = {"source": thread.source, **thread.context}
        if thread.parent_id is not None:
            metadata["subagent_source"] = thread.kind
        created = _Out(event, (thread.ns, "ThreadCreated"), metadata, once=True)
        importer.add_all([created, *thread.outs])
        self.report.threads += 1
        self.report.counts["threads"] += 1
        if thread.parent_id is not None:
            self.report.counts[f"subagent threads ({thread.kind})"] += 1


__all__ = [
    "claude_code_files",
    "default_projects_dir",
    "import_claude_code",
]
