"""The Spark read side: a Parquet dataset of eventkit logs as DataFrames and SQL views.

Needs the ``spark`` extra (``pip install 'eventkit[spark]'``) and Java 17+; importing
eventkit never imports pyspark. The same code runs in a local session
(:func:`spark_session`) and on a cluster, where the dataset path is an object-store
URI (``s3a://bucket/dataset``); paths are handed to Spark as text, never to pathlib.

The dataset is what :func:`eventkit.export_parquet` writes (layout in
``eventkit/scale/export.py``): ``events/event_type=<type>/date=<day>/part-….parquet`` and the
manifest, which says which events it holds; Spark reads those only, as DuckDB does.
Spark schemas are generated from the catalog (:mod:`eventkit.catalog.columns`).
:func:`register_views` creates the temp views ``events``, one per event type
(``turn_completed``…), ``tool_categories``, the entities ``threads``, ``turns``,
``tool_calls`` and ``model_calls``, replayed with Spark SQL by the rules of
``docs/semantics.md`` as :mod:`eventkit.read.frames` replays them in DuckDB (several logs
replay as one, in ``(source_log, sequence)`` order), and ``turn_metrics`` and
``usage_rows``. Usage totals run the SQL of :mod:`eventkit.read.metrics` itself
(:func:`~eventkit.read.metrics.usage_rows_sql`): one usage rule for DuckDB and Spark.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyspark.errors import AnalysisException
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from eventkit.catalog import entities
from eventkit.catalog.columns import Column, columns_of, view_name
from eventkit.catalog.entities import DUCKDB_TYPES, ENTITY_BY_NAME, Entity
from eventkit.catalog.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    THREAD_STREAM_FIELD,
    TURN_ACTIVITY_FIELD,
)
from eventkit.catalog.tool_categories import TOOL_CATEGORIES
from eventkit.errors import LogNotFoundError, NotAnEventLogError, UnsupportedSchemaError
from eventkit.read.datasets import DATASET_ENVELOPE, DATASET_FORMAT, DATASET_MANIFEST
from eventkit.read.metrics import (
    BREAKDOWN_KEYS,
    TOKEN_COLUMNS,
    USAGE_KEYS,
    breakdown_sql,
    usage_rows_sql,
    usage_sums_sql,
)

SPARK_TYPES: dict[str, DataType] = {
    "VARCHAR": StringType(),
    "JSON": StringType(),  # JSON text as the payload spells it
    "BIGINT": LongType(),
    "DOUBLE": DoubleType(),
    "BOOLEAN": BooleanType(),
    "TIMESTAMPTZ": TimestampType(),  # an instant; shown in the session time zone (UTC)
}
"""Column type (:class:`eventkit.catalog.columns.Column`) -> Spark type."""

PARTITIONS: tuple[StructField, ...] = (
    StructField("event_type", StringType()),
    StructField("date", DateType()),
)
"""Hive partitions of ``events/``: the event type and the UTC day of ``occurred_at``."""

ENTITY_VIEWS = ("threads", "turns", "tool_calls", "model_calls", "turn_metrics", "usage_rows")
"""Entity views :func:`register_views` replays from the typed views, and the metric rows."""

ENTITY_TYPES: dict[str, DataType] = {
    kind: SPARK_TYPES[duckdb_type] for kind, duckdb_type in DUCKDB_TYPES.items()
}
"""Logical type of an entity column (:mod:`eventkit.catalog.entities`) -> Spark type."""

_ENTITY_SQL_TYPES = {kind: spark_type.simpleString() for kind, spark_type in ENTITY_TYPES.items()}

_CONF = {"spark.sql.session.timeZone": "UTC"}
_LOCAL_CONF = {  # small data on one machine; a cluster keeps its own defaults
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.pyspark.python": sys.executable,
}

# ------------------------------------------------------------------ sessions and schemas


def spark_session(master: str = "local[2]", app_name: str = "eventkit", **conf: str):
    """A SparkSession in UTC; a ``local`` one with few shuffle partitions and no UI.

    ``conf`` adds or overrides settings: ``spark_session(**{"spark.driver.memory": "4g"})``.
    An active session is returned as it is, with ``conf``'s SQL settings applied.
    """
    local = _LOCAL_CONF if master.startswith("local") else {}
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**_CONF, **local, **conf}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _fields(columns: Sequence[Column]) -> list[StructField]:
    # Spark reads every column of a file source as nullable, whatever the file says.
    return [StructField(c.name, SPARK_TYPES[c.duckdb_type]) for c in columns]


def events_schema() -> StructType:
    """The all-events frame: the dataset's envelope, then ``event_type`` and ``date``."""
    return StructType([*_fields(DATASET_ENVELOPE), *PARTITIONS])


def event_schema(event_type: str) -> StructType:
    """One event type's frame: the envelope, the type's payload columns, then the partitions."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise ValueError(f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    return StructType([*_fields(DATASET_ENVELOPE), *_fields(columns_of(cls)), *PARTITIONS])


def entity_schema(name: str) -> StructType:
    """An entity view's frame (``threads``, ``turns``, ``tool_calls``, ``model_calls``): the
    declared columns in order, then ``source_log`` and ``created_sequence`` (replay order)."""
    entity = ENTITY_BY_NAME.get(name)
    if entity is None or name not in ENTITY_VIEWS:
        known = ", ".join(v for v in ENTITY_VIEWS if v in ENTITY_BY_NAME)
        raise ValueError(f"no Spark entity view {name!r}; known: {known}")
    fields = [StructField(c.name, ENTITY_TYPES[c.type]) for c in entity.columns]
    return StructType([*fields, *_PROVENANCE])


def _catalog_schema() -> StructType:
    """The envelope, every event type's payload columns, then the partitions."""
    fields: dict[str, StructField] = {}
    for cls in EVENT_CLASSES:
        for field in _fields(columns_of(cls)):
            seen = fields.setdefault(field.name, field)
            if seen.dataType != field.dataType:
                raise TypeError(f"column {field.name} has two types in the catalog")
    return StructType([*_fields(DATASET_ENVELOPE), *fields.values(), *PARTITIONS])


def _join(path: str | os.PathLike[str], name: str) -> str:
    """A path or URI inside a dataset, joined as text."""
    return os.fspath(path).rstrip("/") + "/" + name


# ------------------------------------------------------------------ reading


def read_manifest(spark, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dataset's manifest, read through Spark: ``{"format", "sources": {log_id: …}}``.

    Raises :class:`~eventkit.LogNotFoundError` when there is none,
    :class:`~eventkit.NotAnEventLogError` for one that is not a manifest and
    :class:`~eventkit.UnsupportedSchemaError` for a newer format.
    """
    location = _join(path, DATASET_MANIFEST)
    try:
        text = _read_text(spark, location)
    except AnalysisException as exc:
        raise LogNotFoundError(f"no eventkit dataset at {path} (no {DATASET_MANIFEST})") from exc
    try:
        data = json.loads(text)
        version = data["format"]
        for entry in data["sources"].values():
            int(entry["last_sequence"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotAnEventLogError(f"{location} is not an eventkit dataset manifest ({exc})") from exc
    if version != DATASET_FORMAT:
        raise UnsupportedSchemaError(
            f"{path} is a dataset of format {version}; this eventkit reads format "
            f"{DATASET_FORMAT} — upgrade eventkit"
        )
    return data


def _read_text(spark, location: str) -> str:
    """A small file's text. Spark's file sources skip ``_``-prefixed names (the manifest's)."""
    reader = spark.read.option("ignoredPathSegmentRegex", r"^\.")  # Spark 4.3+: list them
    rows = reader.text(location, wholetext=True).collect()
    return rows[0][0] if rows else _hadoop_text(spark, location)


def _hadoop_text(spark, location: str) -> str:
    """A file's text through Hadoop's FileSystem on the driver (a Spark before 4.3)."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    stream = path.getFileSystem(spark._jsc.hadoopConfiguration()).open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def read_events(spark, path: str | os.PathLike[str], event_type: str | None = None) -> DataFrame:
    """The dataset's events (envelope columns), or one event type's rows with its columns.

    Only the events the manifest lists are read (not those of an export still running).
    One event type is read from its partitions only, and an event of a
    ``schema_version`` this eventkit does not know fails the query that reads it.
    Rows come in no particular order: order by ``source_log, sequence``.
    """
    committed = _committed(read_manifest(spark, path))
    if event_type is None:
        return _read(spark, path, events_schema()).where(committed)
    return _typed(_read(spark, path, event_schema(event_type)), event_type, committed)


def _read(spark, path: str | os.PathLike[str], schema: StructType) -> DataFrame:
    root = _join(path, "events")
    return spark.read.schema(schema).option("basePath", root).parquet(root)


def _committed(manifest: dict[str, Any]) -> SparkColumn:
    """True for the events the manifest lists: each log's up to its ``last_sequence``."""
    kept = F.lit(False)
    for source, entry in sorted(manifest["sources"].items()):
        last = int(entry["last_sequence"])
        kept = kept | ((F.col("source_log") == source) & (F.col("sequence") <= last))
    return kept


def _typed(frame: DataFrame, event_type: str, committed: SparkColumn) -> DataFrame:
    """One event type's committed rows and columns, of a frame read with its columns (or more).

    As in the DuckDB views, an unknown ``schema_version`` fails the query (a committed
    event's only: one CASE, so the check runs after the manifest's).
    """
    names = [_ident(name) for name in event_schema(event_type).names]
    version = F.col("schema_version")
    message = F.concat(
        F.lit("eventkit: unsupported schema_version: event "),
        F.col("sequence").cast("string"),
        F.lit(" of log "),
        F.col("source_log"),
        F.lit(" has schema_version "),
        version.cast("string"),
        F.lit(f"; this eventkit reads version {SCHEMA_VERSION} — upgrade eventkit"),
    )
    known = F.when(version != SCHEMA_VERSION, F.raise_error(message)).otherwise(F.lit(True))
    rows = frame.where(F.col("event_type") == event_type)  # prunes the other partitions
    return rows.where(F.when(committed, known).otherwise(F.lit(False))).select(*names)


def register_views(spark, path: str | os.PathLike[str]) -> list[str]:
    """Create the temp views of a dataset (replacing earlier ones); returns their names.

    ``events``; one view per event type, named as in DuckDB (``turn_completed``…);
    ``tool_categories`` (tool, category); and :data:`ENTITY_VIEWS`. The views see the
    events the dataset held when they were registered: register again to see more.
    """
    committed = _committed(read_manifest(spark, path))
    # One read of the whole dataset: one listing of its files, which every view shares.
    every = _read(spark, path, _catalog_schema())
    every.where(committed).select(*events_schema().names).createOrReplaceTempView("events")
    names = ["events"]
    for cls in EVENT_CLASSES:
        name = view_name(cls.event_type())
        _typed(every, cls.event_type(), committed).createOrReplaceTempView(name)
        names.append(name)
    rows = ", ".join(f"({_literal(t)}, {_literal(c)})" for t, c in TOOL_CATEGORIES.items())
    spark.sql(
        "CREATE OR REPLACE TEMP VIEW tool_categories AS "
        f"SELECT * FROM VALUES {rows} AS t(tool, category)"
    )
    names.append("tool_categories")
    for name, query in zip(ENTITY_VIEWS, _ENTITY_SQL, strict=True):
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {query()}")
        names.append(name)
    return names


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ------------------------------------------------------------------ replay SQL
#
# The rules' vocabulary, as in eventkit.read.frames: an entity is *created* by its first
# creation event (children: the first whose thread was created before it); later
# events apply only after it. "Before" is replay order, (source_log, sequence): a
# dataset of several logs replays as one log, the logs in log_id order. Spark has no
# QUALIFY, so "first per key" is a row_number() subquery.

_ORDER = "source_log, sequence"


def _pos(alias: str) -> str:
    """An event's place in replay order, as a comparable value."""
    return f"struct({alias}.source_log, {alias}.sequence)"


def _first(query: str, key: str = "id") -> str:
    """The first row per ``key`` in replay order (with a ``_rn`` column)."""
    return (
        "SELECT * FROM (SELECT q.*, row_number() OVER "
        f"(PARTITION BY q.{key} ORDER BY q.source_log, q.sequence) AS _rn FROM ({query}) q) "
        "WHERE _rn = 1"
    )


def _v(event_type: str) -> str:
    return _ident(view_name(event_type))


_THREADS_CREATED = "threads_created AS ({})".format(_first("SELECT * FROM " + _v("ThreadCreated")))


def _children_created(event_type: str) -> str:
    return _first(
        f"SELECT e.* FROM {_v(event_type)} e JOIN threads_created t "
        f"ON t.id = e.thread_id AND {_pos('t')} < {_pos('e')}"
    )


def _after(event_type: str, created: str, key: str = "id") -> str:
    """Events of a type for a created entity, coming after its creation."""
    return (
        f"SELECT e.* FROM {_v(event_type)} e JOIN {created} c "
        f"ON c.id = e.{key} AND {_pos('c')} < {_pos('e')}"
    )


def _last(value: str) -> str:
    return f"max_by({value}, struct({_ORDER}))"


def _earliest(value: str, alias: str = "") -> str:
    order = ", ".join(f"{alias}.{c.strip()}" for c in _ORDER.split(",")) if alias else _ORDER
    return f"min_by({value}, struct({order}))"


def _ms(end: str, start: str) -> str:
    return f"CAST(unix_micros({end}) - unix_micros({start}) AS DOUBLE) / 1000"


# Where the entity's creating event is: replay order of the rows.
_CREATED_BY = "{0}.source_log, {0}.sequence AS created_sequence"
_PROVENANCE = (StructField("source_log", StringType()), StructField("created_sequence", LongType()))
"""Columns every Spark entity view ends with, after the entity's own."""


def _shaped(entity: Entity, rows: str) -> str:
    """``rows`` as the entity's declared columns and types, then the provenance columns."""
    keep = [f.name for f in _PROVENANCE]
    return entity.select(rows, keep=keep, types=_ENTITY_SQL_TYPES, quote="`")


def _threads_sql() -> str:
    stream = " UNION ALL ".join(
        f"SELECT source_log, {field} AS thread_id, sequence, occurred_at FROM {_v(event_type)}"
        for event_type, field in THREAD_STREAM_FIELD.items()
    )
    return _shaped(
        entities.THREADS,
        f"""
WITH {_THREADS_CREATED},
renamed AS (
    SELECT id, {_last("title")} AS title
    FROM ({_after("ThreadRenamed", "threads_created")}) GROUP BY id),
archived AS (
    SELECT id, {_earliest("occurred_at")} AS archived_at
    FROM ({_after("ThreadArchived", "threads_created")}) GROUP BY id),
deleted AS (
    SELECT id, {_earliest("occurred_at")} AS deleted_at
    FROM ({_after("ThreadDeleted", "threads_created")}) GROUP BY id),
turn_counts AS (
    SELECT thread_id AS id, count(*) AS n
    FROM ({_children_created("TurnStarted")}) GROUP BY thread_id),
message_counts AS (
    SELECT thread_id AS id, count(*) AS n
    FROM ({_children_created("MessageAdded")}) GROUP BY thread_id),
activity AS (
    SELECT s.thread_id AS id, max(s.occurred_at) AS last_at
    FROM ({stream}) s JOIN threads_created c ON c.id = s.thread_id AND {_pos("c")} < {_pos("s")}
    GROUP BY s.thread_id),
first_model AS (
    SELECT m.thread_id AS id, {_earliest("m.model", "m")} AS model
    FROM {_v("ModelCallCompleted")} m
    JOIN threads_created c ON c.id = m.thread_id AND {_pos("c")} < {_pos("m")}
    WHERE m.model <> '' GROUP BY m.thread_id)
SELECT c.id AS thread_id, c.project_id, c.parent_thread_id,
    coalesce(r.title, c.title) AS title, c.provider,
    CASE WHEN c.model = '' THEN coalesce(fm.model, c.model) ELSE c.model END AS model,
    CASE WHEN d.deleted_at IS NOT NULL THEN 'deleted'
         WHEN a.archived_at IS NOT NULL THEN 'archived' ELSE 'active' END AS status,
    c.occurred_at AS created_at,
    greatest(c.occurred_at, coalesce(act.last_at, c.occurred_at)) AS updated_at,
    a.archived_at, d.deleted_at,
    CAST(coalesce(t.n, 0) AS BIGINT) AS turn_count,
    CAST(coalesce(m.n, 0) AS BIGINT) AS message_count,
    c.parent_tool_call_id, {_CREATED_BY.format("c")}
FROM threads_created c
LEFT JOIN renamed r USING (id) LEFT JOIN archived a USING (id)
LEFT JOIN deleted d USING (id) LEFT JOIN turn_counts t USING (id)
LEFT JOIN message_counts m USING (id) LEFT JOIN activity act USING (id)
LEFT JOIN first_model fm USING (id)
""",
    )


_CALLS = f"""calls AS ({_children_created("ToolCallStarted")}),
call_done AS ({_first(_after("ToolCallCompleted", "calls"))})"""

# A model call is created by its first event in a thread that exists by then, and held
# by the event of the greatest (revision, replay position) from that one on.
_HELD = ", ".join(f"h.usage_{t} AS {t}" for t in TOKEN_COLUMNS)
_MODEL_CALLS = f"""call_created AS ({_children_created("ModelCallCompleted")}),
call_held AS (
    SELECT * FROM (
        SELECT e.*, row_number() OVER (PARTITION BY e.id
            ORDER BY e.revision DESC, e.source_log DESC, e.sequence DESC) AS _held
        FROM {_v("ModelCallCompleted")} e
        JOIN call_created c ON c.id = e.id AND {_pos("c")} <= {_pos("e")})
    WHERE _held = 1),
model_calls_held AS (
    SELECT c.id AS model_call_id, c.thread_id, c.turn_id, h.model, h.requested_at,
        h.occurred_at AS completed_at, {_ms("h.occurred_at", "h.requested_at")} AS duration_ms,
        {_HELD}, h.cost_usd, h.cost_source, h.stop_reason, h.revision,
        {_CREATED_BY.format("c")}
    FROM call_created c JOIN call_held h USING (id))"""


def _model_calls_sql() -> str:
    return _shaped(
        entities.MODEL_CALLS,
        f"WITH {_THREADS_CREATED},\n{_MODEL_CALLS}\nSELECT * FROM model_calls_held",
    )


def _turns_sql() -> str:
    named = " UNION ALL ".join(
        f"SELECT source_log, {field} AS turn_id, sequence, occurred_at FROM {_v(event_type)}"
        for event_type, field in TURN_ACTIVITY_FIELD.items()
    )
    # A turn with model calls has their sums; one without, its completion's usage. The
    # cost is added left to right in model_call_id order, as the other replays add it.
    usage = ",\n    ".join(
        f"CASE WHEN u.n > 0 THEN u.{t} ELSE d.usage_{t} END AS {t}" for t in TOKEN_COLUMNS
    )
    sums = ", ".join(f"sum({t}) AS {t}" for t in TOKEN_COLUMNS)
    priced = "CASE WHEN cost_usd IS NOT NULL THEN struct(model_call_id, cost_usd) END"
    fold = "(acc, x) -> CASE WHEN acc IS NULL THEN x.cost_usd ELSE acc + x.cost_usd END"
    return _shaped(
        entities.TURNS,
        f"""
WITH {_THREADS_CREATED},
started AS ({_children_created("TurnStarted")}),
done AS ({_first(_after("TurnCompleted", "started"))}),
{_CALLS},
call_counts AS (
    SELECT c.turn_id AS id, count(*) AS n, count_if(d.status = 'error') AS errors
    FROM calls c LEFT JOIN call_done d USING (id) GROUP BY c.turn_id),
{_MODEL_CALLS},
call_usage AS (
    SELECT turn_id AS id, count(*) AS n, {sums},
        aggregate(array_sort(collect_list({priced})), CAST(NULL AS DOUBLE), {fold})
            AS cost_usd,
        count(cost_usd) AS priced,
        count_if(cost_usd IS NOT NULL AND cost_source = 'estimated') AS estimated,
        count_if(cost_usd IS NOT NULL AND cost_source = 'recorded') AS recorded
    FROM model_calls_held WHERE turn_id IS NOT NULL GROUP BY turn_id),
activity AS (
    SELECT a.turn_id AS id, max(a.occurred_at) AS last_at
    FROM ({named}) a JOIN started s ON s.id = a.turn_id AND {_pos("s")} < {_pos("a")}
    GROUP BY a.turn_id)
SELECT s.id AS turn_id, s.thread_id, s.model,
    coalesce(d.outcome, 'running') AS status,
    s.occurred_at AS started_at, d.occurred_at AS completed_at,
    {_ms("d.occurred_at", "s.occurred_at")} AS duration_ms,
    {usage},
    CASE WHEN u.n > 0 THEN u.cost_usd ELSE d.cost_usd END AS cost_usd,
    CASE WHEN u.n IS NULL THEN d.cost_source
         WHEN u.priced = 0 THEN NULL
         WHEN u.priced < u.n THEN 'partial'
         WHEN u.estimated > 0 THEN 'estimated'
         WHEN u.recorded = u.n THEN 'recorded' END AS cost_source,
    CAST(coalesce(n.n, 0) AS BIGINT) AS tool_calls,
    CAST(coalesce(n.errors, 0) AS BIGINT) AS tool_errors,
    d.error,
    greatest(s.occurred_at, coalesce(act.last_at, s.occurred_at)) AS last_activity_at,
    CAST(coalesce(u.n, 0) AS BIGINT) AS model_calls, {_CREATED_BY.format("s")}
FROM started s LEFT JOIN done d USING (id) LEFT JOIN call_counts n USING (id)
LEFT JOIN call_usage u USING (id) LEFT JOIN activity act USING (id)
""",
    )


def _tool_calls_sql() -> str:
    # tool_category: the exact name first, then case-insensitively, else 'other' — the
    # lookup of eventkit.catalog.tool_categories.tool_category, over its table.
    return _shaped(
        entities.TOOL_CALLS,
        f"""
WITH {_THREADS_CREATED},
{_CALLS},
approvals AS (
    SELECT tool_call_id AS id,
        {_last("decision")} AS decision,
        {_last(_ms("occurred_at", "requested_at"))} AS wait_ms
    FROM ({_after("ApprovalResolved", "calls", key="tool_call_id")})
    GROUP BY tool_call_id),
folded AS (SELECT lower(tool) AS tool, min(category) AS category
           FROM tool_categories GROUP BY lower(tool))
SELECT c.id AS tool_call_id, c.thread_id, c.turn_id, c.tool,
    coalesce(exact.category, folded.category, 'other') AS tool_category,
    c.input, coalesce(d.status, 'running') AS status, d.output,
    c.occurred_at AS started_at, d.occurred_at AS completed_at,
    {_ms("d.occurred_at", "c.occurred_at")} AS duration_ms,
    a.decision AS approval_decision, a.wait_ms AS approval_wait_ms, {_CREATED_BY.format("c")}
FROM calls c LEFT JOIN call_done d USING (id) LEFT JOIN approvals a USING (id)
LEFT JOIN tool_categories exact ON exact.tool = c.tool
LEFT JOIN folded ON folded.tool = lower(c.tool)
""",
    )


def _turn_metrics_sql() -> str:
    # As eventkit.read.metrics.turn_metrics: provider from the thread, model the turn's
    # (when it names one) else the thread's.
    return """
SELECT t.turn_id, t.thread_id, th.project_id, th.provider,
    coalesce(nullif(t.model, ''), th.model) AS model, t.status,
    t.started_at, t.completed_at, t.duration_ms AS latency_ms,
    t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_write_tokens,
    t.reasoning_tokens,
    t.input_tokens + t.cache_read_tokens + t.cache_write_tokens + t.output_tokens AS total_tokens,
    t.cost_usd, t.cost_source, t.model_calls, t.tool_calls, t.tool_errors,
    CASE WHEN t.tool_calls > 0 THEN t.tool_errors / t.tool_calls END AS tool_error_rate,
    t.last_activity_at, t.source_log, t.created_sequence
FROM turns t LEFT JOIN threads th USING (thread_id)
"""


def _usage_rows_sql() -> str:
    # The usage rule of eventkit.read.metrics, over the views registered before it.
    return usage_rows_sql("model_calls", "turns", "threads")


_ENTITY_SQL = (
    _threads_sql,
    _turns_sql,
    _tool_calls_sql,
    _model_calls_sql,
    _turn_metrics_sql,
    _usage_rows_sql,
)

# ------------------------------------------------------------------ metrics


def _keys(by: str | Sequence[str], allowed: Sequence[str]) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in allowed]
    if not keys or unknown or len(set(keys)) != len(keys):
        raise ValueError(f"by must name some of {', '.join(allowed)}; got {by!r}")
    return keys


def model_breakdown(spark, by: str | Sequence[str] = ("provider", "model")) -> DataFrame:
    """:func:`eventkit.model_breakdown` over the registered ``turn_metrics`` and ``usage_rows``.

    Same columns and units: counts, latency p50/p95/p99 (Spark's exact ``percentile``,
    linear interpolation over completed turns) and mean in ms, from the turns; token
    sums, ``model_calls`` and ``cost_usd`` from the usage rows; tool calls, errors and
    their rate. Rows are ordered by ``by`` (nulls last).
    """
    keys = _keys(by, BREAKDOWN_KEYS)
    group = ", ".join(_ident(k) for k in keys)
    turns = f"""
SELECT {group}, turns, completed_turns, error_turns,
    _p[0] AS latency_p50_ms, _p[1] AS latency_p95_ms, _p[2] AS latency_p99_ms,
    latency_mean_ms, tool_calls, tool_errors
FROM (
    SELECT {group},
        count(*) AS turns,
        count_if(status <> 'running') AS completed_turns,
        count_if(status = 'error') AS error_turns,
        percentile(latency_ms, array(0.5, 0.95, 0.99)) AS _p,
        avg(latency_ms) AS latency_mean_ms,
        sum(tool_calls) AS tool_calls,
        sum(tool_errors) AS tool_errors
    FROM turn_metrics
    GROUP BY {group})
"""
    spent = usage_sums_sql("SELECT * FROM usage_rows", keys, quote=_ident)
    return spark.sql(breakdown_sql(turns, spent, keys, quote=_ident))


def usage_totals(spark, by: str | Sequence[str] = "model") -> DataFrame:
    """:func:`eventkit.usage_totals` over the registered ``usage_rows``: the same SQL.

    Tokens, ``model_calls`` and ``cost_usd`` grouped by ``by`` (some of ``provider``,
    ``model``, ``project_id``, ``thread_id``, ``turn_id``, ``status``, ``day``), ordered by
    ``by`` (nulls last).
    """
    keys = _keys(by, USAGE_KEYS)
    order = ", ".join(f"{_ident(k)} ASC NULLS LAST" for k in keys)
    spent = usage_sums_sql("SELECT * FROM usage_rows", keys, quote=_ident)
    return spark.sql(f"SELECT * FROM ({spent}) ORDER BY {order}")


def core_metrics(spark, path: str | os.PathLike[str]) -> dict[str, DataFrame]:
    """The core metrics of a dataset (its views are registered first).

    - ``by_model``: :func:`model_breakdown` by provider and model — latency
      percentiles, tokens, cost and tool error rate, as :func:`eventkit.model_breakdown`;
    - ``by_tool_category``: tool_category, tool_calls (every created call),
      tool_errors (status ``error``) and tool_error_rate, ordered by category;
    - ``usage_by_day``: :func:`usage_totals` by UTC day and model, as
      ``eventkit.usage_totals(dataset, by=("day", "model"))``.
    """
    register_views(spark, path)
    by_category = spark.sql("""
SELECT tool_category, count(*) AS tool_calls, count_if(status = 'error') AS tool_errors,
    count_if(status = 'error') / count(*) AS tool_error_rate
FROM tool_calls GROUP BY tool_category ORDER BY tool_category
""")
    return {
        "by_model": model_breakdown(spark),
        "by_tool_category": by_category,
        "usage_by_day": usage_totals(spark, by=("day", "model")),
    }


# ------------------------------------------------------------------ to pandas

_PANDAS_TYPES = {
    LongType: "Int64",
    IntegerType: "Int64",
    DoubleType: "Float64",
    FloatType: "Float64",
    StringType: "string",
    BooleanType: "boolean",
}


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A small Spark DataFrame collected into pandas with eventkit's dtypes.

    Timestamps become ``datetime64[us, UTC]`` (moved as epoch microseconds, whatever
    the driver's time zone); integers ``Int64``, floats ``Float64``, text ``string``.
    Rows are collected through the driver: for results, not for whole datasets.
    """
    fields = frame.schema.fields
    select = [
        F.unix_micros(F.col(_ident(f.name))).alias(f.name)
        if isinstance(f.dataType, TimestampType)
        else F.col(_ident(f.name))
        for f in fields
    ]
    rows = frame.select(*select).collect()
    columns = {}
    for i, field in enumerate(fields):
        values = [row[i] for row in rows]
        if isinstance(field.dataType, TimestampType):
            micros = pd.Series(values, dtype="Int64")
            columns[field.name] = pd.to_datetime(micros, unit="us", utc=True).astype(
                "datetime64[us, UTC]"
            )
        else:
            dtype = _PANDAS_TYPES.get(type(field.dataType), "object")
            columns[field.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


__all__ = [
    "ENTITY_TYPES",
    "ENTITY_VIEWS",
    "PARTITIONS",
    "SPARK_TYPES",
    "core_metrics",
    "entity_schema",
    "event_schema",
    "events_schema",
    "model_breakdown",
    "read_events",
    "read_manifest",
    "register_views",
    "spark_session",
    "to_pandas",
    "usage_totals",
]
