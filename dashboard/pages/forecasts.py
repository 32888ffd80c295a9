"""Forecasts: fitted curves, forecast band, model table, next-milestone ETAs."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html

from dashboard.components import chart, section, table
from dashboard.context import AppContext
from dashboard.controls import CONTROL_IDS, view_options
from dashboard.figures.forecasts import model_table

PATH = "/forecasts"
NAME = "Forecasts"
CHARTS = ("forecast",)
COLUMNS = [
    ("platform", "Platform"),
    ("model", "Model"),
    ("aic", "AIC"),
    ("akaike_weight", "Akaike weight"),
    ("rmse", "RMSE (users per period)"),
    ("n_points", "Points"),
    ("ceiling", "Ceiling"),
]


def layout() -> html.Div:
    return html.Div(
        [
            chart("forecast"),
            section(
                "Models",
                html.Div(id="model-table"),
                note="Fitted to per-period signups; Akaike weight: relative support of each "
                "model among those fitted for the platform.",
            ),
        ]
    )


def register(app: Dash, context: AppContext) -> None:
    @app.callback(
        Output("model-table", "children"),
        Input("snapshot-id", "data"),
        *[Input(c, "value") for c in CONTROL_IDS],
    )
    def models(_: Any, *values: Any) -> Any:
        inputs = context.inputs()
        if inputs is None:
            return None
        rows = model_table(inputs.table("fits"), inputs.platforms(view_options(*values)))
        return table(rows, COLUMNS) if rows else html.P("No fits in this snapshot yet.")
