"""Import Codex CLI rollout files (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``).

Each line is ``{timestamp, type, payload}``. This module finds the files; the records
are read in :mod:`eventkit.importers.codex_records` (what they hold in
:mod:`eventkit.importers.codex_fields`) and the events come from
:class:`~eventkit.importers.session_builder.SessionBuilder`. Tested on the rollouts of
Codex CLI 0.40.0 and 0.125.0 in ``data/fixtures/codex`` and on files derived from them
(``tests/test_import_codex.py``).

Never looking ahead
    Every event is a function of the lines up to the one being read, so a rollout
    imported while it grows and again when it is whole gives exactly the events of one
    import of the whole file (event ids derive from the session, the file name and the
    line, never from the clock or the price table). Where a later line tells something
    about an earlier one, the rule follows the order Codex writes them in:

    - a prompt written both as a ``message`` item and a ``user_message`` event (an
      answer: ``agent_message`` and ``message``) counts once, as the one written first
      in its turn (both recordings write the item first for prompts, the event first
      for answers);
    - a tool's status comes from what was written up to its output: an
      ``exec_command_end``/``patch_apply_end``/``mcp_tool_call_end`` written before it,
      else the output itself (a ``success`` flag, a legacy ``metadata.exit_code``,
      ``Exit code: N`` or ``Process exited with code N``, a ``… failed`` message, a
      refusal → ``denied``). An exec output that says ``Process running with session ID
      N`` (unified exec, 0.5x on) is not the end: the call completes at its
      ``exec_command_end`` or at the first ``write_stdin`` output that reports process N
      exited, whichever comes first, with the exit code's status and the call's own
      output; until then it is a started call (a process still running when the file
      ends stays so). A ``write_stdin`` poll is ``ok`` unless it failed itself; the exit
      code it saw is kept as ``process_exit_code``;
    - a ``web_search_call`` and its ``web_search_end`` are one call: whichever is
      written first (0.125 writes the end first; its ``call_id`` names the call) starts
      and completes it (a call written ``in_progress`` completes at its end), and the
      other, with the same query in the same turn, is skipped;
    - a turn's model is the one of the ``turn_context`` in force when it starts (0.40
      writes that record after the prompt, so a session's first turn has none); each
      model call names the model in force at its ``token_count``; the thread's model is
      left to the read side (its first model call's).
Threads
    ``session_meta`` → ThreadCreated (provider ``codex``, id = the session id, project
    from ``cwd``), titled by its first prompt (ThreadRenamed) and by
    ``thread_name_updated``. Codex's fields (cli_version, originator, source,
    model_provider, git, fork and agent fields) go to its metadata. A session already
    in the log from another file is continued, not created twice. A file without
    ``session_meta`` takes its session id from the file name; a file whose first record
    is not a Codex record is not a rollout (skipped with a warning).
Child rollouts
    A rollout whose ``session_meta.source`` is ``{"subagent": …}`` (a ``thread_spawn``
    subagent, a review, a compaction), or that has ``forked_from_id``, is a child
    thread: ``parent_thread_id`` = ``thread_spawn.parent_thread_id``, else the top-level
    ``parent_thread_id``, else ``forked_from_id``. No rollout names the call that spawned
    it, so ``parent_tool_call_id`` stays empty. A forked child (``forked_from_id``, or a
    second ``session_meta`` with another id) first copies its parent's history: its
    messages and every ``event_msg``, ``token_count`` included. That history is skipped
    (counted as inherited); its ``token_count`` totals only raise the counter's
    high-water mark, so the child counts only what it spent. The child's own part
    starts at a ``task_started`` or ``turn_context`` whose UUIDv7 turn id is not older
    than the child's id, a ``turn_context`` without one, or a record a fork never copies
    (tool calls and outputs, reasoning, an assistant message that is not a final answer).
Turns
    A turn starts at ``task_started`` (newer versions; its ``turn_id`` is the turn's id,
    and prompts inside it join it) or, in versions without task events (0.3x, 0.40), at
    each prompt. It ends only at a positive marker: ``task_complete`` (``duration_ms``
    kept), ``turn_aborted`` (``interrupted``), the next prompt (versions without task
    events) or the next ``task_started``; an ``error`` event makes its outcome
    ``error``. Codex writes no session-end record. A turn without a marker at the end of
    the file stays running (its last activity gives its span) and its tokens count. A
    call still without an output when its turn ends fails then (``metadata.inferred``);
    a turn ended by the next prompt while a call waited was ``interrupted``.
Prompts and answers
    User messages that are not context: environment, AGENTS.md / user instructions,
    skills, shell-command and abort markers, and developer/system messages are
    skipped. An IDE prompt (``# Context from my IDE setup:``) keeps only the request;
    the IDE context goes to metadata.
Tools
    ``function_call``, ``custom_tool_call`` (``apply_patch``'s free-form input kept as
    ``{"input": …}``), ``local_shell_call`` and web searches → ToolCallStarted, their
    outputs by ``call_id`` → ToolCallCompleted (statuses above). Arguments that are not
    a JSON object are kept as ``{"raw": …}`` and named in a warning. Long outputs keep
    head and tail.
Usage and cost
    ``token_count.info.total_token_usage`` is cumulative. Each ``token_count`` whose
    total moved above the counter's high-water mark is one model call
    (ModelCallCompleted, id from the session, file and line, ``revision`` 1, in the turn
    open at that line) whose usage is the difference: ``input_tokens`` − cached →
    input, ``cached_input_tokens`` → cache reads, ``output_tokens`` (reasoning
    included) → output, ``reasoning_output_tokens`` → reasoning. So the calls sum to the
    file's final total. An unchanged total or ``info: null`` adds nothing. A total below
    the mark is a restarted counter when it equals its own ``last_token_usage`` (a new
    process's first report) or is zero: it is counted from zero; otherwise it is a
    stale or interleaved report and only components above the mark count. A file's first
    total above its own ``last_token_usage`` went on from history the file does not
    hold (a session resumed into a new file): only that last call counts. Rollouts
    record no cost: each call is priced on its model from the shipped price table
    (``estimated``); a model the table does not know leaves it empty and is named in
    the report. TurnCompleted carries zero usage and no cost.
Skipped
    Reasoning, ghost snapshots, compaction records, turn contexts, duplicates, end
    events (read for statuses), unmapped payload types, each by reason; damaged lines
    are skipped and named (``file:line``), see
    :meth:`~eventkit.importers.import_run.SourceFile.jsonl_records`, and so are lines of
    an ``unknown record type``, ``record without payload`` and ``no timestamp``. A bad
    file never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from eventkit.errors import SourceNotFoundError
from eventkit.importers.codex_fields import FORMAT, PROVIDER
from eventkit.importers.codex_records import RolloutFile
from eventkit.importers.common import ImportReport
from eventkit.importers.import_run import ImportRun
from eventkit.importers.session_builder import SessionBuilder
from eventkit.log.store import EventStore


def import_codex(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | EventStore | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import Codex rollout files into ``log``; see the module docstring for the mapping.

    ``paths`` is a rollout file, a directory (searched recursively for ``*.jsonl``), a
    list of them, or None for ``$CODEX_HOME/sessions`` (default ``~/.codex/sessions``).
    ``log`` is a log path or an open :class:`~eventkit.EventStore` (required). A
    progress bar shows in a terminal (``progress=False`` or ``TQDM_DISABLE`` turn it
    off). A path that does not exist raises :class:`~eventkit.SourceNotFoundError`
    before the log is opened.
    """
    files = rollout_files(paths)
    total = sum(path.stat().st_size for path in files)
    with ImportRun(FORMAT, log, progress=progress, total_bytes=total) as run:
        builder = SessionBuilder(run, provider=PROVIDER)
        for path in files:
            with run.file(path) as source:
                RolloutFile(builder, source).run()
            builder.end_file()
        builder.finish()
    return run.report


def default_sessions_dir() -> Path:
    """``$CODEX_HOME/sessions``, or ``~/.codex/sessions``."""
    home = os.environ.get("CODEX_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".codex") / "sessions"


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
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


__all__ = ["default_sessions_dir", "import_codex", "rollout_files"]
