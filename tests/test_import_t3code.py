"""t3code's state.sqlite, built to t3code's schema by tests/fixtures/t3code/build_state.py.

Expectations are computed from the built database's rows, not written down.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.catalog.events import parse_timestamp
from eventkit.errors import EventkitError, LogNotFoundError, SourceNotFoundError
from eventkit.importers.t3code import KNOWN_UNMAPPED, import_t3code

_BUILDER = Path(__file__).resolve().parent / "fixtures" / "t3code" / "build_state.py"
_spec = importlib.util.spec_from_file_location("t3code_build_state", _BUILDER)
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return build.build_state(tmp_path / "t3" / "userdata" / "state.sqlite")


@pytest.fixture
def store(tmp_path: Path):
    store = ek.EventStore.open(tmp_path / "log.db")
    yield store
    store.close()


@pytest.fixture
def imported(state: Path, store: ek.EventStore):
    return import_t3code(state, store, progress=False)


def rows(path: Path) -> list[dict]:
    """The source's events, read independently of the importer."""
    conn = sqlite3.connect(path.as_uri() + "?mode=ro&immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        out = []
        for row in conn.execute("SELECT * FROM orchestration_events ORDER BY sequence"):
            item = dict(row)
            try:
                item["payload"] = json.loads(item["payload_json"])
            except json.JSONDecodeError:
                item["payload"] = None
            out.append(item)
        return out
    finally:
        conn.close()


def of_type(store: ek.EventStore, event_type: str) -> list:
    return [s.event for s in store.replay_all(types=[event_type])]


def activities(source: list[dict], kind: str) -> list[dict]:
    return [
        r["payload"]["activity"]
        for r in source
        if r["event_type"] == "thread.activity-appended"
        and r["payload"]["activity"]["kind"] == kind
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- mapping


def test_every_mapped_type_is_imported(state, store, imported):
    source = rows(state)
    count = Counter(r["event_type"] for r in source)
    valid = [r for r in source if r["payload"] is not None]
    titled = Counter(r["event_type"] for r in valid if r["payload"].get("title"))
    got = Counter(s.event_type for s in store.replay_all())
    assert got["ProjectCreated"] == count["project.created"]
    assert got["ProjectRenamed"] == titled["project.meta-updated"]
    assert got["ProjectDeleted"] == count["project.deleted"]
    assert got["ThreadCreated"] == count["thread.created"] == imported.threads
    assert got["ThreadRenamed"] == titled["thread.meta-updated"]
    assert got["ThreadArchived"] == count["thread.archived"]
    assert got["ThreadDeleted"] == count["thread.deleted"]
    assert got["TurnStarted"] == count["thread.turn-start-requested"]
    assert got["ToolCallStarted"] == len(activities(source, "tool.started"))
    assert got["ToolCallCompleted"] == len(activities(source, "tool.completed"))
    requests = {a["payload"]["requestId"] for a in activities(source, "approval.requested")}
    assert got["ApprovalResolved"] == len(requests)
    assert got["CheckpointCreated"] == count["thread.turn-diff-completed"]
    assert got["CheckpointRestored"] == count["thread.reverted"]
    users = [r for r in source if r["event_type"] == "thread.message-sent"]
    assert got["MessageAdded"] == len({r["payload"]["messageId"] for r in users})
    assert imported.lines_read == len(source) and imported.files == 1


def test_projects_and_threads(state, store, imported):
    source = [r for r in rows(state) if r["payload"] is not None]
    created = {
        r["payload"]["projectId"]: r["payload"]
        for r in source
        if r["event_type"] == "project.created"
    }
    for event in of_type(store, "ProjectCreated"):
        assert (event.name, event.path) == (
            created[event.id]["title"],
            created[event.id]["workspaceRoot"],
        )
    threads = {
        r["payload"]["threadId"]: r["payload"]
        for r in source
        if r["event_type"] == "thread.created"
    }
    for event in of_type(store, "ThreadCreated"):
        selection = threads[event.id]["modelSelection"]
        assert event.provider == selection.get("provider", selection.get("instanceId"))
        assert event.model == selection["model"]
        assert event.project_id == threads[event.id]["projectId"]
        assert event.title == threads[event.id]["title"]


def test_turns_take_t3code_turn_ids_and_outcomes(state, store, imported):
    source = rows(state)
    sessions = [r["payload"]["session"] for r in source if r["event_type"] == "thread.session-set"]
    running = [s["activeTurnId"] for s in sessions if s["status"] == "running"]
    assert [e.id for e in of_type(store, "TurnStarted")] == running
    outcomes = {e.id: e for e in of_type(store, "TurnCompleted")}
    interrupted = {
        r["payload"]["turnId"]
        for r in source
        if r["event_type"] == "thread.turn-interrupt-requested"
    }
    failed = [s for s in sessions if s["status"] == "error"]
    errors = activities(source, "runtime.error")
    assert set(outcomes) == set(running)
    for turn_id, event in outcomes.items():
        if turn_id in interrupted:
            assert event.outcome == "interrupted"
        elif turn_id in {a["turnId"] for a in errors}:
            assert event.outcome == "error" and event.error == failed[0]["lastError"]
        else:
            assert event.outcome == "success" and event.error is None
    # each prompt belongs to the turn its request started
    requested = [
        r["payload"]["messageId"]
        for r in source
        if r["event_type"] == "thread.turn-start-requested"
    ]
    prompts = {e.id: e.turn_id for e in of_type(store, "MessageAdded") if e.role == "user"}
    assert [prompts[m] for m in requested] == running


def test_streamed_message_concatenates_to_its_full_text(state, store, imported):
    sent = [
        r["payload"]
        for r in rows(state)
        if r["event_type"] == "thread.message-sent"
        and r["payload"]["messageId"] == build.STREAMED_ID
    ]
    chunks = [p["text"] for p in sent if p["streaming"]]
    assert len(chunks) > 1 and sent[-1]["text"] == "" and not sent[-1]["streaming"]
    added = [e for e in of_type(store, "MessageAdded") if e.id == build.STREAMED_ID]
    deltas = [e.delta for e in of_type(store, "MessageDelta") if e.id == build.STREAMED_ID]
    assert len(added) == 1 and len(deltas) == len(chunks) - 1
    assert added[0].text + "".join(deltas) == "".join(chunks)
    assert imported.skipped["end of a streamed message (empty)"] == 1


def test_tools_pair_by_item_id_or_in_order(state, store, imported):
    source = rows(state)
    metadata = {
        r["payload"]["activity"]["id"]: json.loads(r["metadata_json"])
        for r in source
        if r["event_type"] == "thread.activity-appended"
    }
    started = of_type(store, "ToolCallStarted")
    completed = {e.id: e for e in of_type(store, "ToolCallCompleted")}
    assert {e.id for e in started} == set(completed)
    for activity in activities(source, "tool.completed"):
        item = metadata[activity["id"]].get("providerItemId")
        code = activity["payload"].get("data", {}).get("exitCode", 0)
        failed = activity["payload"].get("status") == "failed" or code != 0
        if item is not None:
            assert completed[item].status == ("error" if failed else "ok")
        else:  # paired in order within its turn and item type
            (event,) = [
                e
                for e in started
                if e.turn_id == activity["turnId"]
                and e.input["itemType"] == activity["payload"]["itemType"]
            ]
            assert completed[event.id].status == ("error" if failed else "ok")
    assert {e.tool for e in started} == {
        a["payload"]["itemType"] for a in activities(source, "tool.started")
    }


def test_approval_resolved_from_request_and_response(state, store, imported):
    source = rows(state)
    (request,) = activities(source, "approval.requested")
    (response,) = [r for r in source if r["event_type"] == "thread.approval-response-requested"]
    request_item = next(
        json.loads(r["metadata_json"])["providerItemId"]
        for r in source
        if r["event_type"] == "thread.activity-appended"
        and r["payload"]["activity"]["id"] == request["id"]
    )
    (event,) = of_type(store, "ApprovalResolved")
    assert event.id == request["payload"]["requestId"]
    assert event.decision == "accepted" and response["payload"]["decision"] == "accept"
    assert event.requested_at == parse_timestamp(request["createdAt"])
    assert event.at == parse_timestamp(response["occurred_at"])
    assert event.tool_call_id == request_item and event.turn_id == request["turnId"]
    assert imported.skipped["approval already resolved"] == 1  # the later approval.resolved


def test_checkpoints(state, store, imported):
    source = rows(state)
    (diff,) = [r["payload"] for r in source if r["event_type"] == "thread.turn-diff-completed"]
    (created,) = of_type(store, "CheckpointCreated")
    assert created.git_ref == diff["checkpointRef"] and created.turn_id == diff["turnId"]
    assert created.files_changed == len(diff["files"])
    assert created.additions == sum(f["additions"] for f in diff["files"])
    assert created.deletions == sum(f["deletions"] for f in diff["files"])
    (restored,) = of_type(store, "CheckpointRestored")
    assert restored.id == created.id and restored.thread_id == diff["threadId"]


def test_unknown_and_unmapped_types_are_counted(state, imported):
    source = rows(state)
    unknown = Counter(
        r["event_type"] for r in source if r["event_type"] not in build.T3CODE_EVENT_TYPES
    )
    assert unknown  # the fixture has one type t3code does not have
    for event_type, n in unknown.items():
        assert imported.skipped[f"unknown event type {event_type!r}"] == n
    unmapped = Counter(r["event_type"] for r in source if r["event_type"] in KNOWN_UNMAPPED)
    for event_type, n in unmapped.items():
        assert imported.skipped[f"{event_type} (no canonical event)"] == n
    bad = [r for r in source if r["payload"] is None]
    assert imported.skipped["invalid payload_json"] == len(bad) == 1
    assert any(f"event {bad[0]['sequence']} " in w for w in imported.warnings)


def test_replay_validates_and_metadata_names_the_source(state, store, imported):
    by_id = {r["event_id"]: r for r in rows(state)}
    replayed = list(store.replay_all())
    assert len(replayed) == store.last_sequence() == imported.events_written
    for item in replayed:
        assert isinstance(item.event, ek.Event)
        source = item.metadata["source"]
        assert source["format"] == "t3code"
        assert by_id[source["event_id"]]["sequence"] == source["sequence"]
        assert item.metadata["actor"] == by_id[source["event_id"]]["actor_kind"]


# --------------------------------------------------------------------------- the source


def test_reimport_writes_nothing(state, store, imported):
    before = store.last_sequence()
    again = import_t3code(state, store, progress=False)
    assert again.events_written == 0 and store.last_sequence() == before
    assert again.events_already_present == imported.events_written


def test_source_is_unchanged_and_no_wal_is_created(state, store):
    directory = sorted(p.name for p in state.parent.iterdir())
    digest = sha256(state)
    import_t3code(state, store, progress=False)
    assert sha256(state) == digest
    assert sorted(p.name for p in state.parent.iterdir()) == directory
    assert not Path(f"{state}-wal").exists() and not Path(f"{state}-shm").exists()


def test_reads_a_live_database_and_its_wal(state, store):
    conn = sqlite3.connect(state)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")  # keep the new event in the -wal file
        writer = build.StateWriter(conn, start=build.T0.replace(hour=11))
        writer.versions = dict(
            conn.execute(
                "SELECT stream_id, max(stream_version) FROM orchestration_events GROUP BY 1"
            )
        )
        writer.counter = conn.execute("SELECT count(*) FROM orchestration_events").fetchone()[0]
        with conn:
            writer.add(
                "thread.meta-updated",
                build.THREAD,
                {"threadId": build.THREAD, "title": "Renamed while t3code runs", "updatedAt": "x"},
            )
        wal = Path(f"{state}-wal")
        assert wal.stat().st_size > 0
        digests = (sha256(state), sha256(wal))
        import_t3code(state, store, progress=False)
        assert (sha256(state), sha256(wal)) == digests
    finally:
        conn.close()
    titles = [e.title for e in of_type(store, "ThreadRenamed")]
    assert titles[-1] == "Renamed while t3code runs"


def test_v2_tables_are_reported_not_read(tmp_path, store):
    plain = import_t3code(build.build_state(tmp_path / "a.sqlite"), store, progress=False)
    assert not [w for w in plain.warnings if "orchestration_v2_" in w]
    with_v2 = build.build_state(tmp_path / "b.sqlite", v2_tables=True)
    report = import_t3code(with_v2, tmp_path / "other.db", progress=False)
    (warning,) = [w for w in report.warnings if "orchestration_v2_" in w]
    assert "orchestration_v2_events" in warning and "not read" in warning


def test_default_location(tmp_path, store, monkeypatch):
    home = tmp_path / "t3home"
    build.build_state(home / "userdata" / "state.sqlite")
    monkeypatch.setenv("T3CODE_HOME", str(home))
    report = import_t3code(None, store, progress=False)
    assert report.events_written > 0


def test_a_missing_source_is_named_and_no_log_is_made(tmp_path):
    missing, log = tmp_path / "no" / "such" / "state.sqlite", tmp_path / "x.db"
    with pytest.raises(SourceNotFoundError) as caught:
        import_t3code(missing, log, progress=False)
    assert str(missing) in str(caught.value)
    assert not isinstance(caught.value, LogNotFoundError)  # the log is not what is missing
    assert not log.exists()


def test_bad_sources(tmp_path, store):
    with pytest.raises(SourceNotFoundError):
        import_t3code(tmp_path / "missing.sqlite", store, progress=False)
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database " * 100)
    with pytest.raises(EventkitError):
        import_t3code(text, store, progress=False)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(EventkitError, match="orchestration_events"):
        import_t3code(other, store, progress=False)


def test_ids_reused_by_another_thread_stay_distinct(tmp_path, store):
    path = tmp_path / "state.sqlite"
    conn = sqlite3.connect(path)
    try:
        build.create_schema(conn)
        writer = build.StateWriter(conn)
        with conn:
            for thread, turn in (("thread-a", "turn-a"), ("thread-b", "turn-b")):
                now = writer.tick()
                writer.add(
                    "thread.created",
                    thread,
                    {
                        "threadId": thread,
                        "projectId": "p",
                        "title": thread,
                        "createdAt": now,
                        "modelSelection": build.MODEL,
                        "updatedAt": now,
                    },
                )
                writer.prompt(thread, "msg-1", "same message id in both threads")
                writer.session(thread, "running", turn)
                writer.activity(
                    thread,
                    turn,
                    "tool.started",
                    "Ran command started",
                    {"itemType": "command_execution"},
                    item="item-1",
                )
                writer.activity(
                    thread,
                    turn,
                    "tool.completed",
                    "Ran command",
                    {"itemType": "command_execution"},
                    item="item-1",
                )
                writer.session(thread, "ready", None)
    finally:
        conn.close()
    import_t3code(path, store, progress=False)
    calls = {(e.thread_id, e.id) for e in of_type(store, "ToolCallCompleted")}
    assert calls == {("thread-a", "item-1"), ("thread-b", "thread-b/item-1")}
    prompts = {(e.thread_id, e.id, e.turn_id) for e in of_type(store, "MessageAdded")}
    assert prompts == {("thread-a", "msg-1", "turn-a"), ("thread-b", "thread-b/msg-1", "turn-b")}


def test_audit_finds_no_violations(state, tmp_path):
    log = tmp_path / "audited.db"
    import_t3code(state, log, progress=False)
    findings = ek.audit(log)  # the function, resolved lazily by the package
    assert [f for f in findings if f.severity == "error"] == []
