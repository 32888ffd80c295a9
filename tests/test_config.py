from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from etl.config import load_settings
from etl.errors import ConfigError


def test_defaults(home: Path) -> None:
    settings = load_settings(home, env={})
    assert settings.timezone == "UTC"
    assert settings.week_start == "monday"
    assert settings.warehouse_path == home / "warehouse.duckdb"


def test_precedence_file_env_flags(home: Path) -> None:
    (home / "uptake.toml").write_text(
        'timezone = "Europe/Berlin"\nweek_start = "sunday"\nthreads = 1\n'
        '[platforms.viral]\nlabel = "Viral"\nt0 = "2023-07-05T23:00:00Z"\n'
    )
    settings = load_settings(home, overrides={"threads": 2}, env={"UPTAKE_WEEK_START": "Tuesday"})
    assert settings.timezone == "Europe/Berlin"
    assert settings.week_start == "tuesday"
    assert settings.threads == 2
    assert settings.platform("viral").t0 == datetime(2023, 7, 5, 23, 0)
    assert settings.platform("other").label is None


def test_home_from_env(tmp_path: Path) -> None:
    settings = load_settings(env={"UPTAKE_HOME": str(tmp_path)})
    assert settings.home == tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('timezone = "Mars/Olympus"', "not a known IANA timezone"),
        ('week_start = "someday"', "expected one of monday"),
        ('colour = "red"', "unknown key 'colour'"),
        ("threads = 0", "must be at least 1"),
        ('memory_limit = "lots"', "must be a size"),
        ("timezone = ", "not valid TOML"),
    ],
)
def test_bad_settings_name_key_and_fix(home: Path, text: str, message: str) -> None:
    (home / "uptake.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(home, env={})


def test_duration_env(home: Path) -> None:
    settings = load_settings(home, env={"UPTAKE_FUTURE_TOLERANCE": "6h"})
    assert settings.future_tolerance == timedelta(hours=6)
