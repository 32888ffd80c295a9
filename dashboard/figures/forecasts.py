"""Forecasts: measured cumulative signups with the best-fitting growth model's curve, the
forecast band of the time to the next milestones, the model table (AIC, Akaike weight, fit
quality) and an explicit note when the ceiling cannot be identified yet.

Model parameters come as JSON text from the `fits` table. Curves are drawn for the models
below; time is in `time_unit` (s, h or d; default h) since t0:
logistic K, r, t_mid; gompertz K, b, c; bass m, p, q; exponential a, r;
burst_inflow A, k, b (A(1 - e^(-kt)) + bt)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    HOUR,
    Definitions,
    caption,
    colour_of,
    elapsed_axis,
    empty_figure,
    format_duration,
    format_users,
    style_figure,
    users_axis,
)
from dashboard.figures.launch_race import race_curve

TITLE = "Forecast: fitted growth and time to the next milestones"
UNIT_HOURS = {"s": 1 / HOUR, "h": 1.0, "d": 24.0}
CEILING_NOTE = "ceiling not yet identifiable (before the inflection point)"

Curve = Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
MODELS: dict[str, Curve] = {
    "logistic": lambda t, p: p["K"] / (1 + np.exp(-p["r"] * (t - p["t_mid"]))),
    "gompertz": lambda t, p: p["K"] * np.exp(-p["b"] * np.exp(-p["c"] * t)),
    "bass": lambda t, p: (
        p["m"]
        * (1 - np.exp(-(p["p"] + p["q"]) * t))
        / (1 + (p["q"] / p["p"]) * np.exp(-(p["p"] + p["q"]) * t))
    ),
    "exponential": lambda t, p: p["a"] * np.exp(p["r"] * t),
    "burst_inflow": lambda t, p: p["A"] * (1 - np.exp(-p["k"] * t)) + p["b"] * t,
}


def evaluate_model(model: str, params_json: str, hours: Sequence[float]) -> list[float] | None:
    """Cumulative users the model predicts at `hours` since t0; None if it cannot be drawn."""
    try:
        raw: dict[str, Any] = json.loads(params_json)
        params = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
        scale = UNIT_HOURS[str(raw.get("time_unit", "h"))]
        values = MODELS[model](np.asarray(hours, dtype=float) / scale, params)
    except (KeyError, ValueError, TypeError, ZeroDivisionError):
        return None
    if not np.all(np.isfinite(values)):
        return None
    return [float(v) for v in values]


def akaike_weights(aics: Sequence[float]) -> list[float]:
    """exp(-delta/2) normalised: the relative support of each model."""
    if not aics:
        return []
    best = min(aics)
    raw = [math.exp(-(a - best) / 2) for a in aics]
    return [r / sum(raw) for r in raw]


def model_table(fits: pl.DataFrame, platforms: Sequence[str]) -> list[dict[str, Any]]:
    """One row per platform and model, best first, with the Akaike weight and fit quality."""
    rows = []
    for platform in platforms:
        own = fits.filter(pl.col("platform") == platform).sort("aic")
        weights = akaike_weights([float(a) for a in own["aic"].to_list()])
        for fit, weight in zip(own.iter_rows(named=True), weights, strict=True):
            rows.append(
                {
                    "platform": platform,
                    "model": fit["model"],
                    "aic": round(float(fit["aic"]), 1),
                    "akaike_weight": f"{weight:.0%}",
                    "rmse": format_users(float(fit["rmse"])),
                    "n_points": fit["n_points"],
                    "ceiling": "identified" if fit["ceiling_identified"] else CEILING_NOTE,
                }
            )
    return rows


def best_fit(fits: pl.DataFrame, platform: str) -> dict[str, Any] | None:
    own = fits.filter(pl.col("platform") == platform).sort("aic")
    return own.row(0, named=True) if own.height else None


def forecast_points(
    forecasts: pl.DataFrame, platform: str, model: str | None, t0: datetime
) -> pl.DataFrame:
    """The platform's forecasts (for `model` when it has any), times as hours since t0."""
    own = forecasts.filter(pl.col("platform") == platform)
    if model is not None and own.filter(pl.col("model") == model).height:
        own = own.filter(pl.col("model") == model)
    return own.sort("users").with_columns(
        [
            ((pl.col(c) - t0).dt.total_seconds() / HOUR).alias(f"{c}_h")
            for c in ("eta", "eta_low", "eta_high")
        ]
    )


def describe_forecast(platform: str, points: pl.DataFrame, ceiling_identified: bool) -> str:
    """'steady: 5M in ~25.0 days after t0 (23.3 to 27.5 days); 10M ...'"""
    parts = []
    for row in points.iter_rows(named=True):
        if row["eta_h"] is None:
            parts.append(
                f"{format_users(row['users'])} may never be reached (P = {row['p_never']:.0%})"
            )
            continue
        parts.append(
            f"{format_users(row['users'])} in ~{format_duration(row['eta_h'])} after t0 "
            f"({format_duration(row['eta_low_h'])} to {format_duration(row['eta_high_h'])})"
        )
    note = "" if ceiling_identified else f" · {CEILING_NOTE}"
    return f"{platform}: " + ("; ".join(parts) or "no forecast") + note


def _add_band(fig: go.Figure, platform: str, points: pl.DataFrame, colour: str) -> list[float]:
    band = points.filter(pl.col("eta_low_h").is_not_null() & pl.col("eta_high_h").is_not_null())
    if band.is_empty():
        return []
    users = band["users"].to_list()
    low, high = band["eta_low_h"].to_list(), band["eta_high_h"].to_list()
    fig.add_trace(
        go.Scatter(
            x=low + high[::-1],
            y=users + users[::-1],
            fill="toself",
            fillcolor=colour,
            opacity=0.18,
            line={"width": 0},
            name=f"{platform} forecast interval",
            legendgroup=platform,
            hoverinfo="skip",
        )
    )
    mid = band.filter(pl.col("eta_h").is_not_null())
    fig.add_trace(
        go.Scatter(
            x=mid["eta_h"].to_list(),
            y=mid["users"].to_list(),
            mode="markers",
            name=f"{platform} forecast ETA",
            legendgroup=platform,
            marker={"symbol": "diamond", "size": 11, "color": colour},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (mid["eta_high_h"] - mid["eta_h"]).to_list(),
                "arrayminus": (mid["eta_h"] - mid["eta_low_h"]).to_list(),
                "color": colour,
            },
            customdata=[format_users(u) for u in mid["users"].to_list()],
            hovertemplate=f"{platform}: %{{customdata}} expected %{{x:.0f}} h after t0"
            "<extra>forecast</extra>",
        )
    )
    return low + high


def build_forecast(
    signups: pl.DataFrame,
    fits: pl.DataFrame,
    forecasts: pl.DataFrame,
    platforms_table: pl.DataFrame,
    platforms: Sequence[str],
    *,
    definitions: Definitions,
    colours: Mapping[str, str],
    log: bool = False,
) -> go.Figure:
    """Measured curve, best model's fitted curve and forecast band per platform."""
    text = caption(
        "Cumulative signups (measured) with the lowest-AIC model fitted to per-period signups; "
        "band: forecast interval of the time to each next milestone",
        definitions,
    )
    if fits.is_empty():
        return empty_figure(
            "No growth-model fits in this snapshot yet", title=TITLE, caption_text=text
        )
    launches = dict(
        zip(platforms_table["platform"].to_list(), platforms_table["t0"].to_list(), strict=True)
    )
    fig = go.Figure()
    xs: list[float] = []
    notes = []
    for platform in platforms:
        curve, fit = race_curve(signups, platform), best_fit(fits, platform)
        colour = colour_of(platform, colours)
        fig.add_trace(
            go.Scatter(
                x=curve.hours,
                y=curve.cumulative,
                mode="lines",
                name=f"{platform} (measured)",
                legendgroup=platform,
                line={"color": colour, "width": 3},
                hovertemplate=f"{platform}: %{{y:,}} at %{{x:.1f}} h<extra>measured</extra>",
            )
        )
        xs += curve.hours
        if fit is None or platform not in launches:
            continue
        points = forecast_points(forecasts, platform, fit["model"], launches[platform])
        xs += _add_band(fig, platform, points, colour)
        span = max(xs) if xs else 24.0
        grid = list(np.geomspace(max(min(curve.hours, default=1 / 60), 1 / 60), span, 200))
        fitted = evaluate_model(str(fit["model"]), str(fit["params"]), grid)
        if fitted is not None:
            fig.add_trace(
                go.Scatter(
                    x=grid,
                    y=fitted,
                    mode="lines",
                    name=f"{platform} fit: {fit['model']}",
                    legendgroup=platform,
                    line={"color": colour, "width": 2, "dash": "dash"},
                    hovertemplate=f"{platform} {fit['model']}: %{{y:,.0f}} at %{{x:.1f}} h"
                    "<extra>fitted</extra>",
                )
            )
        notes.append(describe_forecast(platform, points, bool(fit["ceiling_identified"])))
    positive = [x for x in xs if x and x > 0] or [1.0]
    fig.update_xaxes(elapsed_axis(log, min(positive), max(positive)))
    fig.update_yaxes(users_axis(log, "Cumulative signups (users)"))
    return style_figure(
        fig, title=TITLE, subtitle="<br>".join(notes) or None, caption_text=text, height=560
    )
