"""One Spark pass: read the lake, rebuild every model with Spark, fit growth models on the
(small) signup rollup, and publish a snapshot with the same tables, manifest and atomic
switch as the DuckDB engine (etl/publish.py's writers)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from etl.config import Settings
from etl.fits import fit_all
from etl.publish import (
    build_manifest,
    extra_or_empty,
    prune_snapshots,
    snapshot_id,
    switch_current,
    unique_id,
    write_folder,
)
from etl.refresh import model_sql
from etl.spark.lake import RUNS
from etl.spark.models import SparkModels, conform, path_exists
from etl.spark.session import is_local, require_spark, spark_session

ENGINE = "spark"


def run_spark_pass(
    settings: Settings,
    now: datetime,
    master: str = "local[2]",
    *,
    lake: Path | str,
    session: Any = None,
) -> Path:
    """Rebuild every snapshot table from the lake with Spark (full rebuild; Spark has no
    incremental path) and publish it; returns the new snapshot's folder. `session` reuses
    a running SparkSession (then `master` is ignored and the session is left running)."""
    require_spark()
    spark = session if session is not None else spark_session(master)
    try:
        models = SparkModels(spark, settings)
        models.load_raw(lake_uri(lake))
        models.derive()
        models.count()
        tables = models.serve()
        runs = read_runs(spark, lake_uri(lake))
        watermark = models.watermark()
        extra = extra_or_empty(fit_tables(tables["signups"], settings))
        return publish(settings, {**tables, **extra, RUNS: runs}, now, watermark, master)
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
    import duckdb

    from etl.warehouse import migrate

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
    if not path_exists(spark, path):
        return schema.empty_table()
    frame = spark.read.parquet(path).select(*schema.names).orderBy("run_id")
    return conform(frame.toArrow(), schema)


def fit_tables(signups: pa.Table, settings: Settings) -> dict[str, pa.Table]:
    """Growth-model fits on the served signup rollup, as the DuckDB pipeline does."""
    frame = pl.from_arrow(signups)
    assert isinstance(frame, pl.DataFrame)
    fits, forecasts = fit_all(frame, settings.milestones)
    return {"fits": fits, "forecasts": forecasts}


def publish(
    settings: Settings,
    tables: dict[str, pa.Table],
    now: datetime,
    watermark: datetime | None,
    master: str,
) -> Path:
    """publish.publish_snapshot's steps without a DuckDB connection. The run id is the
    newest run in the exported ledger (the ingest the lake reflects), 0 without one."""
    runs = tables[RUNS]
    run_id = int(pa.compute.max(runs["run_id"]).as_py() or 0) if runs.num_rows else 0
    serving = settings.serving
    serving.mkdir(parents=True, exist_ok=True)
    snapshot = unique_id(serving, snapshot_id(now, run_id))
    manifest = build_manifest(
        settings, snapshot=snapshot, run_id=run_id, now=now, watermark=watermark, tables=tables
    )
    manifest["engine"] = ENGINE
    manifest["spark_master"] = master if is_local(master) else "cluster"
    staged = serving / f".tmp-{snapshot}"
    write_folder(staged, tables, manifest)
    os.replace(staged, serving / snapshot)
    switch_current(serving, snapshot)
    prune_snapshots(settings.serving, settings.keep_snapshots, live=snapshot)
    return serving / snapshot
