"""Backtests of the milestone forecasts on real series: fit on the data up to a cutoff,
forecast when later user counts are reached, and compare with when they were.

    rows = signup_rows("cardano", signup_times, cutoff)          # snapshot-like rows
    result = backtest("cardano", rows, targets, actual_time)     # list[BacktestRow]
    print(format_backtests(result))

`signup_rows` builds the snapshot's `signups` rows (every hour, day and week bucket from
the first signup to the cutoff, empty buckets included, the bucket holding the cutoff
incomplete) from raw signup times, so `fit_all` chooses the grain and handles the daily
cycle exactly as it does in the ETL. `count_rows` does the same for a public user-count
series (one row per observation). Targets are a fixed set of multiples of the users at the
cutoff (`relative_targets`), the same for every series, so nothing is tuned to one series.
`model_rows` draws hourly rows from a growth model, for tests and the fits benchmark.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from etl.contract import ENSEMBLE
from etl.fits import fit_all
from etl.fits.models import GrowthModel

GRAIN_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
TARGET_MULTIPLES = (1.25, 1.5, 2.0)
DAY = timedelta(days=1)


def _floor(moment: datetime, grain: str) -> datetime:
    if grain == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if grain == "week" else day


def signup_rows(
    platform: str, signups: Sequence[datetime], cutoff: datetime, grains: Sequence[str] = ()
) -> pl.DataFrame:
    """The snapshot's `signups` rows of the signups before `cutoff` (naive UTC times):
    t0 is the first signup; every bucket up to the cutoff, zeros included; a bucket that
    ends after the cutoff is incomplete (and counts only the signups before the cutoff)."""
    times = sorted(t for t in signups if t < cutoff)
    if not times:
        raise ValueError(f"{platform}: no signups before {cutoff}")
    t0 = times[0]
    epoch = np.array([t.timestamp() for t in times])
    frames = []
    for grain in grains or GRAIN_STEPS:
        step = GRAIN_STEPS[grain]
        starts = []
        start = _floor(t0, grain)
        while start < cutoff:
            starts.append(start)
            start += step
        edges = np.array([s.timestamp() for s in [*starts, starts[-1] + step]])
        counts = np.diff(np.searchsorted(epoch, edges, side="left"))
        frames.append(
            pl.DataFrame(
                {
                    "platform": platform,
                    "grain": grain,
                    "bucket_start": starts,
                    "elapsed_s": [(s - t0).total_seconds() for s in starts],
                    "signups": counts.astype(np.int64),
                    "cumulative": np.cumsum(counts).astype(np.int64),
                    "complete": [s + step <= cutoff for s in starts],
                }
            )
        )
    return pl.concat(frames)


def model_rows(
    platform: str,
    model: GrowthModel,
    params: Sequence[float],
    *,
    start: datetime,
    days: float,
    seed: int,
    diurnal: float = 0.0,
) -> pl.DataFrame:
    """Hourly `signups` rows drawn around a model's increments from `start` (its t0):
    Poisson counts, times a daily cycle of amplitude `diurnal` (quietest at 03:00 UTC,
    busiest at 15:00); the last bucket is incomplete."""
    n = round(days * 24)
    edges = np.arange(n + 1) / 24
    expected = np.diff(model.cumulative(edges, np.array(params, dtype=float)))
    starts = [start + timedelta(hours=h) for h in range(n)]
    hours = np.array([s.hour for s in starts])
    cycle = 1 + diurnal * np.sin(2 * np.pi * (hours - 9) / 24)
    signups = np.random.default_rng(seed).poisson(expected * cycle)
    return pl.DataFrame(
        {
            "platform": platform,
            "grain": "hour",
            "bucket_start": starts,
            "elapsed_s": edges[:-1] * 86_400,
            "signups": signups,
            "cumulative": np.cumsum(signups),
            "complete": [True] * (n - 1) + [False],
        }
    )


def count_rows(
    platform: str, times: Sequence[datetime], totals: Sequence[float], grain: str
) -> pl.DataFrame:
    """A public user-count series (one total per observation) as `signups` rows of one
    grain; t0 is the first observation, whose increment is 0."""
    cumulative = np.asarray(totals, dtype=np.int64)
    return pl.DataFrame(
        {
            "platform": platform,
            "grain": grain,
            "bucket_start": list(times),
            "elapsed_s": [(t - times[0]).total_seconds() for t in times],
            "signups": np.r_[0, np.diff(cumulative)],
            "cumulative": cumulative,
            "complete": True,
        }
    )


def relative_targets(users_at_cutoff: float) -> tuple[int, ...]:
    """1.25x, 1.5x and 2x the users at the cutoff, to two significant digits."""
    return tuple(_two_digits(users_at_cutoff * m) for m in TARGET_MULTIPLES)


def _two_digits(value: float) -> int:
    scale = 10 ** max(0, math.floor(math.log10(max(value, 1.0))) - 1)
    return int(math.ceil(value / scale) * scale)


def nth_signup(signups: Sequence[datetime]) -> Callable[[int], datetime | None]:
    """When the n-th user signed up (None: not in the data)."""
    ordered = sorted(signups)
    return lambda n: ordered[n - 1] if 0 < n <= len(ordered) else None


def first_crossing(
    times: Sequence[datetime], totals: Sequence[float]
) -> Callable[[int], datetime | None]:
    """When a user-count series first reached n, linearly interpolated between the two
    observations around the crossing (None: not reached in the data)."""
    running = np.maximum.accumulate(np.asarray(totals, dtype=float))

    def crossing(n: int) -> datetime | None:
        index = bisect.bisect_left(list(running), n)
        if index >= len(times):
            return None
        if index == 0:
            return times[0]
        before, after = running[index - 1], running[index]
        share = (n - before) / (after - before) if after > before else 1.0
        return times[index - 1] + (times[index] - times[index - 1]) * float(share)

    return crossing


@dataclass(frozen=True)
class BacktestRow:
    """One forecast of the headline (ensemble) model against what happened."""

    series: str
    cutoff: datetime
    users_at_cutoff: int
    target: int
    forecast: datetime | None  # None: the median draw never reaches the target
    low: datetime | None
    high: datetime | None  # None: "never" at the 90th percentile
    p_never: float
    actual: datetime | None  # None: not reached by the end of the data
    data_end: datetime
    too_early: bool = False  # the fit withheld its forecast: "too early to forecast"
    past_peak: bool = False  # the signup rate peaked inside the window and fell since

    @property
    def horizon_days(self) -> float | None:
        """Days from the cutoff to when the target was really reached."""
        return (self.actual - self.cutoff) / DAY if self.actual else None

    @property
    def error_days(self) -> float | None:
        """Forecast minus actual, in days (positive: forecast too late)."""
        if self.forecast is None or self.actual is None:
            return None
        return (self.forecast - self.actual) / DAY

    @property
    def relative_error(self) -> float | None:
        """|error| over the horizon: 0.5 means off by half the real waiting time."""
        error, horizon = self.error_days, self.horizon_days
        if error is None or not horizon:
            return None
        return abs(error) / horizon

    @property
    def inside(self) -> bool | None:
        """The actual time lies in the 80% interval (a "never" upper end is open)."""
        if self.actual is None:
            return None
        above_low = self.low is not None and self.low <= self.actual
        return above_low and (self.high is None or self.actual <= self.high)


def backtest(
    rows: pl.DataFrame,
    platform: str,
    cutoff: datetime,
    actual: Callable[[int], datetime | None],
    data_end: datetime,
    *,
    targets: Sequence[int] = (),
    seed: int = 0,
) -> list[BacktestRow]:
    """Fit the rows (data up to `cutoff`), forecast `targets` (default: relative_targets of
    the users at the cutoff) and compare the headline forecast with `actual`."""
    users = int(rows.filter(pl.col("platform") == platform)["cumulative"].max())  # type: ignore[arg-type]
    goals = tuple(targets) or relative_targets(users)
    fits, forecasts = fit_all(rows, goals, seed=seed)
    headline = _headline_params(fits, platform)
    too_early = bool(headline.get("too_early", False))
    result = []
    for row in forecasts.to_pylist():
        if row["platform"] != platform or row["model"] != ENSEMBLE:
            continue
        result.append(
            BacktestRow(
                series=platform,
                cutoff=cutoff,
                users_at_cutoff=users,
                target=int(row["users"]),
                forecast=_naive(row["eta"]),
                low=_naive(row["eta_low"]),
                high=_naive(row["eta_high"]),
                # A withheld forecast ("too early") has no P(never).
                p_never=float(row["p_never"] or 0.0),
                actual=actual(int(row["users"])),
                data_end=data_end,
                too_early=too_early,
                past_peak=bool(headline.get("past_peak", False)),
            )
        )
    return result


def _headline_params(fits: pa.Table, platform: str) -> dict[str, Any]:
    for row in fits.to_pylist():
        if row["platform"] == platform and row["model"] == ENSEMBLE:
            params: dict[str, Any] = json.loads(row["params"])
            return params
    return {}


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value is not None else None


def _day(value: datetime | None, open_end: str = "never") -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else open_end


def format_backtests(rows: Sequence[BacktestRow]) -> str:
    """A Markdown table: series, cutoff, target, forecast, interval, actual, error."""
    lines = [
        "| series | cutoff (users) | target | forecast | 80% interval | actual | error (days) "
        "| error / horizon |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        actual = _day(r.actual, f"not by {r.data_end:%Y-%m-%d}")
        error = f"{r.error_days:+.1f}" if r.error_days is not None else "-"
        relative = f"{r.relative_error:.2f}" if r.relative_error is not None else "-"
        mark = {True: " (in)", False: " (out)", None: ""}[r.inside]
        forecast, interval = _day(r.forecast), f"{_day(r.low)} to {_day(r.high)}{mark}"
        if r.too_early:
            forecast, interval = "too early", "-"
        lines.append(
            f"| {r.series} | {r.cutoff:%Y-%m-%d} ({r.users_at_cutoff:,}) | {r.target:,} "
            f"| {forecast} | {interval} | {actual} | {error} | {relative} |"
        )
    return "\n".join(lines)
