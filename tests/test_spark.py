"""The Spark read side equals the DuckDB/pandas one on the same logs.

Each log is exported with ``export_parquet``; Spark reads the dataset and its counts,
schemas, entity views and metrics are compared with the log's own read side. One
local SparkSession serves the whole run.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from randomlog import model_call_cases, random_events
from usagerule import key_of, totals, usage_rows

import eventkit as ek
from eventkit.catalog.entities import ENTITY_BY_NAME

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed"
    ),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java; none on PATH"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

ENTITIES = {
    name: ENTITY_BY_NAME[name].key for name in ("turns", "threads", "tool_calls", "model_calls")
}
"""Entity view -> its key; the frame is ``<view>_df``."""

# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def spark():
    from eventkit.scale.spark import spark_session

    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """The DuckDB side never touches the user's cache directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENTKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def build_log(path: Path, events: list[ek.Event]) -> Path:
    with ek.EventStore.open(path) as store:
        for start in range(0, len(events), 50):
            store.append_all(events[start : start + 50])
    return path


def log_id(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT value FROM log_info WHERE key = 'log_id'").fetchone()[0]


def export(logs: list[Path], out: Path) -> Path:
    ek.export_parquet(logs, out, progress=False)
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    """A generated log and its dataset; the log is what the pandas side reads."""
    tmp = tmp_path_factory.mktemp("generated")
    log = tmp / "events.db"
    ek.generate_log(log, events=1_000, seed=11, progress=False)
    return log, export([log], tmp / "dataset")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the sample log (generated sessions and imported real logs), its dataset."""
    from build_sample import SAMPLE_LOG

    tmp = tmp_path_factory.mktemp("sample")
    log = tmp / "sample.db"
    with closing(sqlite3.connect(SAMPLE_LOG)) as src, closing(sqlite3.connect(log)) as dst:
        src.backup(dst)
    return log, export([log], tmp / "dataset")


@pytest.fixture(scope="module")
def irregular(tmp_path_factory) -> tuple[Path, Path]:
    """A randomized log with every irregular case the replay rules cover, and its dataset."""
    tmp = tmp_path_factory.mktemp("irregular")
    log = build_log(tmp / "events.db", random_events(5))
    return log, export([log], tmp / "dataset")


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> tuple[Path, Path]:
    """Each model-call case once: restatements, calls before or without a turn, partial cost."""
    tmp = tmp_path_factory.mktemp("cases")
    log = build_log(tmp / "events.db", model_call_cases())
    return log, export([log], tmp / "dataset")


@pytest.fixture(scope="module")
def two_logs(tmp_path_factory) -> tuple[Path, Path]:
    """One randomized history split over two logs, in one dataset; DuckDB reads the dataset.

    The first half goes to the log whose log_id sorts first, so entities created in one
    log are updated by the other: the dataset replays as one log.
    """
    tmp = tmp_path_factory.mktemp("two_logs")
    logs = sorted((build_log(tmp / f"{name}.db", []) for name in "ab"), key=log_id)
    events = random_events(6)
    half = len(events) // 2
    build_log(logs[0], events[:half])
    build_log(logs[1], events[half:])
    dataset = export(logs, tmp / "dataset")
    return dataset, dataset


@pytest.fixture
def src_and_dataset(request) -> tuple[Path, Path]:
    return request.getfixturevalue(request.param)


def with_logs(*names: str):
    return pytest.mark.parametrize("src_and_dataset", names, indirect=True)


# ------------------------------------------------------------------ helpers


def log_counts(log: Path) -> dict[str, int]:
    with closing(sqlite3.connect(log)) as conn:
        return dict(conn.execute("SELECT event_type, count(*) FROM events GROUP BY 1"))


def comparable(frame: pd.DataFrame, key: str, like: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s columns of ``like``, sorted by key, categoricals as ``string``."""
    out = frame[list(like.columns)].copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype("string")
    return out.sort_values(key, kind="stable").reset_index(drop=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame, key: str, obj: str) -> None:
    """Equal frames: exact for ids, text, ints and timestamps; floats within 1e-9 relative."""
    pd.testing.assert_frame_equal(
        comparable(got, key, like=want),
        comparable(want, key, like=want),
        check_exact=False,
        rtol=1e-9,
        atol=0,
        obj=obj,
    )


# ------------------------------------------------------------------ tests


@with_logs("generated", "sample")
def test_counts_per_event_type_equal_the_log(spark, src_and_dataset) -> None:
    from eventkit.catalog.columns import view_name
    from eventkit.scale.spark import read_events, register_views

    log, dataset = src_and_dataset
    expected = log_counts(log)
    rows = read_events(spark, dataset).groupBy("event_type").count().collect()
    assert {r["event_type"]: r["count"] for r in rows} == expected
    register_views(spark, dataset)
    typed = " UNION ALL ".join(
        f"SELECT '{t}' AS event_type, count(*) AS n FROM {view_name(t)}" for t in ek.EVENT_TYPES
    )
    got = {r["event_type"]: r["n"] for r in spark.sql(typed).collect() if r["n"]}
    assert got == expected


def test_generated_schemas_equal_what_spark_reads_from_the_files(spark, sample) -> None:
    from eventkit.scale.spark import event_schema, events_schema, read_events

    log, dataset = sample
    root = f"{dataset}/events"
    present = log_counts(log)
    assert len(present) >= 15
    for event_type in present:
        inferred = spark.read.option("basePath", root).parquet(f"{root}/event_type={event_type}")
        schema = event_schema(event_type)
        got = [(f.name, f.dataType) for f in inferred.schema.fields]
        assert got == [(f.name, f.dataType) for f in schema.fields], event_type
        assert read_events(spark, dataset, event_type).schema == schema
    # The all-events schema: the files' leading columns and the partitions, which come last.
    envelope = [(f.name, f.dataType) for f in events_schema().fields]
    files = [(f.name, f.dataType) for f in inferred.schema.fields]
    assert envelope == files[: len(envelope) - 2] + files[-2:]
    assert read_events(spark, dataset).schema == events_schema()


@with_logs("generated", "sample", "irregular", "two_logs", "cases")
def test_entity_views_equal_entity_frames(spark, src_and_dataset) -> None:
    from eventkit.scale.spark import entity_schema, register_views, to_pandas

    src, dataset = src_and_dataset
    register_views(spark, dataset)
    for view, key in ENTITIES.items():
        frame = getattr(ek, f"{view}_df")(src)
        assert len(frame) >= (0 if view == "tool_calls" else 2), view  # cases: no tools
        table = spark.table(view)
        # The generated schema (the declared columns; tests/test_entities.py) is what
        # the view gives; Spark's nullability is its own inference.
        fields = [(f.name, f.dataType) for f in table.schema.fields]
        assert fields == [(f.name, f.dataType) for f in entity_schema(view).fields], view
        got = to_pandas(table)
        assert list(got.columns) == [*frame.columns, "source_log", "created_sequence"]
        assert_same(got, frame, key, view)


@with_logs("generated", "sample", "cases")
def test_spark_metrics_equal_pandas_metrics(spark, src_and_dataset) -> None:
    from eventkit.scale.spark import core_metrics, to_pandas

    src, dataset = src_and_dataset
    metrics = core_metrics(spark, dataset)  # registers the views too
    turns = ek.turn_metrics(src)
    assert_same(to_pandas(spark.table("turn_metrics")), turns, "turn_id", "turn_metrics")

    by_model = to_pandas(metrics["by_model"])
    expected = ek.model_breakdown(src)
    assert list(by_model.columns) == list(expected.columns)
    keys = list(zip(by_model.provider, by_model.model, strict=True))
    assert keys == list(zip(expected.provider, expected.model, strict=True))
    assert_same(by_model, expected, ["provider", "model"], "by_model")
    # Percentiles interpolate linearly, as pandas' quantile does.
    turns = turns.astype({"provider": str, "model": str})
    for row in by_model.itertuples():
        group = turns[(turns.provider == row.provider) & (turns.model == row.model)]
        if row.turns == 0:  # a model only calls count for
            assert group.empty and pd.isna(row.latency_p50_ms)
            continue
        latency = group.latency_ms.dropna().astype(float)
        for q, got in ((0.5, row.latency_p50_ms), (0.95, row.latency_p95_ms)):
            assert pd.isna(got) if latency.empty else got == pytest.approx(latency.quantile(q))

    calls = ek.tool_calls_df(src).astype({"tool_category": str})
    errors = calls.status.eq("error").groupby(calls.tool_category)
    want = pd.DataFrame(
        {
            "tool_category": pd.array(errors.sum().index, dtype="string"),
            "tool_calls": pd.array(errors.size().to_numpy(), dtype="Int64"),
            "tool_errors": pd.array(errors.sum().to_numpy(), dtype="Int64"),
        }
    )
    want["tool_error_rate"] = (want.tool_errors / want.tool_calls).astype("Float64")
    got = to_pandas(metrics["by_tool_category"])
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=0)

    by_day = to_pandas(metrics["usage_by_day"])
    expected = ek.usage_totals(src, by=("day", "model"))
    assert list(by_day.columns) == list(expected.columns)
    assert_same(by_day, expected, ["day", "model"], "usage_by_day")


def events_of(src: Path) -> list[ek.Event]:
    """The events a log or dataset replays, in replay order."""
    return [ek.parse_event(payload) for payload in ek.events_df(src).payload]


@with_logs("irregular", "two_logs", "cases")
def test_spark_usage_totals_follow_the_usage_rule(spark, src_and_dataset) -> None:
    from eventkit.scale.spark import model_breakdown, register_views, to_pandas, usage_totals

    src, dataset = src_and_dataset
    register_views(spark, dataset)
    rows = usage_rows(events_of(src))
    for by in (["model"], ["thread_id"], ["day"], ["provider", "model"]):
        want = totals(rows, by)
        got = to_pandas(usage_totals(spark, by=by))
        assert len(got) == len(want), by
        for row in got.to_dict("records"):
            expected = want[tuple(key_of(row[k]) for k in by)]
            for column in ("input_tokens", "output_tokens", "total_tokens", "model_calls"):
                assert row[column] == expected[column], (by, column)
            if expected["cost_usd"] is None:
                assert pd.isna(row["cost_usd"])
            else:
                assert row["cost_usd"] == pytest.approx(expected["cost_usd"], rel=1e-9)
    breakdown = to_pandas(model_breakdown(spark, by="model"))
    want = totals(rows, ["model"])
    for row in breakdown.to_dict("records"):
        expected = want.get((key_of(row["model"]),))
        assert row["total_tokens"] == (expected["total_tokens"] if expected else 0)


def test_only_the_events_the_manifest_lists_are_read(spark, generated, tmp_path) -> None:
    from eventkit.scale.spark import read_events, register_views

    log, original = generated
    dataset = tmp_path / "dataset"
    shutil.copytree(original, dataset)
    manifest_path = dataset / "_eventkit_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (entry,) = manifest["sources"].values()
    cut = entry["last_sequence"] // 2
    entry["last_sequence"] = cut  # as if the files past it came from an export still running
    manifest_path.write_text(json.dumps(manifest))
    with closing(sqlite3.connect(log)) as conn:
        kept = conn.execute("SELECT count(*) FROM events WHERE sequence <= ?", (cut,)).fetchone()
    assert read_events(spark, dataset).count() == kept[0]
    register_views(spark, dataset)
    assert spark.table("turns").count() == len(ek.turns_df(log, as_of=cut))

    with pytest.raises(ek.LogNotFoundError, match="no eventkit dataset"):
        read_events(spark, tmp_path / "missing")
    manifest["format"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ek.UnsupportedSchemaError, match="format 99"):
        register_views(spark, dataset)


def test_paths_are_uris_as_well(spark, generated) -> None:
    from eventkit.scale.spark import _hadoop_text, read_events

    log, dataset = generated
    assert read_events(spark, dataset.as_uri() + "/").count() == sum(log_counts(log).values())
    # What reads the manifest where Spark's file sources skip it (before Spark 4.3).
    manifest = dataset / "_eventkit_manifest.json"
    assert _hadoop_text(spark, manifest.as_uri()) == manifest.read_text()


def test_an_unknown_schema_version_fails_the_typed_read(spark, generated, tmp_path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from eventkit.scale.spark import read_events

    dataset = tmp_path / "dataset"
    shutil.copytree(generated[1], dataset)
    first = sorted((dataset / "events" / "event_type=TurnStarted").rglob("*.parquet"))[0]
    table = pq.read_table(first)
    index = table.schema.get_field_index("schema_version")
    newer = pc.add(table.column(index), 1)
    pq.write_table(table.set_column(index, "schema_version", newer), first)
    assert read_events(spark, dataset).where("event_type = 'TurnStarted'").count() > 0
    with pytest.raises(Exception, match="unsupported schema_version.*upgrade eventkit"):
        read_events(spark, dataset, "TurnStarted").collect()


def test_unknown_event_types_and_breakdown_keys_are_refused(spark) -> None:
    from eventkit.scale.spark import event_schema, model_breakdown

    with pytest.raises(ValueError, match="unknown event type 'Nope'"):
        event_schema("Nope")
    with pytest.raises(ValueError, match="by must name"):
        model_breakdown(spark, by="text")


def test_importing_eventkit_does_not_import_pyspark() -> None:
    code = "import sys, eventkit; eventkit.turns_df; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
