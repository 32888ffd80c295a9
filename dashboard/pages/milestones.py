"""Milestones: dot plot and table of time to each milestone, with ratios."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html

from dashboard.components import chart, section, table
from dashboard.context import AppContext
from dashboard.controls import CONTROL_IDS, view_options
from dashboard.figures.milestones import milestone_table

PATH = "/milestones"
NAME = "Milestones"
CHARTS = ("milestones",)


def layout() -> html.Div:
    return html.Div(
        [
            chart("milestones"),
            section(
                "Time to each milestone",
                html.Div(id="milestone-table"),
                note="Exact time from t0 to the N-th signup; ratio: how many times faster the "
                "fastest platform reached it than the slowest.",
            ),
        ]
    )


def register(app: Dash, context: AppContext) -> None:
    @app.callback(
        Output("milestone-table", "children"),
        Input("snapshot-id", "data"),
        *[Input(c, "value") for c in CONTROL_IDS],
    )
    def milestones_table(_: Any, *values: Any) -> Any:
        inputs = context.inputs()
        if inputs is None:
            return None
        platforms = inputs.platforms(view_options(*values))
        rows = milestone_table(inputs.table("milestones"), platforms)
        columns = [("milestone", "Milestone"), *[(p, p) for p in platforms], ("ratio", "Ratio")]
        return table(rows, columns)
