"""`uptake demo` (what `make demo` runs) end to end at a tiny scale, as a real subprocess:
both launches simulated, every simulated row loaded, a snapshot published with both
platforms, the summary printed; a second demo in the same home loads nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

SCALE = "0.0005"  # viral: 5,000 signups; the whole demo takes seconds


def demo(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", "--home", str(home), "demo", "--scale", SCALE,
         "--seed", "3", "--no-serve"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def simulated_rows(home: Path) -> int:
    total = 0
    for summary in (home / "simulations").glob("*.json"):
        total += int(json.loads(summary.read_text())["rows_written"])
    return total


def test_demo_simulates_loads_publishes_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = demo(home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Uptake demo" in first.stdout and "http://127.0.0.1:8050" in first.stdout

    snapshot = home / "serving" / (home / "serving" / "CURRENT").read_text().strip()
    manifest = json.loads((snapshot / "manifest.json").read_text())
    platforms = pl.read_parquet(snapshot / "platforms.parquet")
    assert sorted(platforms["platform"].to_list()) == ["steady", "viral"]
    runs = pl.read_parquet(snapshot / "runs.parquet")
    (run,) = runs.to_dicts()
    rows = simulated_rows(home)
    assert rows > 10_000
    assert run["rows_loaded"] + run["rows_duplicate"] + run["rows_quarantined"] == rows
    assert run["rows_quarantined"] == 0  # the demo's data is clean
    signups = pl.read_parquet(snapshot / "signups.parquet")
    assert signups.height > 0 and manifest["engine"] == "duckdb"
    assert not any((home / "inbox").rglob("*.parquet")), "loaded files stay in the inbox"

    second = demo(home)
    assert second.returncode == 0, second.stdout + second.stderr
    runs = pl.read_parquet(
        home / "serving" / (home / "serving" / "CURRENT").read_text().strip() / "runs.parquet"
    )
    assert runs["rows_loaded"].sum() == run["rows_loaded"], "the same files loaded twice"
