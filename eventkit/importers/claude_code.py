"""Import Claude Code session logs (JSONL) into an eventkit log.

Claude Code writes one file per session under ``~/.claude/projects/<project>/``
(``$CLAUDE_CONFIG_DIR/projects`` when that is set), and a subagent's transcript under
``<session>/subagents/agent-<agentId>.jsonl``. This module only parses records; the
events come from :class:`~eventkit.importers.session_builder.SessionBuilder`, which
never looks ahead (``docs/importers.md``). The mapping:

Threads
    The records of one ``sessionId`` form a thread whose id is the sessionId (provider
    ``claude-code``), written at the session's first timestamped record, with the
    project of its ``cwd``. Its title is the file's ``summary`` line when one comes
    before that record, else the first prompt cut to 80 characters; a later
    ``summary`` restates it (ThreadRenamed). The model is left to the read side (the
    first model call's) unless the first record is a response.
Prompts and turns
    A user line whose content is text (not ``tool_result``) is a prompt: it ends the
    open turn (``next prompt``) and starts one (TurnStarted, MessageAdded role user).
    A slash command (``<command-name>``) ends the open turn too; it becomes a prompt,
    with the text ``/name args``, once the model answers it, and is otherwise counted
    as a local command; ``/exit`` (and ``/quit``) end the session's turn. ``isMeta``
    lines, local command output and compaction summaries are not prompts. An assistant
    line with no open turn opens one without a prompt. A turn ends only at a positive
    marker: ``stop_reason`` ``end_turn``/``stop_sequence``, a ``system``
    ``turn_duration`` or ``stop_hook_summary`` line, "[Request interrupted by user…]"
    (``interrupted``), an API error line (``isApiErrorMessage``: ``error``), the next
    prompt or command. A turn with none at the end of the file stays running (most
    versions write ``stop_reason: null`` on every line, so a file that ends after an
    answer may still grow).
Responses and usage
    Lines sharing ``message.id`` are one API response, one model call (id = the
    ``message.id``), whose usage is its last line's counts: ``input_tokens``,
    ``output_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``
    (1-hour writes from ``usage.cache_creation`` priced at their own rate). A
    ``costUSD`` on the line (older versions) is the call's recorded cost. Lines whose
    model is ``<synthetic>`` (written by Claude Code, not a model) are skipped. Each
    non-empty ``text`` block is a MessageAdded (per block: a block never changes once
    written); ``thinking`` blocks are counted in the turn's metadata; ``tool_use`` is
    a ToolCallStarted (id = the ``toolu_…`` id), its ``tool_result`` the
    ToolCallCompleted: ``error`` if ``is_error``, ``denied`` when the text says the user
    or a rule refused it, else ``ok``; a long output keeps head and tail.
Subagents
    A child thread (``parent_thread_id`` = the session; ``parent_tool_call_id`` = the
    ``Task`` call that started it) per subagent: ``isSidechain`` records of a
    ``subagents/agent-<id>.jsonl`` file (or, in older versions, of the session file)
    go to ``<sessionId>/agent-<agentId>`` (``<sessionId>/sidechain-<root uuid>`` without
    an agentId). The call is found in the records: the ``Task`` call whose
    ``input.prompt`` is the subagent's first prompt, else the call an ``agent_progress``
    line or a Task result names with the agentId. When no transcript file exists,
    ``agent_progress`` lines of the session file carry the subagent's messages, tool
    calls and responses instead (never both: a transcript file beside the session
    wins), and the Task result adds its final answer. Their responses are model calls
    (the model names the subagent's) without usage, noted in their metadata: a progress
    line copies only a response's first, partial counts, and the subagent's usage
    counts from its own transcript only. The subagent's turn ends at its own marker or
    when its Task call returns. A Task result's ``toolUseResult.usage`` repeats the
    subagent's usage: it is kept as the result's metadata, not counted; the report
    names a Task whose transcript is absent.
Skipped
    Records that carry nothing to map (``file-history-snapshot``, ``queue-operation``,
    ``attachment``, hook ``progress``, other ``system`` subtypes) and unmapped blocks
    are counted by reason; a record type this module does not know (a newer version's)
    is skipped with a warning naming it. Damaged lines are skipped and named
    (``file:line``), see :meth:`~eventkit.importers.import_run.SourceFile.jsonl_records`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventkit.errors import SourceNotFoundError
from eventkit.importers.claude_code_fields import FORMAT, PROVIDER, SubagentLinks
from eventkit.importers.claude_code_records import SessionFile
from eventkit.importers.common import ImportReport
from eventkit.importers.import_run import ImportRun
from eventkit.importers.session_builder import SessionBuilder

# --------------------------------------------------------------------------- files


def default_projects_dir() -> Path:
    """Claude Code's sessions: ``$CLAUDE_CONFIG_DIR/projects``, else ``~/.claude/projects``."""
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config).expanduser() if config else Path.home() / ".claude"
    return base / "projects"


def claude_code_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> list[Path]:
    """The session files to import: files as given, directories searched for ``*.jsonl``.

    Session files come before subagent files (``…/subagents/agent-*.jsonl``, or
    ``agent-*.jsonl`` beside the sessions in 2.0.x), so that a subagent's parent session,
    and the call that started it, are read first.
    """
    if paths is None:
        roots: list[Path] = [default_projects_dir()]
    elif isinstance(paths, str | os.PathLike):
        roots = [Path(paths)]
    else:
        roots = [Path(p) for p in paths]
    found: list[Path] = []
    seen: set[Path] = set()
    for root in roots:
        if root.is_dir():
            candidates = [p for p in root.rglob("*.jsonl") if p.is_file()]
        elif root.is_file():
            candidates = [root]
        else:
            hint = " (set CLAUDE_CONFIG_DIR or pass a path)" if paths is None else ""
            raise SourceNotFoundError(f"no Claude Code logs at {root}{hint}")
        for path in candidates:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return sorted(
        found, key=lambda p: ("subagents" in p.parts or p.name.startswith("agent-"), str(p))
    )


def import_claude_code(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | Any | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import Claude Code sessions into ``log``; see the module docstring for the mapping.

    ``paths`` is a file, a directory (searched recursively for ``*.jsonl``), a list of
    those, or None for the default location (:func:`default_projects_dir`). ``log`` is
    a path or an :class:`~eventkit.EventStore` (required). A progress bar shows on a
    terminal; ``progress=False`` turns it off. A path that does not exist raises
    :class:`~eventkit.SourceNotFoundError` before the log is opened.
    """
    files = claude_code_files(paths)
    total = sum(path.stat().st_size for path in files)
    with ImportRun(FORMAT, log, progress=progress, total_bytes=total) as run:
        builder = SessionBuilder(run, provider=PROVIDER)
        links = SubagentLinks()
        for path in files:
            with run.file(path) as source:
                SessionFile(builder, source, links).run()
            builder.end_file()
        builder.finish()
    return run.report


__all__ = ["claude_code_files", "default_projects_dir", "import_claude_code"]
