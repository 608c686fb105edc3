"""What Claude Code's records hold: markers, content text, usage, commands, subagent links.

Shared by :mod:`eventkit.importers.claude_code_records` (which reads the records) and
:mod:`eventkit.importers.claude_code` (which finds the files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from eventkit.catalog.events import TokenUsage
from eventkit.importers.session_builder import ThreadState

FORMAT = "claude-code"
PROVIDER = "claude-code"

INTERRUPTED = "[Request interrupted by user"
COMMAND_PREFIXES = ("<command-name>", "<command-message>")
LOCAL_PREFIXES = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "<bash-input>",
    "<bash-stdout>",
    "<bash-stderr>",
    "<user-memory-input>",
)
DENIED_PREFIXES = (
    "The user doesn't want to proceed with this tool use",
    "The user doesn't want to take this action right now",
    "Claude requested permissions to use",
    "Permission to use ",
)
SESSION_END_COMMANDS = frozenset({"/exit", "/quit"})
END_STOP_REASONS = frozenset({"end_turn", "stop_sequence"})
END_SUBTYPES = frozenset({"turn_duration", "stop_hook_summary"})
STOP_HOOK = re.compile(r"(?:\x1b\[1m)?Stop(?:\x1b\[22m)? ")
"""A 1.0.x ``system`` line (no subtype) saying the Stop hook ran: the turn is over."""
UNMAPPED_TYPES = frozenset(
    {"file-history-snapshot", "queue-operation", "attachment", "custom-title", "tag"}
)
"""Record types that carry nothing to map: skipped by reason, without a warning."""
CONTEXT_KEYS = ("version", "gitBranch", "cwd")
TURN_KEYS = ("version", "gitBranch", "permissionMode")
SUBAGENT_RESULT_KEYS = (
    "agentId",
    "status",
    "totalTokens",
    "totalDurationMs",
    "totalToolUseCount",
    "usage",
)
_COMMAND_NAME = re.compile(r"<command-name>(.*?)</command-name>", re.S)
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.S)


@dataclass
class SubagentLinks:
    """What links subagents to the calls that started them, across the import's files."""

    task_prompts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(session, Task prompt) → the Task calls with that prompt, in source order."""
    agent_calls: dict[tuple[str, str], str] = field(default_factory=dict)
    """(session, agentId) → the Task call, from agent_progress lines and Task results."""
    linked: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    """Task calls whose result the parent has shown: their subagent's turn is over."""
    children: dict[str, ThreadState] = field(default_factory=dict)
    """Task call → the subagent thread it started."""
    transcripts: dict[tuple[Path, str, str], bool] = field(default_factory=dict)

    def call_for(self, session: str, prompt: str | None, agent: str | None) -> str | None:
        for call in self.task_prompts.get((session, prompt or ""), ()):
            if call not in self.linked:
                return call
        return self.agent_calls.get((session, agent or ""))


@dataclass
class PendingCommand:
    """A slash command waiting for the model's answer, which makes it a prompt."""

    text: str
    key: str
    at: datetime
    source: dict[str, Any]
    context: dict[str, Any]


def content_text(content: object) -> str:
    """Text of a message or tool_result content: a string, or blocks joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return str(content)
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


def command_of(text: str) -> tuple[str, str]:
    """``(name, "/name args")`` of a slash-command line."""
    name = _COMMAND_NAME.search(text)
    args = _COMMAND_ARGS.search(text)
    command = name.group(1).strip() if name else ""
    if command and not command.startswith("/"):
        command = "/" + command
    joined = " ".join(p for p in (command, args.group(1).strip() if args else "") if p)
    return command, joined or text.strip()


def _int(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_of(usage: object) -> tuple[TokenUsage, int]:
    """The line's token counts, and the 1-hour part of its cache writes."""
    if not isinstance(usage, dict):
        return TokenUsage(), 0
    creation = usage.get("cache_creation")
    one_hour = _int(creation.get("ephemeral_1h_input_tokens")) if type(creation) is dict else 0
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
        cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
    ), one_hour


def recorded_cost(record: dict[str, Any]) -> float | None:
    value = record.get("costUSD")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def prompt_of(record: dict[str, Any]) -> str | None:
    """The text of a user line that is a plain prompt (not a command, result or marker)."""
    if record.get("type") != "user" or record.get("isMeta") or record.get("isCompactSummary"):
        return None
    content = (record.get("message") or {}).get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None
    text = content_text(content)
    stripped = text.lstrip()
    if not stripped or stripped.startswith((INTERRUPTED, *COMMAND_PREFIXES, *LOCAL_PREFIXES)):
        return None
    return text


__all__ = [
    "COMMAND_PREFIXES",
    "CONTEXT_KEYS",
    "DENIED_PREFIXES",
    "END_STOP_REASONS",
    "END_SUBTYPES",
    "FORMAT",
    "INTERRUPTED",
    "LOCAL_PREFIXES",
    "PROVIDER",
    "PendingCommand",
    "SESSION_END_COMMANDS",
    "STOP_HOOK",
    "SUBAGENT_RESULT_KEYS",
    "SubagentLinks",
    "TURN_KEYS",
    "UNMAPPED_TYPES",
    "command_of",
    "content_text",
    "prompt_of",
    "recorded_cost",
    "usage_of",
]
