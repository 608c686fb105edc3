"""What a command prints: rows, sections of rows, or a report; for people, JSON or CSV.

A handler returns a :class:`Result`; :func:`emit` prints it the one way every command
shares. Three shapes, declared per command:

- ``rows`` (a :class:`Table`): a table; ``--json`` a JSON array of objects (``[]`` when
  there are no rows); ``--csv`` a header line, always, then one line per row.
- ``sections`` (:class:`Sections`, several named tables): one JSON object of arrays;
  CSV blocks, one per section, each with a header whose first column is ``section``,
  separated by a blank line; ``--section NAME`` prints that section alone as ``rows``.
- ``record`` (:class:`Record`, a report such as an import's): one JSON object; CSV a
  header and one line, lists and objects in a cell as JSON text.

Figures are not rounded for programs. For people one formatter rounds every float
(:func:`format_number`); timestamps print in the log's form everywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import IO, Any

OUTPUT_SHAPES = ("rows", "sections", "record")
FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Table:
    """Rows under named columns."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = ()

    @classmethod
    def of_frame(cls, frame: Any) -> Table:
        """The rows of a pandas DataFrame, missing values as None."""
        rows = tuple(
            tuple(plain(value) for value in row)
            for row in frame.astype(object).itertuples(index=False, name=None)
        )
        return cls(tuple(str(c) for c in frame.columns), rows)

    @classmethod
    def of_records(cls, columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> Table:
        return cls(tuple(columns), tuple(tuple(plain(r.get(c)) for c in columns) for r in records))

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def select(self, columns: Sequence[str] | None) -> Table:
        """The same rows with only ``columns`` (all when None), in that order."""
        if not columns:
            return self
        where = [self.columns.index(c) for c in columns]
        return Table(tuple(columns), tuple(tuple(row[i] for i in where) for row in self.rows))


@dataclass(frozen=True)
class Sections:
    """Named tables printed together (a multi-section command)."""

    tables: Mapping[str, Table]


@dataclass(frozen=True)
class Record:
    """One report: field names to values (values may be lists or objects)."""

    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Result:
    """What a handler returns: the data, an optional view for people, the exit status."""

    data: Table | Sections | Record
    text: str | None = None
    """What people see instead of the data's tables (None: the tables)."""
    code: int = 0

    @property
    def shape(self) -> str:
        return {Table: "rows", Sections: "sections", Record: "record"}[type(self.data)]


@dataclass(frozen=True)
class Options:
    """The shared output options of a command line."""

    format: str = "table"
    section: str | None = None
    people_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Per table (``rows`` for a one-table command), the columns people see."""


def emit(result: Result, options: Options, out: IO[str]) -> None:
    """Print ``result`` in the format ``options`` asks for."""
    data = result.data
    if options.section is not None:
        if not isinstance(data, Sections):
            raise ValueError("--section applies to a command that prints sections")
        data = data.tables[options.section]
    elif options.format == "table" and result.text is not None:
        out.write(result.text.rstrip("\n") + "\n")
        return
    if options.format == "json":
        out.write(json.dumps(_json_document(data), default=str) + "\n")
    elif options.format == "csv":
        _write_csv(data, out)
    else:
        out.write(_for_people(data, options) + "\n")


# --------------------------------------------------------------------------- values


def plain(value: Any) -> Any:
    """A value as JSON and CSV hold it: None for missing, Python scalars, text for times."""
    if value is None or _is_missing(value):
        return None
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # a numpy scalar
        value = value.item()
        if isinstance(value, dt.datetime):
            return format_time(value)
    if isinstance(value, Decimal):  # DuckDB's DECIMAL: a number in JSON, not text
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _is_missing(value: Any) -> bool:
    # pd.NA and pd.NaT without importing pandas for commands that never load it
    return type(value).__name__ in {"NAType", "NaTType"}


def format_time(value: dt.datetime) -> str:
    """The log's own form for an aware time (``…T09:00:00.000000Z``); ISO otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.isoformat()
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_number(value: float) -> str:
    """A float for people: whole from 1,000 up, else at most three decimals (tiny: 1.2e-05)."""
    if abs(value) >= 1000:
        return f"{value:.0f}"
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2e}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _cell_for_people(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format_number(float(value))
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value).replace("\n", "\\n")


def _cell_for_csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return value


# --------------------------------------------------------------------------- formats


def _json_document(data: Table | Sections | Record) -> Any:
    if isinstance(data, Table):
        return data.records()
    if isinstance(data, Sections):
        return {name: table.records() for name, table in data.tables.items()}
    return plain(dict(data.fields))


def _write_csv(data: Table | Sections | Record, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(data, Record):
        data = Table(tuple(data.fields), (tuple(plain(v) for v in data.fields.values()),))
    if isinstance(data, Table):
        writer.writerow(data.columns)
        writer.writerows([_cell_for_csv(v) for v in row] for row in data.rows)
        return
    for number, (name, table) in enumerate(data.tables.items()):
        if number:
            out.write("\n")
        writer.writerow(("section", *table.columns))
        writer.writerows([name, *(_cell_for_csv(v) for v in row)] for row in table.rows)


def _for_people(data: Table | Sections | Record, options: Options) -> str:
    if isinstance(data, Table):
        name = options.section or "rows"
        return format_table(data.select(options.people_columns.get(name)))
    if isinstance(data, Record):
        width = max((len(k) for k in data.fields), default=0)
        return "\n".join(
            f"{k.ljust(width)}  {_cell_for_people(plain(v))}" for k, v in data.fields.items()
        )
    blocks = [
        f"== {name}\n{format_table(table.select(options.people_columns.get(name)))}"
        for name, table in data.tables.items()
    ]
    return "\n\n".join(blocks)


def format_table(table: Table) -> str:
    """Columns aligned for a terminal: numbers to the right, a rule under the header."""
    cells = [[_cell_for_people(v) for v in row] for row in table.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(table.columns)]
    numeric = [
        bool(table.rows) and all(_is_number(row[i]) or row[i] is None for row in table.rows)
        for i in range(len(table.columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table.columns), rule, *(line(r) for r in cells)])


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)
