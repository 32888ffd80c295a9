"""The snapshot's `fits` and `forecasts` tables, built from platform fits."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

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
from etl.fits.forecast import HORIZON_SPANS, INTERVAL, ceiling_total, weighted_quantile
from etl.fits.series import MIN_POINTS, FitSeries

UTC_TIME = pa.timestamp("us", tz="UTC")
FITS_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("model", pa.string()),
        ("params", pa.string()),
        ("aic", pa.float64()),
        ("rmse", pa.float64()),
        ("n_points", pa.int64()),
        ("fitted_until", UTC_TIME),
        ("ceiling_identified", pa.bool_()),
        # Cumulative users at `fitted_until`: observed, and per the fitted curve (ensemble:
        # the weighted mean of the usable models), so a drawn curve can be checked.
        ("measured_at_end", pa.float64()),
        ("fitted_at_end", pa.float64()),
    ]
)
FORECASTS_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("model", pa.string()),
        ("users", pa.int64()),
        ("eta", UTC_TIME),
        ("eta_low", UTC_TIME),
        ("eta_high", UTC_TIME),
        ("p_never", pa.float64()),
    ]
)
ENSEMBLE = "ensemble"
INTERVAL_TEXT = f"{round(100 * (INTERVAL[1] - INTERVAL[0]))}% (bootstrap percentiles)"
CALIBRATED_TEXT = (
    f"{round(100 * (INTERVAL[1] - INTERVAL[0]))}% (bootstrap percentiles widened by the "
    "forecast error on earlier truncations of the window)"
)
NOT_IDENTIFIABLE = "ceiling not yet identifiable"
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


def _ensemble_note(platform: PlatformFit, identified: bool) -> str:
    note = "ceiling identified" if identified else NOT_IDENTIFIABLE
    if _usable_weight(platform) < POOR_FIT_WEIGHT:
        note += (
            "; the models usable for forecasting fit poorly, so read the forecast as the"
            " current pace only"
        )
    if not platform.calibration.calibrated:
        note += "; interval not calibrated (too little history)"
    return note


def ensemble_params(platform: PlatformFit) -> dict[str, Any]:
    weights = platform.ensemble_weights()
    identified, draws, shares = ensemble_ceiling(platform)
    params: dict[str, Any] = {
        "basis": "Akaike-weighted mixture of the models' bootstrap draws; models whose "
        "ceiling the data cannot identify yet are left out",
        "weights": {name: _number(w) for name, w in weights.items()},
        "excluded": [o.name for o in platform.outcomes if not o.usable],
        "best_model": min(platform.outcomes, key=lambda o: o.fit.aicc).name,
        "note": _ensemble_note(platform, identified),
        "usable_weight": _number(_usable_weight(platform)),
        "calibration": platform.calibration.summary(),
        **_series_params(platform),
    }
    if identified:
        params |= _ceiling_summary(draws, shares, weighted_quantile(draws, shares, 0.5))
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


def fitted_total(outcome: ModelOutcome, series: FitSeries) -> float:
    """Cumulative users at the end of the window per the model. The model explains the
    users before the window only with a level term; otherwise they are the observed ones."""
    model, params = outcome.fit.model, outcome.fit.params
    start, end = model.cumulative(series.boundaries[[0, -1]], params)
    if series.level_term:
        return float(end)
    return float(series.cumulative_at_end - series.growth + end - start)


def _ensemble_total(platform: PlatformFit) -> float:
    weights = platform.ensemble_weights()
    return sum(
        weights[o.name] * fitted_total(o, platform.series)
        for o in platform.outcomes
        if o.name in weights
    )


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
    rows.forecasts += [_forecast_row(series, ENSEMBLE, f) for f in ensemble_forecasts(platform)]
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
