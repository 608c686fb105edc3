"""Audits: checks over a log that say what broke, shared by the CLI and the notebooks.

Each check is a DuckDB query over the typed views (or, for projections, a comparison
with a fresh replay) and yields :class:`Finding` rows naming the offending events.
``error`` findings are violations; ``info`` findings are facts worth knowing that are
not corruption — a real session log that ends mid-turn leaves its last turn open.

Between them the checks report every event the replay rules of ``docs/semantics.md``
ignore. The checks read the views of an ``audit`` schema (first on the search path),
which are the log's own; over a Parquet dataset their ``sequence`` is the event's
position in the union of its logs (its sequence plus its log's ``replay_offset``), the
order the replay follows — for a dataset of one log, the log's sequence.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any

from eventkit.catalog.columns import view_name
from eventkit.catalog.events import EVENT_TYPES, SCHEMA_VERSION
from eventkit.errors import UnsupportedSchemaError, driver_errors
from eventkit.log.files import open_log_readonly

ERROR = "error"
INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One thing an audit check found."""

    check: str
    severity: str
    message: str
    entity_id: str | None = None
    sequences: tuple[int, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" (events {', '.join(map(str, self.sequences[:10]))})" if self.sequences else ""
        more = "…" if len(self.sequences) > 10 else ""
        return f"[{self.severity}] {self.check}: {self.message}{where}{more}"


_CHECKS: dict[str, Callable[[Any], Iterator[Finding]]] = {}


def check(name: str):
    def register(func: Callable[[Any], Iterator[Finding]]):
        _CHECKS[name] = func
        return func

    return register


def _rows(con, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def _created(view: str, *columns: str) -> str:
    """SQL of the entities the replay creates from a creation view.

    Rows are ``id``, ``seq`` (the creating event's sequence) and ``columns`` as that
    event has them. The replay creates a child entity at its first creation event in a thread that
    exists by then; earlier ones are ignored (and reported by ``threads_exist``).
    """
    picked = "".join(f", arg_min(c.{column}, c.sequence) AS {column}" for column in columns)
    return f"""SELECT c.id, min(c.sequence) AS seq{picked} FROM {view} c
               JOIN (SELECT id, min(sequence) AS seq FROM thread_created GROUP BY id) t
                 ON t.id = c.thread_id AND t.seq < c.sequence
               GROUP BY c.id"""


@check("sequence_increasing")
def _sequence(con) -> Iterator[Finding]:
    for prev, seq in _rows(
        con,
        """SELECT prev, sequence FROM (
               SELECT sequence,
                      lag(sequence) OVER (PARTITION BY source_log ORDER BY sequence) AS prev
               FROM events)
           WHERE prev IS NOT NULL AND sequence <> prev + 1 ORDER BY sequence""",
    ):
        yield Finding(
            "sequence_increasing",
            ERROR,
            f"sequence jumps from {prev} to {seq}: events are missing from the log",
            sequences=(prev, seq),
        )
    for stream, versions, seqs in _rows(
        con,
        """SELECT stream_id, list(stream_version ORDER BY sequence),
                  list(sequence ORDER BY sequence)
           FROM (SELECT source_log, stream_id, stream_version, sequence,
                        row_number() OVER (PARTITION BY source_log, stream_id
                                           ORDER BY sequence) AS expected
                 FROM events)
           GROUP BY source_log, stream_id HAVING bool_or(stream_version <> expected)
           ORDER BY min(sequence)""",
    ):
        yield Finding(
            "sequence_increasing",
            ERROR,
            f"stream {stream} versions are not 1..n in sequence order: {versions[:10]}",
            entity_id=stream,
            sequences=tuple(seqs[:50]),
        )


@check("turns_ended")
def _turns_ended(con) -> Iterator[Finding]:
    rows = _rows(
        con,
        f"""WITH started AS ({_created("turn_started", "thread_id")}),
           completed AS (SELECT DISTINCT id FROM turn_completed),
           last_turn AS (SELECT thread_id, max(seq) AS seq FROM started GROUP BY thread_id)
           SELECT s.id, s.thread_id, s.seq, s.seq = l.seq AS is_last
           FROM started s JOIN last_turn l USING (thread_id)
           WHERE s.id NOT IN (SELECT id FROM completed)
           ORDER BY s.seq""",
    )
    for turn_id, thread_id, seq, is_last in rows:
        if is_last:
            yield Finding(
                "turns_ended",
                INFO,
                f"turn {turn_id} in thread {thread_id} is open: the session's last turn has "
                "no completion (it ended mid-turn or is still running)",
                entity_id=turn_id,
                sequences=(seq,),
            )
        else:
            yield Finding(
                "turns_ended",
                ERROR,
                f"turn {turn_id} in thread {thread_id} never completed, yet later turns started",
                entity_id=turn_id,
                sequences=(seq,),
            )


@check("completions_match_starts")
def _completions(con) -> Iterator[Finding]:
    for kind, view, start_view in (
        ("turn", "turn_completed", "turn_started"),
        ("tool call", "tool_call_completed", "tool_call_started"),
    ):
        for entity, seqs in _rows(
            con,
            f"""SELECT c.id, list(c.sequence ORDER BY c.sequence) FROM {view} c
                LEFT JOIN ({_created(start_view)}) s ON s.id = c.id
                WHERE s.seq IS NULL OR s.seq > c.sequence
                GROUP BY c.id ORDER BY min(c.sequence)""",
        ):
            yield Finding(
                "completions_match_starts",
                ERROR,
                f"{kind} {entity} completed but never started before its completion",
                entity_id=entity,
                sequences=tuple(seqs),
            )
        for entity, seqs in _rows(
            con,
            f"""SELECT id, list(sequence ORDER BY sequence) FROM {view}
                GROUP BY id HAVING count(*) > 1 ORDER BY min(sequence)""",
        ):
            yield Finding(
                "completions_match_starts",
                ERROR,
                f"{kind} {entity} completed {len(seqs)} times; the first completion counts",
                entity_id=entity,
                sequences=tuple(seqs),
            )


@check("tool_calls_completed")
def _tool_calls_completed(con) -> Iterator[Finding]:
    rows = _rows(
        con,
        f"""WITH calls AS ({_created("tool_call_started", "turn_id")}),
                done_turns AS (SELECT DISTINCT id FROM turn_completed)
           SELECT c.id, c.turn_id, c.seq, c.turn_id IN (SELECT id FROM done_turns) AS turn_done
           FROM calls c WHERE c.id NOT IN (SELECT id FROM tool_call_completed)
           ORDER BY c.seq""",
    )
    for call_id, turn_id, seq, turn_done in rows:
        if turn_done:
            yield Finding(
                "tool_calls_completed",
                ERROR,
                f"tool call {call_id} never completed, though its turn {turn_id} did",
                entity_id=call_id,
                sequences=(seq,),
            )
        else:
            yield Finding(
                "tool_calls_completed",
                INFO,
                f"tool call {call_id} is still running in open turn {turn_id}",
                entity_id=call_id,
                sequences=(seq,),
            )


@check("deltas_for_known_messages")
def _deltas(con) -> Iterator[Finding]:
    for message_id, seqs in _rows(
        con,
        f"""SELECT d.id, list(d.sequence ORDER BY d.sequence) FROM message_delta d
           LEFT JOIN ({_created("message_added")}) a ON a.id = d.id
           WHERE a.seq IS NULL OR a.seq > d.sequence
           GROUP BY d.id ORDER BY min(d.sequence)""",
    ):
        yield Finding(
            "deltas_for_known_messages",
            ERROR,
            f"{len(seqs)} delta(s) for message {message_id} before or without its MessageAdded",
            entity_id=message_id,
            sequences=tuple(seqs),
        )


@check("single_creation")
def _single_creation(con) -> Iterator[Finding]:
    for view, kind in (
        ("project_created", "project"),
        ("thread_created", "thread"),
        ("turn_started", "turn"),
        ("message_added", "message"),
        ("tool_call_started", "tool call"),
        ("checkpoint_created", "checkpoint"),
    ):
        for entity, seqs in _rows(
            con,
            f"""SELECT id, list(sequence ORDER BY sequence) FROM {view}
                GROUP BY id HAVING count(*) > 1 ORDER BY min(sequence)""",
        ):
            yield Finding(
                "single_creation",
                ERROR,
                f"{kind} {entity} created {len(seqs)} times; the first creation counts",
                entity_id=entity,
                sequences=tuple(seqs),
            )


def _before_creation(
    con, check_name: str, kind: str, view: str, created_by: str, own_checks: tuple[str, ...] = ()
):
    """Events of ``kind:<id>`` streams before or without the stream's creation event.

    ``own_checks``: event types a check of their own reports (with what they name).
    """
    skipped = "".join(f" AND e.event_type <> '{t}'" for t in own_checks)
    for stream, types, seqs in _rows(
        con,
        f"""SELECT e.stream_id, list(DISTINCT e.event_type ORDER BY e.event_type),
                   list(e.sequence ORDER BY e.sequence) FROM events e
            LEFT JOIN (SELECT id, min(sequence) AS seq FROM {view} GROUP BY id) c
              ON e.stream_id = '{kind}:' || c.id
            WHERE e.stream_id LIKE '{kind}:%' AND (c.seq IS NULL OR e.sequence < c.seq){skipped}
            GROUP BY e.stream_id ORDER BY min(e.sequence)""",
    ):
        yield Finding(
            check_name,
            ERROR,
            f"{len(seqs)} event(s) in {stream} before or without its {created_by} "
            f"({', '.join(types)}); the replay ignores them",
            entity_id=stream.removeprefix(f"{kind}:"),
            sequences=tuple(seqs),
        )


@check("projects_exist")
def _projects_exist(con) -> Iterator[Finding]:
    # ProjectRenamed / ProjectDeleted of a project never created (or not yet)
    yield from _before_creation(
        con, "projects_exist", "project", "project_created", "ProjectCreated"
    )


@check("threads_exist")
def _threads_exist(con) -> Iterator[Finding]:
    # every event of a thread's stream, the thread's own renames and deletions included;
    # model calls have a check of their own (model_calls_in_known_threads)
    yield from _before_creation(
        con,
        "threads_exist",
        "thread",
        "thread_created",
        "ThreadCreated",
        own_checks=("ModelCallCompleted",),
    )


def _aimed_at_unknown(
    con, check_name: str, view: str, key: str, creating_view: str, what: str, verb: str
) -> Iterator[Finding]:
    """Events of ``view`` whose target (``key``) was not created (``creating_view``) before."""
    event_type = "".join(part.title() for part in view.split("_"))
    for target, seqs in _rows(
        con,
        f"""SELECT e.{key}, list(e.sequence ORDER BY e.sequence) FROM {view} e
            LEFT JOIN ({_created(creating_view)}) c ON c.id = e.{key}
            WHERE c.seq IS NULL OR c.seq > e.sequence
            GROUP BY e.{key} ORDER BY min(e.sequence)""",
    ):
        yield Finding(
            check_name,
            ERROR,
            f"{len(seqs)} {event_type} {what} {target}, which was not {verb} "
            "before it; the replay ignores them",
            entity_id=target,
            sequences=tuple(seqs),
        )


@check("approvals_for_known_calls")
def _approvals(con) -> Iterator[Finding]:
    yield from _aimed_at_unknown(
        con,
        "approvals_for_known_calls",
        "approval_resolved",
        "tool_call_id",
        "tool_call_started",
        "for tool call",
        "started",
    )


@check("restores_of_known_checkpoints")
def _restores(con) -> Iterator[Finding]:
    yield from _aimed_at_unknown(
        con,
        "restores_of_known_checkpoints",
        "checkpoint_restored",
        "id",
        "checkpoint_created",
        "of checkpoint",
        "created",
    )


# ------------------------------------------------------------------ model calls

_TOKEN_NAMES = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
    "reasoning_tokens": "reasoning",
}


@check("model_calls_in_known_threads")
def _model_calls_in_known_threads(con) -> Iterator[Finding]:
    # A call's events before its creation (the first one whose thread exists) are
    # those whose thread did not exist yet: the replay ignores them.
    for call_id, thread_id, seqs in _rows(
        con,
        f"""SELECT e.id, arg_min(e.thread_id, e.sequence), list(e.sequence ORDER BY e.sequence)
            FROM model_call_completed e
            LEFT JOIN ({_created("model_call_completed")}) c ON c.id = e.id
            WHERE c.seq IS NULL OR e.sequence < c.seq
            GROUP BY e.id ORDER BY min(e.sequence)""",
    ):
        yield Finding(
            "model_calls_in_known_threads",
            ERROR,
            f"{len(seqs)} ModelCallCompleted event(s) of model call {call_id} name thread "
            f"{thread_id}, which was not created before them; the replay ignores them "
            "(their tokens count nowhere)",
            entity_id=call_id,
            sequences=tuple(seqs),
        )


@check("restatements_keep_their_call")
def _restatements_keep_their_call(con) -> Iterator[Finding]:
    rows = _rows(
        con,
        f"""SELECT e.id, c.thread_id, c.turn_id, e.thread_id, e.turn_id, e.sequence
            FROM model_call_completed e
            JOIN ({_created("model_call_completed", "thread_id", "turn_id")}) c
              ON c.id = e.id AND c.seq < e.sequence
            WHERE e.thread_id IS DISTINCT FROM c.thread_id
               OR e.turn_id IS DISTINCT FROM c.turn_id
            ORDER BY e.sequence""",
    )
    for call_id, thread_id, turn_id, named_thread, named_turn, seq in rows:
        named, kept = [], []
        if named_thread != thread_id:
            named.append(f"thread {named_thread}")
            kept.append(f"thread {thread_id}")
        if named_turn != turn_id:
            named.append(f"turn {named_turn}" if named_turn else "no turn")
            kept.append(f"turn {turn_id}" if turn_id else "no turn")
        yield Finding(
            "restatements_keep_their_call",
            ERROR,
            f"model call {call_id} is restated naming {' and '.join(named)}; a restatement "
            f"cannot move a call, so it stays in {' and '.join(kept)} (its first event's) "
            "with the restatement's figures",
            entity_id=call_id,
            sequences=(seq,),
        )


@check("stale_restatements")
def _stale_restatements(con) -> Iterator[Finding]:
    # A restatement with a lower revision than one before it is ignored: a merge or a
    # re-import of an older copy of the source brought it. Worth knowing, not corruption.
    for call_id, seqs in _rows(
        con,
        f"""WITH c AS ({_created("model_call_completed")}),
            e AS (SELECT m.id, m.sequence, m.revision, max(m.revision) OVER (
                      PARTITION BY m.id ORDER BY m.sequence
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
                  FROM model_call_completed m JOIN c ON c.id = m.id AND c.seq <= m.sequence)
            SELECT id, list(sequence ORDER BY sequence) FROM e WHERE revision < before
            GROUP BY id ORDER BY min(sequence)""",
    ):
        yield Finding(
            "stale_restatements",
            INFO,
            f"{len(seqs)} restatement(s) of model call {call_id} have a lower revision than "
            "an earlier one; they are ignored (an older copy of the source, merged or "
            "imported again)",
            entity_id=call_id,
            sequences=tuple(seqs),
        )


@check("model_calls_for_started_turns")
def _model_calls_for_started_turns(con) -> Iterator[Finding]:
    rows = _rows(
        con,
        f"""SELECT c.id, c.turn_id, c.thread_id, c.seq
            FROM ({_created("model_call_completed", "thread_id", "turn_id")}) c
            LEFT JOIN ({_created("turn_started")}) t ON t.id = c.turn_id
            WHERE c.turn_id IS NOT NULL AND t.id IS NULL
            ORDER BY c.seq""",
    )
    for call_id, turn_id, thread_id, seq in rows:
        yield Finding(
            "model_calls_for_started_turns",
            ERROR,
            f"model call {call_id} names turn {turn_id}, which never started; its tokens "
            f"count for thread {thread_id} and its model only, not for any turn",
            entity_id=call_id,
            sequences=(seq,),
        )


@check("turn_usage_matches_calls")
def _turn_usage_matches_calls(con) -> Iterator[Finding]:
    from eventkit.read.replay import turns_sql

    columns = list(_TOKEN_NAMES)
    completed = ", ".join(f"d.usage_{c}" for c in columns)
    sums = ", ".join(f"t.{c}" for c in columns)
    nonzero = " OR ".join(f"d.usage_{c} <> 0" for c in columns)
    differs = " OR ".join(f"d.usage_{c} <> t.{c}" for c in columns)
    rows = _rows(
        con,
        f"""WITH started AS ({_created("turn_started")}),
            done AS (SELECT d.* FROM turn_completed d
                     JOIN started s ON s.id = d.id AND s.seq < d.sequence
                     QUALIFY row_number() OVER (PARTITION BY d.id ORDER BY d.sequence) = 1)
            SELECT d.id, d.sequence, t.model_calls, [{completed}], [{sums}]
            FROM done d JOIN ({turns_sql()}) t ON t.turn_id = d.id
            WHERE t.model_calls > 0 AND ({nonzero}) AND ({differs})
            ORDER BY d.sequence""",
    )

    def figures(values: list[int]) -> str:
        names = _TOKEN_NAMES.values()
        return ", ".join(f"{name} {v:,}" for name, v in zip(names, values, strict=True))

    for turn_id, seq, n_calls, stated, summed in rows:
        yield Finding(
            "turn_usage_matches_calls",
            ERROR,
            f"turn {turn_id} completed with usage ({figures(stated)}) that differs from the "
            f"sums of its {n_calls} model call(s) ({figures(summed)}); the calls' sums count "
            "(a writer recording model calls leaves the completion's usage at zero)",
            entity_id=turn_id,
            sequences=(seq,),
        )


def _deleted(kind: str) -> str:
    """SQL of ``(stream_id, seq)``: the deletion the replay applies, the first after creation."""
    return f"""SELECT '{kind}:' || d.id AS stream_id, min(d.sequence) AS seq FROM {kind}_deleted d
               JOIN (SELECT id, min(sequence) AS seq FROM {kind}_created GROUP BY id) c
                 ON c.id = d.id AND c.seq < d.sequence
               GROUP BY d.id"""


@check("no_events_after_deletion")
def _after_deletion(con) -> Iterator[Finding]:
    for stream, seqs in _rows(
        con,
        f"""WITH deleted AS ({_deleted("thread")} UNION ALL {_deleted("project")})
           SELECT e.stream_id, list(e.sequence ORDER BY e.sequence)
           FROM events e JOIN deleted d ON e.stream_id = d.stream_id AND e.sequence > d.seq
           GROUP BY e.stream_id ORDER BY min(e.sequence)""",
    ):
        yield Finding(
            "no_events_after_deletion",
            ERROR,
            f"{len(seqs)} event(s) in {stream} after it was deleted",
            entity_id=stream.split(":", 1)[1],
            sequences=tuple(seqs),
        )


@check("known_event_types")
def _known_types(con) -> Iterator[Finding]:
    known = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    for event_type, seqs in _rows(
        con,
        f"""SELECT event_type, list(sequence ORDER BY sequence) FROM events
            WHERE event_type NOT IN ({known}) GROUP BY event_type ORDER BY event_type""",
    ):
        yield Finding(
            "known_event_types",
            INFO,
            f"{len(seqs)} event(s) of type {event_type!r}, unknown to this eventkit "
            "(written by a newer version); replays skip them",
            sequences=tuple(seqs),
        )


def projection_differences(conn: sqlite3.Connection) -> Iterator[Finding]:
    """Compare a log's projection tables with a fresh replay of its events.

    A log written before the newest migration has the tables of its version: they are
    not compared (the first writer to open it migrates it and rebuilds them).
    """
    from eventkit.log.migrations import applied_migrations, known_migrations
    from eventkit.log.projections import TABLES, rebuild_projections

    pending = [m.name for m in known_migrations() if m.version not in applied_migrations(conn)]
    if pending:
        yield Finding(
            "projections_agree",
            INFO,
            f"skipped: the log was written before migration {', '.join(pending)}, so its "
            "projection tables lack what it adds (model calls); the next writer to open it "
            "(`eventkit project LOG`) migrates it and rebuilds them",
        )
        return
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as fresh:
        conn.backup(fresh)
        rebuild_projections(fresh)
        for table, key in ((t.name, t.key) for t in TABLES):
            query = f"SELECT * FROM {table} ORDER BY {key}"
            stored = {row[0]: row for row in conn.execute(query)}
            replayed = {row[0]: row for row in fresh.execute(query)}
            differing = sorted(
                k for k in stored.keys() | replayed.keys() if stored.get(k) != replayed.get(k)
            )
            if differing:
                shown = ", ".join(map(str, differing[:5]))
                yield Finding(
                    "projections_agree",
                    ERROR,
                    f"{table}: {len(differing)} row(s) differ from a fresh replay "
                    f"(e.g. {shown}); run `eventkit project LOG --rebuild`",
                    entity_id=str(differing[0]),
                )


_SOURCES_TABLE = "eventkit_sources"
"""The table a dataset's connection lists its logs in (with each log's ``replay_offset``)."""


def _audit_views(con) -> bool:
    """Create the ``audit`` views the checks read and put them first on the search path.

    Returns whether ``con`` reads a Parquet dataset. A log's views are its own (with a
    null ``source_log``); a dataset's carry positions in the union as ``sequence``.
    """
    (dataset,) = con.execute(
        "SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = current_database() "
        f"AND schema_name = 'main' AND table_name = '{_SOURCES_TABLE}'"
    ).fetchone()
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    for view in ("events", *(view_name(t) for t in EVENT_TYPES)):
        if dataset:
            body = (
                "SELECT v.* REPLACE (v.sequence + s.replay_offset AS sequence) "
                f'FROM main."{view}" v JOIN main.{_SOURCES_TABLE} s ON s.source_log = v.source_log'
            )
        elif view == "events":
            body = 'SELECT *, NULL::VARCHAR AS source_log FROM main."events"'
        else:
            body = f'SELECT * FROM main."{view}"'
        con.execute(f'CREATE OR REPLACE VIEW audit."{view}" AS {body}')
    con.execute("SET search_path = 'audit,main'")
    return dataset


def _refuse_unknown_schemas(con) -> None:
    """Raise :class:`UnsupportedSchemaError` if the log holds an event of an unknown version.

    Checks judge payloads as the catalog describes them; such an event's payload may
    mean something else, so no verdict on the log would be sound.
    """
    count, sequence, event_type, version = con.execute(
        "SELECT count(*), min(sequence), arg_min(event_type, sequence),"
        f" arg_min(schema_version, sequence) FROM events WHERE schema_version <> {SCHEMA_VERSION}"
    ).fetchone()
    if count:
        more = f" ({count - 1} more event(s) of unknown versions)" if count > 1 else ""
        raise UnsupportedSchemaError(
            f"cannot audit the log: event {sequence} ({event_type}) has schema_version "
            f"{version}; this eventkit reads version {SCHEMA_VERSION} — upgrade eventkit{more}"
        )


def audit(src: Any, *, checks: list[str] | None = None) -> list[Finding]:
    """Run every audit check (or those named) over a log or a Parquet dataset.

    Returns the findings: an empty list, or only ``info`` findings, means the log is
    sound. A dataset holds no projection tables: ``projections_agree`` is skipped for
    it, with an ``info`` finding saying so. A log holding an event of a
    ``schema_version`` this eventkit does not know raises :class:`UnsupportedSchemaError`
    naming the event (its payload cannot be read as the catalog describes).
    """
    from eventkit.log.store import EventStore
    from eventkit.read.readers import connect_duckdb

    unknown = set(checks or ()) - set(_CHECKS) - {"projections_agree"}
    if unknown:
        raise ValueError(
            f"unknown audit check(s): {sorted(unknown)}; known: {sorted(available_checks())}"
        )
    findings: list[Finding] = []
    con = connect_duckdb(src)
    try:
        with driver_errors("auditing the log"):
            dataset = _audit_views(con)
            _refuse_unknown_schemas(con)
            for name, func in _CHECKS.items():
                if checks is None or name in checks:
                    findings.extend(func(con))
    finally:
        con.close()
    if checks is None or "projections_agree" in checks:
        if dataset:
            findings.append(
                Finding(
                    "projections_agree",
                    INFO,
                    "skipped: a Parquet dataset holds no projection tables; "
                    "audit the log it was exported from to compare them",
                )
            )
        elif isinstance(src, EventStore):
            with driver_errors("comparing projections with a fresh replay"):
                findings.extend(projection_differences(src.conn))
        elif isinstance(src, str | os.PathLike):
            with closing(open_log_readonly(src)) as conn:
                with driver_errors("comparing projections with a fresh replay"):
                    findings.extend(projection_differences(conn))
    return findings


def available_checks() -> list[str]:
    return [*_CHECKS, "projections_agree"]


def violations(findings: list[Finding]) -> list[Finding]:
    """The findings that are errors."""
    return [f for f in findings if f.severity == ERROR]
