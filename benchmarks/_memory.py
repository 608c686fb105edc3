"""Peak memory of the current process.

``VmHWM`` (the high-water mark of this process's own address space) rather than
``getrusage``: on Linux a child's ``ru_maxrss`` starts from its parent's size at fork,
so a benchmark run from a large parent would report the parent's peak.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
