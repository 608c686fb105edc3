"""Usage totals: every total follows the usage rule, computed again in plain Python.

The rule (``docs/semantics.md``, *Usage*): totals are sums over every model call plus
every turn without model calls; a call counts for its own model, else its turn's, else
its thread's, on the day of its ``completed_at``. ``tests/usagerule.py`` restates it over
the events; here ``usage_totals``, ``thread_summary``, ``model_breakdown`` and
``summary`` (the library and ``eventkit summary``) are compared with it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from randomlog import model_call_cases, random_events
from usagerule import TOKENS, key_of, totals, usage_rows

import eventkit as ek
from eventkit.cli import main
from eventkit.read.metrics import USAGE_KEYS, usage_totals


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)


def turn_totals_only(seed: int) -> list[ek.Event]:
    """A log as writers that know turn totals only write it: no model calls at all."""
    return [e for e in random_events(seed, anomalies=False) if e.type != "ModelCallCompleted"]


LOGS = {
    "cases": model_call_cases,
    "random0": lambda: random_events(0),
    "random2": lambda: random_events(2),
    "well-formed": lambda: random_events(9, anomalies=False),
    "turn-totals": lambda: turn_totals_only(4),
}


@pytest.fixture(scope="module", params=sorted(LOGS))
def log(request, tmp_path_factory) -> tuple[Path, list[ek.Event]]:
    events = LOGS[request.param]()
    path = tmp_path_factory.mktemp(request.param) / "events.db"
    with ek.EventStore.open(path) as store:
        store.append_all(events)
    return path, events


def close(got: object, want: float | None) -> bool:
    if want is None:
        return pd.isna(got)
    return not pd.isna(got) and math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12)


def assert_groups(frame: pd.DataFrame, by: list[str], want: dict[tuple, dict]) -> None:
    got = {tuple(key_of(row[k]) for k in by): row for _, row in frame.iterrows()}
    assert sorted(got, key=repr) == sorted(want, key=repr), by
    for key, expected in want.items():
        row = got[key]
        for column in (*TOKENS, "total_tokens", "model_calls"):
            assert row[column] == expected[column], (by, key, column)
        assert close(row["cost_usd"], expected["cost_usd"]), (by, key)


@pytest.mark.parametrize(
    "by",
    [["model"], ["thread_id"], ["day"], ["provider"], ["project_id"], ["model", "day"],
     ["provider", "model"], ["turn_id"], ["status"]],
    ids="-".join,
)  # fmt: skip
def test_usage_totals_follow_the_usage_rule(log, by) -> None:
    path, events = log
    assert_groups(usage_totals(path, by=by), by, totals(usage_rows(events), by))


def test_usage_totals_refuse_unknown_keys(log) -> None:
    path, _ = log
    with pytest.raises(ValueError, match="by must name"):
        usage_totals(path, by="tool")
    assert set(USAGE_KEYS) >= {"model", "day", "thread_id"}


def test_thread_summary_sums_each_threads_usage_rows(log) -> None:
    path, events = log
    want = totals(usage_rows(events), ["thread_id"])
    summary = ek.thread_summary(path)
    for row in summary.itertuples():
        expected = want.get((row.thread_id,))
        if expected is None:  # a thread without usage rows
            assert (row.total_tokens, row.model_calls) == (0, 0) and pd.isna(row.cost_usd)
            continue
        assert row.input_tokens == expected["input_tokens"]
        assert row.output_tokens == expected["output_tokens"]
        assert row.total_tokens == expected["total_tokens"]
        assert row.model_calls == expected["model_calls"]
        assert close(row.cost_usd, expected["cost_usd"])


def test_model_breakdown_tokens_follow_the_calls_models(log) -> None:
    path, events = log
    by = ["provider", "model"]
    breakdown = ek.model_breakdown(path, by=by)
    want = totals(usage_rows(events), by)
    got = {tuple(key_of(row[k]) for k in by): row for _, row in breakdown.iterrows()}
    for key, expected in want.items():
        row = got[key]
        assert row["total_tokens"] == expected["total_tokens"], key
        assert row["model_calls"] == expected["model_calls"], key
        assert close(row["cost_usd"], expected["cost_usd"]), key
    for key in got.keys() - want.keys():  # groups of turns alone: no usage row
        assert got[key]["total_tokens"] == 0 and got[key]["turns"] > 0, key
    # Turn counts still group the turns: every created turn once.
    assert breakdown.turns.sum() == len(ek.turns_df(path))


def test_summary_totals_are_every_usage_row(log, capsys) -> None:
    path, events = log
    rows = usage_rows(events)
    (everything,) = totals(rows, []).values() or [None]
    overview = ek.summary(path)["overview"].iloc[0]
    if everything is None:
        assert overview.total_tokens == 0 and overview.model_calls == 0
        return
    assert overview.total_tokens == everything["total_tokens"]
    assert overview.model_calls == everything["model_calls"]
    assert close(overview.cost_usd, everything["cost_usd"])
    assert main(["summary", str(path), "--json", "--section", "overview"]) == 0
    (printed,) = json.loads(capsys.readouterr().out)
    assert printed["total_tokens"] == everything["total_tokens"]
    assert close(printed["cost_usd"], everything["cost_usd"])


def test_a_call_without_a_turn_counts_for_its_thread_model_and_day(tmp_path) -> None:
    events = model_call_cases()
    path = tmp_path / "events.db"
    with ek.EventStore.open(path) as store:
        store.append_all(events)
    by_model = usage_totals(path, by="model").set_index("model")
    loose = next(e for e in events if e.type == "ModelCallCompleted" and e.id == "loose")
    assert by_model.loc["haiku", "input_tokens"] >= loose.usage.input_tokens
    by_turn = usage_totals(path, by="turn_id")
    no_turn = by_turn[by_turn.turn_id.isna()].iloc[0]
    assert no_turn.model_calls == 1 and no_turn.input_tokens == loose.usage.input_tokens
    # Calls count for their own model (u1.b: opus, u1.a: sonnet), else their turn's, else
    # their thread's: t took opus from u1.b; the subagent thread's is haiku.
    assert by_model.loc["sonnet", "input_tokens"] == 90
    assert by_model.loc["opus", "model_calls"] == 5  # u1.early, u1.b, u1.late, ghost, early
    assert by_model.loc["haiku", "model_calls"] == 2  # loose, s1.a
    assert by_model.loc["opus", "input_tokens"] == 40 + 120 + 10 + 20 + 5 + 1000  # and u2
