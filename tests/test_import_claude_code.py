"""The Claude Code importer against real recordings and small synthetic variants.

Expected numbers come from reading the fixtures independently with ``json``.
Growing files, versions and traps are in ``test_import_claude_code_growing.py``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from eventkit.catalog.events import parse_timestamp
from eventkit.importers.claude_code import import_claude_code

REAL = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "claude_code"
AGENTCMD = REAL / "agentcmd__full-session-four.jsonl"
SPOTTER = REAL / "spotter__subagent.jsonl"
TREE = Path(__file__).resolve().parent / "fixtures" / "claude_code" / "projects"
SHOP = TREE / "-home-dev-shop"
SESSION_A = "5e55a0a0-0000-4000-8000-00000000000a"
SESSION_B = "5e55b0b0-0000-4000-8000-00000000000b"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def blocks(path: Path, kind: str) -> list[tuple[dict, dict]]:
    """(record, block) for every content block of ``kind`` in top-level user/assistant lines."""
    found = []
    for record in records(path):
        content = (record.get("message") or {}).get("content")
        if isinstance(content, list):
            found.extend((record, b) for b in content if b.get("type") == kind)
    return found


def typed_prompts(lines: list[dict]) -> list[tuple[int, str]]:
    """(index, text) of the prompts a person typed: plain user strings, not commands or meta."""
    return [
        (i, r["message"]["content"])
        for i, r in enumerate(lines)
        if r["type"] == "user"
        and not r.get("isMeta")
        and isinstance(r["message"]["content"], str)
        and not r["message"]["content"].startswith("<")
    ]


def events(log: Path, *types: str) -> list[ek.StoredEvent]:
    with ek.EventStore.open(log) as store:
        return list(store.replay_all(types=types or None))


def payloads(log: Path, *types: str) -> list:
    return [stored.event for stored in events(log, *types)]


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- real logs


def last_usage(lines: list[dict]) -> dict[str, dict]:
    """Each response's usage, from the last top-level line of its message.id."""
    last: dict[str, dict] = {}
    for r in lines:
        message = r.get("message") or {}
        if r.get("type") == "assistant" and message.get("model") != "<synthetic>":
            last[message["id"]] = message.get("usage") or {}
    return last


USAGE_KEYS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_input_tokens",
    "cache_write_tokens": "cache_creation_input_tokens",
}


def test_agentcmd_tool_calls_pair_with_statuses_and_names(log_path: Path) -> None:
    report = import_claude_code(AGENTCMD, log_path, progress=False)

    uses = {b["id"]: b["name"] for _, b in blocks(AGENTCMD, "tool_use")}
    results = {
        b["tool_use_id"]: bool(b.get("is_error")) for _, b in blocks(AGENTCMD, "tool_result")
    }
    assert len(uses) == len(results) == 27
    started = payloads(log_path, "ToolCallStarted")
    completed = {e.id: e for e in payloads(log_path, "ToolCallCompleted")}
    assert Counter(e.tool for e in started) == Counter(uses.values())
    assert {e.id for e in started} == set(uses) == set(completed)  # the toolu_ ids
    for use_id, is_error in results.items():
        assert completed[use_id].status == ("error" if is_error else "ok")
    turn_of = {e.id: e.turn_id for e in started}
    assert all(completed[i].turn_id == turn_of[i] for i in uses)
    assert report.counts["tool calls"] == 27
    assert "tool calls without a result" not in report.counts


def test_agentcmd_thread_turns_and_messages(log_path: Path) -> None:
    report = import_claude_code(AGENTCMD, log_path, progress=False)

    lines = records(AGENTCMD)
    session = lines[1]["sessionId"]
    first_model = next(r["message"]["model"] for r in lines if r["type"] == "assistant")
    prompts = [text for _, text in typed_prompts(lines)]
    (thread,) = payloads(log_path, "ThreadCreated")
    assert thread.id == session and thread.provider == "claude-code"
    assert thread.parent_thread_id is None
    # Its first fact is the /clear command: no model or title known yet.
    assert (thread.model, thread.title) == ("", "")
    (row,) = ek.threads_df(log_path).to_dict("records")
    assert row["model"] == first_model  # the read side takes the first model call's
    assert prompts[0].startswith(row["title"].rstrip("…"))
    (project,) = payloads(log_path, "ProjectCreated")
    assert project.path == lines[1]["cwd"] and thread.project_id == project.id

    started = payloads(log_path, "TurnStarted")
    completed = payloads(log_path, "TurnCompleted")
    assert len(started) == len(prompts) == 3
    # Version 2.0.27 writes stop_reason null and no turn_duration line: the first two
    # turns end at the next prompt; nothing marks the end of the last, which may go on.
    assert [t.id for t in completed] == [t.id for t in started[:2]]
    assert {t.outcome for t in completed} == {"success"}
    assert {e.metadata["completed_by"] for e in events(log_path, "TurnCompleted")} == {
        "next prompt"
    }
    assert report.counts["turns left running (no end marker yet)"] == 1
    turns = ek.turns_df(log_path).sort_values("started_at")
    assert list(turns["status"]) == ["success", "success", "running"]
    last_line = parse_timestamp(lines[-1]["timestamp"])
    assert turns["last_activity_at"].iloc[-1] == pd.Timestamp(last_line)

    messages = payloads(log_path, "MessageAdded")
    user_texts = [m.text for m in messages if m.role == "user"]
    assert user_texts == prompts
    texts = [b["text"] for r, b in blocks(AGENTCMD, "text") if r["type"] == "assistant"]
    assert [m.text for m in messages if m.role == "assistant"] == [t for t in texts if t.strip()]
    assert report.skipped["user: local command (no model response)"] == 1  # /clear
    assert report.skipped["file-history-snapshot line"] == 7


def test_agentcmd_usage_is_one_model_call_per_response(log_path: Path) -> None:
    import_claude_code(AGENTCMD, log_path, progress=False)

    lines = records(AGENTCMD)
    prompt_lines = [i for i, _ in typed_prompts(lines)]
    first_turn = last_usage(lines[prompt_lines[0] : prompt_lines[1]])
    calls = ek.model_calls_df(log_path)
    assert set(calls["model_call_id"]) == set(last_usage(lines))
    turn = ek.turns_df(log_path).sort_values("started_at").iloc[0]
    for column, key in USAGE_KEYS.items():
        assert turn[column] == sum(u.get(key, 0) for u in first_turn.values()), column
    # TurnCompleted carries no usage: the calls do.
    assert all(t.usage == ek.TokenUsage() for t in payloads(log_path, "TurnCompleted"))
    assert all(t.cost_usd is None for t in payloads(log_path, "TurnCompleted"))


@pytest.mark.parametrize("path", [AGENTCMD, SPOTTER], ids=["agentcmd", "spotter"])
def test_session_totals_are_usage_once_per_response(path: Path, log_path: Path) -> None:
    """The session's totals: each message.id's usage, from its last line, summed."""
    import_claude_code(path, log_path, progress=False)
    session = records(path)[1]["sessionId"]
    expected = last_usage(records(path))
    calls = ek.model_calls_df(log_path)
    own = calls[calls["thread_id"] == session]
    assert len(own) == len(expected)
    turns = ek.turns_df(log_path)
    turns = turns[turns["thread_id"] == session]
    for column, key in USAGE_KEYS.items():
        want = sum(u.get(key) or 0 for u in expected.values())
        assert own[column].sum() == want, column
        assert turns[column].sum() == want, column


def test_a_session_cut_during_a_tool_call_leaves_its_last_turn_running(
    tmp_path: Path, log_path: Path
) -> None:
    lines = AGENTCMD.read_text().splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines) if '"tool_use"' in line and '"assistant"' in line)
    live = tmp_path / "live.jsonl"
    live.write_text("".join(lines[: cut + 1]))
    report = import_claude_code(live, log_path, progress=False)
    started = payloads(log_path, "TurnStarted")
    completed = payloads(log_path, "TurnCompleted")
    assert [t.id for t in completed] == [t.id for t in started[:-1]]
    assert report.counts["turns left running (no end marker yet)"] == 1
    assert report.counts["tool calls without a result"] == 1
    waiting = ek.tool_calls_df(log_path).query("status == 'running'")
    assert len(waiting) == 1  # written as started
    # The rest of the file arrives: still no marker after the last answer.
    live.write_text("".join(lines))
    import_claude_code(live, log_path, progress=False)
    assert len(payloads(log_path, "TurnCompleted")) == len(started) - 1
    assert (ek.tool_calls_df(log_path)["status"] != "running").all()


def test_spotter_subagent_becomes_a_child_thread(log_path: Path) -> None:
    report = import_claude_code(SPOTTER, log_path, progress=False)

    lines = records(SPOTTER)
    session = lines[1]["sessionId"]
    progress = [
        r for r in lines if r["type"] == "progress" and r["data"]["type"] == "agent_progress"
    ]
    agent = progress[0]["data"]["agentId"]
    inner_uses = [
        b
        for r in progress
        for b in r["data"]["message"]["message"]["content"]
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    threads = {t.id: t for t in payloads(log_path, "ThreadCreated")}
    assert set(threads) == {session, f"{session}/agent-{agent}"}
    child = threads[f"{session}/agent-{agent}"]
    assert child.parent_thread_id == session
    assert child.parent_tool_call_id == progress[0]["parentToolUseID"]
    assert report.counts["subagent threads (progress lines)"] == 1

    in_child = [e for e in payloads(log_path) if getattr(e, "thread_id", None) == child.id]
    calls = [e for e in in_child if e.type == "ToolCallStarted"]
    assert [c.tool for c in calls] == [b["name"] for b in inner_uses]
    assert len([e for e in in_child if e.type == "ToolCallCompleted"]) == len(inner_uses)
    (prompt,) = [e for e in in_child if e.type == "MessageAdded" and e.role == "user"]
    assert prompt.text == progress[0]["data"]["prompt"]
    # The parent's Task result carries the subagent's final answer and ends its turn.
    task = next(
        r
        for r in lines
        if isinstance(r.get("toolUseResult"), dict) and "agentId" in r["toolUseResult"]
    )
    result = task["toolUseResult"]
    answers = [e for e in in_child if e.type == "MessageAdded" and e.role == "assistant"]
    assert answers[-1].text == result["content"][0]["text"]
    (done,) = [e for e in in_child if e.type == "TurnCompleted"]
    assert done.outcome == "success"
    # Its responses are model calls of the subagent's model without usage: a progress
    # line copies a response's first, partial counts (and toolUseResult.usage, the
    # subagent's, is the Task result's metadata); the totals are the session's own
    # responses, once per message.id.
    frame = ek.threads_df(log_path).set_index("thread_id")
    assert frame.loc[child.id, "model"] == progress[1]["data"]["message"]["message"]["model"]
    inner = {
        r["data"]["message"]["message"]["id"]
        for r in progress
        if r["data"]["message"]["type"] == "assistant"
    }
    calls = ek.model_calls_df(log_path)
    child_calls = calls[calls["thread_id"] == child.id]
    assert set(child_calls["model_call_id"]) == inner
    assert (child_calls[list(USAGE_KEYS)] == 0).all().all()
    assert report.counts["subagent responses without usage (progress lines)"] == len(progress) // 2
    own = last_usage([r for r in lines if r["type"] == "assistant"])
    assert set(calls["model_call_id"]) == set(own) | inner
    for column, key in USAGE_KEYS.items():
        assert calls[column].sum() == sum(u.get(key) or 0 for u in own.values())
    use_id = task["message"]["content"][0]["tool_use_id"]
    (stored,) = [s for s in events(log_path, "ToolCallCompleted") if s.event.id == use_id]
    assert stored.metadata["subagent"]["usage"] == result["usage"]
    assert report.counts["Task results without a subagent transcript"] == 1
    assert any("has no transcript file" in w for w in report.warnings)


def test_spotter_interrupted_turn_and_slash_command_prompt(log_path: Path) -> None:
    import_claude_code(SPOTTER, log_path, progress=False)

    session = records(SPOTTER)[1]["sessionId"]
    turns = [t for t in payloads(log_path, "TurnCompleted") if t.thread_id == session]
    # Turn 1 ends with "[Request interrupted by user]"; turn 2 ends with a stop_hook_summary.
    assert [t.outcome for t in turns] == ["interrupted", "success"]
    prompts = [
        m.text
        for m in payloads(log_path, "MessageAdded")
        if m.role == "user" and m.thread_id == session
    ]
    assert prompts[0].startswith("/handgemacht:create-beads websearch")
    assert prompts[1] == "create the beads"
    # The command became the first prompt, and its thread's title (a ThreadRenamed).
    title = ek.threads_df(log_path).set_index("thread_id").loc[session, "title"]
    assert prompts[0].startswith(title.rstrip("…"))


def test_reimport_writes_nothing(log_path: Path) -> None:
    paths = [AGENTCMD, SPOTTER, TREE]
    first = import_claude_code(paths, log_path, progress=False)
    with ek.EventStore.open(log_path) as store:
        before = store.last_sequence()
    again = import_claude_code(paths, log_path, progress=False)

    assert first.events_written == before > 0
    assert again.events_written == 0
    # Everything is found again; projects are found by path, without re-adding them.
    projects = len(payloads(log_path, "ProjectCreated"))
    assert again.events_already_present == before - projects
    with ek.EventStore.open(log_path) as store:
        assert store.last_sequence() == before


def test_replay_of_imported_log_validates(log_path: Path) -> None:
    import_claude_code([AGENTCMD, SPOTTER, TREE], log_path, progress=False)
    with ek.EventStore.open(log_path) as store:
        stored = list(store.replay_all())
    assert stored and all(isinstance(s.event, ek.Event) for s in stored)
    assert len({s.event_id for s in stored}) == len(stored)
    for s in stored:
        assert s.metadata["source"]["format"] == "claude-code"


def test_a_session_copied_into_another_file_counts_its_responses_once(
    tmp_path: Path, log_path: Path
) -> None:
    """A resumed session's file can repeat earlier lines under a new sessionId: the
    copy is a thread of its own, but its responses and tool calls (the same msg_/toolu_
    ids) are the original's and count once."""
    copy = tmp_path / "copy.jsonl"
    session = records(AGENTCMD)[1]["sessionId"]
    other = "00000000-0000-4000-8000-000000000000"
    copy.write_text(AGENTCMD.read_text().replace(session, other))
    single = tmp_path / "single.db"
    import_claude_code(AGENTCMD, single, progress=False)
    import_claude_code([AGENTCMD, copy], log_path, progress=False)

    assert len(payloads(log_path, "ThreadCreated")) == 2
    assert len(payloads(log_path, "ProjectCreated")) == 1  # same cwd: one project
    both, alone = ek.model_calls_df(log_path), ek.model_calls_df(single)
    assert len(both) == len(alone)
    assert both["output_tokens"].sum() == alone["output_tokens"].sum()
    assert len(ek.tool_calls_df(log_path)) == len(ek.tool_calls_df(single))
    assert len(ek.turns_df(log_path)) == 2 * len(ek.turns_df(single))


# --------------------------------------------------------------------------- synthetic variants


def test_tree_maps_variants(log_path: Path) -> None:
    report = import_claude_code(TREE, log_path, progress=False)

    assert report.files == 3
    threads = {t.id: t for t in payloads(log_path, "ThreadCreated")}
    child_id = f"{SESSION_A}/agent-a1b2c3d"
    assert set(threads) == {SESSION_A, SESSION_B, child_id}
    frame = ek.threads_df(log_path).set_index("thread_id")
    # The summary line names a record of this file (its leafUuid): it titles the session
    # once that record is read, after the first prompt did.
    assert frame.loc[SESSION_A, "title"] == "Fix the checkout total"
    renames = [e.title for e in payloads(log_path, "ThreadRenamed") if e.id == SESSION_A]
    assert renames == ["The checkout total ignores discounts; fix it.", "Fix the checkout total"]
    assert frame.loc[SESSION_B, "title"] == "Add a test for discounts."
    assert threads[child_id].parent_thread_id == SESSION_A
    assert threads[child_id].parent_tool_call_id == "toolu_A4"  # the Task with its prompt
    assert frame.loc[child_id, "model"] == "claude-haiku-4-5-20251001"
    assert report.counts["subagent threads (subagent file)"] == 1
    # The subagent file exists, so the session's progress lines are not used for it.
    assert report.skipped["progress: agent_progress (subagent file imported instead)"] == 1

    calls = {e.tool: e for e in payloads(log_path, "ToolCallStarted")}
    status = {e.id: e.status for e in payloads(log_path, "ToolCallCompleted")}
    assert {tool: status[e.id] for tool, e in calls.items()} == {
        "Read": "ok",
        "Bash": "error",
        "Edit": "denied",
        "Task": "ok",
        "Grep": "ok",
    }
    assert report.skipped["tool_result: unknown tool_use"] == 1

    turns: dict[str, list] = {}
    for t in payloads(log_path, "TurnCompleted"):
        turns.setdefault(t.thread_id, []).append(t)
    assert [t.outcome for t in turns[SESSION_A]] == ["interrupted", "success", "error"]
    assert turns[SESSION_A][2].error == "API Error: 529 Overloaded"
    assert [t.outcome for t in turns[child_id]] == ["success"]  # end_turn
    # no end marker after the model's answer: the session may go on, its turn runs
    assert SESSION_B not in turns
    running = ek.turns_df(log_path).query("thread_id == @SESSION_B")
    assert list(running["status"]) == ["running"] and running["output_tokens"].iloc[0] > 0
    assert report.skipped["user: local command (no model response)"] == 1  # /clear
    assert report.skipped["assistant: thinking block"] == 1


def test_usage_summed_once_per_message_id(tmp_path: Path, log_path: Path) -> None:
    def line(uuid: str, ts: str, message: dict, **extra: object) -> dict:
        base = {"type": "user", "sessionId": "s-usage", "cwd": "/w", "uuid": uuid}
        return {**base, "timestamp": f"2026-01-01T00:00:{ts}Z", **extra, "message": message}

    def reply(uuid: str, ts: str, mid: str, block: dict, usage: tuple, stop: str | None = None):
        keys = (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        )
        message = {"id": mid, "model": "m1", "role": "assistant", "content": [block]}
        message |= {"stop_reason": stop, "usage": dict(zip(keys, usage, strict=True))}
        return line(uuid, ts, message, type="assistant")

    text = {"type": "text", "text": "working"}
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    path = write_jsonl(
        tmp_path / "usage.jsonl",
        [
            line("u1", "01", {"role": "user", "content": "go"}),
            reply("a1", "02", "msg_1", {"type": "thinking", "thinking": "hm"}, (5, 1, 100, 10)),
            reply("a2", "03", "msg_1", text, (5, 1, 100, 10)),
            reply("a3", "04", "msg_1", tool, (5, 70, 100, 10)),
            line(
                "u2",
                "05",
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
                },
            ),
            reply("a4", "06", "msg_2", text, (2, 30, 200, 0), stop="end_turn"),
        ],
    )
    import_claude_code(path, log_path, progress=False)

    # msg_1: its last line's counts (of three); plus msg_2.
    (turn,) = ek.turns_df(log_path).to_dict("records")
    got = {k: turn[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens")}
    assert got == {"input_tokens": 7, "output_tokens": 100, "cache_read_tokens": 300}
    assert turn["cache_write_tokens"] == 10
    calls = ek.model_calls_df(log_path).set_index("model_call_id")
    assert list(calls.index) == ["msg_1", "msg_2"]
    assert list(calls["revision"]) == [3, 1]  # lines seen of each response
    assert list(calls["output_tokens"]) == [70, 30]
    (stored,) = events(log_path, "TurnCompleted")
    assert stored.event.usage == ek.TokenUsage()  # usage is the calls'
    assert stored.metadata["model_calls"] == 2
    assert stored.metadata["thinking"] == {"blocks": 1, "chars": 2}


def test_malformed_line_is_counted_and_named(log_path: Path) -> None:
    report = import_claude_code(TREE, log_path, progress=False)

    main = SHOP / f"{SESSION_A}.jsonl"
    bad = [n for n, raw in enumerate(main.read_text().splitlines(), 1) if not raw.endswith("}")]
    assert bad == [10]
    assert report.skipped["invalid JSON"] == 1
    assert any(w.startswith(f"{main}:10: invalid JSON") for w in report.warnings)
    assert report.lines_read == sum(len(p.read_text().splitlines()) for p in TREE.rglob("*.jsonl"))


def test_project_created_once_for_two_sessions(log_path: Path) -> None:
    import_claude_code(TREE, log_path, progress=False)
    (project,) = payloads(log_path, "ProjectCreated")
    assert project.path == "/home/dev/shop" and project.name == "shop"
    assert {t.project_id for t in payloads(log_path, "ThreadCreated")} == {project.id}


def test_project_reused_by_a_later_import(log_path: Path) -> None:
    import_claude_code(SHOP / f"{SESSION_A}.jsonl", log_path, progress=False)
    import_claude_code(SHOP / f"{SESSION_B}.jsonl", log_path, progress=False)
    (project,) = payloads(log_path, "ProjectCreated")
    assert {t.project_id for t in payloads(log_path, "ThreadCreated")} == {project.id}


def test_progress_lines_used_without_subagent_file(tmp_path: Path, log_path: Path) -> None:
    alone = tmp_path / f"{SESSION_A}.jsonl"
    shutil.copy(SHOP / alone.name, alone)
    report = import_claude_code(alone, log_path, progress=False)

    child_id = f"{SESSION_A}/agent-a1b2c3d"
    (child,) = [t for t in payloads(log_path, "ThreadCreated") if t.id == child_id]
    assert child.parent_thread_id == SESSION_A
    assert child.parent_tool_call_id == "toolu_A4"  # named by the progress line
    assert report.counts["subagent threads (progress lines)"] == 1
    texts = [
        (m.role, m.text) for m in payloads(log_path, "MessageAdded") if m.thread_id == child_id
    ]
    assert texts == [
        ("user", "Find every use of discount."),
        ("assistant", "discount is used in cart.py:12"),
    ]
    (done,) = [t for t in payloads(log_path, "TurnCompleted") if t.thread_id == child_id]
    assert done.outcome == "success"
    # The Task result's usage repeats the subagent's: metadata, not a second count. The
    # progress lines hold no response here, so the subagent has no model call.
    assert ek.model_calls_df(log_path).query("thread_id == @child_id").empty
    (task,) = [s for s in events(log_path, "ToolCallCompleted") if s.event.id == "toolu_A4"]
    assert task.metadata["subagent"]["usage"]["output_tokens"] == 12
    assert report.counts["Task results without a subagent transcript"] == 1


def test_metadata_keeps_source_and_context(log_path: Path) -> None:
    import_claude_code(TREE, log_path, progress=False)
    by_type = {}
    for stored in events(log_path):
        by_type.setdefault(stored.event_type, []).append(stored)
    thread = next(s for s in by_type["ThreadCreated"] if s.event.id == SESSION_A)
    assert thread.metadata["version"] == "2.1.40" and thread.metadata["gitBranch"] == "main"
    assert thread.metadata["cwd"] == "/home/dev/shop"
    read = next(s for s in by_type["ToolCallStarted"] if s.event.tool == "Read")
    source = read.metadata["source"]
    assert source["line"] == 8 and source["uuid"] == "a-06" and source["tool_use_id"] == "toolu_A1"
    assert "request_id" not in source  # that line has no requestId
    bash = next(s for s in by_type["ToolCallStarted"] if s.event.tool == "Bash")
    assert bash.metadata["source"]["request_id"] == "req_A2"
    prompt = next(s for s in by_type["TurnStarted"] if s.metadata["source"]["uuid"] == "a-03")
    assert prompt.metadata["permissionMode"] == "default"


def test_huge_tool_output_is_truncated(tmp_path: Path, log_path: Path) -> None:
    big = "x" * 400_000
    path = write_jsonl(
        tmp_path / "big.jsonl",
        [
            {
                "type": "user",
                "sessionId": "s-big",
                "uuid": "u1",
                "timestamp": "2026-01-01T00:00:01Z",
                "message": {"role": "user", "content": "cat it"},
            },
            {
                "type": "assistant",
                "sessionId": "s-big",
                "uuid": "a1",
                "timestamp": "2026-01-01T00:00:02Z",
                "message": {
                    "id": "msg_1",
                    "model": "m",
                    "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}],
                },
            },
            {
                "type": "user",
                "sessionId": "s-big",
                "uuid": "u2",
                "timestamp": "2026-01-01T00:00:03Z",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": big}],
                        }
                    ],
                },
            },
        ],
    )
    import_claude_code(path, log_path, progress=False)
    (stored,) = events(log_path, "ToolCallCompleted")
    assert len(stored.event.output) < len(big)
    assert stored.metadata["output_truncated"]["original_chars"] == len(big)


def test_empty_file_and_empty_directory(tmp_path: Path, log_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    report = import_claude_code([empty, tmp_path / "empty.jsonl"], log_path, progress=False)
    assert (report.files, report.lines_read, report.events_written) == (1, 0, 0)
    folder = tmp_path / "nothing"
    folder.mkdir()
    assert import_claude_code(folder, log_path, progress=False).files == 0


def test_default_location_honours_claude_config_dir(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "claude"
    shutil.copytree(TREE, config / "projects")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    report = import_claude_code(None, log_path, progress=False)
    assert report.files == 3 and report.threads == 3

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "missing"))
    with pytest.raises(ek.SourceNotFoundError, match="CLAUDE_CONFIG_DIR"):
        import_claude_code(None, log_path, progress=False)


def test_a_missing_source_is_named_and_no_log_is_made(tmp_path: Path) -> None:
    missing, log = tmp_path / "no" / "such" / "dir", tmp_path / "x.db"
    with pytest.raises(ek.SourceNotFoundError) as caught:
        import_claude_code([AGENTCMD, missing], log, progress=False)
    assert str(missing) in str(caught.value)
    assert not isinstance(caught.value, ek.LogNotFoundError)  # the log is not what is missing
    assert not log.exists()


def test_accepts_an_open_store_and_keeps_it_open(log_path: Path) -> None:
    with ek.EventStore.open(log_path) as store:
        report = import_claude_code(AGENTCMD, store, progress=False)
        assert store.last_sequence() == report.events_written


def test_no_progress_output_when_not_a_terminal(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_claude_code(AGENTCMD, log_path)
    assert capsys.readouterr().err == ""


def test_report_lists_counts(log_path: Path) -> None:
    report = import_claude_code(SPOTTER, log_path, progress=False)
    data = report.as_dict()
    assert data["counts"]["threads"] == 2 and data["skipped"]["progress: hook_progress"] == 25
    assert "subagent threads (progress lines)" in str(report)


# --------------------------------------------------------------------------- damaged input

DAMAGE_SESSION = "s-damaged"


def session_lines(damage: list[str | dict] = (), *, at_end: bool = False) -> list[str | dict]:
    """A session with a tool call before and after ``damage`` (or with it at the end)."""

    def rec(kind: str, uuid: str, second: int, message: dict) -> dict:
        return {
            "type": kind,
            "sessionId": DAMAGE_SESSION,
            "cwd": "/w/damaged",
            "uuid": uuid,
            "timestamp": f"2026-01-01T00:00:{second:02d}Z",
            "message": message,
        }

    def call(uuid: str, second: int, use_id: str, name: str, tool_input: object) -> dict:
        block = {"type": "tool_use", "id": use_id, "name": name, "input": tool_input}
        usage = {"input_tokens": 10, "output_tokens": 5}
        message = {"id": f"msg_{uuid}", "model": "claude-sonnet-4-5-20250929", "usage": usage}
        return rec("assistant", uuid, second, {**message, "content": [block]})

    def result(uuid: str, second: int, use_id: str) -> dict:
        block = {"type": "tool_result", "tool_use_id": use_id, "content": "done"}
        return rec("user", uuid, second, {"role": "user", "content": [block]})

    answer = rec(
        "assistant",
        "a9",
        30,
        {
            "id": "msg_a9",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "All done."}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        },
    )
    before = [
        rec("user", "u1", 1, {"role": "user", "content": "list and read"}),
        call("a1", 2, "toolu_before", "Bash", {"command": "ls"}),
        result("u2", 3, "toolu_before"),
    ]
    after = [
        call("a2", 20, "toolu_after", "Read", {"file_path": "README.md"}),
        result("u3", 21, "toolu_after"),
        answer,
    ]
    return [*before, *after, *damage] if at_end else [*before, *damage, *after]


def write_lines(path: Path, lines: list[str | dict], *, last_newline: bool = True) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + ("\n" if last_newline else ""))
    return path


def assert_rest_imported(log: Path) -> None:
    """Both tool calls around the damage are there and completed, and the turn ended."""
    started = {e.tool: e for e in payloads(log, "ToolCallStarted")}
    assert set(started) == {"Bash", "Read"}
    completed = {e.id: e.status for e in payloads(log, "ToolCallCompleted")}
    assert {completed[e.id] for e in started.values()} == {"ok"}
    (turn,) = payloads(log, "TurnCompleted")
    assert turn.outcome == "success"
    assert [m.text for m in payloads(log, "MessageAdded")] == ["list and read", "All done."]


@pytest.mark.parametrize(
    ("reason", "damage", "at_end"),
    [
        ("invalid JSON", ['{"type": "user", "message": {"role": '], False),
        ("not a JSON object", ["[1, 2, 3]"], False),
        (
            "unknown record type",
            [
                {
                    "type": "telemetry-beacon",
                    "sessionId": DAMAGE_SESSION,
                    "timestamp": "2026-01-01T00:00:10Z",
                }
            ],
            False,
        ),
        ("unknown record type", [{"sessionId": DAMAGE_SESSION, "note": "no type"}], False),
        # invalid JSON as the last line, but complete (newline-terminated): not truncation
        ("invalid JSON", ['{"type": "user", "oops"'], True),
    ],
    ids=["invalid-json", "not-an-object", "unknown-type", "no-type", "invalid-json-last"],
)
def test_damaged_line_is_skipped_named_and_the_rest_imported(
    tmp_path: Path, log_path: Path, reason: str, damage: list, at_end: bool
) -> None:
    lines = session_lines(damage, at_end=at_end)
    path = write_lines(tmp_path / "damaged.jsonl", lines)
    report = import_claude_code(path, log_path, progress=False)

    number = len(lines) if at_end else 4  # the damage follows the first call's result
    assert report.skipped[reason] == 1
    assert [w for w in report.warnings if f"{path}:" in w] == [
        next(w for w in report.warnings if w.startswith(f"{path}:{number}: {reason}"))
    ]
    assert "truncated last line" not in report.skipped
    assert report.lines_read == len(lines)
    assert_rest_imported(log_path)


def test_truncated_last_line_is_told_apart_from_invalid_json(
    tmp_path: Path, log_path: Path
) -> None:
    cut = json.dumps(session_lines()[-1])[:57]  # a line cut off mid-write, no newline
    lines = session_lines([cut], at_end=True)
    path = write_lines(tmp_path / "live.jsonl", lines, last_newline=False)
    report = import_claude_code(path, log_path, progress=False)

    assert report.skipped["truncated last line"] == 1
    assert "invalid JSON" not in report.skipped
    assert any(w.startswith(f"{path}:{len(lines)}: truncated last line") for w in report.warnings)
    assert_rest_imported(log_path)

    # A complete last line without its newline is a record like any other.
    whole = write_lines(tmp_path / "whole.jsonl", session_lines(), last_newline=False)
    report = import_claude_code(whole, tmp_path / "whole.db", progress=False)
    assert report.lines_skipped == 0 and report.warnings == []
    assert len(payloads(tmp_path / "whole.db", "TurnCompleted")) == 1


def test_tool_input_that_is_not_an_object_is_kept_and_named(tmp_path: Path, log_path: Path) -> None:
    odd = {
        "type": "assistant",
        "sessionId": DAMAGE_SESSION,
        "uuid": "a5",
        "timestamp": "2026-01-01T00:00:10Z",
        "message": {
            "id": "msg_a5",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "tool_use", "id": "toolu_odd", "name": "Bash", "input": "ls -la"}],
        },
    }
    done = {
        "type": "user",
        "sessionId": DAMAGE_SESSION,
        "uuid": "u5",
        "timestamp": "2026-01-01T00:00:11Z",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_odd", "content": "a b"}],
        },
    }
    lines = session_lines([odd, done])
    path = write_lines(tmp_path / "odd-input.jsonl", lines)
    report = import_claude_code(path, log_path, progress=False)

    calls = {s.metadata["source"]["tool_use_id"]: s for s in events(log_path, "ToolCallStarted")}
    assert set(calls) == {"toolu_before", "toolu_odd", "toolu_after"}
    odd_call = calls["toolu_odd"]
    assert odd_call.event.input == {"input": "ls -la"}
    assert odd_call.metadata["input_raw"] is True
    assert len(payloads(log_path, "ToolCallCompleted")) == 3
    assert report.counts["tool inputs kept raw (not a JSON object)"] == 1
    (warning,) = [w for w in report.warnings if "toolu_odd" in w]
    assert warning.startswith(f"{path}:4: input of tool_use toolu_odd (Bash) is not a JSON object")
    assert report.lines_skipped == 0  # kept, not skipped


def test_empty_file_is_named_and_others_import(tmp_path: Path, log_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = write_lines(tmp_path / "good.jsonl", session_lines())
    report = import_claude_code([empty, good], log_path, progress=False)

    assert report.files == 2
    assert f"{empty}: empty file; nothing imported" in report.warnings
    assert_rest_imported(log_path)


def test_line_warnings_are_capped_per_file(tmp_path: Path, log_path: Path) -> None:
    bad = [f'{{"broken": {n}' for n in range(15)]
    lines = session_lines(bad)
    path = write_lines(tmp_path / "many.jsonl", lines)
    report = import_claude_code(path, log_path, progress=False)

    assert report.skipped["invalid JSON"] == 15
    named = [w for w in report.warnings if w.startswith(f"{path}:") and "invalid JSON" in w]
    assert [int(w.split(":")[1]) for w in named] == list(range(4, 14))  # the first ten
    assert f"{path}: 5 more line warning(s) not listed" in report.warnings
    # the report itself names every skipped line
    assert [(f, n) for f, n, _ in report.skipped_lines] == [(str(path), n) for n in range(4, 19)]
    assert len(report.as_dict()["skipped_lines"]) == 15
    assert_rest_imported(log_path)


def test_report_lists_events_written_per_type(log_path: Path) -> None:
    report = import_claude_code([AGENTCMD, TREE], log_path, progress=False)

    stored = Counter(s.event_type for s in events(log_path))
    assert report.events_by_type == stored
    assert sum(report.events_by_type.values()) == report.events_written
    assert report.as_dict()["events_by_type"] == dict(sorted(stored.items()))
    text = str(report)
    for event_type, count in stored.items():
        assert f"wrote {count} × {event_type}" in text
    assert "skipped 1 × invalid JSON" in text

    again = import_claude_code([AGENTCMD, TREE], log_path, progress=False)
    assert again.events_written == 0 and not again.events_by_type
