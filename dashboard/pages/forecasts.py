"""Forecasts: fitted curves, forecast band, model table, next-milestone ETAs."""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboard.charts import ChartInputs, ViewOptions
from dashboard.components import chart_with_table, register_view_table, table
from dashboard.context import AppContext
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
    return chart_with_table(
        "forecast",
        "Models",
        "model-table",
        note="Fitted to per-period signups; Akaike weight: relative support of each "
        "model among those fitted for the platform.",
    )


def models(inputs: ChartInputs, options: ViewOptions) -> Any:
    rows = model_table(inputs.table("fits"), inputs.platforms(options))
    return table(rows, COLUMNS) if rows else html.P("No fits in this snapshot yet.")


def register(app: Dash, context: AppContext) -> None:
    register_view_table(app, context, "model-table", models)
