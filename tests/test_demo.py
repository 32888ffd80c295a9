"""`uptake demo` (what `make demo` runs) end to end at a tiny scale, as a real subprocess:
the incumbent and both launches simulated (the viral one drawing people from the
incumbent), every simulated row loaded, a snapshot published with the three platforms and
the migration tables filled, the summary printed; a second demo in the same home
simulates and loads nothing twice. Also the demo's plan when an earlier run left files
waiting or loaded the incumbent alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl

from dashboard.demo import DEMO_PLATFORMS, plan_simulation
from etl.config import Settings

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


def snapshot_table(home: Path, name: str) -> pl.DataFrame:
    snapshot = home / "serving" / (home / "serving" / "CURRENT").read_text().strip()
    return pl.read_parquet(snapshot / f"{name}.parquet")


def rows_simulated_line(stdout: str) -> int:
    """The 'rows simulated' figure of the demo's summary table."""
    match = re.search(r"rows simulated\D*([\d,]+)", stdout)
    assert match, stdout
    return int(match.group(1).replace(",", ""))


def assert_migration_tables_filled(home: Path) -> None:
    """Every chart of the Migration page has data: people moved from the incumbent."""
    channels = snapshot_table(home, "channels")
    assert set(channels["platform"]) == {"incumbent", "steady", "viral"}
    overlap = snapshot_table(home, "overlap").filter(
        (pl.col("platform") == "incumbent") & (pl.col("other_platform") == "viral")
    )
    (shared,) = overlap.to_dicts()
    assert shared["people"] > 0 and shared["first_on_platform"] == shared["people"]
    assert shared["lag_median_s"] is not None
    migration = snapshot_table(home, "migration").filter(
        (pl.col("platform") == "viral") & (pl.col("from_platform") == "incumbent")
    )
    assert migration["migrants"].sum() == shared["people"]  # all signed up on it first
    assert migration["recently_active"].sum() > 0
    activity = snapshot_table(home, "migrant_activity").filter(
        (pl.col("platform") == "viral") & (pl.col("from_platform") == "incumbent")
    )
    assert activity.height == 61 and activity["migrants"].max() == shared["people"]
    assert activity.filter(pl.col("day") > 0)["from_only"].sum() > 0


def warehouse_rows(home: Path) -> tuple[int, int, int]:
    """Signups and events stored, and rows loaded over all runs."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM signups), (SELECT count(*) FROM events), "
            "(SELECT sum(rows_loaded) FROM runs)"
        ).fetchall()[0]
    finally:
        con.close()
    return int(row[0]), int(row[1]), int(row[2])


def assert_counts_match_status(home: Path, stdout: str) -> None:
    """The demo's per-platform counts of what it loaded are `uptake status`'s (the
    simulation line counted the incumbent's events before the migrants' were taken out)."""
    status = subprocess.run(
        [sys.executable, "-m", "etl.cli", "--home", str(home), "status", "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    block = stdout.split("in the warehouse (as `uptake status` counts):", 1)[1]
    for platform in json.loads(status.stdout)["platforms"]:
        line = (
            f"{platform['platform']}: {platform['signups']:,} signups, "
            f"{platform['events']:,} events, {platform['deletions']:,} deletions"
        )
        assert line in block, (line, block)
    assert "incumbent events taken out of its files" in stdout


def test_demo_simulates_loads_publishes_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = demo(home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Uptake demo" in first.stdout and "http://127.0.0.1:8050" in first.stdout
    assert "Migration" in first.stdout

    snapshot = home / "serving" / (home / "serving" / "CURRENT").read_text().strip()
    manifest = json.loads((snapshot / "manifest.json").read_text())
    platforms = pl.read_parquet(snapshot / "platforms.parquet")
    assert sorted(platforms["platform"].to_list()) == ["incumbent", "steady", "viral"]
    runs = pl.read_parquet(snapshot / "runs.parquet")
    (run,) = runs.to_dicts()
    rows = simulated_rows(home)
    assert rows > 10_000
    assert rows_simulated_line(first.stdout) == rows
    assert run["rows_loaded"] + run["rows_duplicate"] + run["rows_quarantined"] == rows
    assert run["rows_quarantined"] == 0  # the demo's data is clean
    signups = pl.read_parquet(snapshot / "signups.parquet")
    assert signups.height > 0 and manifest["engine"] == "duckdb"
    assert not any((home / "inbox").rglob("*.parquet")), "loaded files stay in the inbox"
    assert_migration_tables_filled(home)
    assert_counts_match_status(home, first.stdout)
    stored = warehouse_rows(home)

    second = demo(home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("already loaded, not simulated again") == len(DEMO_PLATFORMS)
    assert rows_simulated_line(second.stdout) == 0
    runs = snapshot_table(home, "runs")
    assert runs["rows_loaded"].sum() == run["rows_loaded"], "the same files loaded twice"
    assert warehouse_rows(home) == stored, "the same files loaded twice"
    assert_migration_tables_filled(home)


def write_waiting_file(settings: Settings, platform: str) -> None:
    folder = settings.inbox / platform
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"platform": [platform], "user_id": ["u1"]}).write_parquet(folder / "x.parquet")


def test_plan_draws_people_only_from_an_incumbent_still_waiting(tmp_path: Path) -> None:
    """--from rewrites the incumbent's waiting files: with the incumbent loaded (and the
    viral launch not), the viral launch is simulated alone instead of failing."""
    settings = Settings(home=tmp_path)
    incumbent, viral, steady = DEMO_PLATFORMS
    plan, note = plan_simulation(settings, incumbent, 0.5, 7, loaded=set())
    assert plan is not None and plan.scale == 0.05 and plan.seed == 7 and note == ""

    write_waiting_file(settings, "incumbent")  # just simulated, or left by a stopped demo
    plan, note = plan_simulation(settings, incumbent, 0.5, 7, loaded=set())
    assert plan is None and "waiting" in note
    plan, note = plan_simulation(settings, viral, 0.5, 7, loaded=set())
    assert plan is not None and plan.from_platform == "incumbent" and note == ""

    (settings.inbox / "incumbent" / "x.parquet").unlink()  # loaded by a run
    plan, note = plan_simulation(settings, viral, 0.5, 7, loaded={"incumbent"})
    assert plan is not None and plan.from_platform is None and "incumbent" in note
    plan, _ = plan_simulation(settings, steady, 0.5, 7, loaded=set())
    assert plan is not None and plan.from_platform is None and plan.scale == 0.5


def test_plan_simulates_again_what_was_loaded_at_another_scale(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    _, viral, _ = DEMO_PLATFORMS
    records = tmp_path / "simulations"
    records.mkdir()
    (records / "viral.json").write_text(json.dumps({"preset": "viral", "scale": 0.5, "seed": 7}))
    plan, note = plan_simulation(settings, viral, 0.5, 7, loaded={"viral"})
    assert plan is None and "already loaded" in note
    plan, _ = plan_simulation(settings, viral, 0.25, 7, loaded={"viral"})
    assert plan is not None and plan.scale == 0.25
    plan, _ = plan_simulation(settings, viral, 0.5, 8, loaded={"viral"})
    assert plan is not None and plan.seed == 8
