"""`uptake ingest --replace`: a file loaded with the wrong options is corrected by loading
it again; its earlier rows go, in the same transaction, and the ledger stays exact. A file
loaded again without --replace is skipped and the output says how it was loaded."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from test_adapters import rows

from etl.cli import main
from etl.config import Settings
from etl.snapshot import current_snapshot, read_table

CSV = """\
platform,user_id,signup_ts
app,u1,2024-03-01 09:00:00
app,u2,2024-03-01 10:00:00
app,,2024-03-01 11:00:00
"""
EVENTS = """\
event,distinct_id,timestamp,uuid
user signed up,d1,2024-02-01T10:00:00Z,0188-a1
$pageview,d1,2024-02-01T10:05:00Z,0188-a2
$pageview,d2,2024-02-02T08:00:00Z,0188-a4
"""


def uptake(home: Path, clock: datetime, *args: str) -> tuple[int, str]:
    """`uptake --home HOME ARGS` in this process at `clock`: (exit code, stdout)."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr("etl.cli.now_utc", lambda: clock)
        code = main(["--home", str(home), *args])
    return code, out.getvalue()


def test_loading_again_says_how_the_file_was_loaded(
    settings: Settings, tmp_path: Path, clock: datetime
) -> None:
    path = tmp_path / "signups.csv"
    path.write_text(CSV)
    assert uptake(settings.home, clock, "ingest", str(path), "--tz", "America/New_York")[0] == 1
    code, out = uptake(settings.home, clock, "ingest", str(path), "--tz", "UTC")
    assert code == 0
    assert "0 rows read" in out
    assert f"{path}: already loaded by run 1" in out
    assert "tz America/New_York" in out and "--replace" in out
    times = rows(settings, "SELECT signup_ts FROM signups ORDER BY 1")
    assert times == [(datetime(2024, 3, 1, 14),), (datetime(2024, 3, 1, 15),)]  # still New York


def test_replace_reloads_with_the_new_options_and_keeps_the_ledger_exact(
    settings: Settings, tmp_path: Path, clock: datetime
) -> None:
    path = tmp_path / "signups.csv"
    path.write_text(CSV)
    uptake(settings.home, clock, "ingest", str(path), "--tz", "America/New_York")
    code, out = uptake(
        settings.home, clock, "ingest", "--replace", str(path), "--tz", "UTC", "--json"
    )
    assert code == 1  # the row without a user is quarantined again
    summary = json.loads(out)
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]) == (3, 2, 1)
    times = rows(settings, "SELECT signup_ts FROM signups ORDER BY 1")
    assert times == [(datetime(2024, 3, 1, 9),), (datetime(2024, 3, 1, 10),)]
    ledger = rows(
        settings,
        "SELECT run_id, outcome, rows_loaded, rows_quarantined, load_options FROM files "
        "ORDER BY file_id",
    )
    assert [r[:4] for r in ledger] == [(1, "replaced", 2, 1), (2, "loaded", 2, 1)]
    assert json.loads(str(ledger[1][4]))["tz"] == "UTC"
    assert rows(settings, "SELECT count(*) FROM quarantine") == [(1,)]  # not twice
    assert rows(settings, "SELECT count(*) FROM user_keys") == [(2,)]
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    [platform] = read_table(snapshot, "platforms").to_pylist()
    assert (platform["signups"], platform["t0"].replace(tzinfo=None)) == (
        2,
        datetime(2024, 3, 1, 9),
    )


def test_replace_through_an_adapter_moves_the_rows_to_the_new_platform(
    settings: Settings, tmp_path: Path, clock: datetime
) -> None:
    path = tmp_path / "posthog-events.csv"
    path.write_text(EVENTS)
    first = ["ingest", str(path), "--adapter", "posthog"]
    assert uptake(settings.home, clock, *first, "--platform", "wrong")[0] == 0
    assert uptake(settings.home, clock, *first, "--platform", "app", "--replace")[0] == 0
    by_platform = rows(
        settings,
        "SELECT platform, (SELECT count(*) FROM signups s WHERE s.platform = e.platform), count(*) "
        "FROM events e GROUP BY ALL",
    )
    assert by_platform == [("app", 1, 2)]  # no rows left under "wrong", none doubled
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    assert [p["platform"] for p in read_table(snapshot, "platforms").to_pylist()] == ["app"]
    sources = rows(settings, "SELECT DISTINCT source_path FROM files WHERE outcome <> 'rejected'")
    assert sources == [(str(path.absolute()),)]
