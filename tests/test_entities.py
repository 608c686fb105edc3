"""The entity declarations: the migration's DDL matches them, and every target follows them.

``migrations/001_initial.sql`` is written by hand and immutable, so it is the
independent check on :mod:`eventkit.catalog.entities`; everything else (projection
tables' SQL, frames, views, datasets, Spark schemas) is generated from the
declarations and must list the columns in the same order.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import typing
from contextlib import closing
from pathlib import Path

import duckdb
import pytest
from randomlog import random_events

import eventkit as ek
from eventkit.catalog.entities import (
    DUCKDB_TYPES,
    ENTITIES,
    ENTITY_BY_NAME,
    SQLITE_TYPES,
    Entity,
    EntityColumn,
)
from eventkit.catalog.events import EVENT_CLASSES, OrchestrationEvent
from eventkit.read import frames

BOOKKEEPING_TABLES = {"events", "projection_state", "schema_migrations", "log_info"}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EVENTKIT_CACHE", raising=False)


@pytest.fixture(scope="module")
def migrated() -> sqlite3.Connection:
    """An in-memory database with the package's migrations applied by the store's code."""
    conn = sqlite3.connect(":memory:")
    ek.run_migrations(conn)
    yield conn
    conn.close()


# ------------------------------------------------------------------ the DDL


def table_info(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, bool, int]]:
    """``(name, declared type, not null, primary-key position)`` per column, in table order."""
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return [(name, kind, bool(notnull), pk) for _, name, kind, notnull, _, pk in rows]


def test_every_entity_table_of_the_migrations_is_declared(migrated) -> None:
    tables = {
        name
        for (name,) in migrated.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    assert tables - BOOKKEEPING_TABLES == {entity.table for entity in ENTITIES}


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_the_ddl_has_the_declared_columns_types_and_key(migrated, entity: Entity) -> None:
    info = table_info(migrated, entity.table)
    assert [name for name, *_ in info] == list(entity.column_names)
    for (name, kind, notnull, pk), column in zip(info, entity.columns, strict=True):
        assert kind == SQLITE_TYPES[column.type], (entity.table, name)
        if name == entity.key:
            assert pk == 1, (entity.table, name)
        else:
            assert pk == 0, (entity.table, name)
            assert notnull == (not column.nullable), (entity.table, name)


def test_declarations_refuse_what_the_tables_cannot_hold() -> None:
    with pytest.raises(ValueError, match="unknown type 'integer'"):
        EntityColumn("n", "integer")
    key = EntityColumn("id", "text", nullable=False)
    with pytest.raises(ValueError, match="key"):
        Entity("x", "x_df", "x", "id", "x", None, (EntityColumn("n", "int"), key))
    with pytest.raises(ValueError, match="twice"):
        Entity("x", "x_df", "x", "id", "x", None, (key, EntityColumn("id", "text")))
    with pytest.raises(ValueError, match="no column thread_id"):
        Entity("x", "x_df", "x", "id", "thread", "thread_id", (key,))


# ------------------------------------------------------------------ every target


@pytest.fixture(scope="module")
def log_and_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """A small random log (every entity present) and its Parquet export."""
    tmp = tmp_path_factory.mktemp("entities")
    log = tmp / "events.db"
    with ek.EventStore.open(log) as store:
        events = random_events(1)
        for start in range(0, len(events), 100):
            store.append_all(events[start : start + 100])
    dataset = tmp / "dataset"
    ek.export_parquet([log], dataset, progress=False)
    return log, dataset


def view_columns(src: Path, view: str) -> list[tuple[str, str]]:
    with closing(ek.connect_duckdb(src)) as con:
        return [(row[0], row[1]) for row in con.sql(f'DESCRIBE "{view}"').fetchall()]


def declared(entity: Entity) -> list[tuple[str, str]]:
    """The columns as DESCRIBE spells them (``TIMESTAMP WITH TIME ZONE``)."""
    return [(c.name, str(duckdb.sqltype(DUCKDB_TYPES[c.type]))) for c in entity.columns]


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_duckdb_views_of_a_log_and_of_a_dataset_list_the_declared_columns(
    log_and_dataset, entity: Entity
) -> None:
    log, dataset = log_and_dataset
    assert view_columns(log, entity.name) == declared(entity)  # over the projection table
    assert view_columns(dataset, entity.name) == declared(entity)  # replayed from Parquet


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_frames_of_a_log_and_of_a_dataset_list_the_declared_columns(
    log_and_dataset, entity: Entity
) -> None:
    for src in log_and_dataset:
        frame = getattr(frames, entity.frame)(src)
        assert not frame.empty, (entity.frame, src)
        assert list(frame.columns) == list(entity.column_names), (entity.frame, src)
        assert getattr(ek, entity.frame) is getattr(frames, entity.frame)


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed")
def test_spark_entity_schemas_list_the_declared_columns() -> None:
    from pyspark.sql.types import LongType, StringType

    from eventkit.scale.spark import ENTITY_TYPES, ENTITY_VIEWS, entity_schema

    replayed = [name for name in ENTITY_VIEWS if name in ENTITY_BY_NAME]
    assert replayed == ["threads", "turns", "tool_calls"]
    for name in replayed:
        entity = ENTITY_BY_NAME[name]
        fields = [(f.name, f.dataType) for f in entity_schema(name).fields]
        want = [(c.name, ENTITY_TYPES[c.type]) for c in entity.columns]
        assert fields == [*want, ("source_log", StringType()), ("created_sequence", LongType())]
    with pytest.raises(ValueError, match="no Spark entity view 'messages'"):
        entity_schema("messages")


# ------------------------------------------------------------------ streams and events


def test_every_entity_row_lives_in_a_stream_of_the_log(log_and_dataset) -> None:
    log, _ = log_and_dataset
    with closing(sqlite3.connect(log)) as conn:
        conn.row_factory = sqlite3.Row
        streams = {row[0] for row in conn.execute("SELECT DISTINCT stream_id FROM events")}
        for entity in ENTITIES:
            rows = conn.execute(f"SELECT * FROM {entity.table}").fetchall()
            assert rows, entity.table
            missing = {entity.stream_id(dict(row)) for row in rows} - streams
            assert not missing, (entity.name, sorted(missing)[:3])


def test_the_event_union_is_the_one_list_of_event_classes() -> None:
    annotated, *metadata = typing.get_args(OrchestrationEvent)
    assert typing.get_args(annotated) == EVENT_CLASSES
    assert metadata[0].discriminator == "type"


def test_columns_a_later_migration_adds_come_at_the_end_of_their_entity() -> None:
    from eventkit.log.migrations import known_migrations, split_statements

    with closing(sqlite3.connect(":memory:")) as initial:
        for statement in split_statements(known_migrations()[0].sql):
            initial.execute(statement)
        for entity in ENTITIES:
            names = [name for name, *_ in table_info(initial, entity.table)]
            if not names:  # a table a later migration creates (model calls: 002)
                assert entity.table == "projection_model_calls"
                continue
            assert list(entity.column_names[: len(names)]) == names, entity.table
