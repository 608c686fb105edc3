"""What Codex rollout records hold: prompts, tool outputs, exit codes and the token counter.

Pure functions and small value types used by :mod:`eventkit.importers.codex_records`;
nothing here writes events. The mapping is described in :mod:`eventkit.importers.codex`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventkit.catalog.events import TokenUsage

FORMAT = "codex"
PROVIDER = "codex"

RECORD_TYPES = frozenset(
    {"session_meta", "turn_context", "response_item", "event_msg", "compacted"}
)
"""Top-level record types of a rollout that are read; see :data:`UNMAPPED_RECORD_TYPES`."""
UNMAPPED_RECORD_TYPES = {
    "token_usage_record": "token_usage_record (usage is counted from token_count)",
    "world_state": "world_state (not mapped)",
    "inter_agent_communication": "inter_agent_communication (not mapped)",
    "inter_agent_communication_metadata": "inter_agent_communication (not mapped)",
    "security_risk_score": "security_risk_score (not mapped)",
    "realtime_item": "realtime_item (not mapped)",
}
"""Top-level types newer versions add (reported in public issues), skipped by reason; any
other type is skipped as ``unknown record type`` and named in a warning."""

CONTEXT_PREFIXES = (
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

IDE_CONTEXT = "# Context from my IDE setup:"
IDE_REQUEST = "## My request for Codex:"

POLL_TOOLS = frozenset({"write_stdin"})
"""Tools that poll a running process: the exit code they see is the process's, not theirs."""

THREAD_META_FIELDS = (
    "cli_version",
    "originator",
    "source",
    "model_provider",
    "git",
    "forked_from_id",
    "thread_source",
    "agent_nickname",
    "agent_role",
    "agent_path",
)
"""``session_meta`` fields kept in the ThreadCreated's metadata."""
TURN_CONTEXT_FIELDS = ("model", "approval_policy", "sandbox_policy", "effort", "summary", "cwd")
"""``turn_context`` fields kept in the TurnCompleted's metadata (``context``)."""

SKIP_RESPONSE_ITEMS = {
    "reasoning": "reasoning (not mapped)",
    "ghost_snapshot": "ghost_snapshot (git snapshot, not mapped)",
    "compaction": "compaction (not mapped)",
}
SKIP_EVENTS = {
    "agent_reasoning": "agent_reasoning (not mapped)",
    "agent_reasoning_raw_content": "agent_reasoning (not mapped)",
    "agent_reasoning_section_break": "agent_reasoning (not mapped)",
    "context_compacted": "compaction (not mapped)",
    "stream_error": "stream_error (retried by Codex)",
}

NEVER_COPIED_ITEMS = frozenset(
    {
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
        "reasoning",
    }
)
"""Response items a forked rollout never copies from its parent: the child's own."""

EXIT_RE = re.compile(r"(?:Exit code:|Process exited with code)\s*(-?\d+)")
RUNNING_RE = re.compile(r"Process running with session ID\s+(\d+)")
FAILED_RE = re.compile(r"^[\w .-]{0,60}?\bfailed\b|^unsupported call\b", re.IGNORECASE)
REJECTED_RE = re.compile(r"\brejected by (?:the )?user\b", re.IGNORECASE)
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# --------------------------------------------------------------------------- texts


def block_texts(content: Any) -> list[str]:
    """The texts of a message's content (a string, or blocks with ``text``)."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]


def is_context(text: str) -> bool:
    return text.lstrip()[:64].lower().startswith(CONTEXT_PREFIXES)


def prompt_of(texts: list[str]) -> tuple[str | None, str | None]:
    """The prompt in a user message's texts and its IDE context; None if all is context."""
    kept = [t for t in texts if t.strip() and not is_context(t)]
    if not kept:
        return None, None
    text = "\n".join(kept)
    if text.lstrip().startswith(IDE_CONTEXT) and IDE_REQUEST in text:
        head, _, request = text.partition(IDE_REQUEST)
        return request.strip(), head.strip()
    return text, None


def text_key(text: str) -> str:
    """A text compared with whitespace runs collapsed (a prompt written twice)."""
    return " ".join(text.split())


def session_id_from_name(name: str) -> str | None:
    """The last UUID in a rollout's file name (its session id)."""
    found = _UUID_RE.findall(name.lower())
    return found[-1] if found else None


def uuid7_ms(value: Any) -> int | None:
    """The millisecond of a UUIDv7 (Codex's thread and turn ids), None for other ids."""
    if not isinstance(value, str) or len(value) != 36 or value[14] != "7":
        return None
    try:
        return int(value[:8] + value[9:13], 16)
    except ValueError:
        return None


def find_key(value: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in nested dicts."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = find_key(item, key)
            if found is not None:
                return found
    return None


def search_key(action: Any) -> str:
    """What pairs a ``web_search_call`` with its ``web_search_end``: the query (or URL)."""
    if isinstance(action, dict):
        action = action.get("query") or action.get("url") or action.get("pattern") or action
    if isinstance(action, str):
        return text_key(action)
    return orjson.dumps(action, option=orjson.OPT_SORT_KEYS).decode()


# --------------------------------------------------------------------------- tools


@dataclass(slots=True)
class Output:
    """A tool output as the rollout writes it."""

    text: str
    exit_code: int | None = None
    success: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_output(value: Any) -> Output:
    """A tool output: plain text, legacy JSON text with metadata, or content blocks."""
    if isinstance(value, dict):
        out = read_output(value.get("content", value.get("output", "")))
        if isinstance(value.get("success"), bool):
            out.success = value["success"]
        return out
    if isinstance(value, list):
        return Output("\n".join(block_texts(value)))
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if text.startswith("{") and '"metadata"' in text:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("output"), str):
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            code = meta.get("exit_code")
            extra = {k: v for k, v in meta.items() if k != "exit_code"}
            return Output(data["output"], code if isinstance(code, int) else None, None, extra)
    match = EXIT_RE.search(text, 0, 2000)
    return Output(text, int(match.group(1)) if match else None)


def running_session(text: str) -> int | None:
    """The process session an exec output says is still running, if it says so."""
    match = RUNNING_RE.search(text, 0, 2000)
    return int(match.group(1)) if match else None


def parse_arguments(arguments: Any) -> tuple[dict[str, Any], bool]:
    """Tool input as a JSON object, and whether it had to be kept raw."""
    if isinstance(arguments, dict):
        return arguments, False
    if isinstance(arguments, str):
        try:
            value = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value, False
        return {"raw": arguments}, True
    return {"raw": orjson.dumps(arguments).decode()}, True


def mcp_success(result: Any) -> bool | None:
    """Whether an ``mcp_tool_call_end`` result succeeded (None when it does not say)."""
    if isinstance(result, dict):
        if "Err" in result:
            return False
        ok = result.get("Ok")
        if isinstance(ok, dict):
            return not (ok.get("isError") or ok.get("is_error"))
    return None


# --------------------------------------------------------------------------- usage

Totals = tuple[int, int, int, int]
"""A Codex usage block: (input incl. cached, cached, output incl. reasoning, reasoning)."""
ZERO: Totals = (0, 0, 0, 0)
_USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def raw_usage(data: Any) -> Totals | None:
    """A Codex usage block as :data:`Totals` (missing or bad counts are 0); None if absent."""
    if not isinstance(data, dict):
        return None
    values = []
    for name in _USAGE_KEYS:
        value = data.get(name, 0)
        values.append(value if type(value) is int and value >= 0 else 0)
    return values[0], values[1], values[2], values[3]


def as_usage(delta: Totals) -> TokenUsage:
    """Catalog usage of a Codex block: cached input split out, reasoning inside output."""
    d_in, d_cached, d_out, d_reason = delta
    return TokenUsage(
        input_tokens=max(0, d_in - d_cached),
        cache_read_tokens=d_cached,
        output_tokens=d_out,
        reasoning_tokens=min(d_reason, d_out),
    )


@dataclass(slots=True)
class Reading:
    """What one ``token_count`` line adds: ``delta`` (None: nothing) and why."""

    kind: str
    """``call`` (the total moved up), ``restart`` (a new counter, counted from its value),
    ``regression`` (lower than the high-water mark: only components above it count),
    ``seeded`` (a file's first total, carrying usage from before the file: its last
    call counts),
    ``repeat`` (unchanged), ``baseline`` (inherited history), ``per call`` (an early
    form without a cumulative total), ``none`` (no usage)."""
    delta: Totals | None = None
    total: Totals | None = None


class CumulativeCounter:
    """The rollout's cumulative ``total_token_usage``, read one line at a time.

    Every reading depends only on the lines before it: each total that moves above the
    high-water mark adds the difference; an unchanged total adds nothing; a total below
    the mark is a *restart* when it equals its own ``last_token_usage`` (a new process's
    first report, or all zero) and then counts from zero, else a stale or interleaved
    report that adds only the components above the mark. The file's first total is
    *seeded* when it exceeds its own ``last_token_usage``: the counter went on from
    history this file does not hold (a session resumed into a new file), so only that
    last call counts.
    """

    def __init__(self) -> None:
        self.high: Totals = ZERO
        self.seen = False
        """Whether a total was read (inherited ones included)."""

    def read(self, payload: dict[str, Any], *, inherited: bool = False) -> Reading:
        info = payload.get("info")
        if not isinstance(info, dict):
            if info is None and "input_tokens" in payload:  # an early per-call form
                usage = raw_usage(payload)
                if inherited or usage is None:
                    return Reading("baseline" if inherited else "none")
                return Reading("per call", usage, None)
            return Reading("none")
        total = raw_usage(info.get("total_token_usage"))
        if total is None:
            return Reading("none")
        high = self.high
        first, self.seen = not self.seen, True
        if inherited:
            self.high = _top(high, total)
            return Reading("baseline", None, total)
        if total == high:
            return Reading("repeat", None, total)
        last = raw_usage(info.get("last_token_usage"))
        if first and last is not None and last != total and _covers(total, last):
            self.high = total
            return Reading("seeded", last if last != ZERO else None, total)
        if _covers(total, high):
            self.high = total
            return Reading("call", _minus(total, high), total)
        if total == ZERO or (last is not None and last == total):
            self.high = total
            return Reading("restart", total if total != ZERO else None, total)
        self.high = _top(high, total)
        delta = _minus(self.high, high)
        return Reading("regression", delta if delta != ZERO else None, total)


def _covers(a: Totals, b: Totals) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] >= b[2] and a[3] >= b[3]


def _top(a: Totals, b: Totals) -> Totals:
    return max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _minus(a: Totals, b: Totals) -> Totals:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]


__all__ = [
    "FORMAT",
    "PROVIDER",
    "RECORD_TYPES",
    "CumulativeCounter",
    "Output",
    "Reading",
    "Totals",
    "as_usage",
    "block_texts",
    "parse_arguments",
    "prompt_of",
    "raw_usage",
    "read_output",
]
