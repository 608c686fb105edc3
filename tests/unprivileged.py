"""Child processes run as an unprivileged user, over this environment's packages.

Root reads and writes whatever the permissions say, so the tests of read-only logs run
their child as ``nobody`` when they run as root. That user must be able to run a Python
of this version and read every package it imports, the DuckDB sqlite extension file
included. Neither is given: CI clones into a folder only root can read (``mktemp -d``,
mode 0700), which holds the venv and the editable ``eventkit``, and the venv's
interpreter may live under ``/root``. So when ``nobody`` cannot use this environment as
it is, the child gets a copy of it in a world-readable temporary folder: the
site-packages (hard links where the file system allows) plus the ``eventkit`` source and
migrations, run by an interpreter of the same version that ``nobody`` can execute.
Every such test skips with the same reason (``SKIP_REASON``) when none can be found.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
SITE = sysconfig.get_path("purelib")
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SKIP_REASON = f"no Python {VERSION} that user {{user}} can run over eventkit's packages here"

# Run a script or ``-c`` code after adding one site directory (processing its .pth files):
# ``python -I -S -B -c BOOT SITE (-c CODE | SCRIPT) ARGS...``; the code sees sys.argv[1:] = ARGS.
BOOT = """\
import runpy, site, sys
site.addsitedir(sys.argv[1])
if sys.argv[2] == "-c":
    code, sys.argv = sys.argv[3], ["-c", *sys.argv[4:]]
    exec(compile(code, "<child>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""

# What the probe does is what the tests' children do: import the read side, migrate a
# log, and attach it in DuckDB (which loads the sqlite extension file).
PROBE = """\
import eventkit as ek
store = ek.EventStore(ek.open_or_create_db(":memory:"))
assert ek.sql(store, "SELECT count(*) AS n FROM events").n.iloc[0] == 0
import pyarrow, pandas
"""


def child_user() -> int | None:
    """The user a read-only test's child runs as: ``nobody`` for root, else ourselves."""
    return NOBODY if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _drop_to(user: int | None) -> Callable[[], None] | None:
    if user is None:
        return None

    def drop() -> None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)

    return drop


@dataclass(frozen=True)
class Child:
    """How to start a Python process as ``user`` (None: as ourselves) with eventkit."""

    python: str
    site: str
    user: int | None

    def command(self, *args: str | os.PathLike[str]) -> list[str]:
        """``command("-c", code, *argv)`` or ``command(script, *argv)``."""
        return [self.python, "-I", "-S", "-B", "-c", BOOT, self.site, *map(str, args)]

    def run(self, *args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("cwd", "/")
        return subprocess.run(
            self.command(*args),
            preexec_fn=_drop_to(self.user),
            capture_output=True,
            text=True,
            **kwargs,
        )


def _interpreters() -> list[str]:
    candidates = [sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{VERSION}"]
    candidates.append(shutil.which(f"python{VERSION}") or "")
    return list(dict.fromkeys(c for c in candidates if c))


def _first_that_runs(site: str, user: int | None, tried: list[str]) -> Child | None:
    for python in _interpreters():
        child = Child(python, site, user)
        try:
            result = child.run("-c", PROBE, timeout=300)
        except OSError as exc:  # e.g. the interpreter sits where the user cannot go
            tried.append(f"{python}: {exc.strerror}")
            continue
        except subprocess.TimeoutExpired:
            tried.append(f"{python}: no answer in 300 s")
            continue
        if result.returncode == 0:
            return child
        tried.append(f"{python}: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links refused: a real copy
        shutil.copy2(src, dst)


def _world_readable_site() -> str:
    """A copy of this environment's packages, eventkit included, that anyone can read."""
    base = Path(tempfile.mkdtemp(prefix="eventkit-site-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    base.chmod(0o755)
    site = base / "site-packages"
    site.mkdir()
    # __pycache__ comes along (links and copy2 keep the mtimes its .pyc files are checked
    # against): compiling every package afresh would cost the child half a minute.
    for entry in Path(SITE).iterdir():
        if entry.name == "eventkit" or (
            entry.suffix == ".pth" and str(ROOT) in entry.read_text(errors="replace")
        ):
            continue  # the editable install points into the unreadable checkout
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(site / entry.name))
    shutil.copytree(ROOT / "eventkit", site / "eventkit")
    shutil.copytree(ROOT / "migrations", site / "eventkit" / "migrations")
    for path in [base, *base.rglob("*")]:
        if path.is_dir() and not path.is_symlink():  # files: linked ones share the originals' mode
            path.chmod(0o755)
    return str(site)


@functools.cache
def _find(user: int | None) -> Child | str:
    if user is not None and not hasattr(os, "setuid"):
        return f"{SKIP_REASON.format(user=user)} (no setuid on this system)"
    tried: list[str] = []
    child = _first_that_runs(SITE, user, tried)
    if child is None and user is not None:
        child = _first_that_runs(_world_readable_site(), user, tried)
    return child or f"{SKIP_REASON.format(user=user)} ({'; '.join(tried)})"


def child_python(user: int | None) -> Child:
    """A way to run eventkit as ``user``; skips (with ``SKIP_REASON``) if there is none."""
    found = _find(user)
    if isinstance(found, str):
        pytest.skip(found)
    return found
