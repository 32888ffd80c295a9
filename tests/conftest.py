"""Shared fixtures: a fresh home folder with its settings, and a fixed clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from etl.config import Settings, load_settings

GROWTH_DATA = Path(__file__).resolve().parents[2] / "shared" / "growth-data"


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
        pytest.skip(f"real data not found at {GROWTH_DATA}")
    return GROWTH_DATA
