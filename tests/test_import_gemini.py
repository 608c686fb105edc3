"""The Gemini CLI importer against two real recordings (JSON Lines, 2026; the older
single-JSON form, 2025) and small files derived from them.

Expected numbers come from reading the files independently with ``json``: per distinct
record id, the last version of the record, mapped as FORMATS.md says.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from growing import assert_growing_equals_fresh, assert_same_frames

import eventkit as ek
from eventkit.cli import main as cli_main
from eventkit.importers.gemini import gemini_files, import_gemini

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "fixtures" / "gemini"
JSONL = REAL / "vibecodingtracker__gemini.jsonl"
SINGLE = REAL / "agentcmd__session-2025-10-29T10-36-9c9a14e1.json"
CLAUDE = ROOT / "data" / "fixtures" / "claude_code" / "spotter__subagent.jsonl"
PRICES = json.loads((ROOT / "eventkit" / "catalog" / "prices.json").read_text())
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens")


# --------------------------------------------------------------------------- the raw files


def raw_records(path: Path) -> list[dict]:
    """Every version of every message record, in file order (either form)."""
    text = path.read_text()
    if path.suffix == ".json":
        return list(json.loads(text)["messages"])
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            out.append(record)
    return out


def last_versions(path: Path) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for record in raw_records(path):
        latest[record["id"]] = record
    return latest


def expected_calls(path: Path) -> dict[str, dict[str, Any]]:
    """Model call id → model and token columns, from the last version of each record."""
    calls = {}
    for record_id, record in last_versions(path).items():
        # A response record has tokens (null until counted) or a model; history that
        # gemini-cli re-records after compressing the context has neither.
        if record.get("type") != "gemini" or not ("tokens" in record or "model" in record):
            continue
        t = record.get("tokens") or {}
        n = {k: t.get(k) or 0 for k in ("input", "output", "cached", "thoughts", "tool")}
        calls[record_id] = {
            "model": record.get("model"),
            "input_tokens": n["input"] - n["cached"] + n["tool"],
            "output_tokens": n["output"] + n["thoughts"],
            "cache_read_tokens": n["cached"],
            "reasoning_tokens": n["thoughts"],
        }
    return calls


def expected_tools(path: Path) -> dict[str, dict]:
    """Tool call id → its last recorded version."""
    tools = {}
    for record in last_versions(path).values():
        for call in record.get("toolCalls") or []:
            tools[call["id"]] = call
    return tools


def list_cost(model: str, row: dict[str, Any]) -> float:
    rates = PRICES["models"][model]
    return (
        row["input_tokens"] * rates["input"]
        + row["output_tokens"] * rates["output"]
        + row["cache_read_tokens"] * rates["cache_read"]
    ) / 1_000_000


def events(log: Path, *types: str) -> list[ek.StoredEvent]:
    with ek.EventStore.open(log) as store:
        return list(store.replay_all(types=types or None))


def write_jsonl(path: Path, lines: list[dict | str], *, last_newline: bool = True) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ("\n" if last_newline else ""))
    return path


# --------------------------------------------------------------------------- real recordings


@pytest.mark.parametrize("path", [JSONL, SINGLE], ids=["jsonl", "single-json"])
def test_token_totals_equal_the_raw_files(path: Path, log_path: Path) -> None:
    report = import_gemini(path, log_path, progress=False)
    expected = expected_calls(path)
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    assert sorted(calls.index) == sorted(expected)
    for call_id, want in expected.items():
        row = calls.loc[call_id]
        assert row["model"] == want["model"]
        assert {k: int(row[k]) for k in TOKENS} == {k: want[k] for k in TOKENS}, call_id
        assert int(row["cache_write_tokens"]) == 0
    turns = ek.turns_df(log_path)
    for column in TOKENS:
        assert int(turns[column].sum()) == sum(c[column] for c in expected.values())
    assert report.counts["model calls"] == len(expected)


@pytest.mark.parametrize("path", [JSONL, SINGLE], ids=["jsonl", "single-json"])
def test_tool_calls_equal_the_files_tool_calls(path: Path, log_path: Path) -> None:
    import_gemini(path, log_path, progress=False)
    want = expected_tools(path)
    session = (
        json.loads(path.read_text().splitlines()[0])
        if path.suffix == ".jsonl"
        else json.loads(path.read_text())
    )["sessionId"]
    tools = ek.tool_calls_df(log_path).set_index("tool_call_id")
    assert sorted(tools.index) == sorted(f"{session}:{i}" for i in want)
    status = {"success": "ok", "error": "error", "cancelled": "denied"}
    for call_id, call in want.items():
        row = tools.loc[f"{session}:{call_id}"]
        assert row["tool"] == call["name"]
        assert row["status"] == status[call["status"]]
        assert json.loads(row["input"]) == call["args"]
        outputs = [p["functionResponse"]["response"]["output"] for p in call["result"]]
        assert row["output"] == "\n".join(outputs)


def test_cost_is_estimated_per_call_from_the_price_table(log_path: Path) -> None:
    report = import_gemini([JSONL, SINGLE], log_path, progress=False)
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    expected = {**expected_calls(JSONL), **expected_calls(SINGLE)}
    for call_id, want in expected.items():
        assert calls.loc[call_id, "cost_source"] == "estimated"
        assert calls.loc[call_id, "cost_usd"] == pytest.approx(list_cost(want["model"], want))
    assert report.unpriced_models == Counter()
    assert report.cost_sources == Counter({"estimated": len(expected)})


def test_turns_prompts_and_markers_of_the_jsonl_recording(log_path: Path) -> None:
    import_gemini(JSONL, log_path, progress=False)
    records = last_versions(JSONL)
    users = [r for r in records.values() if r["type"] == "user"]
    # Two prompts a person typed (one a /init command); one user record the CLI wrote.
    typed = [u for u in users if "System: Please continue." not in json.dumps(u)]
    assert len(typed) == 2 and len(users) == 3
    turns = ek.turns_df(log_path).sort_values("started_at").reset_index(drop=True)
    assert list(turns["status"]) == ["success", "interrupted"]
    cancelled = next(r for r in records.values() if r.get("content") == "Request cancelled.")
    assert turns.loc[1, "completed_at"] == pd.Timestamp(cancelled["timestamp"])
    started = events(log_path, "TurnStarted")
    assert started[0].metadata["command"] == "/init"
    prompts = ek.messages_df(log_path).query("role == 'user'").sort_values("created_at")
    assert list(prompts["text"]) == ["/init", typed[1]["content"][0]["text"]]
    threads = ek.threads_df(log_path)
    assert list(threads["title"]) == ["/init"] and list(threads["provider"]) == ["gemini"]
    assert threads.loc[0, "model"] == "gemini-3-flash-preview"
    answers = [r for r in records.values() if r["type"] == "gemini" and r["content"]]
    texts = ek.messages_df(log_path).query("role == 'assistant'")
    assert sorted(texts["text"]) == sorted(r["content"] for r in answers)


def test_the_older_single_json_form(log_path: Path) -> None:
    report = import_gemini(SINGLE, log_path, progress=False)
    data = json.loads(SINGLE.read_text())
    threads = ek.threads_df(log_path)
    assert list(threads["thread_id"]) == [data["sessionId"]]
    assert threads.loc[0, "title"] == " ".join(data["messages"][0]["content"].split())
    turns = ek.turns_df(log_path)
    assert list(turns["status"]) == ["running"]  # the file ends with no end marker
    assert int(turns.loc[0, "model_calls"]) == 2
    project = ek.projects_df(log_path)
    assert list(project["path"]) == [f"gemini-project:{data['projectHash']}"]
    assert report.counts["single-JSON chat files"] == 1


def test_reimport_adds_nothing(log_path: Path) -> None:
    import_gemini(REAL, log_path, progress=False)
    before = len(events(log_path))
    again = import_gemini(REAL, log_path, progress=False)
    assert again.events_written == 0 and len(events(log_path)) == before
    assert again.events_already_present > 0


def test_growing_prefixes_end_where_one_import_does(tmp_path: Path) -> None:
    assert len(JSONL.read_text().splitlines()) <= 100  # so: every line boundary
    assert_growing_equals_fresh(import_gemini, [JSONL], REAL, tmp_path)


def test_growing_single_json_file_ends_where_one_import_does(
    tmp_path: Path, log_path: Path
) -> None:
    """The older form is rewritten whole: each state is a prefix of the messages, the last
    one possibly an earlier version (no tokens, no tool calls yet)."""
    data = json.loads(SINGLE.read_text())
    messages = data["messages"]
    early = {k: v for k, v in messages[1].items() if k not in ("tokens", "toolCalls")}
    states = [messages[:1], [messages[0], early], messages[:2], messages]
    live = tmp_path / "session-2025-10-29T10-36-9c9a14e1.json"
    for state in states:
        live.write_text(json.dumps({**data, "messages": state}))
        import_gemini(live, log_path, progress=False)
    fresh = tmp_path / "fresh.db"
    import_gemini(live, fresh, progress=False)
    assert_same_frames(log_path, fresh)
    revisions = [e.event.revision for e in events(log_path, "ModelCallCompleted")]
    assert sorted(revisions) == [1, 2, 2]  # the early version restated once its counts came


# --------------------------------------------------------------------------- derived files

MAIN = "11111111-2222-4333-8444-555555555555"


def chat_lines(*, with_rewind: bool = True) -> list[dict]:
    """A JSON Lines chat: upserts, a later token count, $set patches and a rewind."""

    def at(second: int) -> str:
        return f"2026-05-01T10:00:{second:02d}.000Z"

    def gemini(rid: str, second: int, **extra: Any) -> dict:
        return {
            "id": rid,
            "timestamp": at(second),
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-flash",
            **extra,
        }

    def tokens(i: int, o: int, c: int = 0, t: int = 0, tool: int = 0) -> dict:
        return {
            "input": i,
            "output": o,
            "cached": c,
            "thoughts": t,
            "tool": tool,
            "total": i + o + t + tool,
        }

    call = {
        "id": "c1",
        "name": "read_file",
        "args": {"file_path": "a.py"},
        "timestamp": at(4),
        "status": "executing",
    }
    done = {
        **call,
        "status": "success",
        "resultDisplay": "",
        "result": [
            {
                "functionResponse": {
                    "id": "c1",
                    "name": "read_file",
                    "response": {"output": "print(1)"},
                }
            }
        ],
    }
    lines: list[dict] = [
        {
            "sessionId": MAIN,
            "projectHash": "abc",
            "startTime": at(0),
            "lastUpdated": at(0),
            "kind": "main",
        },
        {"id": "u1", "timestamp": at(1), "type": "user", "content": [{"text": "fix a.py"}]},
        {"$set": {"lastUpdated": at(1)}},
        gemini(
            "g1",
            3,
            tokens=None,
            thoughts=[{"subject": "s", "description": "d", "timestamp": at(2)}],
        ),
        gemini("g1", 3, tokens=tokens(1000, 20, 400, 30, 5), toolCalls=[call]),
        gemini("g1", 3, tokens=tokens(1000, 20, 400, 30, 5), toolCalls=[done]),
        gemini("g2", 6, content="Part one", tokens=tokens(1200, 10)),
        gemini("g2", 6, content="Part one, and two", tokens=tokens(1200, 10)),
        {"$set": {"summary": "Fix the print in a.py", "lastUpdated": at(6)}},
        {"id": "e1", "timestamp": at(7), "type": "error", "content": "[API Error: quota]"},
        {"id": "u2", "timestamp": at(8), "type": "user", "content": "try again"},
        gemini("g3", 9, content="Done.", tokens=tokens(1300, 5)),
    ]
    if with_rewind:
        lines += [
            {"$rewindTo": "u2"},
            {"id": "u3", "timestamp": at(20), "type": "user", "content": "something else"},
            gemini("g4", 21, tokens=tokens(0, 0)),
        ]
    return lines


def test_set_patches_upserts_and_a_rewind(tmp_path: Path, log_path: Path) -> None:
    path = write_jsonl(tmp_path / "chats" / "session-2026-05-01T10-00-11111111.jsonl", chat_lines())
    report = import_gemini(path, log_path, progress=False)
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    expected = expected_calls(path)
    assert sorted(calls.index) == ["g1", "g2", "g3", "g4"]
    for call_id, want in expected.items():
        assert {k: int(calls.loc[call_id, k]) for k in TOKENS} == {k: want[k] for k in TOKENS}
    # g1's first version had no counts: restated (revision 2) once they came, not after.
    revisions = [(e.event.id, e.event.revision) for e in events(log_path, "ModelCallCompleted")]
    assert revisions.count(("g1", 1)) == 1 and revisions.count(("g1", 2)) == 1
    assert calls.loc["g4", "input_tokens"] == 0  # all-zero tokens: still a call
    tools = ek.tool_calls_df(log_path)
    assert list(tools["tool_call_id"]) == [f"{MAIN}:c1"]
    assert list(tools["status"]) == ["ok"] and list(tools["output"]) == ["print(1)"]
    texts = ek.messages_df(log_path).query("role == 'assistant'")
    assert sorted(texts["text"]) == ["Done.", "Part one, and two"]
    assert ek.threads_df(log_path).loc[0, "title"] == "Fix the print in a.py"
    turns = ek.turns_df(log_path).sort_values("started_at").reset_index(drop=True)
    assert list(turns["status"]) == ["error", "success", "running"]
    completed = {e.event.id: e.metadata for e in events(log_path, "TurnCompleted")}
    assert completed[turns.loc[1, "turn_id"]]["completed_by"] == "rewind"
    assert completed[turns.loc[0, "turn_id"]]["thought_summaries"] == 1
    assert report.counts["rewinds (rewound records kept)"] == 1
    assert report.skipped["$set line (session fields)"] == 1


def test_growing_derived_chat_ends_where_one_import_does(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "src" / "chat.jsonl", chat_lines())
    assert_growing_equals_fresh(import_gemini, [path], tmp_path / "src", tmp_path / "work")


def test_damaged_lines_and_unknown_types_are_named_and_the_rest_imported(
    tmp_path: Path, log_path: Path
) -> None:
    lines = JSONL.read_text().splitlines()
    damaged = [
        *lines[:5],
        "{not json",
        *lines[5:10],
        "[1, 2]",
        json.dumps({"id": "x1", "timestamp": "2026-04-23T12:53:20.000Z", "type": "compressed"}),
        *lines[10:],
        '{"id": "cut", "type": "gem',
    ]
    path = write_jsonl(tmp_path / "damaged.jsonl", damaged, last_newline=False)
    report = import_gemini(path, log_path, progress=False)
    assert report.skipped["invalid JSON"] == 1
    assert report.skipped["not a JSON object"] == 1
    assert report.skipped["unknown record type"] == 1
    assert report.skipped["truncated last line"] == 1
    named = {(line, reason.split(" (")[0]) for _, line, reason in report.skipped_lines}
    assert named == {
        (6, "invalid JSON"),
        (12, "not a JSON object"),
        (13, "unknown record type"),
        (len(damaged), "truncated last line"),
    }
    expected = expected_calls(JSONL)
    calls = ek.model_calls_df(log_path)
    for column in TOKENS:
        assert int(calls[column].sum()) == sum(c[column] for c in expected.values())


def test_files_of_another_format_are_skipped_with_a_reason(tmp_path: Path, log_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "claude.jsonl").write_text(CLAUDE.read_text())
    (folder / "settings.json").write_text(json.dumps({"theme": "dark"}))
    (folder / "broken.json").write_text('{"sessionId": "s", "messages": [')
    (folder / "chat.jsonl").write_text(JSONL.read_text())
    report = import_gemini(folder, log_path, progress=False)
    assert report.files == 4
    assert report.skipped["not a Gemini CLI chat recording"] == 2
    assert report.skipped["invalid JSON"] == 1
    assert sum("not a Gemini CLI chat recording" in w for w in report.warnings) == 2
    assert len(ek.model_calls_df(log_path)) == len(expected_calls(JSONL))


def subagent_tree(home: Path) -> tuple[Path, Path]:
    """A Gemini CLI home: a main chat whose tool call ran a subagent, and its chat."""
    project = home / ".gemini" / "tmp" / "demo"
    project.mkdir(parents=True)
    (project / ".project_root").write_text("/work/demo\n")
    main = chat_lines(with_rewind=False)[:8]
    investigate = {
        "id": "inv",
        "name": "codebase_investigator",
        "args": {"objective": "map"},
        "timestamp": "2026-05-01T10:00:40.000Z",
        "status": "success",
        "agentId": "ab12cd",
        "result": [
            {
                "functionResponse": {
                    "id": "inv",
                    "name": "codebase_investigator",
                    "response": {"output": "a.py prints"},
                }
            }
        ],
    }
    main.append(
        {
            "id": "g9",
            "timestamp": "2026-05-01T10:00:30.000Z",
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-pro",
            "toolCalls": [investigate],
            "tokens": {"input": 900, "output": 9, "cached": 0, "total": 909},
        }
    )
    parent = write_jsonl(project / "chats" / "session-2026-05-01T10-00-11111111.jsonl", main)
    sub = [
        {
            "sessionId": "ab12cd",
            "projectHash": "abc",
            "startTime": "2026-05-01T10:00:31.000Z",
            "lastUpdated": "2026-05-01T10:00:31.000Z",
            "kind": "subagent",
            "directories": ["/work/demo"],
        },
        {
            "id": "s-u",
            "timestamp": "2026-05-01T10:00:31.000Z",
            "type": "user",
            "content": [{"text": "map the code"}],
        },
        {
            "id": "s-g1",
            "timestamp": "2026-05-01T10:00:33.000Z",
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-flash",
            "tokens": {"input": 3000, "output": 20, "cached": 1000, "thoughts": 80, "total": 3100},
            "toolCalls": [
                {
                    "id": "s-c1",
                    "name": "grep_search",
                    "args": {"pattern": "print"},
                    "status": "success",
                    "timestamp": "2026-05-01T10:00:34.000Z",
                    "result": [
                        {
                            "functionResponse": {
                                "id": "s-c1",
                                "name": "grep_search",
                                "response": {"output": "a.py:1"},
                            }
                        }
                    ],
                }
            ],
        },
        {
            "id": "s-g2",
            "timestamp": "2026-05-01T10:00:38.000Z",
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-flash",
            "tokens": {"input": 3300, "output": 40, "cached": 3000, "thoughts": 10, "total": 3350},
            "toolCalls": [
                {
                    "id": "s-c2",
                    "name": "complete_task",
                    "args": {"report": "a.py"},
                    "status": "success",
                    "timestamp": "2026-05-01T10:00:39.000Z",
                    "result": [
                        {
                            "functionResponse": {
                                "id": "s-c2",
                                "name": "complete_task",
                                "response": {"output": "ok"},
                            }
                        }
                    ],
                }
            ],
        },
        {"$set": {"summary": "a.py prints", "lastUpdated": "2026-05-01T10:00:39.000Z"}},
    ]
    child = write_jsonl(project / "chats" / MAIN / "ab12cd.jsonl", sub)
    return parent, child


def test_a_subagent_chat_is_a_child_thread(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, child = subagent_tree(tmp_path / "home")
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "home"))
    assert gemini_files(None) == [parent, child]
    report = import_gemini(None, log_path, progress=False)
    threads = ek.threads_df(log_path).set_index("thread_id")
    child_id = f"{MAIN}/ab12cd"
    assert sorted(threads.index) == sorted([MAIN, child_id])
    assert threads.loc[child_id, "parent_thread_id"] == MAIN
    assert pd.isna(threads.loc[child_id, "parent_tool_call_id"])  # linked only afterwards
    assert threads.loc[child_id, "title"] == "a.py prints"
    assert list(ek.projects_df(log_path)["path"]) == ["/work/demo"]
    turns = ek.turns_df(log_path).set_index("thread_id")
    assert turns.loc[child_id, "status"] == "success"
    completed = [e for e in events(log_path, "TurnCompleted") if e.event.thread_id == child_id]
    assert completed[0].metadata["completed_by"] == "complete_task"
    run = next(e for e in events(log_path, "ToolCallCompleted") if e.event.id == f"{MAIN}:inv")
    assert run.metadata["subagent_thread_id"] == child_id
    calls = ek.model_calls_df(log_path)
    for thread_id, path in ((MAIN, parent), (child_id, child)):
        want = expected_calls(path)
        mine = calls[calls["thread_id"] == thread_id]
        for column in TOKENS:
            assert int(mine[column].sum()) == sum(c[column] for c in want.values())
    assert report.counts["subagent threads"] == 1


def test_growing_session_and_subagent_end_where_one_import_does(tmp_path: Path) -> None:
    home = tmp_path / "home"
    parent, child = subagent_tree(home)
    marker = home / ".gemini" / "tmp" / "demo" / ".project_root"
    grown, _ = assert_growing_equals_fresh(
        import_gemini, [parent, child], home, tmp_path / "work", extra_files=[marker]
    )
    assert len(ek.threads_df(grown)) == 2


def test_gemini_cli_home_may_hold_tmp_itself(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, child = subagent_tree(tmp_path / "home")
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "home" / ".gemini"))
    assert gemini_files(None) == [parent, child]
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(ek.SourceNotFoundError, match="GEMINI_CLI_HOME"):
        import_gemini(None, log_path, progress=False)


def test_a_session_continued_from_json_to_jsonl_is_counted_once(
    tmp_path: Path, log_path: Path
) -> None:
    """Resuming an older session, gemini-cli copies its messages into a ``.jsonl``
    beside the ``.json`` and goes on there: the copies are the same records."""
    data = json.loads(SINGLE.read_text())
    chats = tmp_path / "chats"
    chats.mkdir()
    (chats / SINGLE.name).write_text(SINGLE.read_text())
    header = {k: v for k, v in data.items() if k != "messages"}
    more = {
        "id": "after",
        "timestamp": "2025-10-30T09:00:00.000Z",
        "type": "user",
        "content": "and now?",
    }
    write_jsonl(chats / (SINGLE.name + "l"), [header, *data["messages"], more])
    import_gemini(chats, log_path, progress=False)
    assert len(ek.threads_df(log_path)) == 1
    assert len(ek.model_calls_df(log_path)) == len(expected_calls(SINGLE))
    assert len(ek.tool_calls_df(log_path)) == len(expected_tools(SINGLE))
    assert len(ek.turns_df(log_path)) == 2


def test_unknown_model_has_no_cost_and_is_named(tmp_path: Path, log_path: Path) -> None:
    lines = chat_lines(with_rewind=False)
    lines[-1] = {**lines[-1], "model": "gemini-9-ultra"}
    path = write_jsonl(tmp_path / "chat.jsonl", lines)
    report = import_gemini(path, log_path, progress=False)
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    assert pd.isna(calls.loc["g3", "cost_usd"])
    assert report.unpriced_models == Counter({"gemini-9-ultra": 1})
    assert "no price for model gemini-9-ultra" in str(report)


def test_command_line_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "cli.db"
    assert cli_main(["import", "gemini", str(JSONL), "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gemini: 1 file(s)")
    assert len(ek.model_calls_df(log)) == len(expected_calls(JSONL))


def test_a_call_recorded_after_its_turn_was_cancelled_stays_in_that_turn(
    tmp_path: Path, log_path: Path
) -> None:
    """Cancelling writes "Request cancelled." and then the response again, with its tool
    call cancelled: the call is the response's turn's, and no new turn opens for it."""
    lines = chat_lines(with_rewind=False)[:2]
    g1 = {
        "id": "g1",
        "timestamp": "2026-05-01T10:00:03.000Z",
        "type": "gemini",
        "content": "",
        "model": "gemini-2.5-flash",
        "tokens": {"input": 800, "output": 12, "cached": 0, "thoughts": 4, "total": 816},
    }
    cancelled = {
        "id": "c9",
        "name": "run_shell_command",
        "args": {"command": "rm -rf build"},
        "status": "cancelled",
        "timestamp": "2026-05-01T10:00:05.000Z",
        "result": [
            {
                "functionResponse": {
                    "id": "c9",
                    "name": "run_shell_command",
                    "response": {
                        "error": "[Operation Cancelled] Reason: User cancelled the operation."
                    },
                }
            }
        ],
    }
    lines += [
        g1,
        {
            "id": "i1",
            "timestamp": "2026-05-01T10:00:05.000Z",
            "type": "info",
            "content": "Request cancelled.",
        },
        {**g1, "toolCalls": [cancelled]},
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", lines)
    report = import_gemini(path, log_path, progress=False)
    turns = ek.turns_df(log_path)
    assert list(turns["status"]) == ["interrupted"]
    tools = ek.tool_calls_df(log_path)
    assert list(tools["status"]) == ["denied"]
    assert list(tools["turn_id"]) == list(turns["turn_id"])
    assert tools.loc[0, "output"].startswith("[Operation Cancelled]")
    assert report.counts["turns without a prompt"] == 0


def compressed_chat() -> list[dict]:
    """A chat whose context gemini-cli compressed: a summary, then the history it keeps
    re-recorded under new ids (no tokens, no model), then a ``$patch`` removing the old."""

    def at(minute: int) -> str:
        return f"2026-06-02T08:{minute:02d}:00.000Z"

    def response(rid: str, minute: int, text: str, **extra: Any) -> dict:
        return {
            "id": rid,
            "timestamp": at(minute),
            "type": "gemini",
            "content": text,
            "thoughts": [],
            "model": "gemini-3-flash-preview",
            "tokens": {
                "input": 2000 + minute,
                "output": 30,
                "cached": 1500,
                "thoughts": 7,
                "tool": 0,
                "total": 2037 + minute,
            },
            **extra,
        }

    ls = {
        "id": "ls-1",
        "name": "list_directory",
        "args": {"dir_path": "."},
        "status": "success",
        "timestamp": at(3),
        "result": [
            {
                "functionResponse": {
                    "id": "ls-1",
                    "name": "list_directory",
                    "response": {"output": "a.py b.py"},
                }
            }
        ],
    }
    session = "22222222-3333-4444-8555-666666666666"
    return [
        {
            "sessionId": session,
            "projectHash": "def",
            "startTime": at(0),
            "lastUpdated": at(0),
            "kind": "main",
        },
        {
            "id": "ctx",
            "timestamp": at(0),
            "type": "user",
            "content": [{"text": "<session_context>\nThis is the Gemini CLI.\n</session_context>"}],
        },
        {"id": "p1", "timestamp": at(1), "type": "user", "content": [{"text": "list the files"}]},
        response("r1", 2, "", tokens=None),
        response("r1", 2, "", toolCalls=[ls]),
        {"id": "f1", "timestamp": at(3), "type": "user", "content": ls["result"]},
        response("r2", 4, "Two files."),
        {"id": "p2", "timestamp": at(5), "type": "user", "content": [{"text": "which is larger?"}]},
        response("r3", 6, "b.py."),
        {"$set": {"sessionId": session}},
        {
            "id": "s1",
            "timestamp": at(7),
            "type": "user",
            "content": [
                {"text": "<state_snapshot>\n<goal>compare files</goal>\n</state_snapshot>"}
            ],
        },
        {
            "id": "s2",
            "timestamp": at(7),
            "type": "gemini",
            "content": [{"text": "Got it. Thanks for the additional context!"}],
        },
        {"id": "c1", "timestamp": at(7), "type": "user", "content": [{"text": "which is larger?"}]},
        {"id": "c2", "timestamp": at(7), "type": "gemini", "content": [{"text": "b.py.\n"}]},
        {"$patch": {"removeIds": ["p1", "r1", "f1", "r2", "p2", "r3"]}},
        {"id": "n1", "timestamp": at(7), "type": "info", "content": "Context compressed."},
        {"id": "p3", "timestamp": at(8), "type": "user", "content": [{"text": "which is larger?"}]},
        response("r4", 9, "Still b.py."),
    ]


def test_a_compressed_context_adds_no_prompts_or_calls(tmp_path: Path, log_path: Path) -> None:
    path = write_jsonl(tmp_path / "src" / "chat.jsonl", compressed_chat())
    report = import_gemini(path, log_path, progress=False)
    calls = ek.model_calls_df(log_path)
    assert (
        sorted(calls["model_call_id"]) == ["r1", "r2", "r3", "r4"] == sorted(expected_calls(path))
    )
    prompts = ek.messages_df(log_path).query("role == 'user'").sort_values("created_at")
    # The copy of "which is larger?" is not a prompt; the same words typed later are.
    assert list(prompts["text"]) == ["list the files", "which is larger?", "which is larger?"]
    assert len(ek.turns_df(log_path)) == 3
    system = ek.messages_df(log_path).query("role == 'system'")["text"]
    assert any(text.startswith("<state_snapshot>") for text in system)
    assert not any("session_context" in text for text in system)
    assert report.skipped["gemini record without tokens or model (history re-recorded)"] == 2
    assert report.skipped["user: prompt re-recorded after a compression"] == 1
    assert report.skipped["user: session context (not a prompt)"] == 1
    assert report.counts["context compressions"] == 1
    for column in TOKENS:
        want = sum(c[column] for c in expected_calls(path).values())
        assert int(calls[column].sum()) == want
    assert_growing_equals_fresh(import_gemini, [path], tmp_path / "src", tmp_path / "work")
