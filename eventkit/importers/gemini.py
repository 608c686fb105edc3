"""Import Gemini CLI chat recordings into an eventkit log.

Gemini CLI records each session under ``~/.gemini/tmp/<project>/chats/``
(``$GEMINI_CLI_HOME`` replaces the home directory: ``$GEMINI_CLI_HOME/.gemini``, or
``$GEMINI_CLI_HOME`` itself when it holds ``tmp/``), a subagent's chat under
``chats/<parentSessionId>/<id>.jsonl``. This module only parses records
(:mod:`eventkit.importers.gemini_records`); the events come from
:class:`~eventkit.importers.session_builder.SessionBuilder`, which never looks ahead
(``docs/importers.md``). The mapping:

Forms
    The older form (2025) is one JSON object per file (``sessionId``, ``projectHash``,
    ``startTime``, ``lastUpdated``, ``messages``), rewritten in place as the session
    grows. The newer one (2026) is JSON Lines: a header line (the same keys and
    ``kind``), then message records, which are upserts by ``id`` (a record is written
    again whole when its tool calls or tokens are added), ``{"$set": {...}}`` lines that
    update header fields, and ``{"$rewindTo": id}`` lines. Both are read record by
    record, in order; a record's versions are told to the builder as they come.
Threads
    One thread per session (id = ``sessionId``; a subagent's is
    ``<parentSessionId>/<sessionId>``, with ``parent_thread_id`` = the parent session),
    provider ``gemini``, written at the header with the project of the chat: the path
    gemini-cli keeps in ``.project_root`` beside ``chats/``, else
    ``gemini-project:<projectHash>``. Its title is the first prompt; a ``summary`` (a
    ``$set`` field, or the single-JSON object's) restates it (ThreadRenamed). The model
    is the read side's (the first model call's).
Prompts and turns
    A ``user`` record is a prompt (TurnStarted, MessageAdded role user): it ends the
    open turn (``next prompt``). The prompt's text is what the person typed
    (``displayContent`` when recorded, e.g. ``/init`` for the expanded prompt the model
    got; a slash command is named in the turn's metadata), else ``content``. User
    records gemini-cli writes itself are not prompts: tool results sent back
    (``functionResponse`` parts, which complete a call still running), the "System:
    Please continue." it sends after an invalid stream and the ``<state_snapshot>``
    summary of a context compression (system messages in the open turn), and the
    ``<session_context>`` it records first (skipped). A turn ends only at a positive
    marker: the next prompt, an ``info`` "Request cancelled." (``interrupted``), a
    ``$rewindTo`` line (``completed_by`` ``rewind``), and in a subagent chat a
    successful ``complete_task`` call. A turn with none at the end of the file stays
    running.
Responses and usage
    Every ``gemini`` record id is one model call (ModelCallCompleted, id = the record
    id, model = its ``model``), records with all-zero or null ``tokens`` included. A
    ``gemini`` record with neither ``tokens`` nor ``model`` is not a response but
    history gemini-cli re-records after compressing the context (copies of earlier
    responses under new ids, its "Got it." acknowledgement): skipped, as are the
    prompts it re-records then (a prompt's text read again after a ``<state_snapshot>``,
    before a response, ``$patch`` or rewind ends the re-recorded history).
    Tokens: uncached input ``input − cached + tool``, output ``output + thoughts``,
    reasoning ``thoughts``, cache reads ``cached``. The call's revision is 1 while the
    record has no token counts and 2 once it has them, so a record rewritten with its
    tool calls added is not restated, and one whose counts arrive later is. Its text is
    an assistant message (a later version that extends it adds a MessageDelta);
    ``thoughts`` are counted in the turn's metadata. A record with no open turn opens
    one without a prompt. Costs are estimated from the price table.
Tool calls
    ``toolCalls`` entries are tool calls (id = ``<sessionId>:<id>``; gemini-cli's ids
    are short random strings): started when first seen, completed when a version shows
    a final ``status`` (``success`` → ok, ``error`` → error, ``cancelled`` → denied),
    with the text of the ``result``'s function responses as output; ``resultDisplay``,
    ``displayName``, ``description`` and the source status go to metadata, and a call
    that ran a subagent (``agentId``) names the subagent's thread there
    (``subagent_thread_id``). gemini-cli records that link only once the subagent has
    finished, so a subagent thread's ``parent_tool_call_id`` stays empty: written at the
    subagent chat's first line, it could not say the same in every import.
Notices and rewinds
    ``info``, ``warning`` and ``error`` records are system messages; an error is the
    open turn's error (it ends as ``error``) unless a response follows it. A rewind
    removes records from gemini-cli's view of the session only: the log is append-only
    and those responses spent their tokens, so everything already read stays.
Skipped
    ``$set`` lines are counted (``summary`` retitles; ``messages``, the context
    rewritten after compression, is not re-read: its records were read as they came),
    and so are ``$patch`` lines (records updated or removed from gemini-cli's view).
    A record repeated unchanged adds nothing. An unknown record ``type`` (a newer
    version's) is skipped with a warning naming the line; damaged lines are skipped and
    named (``file:line``); a file whose first line is neither a session header nor a
    record, or a ``.json`` file that is not a chat object, is skipped whole as
    ``not a Gemini CLI chat recording``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventkit.errors import SourceNotFoundError
from eventkit.importers.common import ImportReport
from eventkit.importers.gemini_fields import FORMAT, PROVIDER
from eventkit.importers.gemini_records import Chat, ChatFile
from eventkit.importers.import_run import ImportRun
from eventkit.importers.session_builder import SessionBuilder

# --------------------------------------------------------------------------- files


def default_gemini_dir() -> Path:
    """Gemini CLI's state folder: ``$GEMINI_CLI_HOME/.gemini`` (or ``$GEMINI_CLI_HOME``
    itself when it holds ``tmp/``), else ``~/.gemini``."""
    home = os.environ.get("GEMINI_CLI_HOME")
    if not home:
        return Path.home() / ".gemini"
    base = Path(home).expanduser()
    nested = base / ".gemini"
    if nested.is_dir() or not (base / "tmp").is_dir():
        return nested
    return base


def _chat_files(folder: Path) -> list[Path]:
    """A folder's chat files: the tool's layout (``chats/session-*.json`` and every
    ``*.jsonl`` under ``chats/``) where it has one, else every ``*.json[l]`` below it."""
    if folder.name == "chats":
        chats = [folder]
    else:
        patterns = ("chats", "*/chats", "tmp/*/chats")
        chats = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_dir()})
    if chats:
        found = []
        for root in chats:
            found += root.glob("session-*.json")
            found += root.rglob("*.jsonl")
        return [p for p in found if p.is_file()]
    return [p for p in (*folder.rglob("*.json"), *folder.rglob("*.jsonl")) if p.is_file()]


def gemini_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> list[Path]:
    """The chat files to import: files as given, folders searched (:func:`_chat_files`).

    A session's files come before its subagents' (one folder deeper), and a
    ``session-….json`` before the ``.jsonl`` that gemini-cli continues it in.
    """
    if paths is None:
        roots: list[Path] = [default_gemini_dir() / "tmp"]
    elif isinstance(paths, str | os.PathLike):
        roots = [Path(paths)]
    else:
        roots = [Path(p) for p in paths]
    found: dict[Path, tuple[int, str, Path]] = {}
    for root in roots:
        if root.is_dir():
            candidates = _chat_files(root)
        elif root.is_file():
            candidates = [root]
        else:
            hint = " (set GEMINI_CLI_HOME or pass a path)" if paths is None else ""
            raise SourceNotFoundError(f"no Gemini CLI chats at {root}{hint}")
        for path in candidates:
            depth = len(path.relative_to(root).parts) if root.is_dir() else 0
            found.setdefault(path.resolve(), (depth, str(path), path))
    return [path for _, _, path in sorted(found.values())]


def import_gemini(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | Any | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import Gemini CLI chat recordings into ``log``; see the module docstring.

    ``paths`` is a file, a folder (a ``chats`` folder, a project's or Gemini CLI's
    ``tmp`` folder, or any folder of copied recordings), a list of those, or None for
    the default location (``~/.gemini/tmp/*/chats``, :func:`default_gemini_dir`).
    ``log`` is a path or an :class:`~eventkit.EventStore` (required). A progress bar
    shows on a terminal; ``progress=False`` turns it off. A path that does not exist
    raises :class:`~eventkit.SourceNotFoundError` before the log is opened.
    """
    files = gemini_files(paths)
    total = sum(path.stat().st_size for path in files)
    with ImportRun(FORMAT, log, progress=progress, total_bytes=total) as run:
        builder = SessionBuilder(run, provider=PROVIDER)
        chats: dict[str, Chat] = {}
        for path in files:
            with run.file(path) as source:
                ChatFile(builder, source, chats).run()
            builder.end_file()
        builder.finish()
    return run.report


__all__ = ["default_gemini_dir", "gemini_files", "import_gemini"]
