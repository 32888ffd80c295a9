"""Publish the serving snapshot: every contract table as Parquet plus a manifest, written
into a hidden folder, renamed into place, then named live by replacing serving/CURRENT.

Called after the run's COMMIT, so a snapshot only ever shows committed data. Readers see
either the old snapshot or the new one, never a half-written folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import Settings
from etl.contract import EXTRA_SCHEMAS
from etl.ingest import recorded_signup_sources
from etl.progress import report
from etl.refresh import model_sql
from etl.snapshot import CONTRACT_TABLES, CURRENT, MODEL_TABLES
from etl.warehouse import scalar

ENGINE = "duckdb"  # the default engine; another one names itself (etl.spark: "spark")
SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z-r\d+(-\d+)?$")


def snapshot_id(now: datetime, run_id: int) -> str:
    """Sortable by time: 20261128T203000Z-r12."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-r{run_id}"


def iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=None).isoformat() + "Z"


def serving_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    """The warehouse's serving tables (small rollups) and the run ledger, as Arrow."""
    tables = {model: con.sql(f"SELECT * FROM m_{model}").to_arrow_table() for model in MODEL_TABLES}
    tables["runs"] = con.sql(model_sql("runs")["serve"]).to_arrow_table()
    return tables


def extra_or_empty(extra_tables: Mapping[str, pa.Table] | None) -> dict[str, pa.Table]:
    given = dict(extra_tables or {})
    return {name: given.get(name, schema.empty_table()) for name, schema in EXTRA_SCHEMAS.items()}


def data_watermark(con: duckdb.DuckDBPyConnection) -> datetime | None:
    value = scalar(con, "SELECT max(greatest(last_signup, last_event)) FROM c_platform")
    return value if isinstance(value, datetime) else None


def build_manifest(
    settings: Settings,
    *,
    snapshot: str,
    run_id: int,
    now: datetime,
    watermark: datetime | None,
    tables: Mapping[str, pa.Table],
    engine: str = ENGINE,
    signup_sources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest; definitions.signups names the platforms whose signups are derived
    from usage (first-seen[:column]); every other platform's come from signup events."""
    signup_sources = {**(signup_sources or {}), **settings.signup_sources()}
    return {
        "id": snapshot,
        "created": iso_utc(now),
        "run_id": run_id,
        "engine": engine,
        "watermark": iso_utc(watermark),
        "row_counts": {name: table.num_rows for name, table in tables.items()},
        "definitions": {**settings.definitions(), "signups": dict(sorted(signup_sources.items()))},
        "colours": {n: p.colour for n, p in settings.platforms.items() if p.colour},
        "labels": {n: p.label for n, p in settings.platforms.items() if p.label},
    }


def write_folder(folder: Path, tables: Mapping[str, pa.Table], manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True)
    for number, (name, table) in enumerate(tables.items(), start=1):
        pq.write_table(table, folder / f"{name}.parquet")
        report("publish", number, len(tables), name)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def switch_current(serving: Path, snapshot: str) -> None:
    """Point CURRENT at `snapshot` atomically (write a temp file, then os.replace)."""
    staged = serving / f"{CURRENT}.tmp"
    with staged.open("w") as handle:
        handle.write(snapshot + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, serving / CURRENT)


def prune_snapshots(serving: Path, keep: int, live: str) -> list[str]:
    """Delete all but the newest `keep` snapshots (never the live one) and leftovers of
    interrupted publishes. Returns the ids deleted."""
    for leftover in serving.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    ids = sorted(p.name for p in serving.iterdir() if p.is_dir() and SNAPSHOT_ID.match(p.name))
    doomed = [i for i in ids[: max(len(ids) - keep, 0)] if i != live]
    for old in doomed:
        shutil.rmtree(serving / old)
    return doomed


def unique_id(serving: Path, wanted: str) -> str:
    """The wanted id, or with a -N suffix when a snapshot of that second and run exists."""
    candidate, number = wanted, 1
    while (serving / candidate).exists():
        candidate, number = f"{wanted}-{number}", number + 1
    return candidate


def publish_warehouse(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: int,
    now: datetime,
    extra_tables: Mapping[str, pa.Table] | None = None,
) -> Path:
    """Publish the DuckDB engine's snapshot: the warehouse's serving tables, run ledger,
    data watermark and derived-signup platforms, plus `extra_tables` (fits, forecasts;
    written empty when absent). Returns the new snapshot's folder."""
    return publish_tables(
        settings,
        run_id,
        now,
        serving_tables(con),
        extra_tables,
        watermark=data_watermark(con),
        signup_sources=recorded_signup_sources(con),
    )


def publish_tables(
    settings: Settings,
    run_id: int,
    now: datetime,
    tables: Mapping[str, pa.Table],
    extra_tables: Mapping[str, pa.Table] | None = None,
    *,
    engine: str = ENGINE,
    watermark: datetime | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
    signup_sources: Mapping[str, str] | None = None,
) -> Path:
    """Write serving/<id>/ (every contract table + manifest.json), make it CURRENT, prune
    old snapshots; returns the new snapshot's folder. One sequence for every engine: an
    engine passes the serving tables and `runs` it computed (`tables`) and its data
    `watermark`, and is named in the manifest. `extra_tables` (fits, forecasts) are written
    empty when absent; `manifest_extra` adds engine-specific keys to the manifest;
    `signup_sources` are the warehouse's derived-signup platforms."""
    ordered = contract_tables({**tables, **extra_or_empty(extra_tables)}, engine)
    serving = settings.serving
    serving.mkdir(parents=True, exist_ok=True)
    snapshot = unique_id(serving, snapshot_id(now, run_id))
    manifest = build_manifest(
        settings,
        snapshot=snapshot,
        run_id=run_id,
        now=now,
        watermark=watermark,
        tables=ordered,
        engine=engine,
        signup_sources=signup_sources,
    )
    manifest.update(manifest_extra or {})
    staged = serving / f".tmp-{snapshot}"
    write_folder(staged, ordered, manifest)
    os.replace(staged, serving / snapshot)
    switch_current(serving, snapshot)
    prune_snapshots(serving, settings.keep_snapshots, live=snapshot)
    return serving / snapshot


def contract_tables(given: Mapping[str, pa.Table], engine: str) -> dict[str, pa.Table]:
    """The tables in contract order; ValueError when one is missing or one is unknown."""
    missing = [name for name in CONTRACT_TABLES if name not in given]
    if missing:
        raise ValueError(f"{engine} snapshot lacks the contract tables {missing}")
    unknown = [name for name in given if name not in CONTRACT_TABLES]
    if unknown:
        raise ValueError(
            f"{engine} snapshot has tables outside the contract: {unknown}; add them to "
            "CONTRACT_TABLES in etl/snapshot.py (and docs/ARCHITECTURE.md) to publish them"
        )
    return {name: given[name] for name in CONTRACT_TABLES}
