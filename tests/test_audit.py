"""Audit checks: each fires on a seeded violation and names the events; clean logs pass."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest
from conftest import at

import eventkit as ek
from eventkit import cli
from eventkit.apps.audit import available_checks, violations


def _base(store: ek.EventStore) -> None:
    store.append_all(
        [
            ek.ProjectCreated(id="p", name="p", path="/p", at=at(0)),
            ek.ThreadCreated(
                id="t", project_id="p", title="t", provider="codex", model="m", at=at(1)
            ),
            ek.TurnStarted(id="u1", thread_id="t", at=at(2)),
            ek.MessageAdded(id="m1", thread_id="t", turn_id="u1", role="user", text="hi", at=at(2)),
            ek.MessageDelta(id="m1", thread_id="t", turn_id="u1", delta="!", at=at(3)),
            ek.ToolCallStarted(
                id="c1", thread_id="t", turn_id="u1", tool="shell", input={}, at=at(3)
            ),
            ek.ToolCallCompleted(
                id="c1", thread_id="t", turn_id="u1", status="ok", output="", at=at(4)
            ),
            ek.TurnCompleted(id="u1", thread_id="t", outcome="success", at=at(5)),
        ]
    )


def _raw_insert(path, *, sequence, event_type, stream_id, version, payload):
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO events (sequence, event_id, event_type, stream_id, stream_version,"
            " occurred_at, recorded_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sequence,
                f"raw-{sequence}",
                event_type,
                stream_id,
                version,
                "2025-01-06T10:00:00.000000Z",
                "2025-01-06T10:00:00.000000Z",
                json.dumps(payload),
            ),
        )


def test_clean_log_has_no_findings(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    assert ek.audit(log_path) == []


def test_generated_log_passes(small_log):
    assert violations(ek.audit(small_log)) == []


# one seeded violation per check: (check, events to append after the base, offending seqs)
SEEDED = {
    "turns_ended": (
        [
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            ek.TurnStarted(id="u3", thread_id="t", at=at(11)),
            ek.TurnCompleted(id="u3", thread_id="t", outcome="success", at=at(12)),
        ],
        [9],
    ),
    "completions_match_starts": (
        [ek.TurnCompleted(id="ghost", thread_id="t", outcome="success", at=at(10))],
        [9],
    ),
    "tool_calls_completed": (
        [
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            ek.ToolCallStarted(
                id="c2", thread_id="t", turn_id="u2", tool="Bash", input={}, at=at(11)
            ),
            ek.TurnCompleted(id="u2", thread_id="t", outcome="success", at=at(12)),
        ],
        [10],
    ),
    "deltas_for_known_messages": (
        [
            ek.MessageDelta(id="m9", thread_id="t", delta="early", at=at(10)),
            ek.MessageAdded(id="m9", thread_id="t", role="assistant", text="x", at=at(11)),
        ],
        [9],
    ),
    "single_creation": (
        [ek.MessageAdded(id="m1", thread_id="t", role="assistant", text="again", at=at(10))],
        [4, 9],
    ),
    "threads_exist": (
        [ek.TurnStarted(id="u9", thread_id="nowhere", at=at(10))],
        [9],
    ),
    "no_events_after_deletion": (
        [
            ek.ThreadDeleted(id="t", at=at(10)),
            ek.ThreadRenamed(id="t", title="zombie", at=at(11)),
        ],
        [10],
    ),
}


@pytest.mark.parametrize("check", sorted(SEEDED))
def test_each_check_fires_and_names_events(check, log_path, capsys):
    extra, offending = SEEDED[check]
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all(extra)
    findings = violations(ek.audit(log_path))
    assert {f.check for f in findings} == {check}, [str(f) for f in findings]
    assert sorted({s for f in findings for s in f.sequences}) == offending
    assert all(f.message for f in findings)
    assert cli.main(["audit", str(log_path)]) == 1
    out = capsys.readouterr().out
    assert f"[error] {check}:" in out
    assert out.rstrip().endswith(f"audit: {len(findings)} violation(s)")


def test_sequence_gap_and_stream_version_fire(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    payload = {"type": "SettingChanged", "key": "k", "value": 1, "at": "2025-01-06T10:00:00Z"}
    _raw_insert(
        log_path,
        sequence=11,
        event_type="SettingChanged",
        stream_id="settings",
        version=3,
        payload=payload,
    )
    findings = [f for f in ek.audit(log_path) if f.check == "sequence_increasing"]
    messages = " | ".join(f.message for f in findings)
    assert "jumps from 8 to 11" in messages
    assert "stream settings versions" in messages
    assert all(f.severity == "error" for f in findings)


def test_projection_drift_fires(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    with closing(sqlite3.connect(log_path)) as conn, conn:
        conn.execute("UPDATE projection_turns SET output_tokens = 999 WHERE turn_id = 'u1'")
    findings = violations(ek.audit(log_path))
    assert [f.check for f in findings] == ["projections_agree"]
    assert "projection_turns" in findings[0].message and findings[0].entity_id == "u1"


def test_open_last_turn_is_a_note_not_a_violation(log_path, capsys):
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all(
            [
                ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
                ek.ToolCallStarted(
                    id="c2", thread_id="t", turn_id="u2", tool="Bash", input={}, at=at(11)
                ),
            ]
        )
    findings = ek.audit(log_path)
    assert violations(findings) == []
    assert {(f.check, f.severity) for f in findings} == {
        ("turns_ended", "info"),
        ("tool_calls_completed", "info"),
    }
    assert cli.main(["audit", str(log_path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("audit: no violations, 2 note(s)")


def test_unknown_types_are_noted(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    _raw_insert(
        log_path,
        sequence=9,
        event_type="FutureThing",
        stream_id="future",
        version=1,
        payload={"type": "FutureThing", "at": "2025-01-06T10:00:00Z"},
    )
    findings = ek.audit(log_path)
    assert [(f.check, f.severity, f.sequences) for f in findings] == [
        ("known_event_types", "info", (9,))
    ]


def test_audit_json_output_and_check_selection(log_path, capsys):
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all([ek.TurnCompleted(id="ghost", thread_id="t", outcome="success", at=at(9))])
    assert cli.main(["audit", str(log_path), "--json", "--check", "turns_ended"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["audit", str(log_path), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [(r["check"], r["sequences"]) for r in rows] == [("completions_match_starts", [9])]
    with pytest.raises(ValueError, match="unknown audit check"):
        ek.audit(log_path, checks=["nope"])
    assert "projections_agree" in available_checks()


def test_real_imports_only_have_notes(tmp_path):
    from conftest import FIXTURES

    log = tmp_path / "real.db"
    ek.import_claude_code([FIXTURES / "claude_code"], log, progress=False)
    ek.import_codex([FIXTURES / "codex"], log, progress=False)
    # a session still being written: its file ends while a tool call runs
    lines = (FIXTURES / "claude_code" / "agentcmd__full-session-four.jsonl").read_text()
    lines = lines.splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines) if '"tool_use"' in line)
    live = tmp_path / "live" / "00000000-0000-4000-8000-0000000000aa.jsonl"
    live.parent.mkdir()
    session = json.loads(lines[1])["sessionId"]
    live.write_text("".join(lines[: cut + 1]).replace(session, live.stem))
    ek.import_claude_code(live, log, progress=False)
    findings = ek.audit(log)
    assert violations(findings) == [], [str(f) for f in violations(findings)]
    open_turns = [f for f in findings if f.check == "turns_ended"]
    assert open_turns and all(f.severity == "info" for f in open_turns)
