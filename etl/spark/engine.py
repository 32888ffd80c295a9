"""One Spark pass: read the lake, rebuild every model with Spark, fit growth models on the
(small) signup rollup, and publish a snapshot with the same tables, manifest and atomic
switch as the DuckDB engine (etl/publish.py's writers)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from etl.config import Settings
from etl.fits import fit_all
from etl.publish import publish_tables
from etl.refresh import model_sql
from etl.spark import ENGINE
from etl.spark.lake import RUNS
from etl.spark.models import SparkModels, conform, has_parquet
from etl.spark.session import is_local, require_spark, spark_session
from etl.warehouse import migrate


def run_spark_pass(
    settings: Settings,
    now: datetime,
    master: str = "local[2]",
    *,
    lake: Path | str,
    session: Any = None,
    signup_sources: Mapping[str, str] | None = None,
) -> Path:
    """Rebuild every snapshot table from the lake with Spark (full rebuild; Spark has no
    incremental path) and publish it; returns the new snapshot's folder. `session` (or
    else the process's active SparkSession) is reused, `master` ignored and the session
    left running; otherwise the pass starts a session on `master` and stops it at the end."""
    require_spark()
    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    if session is None:
        session = SparkSession.getActiveSession()
    spark = session if session is not None else spark_session(master)
    try:
        models = SparkModels(spark, settings)
        models.load_raw(lake_uri(lake))
        models.derive()
        models.count()
        tables = models.serve()
        runs = read_runs(spark, lake_uri(lake))
        watermark = models.watermark()
        used = str(spark.sparkContext.master)
        return publish_tables(
            settings,
            newest_run(runs),
            now,
            {**tables, RUNS: runs},
            fit_tables(tables["signups"], settings),
            engine=ENGINE,
            watermark=watermark,
            manifest_extra={"spark_master": used if is_local(used) else "cluster"},
            signup_sources=signup_sources,
        )
    finally:
        if session is None:
            spark.stop()
        else:
            spark.catalog.clearCache()


def lake_uri(lake: Path | str) -> str:
    """Local paths absolute (Spark resolves relative ones against its own working dir);
    URIs such as s3a://bucket/lake as given."""
    text = str(lake)
    return text if "://" in text else str(Path(text).resolve())


def runs_schema() -> pa.Schema:
    con = duckdb.connect(":memory:")
    try:
        migrate(con)
        return con.sql(model_sql("runs")["serve"]).to_arrow_table().schema
    finally:
        con.close()


def read_runs(spark: Any, lake: str) -> pa.Table:
    """The run ledger exported with the lake, or an empty ledger."""
    schema = runs_schema()
    path = f"{lake.rstrip('/')}/{RUNS}"
    if not has_parquet(spark, path):
        return schema.empty_table()
    frame = spark.read.parquet(path).select(*schema.names).orderBy("run_id")
    return conform(frame.toArrow(), schema)


def fit_tables(signups: pa.Table, settings: Settings) -> dict[str, pa.Table]:
    """Growth-model fits on the served signup rollup, as the DuckDB pipeline does."""
    frame = pl.from_arrow(signups)
    assert isinstance(frame, pl.DataFrame)
    fits, forecasts = fit_all(frame, settings.milestones)
    return {"fits": fits, "forecasts": forecasts}


def newest_run(runs: pa.Table) -> int:
    """The snapshot's run id: the newest run in the exported ledger (the ingest the lake
    reflects), 0 without one."""
    newest = pa.compute.max(runs["run_id"]).as_py() if runs.num_rows else None
    return int(newest or 0)
