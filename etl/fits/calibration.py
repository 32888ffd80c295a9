"""Calibration of the forecast intervals by the platform's own history.

The bootstrap interval carries the noise around the fitted curve, not the error of the
curve itself (a wrong model, a growth rate that changes). That error is measured on the
series itself: the same fit (every model, AICc weights, identifiability, ensemble) is run
on the first half and the first three quarters of the window, and each of those forecasts
the time the later observed counts were reached (the levels one third, two thirds and all
of the way from the truncation to the end of the window). The error of one check is the
log of the forecast waiting time over the real one, log(forecast wait / real wait): 0 is
exact, +0.69 twice too late, -0.69 twice too early. Its root mean square over the checks,
bias included, is the whole error of a forecast, the noise the bootstrap draws included:
every draw's waiting time is widened by a log-normal factor (on a fixed grid of quantiles
so the output stays deterministic) whose spread makes up what the bootstrap's own spread
of log waiting times lacks of it (sqrt(rms^2 - bootstrap^2); none when the bootstrap
already spreads as much), so the noise is not counted twice. A waiting time widened past
the horizon (HORIZON_SPANS x the span) is "never", as an unwidened one is. A model with a
ceiling it cannot identify at a truncation is treated there as it is in the full fit.

A forecast's error depends on how far ahead it looks, so each forecast takes the RMS over
the checks weighed by how close their reach (the wait in spans of the data their fit saw)
is to its own (reach_weights); beyond the checks' range the nearest ones speak, since
nothing measured says how the error grows there.

With too little history (a truncation shorter than MIN_POINTS buckets, or no growth after
it) the interval stays the bootstrap one and the fit says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import norm

from etl.contract import ENSEMBLE
from etl.fits.forecast import HORIZON_SPANS, INTERVAL, ceiling_total, eta_days, weighted_quantile
from etl.fits.models import Array
from etl.fits.series import FitSeries

if TYPE_CHECKING:
    from etl.fits.engine import ModelOutcome

    FitOutcomes = Callable[[FitSeries, Sequence[float], int, int, int], tuple[ModelOutcome, ...]]
    PooledMedian = Callable[[Sequence[ModelOutcome], int], float]

TRUNCATIONS = (0.5, 0.75)
# The later levels each truncation forecasts: this many, evenly spaced up to the end.
CHECKS_PER_TRUNCATION = 3
# Fewer draws than the full fit: they only decide identifiability and the median.
CALIBRATION_DRAWS = 20
# A truncation needs as many buckets as a ceiling needs (forecast.MIN_POINTS_FOR_CEILING).
MIN_POINTS = 12
# A ceiling identified on a truncation is "overtaken" when the platform later passed it by
# more than this share of the users gained over the window (the growth the fit sees; a
# window on top of millions of earlier users would otherwise need a miss of millions).
OVERTAKEN_SHARE = 0.05
# The widening factor exp(spread * z) on this many quantiles of a standard normal.
GRID = 41
# Checks whose reach differs by a factor of 2 weigh exp(-1/2) as much (reach_weights).
REACH_BANDWIDTH = math.log(2.0)
_Z = norm.ppf((np.arange(GRID) + 0.5) / GRID)


@dataclass(frozen=True)
class Check:
    """One forecast from a truncation against when the level was really reached."""

    truncation: float
    target: int
    actual_wait: float  # days from the truncation to the real crossing
    forecast_wait: dict[str, float]  # model (and ensemble) -> days; inf: never
    span: float  # days of data the truncation's fit saw

    @property
    def reach(self) -> float:
        """How far ahead the check looked, in spans of the data its fit saw."""
        return self.actual_wait / self.span

    def log_ratio(self, name: str, horizon: float) -> float:
        # "Never" counts as the horizon: the error is at least that large.
        wait = min(self.forecast_wait[name], horizon)
        return math.log(wait / self.actual_wait)


@dataclass(frozen=True)
class Calibration:
    checks: tuple[Check, ...] = ()
    errors: dict[str, tuple[float, ...]] = field(default_factory=dict)
    reason: str = ""  # why the interval is not calibrated; empty when it is
    # Models whose ceiling, identified on a truncation, lay below the users the platform
    # had at the end of the window: the data identified a wrong ceiling once already.
    overtaken: tuple[str, ...] = ()

    @property
    def calibrated(self) -> bool:
        return bool(self.errors)

    def spread(self, name: str, reach: float | None = None) -> float:
        """RMS log-ratio error of `name`'s forecasts on the truncations (0: none measured);
        with a `reach` (the forecast's wait in spans of the data), the checks are weighed
        by how close their own reach was to it (see reach_weights)."""
        errors = np.asarray(self.errors.get(name, ()))
        if errors.size == 0:
            return 0.0
        weights = np.ones(errors.size) if reach is None else reach_weights(self.checks, reach)
        return float(np.sqrt(np.average(np.square(errors), weights=weights)))

    def summary(self, name: str = ENSEMBLE) -> dict[str, Any]:
        """The `calibration` entry of a fit's params JSON."""
        if not self.calibrated:
            return {"status": "too little history", "note": self.reason}
        errors = self.errors.get(name, ())
        return {
            "status": "calibrated",
            "truncations": list(TRUNCATIONS),
            "checks": len(errors),
            "log_ratio_rms": _round(self.spread(name)),
            "log_ratio_median": _round(float(np.median(errors))) if errors else None,
            "widening_80": _round(math.exp(norm.ppf(0.9) * self.spread(name))),
        }


def reach_weights(checks: Sequence[Check], reach: float) -> Array:
    """Weights of the checks for a forecast looking `reach` spans ahead: a normal kernel in
    log reach, REACH_BANDWIDTH wide, the reach held within the checks' own range (beyond
    it, the furthest checks speak). A forecast's error depends on how far it looks: a
    short wait's log ratio is dominated by noise and the daily cycle, which a wait over
    days averages out (the steady launch's checks 8 hours ahead missed by 25%, its
    forecasts 1-4 days ahead by 1-3%), and a model's drift grows with the horizon."""
    reaches = np.log([c.reach for c in checks])
    target = np.clip(np.log(max(reach, 1e-12)), reaches.min(), reaches.max())
    return np.asarray(np.exp(-0.5 * np.square((reaches - target) / REACH_BANDWIDTH)))


def _round(value: float) -> float | None:
    return float(f"{value:.4g}") if math.isfinite(value) else None


def _crossing(series: FitSeries, start: int, target: float) -> float | None:
    """Days since t0 at which the observed total first reached `target` after bucket
    `start`, linearly interpolated within the bucket."""
    levels = series.cumulative
    later = np.nonzero(levels[start:] >= target)[0]
    if later.size == 0:
        return None
    j = start + int(later[0])
    before = levels[j - 1]
    share = (target - before) / (levels[j] - before) if levels[j] > before else 1.0
    return float(series.t_start[j] + share * (series.t_end[j] - series.t_start[j]))


def _targets(series: FitSeries, n_cut: int) -> list[int]:
    levels, level_at_cut = series.cumulative, series.cumulative[n_cut - 1]
    rest = series.n_points - n_cut
    ends = sorted({n_cut - 1 + math.ceil(k * rest / CHECKS_PER_TRUNCATION) for k in (1, 2, 3)})
    targets = {math.floor(levels[j]) for j in ends if levels[j] >= level_at_cut + 1}
    return sorted(t for t in targets if t > level_at_cut)


def calibrate(
    series: FitSeries, seed: int, fit_outcomes: FitOutcomes, pooled_median: PooledMedian
) -> Calibration:
    """Refit on TRUNCATIONS of the window and measure how far their forecasts were from
    what followed."""
    checks: list[Check] = []
    horizons: list[float] = []
    overtaken: set[str] = set()
    for stream, share in enumerate(TRUNCATIONS, start=1):
        n_cut = int(share * series.n_points)
        if n_cut < MIN_POINTS:
            continue
        targets = _targets(series, n_cut)
        if not targets:
            continue
        early = series.head(n_cut)
        outcomes = fit_outcomes(early, targets, seed, CALIBRATION_DRAWS, stream)
        overtaken |= _overtaken_ceilings(outcomes, early, series)
        cut = early.fitted_until
        floor = 0.5 * series.time_step
        for target in targets:
            actual = _crossing(series, n_cut, target)
            if actual is None:
                continue
            waits = {o.name: _point_eta(o, early, target) - cut for o in outcomes}
            waits[ENSEMBLE] = pooled_median(outcomes, target) - cut
            checks.append(
                Check(
                    share,
                    target,
                    max(actual - cut, floor),
                    {k: max(v, floor) for k, v in waits.items()},
                    early.span_days,
                )
            )
            horizons.append(HORIZON_SPANS * early.span_days)
    if not checks:
        return Calibration(reason=_too_little(series), overtaken=tuple(sorted(overtaken)))
    names = list(checks[0].forecast_wait)
    errors = {
        name: tuple(c.log_ratio(name, h) for c, h in zip(checks, horizons, strict=True))
        for name in names
    }
    return Calibration(tuple(checks), errors, overtaken=tuple(sorted(overtaken)))


def _overtaken_ceilings(
    outcomes: Sequence[ModelOutcome], early: FitSeries, series: FitSeries
) -> set[str]:
    """Models whose ceiling the truncation identified clearly below the users reached
    later (by more than OVERTAKEN_SHARE of the window's growth: a plateau's wobble does
    not count)."""
    margin = OVERTAKEN_SHARE * series.growth
    return {
        o.name
        for o in outcomes
        if o.identifiability.identified
        and float(ceiling_total(o.fit.model, o.fit.params, early))
        < series.cumulative_at_end - margin
    }


def _point_eta(outcome: ModelOutcome, series: FitSeries, target: int) -> float:
    model, params = outcome.fit.model, outcome.fit.params
    return float(eta_days(model, params, series, target))


def _too_little(series: FitSeries) -> str:
    n_cut = int(TRUNCATIONS[-1] * series.n_points)
    if n_cut < MIN_POINTS:
        return (
            f"too little history to calibrate the interval: the first {TRUNCATIONS[-1]:.0%} "
            f"of the window has {n_cut} buckets, need {MIN_POINTS}; the interval is the "
            "bootstrap's alone"
        )
    return (
        "too little history to calibrate the interval: no growth after the truncations; "
        "the interval is the bootstrap's alone"
    )


def bootstrap_log_spread(draws: Array, weights: Array, start: float) -> float:
    """The bootstrap's own spread of the log waiting time (from `start`): the half-width
    of its 80% interval over that of a standard normal; 0 with too few finite draws."""
    wait = draws - start
    finite = np.isfinite(wait) & (wait > 0)
    if finite.sum() < 2 or weights[finite].sum() <= 0:
        return 0.0
    logs, share = np.log(wait[finite]), weights[finite]
    low = weighted_quantile(logs, share, INTERVAL[0])
    high = weighted_quantile(logs, share, INTERVAL[1])
    return float((high - low) / (2.0 * norm.ppf(INTERVAL[1])))


def missing_spread(measured: float, bootstrap: float) -> float:
    """The log-normal spread to add to the bootstrap's so that the two together have the
    measured one. The measured error of a forecast is its whole error, the noise the
    bootstrap already draws included: adding the measured spread on top of the bootstrap's
    counted that noise twice (the steady launch's intervals held the truth every time)."""
    return math.sqrt(max(measured**2 - bootstrap**2, 0.0))


def widen(
    draws: Array, weights: Array, start: float, spread: float, horizon: float = np.inf
) -> tuple[Array, Array]:
    """Each draw's waiting time (from `start`) times exp(spread * z) on a grid of normal
    quantiles z: the bootstrap spread combined with the measured log-ratio error. A time
    widened past `horizon` is "never", as a draw's own time there is (forecast.eta_days):
    else an interval could end at a finite time the fit itself would call never."""
    if spread <= 0:
        return draws, weights
    wait = draws - start
    with np.errstate(invalid="ignore"):
        wide = start + wait[:, None] * np.exp(spread * _Z)[None, :]
    wide = np.where(np.isfinite(wait)[:, None] & (wide <= horizon), wide, np.inf)
    return wide.ravel(), np.repeat(weights / GRID, GRID)
