"""The CLI: every command has help and a README example, state is set up through the API,
output is exact, and every command takes --json and --csv and exits 0, 1 or 2."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, at

import eventkit as ek
from eventkit import cli
from eventkit.cli.output import Table, format_number

README_CLI = re.search(
    r"^## The command line\n(.*?)^## ", (ROOT / "README.md").read_text(), re.M | re.S
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _three_events(log: Path) -> None:
    with ek.EventStore.open(log) as store:
        store.append_all(
            [
                ek.ProjectCreated(id="p1", name="demo", path="/src/demo", at=at(0)),
                ek.SettingChanged(key="k", value=1, at=at(1)),
                ek.SettingChanged(key="k", value=2, at=at(2)),
            ]
        )


def _log_id(log: Path) -> str:
    return ek.sql(log, "select value from log.log_info where key = 'log_id'").iloc[0, 0]


# ------------------------------------------------------------------ the registry


def test_the_parser_is_built_from_the_registry():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert list(subparsers.choices) == list(cli.COMMANDS)


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help_output_options_and_a_readme_example(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: eventkit " + name)
    assert cli.COMMANDS[name].help.split(".")[0] in " ".join(text.split())
    assert "--json" in text and "--csv" in text
    assert "exit status: 0 ok, 1 findings" in " ".join(text.split())
    assert README_CLI, "README has no '## The command line' section"
    assert re.search(rf"^\$ eventkit {name}\b", README_CLI.group(1), re.M), name


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "eventkit.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"eventkit {ek.__version__}"


def test_nothing_in_eventkit_imports_the_cli():
    package = ROOT / "eventkit"
    importers = [
        path.relative_to(ROOT)
        for path in package.rglob("*.py")
        if "cli" not in path.relative_to(package).parts[:1]
        and re.search(
            r"^\s*(from|import) eventkit\.cli\b|from eventkit import cli", path.read_text(), re.M
        )
    ]
    assert importers == []


# ------------------------------------------------------------------ every command, every format


@pytest.fixture
def argv_by_command(tmp_path, monkeypatch):
    """One invocation per command, over state made through the API."""
    log = tmp_path / "events.db"
    ek.generate_log(log, events=300, seed=2, progress=False)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        json.dumps({"type": "SettingChanged", "key": "x", "value": 1, "at": "2025-01-01T00:00:00Z"})
        + "\n"
    )

    def fake_report(log, out_html, *, include_code=False):  # the notebook runs in test_notebooks
        Path(out_html).write_text("<html></html>")
        return Path(out_html)

    monkeypatch.setattr("eventkit.apps.report.report", fake_report)
    thread = str(ek.threads_df(log)["thread_id"].iloc[0])
    counter = iter(range(1_000))

    def fresh(name: str) -> Path:
        return tmp_path / f"{name}-{next(counter)}.db"

    return {
        "init": lambda: ["init", fresh("init")],
        "append": lambda: ["append", fresh("append"), jsonl],
        "stats": lambda: ["stats", log],
        "generate": lambda: ["generate", fresh("gen"), "--events", "50"],
        "sql": lambda: ["sql", log, "select event_type, count(*) as n from events group by 1"],
        "views": lambda: ["views", log],
        "search": lambda: ["search", log, "the cause"],
        "summary": lambda: ["summary", log],
        "project": lambda: ["project", log],
        "import": lambda: ["import", "codex", FIXTURES / "codex", "--log", fresh("import")],
        "audit": lambda: ["audit", log],
        "report": lambda: ["report", log, "--out", tmp_path / f"r{next(counter)}.html"],
        "merge": lambda: ["merge", log, "--into", fresh("merge")],
        "export": lambda: ["export", log, "--parquet", tmp_path / f"ds{next(counter)}"],
        "backup": lambda: ["backup", log, fresh("backup")],
        "show": lambda: ["show", log, thread, "--out", tmp_path / f"s{next(counter)}.html"],
    }


def test_every_command_is_exercised(argv_by_command):
    assert set(argv_by_command) == set(cli.COMMANDS)


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_prints_json_and_csv_of_its_declared_shape(name, argv_by_command, capsys):
    command = cli.COMMANDS[name]
    code, out, err = run(capsys, *argv_by_command[name](), "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert out.count("\n") == 1  # one JSON document, one line
    if command.output == "rows":
        assert isinstance(document, list)
        assert document or name == "audit"  # a generated log is sound
    elif command.output == "sections":
        assert list(document) == list(command.sections)
        assert all(isinstance(rows, list) for rows in document.values())
    else:
        assert isinstance(document, dict) and document
    code, out, err = run(capsys, *argv_by_command[name](), "--csv")
    assert (code, err) == (0, "")
    blocks = out.split("\n\n")
    if command.output == "sections":
        assert [list(csv.reader(io.StringIO(b)))[1][0] for b in blocks] == list(command.sections)
        assert all(b.startswith("section,") for b in blocks)
    else:
        (block,) = blocks
        rows = list(csv.reader(io.StringIO(block)))
        assert len({len(r) for r in rows}) == 1  # a header and rows of its width
        if command.output == "record":
            assert len(rows) == 2


def test_json_and_csv_together_are_a_usage_error(log_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["stats", str(log_path), "--json", "--csv"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ------------------------------------------------------------------ rows


def test_sql_rows_exactly_and_no_rows(log_path, capsys):
    _three_events(log_path)
    query = "select sequence, event_type, occurred_at from events order by sequence limit 2"
    code, out, _ = run(capsys, "sql", log_path, query, "--csv")
    assert code == 0
    assert out == (
        "sequence,event_type,occurred_at\n"
        "1,ProjectCreated,2025-01-06T09:00:00.000000Z\n"
        "2,SettingChanged,2025-01-06T09:00:01.000000Z\n"
    )
    code, out, _ = run(capsys, "sql", log_path, query, "--json")
    assert json.loads(out) == [
        {
            "sequence": 1,
            "event_type": "ProjectCreated",
            "occurred_at": "2025-01-06T09:00:00.000000Z",
        },
        {
            "sequence": 2,
            "event_type": "SettingChanged",
            "occurred_at": "2025-01-06T09:00:01.000000Z",
        },
    ]
    code, out, _ = run(capsys, "sql", log_path, "select 1.23456 as x, null as y, 'a' as z")
    assert out == "    x  y  z\n-----  -  -\n1.235     a\n"
    empty = "select event_type, count(*) as n from events where false group by 1"
    assert run(capsys, "sql", log_path, empty, "--csv") == (0, "event_type,n\n", "")
    assert run(capsys, "sql", log_path, empty, "--json") == (0, "[]\n", "")
    assert run(capsys, "sql", log_path, empty) == (0, "event_type  n\n----------  -\n", "")


def test_views_print_the_library_listing(log_path, capsys):
    _three_events(log_path)
    listing = ek.list_views(log_path)
    assert list(listing.columns) == ["view", "column", "type"]
    assert "list_views" in ek.__all__
    code, out, _ = run(capsys, "views", log_path, "--json")
    assert code == 0
    assert json.loads(out) == listing.to_dict(orient="records")
    events = [r for r in json.loads(out) if r["view"] == "events"]
    assert [r["column"] for r in events][:3] == ["sequence", "event_id", "event_type"]
    from eventkit.catalog.entities import MODEL_CALLS

    rows = json.loads(out)
    model_calls = [r["column"] for r in rows if r["view"] == "model_calls"]
    assert model_calls == list(MODEL_CALLS.column_names)  # the projection view, frame columns
    typed = {r["column"] for r in rows if r["view"] == "model_call_completed"}
    assert {"revision", "usage_output_tokens", "requested_at", "stop_reason"} <= typed
    code, out, _ = run(capsys, "views", log_path, "--csv")
    assert out.splitlines()[0] == "view,column,type"
    assert len(out.splitlines()) == len(listing) + 1


def test_audit_exit_codes_and_rows(log_path, capsys):
    _three_events(log_path)
    assert run(capsys, "audit", log_path, "--json") == (0, "[]\n", "")
    assert run(capsys, "audit", log_path, "--csv") == (
        0,
        "check,severity,message,entity_id,sequences\n",
        "",
    )
    assert run(capsys, "audit", log_path) == (0, "audit: no violations\n", "")
    with ek.EventStore.open(log_path) as store:
        store.append_all([ek.TurnCompleted(id="ghost", thread_id="t", outcome="success", at=at(9))])
    findings = ek.audit(log_path, checks=["completions_match_starts"])
    (finding,) = findings
    argv = ["audit", log_path, "--check", "completions_match_starts"]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 1
    assert json.loads(out) == [{**finding.as_dict(), "sequences": [4]}]
    code, out, _ = run(capsys, *argv, "--csv")
    assert code == 1
    assert out == (
        "check,severity,message,entity_id,sequences\n"
        f"completions_match_starts,error,{finding.message},ghost,[4]\n"
    )
    code, out, _ = run(capsys, *argv)
    assert (code, out) == (1, f"{finding}\naudit: 1 violation(s)\n")
    code, out, err = run(capsys, "audit", log_path, "--check", "nope")
    assert (code, out) == (2, "")
    assert err.startswith("eventkit: error: unknown audit check(s): ['nope']")


# ------------------------------------------------------------------ sections


def test_stats_sections_exactly(log_path, capsys):
    _three_events(log_path)
    code, out, _ = run(capsys, "stats", log_path, "--json")
    assert code == 0
    assert json.loads(out) == {
        "log": [
            {
                "log": str(log_path),
                "log_id": _log_id(log_path),
                "events": 3,
                "first_sequence": 1,
                "last_sequence": 3,
                "first_occurred_at": "2025-01-06T09:00:00.000000Z",
                "last_occurred_at": "2025-01-06T09:00:02.000000Z",
                "streams": 2,
            }
        ],
        "events_by_type": [
            {"event_type": "ProjectCreated", "events": 1},
            {"event_type": "SettingChanged", "events": 2},
        ],
        "streams_by_kind": [{"kind": "project", "streams": 1}, {"kind": "settings", "streams": 1}],
    }
    code, out, _ = run(capsys, "stats", log_path, "--csv", "--section", "events_by_type")
    assert out == "event_type,events\nProjectCreated,1\nSettingChanged,2\n"
    code, out, _ = run(capsys, "stats", log_path, "--csv")
    assert out.split("\n\n")[1:] == [
        "section,event_type,events\n"
        "events_by_type,ProjectCreated,1\nevents_by_type,SettingChanged,2",
        "section,kind,streams\nstreams_by_kind,project,1\nstreams_by_kind,settings,1\n",
    ]
    code, out, _ = run(capsys, "stats", log_path)
    assert out == (
        f"log        {log_path}\n"
        f"log_id     {_log_id(log_path)}\n"
        "events     3\n"
        "sequences  1..3\n"
        "occurred   2025-01-06T09:00:00.000000Z .. 2025-01-06T09:00:02.000000Z\n"
        "streams    2 (1 project, 1 settings)\n"
        "\n"
        "event_type      events\n"
        "--------------  ------\n"
        "ProjectCreated       1\n"
        "SettingChanged       2\n"
    )


def test_stats_of_an_empty_log(log_path, capsys):
    ek.EventStore.open(log_path).close()
    code, out, _ = run(capsys, "stats", log_path, "--json")
    document = json.loads(out)
    assert (document["events_by_type"], document["streams_by_kind"]) == ([], [])
    assert document["log"][0]["events"] == 0
    code, out, _ = run(capsys, "stats", log_path, "--csv", "--section", "streams_by_kind")
    assert out == "kind,streams\n"


def test_summary_csv_json_and_sections(small_log, capsys):
    from eventkit.read.metrics import summary

    sections = summary(small_log)
    code, out, _ = run(capsys, "summary", small_log, "--csv")
    assert code == 0
    blocks = out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "section," + ",".join(frame.columns) for frame in sections.values()
    ]
    assert [len(b.splitlines()) - 1 for b in blocks] == [len(f) for f in sections.values()]
    code, out, _ = run(capsys, "summary", small_log, "--json")
    document = json.loads(out)
    assert list(document) == ["overview", "by_model", "failing_tools"]
    by_model = sections["by_model"]
    assert [r["turns"] for r in document["by_model"]] == by_model["turns"].tolist()
    assert document["by_model"][0]["cost_usd"] == by_model["cost_usd"].iloc[0]  # not rounded
    code, out, _ = run(capsys, "summary", small_log, "--csv", "--section", "by_model")
    assert out.splitlines()[0] == ",".join(by_model.columns)
    code, out, _ = run(capsys, "summary", small_log)
    assert out.startswith("== overview\nsessions  subagent_threads  turns")
    assert re.search(r"\n\n== by_model\nprovider +model +turns +latency_p50_ms", out)
    assert re.search(r"\n\n== failing_tools\ntool +tool_category +calls +errors +error_rate\n", out)


def test_summary_of_an_empty_log(log_path, capsys):
    ek.EventStore.open(log_path).close()
    code, out, _ = run(capsys, "summary", log_path, "--json")
    document = json.loads(out)
    assert (code, document["by_model"], document["failing_tools"]) == (0, [], [])
    code, out, _ = run(capsys, "summary", log_path, "--csv", "--section", "failing_tools")
    assert out == "tool,tool_category,calls,errors,error_rate,duration_p50_ms\n"


def test_people_see_rounded_figures_from_one_formatter():
    assert [format_number(v) for v in (0.0, 2.5, 1 / 3, 0.0004, 1234.56, -0.0001)] == [
        "0",
        "2.5",
        "0.333",
        "4.00e-04",
        "1235",
        "-1.00e-04",
    ]
    table = Table(("a",), ((1 / 3,),))
    assert cli.output.format_table(table) == "    a\n-----\n0.333"


# ------------------------------------------------------------------ reports


def test_init_reports_the_log(tmp_path, capsys):
    code, out, _ = run(capsys, "init", tmp_path / "logs")
    assert code == 0
    log = tmp_path / "logs" / "events.db"
    assert log.is_file()
    assert out == f"eventkit log ready at {log} (log_id {_log_id(log)})\n"
    code, out, _ = run(capsys, "init", tmp_path / "logs", "--json")
    assert json.loads(out) == {"log": str(log), "log_id": _log_id(log)}
    code, out, _ = run(capsys, "init", tmp_path / "logs", "--csv")
    assert out == f"log,log_id\n{log},{_log_id(log)}\n"


def test_import_report_as_json_and_csv(tmp_path, capsys):
    log = tmp_path / "events.db"
    code, out, _ = run(capsys, "import", "codex", FIXTURES / "codex", "--log", log, "--json")
    assert code == 0
    document = json.loads(out)
    again = ek.import_codex([FIXTURES / "codex"], tmp_path / "other.db", progress=False)
    assert document == json.loads(json.dumps(again.as_dict()))
    code, out, _ = run(capsys, "import", "codex", FIXTURES / "codex", "--log", log, "--csv")
    header, row = csv.reader(io.StringIO(out))
    assert header == list(again.as_dict())
    fields = dict(zip(header, row, strict=True))
    assert fields["events_written"] == "0" and int(fields["events_already_present"]) > 0
    assert json.loads(fields["skipped"]) == again.as_dict()["skipped"]  # objects as JSON text


def test_t3code_takes_one_database(tmp_path, capsys):
    code, out, err = run(capsys, "import", "t3code", "a", "b", "--log", tmp_path / "x.db")
    assert (code, out) == (2, "")
    assert err == "eventkit: error: t3code imports one state.sqlite at a time\n"


def test_project_merge_and_backup_reports(small_log, tmp_path, capsys):
    code, out, _ = run(capsys, "project", small_log, "--rebuild", "--json")
    events = ek.EventStore.open(small_log)
    total = events.last_sequence()
    events.close()
    assert (code, json.loads(out)) == (0, {"rebuilt": True, "events_applied": total})
    assert run(capsys, "project", small_log, "--csv") == (
        0,
        "rebuilt,events_applied\nfalse,0\n",
        "",
    )
    code, out, _ = run(capsys, "merge", small_log, "--into", tmp_path / "m.db", "--json")
    assert json.loads(out) == {
        "sources": 1,
        "events_read": total,
        "events_written": total,
        "events_already_present": 0,
        "skipped": {},
    }
    code, out, _ = run(capsys, "backup", small_log, tmp_path / "b.db", "--csv")
    header, row = csv.reader(io.StringIO(out))
    assert header == ["path", "events", "last_sequence", "pages"]
    assert row[:3] == [str(tmp_path / "b.db"), str(total), str(total)]


def test_export_report_as_json(small_log, tmp_path, capsys):
    code, out, _ = run(capsys, "export", small_log, "--parquet", tmp_path / "ds", "--json")
    document = json.loads(out)
    assert code == 0
    assert document["out_dir"] == str(tmp_path / "ds")
    assert [s["log_id"] for s in document["sources"]] == [_log_id(small_log)]
    code, out, _ = run(capsys, "export", small_log, "--parquet", tmp_path / "ds", "--csv")
    header, row = csv.reader(io.StringIO(out))
    fields = dict(zip(header, row, strict=True))
    assert (fields["events"], fields["files"]) == ("0", "0")
    assert json.loads(fields["sources"])[0]["log_id"] == _log_id(small_log)


# ------------------------------------------------------------------ generate


def test_generate_is_deterministic(tmp_path, capsys):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    assert run(capsys, "generate", first, "--events", "300", "--seed", "5")[0] == 0
    assert run(capsys, "generate", second, "--events", "300", "--seed", "5")[0] == 0

    def content(path):
        with ek.EventStore.open(path) as store:
            return [(s.event_id, s.event) for s in store.replay_all()]

    assert content(first) == content(second)
    assert len(content(first)) >= 300
    # re-running the same seed adds nothing
    assert run(capsys, "generate", first, "--events", "300", "--seed", "5")[0] == 0
    assert content(first) == content(second)


def test_generate_overwrite_replaces_the_log(tmp_path, capsys):
    log = tmp_path / "g.db"
    ek.generate_log(log, threads=2, seed=1, progress=False)
    ek.EventStore.open(log).close()
    stale = [Path(f"{log}-wal"), Path(f"{log}-shm")]
    for path in stale:
        path.write_bytes(b"")
    code, out, _ = run(capsys, "generate", log, "--threads", "1", "--seed", "9", "--force")
    written = int(re.fullmatch(r"generated (\d+) event\(s\) with seed 9 into .*\n", out).group(1))
    with ek.EventStore.open(log) as store:
        assert store.last_sequence() == written  # only the new sessions
    assert ek.generate_log(log, threads=1, seed=9, overwrite=True, progress=False) == written
    with ek.EventStore.open(log) as store:
        assert store.last_sequence() == written
    with pytest.raises(ValueError, match="needs a path"), ek.EventStore.open(log) as store:
        ek.generate_log(store, threads=1, overwrite=True)


# ------------------------------------------------------------------ append


def _line(**payload) -> str:
    return json.dumps(payload)


def test_append_jsonl_from_file_and_stdin(tmp_path, log_path, capsys, monkeypatch):
    source = tmp_path / "events.jsonl"
    source.write_text(
        _line(type="ProjectCreated", id="p1", name="demo", path="/d", at="2025-01-01T00:00:00Z")
        + "\n\n"
        + json.dumps(
            {
                "event": {
                    "type": "ProjectRenamed",
                    "id": "p1",
                    "name": "x",
                    "at": "2025-01-01T01:00:00+01:00",
                },
                "event_id": "e-rename",
                "metadata": {"actor": "cli-test"},
            }
        )
        + "\n"
    )
    code, out, _ = run(capsys, "append", log_path, source)
    assert code == 0
    assert out == "appended 2 event(s); sequences 1..2\n"
    code, out, _ = run(capsys, "append", log_path, source, "--json")
    # the line without an event_id gets a fresh id; the one with an id is idempotent
    assert json.loads(out) == {
        "source": str(source),
        "written": 1,
        "already_present": 1,
        "first_sequence": 3,
        "last_sequence": 3,
    }
    with ek.EventStore.open(log_path) as store:
        rename = list(store.replay_all())[1]
    assert rename.event_id == "e-rename"
    assert rename.metadata == {"actor": "cli-test"}
    assert rename.occurred_at.isoformat() == "2025-01-01T00:00:00+00:00"  # +01:00 normalised

    line = _line(type="ProjectDeleted", id="p1", at="2025-01-02T00:00:00Z").encode() + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(line)))
    code, out, _ = run(capsys, "append", log_path, "-")
    assert out == "appended 1 event(s); sequences 4..4\n"


def test_append_bad_line_names_line_and_writes_nothing(tmp_path, log_path, capsys):
    source = tmp_path / "bad.jsonl"
    good = _line(type="ProjectCreated", id="p1", name="demo", path="/d", at="2025-01-01T00:00:00Z")
    source.write_text(good + "\n" + good.replace('"p1"', '"p2"') + "\n{not json\n")
    code, out, err = run(capsys, "append", log_path, source)
    assert (code, out) == (2, "")
    assert err.startswith(f"eventkit: error: {source}:3: invalid JSON")
    assert err.endswith("; nothing was written\n") and err.count("\n") == 1
    naive = _line(type="ProjectCreated", id="p3", name="d", path="/d", at="2025-01-01T00:00:00")
    source.write_text(good + "\n" + naive + "\n")
    code, _, err = run(capsys, "append", log_path, source)
    assert code == 2
    assert f"{source}:2: field 'at'" in err
    assert "timezone-aware" in err
    with ek.EventStore.open(log_path) as store:
        assert store.last_sequence() == 0


def test_append_conflicting_duplicate_names_the_line(tmp_path, log_path, capsys):
    source = tmp_path / "dup.jsonl"
    event = {"type": "SettingChanged", "key": "a", "value": 1, "at": "2025-01-01T00:00:00Z"}
    source.write_text(json.dumps({"event": event, "event_id": "e1"}) + "\n")
    assert run(capsys, "append", log_path, source)[0] == 0
    source.write_text(json.dumps({"event": {**event, "value": 2}, "event_id": "e1"}) + "\n")
    code, _, err = run(capsys, "append", log_path, source)
    assert code == 2
    assert err.startswith(f"eventkit: error: {source}:1: ") and "different payload" in err
    assert err.rstrip().endswith("give the changed event a new event_id")
    with pytest.raises(ek.DuplicateEventError, match=f"{source}:1: "):
        from eventkit.log.jsonl import append_jsonl

        append_jsonl(log_path, source)


def test_append_missing_file_is_a_clear_error(tmp_path, log_path, capsys):
    code, out, err = run(capsys, "append", log_path, tmp_path / "none.jsonl")
    assert (code, out) == (2, "")
    assert err == f"eventkit: error: No such file or directory: {tmp_path / 'none.jsonl'}\n"


# ------------------------------------------------------------------ errors for a person


def test_a_missing_log_suggests_init(tmp_path, capsys):
    code, out, err = run(capsys, "stats", tmp_path / "nope.db")
    assert (code, out) == (2, "")
    assert err == (
        f"eventkit: error: no eventkit log at {tmp_path / 'nope.db'}; "
        "create one with `eventkit init PATH`, or check the path\n"
    )
    assert not (tmp_path / "nope.db").exists()


def test_a_missing_import_source_names_the_path_without_init(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "import", "codex", "/no/such/dir", "--log", "x.db")
    assert (code, out) == (2, "")
    assert err.startswith("eventkit: error: ") and err.count("\n") == 1
    assert "/no/such/dir" in err
    assert "init" not in err


def test_a_source_not_found_error_is_rewritten_without_init():
    from eventkit.cli.errors import error_line

    line = error_line(ek.SourceNotFoundError("no Codex rollout file or directory at /no/such/dir"))
    assert line == (
        "eventkit: error: no Codex rollout file or directory at /no/such/dir; "
        "the importer's input is missing; check the path"
    )


def test_an_unreadable_schema_version_exits_2_in_one_line(log_path, capsys):
    _three_events(log_path)
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(log_path)) as conn, conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        triggers = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        ]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("UPDATE events SET schema_version = 99 WHERE sequence = 2")
    code, out, err = run(capsys, "sql", log_path, "select * from setting_changed")
    assert (code, out) == (2, "")
    assert err.startswith("eventkit: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["nope"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import", "aider", "x", "--log", "y"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'aider'" in capsys.readouterr().err


def test_a_bug_exits_2_with_its_traceback_never_1(log_path, capsys, monkeypatch):
    ek.EventStore.open(log_path).close()

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("eventkit.read.stats.stats", broken)
    assert cli.main(["stats", str(log_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "internal error" in err
