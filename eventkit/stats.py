"""A log at a glance: counts by event type, sequence range, streams — read-only."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from .errors import LogNotFoundError, NotAnEventLogError, sqlite_errors
from .migrations import resolve_log_path


def open_log_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only SQLite connection to an existing log (never creates or migrates).

    Falls back to ``immutable=1`` when the log sits where SQLite cannot create its
    shared-memory file (a read-only directory or mount).
    """
    log_path = resolve_log_path(path)
    if not log_path.is_file():
        raise LogNotFoundError(f"no eventkit log at {Path(path)}")
    uri = log_path.resolve().as_uri()
    last_error: Exception | None = None
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, check_same_thread=False)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            last_error = exc
            continue
        if "events" not in tables or "schema_migrations" not in tables:
            conn.close()
            raise NotAnEventLogError(f"{log_path} is not an eventkit log")
        return conn
    with sqlite_errors(f"opening {log_path}"):
        raise last_error  # type: ignore[misc]


def stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts by event type, sequence and time range, stream count and the log's id."""
    with closing(open_log_readonly(path)) as conn, sqlite_errors("reading the log"):
        total, first_seq, last_seq, first_at, last_at, streams = conn.execute(
            "SELECT count(*), min(sequence), max(sequence), min(occurred_at), max(occurred_at),"
            " count(DISTINCT stream_id) FROM events"
        ).fetchone()
        by_type = conn.execute(
            "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type"
        ).fetchall()
        by_kind = conn.execute(
            "SELECT substr(stream_id, 1, instr(stream_id || ':', ':') - 1) AS kind,"
            " count(DISTINCT stream_id) FROM events GROUP BY kind ORDER BY kind"
        ).fetchall()
        info = dict(conn.execute("SELECT key, value FROM log_info"))
    return {
        "log": str(resolve_log_path(path)),
        "log_id": info.get("log_id"),
        "events": total,
        "first_sequence": first_seq,
        "last_sequence": last_seq,
        "first_occurred_at": first_at,
        "last_occurred_at": last_at,
        "streams": streams,
        "streams_by_kind": dict(by_kind),
        "events_by_type": dict(by_type),
    }
