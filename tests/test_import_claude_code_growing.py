"""Claude Code: growing files, token totals proven on the raw files, versions and traps.

Every real fixture is imported as it grows (every line boundary for files of 100 lines
or fewer, at least 20 cuts otherwise) into one log, then whole: the entity frames equal
one fresh import's. Token totals are computed here from the raw files (each
``message.id`` once, its last line's counts), whether or not any turn completes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from growing import assert_growing_equals_fresh, assert_same_frames

import eventkit as ek
from eventkit.catalog import pricing
from eventkit.importers.claude_code import import_claude_code

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "fixtures" / "claude_code"
REAL_FILES = sorted(p for p in REAL.rglob("*.jsonl"))
TREE = Path(__file__).resolve().parent / "fixtures" / "claude_code" / "projects"
SHOP = TREE / "-home-dev-shop"
SESSION_A = "5e55a0a0-0000-4000-8000-00000000000a"
COLUMNS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_input_tokens",
    "cache_write_tokens": "cache_creation_input_tokens",
}


# --------------------------------------------------------------------------- raw figures


def raw_records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def raw_usage(files: list[Path]) -> dict[str, dict]:
    """message.id → usage of its last line, over the top-level assistant lines of
    ``files`` (a subagent's usage counts from its own transcript only: progress lines
    copy partial counts)."""
    last: dict[str, dict] = {}
    for path in files:
        for r in raw_records(path):
            message = r.get("message")
            if r.get("type") != "assistant" or r.get("isApiErrorMessage"):
                continue
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            if message.get("model") == "<synthetic>" or "id" not in message:
                continue
            last[message["id"]] = message.get("usage") or {}
    return last


def raw_totals(files: list[Path]) -> dict[str, int]:
    usage = raw_usage(files)
    return {col: sum(u.get(key) or 0 for u in usage.values()) for col, key in COLUMNS.items()}


def assert_totals(log: Path, files: list[Path]) -> None:
    """model_calls_df and turns_df both hold the raw files' tokens, once per response."""
    want = raw_totals(files)
    calls, turns = ek.model_calls_df(log), ek.turns_df(log)
    counted = calls["model_call_id"].isin(list(raw_usage(files)))
    assert counted.sum() == len(raw_usage(files))
    # the rest are subagent responses known from progress lines only: no usage
    assert (calls.loc[~counted, list(COLUMNS)] == 0).all().all()
    assert {c: int(calls[c].sum()) for c in COLUMNS} == want
    assert {c: int(turns[c].fillna(0).sum()) for c in COLUMNS} == want


def assert_turns_sum_their_calls(log: Path) -> None:
    calls, turns = ek.model_calls_df(log), ek.turns_df(log).set_index("turn_id")
    assert calls["turn_id"].notna().all()
    sums = calls.groupby("turn_id")[list(COLUMNS)].sum()
    for turn_id, row in sums.iterrows():
        for column in COLUMNS:
            assert turns.loc[turn_id, column] == row[column], (turn_id, column)
    counted = calls.groupby("turn_id").size()
    assert (turns.loc[counted.index, "model_calls"] == counted).all()
    no_calls = turns.index.difference(sums.index)  # e.g. a turn whose request failed
    assert (turns.loc[no_calls, "input_tokens"].fillna(0) == 0).all()


# --------------------------------------------------------------------------- real fixtures


@pytest.mark.parametrize("path", REAL_FILES, ids=[p.stem for p in REAL_FILES])
def test_real_fixture_grows_into_what_one_import_gives(path: Path, tmp_path: Path) -> None:
    grown, fresh = assert_growing_equals_fresh(import_claude_code, [path], path.parent, tmp_path)
    assert_totals(fresh, [path])
    assert_totals(grown, [path])
    assert_turns_sum_their_calls(grown)


@pytest.mark.parametrize("path", REAL_FILES, ids=[p.stem for p in REAL_FILES])
def test_real_fixture_totals_hold_at_every_cut(path: Path, tmp_path: Path) -> None:
    """Whatever a cut shows is counted, turn ended or not."""
    lines = path.read_bytes().splitlines(keepends=True)
    live = tmp_path / path.name
    for k in (len(lines) // 3, len(lines) // 2, len(lines) - 1):
        live.write_bytes(b"".join(lines[:k]))
        log = tmp_path / f"cut-{k}.db"
        import_claude_code(live, log, progress=False)
        assert_totals(log, [live])


def test_reimport_after_the_price_table_changed_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.db"
    first = import_claude_code(REAL, log, progress=False)
    costs = ek.model_calls_df(log)["cost_usd"]
    assert first.cost_sources["estimated"] == len(costs) and costs.notna().all()

    doubled = pricing.PriceTable(
        {
            "as_of": "2099-01-01",
            "models": {
                model: {
                    "input": 2 * p.input,
                    "output": 2 * p.output,
                    "cache_read": 2 * p.cache_read,
                    "cache_write": 2 * p.cache_write,
                }
                for model, p in ((m, pricing.price_for(m)) for m in pricing.known_models())
            },
        }
    )
    monkeypatch.setattr(pricing, "price_for", doubled.price_for)
    again = import_claude_code(REAL, log, progress=False)
    assert again.events_written == 0
    assert (ek.model_calls_df(log)["cost_usd"] == costs).all()  # the first import's stands


# --------------------------------------------------------------------------- derived traps


def line(kind: str, uuid: str, second: int, message: dict | None = None, **extra) -> dict:
    record = {
        "type": kind,
        "sessionId": "s-1095",
        "cwd": "/w/old",
        "version": "1.0.95",
        "uuid": uuid,
        "timestamp": f"2025-08-01T10:{second // 60:02d}:{second % 60:02d}.000Z",
        **extra,
    }
    if message is not None:
        record["message"] = message
    return record


def reply(uuid: str, second: int, mid: str, block: dict, usage: tuple[int, int, int, int]):
    keys = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    message = {"id": mid, "model": "claude-sonnet-4-20250514", "role": "assistant"}
    message |= {"content": [block], "stop_reason": None}
    message["usage"] = dict(zip(keys, usage, strict=True))
    return line("assistant", uuid, second, message)


def write(path: Path, records: list[dict | str]) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def old_session() -> list[dict]:
    """A 1.0.95-style session: stop_reason null on every line, no turn_duration lines;
    turns end at the next prompt and at /exit."""
    text = {"type": "text", "text": "Done."}
    tool = {"type": "tool_use", "id": "toolu_old1", "name": "Bash", "input": {"command": "ls"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_old1", "content": "a b"}
    exit_cmd = "<command-name>/exit</command-name>\n<command-message>exit</command-message>"
    return [
        line("user", "u1", 1, {"role": "user", "content": "list the files"}),
        reply("a1", 2, "msg_o1", {"type": "text", "text": "Listing."}, (10, 2, 0, 100)),
        reply("a2", 3, "msg_o1", tool, (10, 25, 0, 100)),
        line("user", "u2", 4, {"role": "user", "content": [result]}),
        reply("a3", 5, "msg_o2", text, (3, 9, 110, 0)),
        line("user", "u3", 20, {"role": "user", "content": "and the hidden ones?"}),
        reply("a4", 22, "msg_o3", text, (4, 7, 110, 5)),
        line("user", "u4", 40, {"role": "user", "content": exit_cmd}),
        line("user", "u5", 40, {"role": "user", "content": "<local-command-stdout>(no content)"}),
    ]


def test_old_session_turns_end_at_the_next_prompt_and_at_exit(tmp_path: Path) -> None:
    path = write(tmp_path / "src" / "s-1095.jsonl", old_session())
    report = import_claude_code(path, tmp_path / "log.db", progress=False)
    turns = ek.turns_df(tmp_path / "log.db").sort_values("started_at")
    assert list(turns["status"]) == ["success", "success"]
    stored = [e.metadata["completed_by"] for e in _events(tmp_path / "log.db", "TurnCompleted")]
    assert stored == ["next prompt", "/exit"]
    assert report.skipped["user: /exit"] == 1
    assert "turns left running (no end marker yet)" not in report.counts
    assert_totals(tmp_path / "log.db", [path])
    assert list(turns["input_tokens"]) == [13, 4]  # msg_o1's last line + msg_o2; msg_o3
    assert_growing_equals_fresh(import_claude_code, [path], path.parent, tmp_path / "g")


def test_a_file_cut_mid_response_restates_the_call_when_it_grows(tmp_path: Path) -> None:
    records = old_session()
    live = tmp_path / "src" / "s-1095.jsonl"
    log = tmp_path / "log.db"
    write(live, records[:2])  # msg_o1's first line only: partial counts
    import_claude_code(live, log, progress=False)
    (call,) = ek.model_calls_df(log).to_dict("records")
    assert (call["revision"], call["output_tokens"]) == (1, 2)
    assert ek.turns_df(log)["status"].tolist() == ["running"]
    write(live, records)
    import_claude_code(live, log, progress=False)
    calls = ek.model_calls_df(log).set_index("model_call_id")
    assert (calls.loc["msg_o1", "revision"], calls.loc["msg_o1", "output_tokens"]) == (2, 25)
    fresh = tmp_path / "fresh.db"
    import_claude_code(live, fresh, progress=False)
    assert_same_frames(log, fresh)
    revisions = [
        e.event.revision for e in _events(log, "ModelCallCompleted") if e.event.id == "msg_o1"
    ]
    assert revisions == [1, 2]  # the first count stays in the log; the frames hold the last


def test_damaged_lines_leave_the_totals_and_the_growth_right(tmp_path: Path) -> None:
    source = REAL / "agentcmd__full-session-four.jsonl"
    lines = source.read_text().splitlines()
    damaged = [*lines[:8], '{"type": "assistant", "message": {', "[1, 2]", *lines[8:40]]
    damaged += ['{"type":"user","sessionId":', *lines[40:], '{"type": "assistant", "mess']
    path = tmp_path / "src" / source.name
    path.parent.mkdir()
    path.write_text("\n".join(damaged))  # the last line is cut: no newline
    report = import_claude_code(path, tmp_path / "log.db", progress=False)
    assert report.skipped["invalid JSON"] == 2 and report.skipped["not a JSON object"] == 1
    assert report.skipped["truncated last line"] == 1
    assert_totals(tmp_path / "log.db", [source])
    assert_growing_equals_fresh(import_claude_code, [path], path.parent, tmp_path / "g")


def test_subagent_folder_grows_into_what_one_import_gives(tmp_path: Path) -> None:
    files = sorted(SHOP.rglob("*.jsonl"))
    grown, fresh = assert_growing_equals_fresh(import_claude_code, files, TREE, tmp_path)
    assert_totals(fresh, files)
    assert_turns_sum_their_calls(fresh)
    threads = ek.threads_df(fresh).set_index("thread_id")
    child = f"{SESSION_A}/agent-a1b2c3d"
    assert threads.loc[child, "parent_thread_id"] == SESSION_A


def test_task_result_usage_is_metadata_not_a_second_count(tmp_path: Path) -> None:
    """The Task result repeats the subagent's usage; the transcript is where it counts."""
    files = sorted(SHOP.rglob("*.jsonl"))
    log = tmp_path / "log.db"
    report = import_claude_code(TREE / SHOP.name, log, progress=False)
    child = f"{SESSION_A}/agent-a1b2c3d"  # noqa: F841 (named in the query)
    transcript = next(p for p in files if p.name == "agent-a1b2c3d.jsonl")
    calls = ek.model_calls_df(log).query("thread_id == @child")
    want = raw_totals([transcript])
    assert {c: int(calls[c].sum()) for c in COLUMNS} == want
    (task,) = [e for e in _events(log, "ToolCallCompleted") if e.event.id == "toolu_A4"]
    assert task.metadata["subagent"]["usage"]["output_tokens"] == 12
    assert "Task results without a subagent transcript" not in report.counts
    assert_totals(log, files)


def test_a_sidecar_or_a_2_0_file_beside_the_session_links_the_subagent(tmp_path: Path) -> None:
    """2.0.x kept ``agent-<id>.jsonl`` beside the session; newer versions add a
    ``agent-<id>.meta.json`` whose toolUseId names the Task call."""
    project = tmp_path / "projects" / "-home-dev-shop"
    project.mkdir(parents=True)
    session = SHOP / f"{SESSION_A}.jsonl"
    shutil.copy(session, project / session.name)
    agent = SHOP / SESSION_A / "subagents" / "agent-a1b2c3d.jsonl"
    lines = agent.read_text().splitlines()
    first = json.loads(lines[0])
    first["message"]["content"] = "Look for discount uses."  # no longer the Task's prompt
    write(project / agent.name, [first, *lines[1:]])
    log = tmp_path / "log.db"
    report = import_claude_code(tmp_path / "projects", log, progress=False)
    assert report.skipped["progress: agent_progress (subagent file imported instead)"] == 1
    threads = {t.id: t for t in _payloads(log, "ThreadCreated")}
    child = threads[f"{SESSION_A}/agent-a1b2c3d"]
    # linked by the agentId that the session's progress line and Task result give
    assert child.parent_tool_call_id == "toolu_A4"

    (project / "agent-a1b2c3d.meta.json").write_text(json.dumps({"toolUseId": "toolu_A3"}))
    other = tmp_path / "other.db"
    import_claude_code(tmp_path / "projects", other, progress=False)
    threads = {t.id: t for t in _payloads(other, "ThreadCreated")}
    assert threads[f"{SESSION_A}/agent-a1b2c3d"].parent_tool_call_id == "toolu_A3"


def test_a_compaction_subagent_without_its_session_counts_its_call(tmp_path: Path) -> None:
    """A real 2.1.39 auto-compaction transcript: meta lines first, one response whose
    stop_reason is null; nothing ends its turn, and its tokens count."""
    (path,) = [p for p in REAL_FILES if "acompact" in p.name]
    log = tmp_path / "log.db"
    import_claude_code(path, log, progress=False)
    assert_totals(log, [path])
    (turn,) = ek.turns_df(log).to_dict("records")
    assert turn["status"] == "running" and turn["cache_read_tokens"] > 0
    (thread,) = _payloads(log, "ThreadCreated")
    assert thread.parent_thread_id == raw_records(path)[0]["sessionId"]
    assert thread.parent_tool_call_id is None  # compaction is not started by a Task call


def _events(log: Path, kind: str) -> list[ek.StoredEvent]:
    with ek.EventStore.open(log) as store:
        return list(store.replay_all(types=[kind]))


def _payloads(log: Path, kind: str) -> list:
    return [e.event for e in _events(log, kind)]
