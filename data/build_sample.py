"""The deterministic sample log the notebooks and regression checks read.

Built from the repository's ``data/`` folder: generated sessions (fixed seed) plus the
real public agent logs in ``data/fixtures/``. Same inputs, same events and event ids;
only ``recorded_at`` and the log's ``log_id`` differ between builds, and nothing
compared by the notebooks depends on them.

    python data/build_sample.py [OUT]        # default: data/sample.db

A repository script, not part of the package: it reads the ``data/`` folder beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
SAMPLE_LOG = DATA / "sample.db"
SAMPLE_THREADS = 30
SAMPLE_SEED = 7  # 30 sessions of this seed hold all 18 event types


def build_sample_log(out: str | Path = SAMPLE_LOG, *, data: Path = DATA) -> Path:
    """(Re)build the sample log at ``out`` from ``data/``; returns its path."""
    from eventkit.apps.synth import generate_log
    from eventkit.importers import (
        import_claude_code,
        import_codex,
        import_copilot,
        import_gemini,
    )
    from eventkit.log.store import EventStore

    out = Path(out)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{out}{suffix}").unlink(missing_ok=True)
    with EventStore.open(out) as store:
        generate_log(store, threads=SAMPLE_THREADS, seed=SAMPLE_SEED, progress=False)
        import_claude_code([data / "fixtures" / "claude_code"], store, progress=False)
        import_codex([data / "fixtures" / "codex"], store, progress=False)
        import_gemini([data / "fixtures" / "gemini"], store, progress=False)
        import_copilot([data / "fixtures" / "copilot"], store, progress=False)
        # Fold the WAL into the file so readers on read-only media see everything.
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return out


if __name__ == "__main__":
    target = build_sample_log(sys.argv[1] if len(sys.argv) > 1 else SAMPLE_LOG)
    print(f"sample log written to {target}")
