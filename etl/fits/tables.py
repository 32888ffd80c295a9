"""The snapshot's `fits` and `forecasts` tables, built from platform fits."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from etl.contract import ENSEMBLE, FITS_SCHEMA, FORECASTS_SCHEMA
from etl.fits.bootstrap import residual_sd
from etl.fits.engine import (
    BOOTSTRAP_DRAWS,
    MilestoneForecast,
    ModelOutcome,
    PlatformFit,
    ensemble_ceiling,
    ensemble_forecasts,
    model_forecasts,
)
from etl.fits.fitting import LIKELIHOOD, predicted_increments, runs_test_z
from etl.fits.forecast import (
    HORIZON_SPANS,
    INTERVAL,
    ceiling_total,
    rate_past_peak,
    weighted_quantile,
)
from etl.fits.series import MIN_POINTS, FitSeries

INTERVAL_TEXT = f"{round(100 * (INTERVAL[1] - INTERVAL[0]))}% (bootstrap percentiles)"
CALIBRATED_TEXT = (
    f"{round(100 * (INTERVAL[1] - INTERVAL[0]))}% (bootstrap percentiles widened by the "
    "forecast error on earlier truncations of the window)"
)
NOT_IDENTIFIABLE = "ceiling not yet identifiable"
PAST_PEAK_NOTE = "past its peak (the signup rate peaked and has fallen since)"
BEFORE_PEAK_NOTE = "before the inflection point"
TOO_EARLY = "too early to forecast"
# A forecast needs models that follow the data: the ensemble's cumulative total at the end
# of the window within this share of the measured one (the issue's own standard).
FOLLOW_TOLERANCE = 0.10
# The ensemble row's fitted curve: this many evenly spaced bucket boundaries, and as many
# geometrically spaced ones.
CURVE_POINTS = 100
# Below this Akaike weight the ensemble warns that its models fit poorly.
POOR_FIT_WEIGHT = 0.01


@dataclass
class TableRows:
    """Rows of both tables, gathered per platform."""

    fits: list[dict[str, Any]]
    forecasts: list[dict[str, Any]]

    def to_tables(self) -> tuple[pa.Table, pa.Table]:
        return (
            pa.Table.from_pylist(self.fits, schema=FITS_SCHEMA),
            pa.Table.from_pylist(self.forecasts, schema=FORECASTS_SCHEMA),
        )


def _number(value: float) -> float | None:
    """JSON-safe number: 6 significant digits, None for inf/nan."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _when(series: FitSeries, days: float) -> datetime | None:
    if not math.isfinite(days):
        return None
    try:
        return (series.t0 + timedelta(days=days)).replace(tzinfo=UTC)
    except OverflowError:  # beyond year 9999 (or before year 1): no meaningful date
        return None


def _season_text(series: FitSeries) -> str | None:
    if series.seasonal_amplitude == 0:
        return None
    return {"hour": "hour of day (24h)", "day": "day of week (7d)"}.get(series.grain)


def _series_params(platform: PlatformFit) -> dict[str, Any]:
    series, seed = platform.series, platform.seed
    return {
        "grain": series.grain,
        "time_unit": "day",
        "criterion": "AICc",
        "likelihood": LIKELIHOOD,
        "seasonal_profile": _season_text(series),
        "seasonal_amplitude": _number(series.seasonal_amplitude),
        "interval": CALIBRATED_TEXT if platform.calibration.calibrated else INTERVAL_TEXT,
        "bootstrap_draws": BOOTSTRAP_DRAWS,
        "seed": seed,
        "never_means": f"not reached within {HORIZON_SPANS:g}x the observed span",
    }


def _residual_check(outcome: ModelOutcome) -> dict[str, Any]:
    rho, runs = outcome.fit.lag1_autocorrelation, runs_test_z(outcome.fit.residuals)
    structured = rho > 0.5 or runs < -3.0
    verdict = "structured residuals: the shape is missed or the noise is serially correlated"
    return {
        "lag1_autocorrelation": _number(rho),
        "runs_z": _number(runs),
        "residual_sd": _number(residual_sd(outcome.fit)),
        "check": verdict if structured else "ok",
    }


def _ceiling_summary(draws: np.ndarray, weights: np.ndarray, point: float) -> dict[str, Any]:
    return {
        "ceiling": _number(point),
        "ceiling_low": _number(weighted_quantile(draws, weights, INTERVAL[0])),
        "ceiling_high": _number(weighted_quantile(draws, weights, INTERVAL[1])),
    }


def model_params(outcome: ModelOutcome, platform: PlatformFit) -> dict[str, Any]:
    series, fit, ident = platform.series, outcome.fit, outcome.identifiability
    natural = dict(zip(fit.model.param_names, fit.params.tolist(), strict=True))
    params: dict[str, Any] = {
        "parameters": {name: _number(value) for name, value in natural.items()},
        "akaike_weight": _number(outcome.weight),
        "dispersion": _number(fit.dispersion),
        "log_likelihood": _number(fit.log_likelihood),
        "in_ensemble": outcome.usable,
        "note": ident.note,
        "residuals": _residual_check(outcome),
        "calibration": platform.calibration.summary(outcome.name),
        **_series_params(platform),
    }
    if fit.model.inflection is not None:
        params["inflection_at"] = _iso(_when(series, float(fit.model.inflection(fit.params))))
        params["identifiability"] = {
            "params_at_bound": list(ident.params_at_bound),
            "inflection_observed": ident.inflection_observed,
            "profile_flat": ident.profile_flat,
            "interval_bounded": ident.interval_bounded,
            "surge_on_earlier_growth": ident.surge_on_earlier_growth,
            "contested": ident.contested,
        }
    if ident.identified:
        ceilings = ceiling_total(fit.model, outcome.draws, series)
        point = float(ceiling_total(fit.model, fit.params, series))
        params |= _ceiling_summary(ceilings, np.ones_like(ceilings), point)
    return params


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _usable_weight(platform: PlatformFit) -> float:
    """The Akaike weight, among all models, of those that enter the ensemble."""
    return sum(o.weight for o in platform.outcomes if o.usable)


def too_early_reason(platform: PlatformFit) -> str | None:
    """Why the data cannot say when the next milestones come, or None when they can: the
    models that may forecast (no ceiling, or an identified one) do not follow the measured
    curve (their weighted total at the end of the window misses the measured one by more
    than FOLLOW_TOLERANCE), so a forecast from them would start from a curve the data do
    not show. The rule reads only the fitted window, never what came after it."""
    measured = platform.series.cumulative_at_end
    fitted = _ensemble_total(platform)
    if measured <= 0 or abs(fitted / measured - 1.0) <= FOLLOW_TOLERANCE:
        return None
    return (
        f"the models that could forecast end the fitted window at {fitted / measured:.0%} "
        "of the measured total, and those that follow the data cannot pin their ceiling yet"
    )


def _ceiling_note(platform: PlatformFit, identified: bool) -> str:
    if identified:
        return "ceiling identified"
    stage = PAST_PEAK_NOTE if rate_past_peak(platform.series) else BEFORE_PEAK_NOTE
    return f"{NOT_IDENTIFIABLE} ({stage})"


def _ensemble_note(platform: PlatformFit, identified: bool) -> str:
    note = _ceiling_note(platform, identified)
    reason = too_early_reason(platform)
    if reason is not None:
        note += f"; {TOO_EARLY}: {reason}"
    if not platform.calibration.calibrated:
        note += "; interval not calibrated (too little history)"
    return note


# AICc values closer than this are a tie: below what the optimizer resolves (its relative
# tolerance on a deviance of thousands), and Akaike weights 0.05% apart. Bass's curve is a
# logistic plus a constant, so on increments the two score the same up to ~1e-6, and the
# last bits of floating point must not swap the name of the best model.
AICC_TIE = 1e-3


def best_model(outcomes: Sequence[ModelOutcome]) -> str:
    """The model with the lowest AICc; among models tied with it, the one with the fewest
    parameters, then the first in the models' order."""
    lowest = min(o.fit.aicc for o in outcomes)
    tied = [o for o in outcomes if o.fit.aicc <= lowest + AICC_TIE]
    return min(tied, key=lambda o: o.fit.x.size).name


def ensemble_params(platform: PlatformFit) -> dict[str, Any]:
    weights = platform.ensemble_weights()
    identified, draws, shares = ensemble_ceiling(platform)
    reason = too_early_reason(platform)
    params: dict[str, Any] = {
        "basis": "Akaike-weighted mixture of the models' bootstrap draws; models whose "
        "ceiling the data cannot identify yet are left out",
        "weights": {name: _number(w) for name, w in weights.items()},
        "excluded": [o.name for o in platform.outcomes if not o.usable],
        "best_model": best_model(platform.outcomes),
        "note": _ensemble_note(platform, identified),
        "past_peak": rate_past_peak(platform.series),
        "too_early": reason is not None,
        "too_early_reason": reason,
        "usable_weight": _number(_usable_weight(platform)),
        "calibration": platform.calibration.summary(),
        **_series_params(platform),
    }
    if identified:
        params |= _ceiling_summary(draws, shares, weighted_quantile(draws, shares, 0.5))
    if weights:
        params["fitted_curve"] = curve_points(platform.series, _ensemble_cumulative(platform))
    return params


def _ensemble_rmse(platform: PlatformFit) -> float:
    weights = platform.ensemble_weights()
    series = platform.series
    predicted = sum(
        weights[o.name] * predicted_increments(o.fit.model, series, o.fit.params)
        for o in platform.outcomes
        if o.name in weights
    )
    return float(np.sqrt(np.mean((predicted - series.increments) ** 2)))


def fitted_cumulative(outcome: ModelOutcome, series: FitSeries) -> np.ndarray:
    """Cumulative users per the model at every bucket boundary of the window: its
    predicted increments (seasonal factor included, as the counts it is fitted to) added to
    the users before the window, which the model explains only with a level term (else:
    the observed ones)."""
    model, params = outcome.fit.model, outcome.fit.params
    if series.level_term:
        start = float(model.cumulative(series.boundaries[:1], params)[0])
    else:
        start = series.cumulative_at_end - series.growth
    gained = np.cumsum(predicted_increments(model, series, params))
    return np.asarray(start + np.r_[0.0, gained])


def fitted_total(outcome: ModelOutcome, series: FitSeries) -> float:
    """Cumulative users at the end of the window per the model."""
    return float(fitted_cumulative(outcome, series)[-1])


def _ensemble_cumulative(platform: PlatformFit) -> np.ndarray:
    """The usable models' fitted cumulative curves, weighted as in the ensemble."""
    weights = platform.ensemble_weights()
    curves = [
        weights[o.name] * fitted_cumulative(o, platform.series)
        for o in platform.outcomes
        if o.name in weights
    ]
    return (
        np.asarray(np.sum(curves, axis=0)) if curves else np.zeros_like(platform.series.boundaries)
    )


def _ensemble_total(platform: PlatformFit) -> float:
    return float(_ensemble_cumulative(platform)[-1])


def curve_points(series: FitSeries, cumulative: np.ndarray) -> dict[str, list[float | None]]:
    """The fitted curve as the chart draws it: at most about 2 x CURVE_POINTS bucket
    boundaries (spaced evenly and geometrically, so a launch burst in the first buckets
    keeps its shape), days since t0 and cumulative users."""
    last = series.boundaries.size - 1
    spaced = np.r_[np.linspace(0, last, CURVE_POINTS), np.geomspace(1, last, CURVE_POINTS)]
    keep = np.unique(np.round(spaced).astype(int))
    return {
        "days": [_number(float(d)) for d in series.boundaries[keep]],
        "users": [_number(float(u)) for u in cumulative[keep]],
    }


def _fit_row(
    platform: PlatformFit, model: str, params: dict[str, Any], **values: Any
) -> dict[str, Any]:
    return {
        "platform": platform.series.platform,
        "model": model,
        "params": json.dumps(params, sort_keys=True),
        "n_points": platform.series.n_points,
        "fitted_until": _when(platform.series, platform.series.fitted_until),
        "measured_at_end": platform.series.cumulative_at_end,
        **values,
    }


def _forecast_row(series: FitSeries, model: str, row: MilestoneForecast) -> dict[str, Any]:
    return {
        "platform": series.platform,
        "model": model,
        "users": row.users,
        "eta": _when(series, row.eta_days),
        "eta_low": _when(series, row.low_days),
        "eta_high": _when(series, row.high_days),
        "p_never": row.p_never,
    }


def _withheld_row(series: FitSeries, users: int) -> dict[str, Any]:
    """A headline forecast the data cannot give ("too early to forecast"): no time and no
    P(never), as opposed to a null `eta` with a P(never), which says "never"."""
    return {
        "platform": series.platform,
        "model": ENSEMBLE,
        "users": users,
        "eta": None,
        "eta_low": None,
        "eta_high": None,
        "p_never": None,
    }


def _ensemble_forecast_rows(platform: PlatformFit) -> list[dict[str, Any]]:
    series = platform.series
    if too_early_reason(platform) is not None:
        return [_withheld_row(series, users) for users in platform.milestones]
    return [_forecast_row(series, ENSEMBLE, f) for f in ensemble_forecasts(platform)]


def add_platform(rows: TableRows, platform: PlatformFit) -> None:
    series = platform.series
    identified, _, _ = ensemble_ceiling(platform)
    rows.fits.append(
        _fit_row(
            platform,
            ENSEMBLE,
            ensemble_params(platform),
            aic=None,
            rmse=_ensemble_rmse(platform),
            ceiling_identified=identified,
            fitted_at_end=_ensemble_total(platform),
        )
    )
    rows.forecasts += _ensemble_forecast_rows(platform)
    for outcome in platform.outcomes:
        rows.fits.append(
            _fit_row(
                platform,
                outcome.name,
                model_params(outcome, platform),
                aic=_number(outcome.fit.aicc),
                rmse=outcome.fit.rmse,
                ceiling_identified=outcome.identifiability.identified,
                fitted_at_end=fitted_total(outcome, series),
            )
        )
        rows.forecasts += [
            _forecast_row(series, outcome.name, f) for f in model_forecasts(outcome, platform)
        ]


def add_unfitted(rows: TableRows, platform: str, n_points: int) -> None:
    note = f"not enough complete buckets to fit ({n_points}; need {MIN_POINTS})"
    rows.fits.append(
        {
            "platform": platform,
            "model": ENSEMBLE,
            "params": json.dumps({"note": note}),
            "aic": None,
            "rmse": None,
            "n_points": n_points,
            "fitted_until": None,
            "ceiling_identified": False,
            "measured_at_end": None,
            "fitted_at_end": None,
        }
    )
