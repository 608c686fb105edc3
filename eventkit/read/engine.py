"""The DuckDB engine: new connections with the pinned sqlite extension, and SQL quoting."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from eventkit.errors import EventkitError

# Autoinstall/autoload off: a missing extension is an error, never a download.
_NO_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extension_path() -> Path:
    """The sqlite extension shipped by the pinned ``duckdb-extension-sqlite-scanner`` package."""
    try:
        import duckdb_extension_sqlite_scanner as package
    except ImportError as exc:
        raise EventkitError(
            "the DuckDB sqlite extension is missing: install duckdb-extension-sqlite-scanner"
        ) from exc
    version = duckdb.__version__.split("+")[0].split("-")[0]
    path = (
        Path(package.__file__).parent
        / "extensions"
        / f"v{version}"
        / "sqlite_scanner.duckdb_extension"
    )
    if not path.is_file():
        raise EventkitError(
            f"no sqlite extension for DuckDB {version} at {path}: install "
            f"duckdb-extension-sqlite-scanner=={version}"
        )
    return path


def new_duckdb(*, sqlite: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC; ``sqlite``: with the sqlite extension, one thread a query."""
    con = duckdb.connect(config=_NO_DOWNLOADS)
    try:
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursors of the connection too
        if sqlite:
            con.execute(f"LOAD {quote_literal(str(extension_path()))}")
            # The sqlite extension runs every scan of an attached database in a query on
            # one shared SQLite connection; DuckDB running two such scans on two threads
            # at once corrupts it (seen as crashes). One thread per query; concurrent
            # cursors are safe, each transaction having its own SQLite connection.
            con.execute("SET threads = 1")
        quiet(con)
    except BaseException:
        con.close()
        raise
    return con


def quiet(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar (it would reach stderr).

    In Jupyter DuckDB starts with it off and refuses to touch the setting without
    ipywidgets, so only what is on is switched off.
    """
    if con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]:
        con.execute("SET enable_progress_bar = false")


def sqlite_rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    """Rows of an SQLite query on the attached log, on a cursor closed at once.

    A result left pending on a long-lived connection keeps its SQLite read open, and
    other reads of the log in this process then fail with "database disk image is
    malformed" while another process appends (tests/reliability).
    """
    with contextlib.closing(con.cursor()) as cursor:
        probe = f"SELECT * FROM sqlite_query('log', {quote_literal(query)})"
        return cursor.execute(probe).fetchall()


__all__ = ["extension_path", "new_duckdb", "quiet", "quote_ident", "quote_literal", "sqlite_rows"]
