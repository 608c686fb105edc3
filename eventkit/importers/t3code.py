"""Import t3code's orchestration event store (``~/.t3/userdata/state.sqlite``).

t3code keeps its own event log, table ``orchestration_events`` (one row per domain
event, ``payload_json`` in camelCase). The database is opened read-only by
:mod:`eventkit.log.files`: with ``mode=ro`` when a ``-wal`` file exists (t3code is
running or has not checkpointed; the WAL's content is read too), else with
``immutable=1`` so that no ``-wal``/``-shm`` file is created beside it (on read-only
media, a pending WAL is read from a private copy). Rows are read in ``sequence`` order
in one read transaction. Event ids derive from t3code's ``event_id``, so importing again
writes nothing and a grown database adds only what is new.

No public recording of a t3code database exists. This mapping follows t3code's
published orchestration schema and event shapes, and is tested against a synthetic
database built to that schema (``tests/fixtures/t3code/build_state.py``), not
against a real one.

- ``project.created`` / ``project.meta-updated`` (with a title) / ``project.deleted``
  → ProjectCreated / ProjectRenamed / ProjectDeleted (ids are t3code's).
- ``thread.created`` → ThreadCreated (provider from ``modelSelection.provider`` or
  ``instanceId``, default ``t3code``); ``thread.meta-updated`` with a title →
  ThreadRenamed; ``thread.archived`` → ThreadArchived; ``thread.deleted`` →
  ThreadDeleted. ``thread.unarchived`` has no canonical event and is skipped.
- Turns: ``thread.turn-start-requested`` → TurnStarted, then the user's MessageAdded
  (its ``thread.message-sent`` comes just before and waits for it). The turn id is the
  ``activeTurnId`` that the next running ``thread.session-set`` gives it (t3code's own
  turn id); a request that never ran keeps an id derived from the request. A session
  going from running to idle/ready/stopped/interrupted/error → TurnCompleted
  (``error`` on error status or after a ``runtime.error`` activity, with the error
  text); ``thread.turn-interrupt-requested`` → TurnCompleted ``interrupted`` at once,
  as t3code's own projection does. No token usage is recorded in these events.
- ``thread.message-sent``: streamed text arrives in chunks of one message id: the
  first → MessageAdded, later ones → MessageDelta, the empty closing message is
  skipped. A closing message with the full text adds what the chunks lacked, if any.
- ``thread.activity-appended``: ``tool.started``/``tool.completed``/``tool.denied`` →
  ToolCallStarted/ToolCallCompleted, paired by ``metadata.providerItemId`` (or an item
  id in the payload), else first-in-first-out per turn and item type. The tool is the
  payload's ``toolName`` or ``itemType`` (``command_execution``, ``file_change``, …);
  the input holds ``itemType``/``detail``/``title``. Activities carry no tool output,
  so the output is empty unless the payload has one (``detail`` and ``data`` go to
  metadata); status ``error`` for a failed status or a non-zero exit code, ``denied``
  for ``tool.denied``. A completion without a start in the log starts the call too.
  ``approval.requested`` + ``thread.approval-response-requested`` (or
  ``approval.resolved``) → ApprovalResolved, ``requested_at`` from the request, the
  tool call from the request's item id (else the turn's last open call).
  ``runtime.error`` becomes the turn's error. Other kinds are skipped.
- ``thread.turn-diff-completed`` → CheckpointCreated (id derived from the event,
  ``git_ref`` = checkpointRef, files and line counts summed from ``files``);
  ``thread.reverted`` → CheckpointRestored of the newest checkpoint with that turn
  count.
- Ids are t3code's. t3code scopes message and item ids by thread; when a second
  thread reuses one, its eventkit id is prefixed ``<threadId>/``.
- Other event types are skipped with a reason (unknown ones named as such), and
  ``orchestration_v2_*`` tables, if present, are reported as found and not read.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from eventkit.errors import DuplicateEventError, EventkitError
from eventkit.importers.common import ImportReport
from eventkit.importers.import_run import ImportRun
from eventkit.importers.t3code_mapping import FORMAT, KNOWN_UNMAPPED, T3codeMapper
from eventkit.importers.t3code_source import check_tables, open_source, prescan, rows
from eventkit.log.store import EventStore


def default_state_path() -> Path:
    """``$T3CODE_HOME/userdata/state.sqlite``, or ``~/.t3/userdata/state.sqlite``."""
    home = os.environ.get("T3CODE_HOME")
    return (Path(home) if home else Path.home() / ".t3") / "userdata" / "state.sqlite"


def import_t3code(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    log: str | os.PathLike[str] | EventStore | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import t3code's ``state.sqlite`` (default: :func:`default_state_path`) into ``log``.

    ``paths`` is the database (or a list holding it alone). ``log`` is a log path or an
    open :class:`~eventkit.EventStore` (required). The source is only read. A progress bar
    shows in a terminal (``progress=False`` turns it off). A missing source raises
    :class:`~eventkit.SourceNotFoundError` before the log is opened.
    """
    source = _state_path(paths)
    conn = open_source(source)
    try:
        conn.execute("BEGIN")  # one snapshot for both passes
        notes = check_tables(conn, source)
        turn_ids, claimed = prescan(conn)
        total = conn.execute("SELECT count(*) FROM orchestration_events").fetchone()[0]
        with ImportRun(FORMAT, log, progress=progress, total_bytes=total, unit="event") as run:
            run.report.warnings.extend(notes)
            with run.file(source) as file:
                importer = T3codeMapper(file, run, turn_ids, claimed)
                try:
                    for row in rows(conn):
                        importer.row(row)
                        run.advance(1)
                    importer.finish()
                except DuplicateEventError as exc:
                    run.report.warnings.append(
                        f"{source}: not fully imported: it differs from what an earlier "
                        f"import wrote: {exc}"
                    )
    except sqlite3.DatabaseError as exc:
        raise EventkitError(f"cannot read {source} as a t3code database: {exc}") from None
    finally:
        conn.close()
    return run.report


def _state_path(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None) -> Path:
    if paths is None:
        return default_state_path()
    if isinstance(paths, str | os.PathLike):
        return Path(paths).expanduser()
    given = [Path(p).expanduser() for p in paths]
    if len(given) != 1:
        raise EventkitError("t3code imports one state.sqlite at a time")
    return given[0]


__all__ = ["KNOWN_UNMAPPED", "default_state_path", "import_t3code"]
