"""Shared fixtures: fresh logs and a fixed clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import eventkit as ek

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "data" / "fixtures"
sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as randomlog
sys.path.insert(0, str(ROOT / "data"))  # build_sample, the sample log recipe

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A fixed point in time: T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def file_store(log_path: Path):
    store = ek.EventStore.open(log_path)
    yield store
    store.close()


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """A generated log of about 600 events (deterministic)."""
    path = tmp_path / "small.db"
    ek.generate_log(path, events=600, seed=3, progress=False)
    return path


def pytest_configure(config):
    """The notebooks read data/sample.db; build it when a bare `pytest` finds none."""
    from build_sample import SAMPLE_LOG, build_sample_log

    if not SAMPLE_LOG.exists():
        build_sample_log(SAMPLE_LOG)


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the sample log (made with SQLite's backup API)."""
    import sqlite3
    from contextlib import closing

    from build_sample import SAMPLE_LOG

    target = tmp_path / "sample.db"
    with closing(sqlite3.connect(SAMPLE_LOG)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target
