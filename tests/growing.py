"""The growing-file check shared by the importer tests.

An agent writes its log while it works, and people import while it does. An import of
a file that grew, after imports of its prefixes, must end exactly where one import of
the whole file ends, in every entity frame. :func:`assert_growing_equals_fresh` cuts a
set of source files at many points of their common timeline (every line boundary for
100 lines or fewer, at least ``min_cuts`` cuts otherwise), imports each cut into one
log, then the whole files, and compares every entity frame with one fresh import of
the whole files (``pandas.testing``).

The timeline of several files (a session and its subagents' transcripts) is their lines
in timestamp order, each file's own order kept: a cut holds the lines written before a
moment, as a person importing at that moment would find them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import pandas.testing as pdt

import eventkit as ek
from eventkit.catalog.events import parse_timestamp

FRAMES = {
    "threads": ("thread_id", ek.threads_df),
    "turns": ("turn_id", ek.turns_df),
    "messages": ("message_id", ek.messages_df),
    "tool_calls": ("tool_call_id", ek.tool_calls_df),
    "model_calls": ("model_call_id", ek.model_calls_df),
    "projects": ("project_id", ek.projects_df),
}
"""Entity frames compared: name → (key column, frame function)."""

Importer = Callable[..., ek.ImportReport]


def cut_points(lines: int, min_cuts: int = 20) -> list[int]:
    """Every line boundary for ``lines`` <= 100, else ``min_cuts`` or more even cuts."""
    if lines <= 100:
        return list(range(1, lines))
    step = max(1, lines // (min_cuts + 1))
    return list(range(step, lines, step))


def _stamp(raw: bytes) -> datetime | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    value = record.get("timestamp")
    if value is None and isinstance(record.get("payload"), dict):
        value = record["payload"].get("timestamp")
    try:
        return parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return None


def timeline(files: Sequence[Path]) -> list[tuple[int, int]]:
    """``(file index, line index)`` of every line, in the order they were written.

    A line without a timestamp takes its file's previous one (or the next, at the top).
    """
    entries = []
    for f, path in enumerate(files):
        lines = path.read_bytes().splitlines(keepends=True)
        stamps = [_stamp(raw) for raw in lines]
        known = next((s for s in stamps if s is not None), None)
        for n, stamp in enumerate(stamps):
            known = stamp or known
            entries.append((known.timestamp() if known else 0.0, f, n))
    # Stable: one file's lines keep their order even when its clock goes backwards.
    by_file: dict[int, list[tuple[float, int, int]]] = {}
    for entry in entries:
        by_file.setdefault(entry[1], []).append(entry)
    for rows in by_file.values():
        floor = 0.0
        for i, (stamp, f, n) in enumerate(rows):
            floor = max(floor, stamp)
            rows[i] = (floor, f, n)
    merged = sorted((e for rows in by_file.values() for e in rows), key=lambda e: e[0])
    return [(f, n) for _, f, n in merged]


def write_prefix(
    sources: Sequence[Path], targets: Sequence[Path], order: list[tuple[int, int]], k: int
) -> None:
    """Write into ``targets`` the first ``k`` lines of the timeline (files not begun yet
    are absent)."""
    taken: dict[int, int] = {}
    for f, _ in order[:k]:
        taken[f] = taken.get(f, 0) + 1
    for f, (source, target) in enumerate(zip(sources, targets, strict=True)):
        lines = source.read_bytes().splitlines(keepends=True)
        if f in taken:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"".join(lines[: taken[f]]))
        elif target.exists():
            target.unlink()


def frames(log: Path) -> dict[str, pd.DataFrame]:
    """Every entity frame of ``log``, rows in key order."""
    out = {}
    for name, (key, frame) in FRAMES.items():
        df = frame(log)
        out[name] = df.sort_values(key, kind="stable").reset_index(drop=True)
    return out


def assert_same_frames(log: Path, fresh: Path, *, context: str = "") -> None:
    got, want = frames(log), frames(fresh)
    for name in FRAMES:
        try:
            pdt.assert_frame_equal(got[name], want[name], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"{context}{name}_df differs from a fresh import: {exc}") from None


def assert_growing_equals_fresh(
    importer: Importer,
    sources: Sequence[Path],
    root: Path,
    work: Path,
    *,
    extra_files: Sequence[Path] = (),
    min_cuts: int = 20,
) -> tuple[Path, Path]:
    """Import growing prefixes of ``sources`` (laid out under ``root``) then the whole,
    into one log; assert its frames equal one fresh import's. Returns both logs.

    ``extra_files`` (sidecars such as ``agent-*.meta.json``) are copied whole from the
    first cut on.
    """
    live = work / "live"
    targets = [live / path.relative_to(root) for path in sources]
    order = timeline(sources)
    grown, fresh = work / "grown.db", work / "fresh.db"
    for extra in extra_files:
        target = live / extra.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(extra, target)
    for k in cut_points(len(order), min_cuts):
        write_prefix(sources, targets, order, k)
        importer(live, grown, progress=False)
    write_prefix(sources, targets, order, len(order))
    importer(live, grown, progress=False)
    importer(live, fresh, progress=False)
    assert_same_frames(grown, fresh, context="after growing imports: ")
    again = importer(live, grown, progress=False)
    assert again.events_written == 0, again.events_by_type
    return grown, fresh
