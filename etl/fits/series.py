"""From the snapshot's `signups` rows of one platform to the series a model is fitted to.

The fit uses per-period increments (cumulative differences between consecutive complete
buckets, so an empty bucket that the rollup left out folds into the next one) as counts
for a negative-binomial likelihood, and a seasonal profile (hour of day on hourly data,
day of week on daily data) that multiplies every model's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from numpy.typing import NDArray

from etl.fits.models import Array

DAY_S = 86_400.0
GRAIN_SECONDS = {"minute": 60.0, "hour": 3_600.0, "day": DAY_S, "week": 7 * DAY_S}
# Hours of the day on hourly data, days of the week on daily data.
SEASON_LENGTH = {"hour": 24, "day": 7}
MIN_POINTS = 8
MIN_SEASON_CYCLES = 3
SMOOTHING_WINDOW = 5
# Smallest seasonal factor, as a share of the mean factor (see seasonal_factors).
SEASON_FLOOR = 0.02
# Share of the distinct reported totals (beyond chance) that must be whole multiples of a
# step for the series to count as reported in that step (see reporting_step).
REPORTED_SHARE = 0.85
_STEP_LADDER = tuple(float(m * 10**e) for e in range(10) for m in (1, 2, 5))[1:]


@dataclass(frozen=True)
class FitSeries:
    """One platform's increments, ready to fit. Times are days since t0."""

    platform: str
    grain: str
    t0: datetime  # naive UTC
    t_start: Array  # start of each increment's interval
    t_end: Array
    increments: Array  # signups in (t_start, t_end]
    season: Array  # multiplicative seasonal factor of each point (1.0: none)
    counts: Array  # the increments the likelihood sees, in steps of `resolution`: >= 0
    resolution: float  # the step the totals are reported in (1 for exact counts)
    # The window shows most of the platform's history, which did not start at zero (at
    # most as many users before it as in it, e.g. a survey's first share): the users before
    # its first bucket are one more count the model must explain (C at the window's start),
    # so a curve cannot start at millions where the data start near zero. `counts` then
    # begins with that count. A launch counted from its first signup has none.
    level_term: bool
    dispersion: float  # model-free over-dispersion estimate: the fit's starting value
    cumulative_at_end: float  # observed cumulative total at the last complete bucket
    current_total: float  # observed total including an incomplete last bucket
    seasonal_amplitude: float  # max |factor - 1|; 0 when no cycle was modelled
    boundaries: Array  # t_start[0], then every t_end: increment i spans [i] to [i + 1]

    @property
    def n_points(self) -> int:
        return int(self.increments.size)

    @property
    def fitted_until(self) -> float:
        return float(self.t_end[-1])

    @property
    def span_days(self) -> float:
        return float(self.t_end[-1] - self.t_start[0])

    @property
    def bucket_days(self) -> float:
        return GRAIN_SECONDS[self.grain] / DAY_S

    @property
    def time_step(self) -> float:
        """The time resolution of the data, in days: the median width of its buckets (a
        yearly survey fitted at weekly grain has a step of a year)."""
        return float(np.median(self.t_end - self.t_start))

    @property
    def growth(self) -> float:
        """Users gained over the fitted window."""
        return float(self.increments.sum())

    @property
    def cumulative(self) -> Array:
        """Observed cumulative total at the end of each increment."""
        return np.asarray(self.cumulative_at_end - self.growth + np.cumsum(self.increments))

    def head(self, n: int) -> FitSeries:
        """The series as it was after its first n increments (same seasonal profile and
        counts: a calibration refit must see the data exactly as the full fit does)."""
        level = float(self.cumulative[n - 1])
        return replace(
            self,
            t_start=self.t_start[:n],
            t_end=self.t_end[:n],
            increments=self.increments[:n],
            season=self.season[:n],
            counts=self.counts[: n + int(self.level_term)],
            cumulative_at_end=level,
            current_total=level,
            boundaries=self.boundaries[: n + 1],
        )


def preferred_grain(span_days: float) -> str:
    """Hourly for a launch watched for days, daily for months and years."""
    if span_days <= 2:
        return "minute"
    if span_days <= 60:
        return "hour"
    if span_days <= 5 * 365:
        return "day"
    return "week"


def choose_grain(rows: pl.DataFrame) -> str | None:
    """The grain to fit: the preferred one for the data's span, else the nearest coarser
    one, else the nearest finer one, as long as it has enough complete buckets."""
    complete = rows.filter(pl.col("complete"))
    if complete.is_empty():
        return None
    span_s = float(complete["elapsed_s"].max()) - float(complete["elapsed_s"].min())  # type: ignore[arg-type]
    order = list(GRAIN_SECONDS)
    preferred = order.index(preferred_grain(span_s / DAY_S))
    candidates = order[preferred:] + order[:preferred][::-1]
    counts = dict(complete.group_by("grain").len().iter_rows())
    return next((g for g in candidates if counts.get(g, 0) >= MIN_POINTS), None)


def _naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _centred_moving_average(values: Array, length: int) -> tuple[Array, int]:
    """Moving average over one full cycle (2xL for even L) and the index of its first
    centre."""
    if length % 2 == 0:
        weights = np.r_[0.5, np.ones(length - 1), 0.5] / length
    else:
        weights = np.ones(length) / length
    return np.convolve(values, weights, mode="valid"), length // 2


def seasonal_factors(increments: Array, phase: NDArray[np.int64], length: int) -> Array:
    """Multiplicative factor per phase (ratio to a centred moving average), shrunk towards
    1 by how much of its spread is noise, so a series without a cycle gets ~1.0."""
    average, first = _centred_moving_average(increments, length)
    centre = np.arange(first, first + average.size)
    # Skip the first cycle: a launch burst there would pass for a daily pattern.
    keep = (centre >= length) & (average > 0)
    ratio, ratio_phase = increments[centre[keep]] / average[keep], phase[centre[keep]]
    counts = np.bincount(ratio_phase, minlength=length)
    if counts.min() < 2:
        return np.ones_like(increments)
    means = np.bincount(ratio_phase, weights=ratio, minlength=length) / counts
    squares = np.bincount(ratio_phase, weights=ratio**2, minlength=length) / counts
    sampling_var = float(np.mean((squares - means**2) / (counts - 1)))
    raw = means / means.mean()
    spread = float(raw.var())
    shrink = max(0.0, 1.0 - sampling_var / spread) if spread > 0 else 0.0
    factors = 1.0 + shrink * (raw - 1.0)
    # A phase that never had a signup (e.g. a feed stamped at midnight) would get factor 0,
    # which no multiplicative model can divide by: floor it at a small share of the mean.
    factors = np.maximum(factors, SEASON_FLOOR * factors.mean())
    return np.asarray(factors[phase] / factors.mean())


def _rolling_median(values: Array, window: int) -> Array:
    padded = np.pad(values, window // 2, mode="edge")
    return np.asarray(np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1))


def likelihood_counts(cumulative: Array, first: float) -> Array:
    """Increments of the running maximum of the cumulative curve. A count likelihood needs
    counts >= 0; a dip in a public total (a re-count, a survey's wobble) is measurement
    noise, so the curve is held at its high until the data pass it again."""
    running = np.maximum.accumulate(np.r_[cumulative[0] - max(first, 0.0), cumulative])
    return np.asarray(np.diff(running))


def reporting_step(totals: Array) -> float:
    """The step a total is reported in: the largest unit of a 1-2-5 ladder that nearly
    every distinct reported total is a whole multiple of (1 for exact signups; 10,000 for a
    share of households given in whole percent of a million). A public series reported in
    whole or half percent still carries a few values interpolated between survey years
    (10.67%, 12.33%), so the rule asks for REPORTED_SHARE of the totals, beyond what chance
    gives (a share 1/s of arbitrary integers are multiples of s), not for all of them: the
    greatest common divisor of the increments fell to 0.01% on such a series, and a count
    likelihood fed 100 "counts" per 1% step reads a rounded plateau (0, 0, +1 step, 0) as
    wild over-dispersion, which leaves the ceiling unidentified and the level adrift."""
    levels = np.unique(np.abs(totals[totals != 0]))
    if levels.size < MIN_POINTS or not np.all(levels == np.round(levels)):
        return 1.0
    typical_move = float(np.median(np.abs(np.diff(levels))))
    best = 1.0
    for step in _STEP_LADDER:
        if step > typical_move:
            break
        share = float(np.mean(np.mod(levels, step) == 0))
        beyond_chance = (share - 1.0 / step) / (1.0 - 1.0 / step)
        if beyond_chance >= REPORTED_SHARE:
            best = step
    return best


def dispersion_guess(counts: Array, season: Array) -> float:
    """Negative-binomial over-dispersion (variance mu + a mu^2) against a model-free
    smoother, by moments: the starting value of each model's own estimate."""
    smooth = np.maximum(_rolling_median(counts / season, SMOOTHING_WINDOW) * season, 1.0)
    excess = ((counts - smooth) ** 2 - smooth) / smooth**2
    return float(np.clip(np.median(excess), 1e-4, 10.0))


def robust_sd(values: Array) -> float:
    """Mean absolute deviation from the median, scaled to a normal's sd. Unlike the MAD it
    stays positive when more than half of the values are exact repeats."""
    return 1.2533 * float(np.mean(np.abs(values - np.median(values))))


def _phase(bucket_epoch_s: Array, grain: str) -> NDArray[np.int64]:
    width = GRAIN_SECONDS[grain]
    return np.asarray(np.round(bucket_epoch_s / width).astype(np.int64) % SEASON_LENGTH[grain])


def _season(increments: Array, widths: Array, epoch_s: Array, grain: str) -> Array:
    length = SEASON_LENGTH.get(grain)
    regular = bool(np.all(np.abs(widths - GRAIN_SECONDS[grain] / DAY_S) < 0.1 * widths))
    if length is None or not regular or increments.size < (MIN_SEASON_CYCLES + 1) * length:
        return np.ones_like(increments)
    return seasonal_factors(increments, _phase(epoch_s, grain), length)


def build_series(platform: str, rows: pl.DataFrame) -> FitSeries | None:
    """The fit series of one platform, or None when no grain has enough complete buckets."""
    grain = choose_grain(rows)
    if grain is None:
        return None
    at_grain = rows.filter(pl.col("grain") == grain).sort("elapsed_s")
    complete = at_grain.filter(pl.col("complete"))
    width_days = GRAIN_SECONDS[grain] / DAY_S
    elapsed = complete["elapsed_s"].cast(pl.Float64).to_numpy() / DAY_S
    cumulative = complete["cumulative"].cast(pl.Float64).to_numpy()
    first_bucket = float(complete["signups"][0])
    t_end = elapsed + width_days
    t_start = np.r_[elapsed[0], t_end[:-1]]
    increments = np.r_[first_bucket, np.diff(cumulative)]
    starts = complete["bucket_start"].to_list()
    t0 = _naive_utc(starts[0]) - timedelta(seconds=float(elapsed[0] * DAY_S))
    epoch_s = np.array([_naive_utc(s).replace(tzinfo=UTC).timestamp() for s in starts])
    season = _season(increments, t_end - t_start, epoch_s, grain)
    step = reporting_step(cumulative)
    counts = likelihood_counts(cumulative, first_bucket) / step
    before = float(cumulative[-1]) - float(increments.sum())
    level_term = 0 < before <= float(increments.sum())
    if level_term:
        counts = np.r_[max(before, 0.0) / step, counts]
    return FitSeries(
        platform=platform,
        grain=grain,
        t0=t0,
        t_start=t_start,
        t_end=t_end,
        increments=increments,
        season=season,
        counts=counts,
        resolution=step,
        level_term=level_term,
        dispersion=dispersion_guess(counts[int(level_term) :], season),
        cumulative_at_end=float(cumulative[-1]),
        current_total=float(at_grain["cumulative"].max()),  # type: ignore[arg-type]
        seasonal_amplitude=float(np.abs(season - 1.0).max()),
        boundaries=np.r_[t_start[0], t_end],
    )
