"""What a log offers to query: its DuckDB views and their columns, read through ``sql``."""

from __future__ import annotations

import pandas as pd

from eventkit.read.readers import sql

__all__ = ["list_views"]

# The views connect_duckdb creates live in the in-memory database's main schema;
# the attached log (catalog ``log``) is left out: it is read through them.
_VIEWS_QUERY = """
SELECT table_name AS "view", column_name AS "column", data_type AS "type"
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main'
ORDER BY table_name, ordinal_position
"""


def list_views(src: object) -> pd.DataFrame:
    """One row per column of every view over ``src``: ``view``, ``column``, ``type``.

    ``src`` as for :func:`~eventkit.connect_duckdb`. Rows are ordered by view name,
    then by the column's position in its view.
    """
    return sql(src, _VIEWS_QUERY)
