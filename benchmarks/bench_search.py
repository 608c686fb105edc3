"""Full-text search: ``ek.search`` over its FTS5 index against DuckDB ``ILIKE`` over the same texts.

The log (default 1,000,000 generated events plus the real fixtures, so that a search can
look for something a few sessions hold; ``EVENTKIT_BENCH_SEARCH_EVENTS`` or ``--events``
for another size) is built once into ``benchmarks/.work/``. Measured in one run:

- the index's cold build (the first search of the log, nothing cached);
- warm queries: ``ek.search(log, query)`` (50 best hits, ranked by bm25), the median of
  ``--repeat`` runs, against DuckDB finding the same hits with ``ILIKE '%term%'`` over
  the same texts held in an in-memory DuckDB table (the median of as many runs). Both
  find the same set of hits (checked). Queries are *selective* (a file name, an error
  name, a CJK word from the fixtures, held by well under 1% of the texts) or *common*
  (a phrase of the generated sessions, held by ~4% of them: every match is ranked);
- an incremental update: a copy of the log gets more generated events, and its next
  search adds only those to the index.

    python -m benchmarks.bench_search [--events N] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from ._timing import median_time, time_call

WORK = Path(__file__).resolve().parent / ".work"
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
DEFAULT_EVENTS = int(os.environ.get("EVENTKIT_BENCH_SEARCH_EVENTS", "1000000"))
TARGET = 20.0
"""Selective warm queries at least this many times faster than ILIKE."""
INCREMENT = 10_000
QUERIES = (
    ("機器人", "selective"),  # a Chinese word (Gemini fixture)
    ("GEMINI.md", "selective"),  # a file name
    ("EISDIR", "selective"),  # an error code
    ("ValidationError", "selective"),  # an exception's name
    ("BaseAgentAdapter.ts", "selective"),  # a path's file
    ("Nav.tsx", "common"),  # a file of the generated sessions
    ('"found the cause"', "common"),  # a phrase of the generated answers
)
IMPORTERS = {
    "claude_code": "import_claude_code",
    "codex": "import_codex",
    "gemini": "import_gemini",
    "copilot": "import_copilot",
}


def build_log(path: Path, events: int, say: Callable[[str], None]) -> Path:
    """Generated sessions then the real fixtures, built once and kept."""
    import eventkit as ek

    done = path.with_name(path.name + ".done")
    if path.exists() and done.exists():
        return path
    for stale in path.parent.glob(f"{path.name}*"):
        stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    say(f"building a log of {events:,} events and the fixtures in {path} (once) ...")
    start = time.perf_counter()
    ek.generate_log(path, events=events, seed=0, projections=False, batch_size=5_000)
    with ek.EventStore.open(path, projections=False) as store:  # the search needs none
        for folder, importer in IMPORTERS.items():
            getattr(ek, importer)(FIXTURES / folder, store, progress=False)
    done.touch()
    say(f"  built in {time.perf_counter() - start:.0f}s")
    return path


def _terms(query: str) -> list[str]:
    from eventkit.read.search import parse_query

    return parse_query(query)


def run(
    events: int = DEFAULT_EVENTS,
    *,
    repeat: int = 7,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Build, query and update; return the figures (``cases``: one per query)."""
    say = echo or (lambda _line: None)
    log = build_log(WORK / f"search-{events}.db", events, say)
    cache_dir = WORK / "search-cache"
    shutil.rmtree(cache_dir, ignore_errors=True)  # "cold" means: no index yet
    os.environ["EVENTKIT_CACHE_DIR"] = str(cache_dir)
    os.environ.pop("EVENTKIT_CACHE", None)

    import duckdb
    import pyarrow as pa

    import eventkit as ek
    from eventkit.read.search_index import open_index

    with closing(sqlite3.connect(f"file:{log}?mode=ro", uri=True)) as conn:
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    build_s, _ = time_call(lambda: ek.search(log, "warm-up"))
    with open_index(log) as index:
        texts = index.conn.execute("SELECT rowid, body FROM texts ORDER BY rowid").fetchall()
        index_bytes = index.path.stat().st_size
    megabytes = sum(len(body.encode()) for _, body in texts) / 1e6
    say(
        f"search benchmark: {n_events:,} events, {len(texts):,} texts ({megabytes:.0f} MB); "
        f"index built cold in {build_s:.1f}s ({index_bytes / 2**20:.0f} MiB)"
    )
    duck = duckdb.connect()  # every core: the baseline at its fastest
    table = pa.table({"sequence": [s for s, _ in texts], "body": [b for _, b in texts]})
    duck.register("arrow_texts", table)
    duck.execute("CREATE TABLE texts AS SELECT * FROM arrow_texts")
    duck.unregister("arrow_texts")
    del texts, table

    cases = []
    for query, kind in QUERIES:
        terms = _terms(query)
        ilike = "SELECT sequence FROM texts WHERE " + " AND ".join("body ILIKE ?" for _ in terms)
        params = [f"%{t}%" for t in terms]
        warm, _ = median_time(lambda q=query: ek.search(log, q), repeat)
        base, rows = median_time(lambda s=ilike, p=params: duck.execute(s, p).fetchall(), repeat)
        every = ek.search(log, query, limit=None)
        assert set(every.sequence) == {r[0] for r in rows}, query  # the same hits
        ratio = base / warm
        cases.append(
            {
                "query": query,
                "kind": kind,
                "hits": len(rows),
                "eventkit_s": warm,
                "baseline_s": base,
                "ratio": ratio,
            }
        )
        say(
            f"  {query!r:>24} ({kind}, {len(rows):,} hits): eventkit {warm * 1e3:7.1f} ms  "
            f"ILIKE {base * 1e3:7.1f} ms  ratio {ratio:6.1f}x"
        )
    duck.close()

    copy = WORK / f"search-{events}-grown.db"
    shutil.copyfile(log, copy)  # the same log_id and history: the index carries on
    try:
        ek.generate_log(copy, events=INCREMENT, seed=1, projections=False, progress=False)
        with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as conn:
            added = conn.execute("SELECT count(*) FROM events").fetchone()[0] - n_events
        incremental_s, _ = time_call(lambda: ek.search(copy, "warm-up"))
        with open_index(copy) as index:
            assert not index.rebuilt and index.generation == 1
    finally:
        for path in WORK.glob(f"{copy.name}*"):
            path.unlink()
    say(f"  incremental update: {added:,} new events indexed in {incremental_s:.2f}s")
    selective = [c["ratio"] for c in cases if c["kind"] == "selective"]
    return {
        "benchmark": "search",
        "events": n_events,
        "texts_mb": megabytes,
        "index_mib": index_bytes / 2**20,
        "build_s": build_s,
        "incremental_events": added,
        "incremental_s": incremental_s,
        "cases": cases,
        "target": TARGET,
        "selective_min_ratio": min(selective),
        "passed": min(selective) >= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    result = run(args.events, repeat=args.repeat)
    verdict = "met" if result["passed"] else "MISSED"
    print(
        f"selective queries: at least {result['selective_min_ratio']:.1f}x faster than ILIKE "
        f"(target {TARGET}x: {verdict})"
    )


if __name__ == "__main__":
    main()
