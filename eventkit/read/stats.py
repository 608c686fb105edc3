"""A log at a glance: counts by event type, sequence range, streams — read-only."""

from __future__ import annotations

import os
from contextlib import closing
from typing import Any

from eventkit.errors import sqlite_errors
from eventkit.log.files import open_log_readonly, resolve_log_path

__all__ = ["open_log_readonly", "stats"]


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
