"""Consistent copies of a live log through SQLite's online backup API.

A WAL-mode log is never copied as a file: committed pages may still sit in the
``-wal`` file. ``backup`` reads through SQLite instead, so the copy is a consistent
snapshot even while writers append, and checks it with ``PRAGMA integrity_check``
before moving it into place.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from eventkit.errors import EventkitError, StorageError, sqlite_errors
from eventkit.log.files import open_log_readonly, resolve_log_path
from eventkit.progress import progress_bar

PAGES_PER_STEP = 4096


@dataclass(frozen=True)
class BackupResult:
    path: Path
    pages: int
    events: int
    last_sequence: int


def backup(
    log: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | None = None,
) -> BackupResult:
    """Copy ``log`` to ``dest`` consistently; verified by ``integrity_check``.

    ``dest`` is a file path (a directory gets ``events.db`` inside). An existing
    ``dest`` is refused unless ``overwrite``; a failed backup leaves nothing behind.
    """
    target = resolve_log_path(dest)
    if target.exists() and not overwrite:
        raise EventkitError(f"{target} already exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(open_log_readonly(log)) as source, closing(sqlite3.connect(partial)) as copy:
            with sqlite_errors(f"backing up {log}"):
                total = source.execute("PRAGMA page_count").fetchone()[0]
                with progress_bar(total=total, desc="backup", unit="page", enabled=progress) as bar:

                    def step(status: int, remaining: int, pages: int) -> None:
                        bar.n = pages - remaining
                        bar.refresh()

                    source.backup(copy, pages=PAGES_PER_STEP, progress=step)
                verdict = copy.execute("PRAGMA integrity_check").fetchall()
                if verdict != [("ok",)]:
                    raise StorageError(f"the backup of {log} failed its integrity check: {verdict}")
                events, last = copy.execute(
                    "SELECT count(*), coalesce(max(sequence), 0) FROM events"
                ).fetchone()
                pages = copy.execute("PRAGMA page_count").fetchone()[0]
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, pages, events, last)
