"""The session generator: deterministic, complete, calibrated as documented, streaming."""

from __future__ import annotations

import itertools
import tracemalloc
from collections import Counter

import pytest

import eventkit as ek
from eventkit.apps.audit import violations
from eventkit.apps.synth import PROFILES, TOOL_KINDS, generate
from eventkit.catalog.events import EVENT_TYPES


def _key(item) -> tuple:
    return item.event_id, item.event.model_dump_json()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A log of 300 generated sessions and its frames."""
    log = tmp_path_factory.mktemp("synth") / "events.db"
    ek.generate_log(log, seed=11, threads=300, progress=False)
    threads = ek.threads_df(log)
    turns = ek.turns_df(log).merge(threads[["thread_id", "provider"]], on="thread_id")
    calls = ek.tool_calls_df(log).merge(threads[["thread_id", "provider"]], on="thread_id")
    return {"log": log, "threads": threads, "turns": turns, "calls": calls}


def test_the_same_seed_gives_the_same_events_and_ids():
    first = [_key(item) for item in generate(5, threads=20)]
    again = [_key(item) for item in generate(5, threads=20)]
    other = [_key(item) for item in generate(6, threads=20)]
    assert first == again
    assert len({event_id for event_id, _ in first}) == len(first), "event ids repeat"
    assert not {event_id for event_id, _ in first} & {event_id for event_id, _ in other}


def test_every_event_type_appears():
    seen = Counter(item.event.type for item in generate(1, threads=300))
    assert set(seen) == set(EVENT_TYPES), f"missing: {set(EVENT_TYPES) - set(seen)}"


def test_threads_counts_top_level_sessions(generated):
    threads = generated["threads"]
    assert threads["parent_thread_id"].isna().sum() == 300
    assert threads["parent_thread_id"].notna().sum() > 0, "no subagent threads"


@pytest.mark.parametrize("events", [1, 5_000, 40_000])
def test_events_gives_about_that_many(events):
    count = sum(1 for _ in generate(2, events=events))
    # it stops after the thread that reaches the figure (plus the closing event)
    assert events <= count <= events + 3_000


def test_without_a_size_it_makes_one_hundred_sessions():
    created = [i.event for i in generate(3) if i.event.type == "ThreadCreated"]
    assert sum(1 for e in created if e.parent_thread_id is None) == 100


def test_the_stream_is_lazy_and_memory_stays_flat():
    stream = generate(4, events=10_000_000)
    assert len(list(itertools.islice(stream, 1_000))) == 1_000  # no upfront materialising
    tracemalloc.start()
    try:
        peaks = []
        for _round in range(3):
            for _ in itertools.islice(stream, 40_000):
                pass
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    assert max(peaks) < 20 * 2**20, f"generator peaks at {max(peaks) / 2**20:.0f} MiB"
    assert peaks[-1] < 2 * peaks[0] + 2**20, f"memory grows with the stream: {peaks}"


def test_generated_logs_pass_the_audit(generated):
    findings = ek.audit(generated["log"])
    assert violations(findings) == [], [str(f) for f in violations(findings)]


def test_turn_latency_is_in_the_recordings_range_and_ordered_by_model(generated):
    medians = generated["turns"].groupby("model", observed=True)["duration_ms"].median() / 1000
    # the recordings' turns took 13 s to 12 min
    assert medians.between(13, 720).all(), medians.to_dict()
    by_profile = {p.model: p.median_turn_s for p in PROFILES if p.provider != "t3code"}
    fastest, slowest = min(by_profile, key=by_profile.get), max(by_profile, key=by_profile.get)
    assert medians[fastest] < medians[slowest]


def test_tool_mix_and_failure_rates_follow_the_calibration(generated):
    calls = generated["calls"]
    codex = calls[calls["provider"] == "codex"]
    claude = calls[calls["provider"] == "claude-code"]
    shell_share = (codex["tool_category"] == "shell").mean()
    assert shell_share > 0.7, f"Codex runs nearly everything through the shell ({shell_share})"
    assert (claude["tool_category"] == "shell").mean() < 0.4
    assert set(codex["tool"]) <= {
        "exec_command",
        "shell",
        "apply_patch",
        "web_search",
        "update_plan",
    }
    for category, frame in calls.groupby("tool_category", observed=True):
        rate = (frame["status"] == "error").mean()
        expected = TOOL_KINDS[category].failure_rate
        assert abs(rate - expected) < max(0.03, expected * 0.6), (category, rate, expected)


def test_only_streaming_providers_write_deltas_and_only_codex_like_ones_ask(generated):
    log, threads = generated["log"], generated["threads"]
    deltas = ek.sql(log, "SELECT DISTINCT thread_id FROM message_delta")
    providers = set(threads.set_index("thread_id").loc[deltas["thread_id"], "provider"])
    streaming = {p.provider for p in PROFILES if p.streams}
    assert providers and providers <= streaming
    calls = generated["calls"]
    asked = calls[calls["approval_decision"].notna()]
    asking = {p.provider for p in PROFILES if p.asks_approval}
    assert len(asked) and set(asked["provider"]) <= asking
    accepted = (asked["approval_decision"] == "accepted").mean()
    assert 0.8 < accepted < 0.95, f"people accept about 88% ({accepted:.2f})"


def test_claude_code_tokens_are_mostly_cache(generated):
    turns = generated["turns"]
    claude = turns[turns["provider"] == "claude-code"]
    codex = turns[turns["provider"] == "codex"]
    assert claude["cache_read_tokens"].sum() > 50 * claude["input_tokens"].sum()
    assert codex["reasoning_tokens"].sum() > 0 and claude["reasoning_tokens"].sum() == 0
    assert (turns["cost_source"] == "estimated").all()


def test_the_sample_log_holds_every_event_type(sample_copy):
    counts = ek.sql(sample_copy, "SELECT event_type, count(*) AS n FROM events GROUP BY 1")
    assert set(counts["event_type"]) == set(EVENT_TYPES)


def test_model_calls_carry_the_usage_and_turn_completions_none(generated):
    log, turns = generated["log"], generated["turns"]
    calls = ek.model_calls_df(log)
    completed = ek.sql(log, "SELECT * FROM turn_completed")
    recording = {p.provider for p in PROFILES if p.records_calls}
    by_thread = generated["threads"].set_index("thread_id")["provider"].astype(str)
    provider = completed["thread_id"].map(by_thread)
    of_writers = completed[provider.isin(recording)]
    zero = of_writers[[f"usage_{k}" for k in ("input_tokens", "output_tokens")]].eq(0).all(axis=1)
    assert zero.all() and of_writers["cost_usd"].isna().all()
    t3code = completed[provider == "t3code"]
    assert len(t3code) and (t3code["usage_output_tokens"] > 0).all()
    # 1-3 calls per turn of a writer that records them; none in t3code's turns.
    per_turn = turns.set_index("turn_id")
    counts = per_turn.loc[per_turn["provider"].isin(recording), "model_calls"]
    assert counts.between(1, 3).all() and counts.nunique() == 3
    assert (per_turn.loc[per_turn["provider"] == "t3code", "model_calls"] == 0).all()
    # The turns' tokens are their calls' sums (cost estimated on every call).
    in_turns = calls[calls["turn_id"].notna()].groupby("turn_id")["output_tokens"].sum()
    assert (per_turn.loc[in_turns.index, "output_tokens"] == in_turns).all()
    assert (calls["cost_source"] == "estimated").all()


def test_some_calls_are_restated_and_a_few_have_no_turn(generated):
    log = generated["log"]
    events = ek.sql(
        log, "SELECT id, revision, usage_output_tokens, sequence FROM model_call_completed"
    )
    restated = events.groupby("id").filter(lambda g: len(g) > 1)
    assert 0.05 < restated["id"].nunique() / events["id"].nunique() < 0.25
    for _, group in restated.groupby("id"):
        first, last = group.sort_values("sequence").itertuples(index=False)
        assert last.revision > first.revision
        assert last.usage_output_tokens >= first.usage_output_tokens
    calls = ek.model_calls_df(log)
    assert (calls.loc[calls["model_call_id"].isin(restated["id"]), "revision"] == 2).all()
    loose = calls[calls["turn_id"].isna()]
    assert 0 < len(loose) < 0.1 * len(calls)


def test_subagent_threads_name_the_tool_call_that_started_them(generated):
    threads = generated["threads"]
    subagents = threads[threads["parent_thread_id"].notna()]
    assert len(subagents) and subagents["parent_tool_call_id"].notna().all()
    calls = generated["calls"].set_index("tool_call_id")
    starters = calls.loc[subagents["parent_tool_call_id"]]
    assert (starters["thread_id"].to_numpy() == subagents["parent_thread_id"].to_numpy()).all()
    assert threads.loc[threads["parent_thread_id"].isna(), "parent_tool_call_id"].isna().all()
