"""Fitting one model to one series: bounds, several starts, the negative-binomial
likelihood (etl/fits/likelihood.py), AICc and the residual check.

The prediction is the model's increment over each bucket times the seasonal factor; the
fit minimises the NB deviance of the counts by least squares on deviance residuals, with
the over-dispersion re-estimated by maximum likelihood once the curve is close, and AICc
is computed from that same likelihood, with the over-dispersion counted as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from etl.fits.likelihood import (
    deviance_residuals,
    fit_dispersion,
    log_likelihood,
    pearson_residuals,
)
from etl.fits.models import RAMP, Array, GrowthModel
from etl.fits.series import FitSeries

LIKELIHOOD = "negative binomial (variance mu + a mu^2)"
# A parameter within this distance (in fit space) of a bound is "at the bound".
BOUND_TOLERANCE = 1e-3
# The burst models' launch ramp may be this many times faster than the fastest rate of the
# others: a ramp within a fraction of a bucket, which is no ramp. At that bound the burst
# starts at full pace, a limit of the model, not a parameter the data push out of range.
RAMP_NONE = 100.0


@dataclass(frozen=True)
class Bounds:
    lower: Array  # in fit space (logs of positive parameters)
    upper: Array


@dataclass(frozen=True)
class FitResult:
    model: GrowthModel
    x: Array  # fitted parameters in fit space
    dispersion: float  # NB over-dispersion a (variance mu + a mu^2), fitted
    deviance: float  # NB deviance at x and `dispersion`: the least-squares cost x 2
    log_likelihood: float
    aicc: float
    rmse: float  # in signups per bucket
    residuals: Array  # Pearson residuals: (y - mu) / sd
    at_bound: tuple[bool, ...]
    bounds: Bounds

    @property
    def params(self) -> Array:
        return self.model.to_natural(self.x)

    @property
    def lag1_autocorrelation(self) -> float:
        return lag1_autocorrelation(self.residuals)


def predicted_increments(model: GrowthModel, series: FitSeries, params: Array) -> Array:
    """Model increments per bucket, seasonal factor included; batches broadcast."""
    # Buckets are contiguous (each starts where the previous ended), so C is evaluated
    # once per boundary rather than twice per bucket.
    # In place on one fresh buffer: the same operations as np.diff(C) * season.
    cumulative = model.cumulative(series.boundaries, params)
    rise = np.subtract(cumulative[..., 1:], cumulative[..., :-1])
    rise *= series.season
    return rise


def expected_counts(model: GrowthModel, series: FitSeries, params: Array) -> Array:
    """The means of `series.counts`: the users before the window (with a level term),
    then each bucket's increment, in steps of the series' resolution."""
    increments = predicted_increments(model, series, params)
    if series.level_term:
        start = model.cumulative(series.boundaries[:1], params)
        increments = np.concatenate([start, increments], axis=-1)
    if series.resolution != 1.0:  # x / 1.0 is x: skip a pass over a bootstrap batch
        increments /= series.resolution
    return increments


def fit_residuals(
    model: GrowthModel, series: FitSeries, x: Array, observed: Array, dispersion: float
) -> Array:
    """Deviance residuals of fit-space parameters x (a batch broadcasts); `observed` is in
    steps of the series' resolution, like `series.counts`."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        predicted = expected_counts(model, series, model.to_natural(x))
    return residuals_of_means(predicted, observed, dispersion)


def residuals_of_means(predicted: Array, observed: Array, dispersion: float) -> Array:
    """Deviance residuals of given expected counts (fit_residuals without the curve)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        residuals = deviance_residuals(predicted, observed, dispersion)
    # Keep absurd trial points finite (and their squares too) so the solver just rejects
    # them: fmin/fmax clip as np.clip does and turn a nan into 1e150, in place.
    np.fmin(residuals, 1e150, out=residuals)
    return np.fmax(residuals, -1e150, out=residuals)


def aicc(log_lik: float, n_points: int, n_params: int) -> float:
    """Small-sample AIC from the log-likelihood; the over-dispersion counts as a parameter."""
    k = n_params + 1
    if n_points - k - 1 <= 0:
        return float("inf")
    return -2.0 * log_lik + 2 * k + 2 * k * (k + 1) / (n_points - k - 1)


def akaike_weights(scores: Array) -> Array:
    finite = np.isfinite(scores)
    if not finite.any():
        return np.full(scores.shape, 1.0 / scores.size)
    relative = np.where(finite, np.exp(-0.5 * (scores - scores[finite].min())), 0.0)
    return np.asarray(relative / relative.sum())


def lag1_autocorrelation(residuals: Array) -> float:
    centred = residuals - residuals.mean()
    denominator = float(np.dot(centred, centred))
    return float(np.dot(centred[1:], centred[:-1]) / denominator) if denominator > 0 else 0.0


def runs_test_z(residuals: Array) -> float:
    """Wald-Wolfowitz runs test on the signs: strongly negative z means long runs, i.e.
    the model misses a systematic shape."""
    signs = residuals > np.median(residuals)
    above, below = int(signs.sum()), int((~signs).sum())
    if above == 0 or below == 0:
        return 0.0
    runs = 1 + int(np.count_nonzero(signs[1:] != signs[:-1]))
    total = above + below
    expected = 1 + 2 * above * below / total
    variance = 2 * above * below * (2 * above * below - total) / (total**2 * (total - 1))
    return float((runs - expected) / np.sqrt(variance)) if variance > 0 else 0.0


def _rate_bounds(series: FitSeries) -> tuple[float, float]:
    # Slower than 1% over the window is flat. A rise within about one observation interval
    # is a step (a re-index, a data gap), not a growth curve the data can resolve.
    spacing = float(np.median(series.t_end - series.t_start))
    return 0.01 / series.span_days, 2.0 / spacing


def _scale_reference(series: FitSeries) -> float:
    return max(series.growth, 1.0)


def model_bounds(model: GrowthModel, series: FitSeries) -> Bounds:
    """Natural-parameter bounds from the data's scale, converted to fit space."""
    growth, level = _scale_reference(series), max(series.cumulative_at_end, series.growth, 1.0)
    slow, fast = _rate_bounds(series)
    first, last, span = float(series.t_start[0]), series.fitted_until, series.span_days
    match model.name:
        case "logistic" | "gompertz":
            lower = [0.5 * growth, slow, first - 2 * span]
            upper = [1000 * level, fast, last + 10 * span]
        case "bass":
            lower = [0.5 * growth, 1e-4 * slow, slow]
            upper = [1000 * level, fast, fast]
        case "exponential":
            lower = [1e-9 * growth, 0.1 * slow]
            upper = [1e3 * growth, fast]
        case "burst_inflow":
            lower = [1e-6 * growth, slow, 1e-6 * growth / span, slow]
            upper = [10 * growth, fast, 10 * growth / span, RAMP_NONE * fast]
        case _:  # burst_tail: the tail's starting rate may be far above its average
            lower = [1e-6 * growth, slow, 1e-6 * growth / span, 0.0, slow]
            upper = [10 * growth, fast, 1e3 * growth / span, fast, RAMP_NONE * fast]
    return Bounds(
        model.to_fit_space(np.array(lower, dtype=float)),
        model.to_fit_space(np.array(upper, dtype=float)),
    )


@dataclass(frozen=True)
class SeriesShape:
    """Model-free landmarks of a series, used for starting values."""

    peak_day: float
    peak_rate: float  # signups per day at the highest smoothed point
    early_rate: float
    late_rate: float


def series_shape(series: FitSeries) -> SeriesShape:
    rate = series.increments / series.season / (series.t_end - series.t_start)
    smooth = np.convolve(rate, np.ones(5) / 5, mode="same")
    peak = int(np.argmax(smooth))
    tail = max(1, rate.size // 4)
    return SeriesShape(
        peak_day=float(series.t_end[peak]),
        peak_rate=max(float(smooth[peak]), 1e-9),
        early_rate=max(float(np.median(rate[: max(1, rate.size // 10)])), 1e-9),
        late_rate=max(float(np.median(rate[-tail:])), 1e-9),
    )


def starting_points(model: GrowthModel, series: FitSeries) -> list[Array]:
    """A few natural-parameter guesses covering "peak seen", "mid-way" and "early"."""
    shape, growth, span = series_shape(series), _scale_reference(series), series.span_days
    first, last = float(series.t_start[0]), series.fitted_until
    match model.name:
        case "logistic" | "gompertz":
            slope = 4.0 if model.name == "logistic" else np.e
            guesses = [
                (2 * growth, shape.peak_day),
                (1.2 * growth, first + span / 2),
                (10 * growth, last + span / 2),
            ]
            points = [[k, slope * shape.peak_rate / k, tm] for k, tm in guesses]
        case "bass":
            points = [
                [2 * growth, 0.1 / span, 5 / span],
                [1.2 * growth, 2 / span, 0.1 / span],
                [10 * growth, 0.01 / span, 2 / span],
            ]
        case "exponential":
            trend = np.log(shape.late_rate / shape.early_rate) / span
            points = [_exponential_start(shape.late_rate, g, last) for g in (trend, 3 / span)]
        case "burst_inflow":
            inflow, ramp = shape.late_rate, _ramp_start(shape, series)
            burst = max(growth - inflow * span, 0.1 * growth)
            ks = (3 / span, 30 / span, 0.3 / series.bucket_days)
            points = [[burst, k, inflow, ramp] for k in ks]
        case _:  # burst_tail: a fast burst, then a tail fading over the window or not at all
            fade, ramp = 3 / span, _ramp_start(shape, series)
            rest = max(growth - shape.late_rate * span, 0.1 * growth)
            points = [
                [0.5 * growth, 0.3 / series.bucket_days, 0.5 * growth * fade, fade, ramp],
                [rest, 30 / span, shape.late_rate, 0, ramp],
            ]
    return [np.array(p, dtype=float) for p in points]


def _ramp_start(shape: SeriesShape, series: FitSeries) -> float:
    """A ramp that takes the burst to its peak where the smoothed rate peaks (about 3/r
    after t0), at least one bucket in."""
    slow, fast = _rate_bounds(series)
    rise = max(shape.peak_day - float(series.t_start[0]), series.bucket_days)
    return float(np.clip(3.0 / rise, slow, fast))


def _exponential_start(late_rate: float, growth_rate: float, last: float) -> list[float]:
    rate = max(growth_rate, 0.1 / max(last, 1e-9))
    # late_rate = scale * g * e^{g t}  =>  scale, computed in logs to avoid overflow.
    return [float(np.exp(np.log(late_rate / rate) - min(rate * last, 600.0))), rate]


def _at_bounds(model: GrowthModel, x: Array, bounds: Bounds) -> tuple[bool, ...]:
    near = (x - bounds.lower < BOUND_TOLERANCE) | (bounds.upper - x < BOUND_TOLERANCE)
    no_ramp = np.array([name == RAMP for name in model.param_names]) & (
        bounds.upper - x < BOUND_TOLERANCE
    )
    return tuple(bool(v) for v in near & ~no_ramp)


def _clip_inside(x: Array, bounds: Bounds) -> Array:
    margin = 1e-6 * (bounds.upper - bounds.lower)
    return np.clip(x, bounds.lower + margin, bounds.upper - margin)


def solve(
    model: GrowthModel,
    series: FitSeries,
    x0: Array,
    bounds: Bounds,
    *,
    dispersion: float,
    fixed: dict[int, float] | None = None,
) -> tuple[Array, float]:
    """One least-squares run on deviance residuals at a given over-dispersion; `fixed`
    pins parameters (index -> fit-space value), which is how the profile check holds the
    ceiling. Returns (x, deviance)."""
    pinned = fixed or {}
    free = np.array([i not in pinned for i in range(x0.size)])
    template = x0.copy()
    for index, value in pinned.items():
        template[index] = value

    def residuals(free_x: Array) -> Array:
        x = template.copy()
        x[free] = free_x
        return fit_residuals(model, series, x, series.counts, dispersion)

    start = _clip_inside(template, bounds)[free]
    result = least_squares(
        residuals,
        start,
        bounds=(bounds.lower[free], bounds.upper[free]),
        x_scale="jac",
        # Parameters to ~6 digits are plenty for AICc and forecasts; the ETL pays per step.
        ftol=1e-6,
        xtol=1e-6,
        gtol=1e-6,
    )
    x = template.copy()
    x[free] = result.x
    deviance = fit_residuals(model, series, x, series.counts, dispersion)
    return x, float(np.dot(deviance, deviance))


def _start_cost(model: GrowthModel, series: FitSeries, x: Array, bounds: Bounds) -> float:
    inside = _clip_inside(x, bounds)
    residuals = fit_residuals(model, series, inside, series.counts, series.dispersion)
    return float(np.dot(residuals, residuals))


def _mean(model: GrowthModel, series: FitSeries, x: Array) -> Array:
    """Expected counts per bucket, in steps of the series' resolution."""
    return expected_counts(model, series, model.to_natural(x))


def fit_model(model: GrowthModel, series: FitSeries, *, quick: bool = False) -> FitResult:
    """The best of several starts at the series' model-free over-dispersion, then the
    model's own over-dispersion (maximum likelihood) and one refinement at it.
    `quick` (the calibration refits) runs only the start that fits best as it is."""
    bounds = model_bounds(model, series)
    starts = [model.to_fit_space(start) for start in starting_points(model, series)]
    if quick:
        starts = [min(starts, key=lambda x: _start_cost(model, series, x, bounds))]
    runs = [solve(model, series, start, bounds, dispersion=series.dispersion) for start in starts]
    best, _ = min(runs, key=lambda run: run[1])
    dispersion = fit_dispersion(_mean(model, series, best), series.counts)
    x, _ = solve(model, series, best, bounds, dispersion=dispersion)
    dispersion = fit_dispersion(_mean(model, series, x), series.counts)
    if model.in_order is not None:
        x = model.to_fit_space(model.in_order(model.to_natural(x)))
    return _result(model, series, x, dispersion, bounds)


def _rmse(model: GrowthModel, series: FitSeries, x: Array) -> float:
    """In signups per bucket."""
    error = predicted_increments(model, series, model.to_natural(x)) - series.increments
    return float(np.sqrt(np.mean(error**2)))


def _result(
    model: GrowthModel, series: FitSeries, x: Array, dispersion: float, bounds: Bounds
) -> FitResult:
    mu = _mean(model, series, x)
    deviance = fit_residuals(model, series, x, series.counts, dispersion)
    log_lik = log_likelihood(mu, series.counts, dispersion)
    return FitResult(
        model=model,
        x=x,
        dispersion=dispersion,
        deviance=float(np.dot(deviance, deviance)),
        log_likelihood=log_lik,
        aicc=aicc(log_lik, series.counts.size, len(model.param_names)),
        rmse=_rmse(model, series, x),
        residuals=pearson_residuals(mu, series.counts, dispersion),
        at_bound=_at_bounds(model, x, bounds),
        bounds=bounds,
    )
