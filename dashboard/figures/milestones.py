"""Milestones: time to each user count per platform (a table and a dot plot), the ratio
between platforms, and milestones not reached yet (censored at the data watermark)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    HOUR,
    Definitions,
    caption,
    colour_of,
    elapsed_axis,
    format_duration,
    new_figure,
    style_figure,
    trace,
)
from dashboard.figures.launch_race import format_ratio
from etl.contract import format_users

TITLE = "Time to each milestone"
NOT_REACHED = "not reached yet"


def observed_hours(platforms: pl.DataFrame, watermark: datetime | None) -> dict[str, float]:
    """Hours each platform has been observed: from its t0 to its own newest data (its last
    event, never past the snapshot's watermark). A platform whose data ended months before
    another's is censored where its own data ends, not at the newest data of all."""
    observed = {}
    for row in platforms.iter_rows(named=True):
        ends = [t for t in (row.get("last_event"), watermark) if t is not None]
        if row["t0"] is not None and ends:
            observed[str(row["platform"])] = (min(ends) - row["t0"]).total_seconds() / HOUR
    return observed


def milestone_hours(
    milestones: pl.DataFrame, platforms: Sequence[str]
) -> dict[int, dict[str, float | None]]:
    """users -> platform -> hours to reach (None: not reached yet), for the chosen platforms."""
    table: dict[int, dict[str, float | None]] = {}
    rows = milestones.filter(pl.col("platform").is_in(list(platforms))).sort("users")
    for row in rows.iter_rows(named=True):
        elapsed = row["elapsed_s"]
        hours = float(elapsed) / HOUR if elapsed is not None else None
        table.setdefault(int(row["users"]), {})[str(row["platform"])] = hours
    return table


def milestone_table(milestones: pl.DataFrame, platforms: Sequence[str]) -> list[dict[str, Any]]:
    """One row per milestone: time per platform, and how many times faster the fastest was."""
    rows = []
    for users, times in milestone_hours(milestones, platforms).items():
        row: dict[str, Any] = {"milestone": format_users(users), "users": users}
        for platform in platforms:
            hours = times.get(platform)
            row[platform] = format_duration(hours) if hours is not None else NOT_REACHED
        row["ratio"] = _ratio_text(times)
        rows.append(row)
    return rows


def _ratio_text(times: Mapping[str, float | None]) -> str:
    reached = sorted((h, p) for p, h in times.items() if h is not None)
    if len(reached) < 2:
        return ""
    (fast, fastest), (slow, slowest) = reached[0], reached[-1]
    if fast <= 0:
        return ""
    return f"{fastest} {format_ratio(slow / fast)} faster than {slowest}"


def build_milestone_dots(
    milestones: pl.DataFrame,
    platforms_table: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
    *,
    log: bool = True,
) -> go.Figure:
    """Dot plot: milestone (rows) vs time to reach it (log time); open markers for
    milestones not reached yet, placed at the time observed so far (a lower bound)."""
    table = milestone_hours(milestones, platforms)
    observed = observed_hours(platforms_table, definitions.watermark)
    labels = [format_users(users) for users in table]
    fig = new_figure()
    xs: list[float] = []
    for platform in platforms:
        reached = [(format_users(u), t[platform]) for u, t in table.items() if t.get(platform)]
        pending = [
            format_users(u) for u, t in table.items() if platform in t and t[platform] is None
        ]
        colour = colour_of(platform, colours)
        fig.add_trace(
            trace(
                "scatter",
                x=[h for _, h in reached],
                y=[label for label, _ in reached],
                mode="markers",
                name=platform,
                legendgroup=platform,
                marker={"color": colour, "size": 12, "line": {"color": "white", "width": 1}},
                customdata=[format_duration(h or 0) for _, h in reached],
                hovertemplate=f"{platform} reached %{{y}} in %{{customdata}}<extra></extra>",
            )
        )
        xs += [h for _, h in reached if h]
        if pending and platform in observed:
            seen = observed[platform]
            xs.append(seen)
            fig.add_trace(
                trace(
                    "scatter",
                    x=[seen] * len(pending),
                    y=pending,
                    mode="markers+text",
                    name=f"{platform}: {NOT_REACHED}",
                    legendgroup=platform,
                    marker={"color": "white", "size": 12, "line": {"color": colour, "width": 2}},
                    text=[f"{NOT_REACHED} (> {format_duration(seen)})"] * len(pending),
                    textposition="middle left",
                    textfont={"color": colour, "size": 11},
                    hovertemplate=f"{platform}: %{{y}} {NOT_REACHED}<extra></extra>",
                )
            )
    fig.update_xaxes(elapsed_axis(log, min(xs, default=1 / 60), max(xs, default=24.0)))
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=labels,
        title={"text": "Milestone (cumulative signups)"},
    )
    return style_figure(
        fig,
        title=TITLE,
        subtitle="Filled: reached (exact time of the N-th signup). Open: not reached yet, "
        "shown at the time observed so far",
        caption_text=caption(
            "Time from t0 to the N-th signup; censored when not reached", definitions
        ),
        height=max(380, 40 * len(labels) + 220),
    )
