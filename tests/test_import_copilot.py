"""The GitHub Copilot CLI importer against a real recording (1.0.34) and small files
derived from it.

Expected numbers come from reading the file independently with ``json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from growing import assert_growing_equals_fresh

import eventkit as ek
from eventkit.cli import main as cli_main
from eventkit.importers.copilot import import_copilot

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "fixtures" / "copilot"
FIXTURE = REAL / "vibecodingtracker__copilot-1.0.34.jsonl"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def shutdown_totals(path: Path) -> dict[str, dict[str, int]]:
    """Per model, the sum of every shutdown line's figures (uncached input = input −
    cache reads − cache writes)."""
    out: dict[str, dict[str, int]] = {}
    for record in records(path):
        if record["type"] != "session.shutdown":
            continue
        for model, entry in record["data"]["modelMetrics"].items():
            u = entry["usage"]
            row = out.setdefault(model, dict.fromkeys(("input", "output", "read", "write"), 0))
            row["input"] += u["inputTokens"] - u["cacheReadTokens"] - u["cacheWriteTokens"]
            row["output"] += u["outputTokens"]
            row["read"] += u["cacheReadTokens"]
            row["write"] += u["cacheWriteTokens"]
    return out


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


def test_token_totals_per_model_equal_the_shutdown_figures(log_path: Path) -> None:
    import_copilot(FIXTURE, log_path, progress=False)
    calls = ek.model_calls_df(log_path)
    want = shutdown_totals(FIXTURE)
    assert set(calls["model"]) == set(want)
    for model, row in want.items():
        of = calls[calls["model"] == model]
        assert int(of["input_tokens"].sum()) == row["input"]
        assert int(of["output_tokens"].sum()) == row["output"]
        assert int(of["cache_read_tokens"].sum()) == row["read"]
        assert int(of["cache_write_tokens"].sum()) == row["write"]
    assert (calls["cost_source"] == "estimated").all()


def test_calls_turns_tools_and_outputs_follow_the_file(log_path: Path) -> None:
    report = import_copilot(FIXTURE, log_path, progress=False)
    raw = records(FIXTURE)
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    interaction = None
    outputs: dict[str, int] = {}
    for record in raw:
        data = record["data"]
        if record["type"] == "assistant.turn_start":
            interaction = f"{data['interactionId']}:{data['turnId']}"
        elif record["type"] == "assistant.message":
            outputs[interaction] = outputs.get(interaction, 0) + data["outputTokens"]
    pairs = sum(1 for r in raw if r["type"] == "assistant.turn_start")
    assert len(calls) == pairs
    last = max(outputs, key=lambda c: calls.loc[c, "input_tokens"])
    for call, output in outputs.items():
        if call != last:  # the restated call also takes the output the others lack
            assert calls.loc[call, "output_tokens"] == output
    tool_ids = {r["data"]["toolCallId"] for r in raw if r["type"].startswith("tool.execution")} | {
        t["toolCallId"]
        for r in raw
        if r["type"] == "assistant.message"
        for t in r["data"].get("toolRequests", [])
    }
    tools = ek.tool_calls_df(log_path)
    assert len(tools) == len(tool_ids)
    assert (tools["status"] == "ok").all()
    turns = ek.turns_df(log_path)
    assert len(turns) == sum(1 for r in raw if r["type"] == "user.message")
    assert set(turns["status"]) == {"success"}
    premium = [r["data"]["totalPremiumRequests"] for r in raw if r["type"] == "session.shutdown"]
    assert report.counts["premium requests"] == sum(premium)
    threads = ek.threads_df(log_path)
    start = raw[0]["data"]
    assert threads["thread_id"].tolist() == [start["sessionId"]]
    assert threads["provider"].tolist() == ["copilot"]
    projects = ek.projects_df(log_path)
    assert start["context"]["gitRoot"] in set(projects["path"])


def test_calls_before_any_model_is_named_count_once(tmp_path: Path, log_path: Path) -> None:
    """Without model changes the run's calls name no model until the shutdown does: its
    figures restate them and the output is not counted a second time."""
    lines = FIXTURE.read_text().splitlines(keepends=True)
    derived = tmp_path / "events.jsonl"
    derived.write_text("".join(line for line in lines if '"session.model_change"' not in line))
    import_copilot(derived, log_path, progress=False)
    calls = ek.model_calls_df(log_path)
    ((model, want),) = shutdown_totals(derived).items()
    columns = {
        "input": "input_tokens",
        "output": "output_tokens",
        "read": "cache_read_tokens",
        "write": "cache_write_tokens",
    }
    assert {k: int(calls[c].sum()) for k, c in columns.items()} == want
    assert model in set(calls["model"])
    assert len(calls) == sum(1 for line in lines if '"assistant.turn_start"' in line)


def test_reimport_adds_nothing(log_path: Path) -> None:
    import_copilot(FIXTURE, log_path, progress=False)
    again = import_copilot(FIXTURE, log_path, progress=False)
    assert again.events_written == 0


def test_growing_prefixes_end_where_one_import_does(tmp_path: Path) -> None:
    assert_growing_equals_fresh(import_copilot, [FIXTURE], REAL, tmp_path)


def test_damaged_lines_unknown_types_and_no_shutdown_are_reported(
    tmp_path: Path, log_path: Path
) -> None:
    lines = FIXTURE.read_text().splitlines()
    kept = [line for line in lines if '"session.shutdown"' not in line]
    unknown = json.dumps(
        {"type": "future.thing", "data": {}, "id": "x", "timestamp": "2026-04-23T17:12:00Z"}
    )
    damaged = kept[:10] + ["{not json", unknown] + kept[10:]
    path = tmp_path / "src" / "s1" / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(damaged) + "\n")
    report = import_copilot(path, log_path, progress=False)
    assert report.skipped["invalid JSON"] == 1
    assert report.skipped["unknown record type"] == 1
    assert report.counts["sessions without session.shutdown (no input or cache figures)"] == 1
    assert any("no session.shutdown" in w for w in report.warnings)
    calls = ek.model_calls_df(log_path)
    assert int(calls["input_tokens"].sum()) == 0
    assert len(calls) == 6
    turns = ek.turns_df(log_path)
    assert (turns["status"] == "running").sum() == 0  # the second ends at task_complete


def test_a_file_of_another_format_is_skipped_with_a_reason(tmp_path: Path, log_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"sessionId": "x", "messages": []}) + "\n")
    report = import_copilot([other, FIXTURE], log_path, progress=False)
    assert report.skipped["not a GitHub Copilot CLI session"] == 1
    assert len(ek.threads_df(log_path)) == 1


def test_copilot_home_is_the_default_location(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "home" / "session-state" / "abc" / "events.jsonl"
    target.parent.mkdir(parents=True)
    target.write_bytes(FIXTURE.read_bytes())
    monkeypatch.setenv("COPILOT_HOME", str(tmp_path / "home"))
    report = import_copilot(None, log_path, progress=False)
    assert report.files == 1 and report.threads == 1


def test_command_line_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.db"
    assert cli_main(["import", "copilot", str(FIXTURE), "--log", str(log)]) == 0
    assert "copilot" in capsys.readouterr().out
    assert len(ek.model_calls_df(log)) == 6
