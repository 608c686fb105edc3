"""Wall-clock timing shared by the benchmarks: one call, or the median of several."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` took, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median of ``repeat`` timed calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        elapsed, result = time_call(fn)
        times.append(elapsed)
    return statistics.median(times), result
