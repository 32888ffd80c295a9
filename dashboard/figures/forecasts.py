"""Forecasts: measured cumulative signups with the best-fitting growth model's curve, the
forecast band of the time to the next milestones, the model table (AICc, Akaike weight, fit
quality) and an explicit note when the ceiling cannot be identified yet.

The `fits` table's `params` JSON (etl/fits) carries `parameters` (rates per day, times in
days since t0; `time_unit`), `akaike_weight` and `note`; the `ensemble` row (no AICc) is the
Akaike-weighted headline whose forecasts the band shows."""

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
    add_hline,
    add_milestone_lines,
    caption,
    colour_of,
    elapsed_axis,
    empty_figure,
    format_duration,
    measured_curve,
    new_figure,
    style_figure,
    trace,
    users_axis,
)
from dashboard.figures.launch_race import Curve, race_curve

# Explicitly re-exported (mypy strict): dashboard/report.py imports it from here.
from etl.contract import ENSEMBLE as ENSEMBLE  # noqa: PLC0414
from etl.contract import format_users

TITLE = "Forecast: fitted growth and time to the next milestones"
UNIT_HOURS = {"s": 1 / HOUR, "second": 1 / HOUR, "h": 1.0, "hour": 1.0, "d": 24.0, "day": 24.0}
CEILING_NOTE = "ceiling not yet identifiable (before the inflection point)"
PAST_PEAK_NOTE = "past its peak; ceiling not yet identifiable"
TOO_EARLY = "too early to forecast"
# Milestone labels closer than this to the one below them are left out (the line stays):
# a fifth of a decade on a log axis, 5% of the highest value on a linear one; on a log
# axis spanning many decades, a label's height (LABEL_PX) in decades of a plot as short as
# it gets under three platforms' notes (PLOT_PX of the 560 px figure).
LABEL_GAP_DECADES = 0.2
LABEL_GAP_SHARE = 0.05
LABEL_PX, PLOT_PX = 14.0, 230.0
SUBTITLE_WIDTH = 110  # characters per subtitle line, so exports do not cut it off

ModelCurve = Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
MODELS: dict[str, ModelCurve] = {
    "logistic": lambda t, p: (
        p["ceiling"] / (1 + np.exp(-p["rate_per_day"] * (t - p["inflection_day"])))
    ),
    "gompertz": lambda t, p: (
        p["ceiling"] * np.exp(-np.exp(-p["rate_per_day"] * (t - p["inflection_day"])))
    ),
    "bass": lambda t, p: _bass(
        t, p["market_m"], p["innovation_p_per_day"], p["imitation_q_per_day"]
    ),
    "exponential": lambda t, p: p["scale"] * (np.exp(p["growth_per_day"] * t) - 1),
    "burst_inflow": lambda t, p: _ramped(
        t,
        p,
        p["burst_users"] * (1 - np.exp(-p["burst_decay_per_day"] * t)) + p["inflow_per_day"] * t,
        p["inflow_per_day"],
        0.0,
    ),
    "burst_tail": lambda t, p: _ramped(
        t,
        p,
        p["burst_users"] * (1 - np.exp(-p["burst_decay_per_day"] * t))
        + p["tail_per_day"] * _fading(t, p["tail_fade_per_day"]),
        p["tail_per_day"],
        p["tail_fade_per_day"],
    ),
}


def _ramped(
    t: np.ndarray, p: Mapping[str, float], curve: np.ndarray, tail: float, fade: float
) -> np.ndarray:
    """The burst models' launch ramp (etl/fits/models.py): the users of the last 1/r days
    still on their way; none in snapshots from before the ramp."""
    ramp = p.get("launch_ramp_per_day")
    if ramp is None:
        return curve
    rate = p["burst_users"] * p["burst_decay_per_day"] * np.exp(-p["burst_decay_per_day"] * t)
    rate = rate + tail * np.exp(-fade * t)
    return np.asarray(curve + np.expm1(-ramp * t) * rate / ramp)


def _fading(t: np.ndarray, fade: float) -> np.ndarray:
    """(1 - e^{-jt}) / j, which is t at j = 0."""
    return np.asarray(-np.expm1(-fade * t) / fade if fade > 0 else t)


def _bass(t: np.ndarray, m: float, p: float, q: float) -> np.ndarray:
    decay = np.exp(-(p + q) * t)
    return np.asarray(m * (1 - decay) / (1 + (q / p) * decay))


def fit_params(params_json: str) -> dict[str, Any]:
    """The params JSON of a fit as a dict (empty when it is not valid JSON)."""
    try:
        value = json.loads(params_json)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def evaluate_model(model: str, params_json: str, hours: Sequence[float]) -> list[float] | None:
    """Cumulative users the model predicts at `hours` since t0; None if it cannot be drawn."""
    raw = fit_params(params_json)
    named = raw.get("parameters", raw)
    try:
        params = {k: float(v) for k, v in named.items() if isinstance(v, int | float)}
        scale = UNIT_HOURS[str(raw.get("time_unit", "day"))]
        with np.errstate(all="ignore"):
            values = MODELS[model](np.asarray(hours, dtype=float) / scale, params)
    except (KeyError, ValueError, TypeError, ZeroDivisionError, AttributeError):
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
        own = fits.filter((pl.col("platform") == platform) & pl.col("aic").is_not_null()).sort(
            "aic"
        )
        computed = akaike_weights([float(a) for a in own["aic"].to_list()])
        for fit, fallback in zip(own.iter_rows(named=True), computed, strict=True):
            params = fit_params(str(fit["params"]))
            weight = params.get("akaike_weight", fallback)
            rows.append(
                {
                    "platform": platform,
                    "model": fit["model"],
                    "aic": round(float(fit["aic"]), 1),
                    "akaike_weight": f"{float(weight):.0%}" if weight is not None else "",
                    "rmse": format_users(float(fit["rmse"])) if fit["rmse"] is not None else "",
                    "n_points": fit["n_points"],
                    "ceiling": "identified"
                    if fit["ceiling_identified"]
                    else str(params.get("note") or CEILING_NOTE),
                }
            )
    return rows


def best_fit(fits: pl.DataFrame, platform: str) -> dict[str, Any] | None:
    """The platform's lowest-AICc model (the ensemble row has none)."""
    own = fits.filter((pl.col("platform") == platform) & pl.col("aic").is_not_null()).sort("aic")
    return own.row(0, named=True) if own.height else None


def headline_fit(fits: pl.DataFrame, platform: str) -> dict[str, Any] | None:
    """The ensemble row when the snapshot has one, else the best model."""
    own = fits.filter((pl.col("platform") == platform) & (pl.col("model") == ENSEMBLE))
    return own.row(0, named=True) if own.height else best_fit(fits, platform)


def forecast_points(
    forecasts: pl.DataFrame, platform: str, model: str | None, t0: datetime
) -> pl.DataFrame:
    """The platform's forecasts (for `model` when it has any), times as hours since t0."""
    own = forecasts.filter(pl.col("platform") == platform)
    for preferred in (ENSEMBLE, model):
        if own.filter(pl.col("model") == preferred).height:
            own = own.filter(pl.col("model") == preferred)
            break
    return own.sort("users").with_columns(
        [
            ((pl.col(c) - t0).dt.total_seconds() / HOUR).alias(f"{c}_h")
            for c in ("eta", "eta_low", "eta_high")
        ]
    )


def ceiling_note(params: Mapping[str, Any], identified: bool) -> str:
    """'' when identified; else where the launch stands: past its peak (the signup rate
    peaked and has fallen, read from the data alone) or before the inflection point."""
    if identified:
        return ""
    return PAST_PEAK_NOTE if params.get("past_peak") else CEILING_NOTE


def describe_forecast(
    platform: str, points: pl.DataFrame, ceiling_identified: bool, params: Mapping[str, Any]
) -> str:
    """'steady: 10M in ~28.0 days after t0 (26.2 days to 31.7 days); 50M ...', or
    'viral: too early to forecast (...)' when the fit withheld its forecast."""
    if params.get("too_early"):
        reason = params.get("too_early_reason")
        return f"{platform}: {TOO_EARLY}" + (f" ({reason})" if reason else "")
    parts = []
    for row in points.iter_rows(named=True):
        users, never = format_users(row["users"]), row["p_never"] or 0.0
        if row["eta_h"] is None:
            parts.append(f"{users} may never be reached (P = {never:.0%})")
            continue
        low = format_duration(row["eta_low_h"]) if row["eta_low_h"] is not None else "?"
        high = format_duration(row["eta_high_h"]) if row["eta_high_h"] is not None else "never"
        parts.append(f"{users} in ~{format_duration(row['eta_h'])} after t0 ({low} to {high})")
    note = ceiling_note(params, ceiling_identified) or identified_ceiling(params)
    return f"{platform}: " + ("; ".join(parts) or "no forecast") + (f" · {note}" if note else "")


def identified_ceiling(params: Mapping[str, Any]) -> str:
    """'ceiling ~13.05M (13.03M to 13.09M)' from an identified ceiling's summary, else ''
    (four digits at least, more while the interval's ends would read the same: a ceiling
    near the measured total has a narrow interval)."""
    ceiling, low, high = (params.get(k) for k in ("ceiling", "ceiling_low", "ceiling_high"))
    if not isinstance(ceiling, int | float):
        return ""
    if not (isinstance(low, int | float) and isinstance(high, int | float)):
        return f"ceiling ~{_precise_users(ceiling)}"
    for digits in range(4, 8):
        if _precise_users(low, digits) != _precise_users(high, digits):
            return (
                f"ceiling ~{_precise_users(ceiling, digits)} "
                f"({_precise_users(low, digits)} to {_precise_users(high, digits)})"
            )
    return f"ceiling ~{_precise_users(ceiling)} (80% interval under 0.001% wide)"


def _precise_users(users: float, digits: int = 4) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(users) >= size:
            return f"{users / size:.{digits}g}{suffix}"
    return f"{users:.0f}"


def wrap_subtitle(text: str, width: int = SUBTITLE_WIDTH) -> str:
    """Break a platform's forecast sentence after '; ' and ' · ' into lines of at most
    about `width` characters (a subtitle does not wrap by itself)."""
    lines: list[str] = []
    pieces = text.replace(" · ", " ·\0").replace("; ", ";\0").split("\0")
    for piece in pieces:
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    # A ' · ' separator at a line break: the break separates already.
    return "<br>".join(line.removesuffix(" ·") for line in lines)


def labelled_milestones(targets: Sequence[int], log: bool, decades: float = 0.0) -> list[int]:
    """The milestones whose labels fit: each at least a label's height above the last
    labelled one (`decades`: the span of a log axis)."""
    top = max(targets, default=0)
    labelled: list[int] = []
    for users in sorted(targets):
        if labelled and _label_gap(labelled[-1], users, log, top, decades) < 1.0:
            continue
        labelled.append(users)
    return labelled


def _label_gap(below: int, users: int, log: bool, top: float, decades: float) -> float:
    """How many label heights lie between two milestone lines."""
    if log:
        height = max(LABEL_GAP_DECADES, decades * LABEL_PX / PLOT_PX)
        return math.log10(users / below) / height
    return (users - below) / (LABEL_GAP_SHARE * top)


def fitted_curve(
    model: str, params_json: str, start_h: float, end_h: float
) -> tuple[list[float], list[float]]:
    """The model over the fitted window, clipped at 1 user (a log axis would otherwise
    reach down to milli-users before the first signup)."""
    grid = list(np.geomspace(max(start_h, 1 / 60), max(end_h, 2 / 60), 200))
    values = evaluate_model(model, params_json, grid) or []
    kept = [(x, y) for x, y in zip(grid, values, strict=False) if y >= 1.0]
    return [x for x, _ in kept], [y for _, y in kept]


def headline_curve(params: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """The ensemble's fitted curve as the fits computed it (hours since t0, users; seasonal
    factor included), clipped at 1 user and at t > 0 for a log axis; empty when the
    snapshot has none (older snapshots)."""
    points = params.get("fitted_curve") or {}
    days, users = points.get("days") or [], points.get("users") or []
    kept = [
        (24.0 * float(d), float(u))
        for d, u in zip(days, users, strict=False)
        if d is not None and u is not None and d > 0 and u >= 1.0
    ]
    return [x for x, _ in kept], [y for _, y in kept]


def curve_label(params: Mapping[str, Any]) -> str:
    """'burst_tail' when one model holds the ensemble, else 'ensemble (a 60%, b 40%)'."""
    weights = {str(k): float(v) for k, v in (params.get("weights") or {}).items() if v}
    main = sorted(weights.items(), key=lambda item: -item[1])
    if main and main[0][1] >= 0.99:
        return main[0][0]
    shares = ", ".join(f"{name} {w:.0%}" for name, w in main if w >= 0.01)
    return f"ensemble ({shares})" if shares else ENSEMBLE


def forecast_path(
    points: pl.DataFrame, end_h: float, end_users: float
) -> tuple[list[float], list[float]]:
    """From the last measured total through every headline ETA: the ETA markers sit on
    the drawn forecast line (a single model's curve, unanchored, need not pass them)."""
    ahead = points.filter(pl.col("eta_h").is_not_null()).sort("users")
    return [end_h, *ahead["eta_h"].to_list()], [end_users, *ahead["users"].to_list()]


def _add_band(fig: go.Figure, platform: str, points: pl.DataFrame, colour: str) -> list[float]:
    band = points.filter(pl.col("eta_low_h").is_not_null() & pl.col("eta_high_h").is_not_null())
    if band.is_empty():
        return []
    users = band["users"].to_list()
    low, high = band["eta_low_h"].to_list(), band["eta_high_h"].to_list()
    fig.add_trace(
        trace(
            "scatter",
            x=low + high[::-1],
            y=users + users[::-1],
            fill="toself",
            fillcolor=colour,
            opacity=0.18,
            line={"width": 0},
            name=f"{platform} forecast interval",
            # The caption explains the band and the dotted line: three platforms' legend
            # entries must fit beside the plot (viral's were cut off below the figure).
            showlegend=False,
            legendgroup=platform,
            hoverinfo="skip",
        )
    )
    mid = band.filter(pl.col("eta_h").is_not_null())
    fig.add_trace(
        trace(
            "scatter",
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


def fitted_line(
    fit: Mapping[str, Any], headline: Mapping[str, Any], curve: Curve
) -> tuple[list[float], list[float], str]:
    """(hours, users, label) of the curve drawn over the window: the ensemble's as the fits
    computed it, else (older snapshots) the best model's from its parameters."""
    x, y = headline_curve(headline)
    if x:
        return x, y, curve_label(headline)
    x, y = fitted_curve(str(fit["model"]), str(fit["params"]), min(curve.hours), curve.hours[-1])
    return x, y, str(fit["model"])


def _fit_traces(
    platform: str,
    fitted: tuple[list[float], list[float], str],
    curve: Curve,
    points: pl.DataFrame,
    colour: str,
) -> list[dict[str, Any]]:
    """The fitted curve over the window and the headline forecast line beyond it."""
    end_h, end_users = curve.hours[-1], curve.cumulative[-1]
    x, y, label = fitted
    traces = []
    if x:
        traces.append(
            trace(
                "scatter",
                x=x,
                y=y,
                mode="lines",
                name=f"{platform} fit: {label}",
                legendgroup=platform,
                line={"color": colour, "width": 2, "dash": "dash"},
                hovertemplate=f"{platform} {label}: %{{y:,.0f}} at %{{x:.1f}} h"
                "<extra>fitted</extra>",
            )
        )
    path_x, path_y = forecast_path(points, end_h, end_users)
    if len(path_x) > 1:
        traces.append(
            trace(
                "scatter",
                x=path_x,
                y=path_y,
                mode="lines",
                name=f"{platform} forecast (median)",
                showlegend=False,
                legendgroup=platform,
                line={"color": colour, "width": 2, "dash": "dot"},
                hoverinfo="skip",
            )
        )
    return traces


def _add_milestones(
    fig: go.Figure,
    targets: Sequence[int],
    log: bool,
    axis_range: Any,
    markers: Any,
    *,
    users_range: Sequence[float] = (),
) -> None:
    decades = users_range[1] - users_range[0] if len(users_range) == 2 else 0.0
    labelled = labelled_milestones(targets, log, decades)
    add_milestone_lines(fig, labelled, log=log, axis_range=axis_range, markers=markers)
    for users in set(targets) - set(labelled):
        add_hline(fig, users, line={"color": "#9ca3af", "width": 1, "dash": "dot"})


def _users_range(values: Sequence[float], log: bool) -> dict[str, Any]:
    """A log axis starts at a whole decade of at least 1 user: no ticks below one user."""
    positive = [v for v in values if v and v > 0]
    if not log or not positive:
        return {}
    low = math.floor(math.log10(max(min(positive), 1.0)))
    return {"range": [low, math.log10(max(positive)) + 0.15]}


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
    """Measured curve, best model's fitted curve, the headline forecast line and band."""
    text = caption(
        "Measured cumulative signups; dashed: the fitted curve over the window (the"
        " Akaike-weighted models that may forecast, fitted to per-period signups, daily"
        " cycle included; not drawn when too early to forecast);"
        " dotted: headline median forecast through its ETAs; band: interval",
        definitions,
    )
    if fits.is_empty():
        return empty_figure(
            "No growth-model fits in this snapshot yet", title=TITLE, caption_text=text
        )
    launches = dict(
        zip(platforms_table["platform"].to_list(), platforms_table["t0"].to_list(), strict=True)
    )
    fig = new_figure()
    xs: list[float] = []
    ys: list[float] = []
    ends: list[tuple[float, float]] = []  # where each measured curve ends
    etas: list[tuple[float, float]] = []  # (hours, users) of each forecast ETA marker
    notes = []
    for platform in platforms:
        curve, fit = race_curve(signups, platform), best_fit(fits, platform)
        colour = colour_of(platform, colours)
        fig.add_trace(
            measured_curve(curve.hours, curve.cumulative, platform=platform, colour=colour)
        )
        xs += curve.hours
        ys += curve.cumulative
        ends += list(zip(curve.hours[-1:], curve.cumulative[-1:], strict=True))
        if fit is None or platform not in launches or not curve.hours:
            continue
        headline = headline_fit(fits, platform) or fit
        params = fit_params(str(headline["params"]))
        points = forecast_points(forecasts, platform, fit["model"], launches[platform])
        if params.get("too_early"):
            points = points.clear()
        xs += _add_band(fig, platform, points, colour)
        ahead = points.filter(pl.col("eta_h").is_not_null()).select("eta_h", "users").rows()
        etas += ahead
        xs += [hours for hours, _ in ahead]  # the forecast line ends inside the plot
        # Too early: the models that could forecast do not follow the data; drawing the
        # best of them would show a curve the measured one contradicts. The note says why.
        if not params.get("too_early"):
            line = fitted_line(fit, params, curve)
            for item in _fit_traces(platform, line, curve, points, colour):
                fig.add_trace(item)
        notes.append(
            describe_forecast(platform, points, bool(headline["ceiling_identified"]), params)
        )
    ys += [users for _, users in etas]
    positive = [x for x in xs if x and x > 0] or [1.0]
    axis = elapsed_axis(log, min(positive), max(positive))
    targets = sorted({int(users) for _, users in etas})
    users_range = _users_range(ys, log)
    markers = [*etas, *ends]
    _add_milestones(
        fig, targets, log, axis["range"], markers, users_range=users_range.get("range", ())
    )
    fig.update_xaxes(axis)
    fig.update_yaxes({**users_axis(log, "Cumulative signups (users)"), **users_range})
    subtitle = "<br>".join(wrap_subtitle(note) for note in notes)
    return style_figure(fig, title=TITLE, subtitle=subtitle or None, caption_text=text, height=560)
