"""From the snapshot's `signups` rows of one platform to the series a model is fitted to.

The fit uses per-period increments (cumulative differences between consecutive complete
buckets, so an empty bucket that the rollup left out folds into the next one), a seasonal
profile (hour of day on hourly data, day of week on daily data) that multiplies every
model's prediction, and a noise scale per point that does not depend on the model, so that
the AICc of different models is computed on the same weighted data.
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
LEVEL_WINDOW = 9
# Smallest seasonal factor, as a share of the mean factor (see seasonal_factors).
SEASON_FLOOR = 0.02


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
    noise_scale: Array  # expected noise of each point, up to one common factor
    loss_scale: float  # residual size where the robust loss starts to discount a point
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
    def growth(self) -> float:
        """Users gained over the fitted window."""
        return float(self.increments.sum())

    @property
    def cumulative(self) -> Array:
        """Observed cumulative total at the end of each increment."""
        return np.asarray(self.cumulative_at_end - self.growth + np.cumsum(self.increments))

    def head(self, n: int) -> FitSeries:
        """The series as it was after its first n increments (same seasonal profile and
        noise model: a calibration refit must see the data exactly as the full fit does)."""
        level = float(self.cumulative[n - 1])
        return replace(
            self,
            t_start=self.t_start[:n],
            t_end=self.t_end[:n],
            increments=self.increments[:n],
            season=self.season[:n],
            noise_scale=self.noise_scale[:n],
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


def _noise_power(deviation: Array, level: Array) -> float:
    """How noise grows with the level: 0.5 for Poisson counts, 1 for multiplicative noise
    (real series are usually in between); the slope of log|deviation| on log(level)."""
    usable = (deviation > 0) & (level > 0)
    if usable.sum() < 10 or np.log(level[usable]).std() < 0.5:
        return 0.5
    slope = np.polyfit(np.log(level[usable]), np.log(deviation[usable]), 1)[0]
    return float(np.clip(slope, 0.0, 1.0))


def noise_model(increments: Array, season: Array) -> tuple[Array, float]:
    """Per-point noise scale from a model-free smoother, and the robust loss scale."""
    deseasoned = increments / season
    smooth = _rolling_median(deseasoned, SMOOTHING_WINDOW)
    # The level is the typical size of nearby increments, so a local dip (negative
    # increments in a survey series) does not get a tiny noise scale and a huge weight.
    typical = _rolling_median(np.abs(deseasoned), LEVEL_WINDOW)
    level = np.maximum(typical, _level_floor(typical))
    power = _noise_power(np.abs(deseasoned - smooth), level)
    scale = (level * season) ** power
    spread = robust_sd((increments - smooth * season) / scale)
    # The smoother follows the data more closely than any model will, so widen a bit.
    return scale, 2.0 * spread if spread > 0 else 1.0


def _level_floor(smooth: Array) -> float:
    """The smallest level a point's noise is scaled by. A plateau of exact repeats
    (interpolated survey data) or a quiet tail must not get near-infinite weight."""
    positive = smooth[smooth > 0]
    typical_low = float(np.quantile(positive, 0.1)) if positive.size else 1.0
    return max(1.0, 0.5 * typical_low)


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
    scale, loss_scale = noise_model(increments, season)
    return FitSeries(
        platform=platform,
        grain=grain,
        t0=t0,
        t_start=t_start,
        t_end=t_end,
        increments=increments,
        season=season,
        noise_scale=scale,
        loss_scale=loss_scale,
        cumulative_at_end=float(cumulative[-1]),
        current_total=float(at_grain["cumulative"].max()),  # type: ignore[arg-type]
        seasonal_amplitude=float(np.abs(season - 1.0).max()),
        boundaries=np.r_[t_start[0], t_end],
    )
