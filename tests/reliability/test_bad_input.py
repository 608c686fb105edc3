"""Bad input, property-based: a clear error naming where and what, and nothing written.

Every catalog payload is broken one way at a time — a field missing, of the wrong
type, out of range (negative counts and costs, NaN, counts past 64 bits), a naive
or impossible timestamp, a lone surrogate, an unknown event type, a field the
catalog does not have, JSON nested too deeply — and sent through the store (as a
dict in a batch), through :func:`eventkit.log.jsonl.read_event_lines` and through
``eventkit append``. Each must raise :class:`EventValidationError` naming the batch
index (or the line) and the field, write nothing, and consume no sequence number:
the next good append gets the last sequence + 1. Fixed-size cases (a payload over
16 MiB, 10,000 levels of nesting, bytes that are not UTF-8) are plain tests.

Set ``CI`` to derandomize hypothesis (the same examples on every run).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

import eventkit as ek
from eventkit import cli
from eventkit.catalog.events import EVENT_CLASSES, EVENT_TYPES, MAX_PAYLOAD_BYTES, TokenUsage
from eventkit.errors import EventValidationError, PayloadTooLargeError
from eventkit.log.jsonl import read_event_lines
from eventkit.log.store import EventStore, NewEvent

settings.register_profile(
    "eventkit-reliability",
    max_examples=100,
    deadline=None,
    database=None,  # failures print their example; no .hypothesis folder in the repo
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "eventkit-reliability-ci", settings.get_profile("eventkit-reliability"), derandomize=True
)
PROFILE = settings.get_profile(
    "eventkit-reliability-ci" if os.environ.get("CI") else "eventkit-reliability"
)
CLI_PROFILE = settings(PROFILE, max_examples=40)

AT = "2025-01-06T09:00:00.000000Z"
VALID: dict[str, dict[str, Any]] = {
    "ProjectCreated": {"id": "p1", "name": "demo", "path": "/src/demo"},
    "ProjectRenamed": {"id": "p1", "name": "demo-2"},
    "ProjectDeleted": {"id": "p1"},
    "ThreadCreated": {
        "id": "t1",
        "project_id": "p1",
        "title": "Fix it",
        "provider": "claude",
        "model": "m-1",
        "parent_thread_id": "t0",
        "parent_tool_call_id": "c0",
    },
    "ThreadRenamed": {"id": "t1", "title": "Fixed"},
    "ThreadArchived": {"id": "t1"},
    "ThreadDeleted": {"id": "t1"},
    "TurnStarted": {"id": "u1", "thread_id": "t1", "model": "m-1"},
    "TurnCompleted": {
        "id": "u1",
        "thread_id": "t1",
        "outcome": "error",
        "error": "boom",
        "usage": {"input_tokens": 10, "output_tokens": 5, "reasoning_tokens": 2},
        "cost_usd": 0.25,
        "cost_source": "recorded",
    },
    "MessageAdded": {
        "id": "m1",
        "thread_id": "t1",
        "turn_id": "u1",
        "role": "user",
        "text": "hello",
    },
    "MessageDelta": {"id": "m1", "thread_id": "t1", "turn_id": "u1", "delta": " world"},
    "ToolCallStarted": {
        "id": "c1",
        "thread_id": "t1",
        "turn_id": "u1",
        "tool": "Bash",
        "input": {"command": "ls", "args": [1, 2.5, None, True, {"deep": "x"}]},
    },
    "ToolCallCompleted": {
        "id": "c1",
        "thread_id": "t1",
        "turn_id": "u1",
        "status": "ok",
        "output": "a\nb",
    },
    "ApprovalResolved": {
        "id": "a1",
        "thread_id": "t1",
        "turn_id": "u1",
        "tool_call_id": "c1",
        "decision": "accepted",
        "requested_at": "2025-01-06T08:59:59.500000Z",
    },
    "CheckpointCreated": {
        "id": "k1",
        "thread_id": "t1",
        "turn_id": "u1",
        "git_ref": "abc123",
        "message": "wip",
        "files_changed": 2,
        "additions": 10,
        "deletions": 3,
    },
    "CheckpointRestored": {"id": "k1", "thread_id": "t1"},
    "SettingChanged": {"key": "theme", "value": {"dark": True, "size": [1, 2]}},
    "ModelCallCompleted": {
        "id": "r1",
        "thread_id": "t1",
        "turn_id": "u1",
        "model": "m-1",
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 7},
        "cost_usd": 0.01,
        "cost_source": "estimated",
        "requested_at": "2025-01-06T08:59:58.000000Z",
        "stop_reason": "end_turn",
        "revision": 2,
    },
}
VALID = {name: {"type": name, "at": AT, **fields} for name, fields in VALID.items()}
assert VALID.keys() == EVENT_TYPES.keys()


def test_the_valid_payloads_are_valid(tmp_path):
    with EventStore.open(tmp_path / "events.db") as store:
        stored = store.append_all(list(VALID.values()))
    assert [s.event_type for s in stored] == list(VALID)


# --------------------------------------------------------------------------- strategies


def field_kinds(model: type) -> dict[str, tuple[str, bool, tuple]]:
    """``field -> (kind, optional, literal values)`` from the model's annotations."""
    hints = typing.get_type_hints(model, include_extras=True)
    kinds = {}
    for name in model.model_fields:
        hint, optional = hints[name], False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            hint, optional = args[0], True
        meta: tuple = ()
        while typing.get_origin(hint) is typing.Annotated:
            hint, *more = typing.get_args(hint)
            meta += tuple(more)
        if hint is str:
            kind = "id" if any(getattr(m, "min_length", None) for m in meta) else "text"
        elif typing.get_origin(hint) is typing.Literal:
            kind = "choice"
        elif typing.get_origin(hint) is dict:
            kind = "object"
        else:
            kind = {
                int: "count",
                float: "cost",
                datetime: "time",
                TokenUsage: "usage",
                JsonValue: "json",
            }[hint]
        kinds[name] = (kind, optional, typing.get_args(hint) if kind == "choice" else ())
    return kinds


KINDS = {cls.event_type(): field_kinds(cls) for cls in EVENT_CLASSES}
JSON_SCALARS = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans()
)
NOT_STR = st.one_of(
    JSON_SCALARS,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
LONE_SURROGATE = st.builds(
    lambda head, code, tail: head + chr(code) + tail,
    st.text(max_size=5),
    st.integers(0xD800, 0xDFFF),
    st.text(max_size=5),
)
NOT_A_NUMBER = st.one_of(
    st.sampled_from(["", "many", "1,5", "NaN-ish"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
BAD_COUNT = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats().filter(lambda f: not f.is_integer()),  # fractions, NaN, infinities
    NOT_A_NUMBER,
    st.none(),
)
BAD_COST = st.one_of(
    st.floats(max_value=-1e-300),
    st.sampled_from([math.nan, math.inf]),
    NOT_A_NUMBER,
)
BAD_TIME_TEXT = st.one_of(
    st.datetimes().map(datetime.isoformat),  # naive
    st.dates().map(str),  # a date is a naive midnight
    st.sampled_from(
        [
            "yesterday",
            "",
            "2025-13-01T00:00:00Z",
            "2025-01-01T00:00:00+25:00",
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        ]
    ),
    st.lists(st.integers(), max_size=2),
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_JSON_VALUE = st.one_of(
    NON_FINITE,
    NON_FINITE.map(lambda f: {"x": [1, f]}),
    LONE_SURROGATE.map(lambda key: {key: 1}),
    LONE_SURROGATE.map(lambda text: ["ok", text]),
    st.integers(210, 1500).map(nested),
)
NOT_JSON = st.sampled_from([b"bytes", {1, 2}, 1 + 2j, object()])


def bad_value(kind: str, optional: bool, choices: tuple, json_only: bool) -> st.SearchStrategy:
    """Values a field of ``kind`` must refuse (JSON-representable when ``json_only``)."""
    missing = st.nothing() if optional else st.none()
    if kind == "id":
        return st.one_of(st.just(""), NOT_STR, LONE_SURROGATE, missing)
    if kind == "text":
        return st.one_of(NOT_STR, LONE_SURROGATE, missing)
    if kind == "choice":
        return st.one_of(st.text().filter(lambda s: s not in choices), NOT_STR, missing)
    if kind == "count":
        return BAD_COUNT
    if kind == "cost":
        return BAD_COST
    if kind == "time":
        naive = st.nothing() if json_only else st.datetimes()
        return st.one_of(BAD_TIME_TEXT, naive, missing)
    if kind == "usage":
        subfield = st.sampled_from(list(TokenUsage.model_fields))
        return st.one_of(
            st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=2)),
            st.builds(lambda name, value: {name: value}, subfield, BAD_COUNT),
            st.just({"total_tokens": 3}),
        )
    if kind == "object":
        return st.one_of(
            st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=2)),
            BAD_JSON_VALUE.map(lambda value: {"arg": value}),
            LONE_SURROGATE.map(lambda key: {key: "x"}),
            missing,
        )
    if kind == "json":
        return st.one_of(BAD_JSON_VALUE, st.nothing() if json_only else NOT_JSON)
    raise AssertionError(kind)


@st.composite
def broken_payloads(draw, json_only: bool = False) -> tuple[dict[str, Any], str]:
    """A catalog payload broken one way, and the field the error must name."""
    event_type = draw(st.sampled_from(list(VALID)))
    payload = dict(VALID[event_type])
    kinds = KINDS[event_type]
    how = draw(st.sampled_from(["missing", "wrong", "wrong", "wrong", "extra", "type"]))
    if how == "missing":
        fields = EVENT_TYPES[event_type].model_fields
        field = draw(st.sampled_from([n for n, info in fields.items() if info.is_required()]))
        del payload[field]
    elif how == "wrong":
        field = draw(st.sampled_from([n for n in kinds if n != "type"]))
        payload[field] = draw(bad_value(*kinds[field], json_only=json_only))
    elif how == "extra":
        field = draw(st.sampled_from(["extra", "ID", "session", "tokens", "sequence"]))
        payload[field] = draw(JSON_SCALARS)
    else:
        field = "type"
        wrong = draw(st.one_of(st.text().filter(lambda s: s not in EVENT_TYPES), NOT_STR))
        payload["type"] = wrong
    return payload, field


def assert_names(error: EventValidationError, field: str) -> None:
    assert error.field is not None, f"no field named: {error}"
    assert error.field == field or error.field.startswith(field + "."), (error.field, field)
    assert repr(field) in str(error) or f"'{error.field}'" in str(error), str(error)
    assert len(str(error)) < 1_000, f"an error this long is not clear: {str(error)[:300]}…"


def to_jsonl(payload: dict[str, Any]) -> str:
    """A payload as one JSON line (non-finite floats as NaN/Infinity, surrogates escaped)."""
    return json.dumps(payload, default=str)


# --------------------------------------------------------------------------- the store


class Log:
    """A log and its state before a rejected append."""

    def __init__(self, path: Path):
        self.path = path
        self.store = EventStore.open(path)

    def snapshot(self) -> tuple:
        conn = self.store.conn
        return (
            self.store.last_sequence(),
            conn.execute("SELECT count(*) FROM events").fetchone()[0],
            conn.execute("SELECT * FROM projection_state").fetchall(),
            conn.execute("SELECT count(*) FROM projection_messages").fetchone()[0],
        )

    def assert_nothing_written(self, before: tuple) -> None:
        assert not self.store.conn.in_transaction
        assert self.snapshot() == before
        probe = self.store.append(VALID["SettingChanged"])
        assert probe.sequence == before[0] + 1, "a rejected append consumed a sequence number"


@pytest.fixture
def log(tmp_path: Path):
    opened = Log(tmp_path / "events.db")
    yield opened
    opened.store.close()


def test_store_refuses_broken_events_and_writes_nothing(log: Log):
    @PROFILE
    @given(
        broken=broken_payloads(),
        before=st.lists(st.sampled_from(list(VALID)), max_size=3),
        after=st.lists(st.sampled_from(list(VALID)), max_size=3),
    )
    def check(broken, before, after):
        payload, field = broken
        batch = [VALID[t] for t in before] + [payload] + [VALID[t] for t in after]
        state = log.snapshot()
        with pytest.raises(EventValidationError) as info:
            log.store.append_all(batch)
        assert info.value.index == len(before), str(info.value)
        assert f"event {len(before)}" in str(info.value)
        assert_names(info.value, field)
        log.assert_nothing_written(state)

    check()


def test_models_refuse_broken_payloads():
    @PROFILE
    @given(broken=broken_payloads())
    def check(broken):
        payload, field = broken
        try:
            event = ek.parse_event(payload)
        except ValueError as exc:  # pydantic's ValidationError
            assert field in str(exc)
            return
        # Only text the model holds but JSON cannot (a lone surrogate) gets this far;
        # the store refuses it.
        with pytest.raises(EventValidationError) as info:
            EventStore(ek.open_or_create_db(":memory:")).append(event)
        assert_names(info.value, field)

    check()


def test_envelope_fields_are_checked(log: Log):
    good = ek.ProjectCreated(id="p1", name="n", path="/", at=at(0))
    cases = [
        (NewEvent(good, event_id=""), "event_id"),
        (NewEvent(good, event_id=7), "event_id"),  # type: ignore[arg-type]
        (NewEvent(good, event_id="id-\udc80"), "event_id"),
        (NewEvent(good, metadata=[("a", 1)]), "metadata"),  # type: ignore[arg-type]
        (NewEvent(good, metadata={"x": math.nan}), "metadata"),
        (NewEvent(good, metadata={"x": "\ud800"}), "metadata"),
        (NewEvent(good, metadata=nested(10_000)), "metadata"),
        (NewEvent(good, expected_version=-1), "expected_version"),
        (NewEvent(good, expected_version="0"), "expected_version"),  # type: ignore[arg-type]
        (NewEvent(good, expected_version=True), "expected_version"),  # type: ignore[arg-type]
    ]
    for item, field in cases:
        state = log.snapshot()
        with pytest.raises(EventValidationError) as info:
            log.store.append_all([VALID["ProjectCreated"], item])
        assert info.value.index == 1, str(info.value)
        assert_names(info.value, field)
        log.assert_nothing_written(state)


def test_counts_past_64_bits_are_refused_before_projection(log: Log):
    # With the turn present the projection would store the count: SQLite holds 64 bits.
    log.store.append_all([VALID["ThreadCreated"], VALID["TurnStarted"]])
    for payload, field in [
        ({**VALID["TurnCompleted"], "usage": {"input_tokens": 2**63}}, "usage.input_tokens"),
        ({**VALID["CheckpointCreated"], "additions": 2**64}, "additions"),
    ]:
        state = log.snapshot()
        with pytest.raises(EventValidationError) as info:
            log.store.append_all([payload])
        assert_names(info.value, field)
        log.assert_nothing_written(state)
    assert log.store.append_all([{**VALID["TurnCompleted"], "usage": {"input_tokens": 2**63 - 1}}])


def test_ten_thousand_levels_of_nesting(log: Log):
    deep = {**VALID["ToolCallStarted"], "input": nested(10_000)}
    state = log.snapshot()
    with pytest.raises(EventValidationError) as info:
        log.store.append_all([VALID["ProjectCreated"], deep])
    assert info.value.index == 1
    assert_names(info.value, "input")
    log.assert_nothing_written(state)

    line = json.dumps({**VALID["ToolCallStarted"], "input": {"x": 0}})
    line = line.replace('"x": 0', '"x": ' + "[" * 10_000 + "]" * 10_000)
    with pytest.raises(EventValidationError) as info:
        read_event_lines([json.dumps(VALID["ProjectCreated"]), line], "deep.jsonl")
    assert info.value.line == 2 and "deep.jsonl:2:" in str(info.value)
    assert len(str(info.value)) < 1_000


def test_a_just_acceptable_depth_round_trips(log: Log):
    from eventkit.catalog.events import MAX_JSON_DEPTH

    # {"x": nested(n)} is n + 2 levels of objects
    payload = {**VALID["ToolCallStarted"], "input": {"x": nested(MAX_JSON_DEPTH - 2)}}
    stored = log.store.append(payload)
    (replayed,) = log.store.replay_from(stored.sequence)
    assert replayed.event == stored.event
    too_deep = {**VALID["ToolCallStarted"], "input": {"x": nested(MAX_JSON_DEPTH - 1)}}
    with pytest.raises(EventValidationError) as info:
        log.store.append(too_deep)
    assert_names(info.value, "input")
    assert f"deeper than {MAX_JSON_DEPTH} levels" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "x" * MAX_PAYLOAD_BYTES,  # one byte a character
        "€" * (MAX_PAYLOAD_BYTES // 3 + 1),  # three bytes a character
    ],
    ids=["ascii", "multibyte"],
)
def test_payloads_over_16_mib_are_refused(log: Log, tmp_path: Path, text: str):
    big = {**VALID["MessageAdded"], "text": text}
    state = log.snapshot()
    with pytest.raises(PayloadTooLargeError) as info:
        log.store.append_all([VALID["ProjectCreated"], big])
    assert info.value.index == 1 and "limit" in str(info.value)
    log.assert_nothing_written(state)

    lines = [json.dumps(VALID["ProjectCreated"]), json.dumps(big, ensure_ascii=False)]
    with pytest.raises(PayloadTooLargeError) as info:
        read_event_lines(lines, "big.jsonl")
    assert info.value.line == 2 and "big.jsonl:2:" in str(info.value)


def test_huge_text_under_the_limit_round_trips(log: Log):
    text = ("naïve 日本語 🚀 \x00 " * 400_000)[: MAX_PAYLOAD_BYTES // 4 - 1_000]
    stored = log.store.append({**VALID["MessageAdded"], "text": text})
    (replayed,) = log.store.replay_from(stored.sequence)
    assert replayed.event.text == text


# --------------------------------------------------------------------------- JSON Lines


GARBAGE_LINES = st.one_of(
    st.sampled_from(['{"type": "ProjectCreated"', "[1, 2]", "42", '"text"', "{,}", "nul"]),
    st.binary(min_size=1, max_size=20).filter(lambda b: not _is_utf8(b)),
    st.just(b'{"type": "MessageAdded", "text": "caf\xe9"}'),
)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_jsonl_names_the_line_and_field():
    @PROFILE
    @given(
        broken=broken_payloads(json_only=True),
        before=st.lists(st.sampled_from(list(VALID)), max_size=3),
        blanks=st.integers(0, 2),
    )
    def check(broken, before, blanks):
        payload, field = broken
        lines = [to_jsonl(VALID[t]) for t in before] + ["  "] * blanks + [to_jsonl(payload)]
        with pytest.raises(EventValidationError) as info:
            read_event_lines(lines + [to_jsonl(VALID["ProjectCreated"])], "in.jsonl")
        assert info.value.line == len(lines), str(info.value)
        assert f"in.jsonl:{len(lines)}:" in str(info.value)
        assert_names(info.value, field)

    check()


def test_jsonl_lists_every_problem_of_a_line():
    bad = {**VALID["ProjectCreated"], "id": "", "at": "2025-01-01T00:00:00"}
    with pytest.raises(EventValidationError) as info:
        read_event_lines([json.dumps(VALID["ProjectCreated"]), json.dumps(bad)], "in.jsonl")
    error = info.value
    assert sorted(field for field, _ in error.problems) == ["at", "id"]
    assert (error.line, error.field) == (2, error.problems[0][0])
    assert str(error).startswith("in.jsonl:2: 2 problems: field ")
    for field, problem in error.problems:
        assert f"field {field!r}: {problem}" in str(error)
    assert "\n" not in str(error)


def test_jsonl_refuses_lines_that_are_not_json_objects():
    @PROFILE
    @given(garbage=GARBAGE_LINES, before=st.integers(0, 3))
    def check(garbage, before):
        good = json.dumps(VALID["ProjectCreated"])
        lines = [good.encode()] * before + [garbage if isinstance(garbage, bytes) else garbage]
        with pytest.raises(EventValidationError) as info:
            read_event_lines(lines, "in.jsonl")
        assert info.value.line == before + 1
        assert f"in.jsonl:{before + 1}:" in str(info.value)

    check()


def test_jsonl_envelopes_are_checked():
    good = VALID["ProjectCreated"]
    cases = [
        ({"event": good, "event_id": 5}, "event_id"),
        ({"event": good, "event_id": ""}, "event_id"),
        ({"event": good, "metadata": [1, 2]}, "metadata"),
        ({"event": good, "metadata": {"x": math.nan}}, "metadata"),
        ({"event": good, "expected_version": "x"}, "expected_version"),
        ({"event": good, "expected_version": -2}, "expected_version"),
        ({"event": {**good, "at": "2025-01-01T00:00:00"}}, "at"),
    ]
    for envelope, field in cases:
        with pytest.raises(EventValidationError) as info:
            read_event_lines([json.dumps(good), json.dumps(envelope)], "env.jsonl")
        assert info.value.line == 2, str(info.value)
        assert_names(info.value, field)


# --------------------------------------------------------------------------- eventkit append


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_append_refuses_the_file_and_writes_nothing(log: Log, tmp_path: Path):
    @CLI_PROFILE
    @given(broken=broken_payloads(json_only=True), before=st.integers(0, 3))
    def check(broken, before):
        payload, field = broken
        lines = [to_jsonl(VALID["SettingChanged"])] * before + [to_jsonl(payload)]
        bad = tmp_path / "bad.jsonl"
        bad.write_text("\n".join(lines + [to_jsonl(VALID["ProjectCreated"])]) + "\n")
        state = log.snapshot()
        code, out, err = run_cli("append", str(log.path), str(bad))
        assert code == 2 and out == ""
        assert err.startswith(f"eventkit: error: {bad}:{before + 1}:"), err
        assert field in err and "nothing was written" in err
        assert log.snapshot() == state
        good = tmp_path / "good.jsonl"
        good.write_text(to_jsonl(VALID["SettingChanged"]) + "\n")
        code, out, _ = run_cli("append", str(log.path), str(good))
        assert (code, out) == (
            0,
            f"appended 1 event(s); sequences {state[0] + 1}..{state[0] + 1}\n",
        )

    check()


def eventkit_append(log: Path, data: bytes) -> subprocess.CompletedProcess:
    """The installed console script, reading the file from standard input."""
    script = Path(sys.executable).with_name("eventkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "eventkit.cli"]
    return subprocess.run(
        [*command, "append", str(log), "-"], input=data, capture_output=True, timeout=120
    )


@pytest.mark.parametrize(
    "line, expected",
    [
        (b'{"type": "MessageAdded", "text": "caf\xe9"}', b"not UTF-8"),
        ("[" * 10_000 + "]" * 10_000, b"<stdin>:2:"),
        (
            json.dumps({**VALID["ToolCallStarted"], "input": {"a": "x" * MAX_PAYLOAD_BYTES}}),
            b"limit",
        ),
        (json.dumps({**VALID["TurnCompleted"], "cost_usd": math.nan}), b"cost_usd"),
        (json.dumps({**VALID["MessageAdded"], "text": "\ud800"}), b"'text'"),
    ],
    ids=["not-utf8", "deep", "over-16-mib", "nan", "lone-surrogate"],
)
def test_console_script_append(tmp_path: Path, line: str | bytes, expected: bytes):
    log = tmp_path / "events.db"
    with EventStore.open(log) as store:
        store.append(VALID["ProjectCreated"])
    data = (json.dumps(VALID["SettingChanged"]) + "\n").encode()
    data += (line if isinstance(line, bytes) else line.encode()) + b"\n"
    result = eventkit_append(log, data)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(b"eventkit: error: <stdin>:2:"), result.stderr[:500]
    assert expected in result.stderr and b"Traceback" not in result.stderr
    assert len(result.stderr) < 1_000
    with EventStore.open(log) as store:
        assert store.last_sequence() == 1
