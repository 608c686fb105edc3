"""The columnar cache is built in the background: a first read never waits for it.

The size threshold is lowered so that a small random log counts as large.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from randomlog import random_events

import eventkit as ek
from eventkit.read import cache, cache_builder, readers


@pytest.fixture
def large(tmp_path, monkeypatch) -> Path:
    """A log the readers treat as large, with a private cache directory."""
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)
    monkeypatch.setattr(cache, "CACHE_MIN_EVENTS", 5)
    monkeypatch.setattr(readers, "CACHE_MIN_EVENTS", 5)
    path = tmp_path / "events.db"
    with ek.EventStore.open(path) as store:
        store.append_all(random_events(7))
    yield path
    cache_builder.wait_for_cache(30)
    readers.close_readers()


def _cached_through(log: Path) -> int:
    found = ek.sql(log, "SELECT coalesce(max(cached_through), 0) AS n FROM eventkit_cache")
    return int(found["n"].iloc[0])


def test_a_first_read_builds_no_cache_and_a_later_one_uses_it(large, tmp_path) -> None:
    root = tmp_path / "cache"
    reader = readers._shared_reader(large)
    assert not root.exists(), "opening a reader must not write the cache"
    assert reader.cache is None
    live = ek.turns_df(large)  # the first read: live, then the build starts
    assert cache_builder.wait_for_cache(60), "the background build did not finish"
    (log_dir,) = root.iterdir()
    manifest = json.loads((log_dir / "manifest.json").read_text())
    last = ek.sql(large, "SELECT max(sequence) AS n FROM events")["n"].iloc[0]
    assert manifest["chunks"][-1]["extent"]["last"] == last
    assert _cached_through(large) == last, "the shared reader did not take the new cache"
    pd.testing.assert_frame_equal(ek.turns_df(large), live)
    pd.testing.assert_frame_equal(ek.events_df(large), ek.events_df(large, types=None))


def test_connect_duckdb_does_not_wait_for_the_cache(large, tmp_path) -> None:
    con = ek.connect_duckdb(large)
    try:
        assert con.execute("SELECT count(*) FROM eventkit_cache").fetchone()[0] == 0
    finally:
        con.close()
    assert cache_builder.wait_for_cache(60)
    con = ek.connect_duckdb(large)  # the next connection reads the cache built meanwhile
    try:
        assert con.execute("SELECT count(*) FROM eventkit_cache").fetchone()[0] == 1
    finally:
        con.close()


def test_an_unwritable_cache_directory_is_tried_once_and_reads_stay_live(
    large, tmp_path, monkeypatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(blocker / "cache"))
    started = []

    def counted(path, done):
        started.append(path)
        cache_builder.build_in_background(path, done)

    monkeypatch.setattr(readers, "build_in_background", counted)
    first = ek.threads_df(large)
    assert cache_builder.wait_for_cache(60)
    for _ in range(3):
        pd.testing.assert_frame_equal(ek.threads_df(large), first)
        assert cache_builder.wait_for_cache(60)
    assert readers._shared_reader(large).cache is None
    assert len(started) == 1, f"a failed build must not be retried on every read: {started}"
