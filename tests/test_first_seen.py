"""`--signups first-seen`: exports without a signup event (Segment, Amplitude, PostHog count
a new user at first sight) get each user's signup from their first event, or from a named
column of the events such as Amplitude's user_creation_time."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from test_adapters import rows
from test_replace import uptake as run_uptake

from etl.config import Settings, load_settings
from etl.snapshot import current_snapshot, read_table

EVENTS = """\
platform,user_id,event_ts,event_type
app,a,2024-05-01 10:00:00,view
app,a,2024-05-02 09:00:00,post
app,b,2024-05-01 12:30:00,view
app,b,2024-05-01 11:00:00,ad_metrics
app,c,2024-05-03 08:00:00,post
"""
CLOCK = datetime(2024, 6, 1)
# A Fivetran-style seed: every row carries the user's creation time.
SEED = """\
user_id,event_time,event_type,user_creation_time
a,2024-05-01 10:00:00,view,2024-04-20 08:00:00
a,2024-05-02 09:00:00,post,2024-04-20 08:00:00
b,2024-05-01 12:30:00,view,2024-05-01 12:00:00
"""


def uptake(home: Path, *args: str) -> tuple[int, str]:
    return run_uptake(home, CLOCK, *args)


def published(settings: Settings) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(platform row, manifest definitions, day-cohort retention rows of period 0)."""
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    [platform] = read_table(snapshot, "platforms").to_pylist()
    definitions = json.loads((snapshot.path / "manifest.json").read_text())["definitions"]
    cohorts = [
        r
        for r in read_table(snapshot, "retention").to_pylist()
        if r["cohort_grain"] == "day" and r["period"] == 0
    ]
    return platform, definitions, cohorts


def signups(settings: Settings) -> dict[str, datetime]:
    return {str(u): ts for u, ts in rows(settings, "SELECT user_id, signup_ts FROM signups")}


def test_signups_from_each_users_first_event(settings: Settings, tmp_path: Path) -> None:
    (settings.home / "uptake.toml").write_text('inactive_event_types = ["ad_metrics"]\n')
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    code, out = uptake(settings.home, "ingest", str(path), "--signups", "first-seen")
    assert code == 0
    assert "5 rows read = 5 loaded" in out and "3 signups derived" in out
    settings = load_settings(settings.home, env={})
    # b's ad_metrics row at 11:00 is not b acting: b arrives at 12:30
    assert signups(settings) == {
        "a": datetime(2024, 5, 1, 10),
        "b": datetime(2024, 5, 1, 12, 30),
        "c": datetime(2024, 5, 3, 8),
    }
    platform, definitions, cohorts = published(settings)
    assert (platform["signups"], platform["t0"].replace(tzinfo=None)) == (
        3,
        datetime(2024, 5, 1, 10),
    )
    assert definitions["signups"] == {"app": "first-seen"}
    # c's day has not ended by the data watermark (c's event): blank, not 0
    assert [(r["cohort_size"], r["retained"]) for r in cohorts] == [(2, 2), (1, None)]
    assert "app" in uptake(settings.home, "status")[1]


def test_later_runs_keep_deriving_and_an_earlier_event_moves_the_signup(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    uptake(settings.home, "ingest", str(path), "--signups", "first-seen")
    settings.inbox.mkdir(parents=True, exist_ok=True)
    late = "platform,user_id,event_ts,event_type\napp,d,2024-05-04 10:00:00,post\n"
    late += "app,c,2024-05-02 07:00:00,view\n"  # c was seen earlier than first thought
    (settings.inbox / "late.csv").write_text(late)
    (settings.home / "uptake.toml").write_text('settle_seconds = "0s"\n')
    assert uptake(settings.home, "run")[0] == 0
    batches = load_settings(settings.home, env={})
    assert signups(batches)["c"] == datetime(2024, 5, 2, 7)
    assert signups(batches)["d"] == datetime(2024, 5, 4, 10)

    # N batches equal one batch
    clean_home = tmp_path / "clean"
    clean_home.mkdir()
    both = tmp_path / "both"
    both.mkdir()
    shutil.copy(path, both / "events.csv")
    (both / "late.csv").write_text(late)
    uptake(clean_home, "ingest", str(both), "--signups", "first-seen")
    clean = load_settings(clean_home, env={})
    assert signups(clean) == signups(batches)
    for table in ("platforms", "signups", "active", "retention", "lifecycle", "activation"):
        got, want = (read_table(current_snapshot(s), table) for s in (batches, clean))  # type: ignore[arg-type]
        assert got.to_pylist() == want.to_pylist(), table


def test_signups_from_a_creation_time_column(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(SEED)
    code, _ = uptake(
        settings.home,
        "ingest", str(path), "--platform", "amp", "--map", "event_ts=event_time",
        "--signups", "first-seen:user_creation_time",
    )  # fmt: skip
    assert code == 0
    assert signups(settings) == {"a": datetime(2024, 4, 20, 8), "b": datetime(2024, 5, 1, 12)}
    _, definitions, _ = published(settings)
    assert definitions["signups"] == {"amp": "first-seen:user_creation_time"}


def test_a_platform_setting_derives_without_the_flag(settings: Settings, tmp_path: Path) -> None:
    (settings.home / "uptake.toml").write_text('[platforms.app]\nsignups = "first-seen"\n')
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    assert uptake(settings.home, "ingest", str(path))[0] == 0
    assert set(signups(settings)) == {"a", "b", "c"}


def test_a_wrong_value_says_what_is_expected(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, _ = uptake(settings.home, "ingest", str(path), "--signups", "first")
    assert code == 2
    assert "first-seen:COLUMN" in err.getvalue()


def test_through_an_adapter(settings: Settings, tmp_path: Path) -> None:
    """A PostHog export with no "user signed up" event: nobody signed up before."""
    path = tmp_path / "posthog.csv"
    path.write_text(
        "event,distinct_id,timestamp,uuid\n"
        "$pageview,d1,2024-02-01T10:05:00Z,e1\n"
        "$pageview,d2,2024-02-02T08:00:00Z,e2\n"
        "$pageview,d1,2024-02-01T09:00:00Z,e3\n"
    )
    args = ["ingest", str(path), "--adapter", "posthog", "--platform", "ph"]
    assert uptake(settings.home, *args, "--signups", "first-seen")[0] == 0
    assert signups(settings) == {"d1": datetime(2024, 2, 1, 9), "d2": datetime(2024, 2, 2, 8)}
