"""Codex CLI rollouts: two real recordings (0.40.0, 0.125.0) and small synthetic variants.

Expectations are computed from the fixtures' JSON in the tests, not written down.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.catalog.events import parse_timestamp
from eventkit.errors import EventkitError, LogNotFoundError, SourceNotFoundError
from eventkit.importers.codex import import_codex

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "fixtures" / "codex"
V040 = REAL / "agentcmd__rollout-2025-09-25T15-12-14-019982b8-3422-79e0-8b3b-05abaf4f3c3e.jsonl"
V0125 = (
    REAL / "codemie-code__rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
)
SYNTH = Path(__file__).resolve().parent / "fixtures" / "codex"
LEGACY = SYNTH / "rollout-2025-10-01T09-00-00-0199aaaa-0000-7000-8000-000000000001.jsonl"
TASKS = SYNTH / "rollout-2026-05-01T12-00-00-019e0000-0000-7000-8000-000000000002.jsonl"
DAMAGED = SYNTH / "rollout-2025-11-03T08-00-00-0199bbbb-0000-7000-8000-000000000003.jsonl"


@pytest.fixture
def store(tmp_path: Path):
    store = ek.EventStore.open(tmp_path / "log.db")
    yield store
    store.close()


def lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) of every valid line."""
    out = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append((number, record))
    return out


def payloads(path: Path, kind: str, sub: str | None = None) -> list[tuple[int, dict]]:
    return [
        (n, r["payload"])
        for n, r in lines(path)
        if r.get("type") == kind and (sub is None or r["payload"].get("type") == sub)
    ]


def of_type(store: ek.EventStore, event_type: str) -> list:
    return [s.event for s in store.replay_all(types=[event_type])]


def stored(store: ek.EventStore, event_type: str) -> list[ek.StoredEvent]:
    return list(store.replay_all(types=[event_type]))


def usage_of(total: dict, start: dict | None = None) -> ek.TokenUsage:
    """Codex counters (input incl. cached, output incl. reasoning) as canonical usage."""
    start = start or {}

    def d(key: str) -> int:
        return total.get(key, 0) - start.get(key, 0)

    return ek.TokenUsage(
        input_tokens=d("input_tokens") - d("cached_input_tokens"),
        cache_read_tokens=d("cached_input_tokens"),
        output_tokens=d("output_tokens"),
        reasoning_tokens=d("reasoning_output_tokens"),
    )


def totals_before(path: Path, line: int) -> dict:
    """The cumulative token counter as of ``line`` (empty before the first report)."""
    last: dict = {}
    for n, p in payloads(path, "event_msg", "token_count"):
        if n < line and p.get("info"):
            last = p["info"]["total_token_usage"]
    return last


def is_context(text: str) -> bool:
    return text.lstrip().startswith(("<", "# AGENTS.md"))


# --------------------------------------------------------------------------- tool calls


def test_v040_has_34_shell_calls_each_completed(store):
    report = import_codex(V040, store, progress=False)
    calls = payloads(V040, "response_item", "function_call")
    expected = Counter(p["name"] for _, p in calls)
    assert expected == {"shell": 34}  # as SOURCES.md describes the recording
    started = of_type(store, "ToolCallStarted")
    assert Counter(e.tool for e in started) == expected
    assert {e.id for e in started} == {p["call_id"] for _, p in calls}
    outputs = payloads(V040, "response_item", "function_call_output")
    completed = {e.id: e for e in of_type(store, "ToolCallCompleted")}
    assert set(completed) == {p["call_id"] for _, p in outputs}
    # legacy outputs are JSON text: the call's output is the inner text, status from exit code
    for _, p in outputs:
        inner = json.loads(p["output"])
        event = completed[p["call_id"]]
        assert event.output == inner["output"]
        assert event.status == ("ok" if inner["metadata"]["exit_code"] == 0 else "error")
    assert report.threads == 1 and report.files == 1


def test_v0125_tool_calls_by_tool(store):
    import_codex(V0125, store, progress=False)
    expected = Counter(p["name"] for _, p in payloads(V0125, "response_item", "function_call"))
    expected += Counter(p["name"] for _, p in payloads(V0125, "response_item", "custom_tool_call"))
    expected["web_search"] += len(payloads(V0125, "response_item", "web_search_call"))
    assert expected == {
        "write_stdin": 54,
        "exec_command": 43,
        "apply_patch": 3,
        "web_search": 3,
        "update_plan": 2,
    }
    started = of_type(store, "ToolCallStarted")
    assert Counter(e.tool for e in started) == expected
    assert len({e.id for e in started}) == sum(expected.values())
    # every call completes; web searches take the call id of their web_search_end
    assert {e.id for e in of_type(store, "ToolCallCompleted")} == {e.id for e in started}
    search_ids = {p["call_id"] for _, p in payloads(V0125, "event_msg", "web_search_end")}
    assert {e.id for e in started if e.tool == "web_search"} == search_ids
    patches = {
        p["call_id"]: p["input"] for _, p in payloads(V0125, "response_item", "custom_tool_call")
    }
    for event in started:
        if event.tool == "apply_patch":
            assert event.input == {"input": patches[event.id]}


def test_v0125_failed_commands_are_errors_once(store):
    import_codex(V0125, store, progress=False)
    failed = {
        p["call_id"]
        for _, p in payloads(V0125, "event_msg", "exec_command_end")
        if p["exit_code"] != 0
    }
    refused = {
        p["call_id"]
        for _, p in payloads(V0125, "response_item", "function_call_output")
        if p["output"].startswith("write_stdin failed")
    }
    assert failed and refused
    completed = of_type(store, "ToolCallCompleted")
    assert {e.id for e in completed if e.status == "error"} == failed | refused
    assert not [e for e in completed if e.status == "denied"]


# --------------------------------------------------------------------------- turns and usage


def test_v0125_turns_follow_task_events(store):
    import_codex(V0125, store, progress=False)
    task_turns = [p["turn_id"] for _, p in payloads(V0125, "event_msg", "task_started")]
    assert len(task_turns) == 2
    assert [e.id for e in of_type(store, "TurnStarted")] == task_turns
    completed = of_type(store, "TurnCompleted")
    assert [e.id for e in completed] == task_turns
    assert {e.outcome for e in completed} == {"success"}
    ends = {p["turn_id"]: p for _, p in payloads(V0125, "event_msg", "task_complete")}
    for item in stored(store, "TurnCompleted"):
        assert item.metadata["duration_ms"] == ends[item.event.id]["duration_ms"]


@pytest.mark.parametrize("path", [V040, V0125, LEGACY, TASKS], ids=lambda p: p.name[:24])
def test_turn_usage_is_the_difference_of_cumulative_totals(store, path):
    import_codex(path, store, progress=False)
    task_starts = [n for n, _ in payloads(path, "event_msg", "task_started")]
    if task_starts:
        starts = task_starts
    else:  # every prompt starts a turn
        starts = [
            n
            for n, p in payloads(path, "response_item", "message")
            if p["role"] == "user" and not is_context(p["content"][0]["text"])
        ]
    bounds = [*starts[1:], 10**9]
    expected = [
        usage_of(totals_before(path, end), totals_before(path, start) if i else None)
        for i, (start, end) in enumerate(zip(starts, bounds, strict=True))
    ]
    completed = {e.id: e.usage for e in of_type(store, "TurnCompleted")}
    turn_ids = [e.id for e in of_type(store, "TurnStarted")]
    assert len(turn_ids) == len(starts)
    for turn_id, usage in zip(turn_ids, expected, strict=True):
        if turn_id in completed:
            assert completed[turn_id] == usage
    assert completed


def test_repeated_token_counts_are_not_counted_twice(store):
    import_codex(LEGACY, store, progress=False)
    reports = [p["info"] for _, p in payloads(LEGACY, "event_msg", "token_count") if p["info"]]
    totals = [json.dumps(i["total_token_usage"], sort_keys=True) for i in reports]
    assert len(totals) > len(set(totals))  # the fixture repeats reports
    naive = sum(i["last_token_usage"]["output_tokens"] for i in reports)
    final = usage_of(reports[-1]["total_token_usage"])
    usages = [e.usage for e in of_type(store, "TurnCompleted")]
    assert len(usages) == 2
    assert sum(u.output_tokens for u in usages) == final.output_tokens < naive
    assert sum(u.input_tokens for u in usages) == final.input_tokens
    assert sum(u.cache_read_tokens for u in usages) == final.cache_read_tokens
    assert sum(u.reasoning_tokens for u in usages) == final.reasoning_tokens


def test_open_last_turn_and_outcomes(store):
    report = import_codex(TASKS, store, progress=False)
    outcomes = {e.id: e for e in of_type(store, "TurnCompleted")}
    error_text = payloads(TASKS, "event_msg", "error")[0][1]["message"]
    assert outcomes["turn-1"].outcome == "error" and outcomes["turn-1"].error == error_text
    assert outcomes["turn-2"].outcome == "interrupted"
    assert "turn-3" in {e.id for e in of_type(store, "TurnStarted")}
    assert "turn-3" not in outcomes
    assert any("turn-3" in w and "left running" in w for w in report.warnings)


def test_final_answer_completes_a_turn_without_end_marker(store):
    import_codex(V040, store, progress=False)
    (turn,) = stored(store, "TurnCompleted")
    answer = payloads(V040, "response_item", "message")[-1]
    assert answer[1]["role"] == "assistant"
    text = answer[1]["content"][0]["text"]
    # the answer is written twice (agent_message event and message item): the first counts
    event = [n for n, p in payloads(V040, "event_msg", "agent_message") if p["message"] == text]
    assert turn.event.outcome == "success" and turn.metadata["inferred"] is True
    assert turn.metadata["source"]["line"] == min([answer[0], *event])


def test_call_statuses_in_a_unified_exec_session(store):
    import_codex(TASKS, store, progress=False)
    completed = {s.event.id: s for s in stored(store, "ToolCallCompleted")}
    (end,) = [p for _, p in payloads(TASKS, "event_msg", "exec_command_end")]
    assert completed[end["call_id"]].event.status == "error"
    assert completed[end["call_id"]].metadata["exit_code"] == end["exit_code"]
    poll = completed["call_poll_1"]  # it saw the process exit: the failure is the command's
    assert poll.event.status == "ok" and poll.metadata["process_exit_code"] == end["exit_code"]
    assert completed["call_exec_2"].event.status == "denied"
    patch = completed["call_patch_1"]  # its turn was interrupted before its output
    ((_, aborted),) = [
        (n, r) for n, r in lines(TASKS) if r["payload"].get("type") == "turn_aborted"
    ]
    assert patch.event.status == "error" and patch.metadata["inferred"] is True
    assert patch.event.at == parse_timestamp(aborted["timestamp"])
    assert completed["ws_demo_1"].event.status == "ok"


def test_unparseable_arguments_are_kept_raw(store):
    report = import_codex(LEGACY, store, progress=False)
    raw_calls = []
    for _, p in payloads(LEGACY, "response_item", "function_call"):
        try:
            json.loads(p["arguments"])
        except json.JSONDecodeError:
            raw_calls.append(p)
    assert len(raw_calls) == 1
    started = {s.event.id: s for s in stored(store, "ToolCallStarted")}
    item = started[raw_calls[0]["call_id"]]
    assert item.event.input == {"raw": raw_calls[0]["arguments"]}
    assert item.metadata["input_raw"] is True
    assert any("not a JSON object" in w for w in report.warnings)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("path", [V040, V0125, LEGACY, TASKS], ids=lambda p: p.name[:24])
def test_prompts_count_once_and_context_is_not_a_prompt(store, path):
    import_codex(path, store, progress=False)
    expected = []
    for _, p in payloads(path, "event_msg", "user_message"):
        # an IDE prompt keeps only the request
        expected.append(p["message"].split("## My request for Codex:")[-1].strip())
    prompts = [e for e in of_type(store, "MessageAdded") if e.role == "user"]
    assert [e.text.strip() for e in prompts] == expected
    context = [
        n
        for n, p in payloads(path, "response_item", "message")
        if p["role"] == "user" and all(is_context(b["text"]) for b in p["content"])
    ]
    assert context  # each fixture has an environment context message
    assert not [e for e in prompts if "<environment_context>" in e.text or "AGENTS.md" in e.text]


def test_ide_context_goes_to_metadata(store):
    import_codex(V040, store, progress=False)
    (prompt,) = [s for s in stored(store, "MessageAdded") if s.event.role == "user"]
    assert prompt.metadata["ide_context"].startswith("# Context from my IDE setup:")
    (thread,) = of_type(store, "ThreadCreated")
    assert thread.title.startswith("Evaluate @packages/services")


@pytest.mark.parametrize("path", [V040, V0125, LEGACY], ids=lambda p: p.name[:24])
def test_answers_count_once(store, path):
    import_codex(path, store, progress=False)
    items = [p for _, p in payloads(path, "response_item", "message") if p["role"] == "assistant"]
    answers = [e for e in of_type(store, "MessageAdded") if e.role == "assistant"]
    assert [e.text for e in answers] == [p["content"][0]["text"] for p in items]
    assert len(payloads(path, "event_msg", "agent_message")) == len(items)


# --------------------------------------------------------------------------- thread


def test_thread_from_session_meta(store):
    import_codex(V0125, store, progress=False)
    ((_, meta),) = payloads(V0125, "session_meta")
    first_context = payloads(V0125, "turn_context")[0][1]
    (item,) = stored(store, "ThreadCreated")
    thread = item.event
    assert thread.id == meta["id"] and thread.provider == "codex"
    assert thread.model == first_context["model"]
    assert thread.title == payloads(V0125, "event_msg", "user_message")[0][1]["message"]
    (project,) = of_type(store, "ProjectCreated")
    assert project.path == meta["cwd"] and thread.project_id == project.id
    assert item.metadata["cli_version"] == meta["cli_version"]
    assert item.metadata["originator"] == meta["originator"]
    assert item.metadata["git"] == meta["git"]
    assert item.metadata["approval_policy"] == first_context["approval_policy"]
    assert item.metadata["source"]["format"] == "codex"


def test_session_continued_in_another_file_is_one_thread(store, tmp_path):
    copy = tmp_path / "rollout-continued-0199aaaa-0000-7000-8000-000000000001.jsonl"
    shutil.copy(LEGACY, copy)
    import_codex(LEGACY, store, progress=False)
    report = import_codex(copy, store, progress=False)
    assert len(of_type(store, "ThreadCreated")) == 1
    assert any("continues session" in w for w in report.warnings)


# --------------------------------------------------------------------------- robustness


def test_reimport_writes_nothing(store):
    first = import_codex([REAL, SYNTH], store, progress=False)
    before = store.last_sequence()
    again = import_codex([REAL, SYNTH], store, progress=False)
    assert first.events_written == before > 0
    assert again.events_written == 0 and store.last_sequence() == before
    assert again.events_already_present > 0


def test_malformed_lines_are_reported_and_skipped(store):
    bad = []
    for number, text in enumerate(DAMAGED.read_text().splitlines(), start=1):
        try:
            if not isinstance(json.loads(text), dict):
                bad.append((number, "not a JSON object"))
        except json.JSONDecodeError:
            bad.append((number, "invalid JSON"))
    assert bad
    report = import_codex(DAMAGED, store, progress=False)
    for number, reason in bad:
        assert report.skipped[reason] >= 1
        assert any(f"{DAMAGED}:{number}:" in w for w in report.warnings)
    assert report.lines_read == len(DAMAGED.read_text().splitlines())
    answer = [e for e in of_type(store, "MessageAdded") if e.role == "assistant"]
    assert len(answer) == 1 and len(of_type(store, "TurnCompleted")) == 1


def test_replay_validates_everything_imported(store):
    import_codex([REAL, SYNTH], store, progress=False)
    replayed = list(store.replay_all())
    assert len(replayed) == store.last_sequence()
    assert all(isinstance(s.event, ek.Event) for s in replayed)
    assert all(s.metadata["source"]["format"] == "codex" for s in replayed)


def test_directory_and_default_location(store, tmp_path, monkeypatch):
    home = tmp_path / "codex-home"
    day = home / "sessions" / "2025" / "10" / "01"
    day.mkdir(parents=True)
    shutil.copy(LEGACY, day / LEGACY.name)
    shutil.copy(TASKS, day / TASKS.name)
    monkeypatch.setenv("CODEX_HOME", str(home))
    report = import_codex(None, store, progress=False)
    assert report.files == 2 and report.threads == 2


def test_long_outputs_are_truncated(store, tmp_path):
    path = tmp_path / "rollout-long.jsonl"
    big = "x" * 300_000 + "END"
    records = [
        ("session_meta", {"id": "0199cccc-0000-7000-8000-000000000004", "cwd": "/work/demo"}),
        (
            "response_item",
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "dump it"}],
            },
        ),
        (
            "response_item",
            {
                "type": "function_call",
                "name": "shell",
                "call_id": "c1",
                "arguments": '{"command": ["cat", "big"]}',
            },
        ),
        ("response_item", {"type": "function_call_output", "call_id": "c1", "output": big}),
    ]
    path.write_text(
        "".join(
            json.dumps({"timestamp": f"2025-10-02T10:00:0{i}.000Z", "type": t, "payload": p}) + "\n"
            for i, (t, p) in enumerate(records)
        )
    )
    import_codex(path, store, progress=False)
    (item,) = stored(store, "ToolCallCompleted")
    assert len(item.event.output) < len(big) and item.event.output.endswith("END")
    assert item.metadata["output_truncated"]["original_chars"] == len(big)


def test_bad_arguments(store, tmp_path):
    with pytest.raises(SourceNotFoundError):
        import_codex(tmp_path / "missing.jsonl", store, progress=False)
    with pytest.raises(EventkitError):
        import_codex(LEGACY, progress=False)


def test_a_missing_source_is_named_and_no_log_is_made(tmp_path):
    missing, log = tmp_path / "no" / "such" / "dir", tmp_path / "x.db"
    with pytest.raises(SourceNotFoundError) as caught:
        import_codex([REAL, missing], log, progress=False)
    assert str(missing) in str(caught.value)
    assert not isinstance(caught.value, LogNotFoundError)  # the log is not what is missing
    assert not log.exists()


def test_audit_finds_no_violations(tmp_path):
    log = tmp_path / "audited.db"
    import_codex([REAL, SYNTH], log, progress=False)
    findings = ek.audit(log)  # the function, resolved lazily by the package
    assert [f for f in findings if f.severity == "error"] == []


# --------------------------------------------------------------------------- damaged input

DAMAGE_SESSION = "0199dddd-0000-7000-8000-000000000005"


def rollout_lines(damage: list[str | dict] = (), *, at_end: bool = False) -> list[str]:
    """A rollout with a shell call before and after ``damage`` (or with it at the end)."""
    n = iter(range(100))

    def rec(kind: str, payload: dict) -> str:
        stamp = f"2025-12-01T10:00:{next(n):02d}.000Z"
        return json.dumps({"timestamp": stamp, "type": kind, "payload": payload})

    def call(call_id: str, arguments: str) -> list[str]:
        item = {"type": "function_call", "name": "shell", "call_id": call_id}
        output = {"type": "function_call_output", "call_id": call_id, "output": "Exit code: 0"}
        return [
            rec("response_item", {**item, "arguments": arguments}),
            rec("response_item", output),
        ]

    def tokens(total_in: int, total_out: int) -> str:
        total = {"input_tokens": total_in, "cached_input_tokens": 0, "output_tokens": total_out}
        return rec("event_msg", {"type": "token_count", "info": {"total_token_usage": total}})

    user = {"type": "message", "role": "user"}
    answer = {"type": "message", "role": "assistant"}
    before = [
        rec("session_meta", {"id": DAMAGE_SESSION, "cwd": "/w/damaged"}),
        rec("turn_context", {"model": "gpt-5-codex", "cwd": "/w/damaged"}),
        rec("response_item", {**user, "content": [{"type": "input_text", "text": "run both"}]}),
        *call("call_before", '{"command": ["ls"]}'),
        tokens(900, 30),
    ]
    after = [
        *call("call_after", '{"command": ["pwd"]}'),
        tokens(2000, 80),
        rec("response_item", {**answer, "content": [{"type": "output_text", "text": "Both ran."}]}),
    ]
    damage = [d if isinstance(d, str) else json.dumps(d) for d in damage]
    return [*before, *after, *damage] if at_end else [*before, *damage, *after]


def write_rollout(directory: Path, lines: list[str], *, last_newline: bool = True) -> Path:
    path = directory / f"rollout-2025-12-01T10-00-00-{DAMAGE_SESSION}.jsonl"
    path.write_text("\n".join(lines) + ("\n" if last_newline else ""))
    return path


def assert_rest_imported(store: ek.EventStore) -> None:
    """Both calls around the damage are there and completed, and the turn ended."""
    started = {e.id for e in of_type(store, "ToolCallStarted")}
    assert {"call_before", "call_after"} <= started
    completed = {e.id: e.status for e in of_type(store, "ToolCallCompleted")}
    assert completed["call_before"] == completed["call_after"] == "ok"
    (turn,) = of_type(store, "TurnCompleted")
    assert turn.outcome == "success"
    assert turn.usage.input_tokens == 2000 and turn.usage.output_tokens == 80
    texts = [e.text for e in of_type(store, "MessageAdded")]
    assert texts == ["run both", "Both ran."]


@pytest.mark.parametrize(
    ("reason", "damage", "at_end"),
    [
        ("invalid JSON", ['{"timestamp": "2025-12-01T10:00:20.000Z", "type": "resp'], False),
        ("not a JSON object", ['"just a string"'], False),
        (
            "unknown record type",
            [{"timestamp": "2025-12-01T10:00:20.000Z", "type": "telemetry", "payload": {}}],
            False,
        ),
        ("unknown record type", [{"timestamp": "2025-12-01T10:00:20.000Z", "x": 1}], False),
        # invalid JSON as the last line, but complete (newline-terminated): not truncation
        ("invalid JSON", ['{"timestamp": oops}'], True),
    ],
    ids=["invalid-json", "not-an-object", "unknown-type", "no-type", "invalid-json-last"],
)
def test_damaged_line_is_skipped_named_and_the_rest_imported(
    store, tmp_path, reason, damage, at_end
):
    lines = rollout_lines(damage, at_end=at_end)
    path = write_rollout(tmp_path, lines)
    report = import_codex(path, store, progress=False)

    number = len(lines) if at_end else 7  # after the first call and its token count
    assert report.skipped[reason] == 1
    named = [w for w in report.warnings if w.startswith(f"{path}:")]
    assert len(named) == 1 and named[0].startswith(f"{path}:{number}: {reason}")
    assert "truncated last line" not in report.skipped
    assert report.lines_read == len(lines)
    assert_rest_imported(store)


def test_truncated_last_line_is_told_apart_from_invalid_json(store, tmp_path):
    cut = rollout_lines()[-1][:50]  # a line cut off mid-write, no newline
    lines = rollout_lines([cut], at_end=True)
    path = write_rollout(tmp_path, lines, last_newline=False)
    report = import_codex(path, store, progress=False)

    assert report.skipped["truncated last line"] == 1
    assert "invalid JSON" not in report.skipped
    (warning,) = [w for w in report.warnings if w.startswith(f"{path}:")]
    assert warning.startswith(f"{path}:{len(lines)}: truncated last line")
    assert_rest_imported(store)


def test_complete_last_line_without_newline_is_imported(tmp_path):
    path = write_rollout(tmp_path, rollout_lines(), last_newline=False)
    with ek.EventStore.open(tmp_path / "whole.db") as whole:
        report = import_codex(path, whole, progress=False)
        assert report.warnings == [] and "truncated last line" not in report.skipped
        assert_rest_imported(whole)


def test_arguments_that_are_not_json_are_kept_and_named(store, tmp_path):
    odd = [
        json.dumps(
            {
                "timestamp": "2025-12-01T10:00:20.000Z",
                "type": "response_item",
                "payload": {
                    "type": "function_call",
                    "name": "shell",
                    "call_id": "call_odd",
                    "arguments": '{"command": ["ls", ',
                },
            }
        ),
        json.dumps(
            {
                "timestamp": "2025-12-01T10:00:21.000Z",
                "type": "response_item",
                "payload": {"type": "function_call_output", "call_id": "call_odd", "output": "x"},
            }
        ),
    ]
    path = write_rollout(tmp_path, rollout_lines(odd))
    report = import_codex(path, store, progress=False)

    started = {s.event.id: s for s in stored(store, "ToolCallStarted")}
    assert list(started) == ["call_before", "call_odd", "call_after"]
    assert started["call_odd"].event.input == {"raw": '{"command": ["ls", '}
    assert started["call_odd"].metadata["input_raw"] is True
    assert {e.id for e in of_type(store, "ToolCallCompleted")} == set(started)
    assert report.counts["tool inputs kept raw (not a JSON object)"] == 1
    (warning,) = [w for w in report.warnings if w.startswith(f"{path}:")]
    assert warning.startswith(f"{path}:7: arguments of shell (call_odd) are not a JSON object")
    assert report.lines_skipped == 0  # kept, not skipped
    assert_rest_imported(store)


def test_empty_file_is_named_and_others_import(store, tmp_path):
    empty = tmp_path / "rollout-2025-12-01T09-00-00-0199eeee-0000-7000-8000-000000000006.jsonl"
    empty.write_text("")
    path = write_rollout(tmp_path, rollout_lines())
    report = import_codex([empty, path], store, progress=False)

    assert report.files == 2 and report.threads == 1
    assert f"{empty}: empty file; nothing imported" in report.warnings
    assert not [w for w in report.warnings if "not a Codex rollout" in w]
    assert_rest_imported(store)


def test_line_warnings_are_capped_per_file(store, tmp_path):
    bad = [f'{{"broken": {n}' for n in range(13)]
    path = write_rollout(tmp_path, rollout_lines(bad))
    report = import_codex(path, store, progress=False)

    assert report.skipped["invalid JSON"] == 13
    named = [w for w in report.warnings if w.startswith(f"{path}:") and "invalid JSON" in w]
    assert [int(w.split(":")[1]) for w in named] == list(range(7, 17))  # the first ten
    assert f"{path}: 3 more line warning(s) not listed" in report.warnings
    # the report itself names every skipped line
    assert [(f, n) for f, n, _ in report.skipped_lines] == [(str(path), n) for n in range(7, 20)]
    assert all(r.startswith("invalid JSON") for _, _, r in report.skipped_lines)
    assert_rest_imported(store)


def test_report_lists_events_written_per_type(store):
    report = import_codex([REAL, SYNTH], store, progress=False)
    written = Counter(s.event_type for s in store.replay_all())
    assert report.events_by_type == written
    assert sum(report.events_by_type.values()) == report.events_written
    assert report.as_dict()["events_by_type"] == dict(sorted(written.items()))
    text = str(report)
    for event_type, count in written.items():
        assert f"wrote {count} × {event_type}" in text

    again = import_codex([REAL, SYNTH], store, progress=False)
    assert again.events_written == 0 and not again.events_by_type


@pytest.mark.parametrize(
    "source", [TASKS, LEGACY, *sorted(REAL.glob("*.jsonl"))], ids=lambda p: p.name[:40]
)
def test_growing_file_completes_each_turn_once(source: Path, tmp_path: Path, store) -> None:
    """Re-imported as it grows, a rollout never gets two completions for one turn."""
    lines = source.read_text().splitlines(keepends=True)
    live = tmp_path / source.name
    for cut in range(3, len(lines), max(1, len(lines) // 12)):
        live.write_text("".join(lines[:cut]))
        import_codex(live, store, progress=False)
    live.write_text("".join(lines))
    import_codex(live, store, progress=False)
    with ek.EventStore.open(tmp_path / "fresh.db") as fresh:
        import_codex(live, fresh, progress=False)
        for kind in ("TurnStarted", "ToolCallStarted", "ToolCallCompleted", "MessageAdded"):
            assert len(stored(store, kind)) == len(stored(fresh, kind)), kind
        turn_ids = [e.event.id for e in stored(store, "TurnCompleted")]
        assert len(turn_ids) == len(set(turn_ids)), "a turn completed twice"
        assert set(turn_ids) == {e.event.id for e in stored(fresh, "TurnCompleted")}
