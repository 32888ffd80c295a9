"""An independent check of Uptake's core metrics: the benchmark's pandas and polars versions
(written from DESIGN.md's definitions, not from the SQL) give the same numbers as Uptake's
snapshot on a small simulated launch pair, in a half-hour-offset timezone, with the
simulator's faults (duplicates, late and pre-signup events, malformed and future rows)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from etl.config import DEFAULT_MILESTONES, load_settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.simulate import SimulationOptions, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import alt_check
import alt_pandas
import alt_polars

CLOCK = datetime(2026, 1, 1)
TIMEZONE = "Asia/Kolkata"


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Simulated inputs (viral + steady, 10 days, 2% faults) and Uptake's snapshot of them."""
    root = tmp_path_factory.mktemp("side-by-side")
    inbox = root / "inbox"
    for preset, seed in (("viral", 1), ("steady", 2)):
        options = SimulationOptions(preset, scale=0.002, seed=seed, days=10, dirty=0.02)
        simulate(options, inbox)
    settings = load_settings(root / "home", overrides={"timezone": TIMEZONE}, env={})
    result = ingest_and_publish(settings, [inbox], IngestOptions(), now=CLOCK)
    assert result.snapshot is not None
    assert result.total("rows_duplicate") and result.total("rows_quarantined")
    return inbox, result.snapshot


@pytest.mark.parametrize("alternative", [alt_pandas, alt_polars], ids=["pandas", "polars"])
def test_alternative_matches_uptake(launch: tuple[Path, Path], alternative: Any) -> None:
    inbox, snapshot = launch
    tables = alternative.core_metrics(inbox, TIMEZONE, DEFAULT_MILESTONES, CLOCK)
    assert alt_check.compare(alt_check.uptake_core_metrics(snapshot), tables) == []
    assert all(len(tables[name]) for name in alt_check.CORE_TABLES)


def test_compare_reports_a_wrong_number(launch: tuple[Path, Path]) -> None:
    """The check is not vacuous: one retained user too many is reported."""
    inbox, snapshot = launch
    tables = alt_polars.core_metrics(inbox, TIMEZONE, DEFAULT_MILESTONES, CLOCK)
    retention = tables["retention"]
    tables["retention"] = retention.with_columns(retention["retained"] + (retention["period"] == 1))
    differences = alt_check.compare(alt_check.uptake_core_metrics(snapshot), tables)
    assert len(differences) == 1
    assert differences[0].startswith("retention:")
