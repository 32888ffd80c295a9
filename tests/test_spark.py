"""The Spark engine against the DuckDB engine: the same simulated launches go through the
normal DuckDB pipeline and, via the data lake it exports, through Spark in local mode;
every snapshot table must match row for row (floats to a tolerance)."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from etl.config import Settings
from etl.errors import UsageError
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.publish import CONTRACT_TABLES
from etl.simulate import SimulationOptions, simulate
from etl.spark import export_lake, run_spark_pass
from etl.spark.session import java_available, require_spark
from etl.warehouse import connect

NOW = datetime(2030, 1, 1)
MISSING = [n for n in ("pyspark", "sqlglot") if importlib.util.find_spec(n) is None]
needs_spark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        bool(MISSING), reason=f"{' and '.join(MISSING)} not installed: pip install -e '.[spark]'"
    ),
    pytest.mark.skipif(not java_available(), reason="no Java 17 (java on PATH or JAVA_HOME)"),
]
pytestmark = needs_spark
# (home folder, reporting settings): UTC with ISO weeks, and a DST time zone with
# Sunday weeks, where local days have 23 and 25 hours.
SETTINGS = {
    "utc": {},
    "new_york": {"timezone": "America/New_York", "week_start": "sunday"},
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


@pytest.fixture(
    scope="module",
    params=["utc", pytest.param("new_york", marks=pytest.mark.slow)],
)
def snapshots(
    request: pytest.FixtureRequest,
    spark: Any,
    inbox: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """(DuckDB snapshot, Spark snapshot) of the same input and settings."""
    root = tmp_path_factory.mktemp(request.param)
    extra: dict[str, Any] = SETTINGS[request.param]
    duck = Settings(home=root / "duckdb", settle_seconds=0, **extra)
    result = ingest_and_publish(duck, [inbox], IngestOptions(), now=NOW)
    assert result.snapshot is not None and result.status == "ok"
    con = connect(duck, read_only=True)
    try:
        export_lake(con, root / "lake")
    finally:
        con.close()
    sparked = Settings(home=root / "spark", **extra)
    return result.snapshot, run_spark_pass(sparked, NOW, lake=root / "lake", session=spark)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def same_json(a: str, b: str) -> bool:
    left, right = json.loads(a), json.loads(b)
    return left.keys() == right.keys() and all(same_value(left[k], right[k]) for k in left)


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_every_table_equals_duckdbs_row_for_row(snapshots: tuple[Path, Path], table: str) -> None:
    duck, spark = (pq.read_table(folder / f"{table}.parquet") for folder in snapshots)
    assert spark.schema == duck.schema
    assert spark.num_rows == duck.num_rows
    # The simulated launches have no migrants between them: those tables are empty in both.
    assert duck.num_rows > 0 or table in {"forecasts", "migration", "migrant_activity"}
    for number, (want, got) in enumerate(zip(duck.to_pylist(), spark.to_pylist(), strict=True)):
        for column, value in want.items():
            same = (
                same_json(value, got[column])
                if column == "params" and value is not None
                else same_value(value, got[column])
            )
            assert same, f"{table} row {number} {column}: duckdb {value!r}, spark {got[column]!r}"


def test_manifest_is_the_same_but_for_the_engine(snapshots: tuple[Path, Path]) -> None:
    duck, spark = (json.loads((f / "manifest.json").read_text()) for f in snapshots)
    assert (duck["engine"], spark["engine"]) == ("duckdb", "spark")
    for key in ("run_id", "watermark", "row_counts", "definitions", "created"):
        assert spark[key] == duck[key], key
    assert (spark_folder := snapshots[1]).parent.joinpath("CURRENT").read_text().strip() == (
        spark_folder.name
    )


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
