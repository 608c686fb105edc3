"""The entities: one declaration each, the only schema of the entity tables and frames.

An :class:`Entity` names its frame (``turns_df``), its view (``turns``, in DuckDB and
Spark), its projection table, its key, its stream and its ordered, typed columns.
The projection tables' columns and SQL, the frames' final column lists and dtypes,
the dataset views and the Spark schemas are generated from these; the two replays
(the projections in SQLite, the frames in DuckDB) keep their logic written apart.
``migrations/001_initial.sql`` is immutable, so its column order is the canonical one
(a test checks the DDL against these declarations); later columns come in new
migrations, at the end of their entity, and are declared here at the same time
(marked with the migration's number).

Column types are logical (:data:`LOGICAL_TYPES`); :data:`SQLITE_TYPES`,
:data:`DUCKDB_TYPES` and :data:`PANDAS_DTYPES` map them to those targets; Spark's map
(``ENTITY_TYPES``) is in :mod:`eventkit.scale.spark`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

LOGICAL_TYPES = ("text", "category", "json", "int", "float", "bool", "timestamp")
"""``category``: low-cardinality text (a pandas categorical); ``json``: JSON text."""

SQLITE_TYPES: dict[str, str] = {
    "text": "TEXT",
    "category": "TEXT",
    "json": "TEXT",
    "timestamp": "TEXT",  # YYYY-MM-DDTHH:MM:SS.ffffffZ, sortable as text
    "int": "INTEGER",
    "bool": "INTEGER",
    "float": "REAL",
}
"""Logical type -> the column type of the projection table's DDL."""

DUCKDB_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "category": "VARCHAR",
    "json": "VARCHAR",  # JSON text as the payload spells it
    "timestamp": "TIMESTAMPTZ",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "float": "DOUBLE",
}
"""Logical type -> DuckDB type of the frames' and views' columns."""

PANDAS_DTYPES: dict[str, str] = {
    "text": "string",
    "category": "category",
    "json": "string",
    "timestamp": "datetime64[us, UTC]",
    "int": "Int64",
    "bool": "boolean",
    "float": "Float64",
}
"""Logical type -> the dtype of an entity frame's column."""


@dataclass(frozen=True)
class EntityColumn:
    """One column of an entity: its name, logical type and whether it may be null."""

    name: str
    type: str
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.type not in LOGICAL_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True, eq=False)  # hashed by identity: entities are dict keys on hot paths
class Entity:
    """One entity: where it lives in each target and its columns in canonical order."""

    name: str
    """The view in DuckDB and Spark (``turns``)."""
    frame: str
    """The pandas function (``turns_df``)."""
    table: str
    """The projection table of the log (``projection_turns``)."""
    key: str
    """The primary key: one row per value."""
    stream: str
    """The kind of stream the entity's events are in (``project``, ``thread``, ``settings``)."""
    stream_field: str | None
    """The column naming the entity's stream (``thread:<thread_id>``); None for a singleton."""
    columns: tuple[EntityColumn, ...]

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"entity {self.name}: a column is declared twice")
        if names[0] != self.key or self.columns[0].nullable:
            raise ValueError(
                f"entity {self.name}: the key {self.key} must be a first non-null column"
            )
        if self.stream_field is not None and self.stream_field not in names:
            raise ValueError(f"entity {self.name}: no column {self.stream_field} for its stream")

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def of_type(self, *types: str) -> tuple[str, ...]:
        """The names of the columns of the given logical types, in column order."""
        return tuple(c.name for c in self.columns if c.type in types)

    def stream_id(self, row: dict[str, object]) -> str:
        """The stream of an entity row: ``thread:T1``, or ``settings``."""
        if self.stream_field is None:
            return self.stream
        return f"{self.stream}:{row[self.stream_field]}"

    def select(
        self,
        rows: str,
        *,
        keep: Sequence[str] = (),
        types: Mapping[str, str] = DUCKDB_TYPES,
        quote: str = '"',
    ) -> str:
        """A query over ``rows`` (a query or a table) with the entity's columns.

        The columns come in declared order, each cast to its type in ``types`` (DuckDB's
        by default; ``quote`` quotes identifiers); ``keep`` columns (ordering, provenance)
        follow as ``rows`` has them. Only the shape is made here: what the values are is
        ``rows``' business.
        """

        def ident(name: str) -> str:
            return quote + name.replace(quote, quote * 2) + quote

        listed = [
            f"CAST({ident(c.name)} AS {types[c.type]}) AS {ident(c.name)}" for c in self.columns
        ]
        listed += [ident(name) for name in keep]
        return f"SELECT {', '.join(listed)} FROM ({rows}) AS _rows"


def _columns(spec: str, not_null: str = "") -> tuple[EntityColumn, ...]:
    """Columns from ``"name:type …"``: the first (the key) and ``not_null`` ones are non-null."""
    required = set(not_null.split())
    pairs = [item.split(":") for item in spec.split()]
    return tuple(
        EntityColumn(name, kind, nullable=i > 0 and name not in required)
        for i, (name, kind) in enumerate(pairs)
    )


PROJECTS = Entity(
    name="projects",
    frame="projects_df",
    table="projection_projects",
    key="project_id",
    stream="project",
    stream_field="project_id",
    columns=_columns(
        "project_id:text name:text path:text "
        "created_at:timestamp updated_at:timestamp deleted_at:timestamp"
    ),
)
THREADS = Entity(
    name="threads",
    frame="threads_df",
    table="projection_threads",
    key="thread_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(
        "thread_id:text project_id:text parent_thread_id:text title:text "
        "provider:category model:category status:category "
        "created_at:timestamp updated_at:timestamp archived_at:timestamp deleted_at:timestamp "
        "turn_count:int message_count:int "
        "parent_tool_call_id:text",  # 002
        not_null="status turn_count message_count",
    ),
)
TURNS = Entity(
    name="turns",
    frame="turns_df",
    table="projection_turns",
    key="turn_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(
        "turn_id:text thread_id:text model:category status:category "
        "started_at:timestamp completed_at:timestamp duration_ms:float "
        "input_tokens:int output_tokens:int cache_read_tokens:int cache_write_tokens:int "
        "reasoning_tokens:int cost_usd:float cost_source:category "
        "tool_calls:int tool_errors:int error:text "
        "last_activity_at:timestamp model_calls:int",  # 002
        not_null="thread_id status tool_calls tool_errors model_calls",
    ),
)
MESSAGES = Entity(
    name="messages",
    frame="messages_df",
    table="projection_messages",
    key="message_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(
        "message_id:text thread_id:text turn_id:text role:category text:text "
        "created_at:timestamp updated_at:timestamp delta_count:int",
        not_null="thread_id delta_count",
    ),
)
TOOL_CALLS = Entity(
    name="tool_calls",
    frame="tool_calls_df",
    table="projection_tool_calls",
    key="tool_call_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(
        "tool_call_id:text thread_id:text turn_id:text tool:category tool_category:category "
        "input:json status:category output:text started_at:timestamp completed_at:timestamp "
        "duration_ms:float approval_decision:category approval_wait_ms:float",
        not_null="thread_id status",
    ),
)
CHECKPOINTS = Entity(
    name="checkpoints",
    frame="checkpoints_df",
    table="checkpoints",
    key="checkpoint_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(
        "checkpoint_id:text thread_id:text turn_id:text git_ref:text message:text "
        "files_changed:int additions:int deletions:int "
        "created_at:timestamp restored_at:timestamp",
        not_null="thread_id",
    ),
)
MODEL_CALLS = Entity(
    name="model_calls",
    frame="model_calls_df",
    table="projection_model_calls",
    key="model_call_id",
    stream="thread",
    stream_field="thread_id",
    columns=_columns(  # 002
        "model_call_id:text thread_id:text turn_id:text model:category "
        "requested_at:timestamp completed_at:timestamp duration_ms:float "
        "input_tokens:int output_tokens:int cache_read_tokens:int cache_write_tokens:int "
        "reasoning_tokens:int cost_usd:float cost_source:category stop_reason:category "
        "revision:int",
        not_null="thread_id input_tokens output_tokens cache_read_tokens cache_write_tokens "
        "reasoning_tokens revision",
    ),
)
SETTINGS = Entity(
    name="settings",
    frame="settings_df",
    table="settings",
    key="key",
    stream="settings",
    stream_field=None,
    columns=_columns("key:text value:json updated_at:timestamp"),
)

ENTITIES: tuple[Entity, ...] = (
    PROJECTS,
    THREADS,
    TURNS,
    MESSAGES,
    TOOL_CALLS,
    CHECKPOINTS,
    SETTINGS,
    MODEL_CALLS,
)
"""Every entity, in the order of the migrations' tables."""

ENTITY_BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}
"""View name (``turns``) -> entity."""

__all__ = [
    "CHECKPOINTS",
    "DUCKDB_TYPES",
    "ENTITIES",
    "ENTITY_BY_NAME",
    "LOGICAL_TYPES",
    "MESSAGES",
    "MODEL_CALLS",
    "PANDAS_DTYPES",
    "PROJECTS",
    "SETTINGS",
    "SQLITE_TYPES",
    "THREADS",
    "TOOL_CALLS",
    "TURNS",
    "Entity",
    "EntityColumn",
]
