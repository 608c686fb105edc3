"""Codex CLI rollouts: two real recordings (0.40.0, 0.125.0), small synthetic variants and
files derived from the recordings (``codex_derived.py``) for the traps they do not show.

Expectations are computed from the files' JSON in the tests, not written down: token
totals are the final cumulative ``total_token_usage`` of the raw file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from codex_derived import (
    REAL,
    V0125,
    V040,
    as_columns,
    child_rollout,
    counter_goes_down,
    final_total,
    minus,
    old_style_several_prompts,
    read,
    repeated_and_null_counts,
    resumed_in_new_file,
    write,
)
from growing import assert_growing_equals_fresh, assert_same_frames

import eventkit as ek
from eventkit.catalog import pricing
from eventkit.catalog.events import parse_timestamp
from eventkit.errors import EventkitError, LogNotFoundError, SourceNotFoundError
from eventkit.importers.codex import import_codex

SYNTH = Path(__file__).resolve().parent / "fixtures" / "codex"
LEGACY = SYNTH / "rollout-2025-10-01T09-00-00-0199aaaa-0000-7000-8000-000000000001.jsonl"
TASKS = SYNTH / "rollout-2026-05-01T12-00-00-019e0000-0000-7000-8000-000000000002.jsonl"
DAMAGED = SYNTH / "rollout-2025-11-03T08-00-00-0199bbbb-0000-7000-8000-000000000003.jsonl"
ALL_FILES = [V040, V0125, LEGACY, TASKS, DAMAGED]
ROOT_CLAUDE = next((REAL.parent / "claude_code").rglob("*.jsonl"))
TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
)


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


def sums(frame) -> dict[str, int]:
    return {c: int(frame[c].fillna(0).sum()) for c in TOKEN_COLUMNS}


def line_warnings(report: ek.ImportReport, path: Path) -> list[str]:
    """The report's warnings that name a line of ``path`` (``path:N: …``)."""
    return [w for w in report.warnings if re.match(rf"{re.escape(str(path))}:\d+:", w)]


def is_context(text: str) -> bool:
    return text.lstrip().startswith(("<", "# AGENTS.md"))


def file_calls(path: Path) -> Counter[str]:
    """Tool calls of a rollout by tool: a web search's call and end are one call."""
    calls = Counter(p["name"] for _, p in payloads(path, "response_item", "function_call"))
    calls += Counter(p["name"] for _, p in payloads(path, "response_item", "custom_tool_call"))
    calls["local_shell"] += len(payloads(path, "response_item", "local_shell_call"))
    calls["web_search"] += max(
        len(payloads(path, "response_item", "web_search_call")),
        len(payloads(path, "event_msg", "web_search_end")),
    )
    return +calls


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
    expected = file_calls(V0125)
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


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name[:24])
def test_tool_call_counts_equal_the_files_calls(tmp_path, path):
    log = tmp_path / "log.db"
    import_codex(path, log, progress=False)
    assert Counter(ek.tool_calls_df(log)["tool"]) == file_calls(path)


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


def test_a_running_process_completes_at_its_end_with_its_own_output(store):
    """0.125 writes an exec output that says the process runs on; its exec_command_end
    (or a poll that sees it exit) comes later and decides the status."""
    import_codex(V0125, store, progress=False)
    completed = {s.event.id: s for s in stored(store, "ToolCallCompleted")}
    ends = {p["call_id"]: (n, p) for n, p in payloads(V0125, "event_msg", "exec_command_end")}
    outputs = {
        p["call_id"]: (n, p)
        for n, p in payloads(V0125, "response_item", "function_call_output")
        if p["call_id"] in ends
    }
    running = [
        c for c, (_, p) in outputs.items() if "Process running with session ID" in p["output"]
    ]
    assert running
    for call_id in running:
        item = completed[call_id]
        end_line, end = ends[call_id]
        assert item.event.output == outputs[call_id][1]["output"]
        assert item.metadata["exit_code"] == end["exit_code"]
        assert item.metadata["source"]["line"] <= end_line  # at its end, or a poll before it
        assert item.metadata["output_line"] == outputs[call_id][0]


# --------------------------------------------------------------------------- turns


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
        assert item.metadata["completed_by"] == "task_complete"


def test_open_last_turn_and_outcomes(store):
    report = import_codex(TASKS, store, progress=False)
    outcomes = {e.id: e for e in of_type(store, "TurnCompleted")}
    error_text = payloads(TASKS, "event_msg", "error")[0][1]["message"]
    assert outcomes["turn-1"].outcome == "error" and outcomes["turn-1"].error == error_text
    assert outcomes["turn-2"].outcome == "interrupted"
    assert "turn-3" in {e.id for e in of_type(store, "TurnStarted")}
    assert "turn-3" not in outcomes
    assert any("turn-3" in w and "left running" in w for w in report.warnings)


def test_a_file_ending_with_an_answer_leaves_its_turn_running(tmp_path):
    """0.40 writes no task events: its one turn has no end marker, stays running, and
    its last activity (the answer) gives its span; its tokens all count."""
    log = tmp_path / "log.db"
    import_codex(V040, log, progress=False)
    (turn,) = ek.turns_df(log).itertuples()
    last = lines(V040)[-1][1]
    assert last["payload"]["role"] == "assistant"
    assert turn.status == "running" and pd.isna(turn.completed_at)
    assert turn.last_activity_at == parse_timestamp(last["timestamp"])
    assert sums(ek.turns_df(log)) == as_columns(final_total(read(V040)))


def test_turn_usage_is_the_difference_of_cumulative_totals(tmp_path):
    """Per turn, the calls' sums equal the counter's moves between the turn's start and
    the next one's (0.125: task_started; a 0.3x file: each prompt)."""
    derived, prompt_rows = old_style_several_prompts()
    cases = [
        (V0125, [n - 1 for n, _ in payloads(V0125, "event_msg", "task_started")], read(V0125)),
        (write(derived, tmp_path / "old.jsonl"), prompt_rows, derived),
    ]
    for path, starts, records in cases:
        log = tmp_path / f"{path.stem}.db"
        import_codex(path, log, progress=False)
        turns = ek.turns_df(log).sort_values("started_at").reset_index(drop=True)
        assert len(turns) == len(starts) > 1
        bounds = [*starts[1:], len(records)]
        before: dict = {}
        for i, end in enumerate(bounds):
            total = final_total(records[:end]) if i < len(bounds) - 1 else final_total(records)
            assert sums(turns.iloc[[i]]) == as_columns(minus(total, before)), (path.name, i)
            before = total


def test_old_versions_end_a_turn_at_the_next_prompt(tmp_path):
    derived, starts = old_style_several_prompts()
    path = write(derived, tmp_path / "rollout-036.jsonl")
    log = tmp_path / "log.db"
    with ek.EventStore.open(log) as store:
        import_codex(path, store, progress=False)
        completed = stored(store, "TurnCompleted")
        assert [s.metadata["completed_by"] for s in completed] == ["next prompt"] * 2
    turns = ek.turns_df(log).sort_values("started_at")
    assert list(turns["status"]) == ["success", "success", "running"]
    prompts = ek.messages_df(log).query("role == 'user'").sort_values("created_at")
    assert len(prompts) == len(starts) == 3
    assert sums(turns) == as_columns(final_total(derived))


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name[:24])
def test_token_totals_equal_the_final_cumulative_total(tmp_path, path):
    log = tmp_path / "log.db"
    import_codex(path, log, progress=False)
    expected = as_columns(final_total(read(path)))
    assert sums(ek.model_calls_df(log)) == expected
    assert sums(ek.turns_df(log)) == expected  # every call is in a turn, ended or not
    for stored_turn in ek.EventStore.open(log).replay_all(types=["TurnCompleted"]):
        event = stored_turn.event
        assert event.usage == ek.TokenUsage() and event.cost_usd is None


def test_each_moving_total_is_one_model_call_on_the_model_in_force(tmp_path):
    log = tmp_path / "log.db"
    import_codex(V040, log, progress=False)
    calls = ek.model_calls_df(log).sort_values("completed_at")
    moving, model, last = [], None, None
    for record in read(V040):
        if record["type"] == "turn_context":
            model = record["payload"]["model"]
        elif record["payload"].get("type") == "token_count":
            total = record["payload"]["info"]["total_token_usage"]
            if total != last:
                moving.append((record["timestamp"], model))
            last = total
    assert len(calls) == len(moving) == len(payloads(V040, "event_msg", "token_count"))
    assert list(calls["model"]) == [m for _, m in moving]
    assert list(calls["completed_at"]) == [parse_timestamp(t) for t, _ in moving]
    assert calls["cost_source"].eq("estimated").all() and calls["revision"].eq(1).all()
    expected = [
        pricing.estimate_cost(m, ek.TokenUsage(**{c: int(row[c]) for c in TOKEN_COLUMNS}))
        for m, (_, row) in zip(calls["model"], calls.iterrows(), strict=True)
    ]
    assert list(calls["cost_usd"]) == expected


def test_repeated_token_counts_and_info_null_add_nothing(tmp_path):
    path = write(repeated_and_null_counts(V0125), tmp_path / "repeated.jsonl")
    log, plain = tmp_path / "log.db", tmp_path / "plain.db"
    report = import_codex(path, log, progress=False)
    import_codex(V0125, plain, progress=False)
    assert report.skipped["token_count (total unchanged)"] > 0
    assert report.skipped["token_count without info"] > 0
    calls, once = ek.model_calls_df(log), ek.model_calls_df(plain)
    assert len(calls) == len(once) and sums(calls) == sums(once)
    assert sums(calls) == as_columns(final_total(read(V0125)))


def test_legacy_synthetic_counts_once(store):
    import_codex(LEGACY, store, progress=False)
    reports = [p["info"] for _, p in payloads(LEGACY, "event_msg", "token_count") if p["info"]]
    totals = [json.dumps(i["total_token_usage"], sort_keys=True) for i in reports]
    assert len(totals) > len(set(totals))  # the fixture repeats reports
    calls = of_type(store, "ModelCallCompleted")
    assert len(calls) == len(set(totals))
    final = reports[-1]["total_token_usage"]
    assert sum(c.usage.output_tokens for c in calls) == final["output_tokens"]


@pytest.mark.parametrize("kind", ["stale", "restart"])
def test_a_counter_that_goes_down(tmp_path, kind):
    """A stale report below the high-water mark adds nothing; a restarted counter (its
    first report equals its own last usage) counts from zero. Both files spent what the
    original recording spent."""
    records = counter_goes_down(kind)
    path = write(records, tmp_path / f"rollout-{kind}.jsonl")
    log = tmp_path / "log.db"
    report = import_codex(path, log, progress=False)
    assert sums(ek.model_calls_df(log)) == as_columns(final_total(read(V040)))
    reports = len(payloads(V040, "event_msg", "token_count"))  # each moves the original's total
    assert len(ek.model_calls_df(log)) == reports
    if kind == "stale":
        assert report.skipped["token_count (below the high-water mark)"] == 1
    else:
        assert report.counts["model calls (restart)"] == 1
    assert_growing_equals_fresh(import_codex, [path], tmp_path, tmp_path / "grow")


def test_a_session_resumed_into_a_new_file_counts_what_the_file_shows(tmp_path):
    """A file whose counter starts above its own last call (seeded from history it does
    not hold) counts that call, not the history; beside the original it adds nothing."""
    records, spent = resumed_in_new_file()
    path = write(records, tmp_path / "rollout-2026-05-11T08-32-57-resumed.jsonl")
    log = tmp_path / "log.db"
    import_codex(path, log, progress=False)
    assert sums(ek.model_calls_df(log)) == as_columns(spent)
    import_codex(V0125, log, progress=False)
    assert sums(ek.model_calls_df(log)) == as_columns(final_total(read(V0125)))


def test_an_unknown_model_has_no_cost_and_is_named(tmp_path):
    records = read(V040)
    for record in records:
        if record["type"] == "turn_context":
            record["payload"]["model"] = "gpt-9-preview"
    path = write(records, tmp_path / "rollout-unknown-model.jsonl")
    log = tmp_path / "log.db"
    report = import_codex(path, log, progress=False)
    calls = ek.model_calls_df(log)
    assert calls["cost_usd"].isna().all() and calls["cost_source"].isna().all()
    assert report.unpriced_models == {"gpt-9-preview": len(calls)}
    assert any("gpt-9-preview" in w for w in report.as_dict()["warnings"])


# --------------------------------------------------------------------------- growing files


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name[:24])
def test_growing_file_ends_where_one_import_ends(tmp_path, path):
    grown, _ = assert_growing_equals_fresh(import_codex, [path], path.parent, tmp_path)
    assert sums(ek.model_calls_df(grown)) == as_columns(final_total(read(path)))


def test_a_file_cut_mid_turn(tmp_path):
    """A rollout cut in its second turn, its last line half written: the first turn
    completed, the second runs on, and every token spent so far counts."""
    raw = V0125.read_text().splitlines(keepends=True)
    cut = 200
    path = tmp_path / V0125.name
    path.write_text("".join(raw[:cut]) + raw[cut][:40])
    log = tmp_path / "log.db"
    report = import_codex(path, log, progress=False)
    assert report.skipped["truncated last line"] == 1
    turns = ek.turns_df(log).sort_values("started_at")
    assert list(turns["status"]) == ["success", "running"]
    expected = as_columns(final_total([json.loads(x) for x in raw[:cut]]))
    assert sums(ek.model_calls_df(log)) == sums(turns) == expected
    waiting = int(ek.tool_calls_df(log)["status"].isna().sum())
    assert report.counts["tool calls without a result"] == waiting


def test_reimport_after_the_price_table_changed_adds_nothing(tmp_path, monkeypatch):
    log = tmp_path / "log.db"
    import_codex([REAL, SYNTH], log, progress=False)
    costs = ek.model_calls_df(log).set_index("model_call_id")["cost_usd"]
    assert costs.notna().all()
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
    again = import_codex([REAL, SYNTH], log, progress=False)
    assert again.events_written == 0
    after = ek.model_calls_df(log).set_index("model_call_id")["cost_usd"]
    assert (after == costs).all()  # the first import's estimates stand


# --------------------------------------------------------------------------- child rollouts


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("spawn", {}),
        ("fork", {}),
        ("fork", {"full_history": True}),
        ("fork", {"restamp": True}),
        ("fork", {"counter_from_zero": True}),
        ("review", {}),
    ],
    ids=["spawn", "fork", "fork-full-history", "fork-restamped", "fork-counter-zero", "review"],
)
def test_a_child_rollout_counts_only_its_own_usage(tmp_path, kind, options):
    records, own, child_id = child_rollout(kind, **options)
    folder = tmp_path / "sessions"
    folder.mkdir()
    parent = shutil.copy(V0125, folder / V0125.name)
    child = write(records, folder / f"rollout-2026-05-11T08-45-28-{child_id}.jsonl")
    log = tmp_path / "log.db"
    import_codex(folder, log, progress=False)

    threads = ek.threads_df(log).set_index("thread_id")
    parent_id = read(V0125)[0]["payload"]["id"]
    assert threads.loc[child_id, "parent_thread_id"] == parent_id
    assert pd.isna(threads.loc[child_id, "parent_tool_call_id"])  # no rollout names it
    calls = ek.model_calls_df(log)
    assert sums(calls[calls.thread_id == child_id]) == as_columns(own)
    assert sums(calls[calls.thread_id == parent_id]) == as_columns(final_total(read(V0125)))
    # the copied history is not the child's: only its own prompt, answers and calls
    messages = ek.messages_df(log).query("thread_id == @child_id")
    assert list(messages.query("role == 'user'")["text"]) == ["show tools"]
    tools = ek.tool_calls_df(log).query("thread_id == @child_id")
    assert len(tools) == 2 and tools["tool_call_id"].str.startswith("call_child_").all()
    (turn,) = ek.turns_df(log).query("thread_id == @child_id").itertuples()
    assert turn.status == "success"
    assert_growing_equals_fresh(import_codex, [parent, child], folder, tmp_path / "grow")


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


def test_ide_context_goes_to_metadata(tmp_path):
    log = tmp_path / "log.db"
    with ek.EventStore.open(log) as store:
        import_codex(V040, store, progress=False)
        (prompt,) = [s for s in stored(store, "MessageAdded") if s.event.role == "user"]
        assert prompt.metadata["ide_context"].startswith("# Context from my IDE setup:")
    (title,) = ek.threads_df(log)["title"]
    assert title.startswith("Evaluate @packages/services")


@pytest.mark.parametrize("path", [V040, V0125, LEGACY], ids=lambda p: p.name[:24])
def test_answers_count_once(store, path):
    import_codex(path, store, progress=False)
    items = [p for _, p in payloads(path, "response_item", "message") if p["role"] == "assistant"]
    answers = [e for e in of_type(store, "MessageAdded") if e.role == "assistant"]
    assert [e.text for e in answers] == [p["content"][0]["text"] for p in items]
    assert len(payloads(path, "event_msg", "agent_message")) == len(items)


# --------------------------------------------------------------------------- thread


def test_thread_from_session_meta(tmp_path):
    log = tmp_path / "log.db"
    with ek.EventStore.open(log) as store:
        import_codex(V0125, store, progress=False)
        ((_, meta),) = payloads(V0125, "session_meta")
        (item,) = stored(store, "ThreadCreated")
        assert item.event.id == meta["id"] and item.event.provider == "codex"
        assert item.metadata["cli_version"] == meta["cli_version"]
        assert item.metadata["originator"] == meta["originator"]
        assert item.metadata["git"] == meta["git"]
        assert item.metadata["session_source"] == meta["source"]
        assert item.metadata["source"]["format"] == "codex"
        (project,) = of_type(store, "ProjectCreated")
        assert project.path == meta["cwd"] and item.event.project_id == project.id
    (thread,) = ek.threads_df(log).itertuples()
    first_context = payloads(V0125, "turn_context")[0][1]
    assert thread.model == first_context["model"]  # the first model call's
    assert thread.title == payloads(V0125, "event_msg", "user_message")[0][1]["message"]


def test_thread_name_updated_renames(tmp_path):
    records = read(TASKS)
    name = {"type": "thread_name_updated", "thread_name": "Staging deploy"}
    records.insert(8, {"timestamp": records[7]["timestamp"], "type": "event_msg", "payload": name})
    path = write(records, tmp_path / TASKS.name)
    log = tmp_path / "log.db"
    import_codex(path, log, progress=False)
    assert list(ek.threads_df(log)["title"]) == ["Staging deploy"]


def test_session_continued_in_another_file_is_one_thread(store, tmp_path):
    copy = tmp_path / "rollout-continued-0199aaaa-0000-7000-8000-000000000001.jsonl"
    shutil.copy(LEGACY, copy)
    import_codex(LEGACY, store, progress=False)
    report = import_codex(copy, store, progress=False)
    assert len(of_type(store, "ThreadCreated")) == 1
    assert any("continues session" in w for w in report.warnings)
    assert report.events_written == 0  # its records are the same facts: counted once


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
    assert len(answer) == 1 and len(of_type(store, "TurnStarted")) == 1
    assert of_type(store, "TurnCompleted") == []  # no end marker: the turn runs on


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


def test_a_file_of_another_format_is_skipped_and_the_rest_imported(store, tmp_path):
    other = tmp_path / "claude-session.jsonl"
    shutil.copy(ROOT_CLAUDE, other)
    report = import_codex([other, LEGACY], store, progress=False)
    assert report.threads == 1
    assert report.skipped["not a Codex rollout"] == len(other.read_text().splitlines())
    assert any(str(other) in w and "not a Codex rollout" in w for w in report.warnings)


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


def test_call_statuses_in_a_unified_exec_session(store):
    import_codex(TASKS, store, progress=False)
    completed = {s.event.id: s for s in stored(store, "ToolCallCompleted")}
    (end,) = [p for _, p in payloads(TASKS, "event_msg", "exec_command_end")]
    command = completed[end["call_id"]]  # completed by the poll that saw its process exit
    assert command.event.status == "error"
    assert command.metadata["exit_code"] == end["exit_code"]
    assert command.metadata["completed_by"] == "write_stdin"
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


def test_a_web_search_written_before_its_end_is_one_call(tmp_path):
    """Whichever of a web search's call and end comes first is the call; an end after a
    call written in progress completes it."""
    records = read(TASKS)
    i = next(n for n, r in enumerate(records) if r["payload"].get("type") == "web_search_end")
    end, call = records[i], records[i + 1]
    call["payload"].update(status="in_progress", id="ws_item_1")
    records[i], records[i + 1] = call, end
    path = write(records, tmp_path / TASKS.name)
    log = tmp_path / "log.db"
    import_codex(path, log, progress=False)
    searches = ek.tool_calls_df(log).query("tool == 'web_search'")
    assert list(searches["tool_call_id"]) == ["ws_item_1"]
    assert list(searches["status"]) == ["ok"]
    assert searches["completed_at"].iloc[0] == parse_timestamp(end["timestamp"])


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


def test_growing_imports_equal_fresh_frames_across_files(tmp_path):
    """The real and synthetic files together, as they would sit in one sessions folder."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    files = [shutil.copy(p, folder / p.name) for p in (V040, LEGACY, TASKS)]
    grown, fresh = assert_growing_equals_fresh(
        import_codex, [Path(f) for f in files], folder, tmp_path / "grow"
    )
    assert_same_frames(grown, fresh)


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
    """Both calls around the damage are there and completed, and the tokens count."""
    started = {e.id for e in of_type(store, "ToolCallStarted")}
    assert {"call_before", "call_after"} <= started
    completed = {e.id: e.status for e in of_type(store, "ToolCallCompleted")}
    assert completed["call_before"] == completed["call_after"] == "ok"
    calls = of_type(store, "ModelCallCompleted")
    assert sum(c.usage.input_tokens for c in calls) == 2000
    assert sum(c.usage.output_tokens for c in calls) == 80
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
    named = line_warnings(report, path)
    assert len(named) == 1 and named[0].startswith(f"{path}:{number}: {reason}")
    assert "truncated last line" not in report.skipped
    assert report.lines_read == len(lines)
    assert_rest_imported(store)
    assert_growing_equals_fresh(import_codex, [path], tmp_path, tmp_path / "grow")


def test_truncated_last_line_is_told_apart_from_invalid_json(store, tmp_path):
    cut = rollout_lines()[-1][:50]  # a line cut off mid-write, no newline
    lines = rollout_lines([cut], at_end=True)
    path = write_rollout(tmp_path, lines, last_newline=False)
    report = import_codex(path, store, progress=False)

    assert report.skipped["truncated last line"] == 1
    assert "invalid JSON" not in report.skipped
    (warning,) = line_warnings(report, path)
    assert warning.startswith(f"{path}:{len(lines)}: truncated last line")
    assert_rest_imported(store)


def test_complete_last_line_without_newline_is_imported(tmp_path):
    path = write_rollout(tmp_path, rollout_lines(), last_newline=False)
    with ek.EventStore.open(tmp_path / "whole.db") as whole:
        report = import_codex(path, whole, progress=False)
        assert "truncated last line" not in report.skipped
        assert line_warnings(report, path) == []
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
    (warning,) = line_warnings(report, path)
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
