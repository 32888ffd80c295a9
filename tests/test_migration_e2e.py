"""End to end: simulate an incumbent and a viral launch drawing people from it,
run the real pipeline, and check that the published migration tables recover what the
simulation put in: the share of the launch's signups who came from the incumbent, and how
much less the switchers among them used the incumbent after joining.

The truth comes from the simulation's parameters (VIRAL.migrating_share, switching_share,
switching_activity) and from the generated files, read here with plain DuckDB queries over
the Parquet files, never from the snapshot. The incumbent's event files as they were
before the launch was simulated (the launch rewrites them for the switchers) are kept
aside: they are the counterfactual of what migrants would have done without switching."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.config import Settings, load_settings
from etl.pipeline import run_pass
from etl.simulate import SimulationOptions, SimulationResult, simulate
from etl.simulate.presets import VIRAL
from etl.snapshot import current_snapshot, read_table

SEED = 4
TOLERANCE_SDS = 4.0  # a false alarm about once in 16,000 runs of a normal statistic


@dataclass
class World:
    """The simulated platforms, their folders after the pass (archive/<platform>), the
    incumbent's events before the launch rewrote them, and the published tables."""

    incumbent: SimulationResult
    launch: SimulationResult
    archive: Path
    untouched: Path
    tables: dict[str, list[dict[str, Any]]]

    def rows(self, table: str, **where: str) -> list[dict[str, Any]]:
        return [r for r in self.tables[table] if all(r[k] == v for k, v in where.items())]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """DuckDB over the files: `{a}` and `{b}` are the incumbent's and the launch's
        signups, `{a_events}` and `{b_events}` their events as loaded, `{a_untouched}`
        the incumbent's events before the launch was simulated."""
        a, b = self.archive / self.incumbent.platform, self.archive / self.launch.platform
        names = {
            "a": f"'{a}/signups-*.parquet'",
            "a_events": f"'{a}/events-*.parquet'",
            "a_untouched": f"'{self.untouched}/events-*.parquet'",
            "b": f"'{b}/signups-*.parquet'",
            "b_events": f"'{b}/events-*.parquet'",
        }
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql.format(**names)).fetchall()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Incumbent at scale 0.01 (26k people, observed two weeks before the viral launch and
    two weeks after) and the viral launch at 0.002 for 14 days (26k signups, about 10k of
    them from the incumbent); then one pass of `uptake run`."""
    home = tmp_path_factory.mktemp("home")
    settings: Settings = replace(load_settings(home, env={}), settle_seconds=0)
    incumbent = simulate(SimulationOptions("incumbent", scale=0.01, seed=SEED), settings.inbox)
    untouched = home / "untouched"
    untouched.mkdir()
    for path in incumbent.folder.glob("events-*.parquet"):
        shutil.copy2(path, untouched / path.name)
    launch_options = SimulationOptions(
        "viral", scale=0.002, seed=SEED, days=14, from_platform=incumbent.platform
    )
    launch = simulate(launch_options, settings.inbox)
    run = run_pass(settings, now=datetime(2026, 11, 1, 12, 0))
    assert run.status == "ok", run
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    tables = {
        name: read_table(snapshot, name).to_pylist()
        for name in ("migration", "migrant_activity", "overlap")
    }
    return World(incumbent, launch, settings.archive, untouched, tables)


def test_migration_recovers_the_share_of_signups_from_the_incumbent(world: World) -> None:
    rows = world.rows("migration", platform="viral", from_platform="incumbent")
    signups = sum(r["signups"] for r in rows)
    migrants = sum(r["migrants"] for r in rows)
    # From the files: the launch's signups whose person signed up on the incumbent first.
    (files_signups, files_migrants), *_ = world.query(
        "SELECT count(*), count(a.person_id) FROM {b} AS b "
        "LEFT JOIN {a} AS a ON a.person_id = b.person_id AND a.signup_ts < b.signup_ts"
    )
    assert (
        (signups, migrants)
        == (files_signups, files_migrants)
        == (
            world.launch.signups,
            world.launch.migrated,
        )
    )
    # From the parameter: each signup is a migrant with chance migrating_share, so the
    # share is a binomial proportion over the launch's ~26k signups (sd about 0.003).
    p = VIRAL.migrating_share
    assert migrants / signups == pytest.approx(
        p, abs=TOLERANCE_SDS * math.sqrt(p * (1 - p) / signups)
    )


def test_overlap_counts_the_same_people_incumbent_first(world: World) -> None:
    (row,) = world.rows("overlap", platform="incumbent", other_platform="viral")
    migrants = world.launch.migrated
    assert (row["people"], row["first_on_platform"], row["first_on_other"]) == (
        migrants,
        migrants,
        0,
    )
    (median_s,), *_ = world.query(
        "SELECT quantile_cont(epoch_us(b.signup_ts) - epoch_us(a.signup_ts), 0.5) / 1e6 "
        "FROM {b} AS b JOIN {a} AS a USING (person_id)"
    )
    assert row["lag_median_s"] == pytest.approx(median_s, abs=1e-3)


def observable_days(world: World) -> tuple[date, date]:
    """The days migrant_activity can observe: from the incumbent's first usage event (the
    launch's days before its t0 count as observed) to the last day that ended by both
    platforms' data watermarks (latest signup or event)."""
    (first_a, wm_a, wm_b), *_ = world.query(
        "SELECT (SELECT min(event_ts) FROM {a_events}), "
        "greatest((SELECT max(event_ts) FROM {a_events}), (SELECT max(signup_ts) FROM {a})), "
        "greatest((SELECT max(event_ts) FROM {b_events}), (SELECT max(signup_ts) FROM {b}))"
    )
    return first_a.date(), min(wm_a, wm_b).date() - timedelta(days=1)


def migrant_days(world: World, events: str, days: range) -> list[tuple[str, int, int]]:
    """Per migrant (their incumbent user_id), the observable cells among `days` (relative
    to their signup day on the launch) and on how many they were active on the incumbent
    according to the event files `events`."""
    first, last = observable_days(world)
    return [
        (str(user), int(cells), int(active))
        for user, cells, active in world.query(
            f"""
            WITH migrants AS (
                SELECT a.user_id, CAST(b.signup_ts AS DATE) AS join_day
                FROM {{b}} AS b JOIN {{a}} AS a USING (person_id)
                WHERE a.signup_ts < b.signup_ts
            ), cells AS (
                SELECT m.user_id, m.join_day + CAST(d AS INTEGER) AS day
                FROM migrants AS m, range({days.start}, {days.stop}) AS r(d)
                WHERE m.join_day + CAST(d AS INTEGER) BETWEEN DATE '{first}' AND DATE '{last}'
            ), active AS (
                SELECT DISTINCT user_id, CAST(event_ts AS DATE) AS day
                FROM {events} WHERE event_type <> 'account_deleted'
            )
            SELECT c.user_id, count(*), count(a.day)
            FROM cells AS c LEFT JOIN active AS a USING (user_id, day)
            GROUP BY c.user_id ORDER BY c.user_id
            """
        )
    ]


def table_activity(world: World, days: range) -> tuple[int, int]:
    """Migrant-days observed and active on the incumbent, from migrant_activity."""
    rows = [
        r
        for r in world.rows("migrant_activity", platform="viral", from_platform="incumbent")
        if r["day"] in days and r["migrants"]
    ]
    return sum(r["migrants"] for r in rows), sum(r["from_only"] + r["both"] for r in rows)


BEFORE = range(-30, 0)
AFTER = range(1, 31)  # the signup day itself is part before, part after: left out


def test_activity_before_joining_is_untouched(world: World) -> None:
    truth = migrant_days(world, "{a_untouched}", BEFORE)
    cells, active = table_activity(world, BEFORE)
    assert (cells, active) == (sum(c for _, c, _ in truth), sum(a for _, _, a in truth))
    assert active > 1000


def test_migrant_activity_recovers_the_switchers_drop_on_the_incumbent(world: World) -> None:
    """After joining, a migrant is a switcher with chance s, and a switcher keeps each
    active day on the incumbent with chance f, so the expected active migrant-days are
    (1 - s + s f) times the counterfactual ones (the untouched files). The tolerance is
    4 sd of that sum: migrant i with n_i counterfactual active days keeps n_i, or a
    Binomial(n_i, f) when a switcher, so Var_i = s(1-s)(n_i(1-f))^2 + s n_i f(1-f)."""
    s, f = VIRAL.switching_share, VIRAL.switching_activity
    counterfactual = migrant_days(world, "{a_untouched}", AFTER)
    as_loaded = migrant_days(world, "{a_events}", AFTER)
    cells, active = table_activity(world, AFTER)
    # The pipeline is exact: the table counts what the files hold.
    assert (cells, active) == (sum(c for _, c, _ in as_loaded), sum(a for _, _, a in as_loaded))
    assert cells == sum(c for _, c, _ in counterfactual)
    days = [n for _, _, n in counterfactual]
    expected = (1 - s + s * f) * sum(days)
    variance = sum(s * (1 - s) * (n * (1 - f)) ** 2 + s * n * f * (1 - f) for n in days)
    assert sum(days) > 2000  # enough activity for the statistic to mean something
    assert active == pytest.approx(expected, abs=TOLERANCE_SDS * math.sqrt(variance))
    # Said as the shift the dashboard shows: active share after / before joining.
    before_cells, before_active = table_activity(world, BEFORE)
    shift = (active / cells) / (before_active / before_cells)
    cf_shift = (sum(days) / cells) / (before_active / before_cells)
    assert shift == pytest.approx((1 - s + s * f) * cf_shift, rel=0.1)
    assert shift < 0.8 * cf_shift
