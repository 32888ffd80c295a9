"""Data health: the ETL runs behind the snapshot (rows loaded, duplicate, quarantined per
run) and how fresh the data is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    Definitions,
    caption,
    empty_figure,
    new_figure,
    style_figure,
    trace,
)

TITLE = "ETL runs: rows per outcome"
OUTCOMES = {
    "rows_loaded": ("loaded", "#059669"),
    "rows_duplicate": ("duplicate", "#ca8a04"),
    "rows_quarantined": ("quarantined", "#dc2626"),
}


def freshness(runs: pl.DataFrame, definitions: Definitions) -> dict[str, Any]:
    """Watermark, last run and its status, and the totals over all recorded runs."""
    last = runs.sort("started_at").row(-1, named=True) if runs.height else None
    totals = {c: int(runs[c].sum()) for c in ("rows_read", *OUTCOMES)} if runs.height else {}
    return {
        "watermark": definitions.watermark,
        "last_run": last["finished_at"] if last else None,
        "last_status": last["status"] if last else None,
        "runs": runs.height,
        **totals,
    }


def run_rows(runs: pl.DataFrame) -> list[dict[str, Any]]:
    """Runs as table rows, newest first, timestamps as text."""
    rows = []
    for run in runs.sort("started_at", descending=True).iter_rows(named=True):
        rows.append(
            {
                k: (f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else v)
                for k, v in run.items()
            }
        )
    return rows


def build_runs(runs: pl.DataFrame, definitions: Definitions) -> go.Figure:
    """Stacked bars: rows loaded, duplicate and quarantined in each run."""
    text = caption("Rows read per ETL run = loaded + duplicate + quarantined", definitions)
    if runs.is_empty():
        return empty_figure("No runs recorded in this snapshot", title=TITLE, caption_text=text)
    ordered = runs.sort("started_at")
    labels = [f"{t:%m-%d %H:%M}" for t in ordered["started_at"].to_list()]
    fig = new_figure()
    for column, (label, colour) in OUTCOMES.items():
        fig.add_trace(
            trace(
                "bar",
                x=labels,
                y=ordered[column].to_list(),
                name=label,
                marker={"color": colour},
                customdata=ordered.select("run_id", "status").rows(),
                hovertemplate="run %{customdata[0]} (%{customdata[1]})<br>"
                + f"{label}: %{{y:,}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title={"text": "Run start (UTC)"}, type="category")
    fig.update_yaxes(title={"text": "Rows (count)"}, tickformat="~s")
    return style_figure(fig, title=TITLE, caption_text=text, height=380)
