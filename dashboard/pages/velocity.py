"""Velocity: signups per minute/hour/day, peaks, launch half-life, hour-of-day pattern."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html

from dashboard.components import chart, stat
from dashboard.context import AppContext
from dashboard.controls import CONTROL_IDS, view_options
from dashboard.figures.common import format_duration, format_users
from dashboard.figures.velocity import velocity_stats

PATH = "/velocity"
NAME = "Velocity"
CHARTS = ("velocity", "hour-of-day")


def layout() -> html.Div:
    return html.Div(
        [html.Div(id="velocity-stats", className="stats"), chart("velocity"), chart("hour-of-day")]
    )


def register(app: Dash, context: AppContext) -> None:
    @app.callback(
        Output("velocity-stats", "children"),
        Input("snapshot-id", "data"),
        *[Input(c, "value") for c in CONTROL_IDS],
    )
    def velocity_tiles(_: Any, *values: Any) -> Any:
        inputs = context.inputs()
        if inputs is None:
            return None
        options = view_options(*values)
        tiles = []
        for platform in inputs.platforms(options):
            stats = velocity_stats(inputs.table("signups"), platform, options.grain)
            if stats is None:
                continue
            half = format_duration(stats.half_life_hours) if stats.half_life_hours else "not yet"
            tiles.append(
                stat(
                    f"{platform}: peak per {stats.grain}",
                    format_users(stats.peak),
                    f"{format_duration(max(stats.peak_hours, 0))} after t0 · half-life {half}",
                )
            )
        return tiles
