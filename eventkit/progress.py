"""Progress bars: on in a terminal, quiet in notebooks, CI and under TQDM_DISABLE."""

from __future__ import annotations

import os
from typing import Any


def progress_bar(*, total: int | None, desc: str, unit: str = "it", enabled: bool | None = None):
    """A tqdm bar; ``enabled=None`` shows it only when stderr is a terminal."""
    from tqdm import tqdm

    disable: bool | None
    if os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false"):
        disable = True
    elif enabled is None:
        disable = None  # tqdm: off when not a tty
    else:
        disable = not enabled
    kwargs: dict[str, Any] = {"total": total, "desc": desc, "unit": unit, "disable": disable}
    return tqdm(**kwargs)
