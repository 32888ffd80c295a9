"""Shared fixtures: a fresh home folder with its settings, and a fixed clock."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from etl.config import Settings, load_settings

# Real public data lives beside the project (../shared/growth-data); a clone elsewhere
# finds it through UPTAKE_GROWTH_DATA or the workplace's fixed location.
GROWTH_DATA_CANDIDATES = [
    Path(os.environ["UPTAKE_GROWTH_DATA"]) if os.environ.get("UPTAKE_GROWTH_DATA") else None,
    Path(__file__).resolve().parents[2] / "shared" / "growth-data",
    Path("/work/shared/growth-data"),
]
GROWTH_DATA = next(
    (p for p in GROWTH_DATA_CANDIDATES if p is not None and p.is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "growth-data",
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home, env={})


@pytest.fixture
def clock() -> datetime:
    """The run clock of the tests: well after every fixture's timestamps."""
    return datetime(2026, 11, 1, 12, 0, 0)


@pytest.fixture
def growth_data() -> Path:
    if not GROWTH_DATA.exists():
        if os.environ.get("UPTAKE_REQUIRE_REAL_DATA"):
            pytest.fail(f"real data not found at {GROWTH_DATA} (set UPTAKE_GROWTH_DATA)")
        pytest.skip(f"real data not found at {GROWTH_DATA}")
    return GROWTH_DATA
