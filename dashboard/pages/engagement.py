"""Engagement: DAU/WAU/MAU, stickiness, growth accounting and quick ratio."""

from __future__ import annotations

from dash import Dash, html

from dashboard.components import chart
from dashboard.context import AppContext

PATH = "/engagement"
NAME = "Engagement"
CHARTS = ("active-users", "stickiness", "lifecycle")


def layout() -> html.Div:
    return html.Div([chart("active-users"), chart("stickiness"), chart("lifecycle")])


def register(app: Dash, context: AppContext) -> None:
    """Engagement has charts only."""
