"""Query results as pandas: fetched through Arrow, with nullable dtypes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from eventkit.errors import map_driver_error

PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int64Dtype(),
    pa.int16(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.Int64Dtype(),
    pa.uint16(): pd.Int64Dtype(),
    pa.uint32(): pd.Int64Dtype(),
    pa.float32(): pd.Float64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.string_view(): pd.StringDtype(),
}


def arrow_to_pandas(table: pa.Table, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """A DataFrame of nullable dtypes: Int64, Float64, boolean, string, datetime64[us, UTC].

    Columns named in ``categorical`` become pandas categoricals with sorted categories.
    """
    for name in categorical:
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).dictionary_encode())
    frame = table.to_pandas(types_mapper=PANDAS_TYPES.get)
    for name in categorical:
        if name in frame.columns:
            column = frame[name]
            frame[name] = column.cat.reorder_categories(sorted(column.cat.categories))
    return frame


def fetch(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    categorical: Sequence[str] = (),
    context: str = "querying the log",
) -> pd.DataFrame:
    """Run ``query`` and return its result through Arrow (see :func:`arrow_to_pandas`)."""
    try:
        relation = con.sql(query, params=params)
        table = relation.to_arrow_table() if relation is not None else pa.table({})
    except (duckdb.Error, RuntimeError) as exc:
        raise map_driver_error(exc, context) from exc
    return arrow_to_pandas(table, categorical)


__all__ = ["PANDAS_TYPES", "arrow_to_pandas", "fetch"]
