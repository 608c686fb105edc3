"""Column specs of each event type, generated from the catalog's pydantic models.

One implementation for every columnar reader: the DuckDB typed views use these
specs now, and a Parquet export can use the same ones. A spec is an ordered tuple
of :class:`Column` — name, DuckDB type, JSON path into the payload — with nested
models flattened as ``<field>_<subfield>`` (``usage_input_tokens``) and ``Optional``
unwrapped into a nullable column. Nobody writes a per-type table by hand.

``type`` and ``at`` are not payload columns: they are the envelope's ``event_type``
and ``occurred_at`` (the store derives both from them).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pydantic import BaseModel, JsonValue

from eventkit.catalog.events import EVENT_CLASSES, Event

ENVELOPE_FIELDS = ("type", "at")
"""Model fields carried by the envelope (``event_type``, ``occurred_at``), not by columns."""


@dataclass(frozen=True)
class Column:
    """One column of a typed view: where it lives in the payload and its DuckDB type."""

    name: str
    duckdb_type: str
    json_path: str
    nullable: bool = False


EVENTS_COLUMNS: tuple[Column, ...] = (
    Column("sequence", "BIGINT", ""),
    Column("event_id", "VARCHAR", ""),
    Column("event_type", "VARCHAR", ""),
    Column("stream_id", "VARCHAR", ""),
    Column("stream_version", "BIGINT", ""),
    Column("occurred_at", "TIMESTAMPTZ", ""),
    Column("recorded_at", "TIMESTAMPTZ", ""),
    Column("schema_version", "BIGINT", ""),
    Column("payload", "VARCHAR", ""),
    Column("metadata", "VARCHAR", "", nullable=True),
)
"""The ``events`` table's columns, as the read side types them."""

TYPED_ENVELOPE: tuple[Column, ...] = tuple(
    c
    for c in EVENTS_COLUMNS
    if c.name in ("sequence", "event_id", "stream_id", "stream_version", "occurred_at")
)
"""Envelope columns that lead every typed view."""


def view_name(event_type: str) -> str:
    """The snake_case view of an event type: ``TurnCompleted`` -> ``turn_completed``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", event_type).lower()


def _unwrap_optional(annotation: object) -> tuple[object, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(annotation)):
            return args[0], True
    return annotation, False


def _strip_annotated(annotation: object) -> object:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _scalar_type(annotation: object, where: str) -> str:
    if annotation is JsonValue:
        return "JSON"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        if all(isinstance(v, str) for v in typing.get_args(annotation)):
            return "VARCHAR"
        raise TypeError(f"{where}: only string literals are supported")
    if origin in (dict, list):
        return "JSON"
    mapped = {
        str: "VARCHAR",
        int: "BIGINT",
        float: "DOUBLE",
        bool: "BOOLEAN",
        datetime: "TIMESTAMPTZ",
    }
    if annotation in mapped:
        return mapped[annotation]
    raise TypeError(f"{where}: no DuckDB type for {annotation!r}")


def _model_columns(model: type[BaseModel], prefix: str, path: str, nullable: bool) -> list[Column]:
    found: list[Column] = []
    for name, field in model.model_fields.items():
        if not prefix and name in ENVELOPE_FIELDS:
            continue
        annotation, optional = _unwrap_optional(_strip_annotated(field.annotation))
        annotation = _strip_annotated(annotation)
        column, json_path = f"{prefix}{name}", f"{path}.{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _model_columns(annotation, f"{column}_", json_path, nullable or optional)
        else:
            where = f"{model.__name__}.{name}"
            found.append(
                Column(column, _scalar_type(annotation, where), json_path, nullable or optional)
            )
    return found


@cache
def columns_of(event_class: type[Event]) -> tuple[Column, ...]:
    """The payload columns of one event class, in model field order."""
    return tuple(_model_columns(event_class, "", "$", False))


def typed_columns(event_class: type[Event]) -> tuple[Column, ...]:
    """Every column of the class's typed view: the envelope, then the payload columns."""
    return TYPED_ENVELOPE + columns_of(event_class)


EVENT_COLUMNS: dict[str, tuple[Column, ...]] = {
    cls.event_type(): columns_of(cls) for cls in EVENT_CLASSES
}
"""``event_type`` -> payload columns, for every catalog event."""

__all__ = [
    "ENVELOPE_FIELDS",
    "EVENTS_COLUMNS",
    "EVENT_COLUMNS",
    "TYPED_ENVELOPE",
    "Column",
    "columns_of",
    "typed_columns",
    "view_name",
]
