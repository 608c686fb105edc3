"""A log at a glance: counts by event type, sequence range, streams — read-only."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import Any

from eventkit.errors import LogNotFoundError, driver_errors, sqlite_errors
from eventkit.log.files import open_log_readonly, resolve_log_path

__all__ = ["open_log_readonly", "stats"]

# One set of queries for both engines (SQLite for a log, DuckDB for a dataset).
_TOTALS = (
    "SELECT count(*), min(sequence), max(sequence), {first}, {last},"
    " count(DISTINCT stream_id) FROM events"
)
_LOG_TOTALS = _TOTALS.format(first="min(occurred_at)", last="max(occurred_at)")
# A dataset's occurred_at is a TIMESTAMPTZ (in UTC on eventkit's connections): the
# log's text form, made in SQL (fetching it as a datetime would need pytz).
_DATASET_TOTALS = _TOTALS.format(
    first="strftime(min(occurred_at), '%Y-%m-%dT%H:%M:%S.%fZ')",
    last="strftime(max(occurred_at), '%Y-%m-%dT%H:%M:%S.%fZ')",
)
_BY_TYPE = "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type"
_BY_KIND = (
    "SELECT substr(stream_id, 1, instr(stream_id || ':', ':') - 1) AS kind,"
    " count(DISTINCT stream_id) FROM events GROUP BY kind ORDER BY kind"
)


def stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts by event type, sequence and time range, stream count and the log's id.

    ``path`` names a log, or a Parquet dataset directory written by
    :func:`~eventkit.export_parquet`: its counts are those of the logs it holds, and
    ``source_logs`` lists their ids (``log_id`` is the id when there is one log).
    """
    try:
        conn = open_log_readonly(path)
    except LogNotFoundError:
        if not Path(path).is_dir() or resolve_log_path(path).exists():
            raise
        conn = None  # a directory without a log: a dataset, or an error that says so
    if conn is None:
        return _dataset_stats(path)
    with closing(conn), sqlite_errors("reading the log"):
        totals = conn.execute(_LOG_TOTALS).fetchone()
        by_type = conn.execute(_BY_TYPE).fetchall()
        by_kind = conn.execute(_BY_KIND).fetchall()
        info = dict(conn.execute("SELECT key, value FROM log_info"))
    return _summary(str(resolve_log_path(path)), info.get("log_id"), totals, by_type, by_kind)


def _dataset_stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    from eventkit.read.readers import connect_duckdb  # the read engine loads on first use

    con = connect_duckdb(path)  # raises LogNotFoundError when it is no dataset either
    try:
        with driver_errors("reading the dataset"):
            totals = con.execute(_DATASET_TOTALS).fetchone()
            by_type = con.execute(_BY_TYPE).fetchall()
            by_kind = con.execute(_BY_KIND).fetchall()
            listed = con.execute("SELECT source_log FROM eventkit_sources ORDER BY 1").fetchall()
            sources = [source for (source,) in listed]
    finally:
        con.close()
    result = _summary(
        str(path), sources[0] if len(sources) == 1 else None, totals, by_type, by_kind
    )
    result["source_logs"] = sources
    return result


def _summary(log: str, log_id: Any, totals: tuple, by_type: list, by_kind: list) -> dict[str, Any]:
    total, first_seq, last_seq, first_at, last_at, streams = totals
    return {
        "log": log,
        "log_id": log_id,
        "events": total,
        "first_sequence": first_seq,
        "last_sequence": last_seq,
        "first_occurred_at": first_at,
        "last_occurred_at": last_at,
        "streams": streams,
        "streams_by_kind": dict(by_kind),
        "events_by_type": dict(by_type),
    }
