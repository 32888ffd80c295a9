"""Velocity: signups per minute/hour/day, peaks, launch half-life, hour-of-day pattern."""

from __future__ import annotations

from dash import Dash, html

from dashboard.charts import ChartInputs, ViewOptions
from dashboard.components import chart, register_view_table, stat
from dashboard.context import AppContext
from dashboard.figures.common import format_duration
from dashboard.figures.velocity import velocity_stats
from etl.contract import format_users

PATH = "/velocity"
NAME = "Velocity"
CHARTS = ("velocity", "hour-of-day")


def layout() -> html.Div:
    return html.Div(
        [html.Div(id="velocity-stats", className="stats"), chart("velocity"), chart("hour-of-day")]
    )


def velocity_tiles(inputs: ChartInputs, options: ViewOptions) -> list[html.Div]:
    """Per platform: peak signups per bucket, when it came, and the launch half-life."""
    tiles = []
    for platform in inputs.platforms(options):
        stats = velocity_stats(inputs.table("signups", options), platform, options.grain)
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


def register(app: Dash, context: AppContext) -> None:
    register_view_table(app, context, "velocity-stats", velocity_tiles)
