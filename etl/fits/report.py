"""Plain-text rendering of the `fits` and `forecasts` tables for `uptake forecast`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from etl.contract import ENSEMBLE, format_users
from etl.errors import UsageError


def _unit(seconds: float) -> tuple[float, str]:
    hours = seconds / 3600
    if hours < 48:
        return 3600.0, "hours"
    if hours < 24 * 730:
        return 86400.0, "days"
    return 365.25 * 86400.0, "years"


def format_wait(start: datetime, eta: datetime | None, low: Any, high: Any) -> str:
    """'in 4.2 days (3.8 to 4.9)' relative to the end of the fitted data."""
    if eta is None:
        return "not reached at this pace"
    size, unit = _unit((eta - start).total_seconds())

    def amount(when: datetime) -> str:
        return f"{(when - start).total_seconds() / size:.1f}"

    low_text = amount(low) if low is not None else "?"
    high_text = amount(high) if high is not None else "never"
    return f"in {amount(eta)} {unit} ({low_text} to {high_text})"


def _forecast_line(fit_end: datetime, row: dict[str, Any]) -> str:
    never = f", p(never) {row['p_never']:.0%}" if row["p_never"] >= 0.005 else ""
    if row["eta"] is None:
        return f"  {format_users(row['users'])}: not reached at this pace{never}"
    wait = format_wait(fit_end, row["eta"], row["eta_low"], row["eta_high"])
    return f"  at this pace {format_users(row['users'])} {wait}{never}"


def _ceiling_line(params: dict[str, Any], identified: bool) -> str:
    if not identified:
        past = " (past its peak)" if params.get("past_peak") else ""
        return f"  ceiling not yet identifiable{past}"
    low, high = params.get("ceiling_low"), params.get("ceiling_high")
    interval = f" ({format_users(low)} to {format_users(high)})" if low and high else ""
    return f"  ceiling about {format_users(params['ceiling'])}{interval}"


def _calibration_lines(params: dict[str, Any]) -> list[str]:
    calibration = params.get("calibration") or {}
    if calibration.get("status") == "too little history":
        return ["  interval not calibrated: too little history (bootstrap noise only)"]
    if calibration.get("status") == "calibrated":
        return [
            f"  interval widened by the error of {calibration['checks']} forecasts from "
            f"earlier truncations, as far ahead (x{calibration['widening_80']:.3g} at each "
            "end over all of them)"
        ]
    return []


def _headline_lines(
    params: dict[str, Any], end: datetime, forecasts: list[dict[str, Any]]
) -> list[str]:
    if params.get("too_early"):
        return [f"  too early to forecast: {params.get('too_early_reason') or 'see the note'}"]
    return [_forecast_line(end, r) for r in forecasts if r["model"] == ENSEMBLE]


def _model_line(row: dict[str, Any]) -> str:
    params = json.loads(row["params"])
    weight = params.get("akaike_weight") or 0.0
    aicc = f"{row['aic']:.1f}" if row["aic"] is not None else "-"
    ceiling = format_users(params["ceiling"]) if row["ceiling_identified"] else "-"
    return (
        f"    {row['model']:<13} {weight:>6.2f} {aicc:>10} {row['rmse']:>10.4g}"
        f" {ceiling:>9}  {params.get('note', '')}"
    )


def _platform_block(
    platform: str, fits: list[dict[str, Any]], forecasts: list[dict[str, Any]]
) -> str:
    headline = next(r for r in fits if r["model"] == ENSEMBLE)
    params = json.loads(headline["params"])
    if headline["fitted_until"] is None:
        return f"{platform}: {params['note']}"
    end = headline["fitted_until"]
    lines = [
        f"{platform}: {params['grain']} fit of {headline['n_points']} buckets up to "
        f"{end:%Y-%m-%d %H:%M} UTC; best model {params['best_model']}; "
        f"intervals {params['interval']}",
        _ceiling_line(params, bool(headline["ceiling_identified"])),
        *_calibration_lines(params),
        *_headline_lines(params, end, forecasts),
        f"    {'model':<13} {'weight':>6} {'AICc':>10} {'RMSE':>10} {'ceiling':>9}  note",
        *(_model_line(r) for r in fits if r["model"] != ENSEMBLE),
    ]
    return "\n".join(lines)


def format_forecasts(fits: pa.Table, forecasts: pa.Table, platform: str | None = None) -> str:
    """A readable summary per platform: the headline (ensemble) forecasts such as
    "at this pace 100M in 4.2 days (3.8 to 4.9)", the ceiling or "ceiling not yet
    identifiable", then one line per model."""
    fit_rows, forecast_rows = fits.to_pylist(), forecasts.to_pylist()
    platforms = sorted({r["platform"] for r in fit_rows})
    if platform is not None and platform not in platforms:
        known = ", ".join(platforms) or "none"
        raise UsageError(f"no fits for platform {platform!r}; fitted platforms: {known}")
    chosen = [platform] if platform is not None else platforms
    blocks = [
        _platform_block(
            name,
            [r for r in fit_rows if r["platform"] == name],
            [r for r in forecast_rows if r["platform"] == name],
        )
        for name in chosen
    ]
    return "\n\n".join(blocks) if blocks else "no fits yet"
