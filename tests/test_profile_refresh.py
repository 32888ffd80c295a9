"""benchmarks/profile_refresh.py: it profiles a real refresh of a home and leaves the
warehouse as it found it (the refresh is rolled back)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from etl.config import load_settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish, ingest_only
from etl.simulate import SimulationOptions, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import profile_refresh


def _state(home: Path) -> tuple[list[tuple[object, ...]], ...]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return (
            con.execute("SELECT key, value FROM model_state ORDER BY key").fetchall(),
            con.execute("SELECT * FROM c_active ORDER BY ALL").fetchall(),
            con.execute("SELECT count(*) FROM user_days").fetchall(),
            con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall(),
        )
    finally:
        con.close()


def test_profile_lists_the_refresh_statements_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    simulate(SimulationOptions("viral", scale=0.0005, seed=3, days=3), inbox)
    settings = load_settings(home, env={})
    ingest_and_publish(settings, [inbox], IngestOptions(), now=datetime(2026, 12, 1))
    before = _state(home)
    assert before[2][0][0] > 0

    profile_refresh.main(["--home", str(home), "--top", "40", "--memory-limit", "1GB"])

    out = capsys.readouterr().out
    assert "memory_limit 1GB" in out
    assert "full refresh (rolled back)" in out
    assert "INSERT INTO user_days" in out  # the statements the refresh ran, by CPU
    assert "scope_hour_counts" in out
    assert _state(home) == before

    # A batch loaded without refreshing: --incremental profiles the refresh it needs.
    more = tmp_path / "more"
    simulate(SimulationOptions("viral", scale=0.0005, seed=4, days=1), more)
    ingest_only(settings, [more], IngestOptions(), now=datetime(2026, 12, 2))
    loaded = _state(home)
    profile_refresh.main(["--home", str(home), "--incremental", "--top", "40"])
    out = capsys.readouterr().out
    assert "incremental (" in out and "users touched) refresh (rolled back)" in out
    assert "touched_signups" in out
    assert _state(home) == loaded


def test_profile_needs_a_home_with_a_warehouse(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        profile_refresh.main(["--home", str(tmp_path)])


def test_profile_ingest_lists_the_load_statements_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import profile_ingest

    inbox, home = tmp_path / "inbox", tmp_path / "home"
    simulate(SimulationOptions("viral", scale=0.0005, seed=3, days=2), inbox)
    profile_ingest.main(["--home", str(home), "--input", str(inbox), "--memory-limit", "1GB"])
    out = capsys.readouterr().out
    assert "memory_limit 1GB" in out
    assert "(rolled back)" in out
    assert "INSERT INTO events" in out  # the statements the ingest ran, by CPU
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM files").fetchall() == [(0,)]
    finally:
        con.close()
