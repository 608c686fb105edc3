"""Import GitHub Copilot CLI sessions into an eventkit log.

Copilot CLI records each session as ``~/.copilot/session-state/<sessionId>/events.jsonl``
(``$COPILOT_HOME`` replaces ``~/.copilot``): one event a line, ``{type, data, id,
timestamp, parentId}``. This module only finds the files; the records are read by
:mod:`eventkit.importers.copilot_events` and the events come from
:class:`~eventkit.importers.session_builder.SessionBuilder`, which never looks ahead
(``docs/importers.md``). The mapping:

Threads
    One thread per session (id = ``sessionId`` of ``session.start``, else the folder's
    name), provider ``copilot``, project = the start's ``context.gitRoot``, else its
    ``cwd``. ``copilotVersion``, ``producer``, ``startTime`` and the ``context`` (branch,
    commits, repository) go to the thread's metadata. The title is the first prompt.
Turns
    A person's turn is an interaction: a ``user.message`` starts it (its ``content``;
    an empty one, as the autopilot's continuation prompt is, takes
    ``transformedContent``) and it runs to the last ``assistant.turn_end`` of its
    ``interactionId``. It ends only at a positive marker: the next ``user.message``
    (or a request of another interaction), the ``assistant.turn_end`` after a
    ``session.task_complete``, an ``abort`` (``interrupted``) or a ``session.shutdown``.
    One with none at the end of the file stays running.
Model calls
    Each ``assistant.turn_start`` / ``turn_end`` pair is one model request: one model
    call, id ``<interactionId>:<turnId>`` (``turnId`` restarts per interaction), model
    = the latest ``session.model_change``'s ``newModel``. Its ``assistant.message``
    lines carry its ``outputTokens`` (reasoning included); its revision is the number of
    messages seen. A pair without a message is a call without tokens.
Usage
    Input and cache figures exist only per model in ``session.shutdown``'s
    ``modelMetrics``, one shutdown line per run of the session (a resumed session adds
    one more): each covers the calls since the previous one. At a shutdown the run's
    last call of each model is restated (revision + 1) with that model's input and cache
    figures, its reasoning tokens, and its own output plus the model's output the run's
    calls do not carry; so per model the calls' totals equal the shutdown figures
    exactly. ``inputTokens`` includes the cache reads and writes (the fixture's 186,809
    input over 6 requests, with a last context of 35,322 tokens, only fits with its
    151,738 cache reads inside): uncached input = ``inputTokens − cacheReadTokens −
    cacheWriteTokens``. A model in the figures without a call in the run gets a call of
    its own (``<sessionId>:<shutdown id>:<model>``, in no turn). A session whose calls
    have no shutdown after them (running, or killed) has output tokens only: counted
    (``sessions without session.shutdown``) and named in a warning.
Premium requests
    Copilot bills premium requests: ``totalPremiumRequests``, the model's
    ``requests.count`` and ``requests.cost`` go to the restated call's metadata
    (``shutdown``) and ``totalPremiumRequests`` is counted in the report. Costs are
    API-price estimates from the price table (Copilot's ``claude-sonnet-4.6`` is priced
    as ``claude-sonnet-4-6``), a comparison figure only; unknown models get none.
Messages and tools
    ``assistant.message`` text is an assistant message (id = ``messageId``); its
    ``toolRequests`` are tool calls (id = ``<sessionId>:<toolCallId>``) started there;
    ``tool.execution_start`` starts one without a request, and
    ``tool.execution_complete`` completes it (``success`` → ok, else error; output the
    ``result.content``, or the error's message). ``session.info`` and
    ``session.error`` are system messages (an error is the open turn's error).
Skipped
    ``system.message`` (the system prompt), mode and model changes, reasoning text
    and the other known records that carry nothing the catalog keeps are counted by
    type. An unknown record type is skipped and named (``file:line``), and so are
    damaged lines; a file whose first line is not a session event is skipped whole as
    ``not a GitHub Copilot CLI session``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventkit.errors import SourceNotFoundError
from eventkit.importers.common import ImportReport
from eventkit.importers.copilot_events import SessionFile
from eventkit.importers.copilot_fields import FORMAT, PROVIDER
from eventkit.importers.import_run import ImportRun
from eventkit.importers.session_builder import SessionBuilder


def default_copilot_dir() -> Path:
    """Copilot CLI's state folder: ``$COPILOT_HOME``, else ``~/.copilot``."""
    home = os.environ.get("COPILOT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".copilot"


def copilot_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> list[Path]:
    """The session files to import: files as given; in a folder, its
    ``session-state/*/events.jsonl`` (or ``*/events.jsonl``) where it has them, else
    every ``*.jsonl`` below it."""
    if paths is None:
        roots: list[Path] = [default_copilot_dir() / "session-state"]
    elif isinstance(paths, str | os.PathLike):
        roots = [Path(paths)]
    else:
        roots = [Path(p) for p in paths]
    found: dict[Path, Path] = {}
    for root in roots:
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            candidates = sorted(root.glob("session-state/*/events.jsonl"))
            candidates = candidates or sorted(root.glob("*/events.jsonl"))
            candidates = candidates or sorted(root.rglob("*.jsonl"))
        else:
            hint = " (set COPILOT_HOME or pass a path)" if paths is None else ""
            raise SourceNotFoundError(f"no GitHub Copilot CLI sessions at {root}{hint}")
        for path in candidates:
            if path.is_file():
                found.setdefault(path.resolve(), path)
    return list(found.values())


def import_copilot(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | Any | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import GitHub Copilot CLI sessions into ``log``; see the module docstring.

    ``paths`` is a file, a folder (Copilot's ``session-state`` folder, one session's
    folder, or any folder of copied ``.jsonl`` files), a list of those, or None for the
    default location (``~/.copilot/session-state/*/events.jsonl``, or under
    ``$COPILOT_HOME``). ``log`` is a path or an :class:`~eventkit.EventStore`
    (required). A progress bar shows on a terminal; ``progress=False`` turns it off.
    A path that does not exist raises :class:`~eventkit.SourceNotFoundError` before
    the log is opened.
    """
    files = copilot_files(paths)
    total = sum(path.stat().st_size for path in files)
    with ImportRun(FORMAT, log, progress=progress, total_bytes=total) as run:
        builder = SessionBuilder(run, provider=PROVIDER)
        for path in files:
            with run.file(path) as source:
                SessionFile(builder, source).run()
            builder.end_file()
        builder.finish()
    return run.report


__all__ = ["copilot_files", "default_copilot_dir", "import_copilot"]
