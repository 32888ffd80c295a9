"""Milestones: dot plot and table of time to each milestone, with ratios."""

from __future__ import annotations

from dash import Dash, html

from dashboard.charts import ChartInputs, ViewOptions
from dashboard.components import chart_with_table, register_view_table, table
from dashboard.context import AppContext
from dashboard.figures.milestones import milestone_table

PATH = "/milestones"
NAME = "Milestones"
CHARTS = ("milestones",)


def layout() -> html.Div:
    return chart_with_table(
        "milestones",
        "Time to each milestone",
        "milestone-table",
        note="Exact time from t0 to the N-th signup; ratio: how many times faster the "
        "fastest platform reached it than the slowest.",
    )


def milestones_table(inputs: ChartInputs, options: ViewOptions) -> html.Table:
    platforms = inputs.platforms(options)
    rows = milestone_table(inputs.table("milestones", options), platforms)
    columns = [("milestone", "Milestone"), *[(p, p) for p in platforms], ("ratio", "Ratio")]
    return table(rows, columns)


def register(app: Dash, context: AppContext) -> None:
    register_view_table(app, context, "milestone-table", milestones_table)
