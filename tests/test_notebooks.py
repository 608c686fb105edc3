"""Notebooks as checks: the regression notebook fails on drift (the report: test_report.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT, at

import eventkit as ek

REGRESSION = ROOT / "notebooks" / "regression" / "metrics_regression.ipynb"


def _run_regression(log) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVENTKIT_LOG": str(log), "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REGRESSION)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_regression_notebook_passes_on_sample_and_fails_on_altered_copy(sample_copy):
    assert _run_regression(sample_copy).returncode == 0
    errors_before = int((ek.turns_df(sample_copy)["status"] == "error").sum())

    # Alter the copy: one more slow, failing turn in an existing thread.
    with ek.EventStore.open(sample_copy) as store:
        thread_id = store.conn.execute(
            "SELECT thread_id FROM projection_threads ORDER BY created_at LIMIT 1"
        ).fetchone()[0]
        store.append_all(
            [
                ek.TurnStarted(id="regression-turn", thread_id=thread_id, at=at(0)),
                ek.TurnCompleted(
                    id="regression-turn",
                    thread_id=thread_id,
                    outcome="error",
                    usage=ek.TokenUsage(input_tokens=10_000_000),
                    at=at(3_600),
                ),
            ]
        )
    result = _run_regression(sample_copy)
    assert result.returncode != 0, result.stdout
    # nbval names the cells whose printed metrics drifted and shows the difference
    assert "Cell outputs differ" in result.stdout
    assert "FAILED notebooks/regression/metrics_regression.ipynb::Cell 6" in result.stdout
    assert re.search(rf"\berror\s+{errors_before + 1}\b", result.stdout)
