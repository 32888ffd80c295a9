"""Backtests of the growth-model fits on real public data, with the errors measured.

(a) OWID technology adoption (US share of households, 1860-2019): every technology that
    passes one rule (ADOPTION below), not a hand-picked few. The full series must give a
    sensible ceiling (at most 100%, not below what was observed, near the last value when
    the series is saturated) or say "ceiling not yet identifiable"; the same series cut
    well before its inflection (at 25% of its eventual maximum) must say it.
(b) Stack Exchange signups (every site in growth-data: Cardano, Constructed Languages):
    fit on the first 30-120 days of `Users.CreationDate`, forecast when 1.25x, 1.5x and 2x
    the users at the cutoff signed up, and compare with the real N-th signup.
(c) Bluesky, recent window: fit the last 30 days of daily totals before each cutoff.

The default run fits a few cases (each a few seconds); `-m slow` runs them all and the
summaries, which print the error tables (`pytest -m slow -s tests/test_backtest.py`).
"""

from __future__ import annotations

import functools
import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import GROWTH_DATA
from test_fits import owid_signups, rows_of

from etl.fits import fit_all
from etl.fits.backtest import (
    BacktestRow,
    backtest,
    count_rows,
    first_crossing,
    format_backtests,
    nth_signup,
    relative_targets,
    signup_rows,
)
from etl.fits.backtest_suite import stack_exchange_signups

OWID_CSV = Path("owid") / "technology-diffusion-comin-hobijn.csv"
BLUESKY_CSV = Path("bluesky") / "bsky_daily_users_activity_2023-05-08_2025-04-07.csv"
SHARE = 10_000  # owid_signups stores a share of 1% as 10,000 "users" per million

# (a) The rule. An adoption curve: at least 12 observations, starting at or below half of
# its maximum, never falling more than 10 points below its running maximum (Landline,
# which was abandoned, is not an adoption curve). Saturated: the last 5 observations lie
# within 3 points of each other. "Before the inflection": the last observation at or below
# 25% of the series' maximum (a logistic's inflection is at 50%, a Gompertz's at 37%),
# kept only when at least 8 observations lead up to it (fewer cannot be fitted at all).
MIN_OBSERVATIONS = 12
MAX_DROP_POINTS = 10.0
SATURATED_SPREAD_POINTS = 3.0
TRUNCATE_AT_SHARE_OF_MAX = 0.25
MIN_TRUNCATED_OBSERVATIONS = 8
# A ceiling is "sensible" within these tolerances (percentage points): at most 100% (+1 for
# rounding), not below the last observation - 3, and for a saturated series within 3 of
# the last observation.
CEILING_ABOVE_100 = 1.0
CEILING_BELOW_LAST = 3.0
CEILING_FROM_LAST = 3.0
DEFAULT_CASES = 4  # per OWID test in the default run: the series with the most observations


def owid_table(growth_data: Path) -> pl.DataFrame:
    data = pl.read_csv(growth_data / OWID_CSV)
    return data.rename({data.columns[2]: "share"}).sort("Entity", "Year")


def is_adoption(shares: list[float]) -> bool:
    peak, running = max(shares), -math.inf
    for share in shares:
        running = max(running, share)
        if share < running - MAX_DROP_POINTS:
            return False
    return len(shares) >= MIN_OBSERVATIONS and shares[0] <= 0.5 * peak


def is_saturated(shares: list[float]) -> bool:
    return max(shares[-5:]) - min(shares[-5:]) <= SATURATED_SPREAD_POINTS


def truncation_year(years: list[int], shares: list[float]) -> int | None:
    limit = TRUNCATE_AT_SHARE_OF_MAX * max(shares)
    before = [i for i, share in enumerate(shares) if share <= limit]
    if not before or before[0] != 0:
        return None
    last = before[-1]
    # the share must stay below the limit up to the cut (no early wobble above it)
    if any(share > limit for share in shares[: last + 1]):
        return None
    return years[last] if last + 1 >= MIN_TRUNCATED_OBSERVATIONS else None


def owid_cases() -> tuple[list[Any], list[Any]]:
    """(full-series cases, truncated cases) by the rule; the first DEFAULT_CASES of each
    (most observations) run by default, the rest with -m slow."""
    if not (GROWTH_DATA / OWID_CSV).exists():
        return [], []
    full, truncated = [], []
    for (name,), rows in owid_table(GROWTH_DATA).group_by("Entity", maintain_order=True):
        years, shares = rows["Year"].to_list(), rows["share"].to_list()
        if not is_adoption(shares):
            continue
        full.append((len(shares), str(name)))
        cut = truncation_year(years, shares)
        if cut is not None:
            truncated.append((sum(y <= cut for y in years), str(name), cut))
    full.sort(key=lambda c: (-c[0], c[1]))
    truncated.sort(key=lambda c: (-c[0], c[1]))
    return (
        [_case(i, c[1]) for i, c in enumerate(full)],
        [_case(i, c[1], c[2]) for i, c in enumerate(truncated)],
    )


def _case(index: int, *values: Any) -> Any:
    marks = () if index < DEFAULT_CASES else (pytest.mark.slow,)
    return pytest.param(*values, marks=marks, id=" ".join(str(v) for v in values))


FULL_CASES, TRUNCATED_CASES = owid_cases()


@functools.cache
def owid_fit(growth_data: Path, technology: str, until: int | None = None) -> dict[str, Any]:
    frame = owid_signups(growth_data, technology, until)
    fits, _ = fit_all(frame, (1_000_000,))
    platform = frame["platform"][0]
    return {row["model"]: row for row in rows_of(fits, platform)}


def ceiling_verdict(growth_data: Path, technology: str) -> dict[str, Any]:
    rows = owid_table(growth_data).filter(pl.col("Entity") == technology)
    shares = rows["share"].to_list()
    headline = owid_fit(growth_data, technology)["ensemble"]
    params = json.loads(headline["params"])
    plateau = sum(shares[-5:]) / 5
    verdict = {
        "technology": technology,
        "observations": len(shares),
        "last": shares[-1],
        "plateau": plateau if is_saturated(shares) else None,
        "identified": bool(headline["ceiling_identified"]),
        "note": params.get("note", ""),
    }
    if headline["ceiling_identified"]:
        verdict |= {
            "ceiling": params["ceiling"] / SHARE,
            "low": params["ceiling_low"] / SHARE,
            "high": params["ceiling_high"] / SHARE,
        }
    return verdict


@pytest.mark.parametrize("technology", FULL_CASES)
def test_owid_full_series_ceiling_is_sensible(growth_data: Path, technology: str) -> None:
    v = ceiling_verdict(growth_data, technology)
    if not v["identified"]:
        assert v["note"].startswith("ceiling not yet identifiable"), v
        return
    assert v["ceiling"] <= 100 + CEILING_ABOVE_100, v
    assert v["ceiling"] >= v["last"] - CEILING_BELOW_LAST, v
    if v["plateau"] is not None:
        assert abs(v["ceiling"] - v["last"]) <= CEILING_FROM_LAST, v


@pytest.mark.parametrize(("technology", "until"), TRUNCATED_CASES)
def test_owid_truncated_before_inflection_is_not_identifiable(
    growth_data: Path, technology: str, until: int
) -> None:
    rows = owid_fit(growth_data, technology, until)
    assert not any(row["ceiling_identified"] for row in rows.values()), technology
    note = json.loads(rows["ensemble"]["params"])["note"]
    assert note.startswith("ceiling not yet identifiable"), note


@pytest.mark.slow
def test_owid_summary(growth_data: Path) -> None:
    """Every case by the rule: how often the ceiling was identified, and how far off."""
    verdicts = [ceiling_verdict(growth_data, p.values[0]) for p in FULL_CASES]
    print("\n| technology | observations | last % | mean of last 5 % | ceiling % (80% interval) |")
    print("|---|---|---|---|---|")
    for v in verdicts:
        plateau = f"{v['plateau']:.1f}" if v["plateau"] is not None else "rising"
        ceiling = (
            f"{v['ceiling']:.1f} ({v['low']:.1f} to {v['high']:.1f})"
            if v["identified"]
            else "not yet identifiable"
        )
        print(
            f"| {v['technology']} | {v['observations']} | {v['last']:.1f} | {plateau} | {ceiling} |"
        )
    truncated = [owid_fit(growth_data, *p.values) for p in TRUNCATED_CASES]
    flagged = sum(not any(r["ceiling_identified"] for r in rows.values()) for rows in truncated)
    saturated = [v for v in verdicts if v["plateau"] is not None]
    identified = sum(v["identified"] for v in saturated)
    print(
        f"saturated: ceiling identified for {identified} of {len(saturated)}; "
        f"truncated before the inflection: {flagged} of {len(truncated)} flagged"
    )
    assert flagged == len(truncated)
    # Identifying a plateau is the point of the ceiling; failing to on most saturated
    # series would make the check useless even if it is never wrong.
    assert identified > len(saturated) / 2


# --- (b) Stack Exchange signups and (c) Bluesky: time to a later user count ---------------

SITES = ("cardano", "conlang")
CUTOFF_DAYS = (30, 60, 90, 120)
DEFAULT_CUTOFF_DAYS = 60
BLUESKY_WINDOW_DAYS = 30
BLUESKY_CUTOFFS = tuple(datetime(2024, 12, 1) + timedelta(days=15 * i) for i in range(6))


@functools.cache
def site_signups(growth_data: Path, site: str) -> tuple[datetime, ...]:
    """Users.CreationDate (UTC) of every account but the Community bot (Id -1)."""
    return tuple(stack_exchange_signups(growth_data, site))


def site_cutoff(signups: tuple[datetime, ...], days: int) -> datetime:
    """Midnight UTC `days` after the first signup."""
    launch_day = signups[0].replace(hour=0, minute=0, second=0, microsecond=0)
    return launch_day + timedelta(days=days)


@functools.cache
def site_backtest(growth_data: Path, site: str, days: int) -> tuple[BacktestRow, ...]:
    signups = site_signups(growth_data, site)
    cutoff = site_cutoff(signups, days)
    rows = signup_rows(site, signups, cutoff)
    return tuple(backtest(rows, site, cutoff, nth_signup(signups), signups[-1]))


@functools.cache
def bluesky_totals(growth_data: Path) -> tuple[tuple[datetime, ...], tuple[float, ...]]:
    data = pl.read_csv(growth_data / BLUESKY_CSV).filter(pl.col("users").is_not_null())
    data = data.sort("date")
    return tuple(datetime.fromisoformat(d) for d in data["date"]), tuple(data["users"])


@functools.cache
def bluesky_backtest(growth_data: Path, cutoff: datetime) -> tuple[BacktestRow, ...]:
    times, totals = bluesky_totals(growth_data)
    start = cutoff - timedelta(days=BLUESKY_WINDOW_DAYS)
    window = [(t, u) for t, u in zip(times, totals, strict=True) if start <= t < cutoff]
    name = f"bluesky {BLUESKY_WINDOW_DAYS}d"
    rows = count_rows(name, [t for t, _ in window], [u for _, u in window], "day")
    crossing = first_crossing(times, totals)
    return tuple(backtest(rows, name, window[-1][0], crossing, times[-1]))


def test_bluesky_surge_window_is_not_a_ceiling(growth_data: Path) -> None:
    """The 30 days before 2024-12-01 are the post-election surge on top of 13.7M users: an
    S-curve through them levels off at 23.8M (Bluesky passed 34M four months later). The
    pace at the end is still above the pace at the start, so the surge check refuses it."""
    times, totals = bluesky_totals(growth_data)
    cutoff = BLUESKY_CUTOFFS[0]
    start = cutoff - timedelta(days=BLUESKY_WINDOW_DAYS)
    window = [(t, u) for t, u in zip(times, totals, strict=True) if start <= t < cutoff]
    rows = count_rows("surge", [t for t, _ in window], [u for _, u in window], "day")
    fits, _ = fit_all(rows, (30_000_000,))
    by_model = {r["model"]: r for r in fits.to_pylist()}
    assert by_model["ensemble"]["ceiling_identified"] is False
    surge = [
        m
        for m in ("logistic", "gompertz", "bass")
        if json.loads(by_model[m]["params"])["identifiability"]["surge_on_earlier_growth"]
    ]
    assert surge, "no S-curve was flagged as a surge"


def check_sane(rows: tuple[BacktestRow, ...]) -> None:
    assert len(rows) == 3
    for row in rows:
        assert row.target > row.users_at_cutoff
        assert 0.0 <= row.p_never <= 1.0
        ends = [t for t in (row.low, row.forecast, row.high) if t is not None]
        assert ends == sorted(ends) and all(t >= row.cutoff for t in ends), row


def _site_case(site: str, days: int) -> Any:
    marks = () if days == DEFAULT_CUTOFF_DAYS else (pytest.mark.slow,)
    return pytest.param(site, days, marks=marks, id=f"{site} {days}d")


@pytest.mark.parametrize(
    ("site", "days"), [_site_case(site, days) for site in SITES for days in CUTOFF_DAYS]
)
def test_stack_exchange_forecast_of_later_user_counts(
    growth_data: Path, site: str, days: int
) -> None:
    rows = site_backtest(growth_data, site, days)
    check_sane(rows)
    print("\n" + format_backtests(rows))
    # The nearest target (1.25x) was reached in the data on both sites at every cutoff; it
    # has a forecast unless the fit says it is too early to give one.
    assert rows[0].actual is not None
    assert rows[0].too_early or rows[0].error_days is not None


@pytest.mark.parametrize(
    "cutoff",
    [
        pytest.param(c, marks=() if i == 0 else (pytest.mark.slow,), id=f"{c:%Y-%m-%d}")
        for i, c in enumerate(BLUESKY_CUTOFFS)
    ],
)
def test_bluesky_recent_window_forecast(growth_data: Path, cutoff: datetime) -> None:
    rows = bluesky_backtest(growth_data, cutoff)
    check_sane(rows)
    print("\n" + format_backtests(rows))


def within_bound(row: BacktestRow) -> bool:
    """The forecast is usable: the real time lies in the 80% interval, or the forecast
    waiting time is within a factor of 2 of the real one; a target not reached by the end
    of the data counts when the forecast (median) lies after that end too."""
    if row.actual is None:
        return row.forecast is None or row.forecast > row.data_end
    if row.inside:
        return True
    if row.forecast is None:
        return False
    forecast_wait = (row.forecast - row.cutoff) / timedelta(days=1)
    actual_wait = (row.actual - row.cutoff) / timedelta(days=1)
    return abs(math.log(max(forecast_wait, 1e-9) / actual_wait)) <= math.log(2)


def all_backtests(growth_data: Path) -> list[BacktestRow]:
    rows = [
        r for site in SITES for days in CUTOFF_DAYS for r in site_backtest(growth_data, site, days)
    ]
    return rows + [r for c in BLUESKY_CUTOFFS for r in bluesky_backtest(growth_data, c)]


@pytest.mark.slow
def test_forecast_error_table(growth_data: Path) -> None:
    """Every backtest case, printed as the table in the README; a few plain facts hold."""
    rows = all_backtests(growth_data)
    print("\n" + format_backtests(rows))
    reached = [r for r in rows if r.actual is not None]
    inside = sum(bool(r.inside) for r in reached)
    usable = sum(within_bound(r) for r in rows)
    errors = sorted(r.relative_error for r in reached if r.relative_error is not None)
    print(
        f"reached in the data: {len(reached)} of {len(rows)}; inside the 80% interval: "
        f"{inside}; within the bound (interval, or a factor of 2 of the real wait): "
        f"{usable} of {len(rows)}; median |error| / horizon: {errors[len(errors) // 2]:.2f}"
    )
    assert reached and errors


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured 2026-11-29 with intervals calibrated on earlier truncations and the "
    "surge check: the 80% interval holds the real time in 7 of the 17 reached (1 before), "
    "but 18 of 42 cases are within the bound (21 before; median |error| / horizon 0.85 "
    "both times): widening does not move the median, which misses later surges (Cardano), "
    "a slowdown the window does not show (Conlang) and second waves after a decay (Bluesky); "
    "see README, 'Backtests'",
)
def test_forecasts_are_within_the_bound_for_most_cases(growth_data: Path) -> None:
    rows = all_backtests(growth_data)
    assert sum(within_bound(r) for r in rows) > len(rows) / 2


# --- (d) the early-launch suite (simulator presets), fast part -----------------


@pytest.mark.parametrize(
    ("preset", "cut_index"),
    [("viral", 0), ("viral", 1), ("viral", 2), ("steady", 1), ("incumbent", 3)],
    ids=["viral 1h", "viral 2h", "viral 4h", "steady 2d", "incumbent 7d"],
)
def test_early_launch_forecasts_are_not_confidently_wrong(preset: str, cut_index: int) -> None:
    """Fitted on the first hours of the viral launch (days of the others), the headline
    forecast never gives P(never) >= 0.5 for a count reached within 3x the observed span,
    and a target reached within the horizon has a finite forecast."""
    from etl.fits.backtest_suite import beyond_horizon, confident_wrong, run_case, simulated_cases

    case = simulated_cases(preset, seeds=(1,))[cut_index]
    rows = run_case(case)
    assert len(rows) == 3
    for row in rows:
        assert not confident_wrong(row, case), row
        if row.actual is not None and not beyond_horizon(row, case):
            assert row.forecast is not None, row


def test_a_decline_that_a_data_step_makes_look_final_is_not_a_sure_never(
    growth_data: Path,
) -> None:
    """Bluesky, 30 days to 2024-12-31: the surge decays, then the daily count halves
    overnight (45k -> 19k on Dec 27). Bass alone passed the profile check on it (logistic
    and Gompertz, as good a fit, were flat), and burst + inflow put the inflow at ~0 per day:
    two ceilings no check confirms, which said "never" (P 0.97) for 33M, reached in March.
    Now the S-curves' ceiling is contested and burst + inflow, levelling off, is left out."""
    cutoff = BLUESKY_CUTOFFS[2]
    rows = bluesky_backtest(growth_data, cutoff)
    assert rows[0].actual is not None and rows[0].p_never < 0.5
    assert rows[0].inside


@pytest.mark.parametrize("cut_index", [1, 2], ids=["viral 2h", "viral 4h"])
def test_a_launch_past_its_peak_is_forecast_from_its_decay(cut_index: int) -> None:
    """The viral launch 2 and 4 hours in: its rate rose over ~20 minutes, peaked and has
    fallen. Burst models whose rate peaked at t0 could not follow that rise, lost to an
    S-curve whose ceiling no check confirms and so stayed out, and the exponential alone
    forecast at the window's average pace, far above the falling one: the first target
    came at 0.3-0.7 of the real wait too early. With the burst's launch ramp the burst
    models fit, and the next target (reached within the burst) is within 0.2 of it."""
    from etl.fits.backtest_suite import run_case, simulated_cases

    case = simulated_cases("viral", seeds=(1,))[cut_index]
    first = run_case(case)[0]
    assert first.past_peak and first.relative_error is not None
    assert first.relative_error < 0.2, first


def test_an_interval_holds_at_least_the_bucket_of_its_median() -> None:
    """The viral launch 1 hour in, on minute data of millions of users: the bootstrap and
    the calibration (its truncations forecast within 0.3%) gave intervals of seconds,
    "00:15 to 00:15", that missed by a minute. Counts per minute cannot say when in its
    minute a milestone falls: every interval, the headline's and each model's, holds the
    whole minute its forecast falls in."""
    from etl.fits.backtest_suite import simulated_cases

    case = simulated_cases("viral", seeds=(2,))[0]
    users = int(case.rows["cumulative"].max())  # type: ignore[arg-type]
    fits, forecasts = fit_all(case.rows, relative_targets(users), seed=0)
    assert {json.loads(p)["grain"] for p in fits["params"].to_pylist()} == {"minute"}
    rows = [r for r in forecasts.to_pylist() if r["eta"] is not None]
    assert len(rows) >= 6
    for row in rows:
        minute = row["eta"].replace(second=0, microsecond=0)
        assert row["eta_low"] <= minute, row
        assert row["eta_high"] is None or row["eta_high"] >= minute + timedelta(minutes=1), row


def test_a_forecast_days_ahead_is_calibrated_by_checks_as_far_ahead() -> None:
    """The steady launch a week in (hourly data, daily cycle): its truncation checks 14
    hours ahead missed by up to 27% (the forecast has no daily cycle; over days it averages
    out), those 1-3.5 days ahead by 1-6%, and the forecast of 2x its users, 6.8 days
    ahead, is off by under 1%. Widened by the RMS of all checks alike its interval was
    +-15% wide; weighed by how far each check looked, it is +-5% and holds the real time."""
    from etl.fits.backtest_suite import run_case, simulated_cases

    case = simulated_cases("steady", seeds=(1,))[3]
    last = run_case(case)[-1]
    assert last.forecast and last.low and last.high and last.actual
    wait = last.forecast - case.cutoff
    half_width = math.log((last.high - case.cutoff) / wait)
    assert half_width < 0.08, last
    assert last.inside, last
