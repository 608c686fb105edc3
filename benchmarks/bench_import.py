"""Importer throughput (MB/s) and peak memory, against the cost of just parsing the JSON.

The real fixtures of each format are copied with fresh ids (every UUID, and the API's
``msg_``/``toolu_``/``call_``/``req_`` ids, rewritten per copy, so that no copy repeats
another's sessions or responses) until the corpus reaches ``--megabytes`` (default 100 MB
per format). Each import runs in a fresh process, into a new log, validating every
event as always; its peak resident memory (``VmHWM``) is that process's. The baseline
reads the same files and ``json.loads`` every line.

    python -m benchmarks.bench_import [--megabytes 100] [--formats claude-code,codex]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
FORMATS = {
    "claude-code": "import_claude_code",
    "codex": "import_codex",
    "gemini": "import_gemini",
}
"""Formats with JSON Lines fixtures → the importer's name in ``eventkit``."""
TARGET_MB_PER_S = 50
_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b(?:msg|toolu|call|req)_[0-9A-Za-z]{8,}"
)
"""Ids renamed per copy: UUIDs, and the API's response, tool-call and request ids (a
copy that kept them would be a session repeating another's responses, counted once)."""


def _renamed(old: str, copy: int) -> str:
    new = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{old}{copy}"))
    prefix, _, rest = old.partition("_")
    if rest and "-" not in old:  # msg_01AbC… keeps its prefix and length
        return f"{prefix}_{new.replace('-', '')[: len(rest)]}"
    return new


def _replicate(source: Path, target_dir: Path, copies: int) -> int:
    """Write ``copies`` of ``source`` with every id renamed per copy; returns bytes."""
    text = source.read_text(encoding="utf-8")
    ids = sorted(set(_UUID.findall(text)))
    total = 0
    for i in range(copies):
        mapping = {old: _renamed(old, i) for old in ids}

        def rename(match: re.Match, mapping: dict[str, str] = mapping) -> str:
            return mapping.get(match[0], match[0])

        path = target_dir / f"{i:03d}-{_UUID.sub(rename, source.name)}"
        path.write_text(_UUID.sub(rename, text), encoding="utf-8")
        total += path.stat().st_size
    return total


def _parse_only(files: list[Path]) -> int:
    lines = 0
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                json.loads(line)
                lines += 1
    return lines


def _child(importer: str, log: str, files: list[str]) -> dict[str, Any]:
    """Run one import in this (fresh) process: seconds, events and peak memory."""
    import eventkit as ek

    from ._memory import peak_rss_mib

    before = peak_rss_mib()
    start = time.perf_counter()
    report = getattr(ek, importer)(files, log, progress=False)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "events": report.events_written,
        "lines": report.lines_read,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": before,
    }


def _run_child(importer: str, log: Path, files: list[Path]) -> dict[str, Any]:
    args = json.dumps([importer, str(log), [str(f) for f in files]])
    code = (
        "import json, sys; from benchmarks.bench_import import _child; "
        "print(json.dumps(_child(*json.loads(sys.argv[1]))))"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code, args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    megabytes: float = 100,
    *,
    formats: Sequence[str] = tuple(FORMATS),
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    say = echo or (lambda _line: None)
    cases = []
    with tempfile.TemporaryDirectory(prefix="eventkit-bench-import-") as tmp:
        for fmt in formats:
            folder = Path(tmp) / fmt
            folder.mkdir()
            sources = sorted((FIXTURES / fmt.replace("-", "_")).glob("*.jsonl"))
            copies = math.ceil(megabytes * 1e6 / sum(p.stat().st_size for p in sources))
            size = sum(_replicate(src, folder, copies) for src in sources)
            files = sorted(folder.glob("*.jsonl"))
            start = time.perf_counter()
            _parse_only(files)
            parse_s = time.perf_counter() - start
            result = _run_child(FORMATS[fmt], Path(tmp) / f"{fmt}.db", files)
            import_s = result["seconds"]
            mb = size / 1e6
            cases.append(
                {
                    "case": f"import {fmt}",
                    "megabytes": mb,
                    "files": len(files),
                    "events": result["events"],
                    "eventkit_mb_per_s": mb / import_s,
                    "baseline_mb_per_s": mb / parse_s,
                    "events_per_s": result["events"] / import_s,
                    "ratio": parse_s / import_s,
                    "peak_rss_mib": result["peak_rss_mib"],
                    "target_mb_per_s": TARGET_MB_PER_S,
                }
            )
            c = cases[-1]
            say(
                f"import {fmt:>11}: {mb:6.1f} MB, {c['events']:,} events in {import_s:.2f}s = "
                f"{c['eventkit_mb_per_s']:.1f} MB/s ({c['events_per_s']:,.0f} ev/s), peak RSS "
                f"{c['peak_rss_mib']:,.0f} MiB; json.loads alone {c['baseline_mb_per_s']:.0f} "
                f"MB/s (ratio {c['ratio']:.3f}x)"
            )
    passed = all(c["eventkit_mb_per_s"] >= TARGET_MB_PER_S for c in cases)
    return {"benchmark": "import", "cases": cases, "passed": passed}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args(argv)
    return run(args.megabytes, formats=[f for f in args.formats.split(",") if f])


if __name__ == "__main__":
    main()
