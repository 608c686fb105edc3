"""The ``eventkit`` command: one thin command per library function.

Each command opens what it needs, calls one library function, and prints the result:
tables for people, ``--json`` or ``--csv`` for programs. Library errors are stated
as facts; here they are rewritten for a person, with the fix where there is one.
"""

from __future__ import annotations

import argparse
import csv
import json
import numbers
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eventkit import errors

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(func: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = func
        return func

    return register


# --------------------------------------------------------------------------- output


def _add_format_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print JSON (for programs)")
    group.add_argument("--csv", action="store_true", help="print CSV (for programs)")


def print_rows(args: argparse.Namespace, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
    """Print rows as a table, or as JSON/CSV when asked."""
    out = sys.stdout
    if getattr(args, "json", False):
        json.dump([dict(zip(columns, row, strict=True)) for row in rows], out, default=str)
        out.write("\n")
    elif getattr(args, "csv", False):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        out.write(format_table(columns, rows) + "\n")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        bool(rows) and all(row[i] is None or _is_number(row[i]) for row in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(columns)), rule, *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{float(value):.6g}"
    return str(value).replace("\n", "\\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def print_frame(args: argparse.Namespace, frame) -> None:  # noqa: ANN001 - a DataFrame
    columns = [str(c) for c in frame.columns]
    rows = [
        [None if _is_missing(v) else v for v in row]
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    print_rows(args, columns, rows)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


# --------------------------------------------------------------------------- commands


@command("init")
def _init(args: argparse.Namespace) -> int:
    from eventkit.log.files import resolve_log_path
    from eventkit.log.migrations import log_info, open_or_create_db

    conn = open_or_create_db(args.log)
    try:
        info = log_info(conn)
    finally:
        conn.close()
    print(f"eventkit log ready at {resolve_log_path(args.log)} (log_id {info.get('log_id')})")
    return 0


@command("append")
def _append(args: argparse.Namespace) -> int:
    from eventkit.log.jsonl import read_event_lines
    from eventkit.log.store import EventStore

    if args.file == "-":
        events = read_event_lines(sys.stdin.buffer, "<stdin>")
    else:
        with open(args.file, "rb") as fh:
            events = read_event_lines(fh, args.file)
    with EventStore.open(args.log) as store:
        before = store.last_sequence()
        stored = []
        for start in range(0, len(events), args.batch_size):
            batch = events[start : start + args.batch_size]
            try:
                stored += store.append_all([event for _, event in batch])
            except errors.EventkitError as exc:
                index = getattr(exc, "index", None)
                if index is None:
                    raise
                line = batch[index][0]
                earlier = f" ({len(stored)} earlier event(s) were written)" if stored else ""
                raise errors.EventkitError(
                    f"{args.file}:{line}: {exc}; nothing from this batch was written{earlier}"
                ) from exc
    written = sum(1 for s in stored if s.sequence > before)
    print(
        f"appended {written} event(s)"
        + (f", {len(stored) - written} already present" if len(stored) > written else "")
        + (f"; sequences {before + 1}..{before + written}" if written else "")
    )
    return 0


@command("stats")
def _stats(args: argparse.Namespace) -> int:
    from eventkit.read.stats import stats

    result = stats(args.log)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = sorted(result["events_by_type"].items(), key=lambda kv: (-kv[1], kv[0]))
    if args.csv:
        print_rows(args, ["event_type", "events"], rows)
        return 0
    print(f"log        {result['log']}")
    print(f"log_id     {result['log_id']}")
    print(f"events     {result['events']}")
    if result["events"]:
        print(f"sequences  {result['first_sequence']}..{result['last_sequence']}")
        print(f"occurred   {result['first_occurred_at']} .. {result['last_occurred_at']}")
        kinds = ", ".join(f"{n} {k}" for k, n in result["streams_by_kind"].items())
        print(f"streams    {result['streams']} ({kinds})")
        print()
        print_rows(args, ["event_type", "events"], rows)
    return 0


@command("generate")
def _generate(args: argparse.Namespace) -> int:
    from eventkit.apps.synth import generate_log

    if args.force:
        from eventkit.log.files import resolve_log_path

        target = resolve_log_path(args.log)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    events = args.events if args.events is not None or args.threads is not None else 10_000
    written = generate_log(args.log, seed=args.seed, threads=args.threads, events=events)
    print(f"generated {written} event(s) with seed {args.seed} into {args.log}")
    return 0


@command("sql")
def _sql(args: argparse.Namespace) -> int:
    from eventkit.read.readers import sql

    print_frame(args, sql(args.log, args.query))
    return 0


@command("views")
def _views(args: argparse.Namespace) -> int:
    from eventkit.read.readers import connect_duckdb

    con = connect_duckdb(args.log)
    try:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_catalog = current_database() AND table_schema = 'main'"
            " ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    if args.json or args.csv:
        print_rows(args, ["view", "column", "type"], rows)
        return 0
    views: dict[str, list[str]] = {}
    for view, column, dtype in rows:
        views.setdefault(view, []).append(f"{column} {dtype}")
    for view, columns in views.items():
        print(f"{view}: {', '.join(columns)}")
    return 0


@command("summary")
def _summary(args: argparse.Namespace) -> int:
    from eventkit.read.metrics import summary

    sections = summary(args.log)
    if args.json:
        print(json.dumps({k: json.loads(v.to_json(orient="records")) for k, v in sections.items()}))
        return 0
    by_model = sections["by_model"].assign(
        p50_s=lambda d: (d["latency_p50_ms"] / 1000).round(1),
        p95_s=lambda d: (d["latency_p95_ms"] / 1000).round(1),
        cost_usd=lambda d: d["cost_usd"].round(2),
        tool_error_rate=lambda d: d["tool_error_rate"].round(3),
    )[
        [
            "provider",
            "model",
            "turns",
            "p50_s",
            "p95_s",
            "total_tokens",
            "cost_usd",
            "tool_error_rate",
        ]
    ]
    tools = sections["failing_tools"].assign(error_rate=lambda d: d["error_rate"].round(3))
    for title, frame in (
        ("overview", sections["overview"].round(2)),
        ("by provider and model", by_model),
        ("failing tools", tools[["tool", "tool_category", "calls", "errors", "error_rate"]]),
    ):
        print(f"== {title}")
        print_frame(args, frame)
        print()
    return 0


@command("project")
def _project(args: argparse.Namespace) -> int:
    from eventkit.log.migrations import open_or_create_db
    from eventkit.log.projections import catch_up, rebuild_projections

    conn = open_or_create_db(args.log)
    try:
        if args.rebuild:
            count = rebuild_projections(conn)
            print(f"rebuilt projections from {count} event(s)")
        else:
            count = catch_up(conn)
            print(f"projections caught up: {count} event(s) applied")
    finally:
        conn.close()
    return 0


@command("import")
def _import(args: argparse.Namespace) -> int:
    from eventkit import importers

    importer = {
        "claude-code": importers.import_claude_code,
        "codex": importers.import_codex,
        "t3code": importers.import_t3code,
    }[args.format]
    paths = args.paths or None
    if args.format == "t3code":
        if paths and len(paths) > 1:
            raise SystemExit("error: t3code imports one state.sqlite at a time")
        paths = paths[0] if paths else None
    report = importer(paths, args.log)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report)
    return 0


@command("audit")
def _audit(args: argparse.Namespace) -> int:
    from eventkit.apps.audit import audit, violations

    findings = audit(args.log, checks=args.check or None)
    failed = violations(findings)
    if args.json or args.csv:
        columns = ["check", "severity", "message", "entity_id", "sequences"]
        rows = [
            [f.check, f.severity, f.message, f.entity_id, " ".join(map(str, f.sequences))]
            for f in findings
        ]
        print_rows(args, columns, rows)
    else:
        for finding in findings:
            print(finding)
        notes = len(findings) - len(failed)
        verdict = f"{len(failed)} violation(s)" if failed else "no violations"
        print(f"audit: {verdict}" + (f", {notes} note(s)" if notes else ""))
    return 1 if failed else 0


@command("report")
def _report(args: argparse.Namespace) -> int:
    from eventkit.apps.report import report

    out = report(args.log, args.out, include_code=args.with_code)
    print(f"report written to {out}")
    return 0


@command("merge")
def _merge(args: argparse.Namespace) -> int:
    from eventkit.log.merge import merge

    result = merge(args.sources, args.into)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result)
    return 0


@command("export")
def _export(args: argparse.Namespace) -> int:
    from eventkit.scale.export import export_parquet

    result = export_parquet(args.logs, args.parquet)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result)
    return 0


@command("backup")
def _backup(args: argparse.Namespace) -> int:
    from eventkit.log.backup import backup

    result = backup(args.log, args.dest, overwrite=args.overwrite)
    print(
        f"backed up {result.events} event(s) (through sequence {result.last_sequence}) "
        f"to {result.path}; integrity check ok"
    )
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventkit",
        description="Record, import and analyse AI-agent sessions as an event log.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, **kwargs)

    log_help = "the log: a .db file or a directory holding events.db"

    p = add("init", "Create (or migrate) an event log.")
    p.add_argument("log", help=log_help)

    p = add(
        "append",
        "Append canonical events from a JSON Lines file. Every line is validated before "
        "anything is written; a bad line writes nothing.",
    )
    p.add_argument("log", help=log_help)
    p.add_argument("file", help="JSON Lines file of events, or - for standard input")
    p.add_argument(
        "--batch-size",
        type=int,
        default=1_000,
        help="events per transaction (default 1,000); each batch is all or nothing, so a "
        "duplicate or version conflict in a later batch leaves the earlier ones written",
    )

    p = add("stats", "Show counts by event type, the sequence range and streams.")
    p.add_argument("log", help=log_help)
    _add_format_options(p)

    p = add("generate", "Append realistic generated sessions (deterministic by seed).")
    p.add_argument("log", help=log_help)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--threads", type=int, help="how many sessions to generate")
    size.add_argument("--events", type=int, help="about how many events (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same log)")
    p.add_argument("--force", action="store_true", help="delete the log first if it exists")

    p = add("sql", "Run a DuckDB query over the log's views (read-only).")
    p.add_argument("log", help=log_help)
    p.add_argument("query", help="SQL over events, turn_completed, turns, … (see `views`)")
    _add_format_options(p)

    p = add("views", "List the DuckDB views of a log and their columns.")
    p.add_argument("log", help=log_help)
    _add_format_options(p)

    p = add("summary", "Print sessions, turn latency, tokens and cost by model, failing tools.")
    p.add_argument("log", help=log_help)
    p.add_argument("--json", action="store_true", help="print JSON (for programs)")

    p = add("project", "Bring projection tables up to date with the log.")
    p.add_argument("log", help=log_help)
    p.add_argument("--rebuild", action="store_true", help="rebuild them from the whole log")

    p = add("audit", "Check a log for violations; exits 1 when there are any.")
    p.add_argument("log", help=log_help)
    p.add_argument(
        "--check", action="append", metavar="NAME", help="run only this check (repeatable)"
    )
    _add_format_options(p)

    p = add("report", "Run the session-analytics notebook on a log and write HTML.")
    p.add_argument("log", help=log_help)
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--with-code", action="store_true", help="show the notebook's code cells")

    p = add("merge", "Merge logs into one, idempotent by event_id.")
    p.add_argument("sources", nargs="+", metavar="SRC", help="logs to merge")
    p.add_argument("--into", required=True, metavar="DEST", help="the log to merge into")
    p.add_argument("--json", action="store_true", help="print the merge report as JSON")

    p = add("export", "Export logs to a Parquet dataset (incremental; for DuckDB, Spark).")
    p.add_argument("logs", nargs="+", metavar="LOG", help="logs to export")
    p.add_argument("--parquet", required=True, metavar="DIR", help="the dataset directory to write")
    p.add_argument("--json", action="store_true", help="print the export report as JSON")

    p = add("backup", "Copy a live log consistently (SQLite online backup, verified).")
    p.add_argument("log", help=log_help)
    p.add_argument("dest", help="the file to write")
    p.add_argument("--overwrite", action="store_true", help="replace DEST if it exists")

    p = add("import", "Import real agent logs (claude-code, codex, t3code) into a log.")
    p.add_argument("format", choices=["claude-code", "codex", "t3code"], help="source format")
    p.add_argument("paths", nargs="*", help="files or directories (default: the tool's own)")
    p.add_argument("--log", required=True, help=log_help)
    p.add_argument("--json", action="store_true", help="print the import report as JSON")
    return parser


def _version() -> str:
    from eventkit import __version__

    return f"eventkit {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except errors.EventkitError as exc:
        print(f"error: {_for_people(exc)}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: no such file: {exc.filename}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


def _for_people(exc: errors.EventkitError) -> str:
    """Rewrite a library fact for a person, naming the fix where there is one."""
    message = str(exc)
    if isinstance(exc, errors.NewerSchemaError):
        return f"{message}\n  fix: pip install --upgrade eventkit"
    if isinstance(exc, errors.LogNotFoundError):
        return f"{message}\n  fix: create one with `eventkit init PATH`, or check the path"
    if isinstance(exc, errors.NotAnEventLogError):
        return f"{message}\n  fix: point eventkit at an eventkit log (eventkit init makes one)"
    if isinstance(exc, errors.DuplicateEventError):
        return f"{message}\n  fix: give the changed event a new event_id"
    if isinstance(exc, errors.ConcurrencyError):
        return f"{message}\n  fix: re-read the stream and retry with the current version"
    if isinstance(exc, errors.EventValidationError):
        return f"{message}\n  nothing was written"
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
