"""The columnar cache built in the background, so that no read waits for it.

A reader over a large log that has no cache yet (or one far behind the log) reads the
log live and, once its first query is done, asks for the cache here: a daemon thread,
at a lower CPU priority, opens the log on its own DuckDB connection and writes the
chunks (:func:`~eventkit.read.cache.refresh_cache`), one event type at a time. Readers
take the new cache on their next query. One build per log at a time in a process;
at exit a build still running is interrupted (its chunk is never half-written: the
chunk store renames whole files into place).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from eventkit.read.cache import LogCache, refresh_cache
from eventkit.read.source import attach, open_found

BACKGROUND_NICENESS = 10
"""How much lower the build thread's CPU priority is than the reader's (Linux)."""

_BUILDS: dict[Path, _Build] = {}
_LOCK = threading.Lock()


class _Build:
    def __init__(self, path: Path, done: Callable[[LogCache | None], None]):
        self.path = path
        self.done = done
        self.con: duckdb.DuckDBPyConnection | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name=f"eventkit cache {path.name}")
        self.thread.daemon = True

    def _run(self) -> None:
        cache = None
        try:
            _lower_priority()
            log = open_found(self.path)
            if log.tempdir is None and not self.cancelled:
                self.con = attach(log)
                cache = refresh_cache(self.con, log, None, workers=1)
        except Exception:  # the cache only ever makes reading faster: never fail a read
            cache = None
        finally:
            if self.con is not None:
                with contextlib.suppress(duckdb.Error):
                    self.con.close()
            with _LOCK:
                _BUILDS.pop(self.path, None)
        if not self.cancelled:
            self.done(cache)

    def cancel(self) -> None:
        self.cancelled = True
        if self.con is not None:
            with contextlib.suppress(duckdb.Error, RuntimeError):
                self.con.interrupt()


def _lower_priority() -> None:
    """This thread (and the DuckDB threads it starts) yield the CPU to the reader's."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


def build_in_background(path: Path, done: Callable[[LogCache | None], None]) -> None:
    """Start building the cache of the log at ``path``; ``done(cache)`` runs when it is."""
    with _LOCK:
        if path in _BUILDS:
            return
        build = _BUILDS[path] = _Build(path, done)
    build.thread.start()


def wait_for_cache(timeout: float | None = None) -> bool:
    """Wait for the builds running in this process; True when none is left."""
    with _LOCK:
        threads = [build.thread for build in _BUILDS.values()]
    for thread in threads:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in threads)


@atexit.register
def _cancel_builds() -> None:
    with _LOCK:
        builds = list(_BUILDS.values())
    for build in builds:
        build.cancel()
    for build in builds:
        build.thread.join(5)


__all__ = ["BACKGROUND_NICENESS", "build_in_background", "wait_for_cache"]
