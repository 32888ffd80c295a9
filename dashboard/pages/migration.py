"""Migration & channels: channel mix over time, people on two platforms (who was first, the
lag), the migration share of each day's signups, and what migrants did on both platforms."""

from __future__ import annotations

from dash import Dash, html

from dashboard.components import chart
from dashboard.context import AppContext

PATH = "/migration"
NAME = "Migration"
CHARTS = ("channel-mix", "overlap", "migration-share", "migrant-activity")


def layout() -> html.Div:
    return html.Div([chart(name) for name in CHARTS])


def register(app: Dash, context: AppContext) -> None:
    """Migration has charts only."""
