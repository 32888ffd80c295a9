"""Home: the launch race."""

from __future__ import annotations

from dash import Dash, html

from dashboard.components import chart
from dashboard.context import AppContext

PATH = "/"
NAME = "Launch race"
CHARTS = ("launch-race",)


def layout() -> html.Div:
    return html.Div([chart("launch-race", height=600)])


def register(app: Dash, context: AppContext) -> None:
    """The launch race has no tables of its own."""
