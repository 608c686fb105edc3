"""What Gemini CLI chat records hold: parts, token counts, tool calls and their results.

Pure functions over one record's fields, used by
:mod:`eventkit.importers.gemini_records`; the mapping is described in
:mod:`eventkit.importers.gemini`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson

from eventkit.catalog.events import TokenUsage

FORMAT = "gemini"
PROVIDER = "gemini"

RECORD_TYPES = ("user", "gemini", "info", "error", "warning")
"""Message ``type``s of the recording (``ConversationRecordExtra`` in gemini-cli)."""

TOOL_STATUS: dict[str, Literal["ok", "error", "denied"]] = {
    "success": "ok",
    "error": "error",
    "cancelled": "denied",
}
"""A tool call's final ``status`` → the catalog's; other statuses (``scheduled``,
``validating``, ``awaiting_approval``, ``executing``) leave the call running."""

RUNNING_STATUSES = ("scheduled", "validating", "awaiting_approval", "executing")

CANCELLED_NOTICE = "request cancelled."
"""The ``info`` record gemini-cli writes when the person cancels a request (casefolded)."""

CONTINUATION_PROMPT = "system: please continue."
"""The text gemini-cli sends as a user message to resume after an invalid stream."""

SUBAGENT_DONE_TOOL = "complete_task"
"""The tool a subagent calls to finish its task: the end of its turn."""

HEADER_FIELDS = (
    "sessionId",
    "projectHash",
    "startTime",
    "lastUpdated",
    "kind",
    "summary",
    "directories",
)
"""Session fields kept in the thread's metadata (``summary`` becomes its title)."""

MAX_DISPLAY_CHARS = 4 * 1024
"""Longest text kept of a tool call's ``resultDisplay`` (in metadata)."""


def is_header(record: dict[str, Any]) -> bool:
    """A session line: ``sessionId`` without a message ``id`` or ``type``."""
    return isinstance(record.get("sessionId"), str) and "id" not in record and "type" not in record


META_LINES = ("$set", "$rewindTo", "$patch")
"""Lines that change the session rather than add a record."""

SESSION_CONTEXT = "<session_context>"
"""How the environment context gemini-cli records as a first ``user`` record begins."""

STATE_SNAPSHOT = "<state_snapshot>"
"""How the summary gemini-cli records when it compresses the context begins."""


def is_record_line(record: dict[str, Any]) -> bool:
    """A line only a chat recording writes: a message record, ``$set``, ``$rewindTo`` or
    ``$patch``."""
    if any(key in record for key in META_LINES):
        return True
    return isinstance(record.get("id"), str) and record.get("type") in RECORD_TYPES


def parts_of(content: Any) -> list[Any]:
    """A ``PartListUnion`` as a list: a string, one part, or a list of parts/strings."""
    if content is None:
        return []
    if isinstance(content, list):
        return content
    return [content]


def text_of(content: Any) -> str:
    """The text of a content (joined as gemini-cli joins it); other parts as ``[kind]``.

    Thought parts (``thought: true``) and function calls/responses are left out: they
    are the model's reasoning and the tool calls, mapped elsewhere.
    """
    out: list[str] = []
    for part in parts_of(content):
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            if part.get("thought") is True:
                continue
            text = part.get("text")
            if isinstance(text, str):
                out.append(text)
            elif "functionCall" in part or "functionResponse" in part:
                continue
            elif part:
                out.append(f"[{next(iter(part))}]")
    return "".join(out)


def function_responses(content: Any) -> list[dict[str, Any]]:
    """The ``functionResponse`` objects among a content's parts."""
    found = []
    for part in parts_of(content):
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict):
            found.append(part["functionResponse"])
    return found


def only_tool_responses(content: Any) -> bool:
    """True when a content is nothing but function responses (tool results sent back)."""
    parts = parts_of(content)
    return bool(parts) and len(function_responses(content)) == len(parts)


def written_by_cli(record: dict[str, Any]) -> bool:
    """A ``user`` record gemini-cli wrote itself, not a prompt: tool results sent back
    to the model, or the continuation it sends after an invalid stream (whose
    ``displayContent``, when recorded, is the tool results it follows)."""
    content, display = record.get("content"), record.get("displayContent")
    if only_tool_responses(content):
        return True
    if display is not None and only_tool_responses(display):
        return True
    return text_of(content).strip().casefold() == CONTINUATION_PROMPT


def is_response(record: dict[str, Any]) -> bool:
    """A ``gemini`` record the CLI wrote for a model response: it has ``tokens`` (null
    until counted) or ``model``. One without both is history gemini-cli re-records after
    compressing the context (copies of earlier responses, its "Got it." acknowledgement,
    an interruption note), not a response."""
    return "tokens" in record or "model" in record


def usage_of(tokens: Any) -> tuple[TokenUsage, bool, bool]:
    """``(usage, has counts, total agrees)`` of a ``tokens`` object (null in early versions).

    ``input`` includes ``cached``; ``output`` excludes ``thoughts``; ``tool`` is prompt
    input spent on tool use. The catalog's uncached input is ``input − cached + tool``,
    output ``output + thoughts``, reasoning ``thoughts``, cache reads ``cached``.
    """
    if not isinstance(tokens, dict):
        return TokenUsage(), False, True
    n = {key: _count(tokens.get(key)) for key in ("input", "output", "cached", "thoughts", "tool")}
    usage = TokenUsage(
        input_tokens=max(n["input"] - n["cached"], 0) + n["tool"],
        output_tokens=n["output"] + n["thoughts"],
        cache_read_tokens=n["cached"],
        reasoning_tokens=n["thoughts"],
    )
    total = tokens.get("total")
    agrees = (
        not isinstance(total, int) or total == n["input"] + n["output"] + n["thoughts"] + n["tool"]
    )
    return usage, True, agrees


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0
    return int(value)


def result_text(result: Any) -> str:
    """A tool call's ``result`` (function response parts) as the text the model got back."""
    out: list[str] = []
    for part in parts_of(result):
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict):
            out.append(response_text(part["functionResponse"]))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part:
            out.append(f"[{next(iter(part))}]")
    return "\n".join(text for text in out if text)


def response_text(response: dict[str, Any]) -> str:
    """A ``functionResponse``'s text: its ``output``, else its ``error``, else its JSON."""
    body = response.get("response")
    if isinstance(body, dict):
        for key in ("output", "error"):
            if isinstance(body.get(key), str):
                return body[key]
        return orjson.dumps(body).decode() if body else ""
    return body if isinstance(body, str) else ""


def response_failed(response: dict[str, Any]) -> bool:
    body = response.get("response")
    return isinstance(body, dict) and "error" in body and "output" not in body


def display_of(value: Any) -> Any:
    """A ``resultDisplay`` for metadata: strings longer than ``MAX_DISPLAY_CHARS`` cut."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DISPLAY_CHARS else value[:MAX_DISPLAY_CHARS] + "…"
    if isinstance(value, dict):
        return {key: display_of(item) for key, item in value.items()}
    return value


def project_path(path: Path, project_hash: Any) -> str:
    """The project of a chat file: the path gemini-cli keeps in ``.project_root`` beside
    ``chats/``, else ``gemini-project:<projectHash>`` (the hash of a path not recorded)."""
    folder = path.parent
    for candidate in (path.parent, *path.parents):
        if candidate.name == "chats":
            folder = candidate.parent
            break
    marker = folder / ".project_root"
    try:
        root = marker.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        root = ""
    if root:
        return root
    if isinstance(project_hash, str) and project_hash:
        return f"gemini-project:{project_hash}"
    return "(unknown)"


def parent_session(path: Path, kind: Any) -> str | None:
    """A subagent chat's parent session: the folder it lives in (``chats/<parent>/``)."""
    if kind != "subagent" or path.parent.name in ("chats", ""):
        return None
    return path.parent.name


__all__ = [
    "CANCELLED_NOTICE",
    "CONTINUATION_PROMPT",
    "FORMAT",
    "HEADER_FIELDS",
    "META_LINES",
    "PROVIDER",
    "RECORD_TYPES",
    "RUNNING_STATUSES",
    "SESSION_CONTEXT",
    "STATE_SNAPSHOT",
    "SUBAGENT_DONE_TOOL",
    "TOOL_STATUS",
    "display_of",
    "function_responses",
    "is_header",
    "is_record_line",
    "is_response",
    "only_tool_responses",
    "parent_session",
    "parts_of",
    "project_path",
    "response_failed",
    "response_text",
    "result_text",
    "text_of",
    "usage_of",
    "written_by_cli",
]
