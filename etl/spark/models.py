"""The models on Spark, full rebuild only: the same steps as etl/refresh.py's rebuild_all and
serve_models, each step a section of etl/models/*.sql translated by etl/spark/translate.py.

Spark has no incremental path: every pass reads the whole lake (the DuckDB engine's
user-scoped subtract-and-add refresh relies on stored count tables between runs, which a
Spark pass does not keep). Each intermediate table becomes a cached temporary view of the
session; the serving tables come back as Arrow with the DuckDB m_* tables' exact schema.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import cache, reduce
from typing import Any

import duckdb
import pyarrow as pa

from etl.config import Settings
from etl.refresh import (
    COUNT_TABLES,
    EARLIEST,
    LATEST,
    SERVE_FOLLOW_UP,
    SERVE_PREPARATION,
    SERVING_MODELS,
    WHOLE_HOURS_SQL,
    CountTable,
    model_variables,
    serving_order,
)
from etl.spark.lake import STREAMS
from etl.spark.translate import SparkStatement, parse_section, translate_statement
from etl.warehouse import migrate

log = logging.getLogger(__name__)
# Raw views have every column the model SQL reads; a missing stream is an empty view.
RAW_SCHEMAS = {
    "signups": "platform STRING, user_id STRING, signup_ts TIMESTAMP, channel STRING, "
    "country STRING, person_id STRING, event_id STRING, file_id BIGINT, ukey STRING",
    "events": "platform STRING, user_id STRING, event_ts TIMESTAMP, event_type STRING, "
    "event_id STRING, file_id BIGINT, ukey STRING",
    "deletions": "platform STRING, user_id STRING, deleted_ts TIMESTAMP, event_id STRING, "
    "file_id BIGINT",
}
# Tables the full rebuild starts from empty (read by append_days before they exist).
EMPTY_VIEWS = {
    "user_days": "pid SMALLINT, uid STRING, day DATE, batch BIGINT",
    "platform_ids": "platform STRING, pid SMALLINT",
    "touched": "uid STRING",
    "declared_t0": "platform STRING, t0 TIMESTAMP",
}
# The user key the models group and join on: DuckDB stores a dense integer per user (the user
# dictionary, assigned at ingest); the lake holds user ids only, so Spark keys a user by the
# platform and user id string itself (the same grouping: one key per (platform, user)).
KEYED_STREAMS = ("signups", "events")
# Every raw row is in the one "batch" of a full rebuild: file_id 1, watermarks 0 -> 1.
FULL_BATCH = 1
# Timestamps cross to Python as UTC text: PySpark turns TIMESTAMP values into datetimes of
# the driver's local time zone.
RANGE_SQL = (
    "SELECT CAST(date_trunc('hour', coalesce(least(min(first_signup), min(first_event)),"
    " TIMESTAMP'1970-01-01 00:00:00')) AS STRING) AS range_start,"
    " CAST(coalesce(greatest(max(last_signup), max(last_event)),"
    " TIMESTAMP'1970-01-01 00:00:00') AS STRING) AS range_end FROM c_platform"
)
WATERMARK_SQL = (
    "SELECT CAST(max(greatest(last_signup, last_event)) AS STRING) AS watermark FROM c_platform"
)


@cache
def serving_schemas() -> dict[str, pa.Schema]:
    """The DuckDB serving tables' Arrow schemas (m_<model>), from the migrations."""
    con = duckdb.connect(":memory:")
    try:
        migrate(con)
        return {
            model: con.sql(f"SELECT * FROM m_{model}").to_arrow_table().schema
            for model in SERVING_MODELS
        }
    finally:
        con.close()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Spark's result with the DuckDB table's column names (by position) and types."""
    if table.num_columns != len(schema):
        raise ValueError(f"Spark returned {table.column_names}, expected {schema.names}")
    columns = []
    for column, target in zip(table.columns, schema, strict=True):
        value = column
        if pa.types.is_timestamp(value.type) and value.type.tz is not None:
            # An instant in UTC -> DuckDB's naive UTC TIMESTAMP (same numbers, no zone).
            value = value.cast(pa.timestamp(value.type.unit, tz="UTC")).cast(
                pa.timestamp(value.type.unit)
            )
        columns.append(value.cast(target.type))
    return pa.Table.from_arrays(columns, schema=schema)


def spark_param(value: Any) -> Any:
    """A variable as a Spark parameter: datetimes as UTC text (the SQL casts it; a Python
    datetime would be read in the driver's local zone), lists as array literals."""
    from pyspark.sql import functions as F  # noqa: PLC0415 - optional extra

    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | tuple):
        return F.array(*(F.lit(v) for v in value))
    return value


class SparkModels:
    """One full rebuild in one Spark session: views by name and their column types."""

    def __init__(self, spark: Any, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.variables: dict[str, Any] = model_variables(settings, 0, FULL_BATCH)
        self.schemas: dict[str, dict[str, str]] = {}

    def register(self, name: str, frame: Any) -> Any:
        frame = frame.cache()
        frame.createOrReplaceTempView(name)
        self.schemas[name] = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        return frame

    def run(self, statement: SparkStatement) -> Any:
        args = {name: spark_param(self.variables[name]) for name in statement.params}
        return self.spark.sql(statement.sql, args=args)

    def run_section(self, model: str, section: str) -> Any:
        """Every statement of a section; returns the last query's result without a target."""
        result = None
        started = time.perf_counter()
        for parsed in parse_section(model, section):
            statement = translate_statement(parsed, self.variables, self.schemas)
            if statement is None:
                continue
            frame = self.run(statement)
            if statement.target is None:
                result = frame
            else:
                self.register(statement.target, frame)
        log.info("spark: %s.%s translated in %.2fs", model, section, time.perf_counter() - started)
        return result

    def load_raw(self, lake: str) -> None:
        from pyspark.sql import functions as F  # noqa: PLC0415 - optional extra

        for stream, (ts, columns) in STREAMS.items():
            path = f"{lake.rstrip('/')}/{stream}"
            if has_parquet(self.spark, path):
                frame = self.spark.read.parquet(path).select(
                    F.col("platform").cast("string"),
                    *(F.col(c).cast("timestamp") if c == ts else F.col(c) for c in columns),
                    F.lit(FULL_BATCH).cast("bigint").alias("file_id"),
                )
                if stream in KEYED_STREAMS:
                    key = F.concat(F.col("platform"), F.lit("\x1f"), F.col("user_id"))
                    frame = frame.withColumn("ukey", key)
            else:  # no such stream in the lake (e.g. no account deletions): an empty view
                frame = self.spark.createDataFrame([], RAW_SCHEMAS[stream])
            self.register(stream, frame)
        for name, ddl in EMPTY_VIEWS.items():
            self.register(name, self.spark.createDataFrame([], ddl))
        declared = [(n, p.t0) for n, p in self.settings.platforms.items() if p.t0 is not None]
        if declared:
            rows = [(n, t0.isoformat(sep=" ")) for n, t0 in declared]
            frame = self.spark.createDataFrame(rows, "platform STRING, t0 STRING")
            self.register("declared_t0", frame.select("platform", F.col("t0").cast("timestamp")))

    def derive(self) -> None:
        """platform stats, tz_hours, user_days: refresh.rebuild_all's steps."""
        self.run_section("platforms", "batch_stats")
        # A full rebuild merges the one batch into empty stats: the batch is the result.
        self.spark.table("batch_platform").createOrReplaceTempView("c_platform")
        self.schemas["c_platform"] = self.schemas["batch_platform"]
        self.run_section("platforms", "ids")
        bounds = self.spark.sql(RANGE_SQL).collect()[0]
        self.variables["range_start"] = datetime.fromisoformat(bounds["range_start"])
        self.variables["range_end"] = datetime.fromisoformat(bounds["range_end"])
        self.run_section("calendar", "tz_hours")
        self.variables["whole_hours"] = bool(self.spark.sql(WHOLE_HOURS_SQL).first()["whole"])
        # One span of every event (the DuckDB refresh groups spans of days to stay inside
        # its memory limit; Spark partitions the grouping itself).
        self.variables["span_from"] = EARLIEST
        self.variables["span_to"] = LATEST
        self.run_section("user_activity", "append_days")

    def count(self) -> None:
        """Everyone's contribution to every count table, merged as refresh.merge_counts."""
        self.variables.update({"sign": 1, "scope_wm": FULL_BATCH})
        self.run_section("scope", "everyone")
        self.run_section("scope", "sequence")
        self.run_section("signup_hours", "counts")
        for table in COUNT_TABLES:
            delta = self.run_section(table.model, table.section)
            self.register(table.name, merged(delta, table))

    def serve(self) -> dict[str, pa.Table]:
        """The serving tables, in the order the refresh serves them (later ones read earlier
        ones: etl.refresh.serving_order), keyed by model in SERVING_MODELS order."""
        served = {}
        for model in serving_order():
            log.info("spark: serving %s", model)
            for source, section in SERVE_PREPARATION.get(model, ()):
                self.run_section(source, section)
            schema = serving_schemas()[model]
            frame = self.register(
                f"m_{model}", self.run_section(model, "serve").toDF(*schema.names)
            )
            started = time.perf_counter()
            served[model] = conform(frame.toArrow(), schema)
            log.info("spark: %s computed in %.2fs", model, time.perf_counter() - started)
            for source, section in SERVE_FOLLOW_UP.get(model, ()):
                self.run_section(source, section)
        return {model: served[model] for model in SERVING_MODELS}

    def watermark(self) -> datetime | None:
        value = self.spark.sql(WATERMARK_SQL).first()["watermark"]
        return None if value is None else datetime.fromisoformat(value)


def merged(delta: Any, table: CountTable) -> Any:
    """Sum the contribution by key and drop all-zero rows (a full rebuild merges into empty
    count tables, so this is refresh.merge_counts for that case)."""
    from pyspark.sql import functions as F  # noqa: PLC0415 - optional extra

    sums = delta.groupBy(*table.keys).agg(*(F.sum(v).cast("bigint").alias(v) for v in table.values))
    nonzero = reduce(lambda a, b: a | b, (F.col(v) != 0 for v in table.values))
    return sums.where(nonzero)


def has_parquet(spark: Any, path: str) -> bool:
    """Whether a lake path holds any Parquet file, through Hadoop's file system (local,
    hdfs://, s3a://). A stream with no rows (a dump without account deletions) writes a
    folder with no files, which Spark cannot read a schema from."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        return False
    files = fs.listFiles(hadoop_path, True)
    while files.hasNext():
        if str(files.next().getPath().getName()).endswith(".parquet"):
            return True
    return False
