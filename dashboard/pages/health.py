"""Data health: freshness and the ETL runs behind the snapshot."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html

from dashboard.components import chart, section, stat, table
from dashboard.context import AppContext
from dashboard.figures.health import freshness, run_rows

PATH = "/health"
NAME = "Data health"
CHARTS = ("runs",)
COLUMNS = [
    ("run_id", "Run"),
    ("started_at", "Started (UTC)"),
    ("status", "Status"),
    ("files", "Files"),
    ("rows_read", "Read"),
    ("rows_loaded", "Loaded"),
    ("rows_duplicate", "Duplicate"),
    ("rows_quarantined", "Quarantined"),
    ("error", "Error"),
]


def layout() -> html.Div:
    return html.Div(
        [
            html.Div(id="health-stats", className="stats stats-compact"),
            chart("runs"),
            section("Runs", html.Div(id="runs-table")),
        ]
    )


def register(app: Dash, context: AppContext) -> None:
    @app.callback(
        Output("health-stats", "children"),
        Output("runs-table", "children"),
        Input("snapshot-id", "data"),
    )
    def health(_: Any) -> Any:
        inputs = context.inputs()
        if inputs is None:
            return None, None
        runs = inputs.table("runs")
        fresh = freshness(runs, inputs.definitions)
        when = fresh["watermark"].strftime("%Y-%m-%d %H:%M") if fresh["watermark"] else "?"
        last = f"{fresh['last_run']:%Y-%m-%d %H:%M}" if fresh["last_run"] else "none"
        tiles = [
            stat("Data watermark (UTC)", when),
            stat("Last run (UTC)", last, fresh["last_status"]),
            stat("Snapshot", inputs.snapshot.id, inputs.snapshot.manifest.get("engine")),
            stat("Rows loaded", f"{fresh.get('rows_loaded', 0):,}"),
            stat("Duplicates", f"{fresh.get('rows_duplicate', 0):,}"),
            stat("Quarantined", f"{fresh.get('rows_quarantined', 0):,}"),
        ]
        return tiles, table(run_rows(runs), COLUMNS)
