"""The commands: each handler opens what it needs, calls one library function, returns rows.

Flags map one-to-one to the library's keyword arguments. Handlers import the library
on first use, so ``eventkit --help`` loads neither DuckDB nor pandas.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from eventkit.cli.errors import FINDINGS, OK
from eventkit.cli.output import Record, Result, Sections, Table, format_table
from eventkit.cli.registry import Arg, Command, OneOf, arg

LOG_HELP = "the log: a .db file or a directory holding events.db"
SRC_HELP = "the log (a .db file or a directory holding events.db) or a Parquet dataset"


def _log(help: str = LOG_HELP) -> Arg:
    return arg("log", help=help)


# --------------------------------------------------------------------------- the write side


def init(args: Namespace) -> Result:
    from eventkit.log.files import resolve_log_path
    from eventkit.log.migrations import log_info, open_or_create_db

    conn = open_or_create_db(args.log)
    try:
        info = log_info(conn)
    finally:
        conn.close()
    path = resolve_log_path(args.log)
    return Result(
        Record({"log": path, "log_id": info.get("log_id")}),
        f"eventkit log ready at {path} (log_id {info.get('log_id')})",
    )


def append(args: Namespace) -> Result:
    from eventkit.log.jsonl import append_jsonl

    if args.file == "-":
        report = append_jsonl(
            args.log, sys.stdin.buffer, source="<stdin>", batch_size=args.batch_size
        )
    else:
        report = append_jsonl(args.log, args.file, batch_size=args.batch_size)
    return Result(Record(report.as_dict()), str(report))


def generate(args: Namespace) -> Result:
    from eventkit.apps.synth import generate_log

    written = generate_log(
        args.log, seed=args.seed, threads=args.threads, events=args.events, overwrite=args.overwrite
    )
    return Result(
        Record({"log": args.log, "seed": args.seed, "events_written": written}),
        f"generated {written} event(s) with seed {args.seed} into {args.log}",
    )


def project(args: Namespace) -> Result:
    from eventkit.log.migrations import open_or_create_db
    from eventkit.log.projections import catch_up, rebuild_projections

    conn = open_or_create_db(args.log)
    try:
        applied = rebuild_projections(conn) if args.rebuild else catch_up(conn)
    finally:
        conn.close()
    text = (
        f"rebuilt projections from {applied} event(s)"
        if args.rebuild
        else f"projections caught up: {applied} event(s) applied"
    )
    return Result(Record({"rebuilt": args.rebuild, "events_applied": applied}), text)


IMPORTERS = {
    "claude-code": "import_claude_code",
    "codex": "import_codex",
    "copilot": "import_copilot",
    "gemini": "import_gemini",
    "t3code": "import_t3code",
}


def import_(args: Namespace) -> Result:
    from eventkit import importers

    importer = getattr(importers, IMPORTERS[args.format])
    report = importer(args.paths or None, args.log)
    return Result(Record(report.as_dict()), str(report))


def merge(args: Namespace) -> Result:
    from eventkit.log.merge import merge

    report = merge(args.sources, args.into)
    return Result(Record(report.as_dict()), str(report))


def backup(args: Namespace) -> Result:
    from eventkit.log.backup import backup

    result = backup(args.log, args.dest, overwrite=args.overwrite)
    return Result(
        Record(
            {
                "path": result.path,
                "events": result.events,
                "last_sequence": result.last_sequence,
                "pages": result.pages,
            }
        ),
        f"backed up {result.events} event(s) (through sequence {result.last_sequence}) "
        f"to {result.path}; integrity check ok",
    )


# --------------------------------------------------------------------------- the read side

# stats() holds scalars and two counts by key; each count becomes a section.
STATS_COUNTS = {"events_by_type": ("event_type", "events"), "streams_by_kind": ("kind", "streams")}


def stats(args: Namespace) -> Result:
    from eventkit.read.stats import stats

    result = stats(args.log)
    overview = {k: v for k, v in result.items() if k not in STATS_COUNTS}
    tables = {"log": Table.of_records(tuple(overview), [overview])}
    for key, columns in STATS_COUNTS.items():
        tables[key] = Table(columns, tuple(result[key].items()))
    return Result(Sections(tables), _stats_text(result, tables["events_by_type"]))


def _stats_text(result: dict, by_type: Table) -> str:
    lines = [
        f"log        {result['log']}",
        f"log_id     {result['log_id']}",
        f"events     {result['events']}",
    ]
    if result["events"]:
        kinds = ", ".join(f"{n} {k}" for k, n in result["streams_by_kind"].items())
        lines += [
            f"sequences  {result['first_sequence']}..{result['last_sequence']}",
            f"occurred   {result['first_occurred_at']} .. {result['last_occurred_at']}",
            f"streams    {result['streams']} ({kinds})",
            "",
            format_table(by_type),
        ]
    return "\n".join(lines)


def summary(args: Namespace) -> Result:
    from eventkit.read.metrics import summary

    sections = summary(args.log)
    return Result(Sections({name: Table.of_frame(frame) for name, frame in sections.items()}))


def sql(args: Namespace) -> Result:
    from eventkit.read.readers import sql

    return Result(Table.of_frame(sql(args.log, args.query)))


def views(args: Namespace) -> Result:
    from eventkit.read.describe import list_views

    return Result(Table.of_frame(list_views(args.log)))


SEARCH_COLUMNS = ("sequence", "occurred_at", "field", "snippet")


def search(args: Namespace) -> Result:
    from eventkit.read.search import search

    hits = search(args.log, args.query, types=args.type, limit=args.limit)
    return Result(Table.of_frame(hits), _search_text(args.log, args.query, hits))


def _search_text(log: str, query: str, hits) -> str:
    """The hits grouped by session (best session first), each with the command showing it."""
    import shlex

    if hits.empty:
        return f"no hits for {query!r}"
    sessions = list(dict.fromkeys(hits["thread_id"].fillna("")))
    blocks = [f"{len(hits)} hit(s) in {len(sessions)} session(s), best first"]
    for thread_id in sessions:
        rows = hits[hits["thread_id"].fillna("") == thread_id]
        show = f"eventkit show {shlex.quote(str(log))} {shlex.quote(thread_id)}"
        table = Table.of_frame(rows[list(SEARCH_COLUMNS)])
        indented = "\n".join("  " + line for line in format_table(table).splitlines())
        blocks.append(f"session {thread_id}: {len(rows)} hit(s); {show}\n{indented}")
    return "\n\n".join(blocks)


AUDIT_COLUMNS = ("check", "severity", "message", "entity_id", "sequences")


def audit(args: Namespace) -> Result:
    from eventkit.apps.audit import audit, violations

    findings = audit(args.log, checks=args.check)
    failed = violations(findings)
    notes = len(findings) - len(failed)
    verdict = f"{len(failed)} violation(s)" if failed else "no violations"
    verdict += f", {notes} note(s)" if notes else ""
    text = "\n".join([*(str(f) for f in findings), f"audit: {verdict}"])
    table = Table.of_records(AUDIT_COLUMNS, [f.as_dict() for f in findings])
    return Result(table, text, FINDINGS if failed else OK)


def export(args: Namespace) -> Result:
    from eventkit.scale.export import export_parquet

    report = export_parquet(args.logs, args.parquet)
    return Result(Record(report.as_dict()), str(report))


def report(args: Namespace) -> Result:
    from eventkit.apps.report import report, sessions_dir

    out = report(args.log, args.out)
    pages = sessions_dir(out)
    text = f"report written to {out}"
    if pages.is_dir():
        text += f"\nsession pages it links to: {pages}/"
    return Result(Record({"out": out, "session_pages": pages if pages.is_dir() else None}), text)


def show(args: Namespace) -> Result:
    from eventkit.apps.session_page import save_page

    out = save_page(args.log, args.thread_id, args.out, as_of=_as_of(args.as_of))
    return Result(
        Record({"thread_id": args.thread_id, "out": out}), f"session page written to {out}"
    )


def _as_of(value: str | None) -> int | str | None:
    """``--as-of``: a sequence number (digits) or a point in time (ISO text)."""
    return int(value) if value is not None and value.isdigit() else value


# --------------------------------------------------------------------------- the registry

DECLARED: tuple[Command, ...] = (
    Command("init", "Create (or migrate) an event log.", init, (_log(),)),
    Command(
        "append",
        "Append canonical events from a JSON Lines file. Every line is validated before "
        "anything is written; a bad line writes nothing.",
        append,
        (
            _log(),
            arg("file", help="JSON Lines file of events, or - for standard input"),
            arg(
                "--batch-size",
                type=int,
                default=1_000,
                help="events per transaction (default 1,000); each batch is all or nothing, "
                "so a duplicate or version conflict in a later batch leaves the earlier ones "
                "written",
            ),
        ),
    ),
    Command(
        "stats",
        "Show counts by event type, the sequence range and streams.",
        stats,
        (_log(),),
        output="sections",
        sections=("log", *STATS_COUNTS),
    ),
    Command(
        "generate",
        "Append realistic generated sessions (deterministic by seed).",
        generate,
        (
            _log(),
            OneOf(
                (
                    arg("--threads", type=int, help="how many sessions to generate"),
                    arg("--events", type=int, help="about how many events (default 10,000)"),
                )
            ),
            arg("--seed", type=int, default=0, help="random seed (same seed, same log)"),
            arg(
                "--overwrite",
                "--force",
                dest="overwrite",
                action="store_true",
                help="remove the log (and its -wal, -shm) first if it exists",
            ),
        ),
    ),
    Command(
        "sql",
        "Run a DuckDB query over the views of a log or dataset (read-only).",
        sql,
        (_log(SRC_HELP), arg("query", help="SQL over events, turn_completed, turns, … (`views`)")),
        output="rows",
    ),
    Command(
        "views",
        "List the DuckDB views of a log or dataset and their columns.",
        views,
        (_log(SRC_HELP),),
        output="rows",
    ),
    Command(
        "search",
        "Full-text search of messages, tool inputs and outputs and thread titles: ranked "
        "hits by session, with the command that shows each (exits 0 with or without hits).",
        search,
        (
            _log(),
            arg("query", help='words and "quoted phrases"; a hit holds them all, as written'),
            arg(
                "--type",
                action="append",
                metavar="EVENT_TYPE",
                help="search only this event type (repeatable): MessageAdded, "
                "ToolCallStarted, ToolCallCompleted, ThreadCreated, ThreadRenamed",
            ),
            arg("--limit", type=int, default=50, help="at most this many hits (default 50)"),
        ),
        output="rows",
    ),
    Command(
        "summary",
        "Print sessions, turn latency, tokens and cost by model, failing tools.",
        summary,
        (_log(SRC_HELP),),
        output="sections",
        sections=("overview", "by_model", "failing_tools"),
        people_columns={
            "by_model": (
                "provider",
                "model",
                "turns",
                "latency_p50_ms",
                "latency_p95_ms",
                "total_tokens",
                "cost_usd",
                "tool_error_rate",
            ),
            "failing_tools": ("tool", "tool_category", "calls", "errors", "error_rate"),
        },
    ),
    Command(
        "project",
        "Bring projection tables up to date with the log.",
        project,
        (_log(), arg("--rebuild", action="store_true", help="rebuild them from the whole log")),
    ),
    Command(
        "import",
        "Import real agent logs (claude-code, codex, copilot, gemini, t3code) into a log.",
        import_,
        (
            arg("format", choices=tuple(IMPORTERS), help="source format"),
            arg("paths", nargs="*", help="files or directories (default: the tool's own)"),
            arg("--log", required=True, help=LOG_HELP),
        ),
    ),
    Command(
        "audit",
        "Check a log for violations; exits 1 when there are any.",
        audit,
        (
            _log(SRC_HELP),
            arg(
                "--check", action="append", metavar="NAME", help="run only this check (repeatable)"
            ),
        ),
        output="rows",
    ),
    Command(
        "report",
        "Write an HTML report of a log, with the pages of the sessions it lists beside it.",
        report,
        (
            _log(),
            arg("--out", required=True, help="the HTML file to write (pages: <stem>-sessions/)"),
        ),
    ),
    Command(
        "show",
        "Write one session (thread) as a self-contained HTML page: its figures and timeline.",
        show,
        (
            _log(SRC_HELP),
            arg("thread_id", help="the thread to show (threads_df's thread_id)"),
            arg("--out", help="the HTML file to write (default: <thread id>.html here)"),
            arg("--as-of", help="the log as of this sequence number or point in time"),
        ),
    ),
    Command(
        "merge",
        "Merge logs into one, idempotent by event_id.",
        merge,
        (
            arg("sources", nargs="+", metavar="SRC", help="logs to merge"),
            arg("--into", required=True, metavar="DEST", help="the log to merge into"),
        ),
    ),
    Command(
        "export",
        "Export logs to a Parquet dataset (incremental; for DuckDB, Spark).",
        export,
        (
            arg("logs", nargs="+", metavar="LOG", help="logs to export"),
            arg("--parquet", required=True, metavar="DIR", help="the dataset directory to write"),
        ),
    ),
    Command(
        "backup",
        "Copy a live log consistently (SQLite online backup, verified).",
        backup,
        (
            _log(),
            arg("dest", help="the file to write"),
            arg("--overwrite", action="store_true", help="replace DEST if it exists"),
        ),
    ),
)
