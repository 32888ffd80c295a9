"""Retention: cohort heatmap and retention curves, "on" or "on or after"."""

from __future__ import annotations

from dash import Dash, html

from dashboard.components import chart
from dashboard.context import AppContext

PATH = "/retention"
NAME = "Retention"
CHARTS = ("retention-curves", "retention-heatmap")


def layout() -> html.Div:
    return html.Div([chart("retention-curves"), chart("retention-heatmap")])


def register(app: Dash, context: AppContext) -> None:
    """Retention has charts only."""
