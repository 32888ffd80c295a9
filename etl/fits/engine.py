"""Fit every model to every platform, weigh them, bootstrap them and forecast."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from etl.fits.bootstrap import bootstrap_params
from etl.fits.fitting import FitResult, akaike_weights, fit_model
from etl.fits.forecast import (
    INTERVAL,
    Identifiability,
    assess_ceiling,
    ceiling_total,
    eta_days,
    weighted_quantile,
)
from etl.fits.models import MODELS, Array
from etl.fits.series import FitSeries

BOOTSTRAP_DRAWS = 200
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
        """Enters the ensemble: no ceiling at all, or a ceiling the data identify."""
        return self.identifiability.identified or not self.fit.model.has_ceiling


@dataclass(frozen=True)
class PlatformFit:
    series: FitSeries
    outcomes: tuple[ModelOutcome, ...]
    milestones: tuple[int, ...]
    seed: int

    def ensemble_weights(self) -> dict[str, float]:
        """Akaike weights renormalised over the usable models."""
        usable = {o.name: o.weight for o in self.outcomes if o.usable}
        total = sum(usable.values())
        if total <= 0:
            return {name: 1.0 / len(usable) for name in usable}
        return {name: weight / total for name, weight in usable.items()}


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
    milestones: tuple[int, ...],
    rng: np.random.Generator,
) -> ModelOutcome:
    draws = bootstrap_params(fit, series, BOOTSTRAP_DRAWS, rng)
    identifiability = assess_ceiling(fit, series, draws)
    etas = {m: eta_days(fit.model, draws, series, m) for m in milestones}
    return ModelOutcome(fit, weight, draws, identifiability, etas)


def fit_platform(series: FitSeries, milestones: Sequence[int], seed: int) -> PlatformFit:
    fits = [fit_model(model, series) for model in MODELS]
    weights = akaike_weights(np.array([f.aicc for f in fits]))
    ahead = next_milestones(series.current_total, milestones)
    outcomes = tuple(
        _outcome(fit, float(w), series, ahead, platform_rng(seed, series.platform, i))
        for i, (fit, w) in enumerate(zip(fits, weights, strict=True))
    )
    return PlatformFit(series, outcomes, ahead, seed)


def _summarise(users: int, point: float, draws: Array, weights: Array) -> MilestoneForecast:
    never = float(weights[~np.isfinite(draws)].sum() / weights.sum())
    return MilestoneForecast(
        users=users,
        eta_days=point,
        low_days=weighted_quantile(draws, weights, INTERVAL[0]),
        high_days=weighted_quantile(draws, weights, INTERVAL[1]),
        p_never=never,
    )


def model_forecasts(outcome: ModelOutcome, series: FitSeries) -> list[MilestoneForecast]:
    """Point forecast from the fitted curve, interval and p_never from its draws."""
    rows = []
    for users, draws in outcome.draw_etas.items():
        point = float(eta_days(outcome.fit.model, outcome.fit.params, series, users))
        rows.append(_summarise(users, point, draws, np.ones_like(draws)))
    return rows


def _pooled(platform: PlatformFit, values: dict[str, Array]) -> tuple[Array, Array]:
    """Draws of the usable models, each weighted by its ensemble weight."""
    weights = platform.ensemble_weights()
    pooled = [values[name] for name in weights]
    share = [np.full(values[name].size, w / values[name].size) for name, w in weights.items()]
    return np.concatenate(pooled), np.concatenate(share)


def ensemble_forecasts(platform: PlatformFit) -> list[MilestoneForecast]:
    """Model averaging: the Akaike-weighted mixture of the usable models' draws."""
    rows = []
    for users in platform.milestones:
        draws, weights = _pooled(platform, {o.name: o.draw_etas[users] for o in platform.outcomes})
        median = weighted_quantile(draws, weights, 0.5)
        rows.append(_summarise(users, median, draws, weights))
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
