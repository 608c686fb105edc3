"""merge: the union by event_id, idempotent, stream order kept; backup: consistent copies."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing

import pytest
from conftest import at

import eventkit as ek
from eventkit import cli


def _ids_and_payloads(path):
    with closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT event_id, payload FROM events"))


def _stream_orders(path):
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT stream_id, event_id FROM events ORDER BY stream_id, stream_version"
        ).fetchall()
    orders: dict[str, list[str]] = {}
    for stream, event_id in rows:
        orders.setdefault(stream, []).append(event_id)
    return orders


def test_merge_is_the_union_by_event_id_and_idempotent(tmp_path):
    a, b, dest = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "dest.db"
    ek.generate_log(a, events=400, seed=1, progress=False)
    ek.generate_log(b, events=400, seed=2, progress=False)
    # an event both logs hold, and a settings stream both logs write to
    shared = ek.SettingChanged(key="theme", value="dark", at=at(0))
    for path in (a, b):
        with ek.EventStore.open(path) as store:
            store.append(shared, event_id="shared-setting")

    report = ek.merge([a, b], dest, progress=False)
    union = {**_ids_and_payloads(a), **_ids_and_payloads(b)}
    assert _ids_and_payloads(dest) == union
    assert report.events_read == len(_ids_and_payloads(a)) + len(_ids_and_payloads(b))
    assert report.events_written == len(union)
    assert report.events_already_present == 1

    again = ek.merge([a, b], dest, progress=False)
    assert again.events_written == 0
    assert _ids_and_payloads(dest) == union

    # each source's order within every stream survives (an event both sources hold
    # sits where the first source put it); versions are the destination's
    merged = _stream_orders(dest)
    for source in (a, b):
        for stream, ids in _stream_orders(source).items():
            own = [i for i in ids if i != "shared-setting"]
            assert [i for i in merged[stream] if i in set(own)] == own, stream
    with closing(sqlite3.connect(dest)) as conn:
        versions = conn.execute(
            "SELECT stream_id, group_concat(stream_version) FROM "
            "(SELECT * FROM events ORDER BY sequence) GROUP BY stream_id"
        ).fetchall()
    for _, listed in versions:
        numbers = [int(v) for v in listed.split(",")]
        assert numbers == list(range(1, len(numbers) + 1))
    assert [f for f in ek.audit(dest) if f.severity == "error"] == []


def test_merge_conflicting_payload_is_refused(tmp_path):
    a, b, dest = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "dest.db"
    with ek.EventStore.open(a) as store:
        store.append(ek.SettingChanged(key="k", value=1, at=at(0)), event_id="same")
    with ek.EventStore.open(b) as store:
        store.append(ek.SettingChanged(key="k", value=2, at=at(0)), event_id="same")
    ek.merge([a], dest, progress=False)
    with pytest.raises(ek.DuplicateEventError, match="different payload"):
        ek.merge([b], dest, progress=False)
    assert list(_ids_and_payloads(dest)) == ["same"]


def test_merge_cli(tmp_path, capsys):
    a, dest = tmp_path / "a.db", tmp_path / "dest.db"
    ek.generate_log(a, events=100, seed=4, progress=False)
    n = len(_ids_and_payloads(a))
    assert cli.main(["merge", str(a), "--into", str(dest)]) == 0
    assert capsys.readouterr().out.startswith(
        f"merged 1 log(s): {n} event(s) read, {n} written, 0 already present"
    )


def _writer(path: str, batches: int, ready) -> None:
    store = ek.EventStore.open(path)
    ready.set()
    for i in range(batches):
        store.append_all([ek.SettingChanged(key=f"k{i}", value=j, at=at(i)) for j in range(50)])
    store.close()


def test_backup_of_a_live_log_is_consistent(tmp_path, capsys):
    log = tmp_path / "live.db"
    ek.generate_log(log, events=2_000, seed=5, progress=False)
    before = _ids_and_payloads(log)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    writer = ctx.Process(target=_writer, args=(str(log), 200, ready))
    writer.start()
    ready.wait(30)
    try:
        result = ek.backup(log, tmp_path / "copy.db", progress=False)
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    copy = _ids_and_payloads(result.path)
    assert set(before) <= set(copy)  # everything committed before the backup is in it
    assert (len(copy) - len(before)) % 50 == 0  # whole batches only
    with closing(sqlite3.connect(result.path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT max(sequence), count(*) FROM events").fetchone() == (
            result.last_sequence,
            result.events,
        )
    assert not list(tmp_path.glob(".*.partial"))
    # projections in the copy agree with its log
    assert [f for f in ek.audit(result.path) if f.check == "projections_agree"] == []

    with pytest.raises(ek.EventkitError, match="already exists"):
        ek.backup(log, result.path)
    assert cli.main(["backup", str(log), str(result.path), "--overwrite"]) == 0
    assert "integrity check ok" in capsys.readouterr().out


def test_backup_of_missing_log_writes_nothing(tmp_path):
    with pytest.raises(ek.LogNotFoundError):
        ek.backup(tmp_path / "none.db", tmp_path / "copy.db")
    assert list(tmp_path.iterdir()) == []
