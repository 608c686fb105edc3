"""Analyse a log with the read side and pickle the results: ``python analyse.py LOG OUT``.

Run by the read-only tests in a fresh process (possibly as an unprivileged user), so
nothing is shared with the test process: no open reader, no cache, no temp files.
"""

from __future__ import annotations

import os
import pickle
import sys

import eventkit as ek
from eventkit.read.stats import stats

QUERIES = {
    "types": "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    "turn_tokens": (
        "SELECT thread_id, count(*) AS turns, sum(usage_output_tokens) AS output_tokens,"
        " round(sum(cost_usd), 6) AS cost FROM turn_completed GROUP BY 1 ORDER BY 1"
    ),
    "turn_status": "SELECT status, count(*) AS n FROM turns GROUP BY 1 ORDER BY 1",
    "percentiles": (
        "SELECT quantile_cont(duration_ms, 0.5) AS p50, quantile_cont(duration_ms, 0.95) AS p95"
        " FROM turns"
    ),
}
FRAMES = (
    "events_df",
    "projects_df",
    "threads_df",
    "turns_df",
    "messages_df",
    "tool_calls_df",
    "checkpoints_df",
    "settings_df",
)


def main(log: str, out: str) -> None:
    results: dict = {"euid": os.geteuid()}
    try:  # the point of the exercise: this process must not be able to write the log
        with open(log, "ab"):
            results["log_writable"] = True
    except OSError:
        results["log_writable"] = False
    for name, query in QUERIES.items():
        results[f"sql:{name}"] = ek.sql(log, query)
    con = ek.connect_duckdb(log)
    try:
        results["duckdb:tool_calls"] = con.execute(
            "SELECT tool, status, count(*) AS n FROM tool_calls GROUP BY ALL ORDER BY ALL"
        ).df()
    finally:
        con.close()
    for name in FRAMES:
        results[name] = getattr(ek, name)(log)
    results["stats"] = {k: v for k, v in stats(log).items() if k != "log"}
    results["audit"] = sorted(str(f) for f in ek.audit(log))
    results["search"] = ek.search(log, '"the cause"', limit=None)
    with open(out, "wb") as fh:
        pickle.dump(results, fh)


if __name__ == "__main__":
    main(*sys.argv[1:])
