"""Importer throughput (MB/s) against the cost of just parsing the same JSON Lines.

The real fixtures of each format are copied with fresh ids (every UUID rewritten per
copy, so nothing is "already present") until the corpus reaches ``--megabytes``
(default 100 MB per format), and imported into a new log; the baseline reads the
same files and ``json.loads`` every line.

    python -m benchmarks.bench_import [--megabytes 100]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _replicate(source: Path, target_dir: Path, copies: int) -> int:
    """Write ``copies`` of ``source`` with every UUID renamed per copy; returns bytes."""
    text = source.read_text(encoding="utf-8")
    ids = sorted(set(_UUID.findall(text)))
    total = 0
    for i in range(copies):
        mapping = {old: str(uuid.uuid5(uuid.NAMESPACE_OID, f"{old}{i}")) for old in ids}

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


def run(megabytes: float = 100, *, echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    import eventkit as ek

    say = echo or (lambda _line: None)
    cases = []
    with tempfile.TemporaryDirectory(prefix="eventkit-bench-import-") as tmp:
        for fmt, importer in (("claude-code", ek.import_claude_code), ("codex", ek.import_codex)):
            folder = Path(tmp) / fmt
            folder.mkdir()
            sources = sorted((FIXTURES / fmt.replace("-", "_")).glob("*.jsonl"))
            copies = math.ceil(megabytes * 1e6 / sum(p.stat().st_size for p in sources))
            size = sum(_replicate(src, folder, copies) for src in sources)
            files = sorted(folder.glob("*.jsonl"))
            start = time.perf_counter()
            _parse_only(files)
            parse_s = time.perf_counter() - start
            start = time.perf_counter()
            report = importer(files, Path(tmp) / f"{fmt}.db", progress=False)
            import_s = time.perf_counter() - start
            mb = size / 1e6
            cases.append(
                {
                    "case": f"import {fmt}",
                    "megabytes": mb,
                    "files": len(files),
                    "events": report.events_written,
                    "eventkit_mb_per_s": mb / import_s,
                    "baseline_mb_per_s": mb / parse_s,
                    "events_per_s": report.events_written / import_s,
                    "ratio": parse_s / import_s,
                }
            )
            c = cases[-1]
            say(
                f"import {fmt:>11}: {mb:6.1f} MB, {c['events']:,} events in {import_s:.2f}s = "
                f"{c['eventkit_mb_per_s']:.1f} MB/s ({c['events_per_s']:,.0f} ev/s); "
                f"json.loads alone {c['baseline_mb_per_s']:.0f} MB/s (ratio {c['ratio']:.3f}x)"
            )
    return {"benchmark": "import", "cases": cases, "passed": None}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100)
    return run(parser.parse_args(argv).megabytes)


if __name__ == "__main__":
    main()
