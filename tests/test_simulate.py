"""The launch simulator: milestones, schema, determinism, exact fault counts, atomic files."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import Settings
from etl.errors import UsageError
from etl.simulate import SimulationOptions, SimulationResult, simulate
from etl.simulate.population import RandomStreams, TraitTables, plan_population, sign_up_day
from etl.simulate.presets import INCUMBENT, STEADY, VIRAL

SIGNUP_SCHEMA = {
    "platform": pa.string(),
    "user_id": pa.string(),
    "signup_ts": pa.timestamp("us"),
    "channel": pa.string(),
    "country": pa.string(),
    "event_id": pa.string(),
    "person_id": pa.string(),
}
EVENT_SCHEMA = {
    "platform": pa.string(),
    "user_id": pa.string(),
    "event_ts": pa.timestamp("us"),
    "event_type": pa.string(),
    "event_id": pa.string(),
}


@pytest.fixture(scope="module")
def small_launches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SimulationResult]:
    """Both presets at scale 0.01 (100k viral signups in ~7 h, 10k steady ones in ~6 days)."""
    inbox = tmp_path_factory.mktemp("home") / "inbox"
    return {
        name: simulate(SimulationOptions(preset=name, scale=0.01, seed=7), inbox)
        for name in ("viral", "steady")
    }


@pytest.fixture(scope="module")
def dirty_launch(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    inbox = tmp_path_factory.mktemp("home") / "inbox"
    options = SimulationOptions(preset="viral", scale=0.005, seed=3, days=6, dirty=0.05)
    return simulate(options, inbox)


def query(sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


def nth_signup_hours(folder: Path, nth: int, t0: object) -> float:
    rows = query(
        f"SELECT signup_ts FROM '{folder}/signups-*.parquet' ORDER BY signup_ts LIMIT 1 OFFSET ?",
        [nth - 1],
    )
    elapsed = rows[0][0] - t0  # type: ignore[operator]
    return float(elapsed.total_seconds()) / 3600


def file_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_viral_reaches_its_scaled_milestone_in_about_seven_hours(
    small_launches: dict[str, SimulationResult],
) -> None:
    result = small_launches["viral"]
    hours = nth_signup_hours(result.folder, 100_000, VIRAL.t0)
    assert 6.5 <= hours <= 7.5
    assert result.milestone_users == 100_000
    assert result.milestone_elapsed_s == pytest.approx(hours * 3600, abs=1e-3)


def test_steady_reaches_its_scaled_milestone_between_day_five_and_seven(
    small_launches: dict[str, SimulationResult],
) -> None:
    hours = nth_signup_hours(small_launches["steady"].folder, 10_000, STEADY.t0)
    assert 5 * 24 <= hours <= 7 * 24


def test_viral_decays_after_launch_and_steady_keeps_accelerating(
    small_launches: dict[str, SimulationResult],
) -> None:
    def daily_signups(result: SimulationResult, t0: object) -> list[int]:
        rows = query(
            f"SELECT floor(epoch(signup_ts - ?::TIMESTAMP) / 86400)::INT AS day, count(*) "
            f"FROM '{result.folder}/signups-*.parquet' GROUP BY day ORDER BY day",
            [t0],
        )
        return [n for _, n in rows if isinstance(n, int)]

    viral = daily_signups(small_launches["viral"], VIRAL.t0)
    steady = daily_signups(small_launches["steady"], STEADY.t0)
    assert viral[0] > 0.8 * sum(viral) and viral[1] > viral[10] > viral[25]
    assert sum(steady[20:25]) > 1.2 * sum(steady[1:6])


def test_viral_users_are_tourists_and_steady_users_stay(
    small_launches: dict[str, SimulationResult],
) -> None:
    def active_share_in_week_four(result: SimulationResult, t0: object) -> float:
        start = t0 + timedelta(days=21)  # type: ignore[operator]
        rows = query(
            f"SELECT count(DISTINCT user_id) FROM '{result.folder}/events-*.parquet' "
            "WHERE event_ts >= ?",
            [start],
        )
        active = rows[0][0]
        assert isinstance(active, int)
        return active / result.signups

    viral = active_share_in_week_four(small_launches["viral"], VIRAL.t0)
    steady = active_share_in_week_four(small_launches["steady"], STEADY.t0)
    assert viral < 0.1 < steady


def test_files_follow_the_input_contract(small_launches: dict[str, SimulationResult]) -> None:
    for result in small_launches.values():
        for path in result.files:
            schema = pq.read_schema(path)
            expected = SIGNUP_SCHEMA if path.name.startswith("signups") else EVENT_SCHEMA
            assert dict(zip(schema.names, schema.types, strict=True)) == expected, path
        folder = result.folder
        counts = query(
            f"SELECT count(*), count(DISTINCT event_id), count(DISTINCT user_id), "
            f"count(*) FILTER (WHERE platform <> ?) FROM '{folder}/signups-*.parquet'",
            [result.platform],
        )[0]
        assert counts == (result.signups, result.signups, result.signups, 0)
        events = query(
            f"SELECT count(*), count(DISTINCT event_id), "
            f"count(*) FILTER (event_type = 'account_deleted'), "
            f"count(*) FILTER (event_type NOT IN "
            f"('session', 'post', 'reply', 'like', 'follow', 'account_deleted')) "
            f"FROM '{folder}/events-*.parquet'"
        )[0]
        assert events == (result.events, result.events, result.deletions, 0)
        assert result.events > 10 * result.deletions > 0


def test_clean_events_never_precede_signup_or_follow_deletion(
    small_launches: dict[str, SimulationResult],
) -> None:
    folder = small_launches["viral"].folder
    offending = query(
        f"""
        WITH s AS (SELECT user_id, signup_ts FROM '{folder}/signups-*.parquet'),
        e AS (SELECT * FROM '{folder}/events-*.parquet'),
        d AS (SELECT user_id, event_ts AS deleted_ts FROM e WHERE event_type = 'account_deleted')
        SELECT
            count(*) FILTER (WHERE e.event_ts < s.signup_ts),
            count(*) FILTER (WHERE e.event_ts > d.deleted_ts),
            count(*) FILTER (WHERE s.user_id IS NULL)
        FROM e LEFT JOIN s USING (user_id) LEFT JOIN d USING (user_id)
        """
    )[0]
    assert offending == (0, 0, 0)


def test_each_day_has_its_own_files_and_no_temporary_files_remain(
    small_launches: dict[str, SimulationResult],
) -> None:
    result = small_launches["steady"]
    names = sorted(p.name for p in result.folder.iterdir())
    assert names == sorted(p.name for p in result.files)
    assert all(n.endswith(".parquet") for n in names)
    assert {n[:12] for n in names if n.startswith("signups")} == {
        f"signups-d{d:03d}" for d in range(30)
    }
    assert not list(result.folder.parent.parent.rglob("*.tmp"))
    record = result.folder.parent.parent / "simulations" / "steady.json"
    summary = json.loads(record.read_text())
    assert summary["events"] == result.events
    assert summary["line"].startswith("steady: ")


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    def run(seed: int, name: str) -> dict[str, str]:
        options = SimulationOptions(preset="viral", scale=0.002, seed=seed, days=3, dirty=0.02)
        return file_digests(simulate(options, tmp_path / name / "inbox").folder)

    first, again, other = run(11, "a"), run(11, "b"), run(12, "c")
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_dirty_faults_are_counted_exactly(dirty_launch: SimulationResult) -> None:
    folder, faults = dirty_launch.folder, dirty_launch.faults
    assert all(n > 0 for stream in faults.values() for n in stream.values())
    signups = f"'{folder}/signups-*.parquet'"
    broken, future, duplicates = query(
        f"SELECT count(*) FILTER (user_id IS NULL OR user_id = '' OR signup_ts IS NULL), "
        f"count(*) FILTER (signup_ts >= '2090-01-01'), count(*) - count(DISTINCT event_id) "
        f"FROM {signups}"
    )[0]
    assert (broken, future, duplicates) == (
        faults["signups"]["malformed"],
        faults["signups"]["future"],
        faults["signups"]["duplicate"],
    )
    broken, future, duplicates = query(
        f"SELECT count(*) FILTER (user_id IS NULL OR user_id = '' OR event_ts IS NULL), "
        f"count(*) FILTER (event_ts >= '2090-01-01'), count(*) - count(DISTINCT event_id) "
        f"FROM '{folder}/events-*.parquet'"
    )[0]
    assert (broken, future, duplicates) == (
        faults["events"]["malformed"],
        faults["events"]["future"],
        faults["events"]["duplicate"],
    )


def test_late_and_early_events_are_counted_exactly(dirty_launch: SimulationResult) -> None:
    folder, faults = dirty_launch.folder, dirty_launch.faults["events"]
    before_signup, late = query(
        f"""
        WITH s AS (
            SELECT user_id, min(signup_ts) AS signup_ts FROM '{folder}/signups-*.parquet'
            WHERE user_id <> '' AND signup_ts < '2090-01-01' GROUP BY user_id
        ),
        e AS (
            SELECT *, count(*) OVER (PARTITION BY event_id) AS copies,
                   regexp_extract(filename, 'events-d(\\d+)', 1)::INT AS file_day
            FROM read_parquet('{folder}/events-*.parquet', filename = true)
            WHERE user_id <> '' AND event_ts < '2090-01-01'
        )
        SELECT count(*) FILTER (WHERE e.event_ts < s.signup_ts),
               count(*) FILTER (WHERE e.event_ts >= s.signup_ts AND copies = 1
                   AND file_day > floor(epoch(e.event_ts - ?::TIMESTAMP) / 86400))
        FROM e JOIN s USING (user_id)
        """,
        [VIRAL.t0],
    )[0]
    assert (before_signup, late) == (faults["before_signup"], faults["late"])


def test_ingestion_ledger_accounts_for_every_injected_fault(
    settings: Settings, clock: datetime
) -> None:
    from etl.pipeline import run_pass

    options = SimulationOptions(preset="viral", scale=0.002, seed=5, days=3, dirty=0.05)
    result = simulate(options, settings.inbox)
    assert all(n > 0 for n in result.faults["events"].values())
    expected = result.expected_ledger()
    ledger = run_pass(replace(settings, settle_seconds=0), now=clock)
    assert {name: ledger.total(name) for name in expected} == expected


def test_expected_ledger_adds_up(dirty_launch: SimulationResult) -> None:
    ledger = dirty_launch.expected_ledger()
    rows = sum(pq.read_metadata(p).num_rows for p in dirty_launch.files)
    assert ledger["rows_read"] == rows
    assert ledger["rows_read"] == (
        ledger["rows_loaded"] + ledger["rows_duplicate"] + ledger["rows_quarantined"]
    )
    assert ledger["rows_duplicate"] == sum(f["duplicate"] for f in dirty_launch.faults.values())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from_platform": "incumbent"}, "no simulated platform"),
        ({"preset": "incumbent", "from_platform": "other"}, "not to an incumbent"),
        ({"dirty": 0.9}, "--dirty"),
        ({"scale": 0}, "--scale"),
        ({"platform": "../escape"}, "--platform"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    options = SimulationOptions(**{"preset": "viral", "scale": 0.001, **changes})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        simulate(options, tmp_path / "inbox")


def test_refuses_to_mix_into_files_waiting_in_the_inbox(tmp_path: Path) -> None:
    options = SimulationOptions(preset="steady", scale=0.001, days=2)
    simulate(options, tmp_path / "inbox")
    with pytest.raises(UsageError, match="already holds"):
        simulate(options, tmp_path / "inbox")


@pytest.fixture(scope="module")
def incumbent(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    inbox = tmp_path_factory.mktemp("home") / "inbox"
    return simulate(SimulationOptions(preset="incumbent", scale=0.01, seed=2), inbox)


def test_incumbent_has_a_history_and_steady_activity(incumbent: SimulationResult) -> None:
    folder = incumbent.folder
    before, oldest, people = query(
        f"SELECT count(*) FILTER (signup_ts < ?), min(signup_ts), count(DISTINCT person_id) "
        f"FROM '{folder}/signups-*.parquet'",
        [INCUMBENT.t0],
    )[0]
    assert before == round(INCUMBENT.base_users * 0.01)
    assert oldest < INCUMBENT.t0 - timedelta(days=3 * 365)  # type: ignore[operator]
    assert people == incumbent.signups
    daily = [
        n
        for _, n in query(
            f"SELECT floor(epoch(event_ts - ?::TIMESTAMP) / 86400)::INT AS day, "
            f"count(DISTINCT user_id) FROM '{folder}/events-*.parquet' GROUP BY day ORDER BY day",
            [INCUMBENT.t0],
        )
        if isinstance(n, int)
    ]
    assert len(daily) == 30 and max(daily) < 1.5 * min(daily)


def test_a_launch_from_the_incumbent_shares_its_people(incumbent: SimulationResult) -> None:
    home = incumbent.folder.parent.parent
    options = SimulationOptions(
        preset="viral", scale=0.002, days=2, from_platform=incumbent.platform, platform="v"
    )
    launch = simulate(options, home / "inbox")
    assert launch.migrated == pytest.approx(VIRAL.migrating_share * launch.signups, rel=0.05)
    migrated, distinct, known = query(
        f"SELECT count(*), count(DISTINCT l.person_id), count(i.person_id) "
        f"FROM '{launch.folder}/signups-*.parquet' l "
        f"LEFT JOIN '{incumbent.folder}/signups-*.parquet' i USING (person_id) "
        "WHERE l.person_id IS NOT NULL"
    )[0]
    assert migrated == distinct == known == launch.migrated
    not_incumbent = SimulationOptions(preset="viral", scale=0.001, from_platform="v")
    with pytest.raises(UsageError, match="only come from an incumbent"):
        simulate(not_incumbent, home / "inbox")


def test_switchers_use_the_incumbent_less_after_joining(tmp_path: Path) -> None:
    inbox, untouched = tmp_path / "inbox", tmp_path / "untouched"
    incumbent = simulate(SimulationOptions(preset="incumbent", scale=0.005, seed=3), inbox)
    shutil.copytree(incumbent.folder, untouched)
    options = SimulationOptions(
        preset="viral", scale=0.001, seed=3, days=3, from_platform="incumbent"
    )
    launch = simulate(options, inbox)
    share = VIRAL.switching_share
    assert launch.switchers == pytest.approx(share * launch.migrated, rel=0.1)
    assert launch.summary()["switching"] == {
        "share": share,
        "activity": VIRAL.switching_activity,
        "switchers": launch.switchers,
        "dropped_events": launch.switching_dropped_events,
    }
    # Only activity events of migrants after their signup on the launch are gone.
    gone = query(
        f"SELECT count(*), count(*) FILTER (WHERE e.event_type = 'account_deleted'), "
        f"count(*) FILTER (WHERE b.signup_ts IS NULL OR e.event_ts < b.signup_ts) "
        f"FROM (SELECT * FROM '{untouched}/events-*.parquet' EXCEPT ALL "
        f"SELECT * FROM '{incumbent.folder}/events-*.parquet') AS e "
        f"JOIN '{incumbent.folder}/signups-*.parquet' AS a USING (user_id) "
        f"LEFT JOIN '{launch.folder}/signups-*.parquet' AS b USING (person_id)"
    )[0]
    assert gone == (launch.switching_dropped_events, 0, 0)
    assert launch.switching_dropped_events > 0
    record = json.loads((tmp_path / "simulations" / "incumbent.json").read_text())
    assert record["events"] == incumbent.events - launch.switching_dropped_events
    rows = sum(pq.read_metadata(p).num_rows for p in incumbent.folder.glob("*.parquet"))
    assert record["expected_ledger"]["rows_read"] == rows


def test_a_launch_needs_a_clean_incumbent_still_in_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    dirty = SimulationOptions(preset="incumbent", scale=0.001, days=2, dirty=0.01, platform="d")
    simulate(dirty, inbox)
    with pytest.raises(UsageError, match="without --dirty"):
        simulate(SimulationOptions(preset="viral", scale=0.001, from_platform="d"), inbox)
    simulate(SimulationOptions(preset="incumbent", scale=0.001, days=2, platform="i"), inbox)
    for path in (inbox / "i").glob("events-*"):
        path.unlink()  # as if a run had loaded them
    with pytest.raises(UsageError, match="no longer waiting"):
        simulate(SimulationOptions(preset="viral", scale=0.001, from_platform="i"), inbox)


@pytest.mark.slow
def test_full_scale_presets_meet_their_milestones_and_event_budget(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    viral = simulate(SimulationOptions(preset="viral"), inbox)
    steady = simulate(SimulationOptions(preset="steady"), inbox)
    assert 6.5 <= nth_signup_hours(viral.folder, 10_000_000, VIRAL.t0) <= 7.5
    assert 5 * 24 <= nth_signup_hours(steady.folder, 1_000_000, STEADY.t0) <= 7 * 24
    assert 40_000_000 <= viral.events + steady.events <= 80_000_000


def test_user_traits_follow_the_preset_mix() -> None:
    """Traits come from 12-bit slots of one raw draw per user: the segment, channel and
    country shares and the mean-one activity spread must still match the preset."""
    population = plan_population(VIRAL, 0.02, 1, RandomStreams(4, 1), "viral")
    new = sign_up_day(population, 0, RandomStreams(4, 1))
    count = len(new.signup_us)
    assert count > 150_000
    channels = np.bincount(new.channel, minlength=len(VIRAL.channel_mix)) / count
    assert channels == pytest.approx(np.array(VIRAL.channel_mix) / sum(VIRAL.channel_mix), abs=0.01)
    tables = TraitTables.of(VIRAL)
    shares = np.array([s.share for s in VIRAL.segments])
    segment_slots = np.bincount(tables.segment, minlength=len(shares)) / len(tables.segment)
    assert segment_slots == pytest.approx(shares / shares.sum(), abs=1 / 4096)
    extra = tables.extra_events.reshape(len(shares), -1)
    mean_more = 1 / np.expm1(1 / tables.extra_scale.astype(np.float64))
    assert mean_more == pytest.approx(tables.extra_events, rel=1e-3)
    assert extra.mean(axis=1) == pytest.approx([s.extra_events for s in VIRAL.segments])
    assert np.all(np.diff(extra, axis=1) > 0)
    lifetime = population.end_us[:count] - population.signup_us[:count]
    assert np.all(lifetime > 0)
    mean_days = sum(s.share * s.lifetime_days for s in VIRAL.segments) / shares.sum()
    assert lifetime.mean() / 86_400e6 == pytest.approx(mean_days, rel=0.05)
