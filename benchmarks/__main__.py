"""Run every benchmark and write ``benchmarks/results.md`` (``make bench``).

Ratios are measured in one run on one machine (these machines are noisy: compare
ratios, not seconds). Sizes: ``EVENTKIT_BENCH_EVENTS`` (read benchmark, default
1,000,000), ``EVENTKIT_BENCH_SEARCH_EVENTS`` (search benchmark, default 1,000,000),
``EVENTKIT_BENCH_10M=1`` adds a 10M-event step to the scaling and
export benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import (
    bench_append,
    bench_export,
    bench_generate,
    bench_import,
    bench_read,
    bench_replay,
    bench_scale,
    bench_search,
)

RESULTS = Path(__file__).resolve().parent / "results.md"


def _rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for case in results["append"]["cases"]:
        for mode, key in (("off", "projections_off"), ("on", "projections_on")):
            target = (
                bench_append.TARGETS[key] if case["batch"] == bench_append.TARGET_BATCH else None
            )
            rows.append(
                (
                    f"append_all, batch {case['batch']:,}, projections {mode}",
                    f"{case[key + '_events_per_s']:,.0f} ev/s",
                    f"executemany {case['baseline_events_per_s']:,.0f} ev/s",
                    f"{case['ratio_' + key]:.2f}x",
                    f">= {target}x" if target else "",
                )
            )
    for case in results["replay"]["cases"]:
        rows.append(
            (
                "typed replay (replay_all)",
                f"{case['eventkit_s']:.2f} s",
                f"raw rows + json.loads {case['baseline_s']:.2f} s",
                f"{case['ratio']:.2f}x",
                "",
            )
        )
    baselines = {
        "events_df": "pandas.read_sql",
        "turns_df": "per-row Python replay",
        "typed_aggregate": "SQLite json_extract",
    }
    for case in results["read"]["cases"]:
        rows.append(
            (
                f"{case['case']} ({results['read']['events']:,} events, warm)",
                f"{case['eventkit_s']:.3f} s (first call {case['eventkit_cold_s']:.2f} s)",
                f"{baselines[case['case']]} {case['baseline_s']:.3f} s",
                f"{case['ratio']:.1f}x",
                f">= {case['target']}x",
            )
        )
    search = results["search"]
    for case in search["cases"]:
        rows.append(
            (
                f"search {case['query']} ({case['kind']}, {case['hits']:,} hits; "
                f"{search['events']:,} events, warm)",
                f"{case['eventkit_s'] * 1e3:.1f} ms",
                f"DuckDB ILIKE {case['baseline_s'] * 1e3:.1f} ms",
                f"{case['ratio']:.1f}x",
                f">= {search['target']}x" if case["kind"] == "selective" else "",
            )
        )
    for case in results["import"]["cases"]:
        rows.append(
            (
                f"{case['case']} ({case['megabytes']:.0f} MB, {case['files']:,} files)",
                f"{case['eventkit_mb_per_s']:.1f} MB/s, peak RSS {case['peak_rss_mib']:,.0f} MiB",
                f"json.loads only {case['baseline_mb_per_s']:.0f} MB/s",
                f"{case['ratio']:.2f}x",
                f">= {case['target_mb_per_s']} MB/s",
            )
        )
    for case in results["generate"]["cases"]:
        rows.append(
            (
                f"synth.generate ({case['events']:,} events)",
                f"{case['generate_events_per_s']:,.0f} ev/s",
                f"generate_log, projections off {case['generate_log_events_per_s']:,.0f} ev/s",
                f"{case['share_of_build']:.2f} of the build",
                "",
            )
        )
    return rows


def _machine() -> str:
    """CPU model, memory, OS and the library versions the figures depend on."""
    import sqlite3

    import duckdb
    import pandas
    import pyarrow

    cpu = platform.processor() or platform.machine()
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    return (
        f"{cpu} ({platform.machine()}, {os.cpu_count()} CPU(s){memory}), "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, DuckDB {duckdb.__version__}, "
        f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}"
    )


def _markdown(results: dict[str, dict[str, Any]], elapsed: float) -> str:
    lines = [
        "# eventkit benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}; "
        f"one run, {elapsed / 60:.1f} minutes. Ratios compare eventkit with its baseline in "
        "the same run (> 1 means eventkit is faster).",
        "",
        "| operation | eventkit | baseline | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    lines += [
        "",
        "## Scaling",
        "",
        "| events | step | seconds | s per M events | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for row in results["scale"]["rows"]:
        for step in bench_scale.STEPS:
            lines.append(
                f"| {row['events']:,} | {step} | {row[step]:.2f} | "
                f"{row[step] / row['events'] * 1e6:.2f} | {row['peak_rss_mib']:,.0f} MiB |"
            )
    lines += ["", "Cost per event relative to the smallest size (1.00x = linear):", ""]
    for step, growth in results["scale"]["growth_per_event"].items():
        lines.append(f"- {step}: " + ", ".join(f"{g:.2f}x" for g in growth))
    read = results["read"]
    lines.append(
        f"\nRead benchmark: the first connection to the uncached log (extension, views, "
        f"columnar cache build) took {read['first_connection_s']:.2f} s; the table's "
        f"'warm' figures come after it. Peak memory {read['peak_rss_mib']:,.0f} MiB "
        "(the pandas.read_sql baseline's)."
    )
    search = results["search"]
    lines.append(
        f"\nSearch benchmark: the index of {search['events']:,} events "
        f"({search['texts_mb']:.0f} MB of text, an index of {search['index_mib']:.0f} MiB) "
        "was built cold in "
        f"{search['build_s']:.1f} s; {search['incremental_events']:,} appended events were "
        f"added to it in {search['incremental_s']:.2f} s."
    )
    lines += bench_export.markdown(results["export"])
    return "\n".join(lines) + "\n"


def main() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    start = time.perf_counter()
    results = {
        "append": bench_append.run(),
        "replay": bench_replay.run(),
        "read": bench_read.run(),
        "search": bench_search.run(),
        "import": bench_import.run(),
        "generate": bench_generate.run(),
        "scale": bench_scale.run(),
        "export": bench_export.run(),
    }
    text = _markdown(results, time.perf_counter() - start)
    RESULTS.write_text(text)
    print()
    print(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
