"""The Spark engine against the DuckDB engine: the same simulated launches go through
`uptake run` (DuckDB) in one home and `uptake run --engine spark` (ingest, export to the
lake, Spark in local mode) in another; every snapshot table must match row for row (floats
to a tolerance), in UTC with Monday weeks and in America/New_York with Sunday weeks (DST).

Run with `pytest -m spark` (`make test-spark`); skipped without pyspark, sqlglot or Java,
unless UPTAKE_REQUIRE_SPARK=1 (CI), where a missing piece fails instead."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from etl.cli import main
from etl.config import load_settings
from etl.contract import EXTRA_SCHEMAS
from etl.errors import UsageError
from etl.simulate import SimulationOptions, simulate
from etl.snapshot import CONTRACT_TABLES, current_snapshot
from etl.spark.session import java_available, require_spark

NOW = datetime(2030, 1, 1)
MISSING = [n for n in ("pyspark", "sqlglot") if importlib.util.find_spec(n) is None]
REQUIRED = os.environ.get("UPTAKE_REQUIRE_SPARK") == "1"  # CI: fail, never skip
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        bool(MISSING) and not REQUIRED,
        reason=f"{' and '.join(MISSING)} not installed: pip install -e '.[spark]'",
    ),
    pytest.mark.skipif(
        not java_available() and not REQUIRED, reason="no Java 17 (java on PATH or JAVA_HOME)"
    ),
]
# uptake.toml of both homes: UTC with ISO weeks, and a DST time zone with Sunday weeks,
# where local days have 23 and 25 hours.
SETTINGS = {
    "utc": 'settle_seconds = "0s"\n',
    "new_york": 'settle_seconds = "0s"\ntimezone = "America/New_York"\nweek_start = "sunday"\n',
}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from etl.spark.session import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inbox")
    for preset in ("viral", "steady"):
        simulate(SimulationOptions(preset=preset, scale=0.001, seed=7), folder)
    return folder


def uptake_run(home: Path, inbox: Path, settings: str, *args: str) -> Path:
    """`uptake --home HOME run ARGS` on a copy of the inbox; returns the live snapshot."""
    shutil.copytree(inbox, home / "inbox")
    (home / "uptake.toml").write_text(SETTINGS[settings])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("etl.cli.now_utc", lambda: NOW)
        assert main(["--home", str(home), "run", *args]) == 0
    snapshot = current_snapshot(load_settings(home, env={}))
    assert snapshot is not None
    return snapshot.path


@pytest.fixture(scope="module", params=list(SETTINGS))
def snapshots(
    request: pytest.FixtureRequest,
    spark: Any,
    inbox: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """(DuckDB snapshot, Spark snapshot) of the same input and settings. The Spark pass
    runs on the module's session (run_spark_pass reuses the active one)."""
    root = tmp_path_factory.mktemp(request.param)
    duck = uptake_run(root / "duckdb", inbox, request.param)
    sparked = uptake_run(root / "spark", inbox, request.param, "--engine", "spark")
    assert (root / "spark" / "lake" / "events").is_dir()  # the default lake, HOME/lake
    return duck, sparked


# The ledger's finished_at is the run clock plus the pass's measured seconds: two passes in
# two homes (one also refreshing DuckDB's models) take different times. Checked apart.
TIMED = {("runs", "finished_at")}


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def same_json(a: str, b: str) -> bool:
    left, right = json.loads(a), json.loads(b)
    return left.keys() == right.keys() and all(same_value(left[k], right[k]) for k in left)


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_every_table_equals_duckdbs_row_for_row(snapshots: tuple[Path, Path], table: str) -> None:
    duck, _ = assert_same_table(snapshots, table)
    # The simulated launches have no migrants between them: those tables are empty in both.
    assert duck.num_rows > 0 or table in {"forecasts", "migration", "migrant_activity"}


def test_a_real_dump_without_deletions_equals_duckdbs(
    spark: Any, growth_data: Path, tmp_path: Path
) -> None:
    """Stack Exchange's Cardano dump has no account deletions: the lake's deletions stream
    is a folder without files, which Spark read as 'UNABLE_TO_INFER_SCHEMA' before."""
    site = growth_data / "stackexchange-cardano"
    ingest = ["ingest", "--adapter", "stackexchange", "--platform", "cardano", "--no-refresh"]
    snapshots = []
    for engine in ("duckdb", "spark"):
        home = tmp_path / engine
        home.mkdir()
        (home / "uptake.toml").write_text(SETTINGS["utc"])
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("etl.cli.now_utc", lambda: NOW)
            # exit 1: the dump has a few rows quarantined (e.g. no creation date)
            assert main(["--home", str(home), *ingest, str(site)]) == 1
            assert main(["--home", str(home), "run", "--engine", engine]) == 0
        snapshot = current_snapshot(load_settings(home, env={}))
        assert snapshot is not None
        snapshots.append(snapshot.path)
    assert not any((tmp_path / "spark" / "lake" / "deletions").rglob("*.parquet"))
    for table in CONTRACT_TABLES:
        if table != "runs":  # two homes, two ledgers (an ingest and a run each)
            assert_same_table((snapshots[0], snapshots[1]), table)
    signups = pq.read_table(snapshots[1] / "platforms.parquet").to_pylist()[0]["signups"]
    assert signups > 1000


def assert_same_table(snapshots: tuple[Path, Path], table: str) -> tuple[Any, Any]:
    """The table of both snapshots, checked equal row for row (floats to a tolerance)."""
    duck, spark = (pq.read_table(folder / f"{table}.parquet") for folder in snapshots)
    assert spark.schema == duck.schema
    assert spark.num_rows == duck.num_rows, table
    for number, (want, got) in enumerate(zip(duck.to_pylist(), spark.to_pylist(), strict=True)):
        for column, value in want.items():
            if (table, column) in TIMED:
                continue
            same = (
                same_json(value, got[column])
                if column == "params" and value is not None
                else same_value(value, got[column])
            )
            assert same, f"{table} row {number} {column}: duckdb {value!r}, spark {got[column]!r}"
    return duck, spark


def test_manifest_is_the_same_but_for_the_engine(snapshots: tuple[Path, Path]) -> None:
    duck, spark = (json.loads((f / "manifest.json").read_text()) for f in snapshots)
    assert (duck["engine"], spark["engine"]) == ("duckdb", "spark")
    for key in ("run_id", "watermark", "row_counts", "definitions", "created"):
        assert spark[key] == duck[key], key
    assert spark["spark_master"] == "local[2]"
    assert (spark_folder := snapshots[1]).parent.joinpath("CURRENT").read_text().strip() == (
        spark_folder.name
    )


def test_fits_forecasts_and_runs_are_published_with_the_contract_schema(
    snapshots: tuple[Path, Path],
) -> None:
    spark = snapshots[1]
    for name, schema in EXTRA_SCHEMAS.items():
        assert pq.read_table(spark / f"{name}.parquet").schema.equals(schema), name
    assert pq.read_table(spark / "fits.parquet").num_rows > 0
    runs = pq.read_table(spark / "runs.parquet").to_pylist()
    assert [(r["run_id"], r["status"], r["started_at"]) for r in runs] == [(1, "ok", NOW)]
    assert runs[0]["finished_at"] >= NOW and runs[0]["rows_loaded"] > 0


def test_timestamps_are_utc_and_days_are_dates(snapshots: tuple[Path, Path]) -> None:
    active = pq.read_table(snapshots[1] / "active.parquet").to_pylist()
    signups = pq.read_table(snapshots[1] / "signups.parquet")
    assert isinstance(active[0]["day"], date)
    assert signups.schema.field("bucket_start").type.tz is None  # naive UTC, as DuckDB's


def test_local_mode_binds_to_loopback_only(spark: Any) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_without_pyspark_the_engine_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        "etl.spark.session.importlib.util.find_spec",
        lambda name, *a: None if name == "pyspark" else real(name, *a),
    )
    with pytest.raises(UsageError, match=r"pip install -e '\.\[spark\]'.*Java 17") as raised:
        require_spark()
    assert raised.value.exit_code == 2
