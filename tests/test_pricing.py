"""Cost estimation: the shipped price table, model resolution, arithmetic, and the importers.

Expected costs are computed here from ``eventkit/catalog/prices.json`` itself, not written down.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.apps.synth import PROFILES
from eventkit.catalog import pricing
from eventkit.importers.claude_code import import_claude_code
from eventkit.importers.codex import import_codex

ROOT = Path(__file__).resolve().parent.parent
TABLE_FILE = ROOT / "eventkit" / "catalog" / "prices.json"
TABLE = json.loads(TABLE_FILE.read_text())
CLAUDE = [ROOT / "data" / "fixtures" / "claude_code", ROOT / "tests" / "fixtures" / "claude_code"]
CODEX = [ROOT / "data" / "fixtures" / "codex", ROOT / "tests" / "fixtures" / "codex"]
GEMINI = ROOT / "data" / "fixtures" / "gemini"

USAGE = ek.TokenUsage(
    input_tokens=12_345,
    output_tokens=6_789,
    cache_read_tokens=250_000,
    cache_write_tokens=40_000,
    reasoning_tokens=1_000,
)


def expected_cost(model_id: str, usage: ek.TokenUsage, one_hour: int = 0) -> float:
    """The cost by the table's own numbers (reasoning is part of output; not added)."""
    rates = TABLE["models"][model_id]
    return (
        usage.input_tokens * rates["input"]
        + usage.output_tokens * rates["output"]
        + usage.cache_read_tokens * rates["cache_read"]
        + (usage.cache_write_tokens - one_hour) * rates["cache_write"]
        + one_hour * rates.get("cache_write_1h", rates["cache_write"])
    ) / 1_000_000


def fixture_models() -> set[str]:
    """Every model the real and synthetic fixtures name (Claude responses, Codex turns)."""
    models = set()
    for root in CLAUDE:
        for path in root.rglob("*.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                message = record.get("message")
                if record.get("type") == "assistant" and isinstance(message, dict):
                    models.add(message.get("model"))
    for root in CODEX:
        for path in root.rglob("*.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("type") == "turn_context":
                    models.add(record["payload"].get("model"))
    for path in GEMINI.iterdir():  # JSON Lines, or one object with messages
        text = path.read_text()
        try:
            messages = json.loads(text)["messages"]
        except (json.JSONDecodeError, KeyError):
            messages = [json.loads(line) for line in text.splitlines()]
        models |= {m.get("model") for m in messages if m.get("type") == "gemini"}
    return {m for m in models if m and m != "<synthetic>"}


# --------------------------------------------------------------------------- the table


def test_table_is_dated_sourced_and_well_formed() -> None:
    assert pricing.PRICES_AS_OF == TABLE["as_of"]
    date.fromisoformat(pricing.PRICES_AS_OF)
    providers = {entry["provider"] for entry in TABLE["models"].values()}
    assert providers == {"anthropic", "google", "openai"}
    for provider in providers:
        assert TABLE["providers"][provider]["source"].strip()
    for model, entry in TABLE["models"].items():
        for field in pricing.RATE_FIELDS:
            assert isinstance(entry[field], int | float) and entry[field] >= 0, (model, field)
        assert entry["output"] >= entry["input"] >= entry["cache_read"], model
    for alias, target in TABLE["aliases"].items():
        assert target in TABLE["models"], alias
    assert pricing.known_models() == sorted(TABLE["models"])


def test_table_prices_every_fixture_and_generator_model() -> None:
    models = fixture_models() | {profile.model for profile in PROFILES}
    assert {"claude-sonnet-4-5-20250929", "claude-opus-4-6", "gpt-5-codex", "gpt-5.5"} <= models
    assert {"gemini-2.5-pro", "gemini-3-flash-preview", "gemini-3.1-pro-preview"} <= models
    assert {m for m in models if pricing.price_for(m) is None} == set()
    for model in ("claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4", "gpt-5", "gpt-5-mini"):
        assert pricing.price_for(model) is not None, model


def test_table_ships_in_the_package() -> None:
    # Read through the package (importlib.resources), the way an installed wheel is read.
    assert pricing.PRICES.origin == "eventkit/catalog/prices.json"
    assert pricing.PRICES.as_of == TABLE["as_of"]


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("model", "table_id"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("Claude-Opus-4-6", "claude-opus-4-6"),
        ("claude-opus-4-6[1m]", "claude-opus-4-6"),
        ("anthropic/claude-opus-4-6", "claude-opus-4-6"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("gpt-5-codex", "gpt-5-codex"),
        ("gpt-5.5", "gpt-5.5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("openai/gpt-5", "gpt-5"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("gemini-3-flash-preview", "gemini-3-flash-preview"),
        ("gemini-3.1-pro-preview", "gemini-3.1-pro-preview"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("claude-sonnet-4.6", "claude-sonnet-4-6"),
        ("claude-haiku-4.5", "claude-haiku-4-5"),
    ],
)
def test_aliases_and_dated_ids_resolve(model: str, table_id: str) -> None:
    assert pricing.PRICES.resolve(model) == table_id
    price = pricing.price_for(model)
    assert price is not None and price.model == table_id
    assert price.input == TABLE["models"][table_id]["input"]


@pytest.mark.parametrize(
    "model",
    [None, "", "<synthetic>", "sonnet", "opus", "gpt-5.5-mini", "claude-opus-9", "gpt-5-codex-x"],
)
def test_unknown_models_have_no_price(model: str | None) -> None:
    assert pricing.price_for(model) is None
    assert pricing.estimate_cost(model, USAGE) is None


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("table_id", sorted(TABLE["models"]))
def test_estimate_is_the_table_arithmetic(table_id: str) -> None:
    assert pricing.estimate_cost(table_id, USAGE) == pytest.approx(
        expected_cost(table_id, USAGE), rel=1e-9, abs=1e-9
    )


def test_reasoning_tokens_are_not_billed_twice() -> None:
    plain = ek.TokenUsage(output_tokens=1_000)
    reasoned = ek.TokenUsage(output_tokens=1_000, reasoning_tokens=800)
    assert pricing.estimate_cost("gpt-5", plain) == pricing.estimate_cost("gpt-5", reasoned)


def test_one_hour_cache_writes_have_their_own_rate() -> None:
    model = "claude-opus-4-6"
    one_hour = 30_000
    cost = pricing.estimate_cost(model, USAGE, cache_write_1h_tokens=one_hour)
    assert cost == pytest.approx(expected_cost(model, USAGE, one_hour), abs=1e-9)
    assert cost > pricing.estimate_cost(model, USAGE)
    # More 1-hour tokens than cache writes cannot be: capped at the writes.
    capped = pricing.estimate_cost(model, USAGE, cache_write_1h_tokens=10**9)
    assert capped == pytest.approx(expected_cost(model, USAGE, USAGE.cache_write_tokens), abs=1e-9)
    # OpenAI has no 1-hour tier: its cache-write price applies.
    gpt = pricing.estimate_cost("gpt-5", USAGE, cache_write_1h_tokens=one_hour)
    assert gpt == pricing.estimate_cost("gpt-5", USAGE)


def test_no_tokens_cost_nothing() -> None:
    assert pricing.estimate_cost("claude-sonnet-4-5", ek.TokenUsage()) == 0.0


def test_a_table_of_ones_own(tmp_path: Path) -> None:
    own = {
        "as_of": "2030-01-01",
        "models": {"m-1": {"input": 1, "output": 2, "cache_read": 0.5, "cache_write": 1}},
    }
    (tmp_path / "p.json").write_text(json.dumps(own))
    table = pricing.PriceTable.load(tmp_path / "p.json")
    assert table.as_of == "2030-01-01"
    assert table.estimate_cost("m-1-20300101", ek.TokenUsage(input_tokens=10**6)) == 1.0
    bad = {**own, "aliases": {"x": "missing"}}
    with pytest.raises(ek.EventkitError, match="aliases"):
        pricing.PriceTable(bad)
    with pytest.raises(ek.EventkitError, match="non-negative"):
        pricing.PriceTable({"as_of": "x", "models": {"m": {"input": -1}}})


# --------------------------------------------------------------------------- importers


def turn_rows(log: Path) -> list[tuple[ek.StoredEvent, str | None]]:
    """(TurnCompleted, the model its TurnStarted names) for every completed turn."""
    with ek.EventStore.open(log) as store:
        models = {s.event.id: s.event.model for s in store.replay_all(types=["TurnStarted"])}
        return [(s, models[s.event.id]) for s in store.replay_all(types=["TurnCompleted"])]


def call_rows(log: Path) -> list[ek.StoredEvent]:
    """Every ModelCallCompleted: where an importer that records calls puts costs."""
    with ek.EventStore.open(log) as store:
        return list(store.replay_all(types=["ModelCallCompleted"]))


def priced_rows(log: Path) -> list[tuple[str, float | None]]:
    """(event id, cost) of every event carrying a cost: model calls and turns."""
    with ek.EventStore.open(log) as store:
        kinds = ["ModelCallCompleted", "TurnCompleted"]
        return [(s.event_id, s.event.cost_usd) for s in store.replay_all(types=kinds)]


def test_imported_model_calls_carry_the_estimate_of_their_usage(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    report = import_claude_code(CLAUDE, log, progress=False)

    rows = call_rows(log)
    assert rows and report.cost_sources == {"estimated": len(rows)}
    assert report.unpriced_models == {} and report.prices_as_of == pricing.PRICES_AS_OF
    priced = 0
    for stored in rows:
        call = stored.event
        assert call.cost_source == "estimated"
        cost_meta = stored.metadata["cost"]
        assert cost_meta["prices_as_of"] == pricing.PRICES_AS_OF
        priced += call.usage.total_tokens > 0
        table_id = cost_meta["priced_as"]
        assert pricing.PRICES.resolve(call.model) == table_id
        one_hour = cost_meta.get("cache_write_1h_tokens", 0)
        assert call.cost_usd == pytest.approx(expected_cost(table_id, call.usage, one_hour))
        assert call.cost_usd == pytest.approx(
            pricing.estimate_cost(call.model, call.usage, cache_write_1h_tokens=one_hour)
        )
    assert priced >= 4
    expected = f"model call costs: {len(rows)} estimated (prices as of {pricing.PRICES_AS_OF})"
    assert expected in str(report)
    # Turns of a writer that records calls carry no cost of their own.
    assert {s.event.cost_usd for s, _ in turn_rows(log)} == {None}


def test_imported_codex_calls_carry_the_estimate_of_their_usage(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    report = import_codex(CODEX, log, progress=False)

    calls = call_rows(log)
    assert calls and report.cost_sources == {"estimated": len(calls)}
    assert report.unpriced_models == {} and report.prices_as_of == pricing.PRICES_AS_OF
    for stored in calls:
        call = stored.event
        assert call.cost_source == "estimated" and call.usage.total_tokens > 0
        cost_meta = stored.metadata["cost"]
        assert cost_meta["prices_as_of"] == pricing.PRICES_AS_OF
        assert pricing.PRICES.resolve(call.model) == cost_meta["priced_as"]
        assert call.cost_usd == pytest.approx(expected_cost(cost_meta["priced_as"], call.usage, 0))
    for stored, _ in turn_rows(log):  # turns carry no usage of their own: their calls do
        assert stored.event.usage.total_tokens == 0 and stored.event.cost_usd is None


def test_claude_code_one_hour_cache_writes_are_counted_from_the_log(tmp_path: Path) -> None:
    spotter = CLAUDE[0] / "spotter__subagent.jsonl"
    log = tmp_path / "log.db"
    import_claude_code(spotter, log, progress=False)
    one_hour: dict[str, int] = {}
    for line in spotter.read_text().splitlines():
        record = json.loads(line)
        message = record.get("message") or {}
        if record.get("type") == "assistant" and not record.get("isSidechain"):
            creation = (message.get("usage") or {}).get("cache_creation") or {}
            value = creation.get("ephemeral_1h_input_tokens", 0)
            one_hour[message["id"]] = value  # the response's last line
    session = json.loads(spotter.read_text().splitlines()[1])["sessionId"]
    in_session = [s for s in call_rows(log) if s.event.thread_id == session]
    recorded = sum(s.metadata["cost"].get("cache_write_1h_tokens", 0) for s in in_session)
    assert recorded == sum(one_hour.values()) > 0


def test_reimport_writes_nothing_and_keeps_costs(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    import_claude_code(CLAUDE, log, progress=False)
    import_codex(CODEX, log, progress=False)
    before = priced_rows(log)

    again = [import_claude_code(CLAUDE, log, progress=False), import_codex(CODEX, log)]
    assert [r.events_written for r in again] == [0, 0]
    assert priced_rows(log) == before

    # A fresh log gets the same ids and the same costs: the estimate is deterministic.
    fresh = tmp_path / "fresh.db"
    import_claude_code(CLAUDE, fresh, progress=False)
    import_codex(CODEX, fresh, progress=False)
    assert priced_rows(fresh) == before


def test_a_newer_price_table_does_not_conflict_with_stored_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log.db"
    import_claude_code(CLAUDE, log, progress=False)
    import_codex(CODEX, log, progress=False)
    before = priced_rows(log)

    doubled = json.loads(json.dumps(TABLE))
    for entry in doubled["models"].values():
        for field in (*pricing.RATE_FIELDS, "cache_write_1h"):
            if field in entry:
                entry[field] *= 2
    monkeypatch.setattr(pricing, "PRICES", pricing.PriceTable(doubled))
    reports = [import_claude_code(CLAUDE, log, progress=False), import_codex(CODEX, log)]

    assert [r.events_written for r in reports] == [0, 0]
    assert not [w for r in reports for w in r.warnings if "differs" in w]
    assert priced_rows(log) == before


# --------------------------------------------------------------------------- unknown and recorded


def claude_session(path: Path, model: str, cost_usd: float | None = None) -> Path:
    def rec(kind: str, uuid: str, second: int, message: dict) -> dict:
        line = {"type": kind, "sessionId": "s-price", "cwd": "/w", "uuid": uuid}
        return {**line, "timestamp": f"2026-01-01T00:00:{second:02d}Z", "message": message}

    def reply(uuid: str, second: int, mid: str, text: str, stop: str | None) -> dict:
        usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 1000}
        message = {"id": mid, "model": model, "content": [{"type": "text", "text": text}]}
        line = rec("assistant", uuid, second, {**message, "stop_reason": stop, "usage": usage})
        if cost_usd is not None:
            line["costUSD"] = cost_usd
        return line

    lines = [
        rec("user", "u1", 1, {"role": "user", "content": "first"}),
        reply("a1", 2, "msg_1", "one", "end_turn"),
        rec("user", "u2", 3, {"role": "user", "content": "second"}),
        reply("a2", 4, "msg_2", "two", None),
        reply("a3", 5, "msg_2", "two, more", "end_turn"),  # same response: cost once
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_unknown_claude_model_leaves_cost_empty_and_is_reported(tmp_path: Path) -> None:
    path = claude_session(tmp_path / "s.jsonl", "claude-imaginary-9")
    report = import_claude_code(path, tmp_path / "log.db", progress=False)

    calls = call_rows(tmp_path / "log.db")
    assert len(calls) == 2
    for stored in calls:
        assert stored.event.cost_usd is None and stored.event.cost_source is None
        assert stored.metadata["cost"] == {"unpriced_model": "claude-imaginary-9"}
    assert report.unpriced_models == {"claude-imaginary-9": 2}
    assert report.cost_sources == {}
    line = "no price for model claude-imaginary-9 (2 model call(s)): cost left empty"
    assert f"warning: {line}" in str(report)
    assert report.as_dict()["unpriced_models"] == {"claude-imaginary-9": 2}
    assert line in report.as_dict()["warnings"]


def test_unknown_codex_model_leaves_cost_empty_and_is_reported(tmp_path: Path) -> None:
    source = CODEX[1] / "rollout-2025-10-01T09-00-00-0199aaaa-0000-7000-8000-000000000001.jsonl"
    copy = tmp_path / source.name
    copy.write_text(source.read_text().replace('"gpt-5-codex"', '"gpt-imaginary-1"'))
    report = import_codex(copy, tmp_path / "log.db", progress=False)

    calls = [s.event for s in call_rows(tmp_path / "log.db")]
    assert calls and {(c.cost_usd, c.cost_source) for c in calls} == {(None, None)}
    assert report.unpriced_models == {"gpt-imaginary-1": len(calls)}
    warning = f"no price for model gpt-imaginary-1 ({len(calls)} model call(s)): cost left empty"
    assert warning in str(report)


def test_recorded_cost_wins(tmp_path: Path) -> None:
    path = claude_session(tmp_path / "s.jsonl", "claude-sonnet-4-5", cost_usd=0.25)
    report = import_claude_code(path, tmp_path / "log.db", progress=False)

    calls = [s.event for s in call_rows(tmp_path / "log.db")]
    # One call per response (the second's two lines share msg_2): 0.25 each, not 0.5.
    assert [(c.cost_usd, c.cost_source) for c in calls] == [(0.25, "recorded")] * 2
    assert report.cost_sources == {"recorded": 2} and report.prices_as_of is None
    assert re.search(r"model call costs: 2 recorded$", str(report), re.M)
