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


def _raw_insert(path, *, sequence, event_type, stream_id, version, payload, schema_version=1):
    # A row past the store's checks (the log's triggers refuse updates, not inserts).
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO events (sequence, event_id, event_type, stream_id, stream_version,"
            " occurred_at, recorded_at, schema_version, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sequence,
                f"raw-{sequence}",
                event_type,
                stream_id,
                version,
                "2025-01-06T10:00:00.000000Z",
                "2025-01-06T10:00:00.000000Z",
                schema_version,
                json.dumps(payload),
            ),
        )


def test_clean_log_has_no_findings(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    assert ek.audit(log_path) == []


def test_generated_log_passes(small_log):
    assert violations(ek.audit(small_log)) == []


def _approval(call_id: str, seconds: float) -> ek.ApprovalResolved:
    return ek.ApprovalResolved(
        id=f"a-{call_id}",
        thread_id="t",
        turn_id="u1",
        tool_call_id=call_id,
        decision="accepted",
        requested_at=at(seconds - 1),
        at=at(seconds),
    )


def _call(
    call_id: str,
    *,
    seconds: float,
    thread: str = "t",
    turn: str | None = "u1",
    revision: int = 1,
    tokens: int = 5,
) -> ek.ModelCallCompleted:
    return ek.ModelCallCompleted(
        id=call_id,
        thread_id=thread,
        turn_id=turn,
        usage=ek.TokenUsage(input_tokens=tokens),
        revision=revision,
        at=at(seconds),
    )


# One seeded violation per case: case -> (check, events appended after the base (which
# ends at sequence 8), the offending sequences, the entity the finding names).
SEEDED = {
    "turns_ended": (
        "turns_ended",
        [
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            ek.TurnStarted(id="u3", thread_id="t", at=at(11)),
            ek.TurnCompleted(id="u3", thread_id="t", outcome="success", at=at(12)),
        ],
        [9],
        "u2",
    ),
    "completions_match_starts": (
        "completions_match_starts",
        [ek.TurnCompleted(id="ghost", thread_id="t", outcome="success", at=at(10))],
        [9],
        "ghost",
    ),
    "tool_calls_completed": (
        "tool_calls_completed",
        [
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            ek.ToolCallStarted(
                id="c2", thread_id="t", turn_id="u2", tool="Bash", input={}, at=at(11)
            ),
            ek.TurnCompleted(id="u2", thread_id="t", outcome="success", at=at(12)),
        ],
        [10],
        "c2",
    ),
    "deltas_for_known_messages": (
        "deltas_for_known_messages",
        [
            ek.MessageDelta(id="m9", thread_id="t", delta="early", at=at(10)),
            ek.MessageAdded(id="m9", thread_id="t", role="assistant", text="x", at=at(11)),
        ],
        [9],
        "m9",
    ),
    "single_creation": (
        "single_creation",
        [ek.MessageAdded(id="m1", thread_id="t", role="assistant", text="again", at=at(10))],
        [4, 9],
        "m1",
    ),
    "threads_exist": (
        "threads_exist",
        [ek.TurnStarted(id="u9", thread_id="nowhere", at=at(10))],
        [9],
        "nowhere",
    ),
    "thread_renamed_unknown": (
        "threads_exist",
        [ek.ThreadRenamed(id="nowhere", title="x", at=at(10))],
        [9],
        "nowhere",
    ),
    "thread_archived_unknown": (
        "threads_exist",
        [ek.ThreadArchived(id="nowhere", at=at(10))],
        [9],
        "nowhere",
    ),
    "thread_deleted_before_creation": (
        "threads_exist",
        [
            ek.ThreadDeleted(id="t2", at=at(10)),
            ek.ThreadCreated(
                id="t2", project_id="p", title="t2", provider="codex", model="m", at=at(11)
            ),
        ],
        [9],
        "t2",
    ),
    "project_renamed_unknown": (
        "projects_exist",
        [ek.ProjectRenamed(id="ghost", name="x", at=at(10))],
        [9],
        "ghost",
    ),
    "project_deleted_before_creation": (
        "projects_exist",
        [
            ek.ProjectDeleted(id="p2", at=at(10)),
            ek.ProjectCreated(id="p2", name="p2", path="/p2", at=at(11)),
        ],
        [9],
        "p2",
    ),
    "approval_unknown_call": (
        "approvals_for_known_calls",
        [_approval("ghost", 10)],
        [9],
        "ghost",
    ),
    "approval_before_its_call": (
        "approvals_for_known_calls",
        [  # the call runs in an open turn: notes, not violations
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            _approval("c9", 11),
            ek.ToolCallStarted(
                id="c9", thread_id="t", turn_id="u2", tool="Bash", input={}, at=at(12)
            ),
        ],
        [10],
        "c9",
    ),
    "restore_unknown_checkpoint": (
        "restores_of_known_checkpoints",
        [ek.CheckpointRestored(id="ghost", thread_id="t", at=at(10))],
        [9],
        "ghost",
    ),
    "restore_before_creation": (
        "restores_of_known_checkpoints",
        [
            ek.CheckpointRestored(id="k1", thread_id="t", at=at(10)),
            ek.CheckpointCreated(
                id="k1",
                thread_id="t",
                git_ref="abc",
                message="m",
                files_changed=1,
                additions=1,
                deletions=0,
                at=at(11),
            ),
        ],
        [9],
        "k1",
    ),
    "no_events_after_deletion": (
        "no_events_after_deletion",
        [
            ek.ThreadDeleted(id="t", at=at(10)),
            ek.ThreadRenamed(id="t", title="zombie", at=at(11)),
        ],
        [10],
        "t",
    ),
    "model_call_of_an_unknown_thread": (
        "model_calls_in_known_threads",
        [_call("mc9", thread="nowhere", turn=None, seconds=10)],
        [9],
        "mc9",
    ),
    "model_call_before_its_thread": (
        "model_calls_in_known_threads",
        [
            _call("mc8", thread="t8", turn=None, seconds=10),
            ek.ThreadCreated(
                id="t8", project_id="p", title="t8", provider="codex", model="m", at=at(11)
            ),
            _call("mc8", thread="t8", turn=None, seconds=12),  # this one creates it
        ],
        [9],
        "mc8",
    ),
    "restatement_names_another_turn": (
        "restatements_keep_their_call",
        [
            _call("mc1", seconds=10),
            _call("mc1", turn="u7", revision=2, seconds=11),
            _call("mc1", thread="t", revision=3, seconds=12),  # the same thread and turn
        ],
        [10],
        "mc1",
    ),
    "model_call_of_a_turn_never_started": (
        "model_calls_for_started_turns",
        [_call("mc2", turn="u9", seconds=10)],
        [9],
        "mc2",
    ),
    "completed_usage_differs_from_the_calls": (
        "turn_usage_matches_calls",
        [
            ek.TurnStarted(id="u2", thread_id="t", at=at(10)),
            _call("mc3", turn="u2", seconds=11, tokens=10),
            ek.TurnCompleted(
                id="u2",
                thread_id="t",
                outcome="success",
                usage=ek.TokenUsage(input_tokens=99, output_tokens=1),
                at=at(12),
            ),
            ek.TurnStarted(id="u3", thread_id="t", at=at(13)),
            _call("mc4", turn="u3", seconds=14, tokens=10),
            ek.TurnCompleted(  # the same figures as its call: no finding
                id="u3",
                thread_id="t",
                outcome="success",
                usage=ek.TokenUsage(input_tokens=10),
                at=at(15),
            ),
        ],
        [11],
        "u2",
    ),
    "project_renamed_after_deletion": (
        "no_events_after_deletion",
        [
            ek.ProjectDeleted(id="p", at=at(10)),
            ek.ProjectRenamed(id="p", name="zombie", at=at(11)),
        ],
        [10],
        "p",
    ),
}


def test_every_check_has_a_seeded_violation():
    seeded = {check for check, *_ in SEEDED.values()}
    notes = {"known_event_types", "stale_restatements"}
    assert seeded | notes | {"sequence_increasing", "projections_agree"} == set(available_checks())


@pytest.mark.parametrize("case", sorted(SEEDED))
def test_each_check_fires_and_names_events(case, log_path, capsys):
    check, extra, offending, entity = SEEDED[case]
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all(extra)
    findings = violations(ek.audit(log_path))
    assert {f.check for f in findings} == {check}, [str(f) for f in findings]
    assert sorted({s for f in findings for s in f.sequences}) == offending
    assert {f.entity_id for f in findings} == {entity}
    assert all(entity in f.message for f in findings)
    assert cli.main(["audit", str(log_path)]) == 1
    out = capsys.readouterr().out
    assert f"[error] {check}:" in out
    assert out.splitlines()[-1].startswith(f"audit: {len(findings)} violation(s)")


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


def test_events_of_entities_the_replay_never_created_are_reported(log_path):
    """A thread created late: its earlier children are ignored, and so is all that names them."""
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all(
            [
                ek.MessageAdded(id="m5", thread_id="t2", role="user", text="early", at=at(10)),
                ek.ToolCallStarted(
                    id="c5", thread_id="t2", turn_id="u1", tool="Bash", input={}, at=at(11)
                ),
                ek.ThreadCreated(
                    id="t2", project_id="p", title="t2", provider="codex", model="m", at=at(12)
                ),
                ek.MessageDelta(id="m5", thread_id="t2", delta="!", at=at(13)),
                ek.ToolCallCompleted(
                    id="c5", thread_id="t2", turn_id="u1", status="ok", output="", at=at(14)
                ),
                ek.ApprovalResolved(
                    id="a5",
                    thread_id="t2",
                    turn_id="u1",
                    tool_call_id="c5",
                    decision="accepted",
                    requested_at=at(14),
                    at=at(15),
                ),
            ]
        )
    found = {(f.check, f.entity_id, f.sequences) for f in violations(ek.audit(log_path))}
    assert found == {
        ("threads_exist", "t2", (9, 10)),
        ("deltas_for_known_messages", "m5", (12,)),
        ("completions_match_starts", "c5", (13,)),
        ("approvals_for_known_calls", "c5", (14,)),
    }
    # what the audit reports is what the replay ignored
    assert "m5" not in set(ek.messages_df(log_path).message_id)
    assert "c5" not in set(ek.tool_calls_df(log_path).tool_call_id)


def test_sample_log_is_clean():
    """No violations. The only findings are notes on imported sessions whose last turn
    has no end marker (a real log that stops after an answer may still grow)."""
    from build_sample import SAMPLE_LOG

    findings = ek.audit(SAMPLE_LOG)
    assert {(f.check, f.severity) for f in findings} <= {("turns_ended", "info")}
    turns = ek.turns_df(SAMPLE_LOG)
    running = set(turns.loc[turns["status"] == "running", "turn_id"])
    assert {f.entity_id for f in findings} == running
    threads = ek.threads_df(SAMPLE_LOG).set_index("thread_id")
    of_running = turns.loc[turns["status"] == "running", "thread_id"]
    assert set(threads.loc[of_running, "provider"]) <= {"claude-code", "codex", "gemini", "copilot"}


def _seeded_log(path) -> None:
    """A log with a violation of several checks and a note."""
    with ek.EventStore.open(path) as store:
        _base(store)
        store.append_all(
            [
                ek.ProjectRenamed(id="ghost", name="x", at=at(10)),
                _approval("nobody", 11),
                ek.CheckpointRestored(id="nothing", thread_id="t", at=at(12)),
                ek.MessageDelta(id="m9", thread_id="t", delta="early", at=at(13)),
                ek.TurnStarted(id="u2", thread_id="t", at=at(14)),
            ]
        )


def test_a_dataset_is_audited_like_its_log(log_path, tmp_path):
    _seeded_log(log_path)
    dataset = tmp_path / "dataset"
    ek.export_parquet(log_path, dataset, progress=False)
    on_log = ek.audit(log_path)
    on_dataset = ek.audit(dataset)
    skipped = [f for f in on_dataset if f.check == "projections_agree"]
    assert [(f.severity, "skipped" in f.message) for f in skipped] == [("info", True)]
    assert [f for f in on_dataset if f not in skipped] == on_log
    assert len(violations(on_log)) == 4 and len(on_log) == 5  # and the open turn's note
    assert cli.main(["audit", str(dataset)]) == 1


def test_a_dataset_of_several_logs_is_judged_log_by_log(log_path, tmp_path, small_log):
    # each log's sequences and stream versions start at 1: no jumps, no version clashes
    with ek.EventStore.open(log_path) as store:
        _base(store)
    dataset = tmp_path / "dataset"
    ek.export_parquet([log_path, small_log], dataset, progress=False)
    assert violations(ek.audit(dataset)) == violations(ek.audit(small_log)) == []


def test_stats_of_a_dataset_equal_its_logs(log_path, tmp_path, capsys):
    from eventkit.read.stats import stats

    _seeded_log(log_path)
    dataset = tmp_path / "dataset"
    ek.export_parquet(log_path, dataset, progress=False)
    on_log, on_dataset = stats(log_path), stats(dataset)
    assert on_dataset.pop("source_logs") == [on_log["log_id"]]
    assert on_dataset.pop("log") == str(dataset)
    on_log.pop("log")
    assert on_dataset == on_log
    assert on_log["events"] == 13 and on_log["first_occurred_at"].endswith(".000000Z")
    assert cli.main(["stats", str(dataset), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["events_by_type"]
    assert {row["event_type"]: row["events"] for row in rows} == on_log["events_by_type"]


def test_an_unknown_schema_version_is_a_clear_error(log_path, capsys):
    with ek.EventStore.open(log_path) as store:
        _base(store)
    payload = {"type": "ThreadArchived", "id": "t", "at": "2025-01-06T10:00:00Z"}
    _raw_insert(
        log_path,
        sequence=9,
        event_type="ThreadArchived",
        stream_id="thread:t",
        version=8,
        payload=payload,
        schema_version=99,
    )
    for checks in (None, ["sequence_increasing"], ["projections_agree"]):
        with pytest.raises(ek.UnsupportedSchemaError) as caught:
            ek.audit(log_path, checks=checks)
        message = str(caught.value)
        assert "\n" not in message
        assert "event 9 (ThreadArchived) has schema_version 99" in message, message
    code = cli.main(["audit", str(log_path)])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert code == 2 and err.startswith("eventkit: error: ") and "schema_version 99" in err
    assert err.count("\n") == 1 and err.count("upgrade eventkit") == 1, err
    assert "Traceback" not in err and "duckdb" not in err.lower()


def test_a_log_written_before_migration_002_is_audited_without_its_projections(tmp_path):
    from oldlog import v1_events, write_v1_log
    from randomlog import random_events

    path = write_v1_log(tmp_path / "old.db", v1_events(random_events(2, anomalies=False)))
    findings = ek.audit(path)
    (skipped,) = [f for f in findings if f.check == "projections_agree"]
    assert skipped.severity == "info" and "002_model_calls" in skipped.message
    assert "eventkit project" in skipped.message
    with ek.EventStore.open(path):  # a writer migrates it and rebuilds its projections
        pass
    assert [f for f in ek.audit(path) if f.check == "projections_agree"] == []


def test_a_stale_restatement_is_a_note(log_path):
    with ek.EventStore.open(log_path) as store:
        _base(store)
        store.append_all(
            [
                _call("mc1", seconds=10, revision=2),
                _call("mc1", seconds=11, revision=1),  # an older copy: ignored
                _call("mc1", seconds=12, revision=2),  # the same revision: holds
            ]
        )
    findings = ek.audit(log_path)
    assert [(f.check, f.severity, f.entity_id, f.sequences) for f in findings] == [
        ("stale_restatements", "info", "mc1", (10,))
    ]
