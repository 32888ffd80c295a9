"""Time to the next milestones, the ceiling, and whether the data can identify it.

Forecasts are anchored at the observed total: a curve's predicted gain after the last
complete bucket is added to the observed cumulative count there, so a model that is off in
level (or a series whose t0 predates the data) still forecasts from where users really are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from etl.fits.fitting import FitResult, solve
from etl.fits.models import Array, GrowthModel
from etl.fits.series import FitSeries

# "Never" means not within this many times the observed span after the data ends.
HORIZON_SPANS = 10.0
INTERVAL = (0.10, 0.90)  # an 80% interval
# The ceiling counts as bounded when the 90th percentile of its draws is at most twice
# the median and few draws ran into the parameter bound.
MAX_CEILING_SPREAD = 2.0
MAX_DRAWS_AT_BOUND = 0.10
# A 3-parameter S-curve through fewer points passes for a peak whenever the noise bends.
MIN_POINTS_FOR_CEILING = 12
# Chi-square(1) at 95%: doubling the ceiling must cost at least this much.
PROFILE_THRESHOLD = 3.84
# A ceiling needs the growth rate at the end of the data to have fallen below this share
# of its peak, in the fitted curve and in the data (a logistic then stands at 93% of its
# ceiling). Only just past the peak, an S-curve puts the ceiling where the first decline
# points, and a launch's slower tail (the viral preset's 4-day tail after its 3-hour
# burst) is not in the data yet: at 0.8, fits 1-2 hours into that launch "identified"
# ceilings it passed within the hour.
PEAK_DECLINE = 0.25
# A model without a ceiling "levels off" when the part of it that never does (an inflow)
# adds less than this share of the window's growth over the whole horizon after the data.
LEVEL_OFF_SHARE = 0.01
# A rate that has fallen below this share of its peak has passed the peak (model-free).
PAST_PEAK = 0.8
# Pace at the start and at the end of the window: the median rate over this share of the
# buckets (at least SURGE_MIN_BUCKETS), so one odd bucket does not decide.
SURGE_EDGE_SHARE = 0.1
SURGE_MIN_BUCKETS = 3


def _anchor(model: GrowthModel, params: Array, series: FitSeries) -> Array:
    """C_model(t_last) for one parameter vector (shape ()) or a batch (shape (draws,))."""
    return np.asarray(model.cumulative(np.array([series.fitted_until]), params)[..., 0])


def ceiling_total(model: GrowthModel, params: Array, series: FitSeries) -> Array:
    """The total number of users the curve levels off at, anchored at the observed total."""
    if model.ceiling is None:
        return np.full(np.shape(params)[:-1], np.inf)
    headroom = model.ceiling(params) - _anchor(model, params, series)
    return np.asarray(series.cumulative_at_end + headroom)


def horizon_day(series: FitSeries) -> float:
    """The last day a forecast may name: HORIZON_SPANS x the observed span after the data."""
    return series.fitted_until + HORIZON_SPANS * series.span_days


def eta_days(model: GrowthModel, params: Array, series: FitSeries, users: float) -> Array:
    """Days since t0 at which the anchored curve reaches `users`; inf when it never does
    within the horizon."""
    target = _anchor(model, params, series) + (users - series.cumulative_at_end)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        days = model.time_to_reach(target, params)
    reachable = np.isfinite(days) & (days <= horizon_day(series))
    return np.where(reachable, np.maximum(days, series.fitted_until), np.inf)


def weighted_quantile(values: Array, weights: Array, quantile: float) -> float:
    """Quantile of a weighted sample; inf when the quantile falls among "never" draws."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    position = int(np.searchsorted(cumulative, quantile * cumulative[-1]))
    return float(values[order][min(position, values.size - 1)])


@dataclass(frozen=True)
class Identifiability:
    """The evidence on whether the data pin down a model's ceiling."""

    has_ceiling: bool
    params_at_bound: tuple[str, ...] = ()
    inflection_observed: bool = False
    profile_flat: bool = True
    interval_bounded: bool = False
    surge_on_earlier_growth: bool = False
    overtaken_in_history: bool = False
    # Models with a ceiling that fit as well carry most of the weight and cannot pin it.
    contested: bool = False
    # A model without a ceiling whose growth all but stops within the horizon.
    levels_off: bool = False

    @property
    def identified(self) -> bool:
        return (
            self.has_ceiling
            and not self.params_at_bound
            and self.inflection_observed
            and not self.profile_flat
            and self.interval_bounded
            and not self.surge_on_earlier_growth
            and not self.overtaken_in_history
            and not self.contested
        )

    @property
    def usable(self) -> bool:
        """May enter the ensemble: an identified ceiling, or no ceiling, stated or not."""
        return self.identified if self.has_ceiling else not self.levels_off

    @property
    def note(self) -> str:
        if not self.has_ceiling and self.levels_off:
            return (
                "levels off within the horizon (its inflow is negligible): a ceiling no check"
                " has identified, left out of the ensemble"
            )
        if not self.has_ceiling:
            return "model has no ceiling"
        if self.identified:
            return "ceiling identified"
        reasons = []
        if self.params_at_bound:
            reasons.append("parameter at its bound: " + ", ".join(self.params_at_bound))
        if not self.inflection_observed:
            reasons.append("inflection not yet observed or too few points")
        if self.profile_flat:
            reasons.append("flat profile likelihood")
        if not self.interval_bounded:
            reasons.append("unbounded interval")
        if self.surge_on_earlier_growth:
            reasons.append(
                "a surge on earlier growth: the pace is still at least the window's starting"
                " pace, yet the ceiling is closer to the last value than the users at the start"
            )
        if self.contested:
            reasons.append(
                "models with a ceiling that fit as well, holding most of their weight,"
                " cannot pin it"
            )
        if self.overtaken_in_history:
            reasons.append(
                "the same model fitted on an earlier part of the window identified a ceiling"
                " that the platform passed later in the window"
            )
        return "ceiling not yet identifiable (" + "; ".join(reasons) + ")"


def _information_share(fit: FitResult) -> float:
    """Effective points per point under AR(1) residuals: (1 - rho) / (1 + rho)."""
    rho = float(np.clip(fit.lag1_autocorrelation, 0.0, 0.95))
    return (1.0 - rho) / (1.0 + rho)


def doubled_ceiling_pin(fit: FitResult) -> tuple[int, float]:
    """(index, fit-space value) of the parameter pinned to double the ceiling."""
    model = fit.model
    if model.doubled_ceiling is None:
        return 0, float(fit.x[0] + np.log(2.0))  # the ceiling is parameter 0, a log
    index, value = model.doubled_ceiling(fit.params)
    natural = fit.params.copy()
    natural[index] = value
    return index, float(model.to_fit_space(natural)[index])


def profile_is_flat(fit: FitResult, series: FitSeries) -> bool:
    """Refit with the ceiling pinned at twice its fitted value: if the fit barely gets
    worse, the data cannot tell the two ceilings apart (as before the inflection)."""
    index, pinned = doubled_ceiling_pin(fit)
    if not fit.bounds.lower[index] <= pinned <= fit.bounds.upper[index]:
        return True
    _, deviance = solve(
        fit.model,
        series,
        fit.x,
        fit.bounds,
        dispersion=fit.dispersion,
        fixed={index: pinned},
    )
    # The deviance difference at a fixed over-dispersion is the likelihood-ratio statistic;
    # autocorrelated residuals carry less information than their count suggests.
    worse = _information_share(fit) * (deviance - fit.deviance)
    return bool(worse < PROFILE_THRESHOLD)


def ceiling_interval_bounded(fit: FitResult, series: FitSeries, draws: Array) -> bool:
    ceilings = ceiling_total(fit.model, draws, series)
    finite = ceilings[np.isfinite(ceilings)]
    if finite.size < 0.9 * ceilings.size:
        return False
    at_bound = np.mean(fit.model.to_fit_space(draws)[:, 0] > fit.bounds.upper[0] - 1e-3)
    median = float(np.median(finite))
    spread_ok = float(np.quantile(finite, INTERVAL[1])) <= MAX_CEILING_SPREAD * median
    return bool(spread_ok and at_bound < MAX_DRAWS_AT_BOUND)


def _rate(model: GrowthModel, params: Array, day: float) -> float:
    step = 1e-4 * max(abs(day), 1.0)
    around = model.cumulative(np.array([day - step, day + step]), params)
    return float(around[1] - around[0]) / (2 * step)


def past_the_peak(fit: FitResult, series: FitSeries) -> bool:
    """The inflection (peak of the increments) lies inside the data and the fitted rate
    has since fallen clearly below it: only the decline tells where the ceiling is."""
    assert fit.model.inflection is not None
    peak_day = max(float(fit.model.inflection(fit.params)), float(series.t_start[0]))
    if peak_day >= series.fitted_until:
        return False
    peak = _rate(fit.model, fit.params, peak_day)
    fitted_decline = _rate(fit.model, fit.params, series.fitted_until) <= PEAK_DECLINE * peak
    return fitted_decline and observed_decline(series) <= PEAK_DECLINE


def observed_decline(series: FitSeries) -> float:
    """The pace at the end of the window over the peak of the smoothed, deseasoned rate
    (1.0 when the peak is at the end): model-free. The pace at the end is the median over
    the last ~10% of the buckets that come after the peak: a surge in the last weeks of
    a long weekly history peaks inside that 10%, and the weeks before it are not its end."""
    rate = series.increments / series.season / (series.t_end - series.t_start)
    smooth = np.convolve(rate, np.ones(5) / 5, mode="same")
    top = int(np.argmax(smooth))
    peak = float(smooth[top])
    edge = max(SURGE_MIN_BUCKETS, int(SURGE_EDGE_SHARE * rate.size))
    start = min(max(rate.size - edge, top + 1), rate.size - 1)
    late = float(np.median(rate[start:]))
    return min(late / peak, 1.0) if peak > 0 else 1.0


def rate_past_peak(series: FitSeries) -> bool:
    """The signup rate peaked inside the window and has clearly fallen since."""
    return observed_decline(series) <= PAST_PEAK


def edge_rates(series: FitSeries) -> tuple[float, float]:
    """Model-free pace (users per day, seasonal factor removed) at the start and at the end
    of the window: medians over the first and the last ~10% of the buckets."""
    rate = series.increments / series.season / (series.t_end - series.t_start)
    edge = max(SURGE_MIN_BUCKETS, int(SURGE_EDGE_SHARE * rate.size))
    return float(np.median(rate[:edge])), float(np.median(rate[-edge:]))


def surge_on_earlier_growth(fit: FitResult, series: FitSeries) -> bool:
    """The window's S-curve is a surge on top of growth it does not show.

    Every S-curve here starts from zero and, at two times where its rate is the same, has
    at least as many users left to gain at the later time as it had at the earlier one:
    exactly as many for the logistic (symmetric about its inflection), more for Gompertz
    (longer upper tail) and Bass (F_a + F_b = 1 - p/q at equal rates). So if the pace at
    the end of the window is still at least the pace at its start, a curve that describes
    the platform's whole history must leave at least the users the platform had at the
    start of the window. A ceiling closer than that to the last value describes only the
    surge and assumes that the growth before it has stopped. A series that starts at
    launch has no users before its window and is never refused here."""
    users_before = series.cumulative_at_end - series.growth
    if users_before <= 0:
        return False
    early, late = edge_rates(series)
    headroom = float(ceiling_total(fit.model, fit.params, series)) - series.cumulative_at_end
    return bool(late >= early and headroom < users_before)


def levels_off(fit: FitResult, series: FitSeries) -> bool:
    """Over the whole horizon after the data, the part of the curve that never levels off
    adds less than LEVEL_OFF_SHARE of the users the window gained: a model "without a
    ceiling" (burst + inflow with an inflow near 0) that in fact claims one, which no
    ceiling check has tested."""
    model = fit.model
    if model.open_ended is None:
        return False
    ends = np.array([series.fitted_until, horizon_day(series)])
    open_gain = float(np.diff(model.open_ended(ends, fit.params), axis=-1)[..., 0])
    return open_gain < LEVEL_OFF_SHARE * max(series.growth, 1.0)


def contested_ceilings(fits: Sequence[tuple[float, Identifiability]]) -> bool:
    """(Akaike weight, evidence) of each model: the data cannot pin a ceiling when the
    models with one that pin it carry less than half of those models' weight (logistic,
    Gompertz and Bass fit a surge's decline equally well; one passing the profile check
    by a hair while the others are flat is a verdict of the parametrisation, not the data)."""
    ceiling = [(w, i) for w, i in fits if i.has_ceiling and not i.params_at_bound]
    total = sum(w for w, _ in ceiling)
    pinned = sum(w for w, i in ceiling if i.identified)
    return total > 0 and pinned < 0.5 * total


def assess_ceiling(fit: FitResult, series: FitSeries, draws: Array) -> Identifiability:
    """Bound hit, inflection seen, profile likelihood, bootstrap interval and the surge
    check."""
    model = fit.model
    if model.inflection is None:
        return Identifiability(has_ceiling=False, levels_off=levels_off(fit, series))
    at_bound = tuple(n for n, hit in zip(model.param_names, fit.at_bound, strict=True) if hit)
    seen = past_the_peak(fit, series) and series.n_points >= MIN_POINTS_FOR_CEILING
    bounded = ceiling_interval_bounded(fit, series, draws)
    surge = surge_on_earlier_growth(fit, series)
    # The profile refit is the costly check; skip it when another one already failed.
    skip = at_bound or not seen or not bounded or surge
    flat = True if skip else profile_is_flat(fit, series)
    return Identifiability(True, at_bound, seen, flat, bounded, surge)
