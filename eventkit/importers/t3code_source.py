"""Reading t3code's ``state.sqlite``: the checks, the rows, the turn-id prescan and
what its payloads say (statuses, decisions, item ids).

The database is opened read-only by :mod:`eventkit.log.files` (see
:mod:`eventkit.importers.t3code`); rows come in ``sequence`` order.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventkit.errors import EventkitError, SourceNotFoundError
from eventkit.log.files import connect_readonly

RUNNING = frozenset({"starting", "running"})
SETTLED = frozenset({"idle", "ready", "stopped", "interrupted", "error"})
DECISIONS = {
    "accept": "accepted",
    "acceptforsession": "accepted",
    "accepted": "accepted",
    "approved": "accepted",
    "allow": "accepted",
    "decline": "declined",
    "declined": "declined",
    "denied": "declined",
    "deny": "declined",
    "reject": "declined",
    "rejected": "declined",
    "cancel": "cancelled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "abort": "cancelled",
}
FAILED = frozenset({"failed", "error", "errored"})
DENIED = frozenset({"declined", "denied", "rejected"})

_COLUMNS = (
    "sequence",
    "event_id",
    "aggregate_kind",
    "stream_id",
    "stream_version",
    "event_type",
    "occurred_at",
    "command_id",
    "causation_event_id",
    "correlation_id",
    "actor_kind",
    "payload_json",
    "metadata_json",
)


def open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise SourceNotFoundError(f"no t3code database at {path}")
    # Without a -wal file every row is in the main file: immutable=1 reads it with no
    # locks and creates no -wal/-shm beside it. With one, read it (and the WAL) read-only.
    try:
        conn = connect_readonly(path, leave_no_files=True)
    except sqlite3.DatabaseError as exc:
        raise EventkitError(f"{path} is not a readable SQLite database: {exc}") from None
    conn.isolation_level = None  # transactions are begun explicitly
    return conn


def check_tables(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Refuse a database that is not t3code's; the notes to report about the rest."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "orchestration_events" not in tables:
        raise EventkitError(f"{path} has no orchestration_events table; is it t3code's?")
    columns = {r[1] for r in conn.execute("PRAGMA table_info(orchestration_events)")}
    missing = {"sequence", "event_id", "event_type", "occurred_at", "payload_json"} - columns
    if missing:
        raise EventkitError(
            f"{path}: orchestration_events lacks column(s) {', '.join(sorted(missing))}"
        )
    v2 = sorted(t for t in tables if t.startswith("orchestration_v2_"))
    if not v2:
        return []
    return [
        f"{path}: found {len(v2)} orchestration_v2_* table(s) ({', '.join(v2)}); "
        "they are not read — only orchestration_events is imported"
    ]


def _select(conn: sqlite3.Connection) -> str:
    present = {r[1] for r in conn.execute("PRAGMA table_info(orchestration_events)")}
    cols = ", ".join(c if c in present else f"NULL AS {c}" for c in _COLUMNS)
    return f"SELECT {cols} FROM orchestration_events"


@dataclass(slots=True)
class Row:
    sequence: int
    event_id: str
    aggregate_kind: str | None
    stream_id: str | None
    stream_version: int | None
    event_type: str
    occurred_at: str
    command_id: str | None
    causation_event_id: str | None
    correlation_id: str | None
    actor_kind: str | None
    payload_json: str
    metadata_json: str | None


def rows(conn: sqlite3.Connection) -> Iterator[Row]:
    cursor = conn.execute(_select(conn) + " ORDER BY sequence")
    while batch := cursor.fetchmany(2_000):
        for values in batch:
            yield Row(*values)


def prescan(conn: sqlite3.Connection) -> tuple[dict[str, str], set[str]]:
    """Turn-start request event id → the turn id t3code gave it when it ran; and the
    user message ids that a turn-start request names."""
    query = (
        _select(conn) + " WHERE event_type IN ('thread.turn-start-requested', "
        "'thread.session-set') ORDER BY sequence"
    )
    waiting: dict[str, deque[str]] = defaultdict(deque)
    assigned: dict[str, str] = {}
    seen_turns: set[tuple[str, str]] = set()
    claimed: set[str] = set()
    for values in conn.execute(query):
        row = Row(*values)
        payload = loads(row.payload_json)
        if not isinstance(payload, dict):
            continue
        thread = payload.get("threadId") or row.stream_id
        if row.event_type == "thread.turn-start-requested":
            waiting[thread].append(row.event_id)
            if isinstance(payload.get("messageId"), str):
                claimed.add(payload["messageId"])
            continue
        session = payload.get("session")
        if not isinstance(session, dict) or session.get("status") not in RUNNING:
            continue
        turn = session.get("activeTurnId")
        if isinstance(turn, str) and turn and (thread, turn) not in seen_turns:
            seen_turns.add((thread, turn))
            if waiting[thread]:
                assigned[waiting[thread].popleft()] = turn
    return assigned, claimed


def loads(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def activity_item_id(meta: Any, data: dict[str, Any]) -> str | None:
    candidates = [
        (meta or {}).get("providerItemId") if isinstance(meta, dict) else None,
        data.get("itemId"),
        data.get("toolUseId"),
        data.get("toolCallId"),
    ]
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def tool_name(activity: dict[str, Any], data: dict[str, Any]) -> str:
    """A named tool (MCP, dynamic) by its name; anything else by its item type."""
    for value in (data.get("toolName"), data.get("itemType")):
        if isinstance(value, str) and value:
            return value
    summary = activity.get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary.removesuffix(" started").removeprefix("Tool denied: ") or "tool"
    return "tool"


def tool_status(kind: Any, data: dict[str, Any]) -> str:
    if kind == "tool.denied":
        return "denied"
    status = str(data.get("status") or "").lower()
    if status in DENIED:
        return "denied"
    if status in FAILED:
        return "error"
    inner = data.get("data") if isinstance(data.get("data"), dict) else {}
    item = inner.get("item") if isinstance(inner.get("item"), dict) else {}
    if str(item.get("status") or "").lower() in FAILED:
        return "error"
    for source in (data, inner, item):
        for key in ("exitCode", "exit_code"):
            code = source.get(key)
            if isinstance(code, int) and code != 0:
                return "error"
        if source.get("isError") is True or source.get("success") is False:
            return "error"
    return "ok"


def positive_count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


__all__ = [
    "DECISIONS",
    "DENIED",
    "FAILED",
    "RUNNING",
    "SETTLED",
    "Row",
    "check_tables",
    "positive_count",
    "activity_item_id",
    "loads",
    "open_source",
    "prescan",
    "rows",
    "tool_name",
    "tool_status",
]
