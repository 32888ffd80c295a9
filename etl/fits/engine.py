"""Fit every model to every platform, weigh them, bootstrap them and forecast."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from etl.contract import ENSEMBLE
from etl.fits.bootstrap import bootstrap_params
from etl.fits.calibration import (
    Calibration,
    bootstrap_log_spread,
    calibrate,
    missing_spread,
    widen,
)
from etl.fits.fitting import FitResult, akaike_weights, fit_model
from etl.fits.forecast import (
    INTERVAL,
    Identifiability,
    assess_ceiling,
    ceiling_total,
    contested_ceilings,
    eta_days,
    horizon_day,
    weighted_quantile,
)
from etl.fits.models import MODELS, Array
from etl.fits.series import FitSeries

BOOTSTRAP_DRAWS = 150
NEXT_MILESTONES = 3


@dataclass(frozen=True)
class MilestoneForecast:
    users: int
    eta_days: float  # inf: never within the horizon
    low_days: float
    high_days: float
    p_never: float


@dataclass(frozen=True)
class ModelOutcome:
    fit: FitResult
    weight: float  # Akaike weight among all models
    draws: Array  # bootstrap parameters (draws, p)
    identifiability: Identifiability
    draw_etas: dict[int, Array]  # milestone -> days per draw

    @property
    def name(self) -> str:
        return self.fit.model.name

    @property
    def usable(self) -> bool:
        """Enters the ensemble: a ceiling the data identify, or no ceiling (stated, and not
        one in all but name: an inflow that levels off)."""
        return self.identifiability.usable


@dataclass(frozen=True)
class PlatformFit:
    series: FitSeries
    outcomes: tuple[ModelOutcome, ...]
    milestones: tuple[int, ...]
    seed: int
    calibration: Calibration

    def ensemble_weights(self) -> dict[str, float]:
        """Akaike weights renormalised over the usable models."""
        return usable_weights(self.outcomes)


def next_milestones(current_total: float, milestones: Sequence[int]) -> tuple[int, ...]:
    ahead = sorted({int(m) for m in milestones if m > current_total})
    return tuple(ahead[:NEXT_MILESTONES])


def platform_rng(seed: int, platform: str, model_index: int) -> np.random.Generator:
    # crc32, not hash(): str hashes change between processes, draws must not.
    return np.random.default_rng([seed, zlib.crc32(platform.encode()), model_index])


def _outcome(
    fit: FitResult,
    weight: float,
    series: FitSeries,
    targets: Sequence[float],
    rng: np.random.Generator,
    *,
    n_draws: int,
    quick: bool = False,
) -> ModelOutcome:
    if quick and not fit.model.has_ceiling:
        # A calibration refit needs draws only to check a ceiling; without one, the
        # fitted curve stands for the model in the ensemble's median.
        draws = fit.params[None, :]
    else:
        draws = bootstrap_params(fit, series, n_draws, rng)
    identifiability = assess_ceiling(fit, series, draws)
    etas = {int(m): eta_days(fit.model, draws, series, m) for m in targets}
    return ModelOutcome(fit, weight, draws, identifiability, etas)


def fit_outcomes(
    series: FitSeries, targets: Sequence[float], seed: int, n_draws: int, stream: int = 0
) -> tuple[ModelOutcome, ...]:
    """Every model fitted, weighed, bootstrapped and checked; `stream` keeps the draws of
    calibration refits apart from those of the full fit."""
    # The calibration refits (stream > 0) run one start per model instead of three.
    fits = [fit_model(model, series, quick=stream > 0) for model in MODELS]
    weights = akaike_weights(np.array([f.aicc for f in fits]))
    outcomes = tuple(
        _outcome(
            fit,
            float(w),
            series,
            targets,
            platform_rng(seed, series.platform, stream * len(MODELS) + i),
            n_draws=n_draws,
            quick=stream > 0,
        )
        for i, (fit, w) in enumerate(zip(fits, weights, strict=True))
    )
    if not contested_ceilings([(o.weight, o.identifiability) for o in outcomes]):
        return outcomes
    return tuple(
        replace(o, identifiability=replace(o.identifiability, contested=True))
        if o.identifiability.identified
        else o
        for o in outcomes
    )


def fit_platform(series: FitSeries, milestones: Sequence[int], seed: int) -> PlatformFit:
    ahead = next_milestones(series.current_total, milestones)
    outcomes = fit_outcomes(series, ahead, seed, BOOTSTRAP_DRAWS)
    calibration = calibrate(series, seed, fit_outcomes, pooled_median)
    checked = tuple(_mark_overtaken(o, calibration.overtaken) for o in outcomes)
    return PlatformFit(series, checked, ahead, seed, calibration)


def _mark_overtaken(outcome: ModelOutcome, overtaken: Sequence[str]) -> ModelOutcome:
    if outcome.name not in overtaken:
        return outcome
    identifiability = replace(outcome.identifiability, overtaken_in_history=True)
    return replace(outcome, identifiability=identifiability)


def usable_weights(outcomes: Sequence[ModelOutcome]) -> dict[str, float]:
    """Akaike weights renormalised over the models that enter the ensemble."""
    usable = {o.name: o.weight for o in outcomes if o.usable}
    total = sum(usable.values())
    if total <= 0:
        return {name: 1.0 / len(usable) for name in usable}
    return {name: weight / total for name, weight in usable.items()}


def pooled_draws(outcomes: Sequence[ModelOutcome], values: dict[str, Array]) -> tuple[Array, Array]:
    """Draws of the usable models, each weighted by its ensemble weight."""
    weights = usable_weights(outcomes)
    pooled = [values[name] for name in weights]
    share = [np.full(values[name].size, w / values[name].size) for name, w in weights.items()]
    return np.concatenate(pooled), np.concatenate(share)


def pooled_median(outcomes: Sequence[ModelOutcome], users: int) -> float:
    """The headline (ensemble) point forecast for `users`: the median of the mixture."""
    draws, weights = pooled_draws(outcomes, {o.name: o.draw_etas[users] for o in outcomes})
    return weighted_quantile(draws, weights, 0.5)


def bucket_around(point: float, series: FitSeries) -> tuple[float, float]:
    """(start, end) of the bucket holding `point` on the series' grid of time steps
    continued past its end; (point, point) when the point is "never"."""
    if not np.isfinite(point):
        return point, point
    step = series.time_step
    start = series.fitted_until + step * math.floor((point - series.fitted_until) / step)
    return start, start + step


def _summarise(
    users: int, point: float, draws: Array, weights: Array, series: FitSeries
) -> MilestoneForecast:
    """The interval, stretched to hold the point forecast (a fitted curve's ETA can fall
    just outside the percentiles of its refitted draws) and the whole bucket around it:
    counts per bucket cannot say when in its bucket the milestone falls, so an interval
    narrower than a bucket claims more than the data hold (minute data of a launch on
    millions of users gave intervals of seconds that missed by a minute)."""
    never = float(weights[~np.isfinite(draws)].sum() / weights.sum())
    low = weighted_quantile(draws, weights, INTERVAL[0])
    high = weighted_quantile(draws, weights, INTERVAL[1])
    bucket_start, bucket_end = bucket_around(point, series)
    return MilestoneForecast(
        users=users,
        eta_days=point,
        low_days=min(low, point, bucket_start),
        high_days=max(high, point, bucket_end),
        p_never=never,
    )


def widened(
    draws: Array, weights: Array, series: FitSeries, calibration: Calibration, name: str
) -> tuple[Array, Array]:
    """The draws widened so that their log waiting time spreads as much as the error
    measured on the truncations, never less than the bootstrap's own spread; a time
    widened past the horizon is "never"."""
    start = series.fitted_until
    wait = weighted_quantile(draws, weights, 0.5) - start
    reach = wait / series.span_days if np.isfinite(wait) else None
    measured = calibration.spread(name, reach)
    extra = missing_spread(measured, bootstrap_log_spread(draws, weights, start))
    return widen(draws, weights, start, extra, horizon_day(series))


def model_forecasts(outcome: ModelOutcome, platform: PlatformFit) -> list[MilestoneForecast]:
    """Point forecast from the fitted curve; interval and p_never from its draws, widened
    by the model's own error on earlier truncations of the window (when measured)."""
    series, rows = platform.series, []
    for users, draws in outcome.draw_etas.items():
        point = float(eta_days(outcome.fit.model, outcome.fit.params, series, users))
        wide, weights = widened(
            draws, np.ones_like(draws), series, platform.calibration, outcome.name
        )
        rows.append(_summarise(users, point, wide, weights, series))
    return rows


def ensemble_forecasts(platform: PlatformFit) -> list[MilestoneForecast]:
    """Model averaging: the Akaike-weighted mixture of the usable models' draws, widened
    by the headline forecast's own error on earlier truncations of the window."""
    rows = []
    for users in platform.milestones:
        values = {o.name: o.draw_etas[users] for o in platform.outcomes}
        draws, weights = pooled_draws(platform.outcomes, values)
        calibration = platform.calibration
        wide, wide_weights = widened(draws, weights, platform.series, calibration, ENSEMBLE)
        median = weighted_quantile(wide, wide_weights, 0.5)
        rows.append(_summarise(users, median, wide, wide_weights, platform.series))
    return rows


def ensemble_ceiling(platform: PlatformFit) -> tuple[bool, Array, Array]:
    """(identified, ceiling draws, their weights) of the ensemble: identified when models
    with an identified ceiling carry at least half of its weight."""
    weights = platform.ensemble_weights()
    identified = [o for o in platform.outcomes if o.identifiability.identified]
    mass = sum(weights[o.name] for o in identified)
    if mass < 0.5:
        return False, np.empty(0), np.empty(0)
    ceilings = {o.name: ceiling_total(o.fit.model, o.draws, platform.series) for o in identified}
    draws = np.concatenate(list(ceilings.values()))
    share = np.concatenate([np.full(c.size, weights[n] / c.size) for n, c in ceilings.items()])
    return True, draws, share
