"""The chunk store: immutable Parquet chunks listed by an atomically replaced manifest.

Both columnar caches are chunk stores: a log's (:mod:`eventkit.read.cache`) and a
dataset's compacted copy (:mod:`eventkit.read.datasets`). A store is a directory::

    DIR/manifest.json        {"format", "spec", <owner's identity>, "chunks": [...], ...}
    DIR/.lock                one writer at a time (flock)
    DIR/<chunk>/<kind>.parquet, <kind>-0001.parquet, …

A chunk is written into ``.building-<name>`` and renamed into place, then listed by
a new manifest (written with :func:`write_json_atomic`): readers never see part of
one. Each chunk records what it covers (its ``extent``, the owner's business) and
its files by *kind* (``events`` or an event type). More than :data:`MAX_CHUNKS`
chunks are merged into one. A chunk no longer listed is removed once no connection
can still be reading it (:data:`ORPHAN_GRACE_S`). A manifest written by another
format or another column spec is ignored: the cache is rebuilt, the source stays
the truth.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from eventkit.catalog.columns import EVENTS_COLUMNS, typed_columns, view_name
from eventkit.catalog.events import EVENT_CLASSES, EVENT_TYPES
from eventkit.read.engine import quote_literal

CACHE_MIN_EVENTS = 50_000
"""With ``cache=None`` (automatic), a source is cached once this many events are past the cache."""

MAX_CHUNKS = 8
"""More chunks than this are merged into one."""

ORPHAN_GRACE_S = 3600.0
"""A replaced chunk stays this long for connections still reading it."""

CHUNK_FORMAT = 3


def cache_root() -> Path | None:
    """Where caches live: ``$EVENTKIT_CACHE_DIR``, else the user cache dir; None if disabled."""
    if os.environ.get("EVENTKIT_CACHE", "").lower() in ("0", "off", "false", "no"):
        return None
    explicit = os.environ.get("EVENTKIT_CACHE_DIR")
    if explicit is not None:
        return Path(explicit) if explicit else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "eventkit"


def spec_digest() -> str:
    """A digest of the cached columns: a catalog change makes old chunks unusable."""
    spec = [EVENTS_COLUMNS, *((c.event_type(), typed_columns(c)) for c in EVENT_CLASSES)]
    return hashlib.sha256(repr((CHUNK_FORMAT, spec)).encode()).hexdigest()[:16]


def kind_file(kind: str, number: int = 0) -> str:
    """A chunk's file name for a kind: ``events``, a typed view's name, or a digest."""
    if kind in EVENT_TYPES:
        stem = view_name(kind)
    elif kind == "events":
        stem = kind
    else:  # an event type of a newer eventkit: any text, so not a file name
        stem = f"unknown-{hashlib.sha256(kind.encode()).hexdigest()[:12]}"
    return f"{stem}.parquet" if number == 0 else f"{stem}-{number:04d}.parquet"


def write_json_atomic(path: Path, data: Any, *, durable: bool = False) -> None:
    """Replace ``path`` with ``data`` as JSON, all at once: readers see the old or the new.

    ``durable`` (a dataset's manifest, the record of what it holds): everything
    written before is flushed to disk first, and the rename itself too, so a crash
    never leaves a manifest listing a file that is not there.
    """
    if durable and hasattr(os, "sync"):
        os.sync()  # the files it lists first
    tmp = path.with_name(f".manifest-{os.getpid()}.tmp")  # hidden: never taken for data
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@dataclass
class Chunk:
    name: str
    extent: dict[str, Any]  # what the chunk covers, as its owner records it
    files: dict[str, list[str]]  # kind -> file names in the chunk, in order


@dataclass(frozen=True)
class Copy:
    """One file of a chunk being written: ``COPY (query) TO <chunk>/<file>``."""

    kind: str
    file: str
    query: str
    params: Sequence[Any] | None = None


@dataclass
class Manifest:
    chunks: list[Chunk] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # more the owner records

    def files(self, directory: Path, kind: str) -> list[str]:
        """Every chunk's files of ``kind``, in chunk order."""
        return [str(directory / c.name / f) for c in self.chunks for f in c.files.get(kind, ())]

    def kinds(self) -> list[str]:
        return sorted({kind for chunk in self.chunks for kind in chunk.files})


class ChunkStore:
    """The chunks in ``directory`` of one owner (``identity``: what its manifest must match)."""

    def __init__(self, directory: Path, identity: dict[str, Any]):
        self.directory = directory
        self.identity = {"format": CHUNK_FORMAT, "spec": spec_digest(), **identity}

    def exists(self) -> bool:
        return self.directory.is_dir()

    @contextlib.contextmanager
    def locked(self, *, wait: bool) -> Iterator[bool]:
        """Hold the store's lock (made if needed); yields False when busy and not ``wait``."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / ".lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def load(self) -> Manifest:
        """The manifest, if it is this owner's and its chunks are there; else an empty one."""
        try:
            data = json.loads((self.directory / "manifest.json").read_text())
            if any(data.get(key) != value for key, value in self.identity.items()):
                return Manifest()
            chunks = [Chunk(c["name"], dict(c["extent"]), dict(c["files"])) for c in data["chunks"]]
            notes = dict(data.get("notes") or {})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return Manifest()
        if not all((self.directory / chunk.name).is_dir() for chunk in chunks):
            return Manifest()
        return Manifest(chunks, notes)

    def write_chunk(
        self,
        con: duckdb.DuckDBPyConnection,
        copies: Sequence[Copy],
        extent: dict[str, Any],
        *,
        workers: int = 1,
    ) -> Chunk:
        """Write one immutable chunk; files that would hold no rows are left out.

        ``workers`` > 1 runs the copies on cursors of ``con`` in parallel (each read on
        its own core); the rows of each copy keep their query's order.
        """
        name = f"chunk-{os.urandom(4).hex()}"
        building = self.directory / f".building-{name}"
        building.mkdir()
        try:

            def write(copy: Copy) -> Copy | None:
                target = building / copy.file
                with contextlib.closing(con.cursor()) as cursor:
                    (rows,) = cursor.execute(
                        f"COPY ({copy.query}) TO {quote_literal(str(target))} "
                        "(FORMAT parquet, COMPRESSION zstd)",
                        copy.params,
                    ).fetchone()
                if rows:
                    return copy
                target.unlink()
                return None

            if workers > 1:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    written = list(pool.map(write, copies))
            else:
                written = [write(copy) for copy in copies]
            files: dict[str, list[str]] = {}
            for copy in written:
                if copy is not None:
                    files.setdefault(copy.kind, []).append(copy.file)
            building.rename(self.directory / name)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return Chunk(name, extent, files)

    def merge(
        self,
        con: duckdb.DuckDBPyConnection,
        manifest: Manifest,
        extent: dict[str, Any],
        *,
        workers: int = 1,
    ) -> Chunk:
        """One chunk holding every chunk's rows (a file per kind), covering ``extent``."""
        copies = [
            Copy(
                kind,
                kind_file(kind),
                "SELECT * FROM read_parquet(?, union_by_name = true)",
                [manifest.files(self.directory, kind)],
            )
            for kind in manifest.kinds()
        ]
        return self.write_chunk(con, copies, extent, workers=workers)

    def save(self, manifest: Manifest) -> None:
        """List ``manifest``'s chunks (atomically); chunks no longer listed go after a while."""
        data = {
            **self.identity,
            "chunks": [chunk.__dict__ for chunk in manifest.chunks],
            "notes": manifest.notes,
        }
        write_json_atomic(self.directory / "manifest.json", data)
        keep = {chunk.name for chunk in manifest.chunks}
        now = time.time()
        for entry in self.directory.iterdir():
            if entry.is_dir() and entry.name not in keep:
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > ORPHAN_GRACE_S:
                        shutil.rmtree(entry)


__all__ = [
    "CACHE_MIN_EVENTS",
    "CHUNK_FORMAT",
    "MAX_CHUNKS",
    "ORPHAN_GRACE_S",
    "Chunk",
    "ChunkStore",
    "Copy",
    "Manifest",
    "cache_root",
    "kind_file",
    "spec_digest",
    "write_json_atomic",
]
