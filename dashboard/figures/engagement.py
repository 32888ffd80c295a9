"""Engagement: DAU with rolling WAU and MAU (distinct users, never sums of DAU), DAU/MAU
stickiness, and growth accounting (new, returning, resurrected; dormant below zero) with
the quick ratio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    Definitions,
    axis_key,
    caption,
    colour_of,
    empty_figure,
    figure_of,
    new_figure,
    row_subplots,
    style_figure,
    subplot_axes,
    trace,
)

ACTIVE_TITLE = "Active users: DAU, WAU, MAU"
STICKINESS_TITLE = "Stickiness: DAU / MAU"
LIFECYCLE_TITLE = "Growth accounting"
ACTIVE_DASHES = {"dau": "solid", "wau": "dash", "mau": "dot"}
LIFECYCLE_COLOURS = {
    "new": "#059669",
    "returning": "#2563eb",
    "resurrected": "#9333ea",
    "dormant": "#dc2626",
}
WARMING_NOTE = "open markers: the trailing window reaches before t0 (warming up)"


def days_since_launch(active: pl.DataFrame, platforms_table: pl.DataFrame) -> pl.DataFrame:
    """`active` with `days`: whole days between the platform's launch day and the row's day."""
    launch = platforms_table.select("platform", pl.col("t0").dt.date().alias("launch_day"))
    return active.join(launch, on="platform", how="left").with_columns(
        days=(pl.col("day").cast(pl.Date) - pl.col("launch_day")).dt.total_days()
    )


def build_active_users(
    active: pl.DataFrame,
    platforms_table: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
    *,
    log: bool = False,
) -> go.Figure:
    """DAU (solid), WAU (dashed) and MAU (dotted) per platform vs days since launch."""
    frame = days_since_launch(active, platforms_table)
    fig = new_figure()
    for platform in platforms:
        rows = frame.filter(pl.col("platform") == platform).sort("day")
        for metric, dash in ACTIVE_DASHES.items():
            fig.add_trace(
                trace(
                    "scatter",
                    x=rows["days"].to_list(),
                    y=rows[metric].to_list(),
                    mode="lines",
                    name=f"{platform} {metric.upper()}",
                    legendgroup=platform,
                    line={"color": colour_of(platform, colours), "dash": dash, "width": 2},
                    hovertemplate=f"{platform} {metric.upper()}: %{{y:,}}<br>day %{{x}}"
                    "<extra></extra>",
                )
            )
        warming = rows.filter(pl.col("warming_up"))
        if warming.height:
            fig.add_trace(
                trace(
                    "scatter",
                    x=warming["days"].to_list(),
                    y=warming["mau"].to_list(),
                    mode="markers",
                    name=f"{platform} MAU warming up",
                    legendgroup=platform,
                    showlegend=False,
                    marker={
                        "color": "white",
                        "size": 6,
                        "line": {"color": colour_of(platform, colours), "width": 1.5},
                    },
                    hovertemplate="MAU window reaches before t0 (warming up)<extra></extra>",
                )
            )
    fig.update_xaxes(title={"text": "Days since launch day (day 0 = day of t0)"})
    fig.update_yaxes(
        type="log" if log else "linear",
        title={"text": "Active users (distinct users)"},
        tickformat="~s",
    )
    return style_figure(
        fig,
        title=ACTIVE_TITLE,
        caption_text=caption(
            "DAU per day; WAU and MAU: distinct users active in the trailing 7 and 30 days; "
            + WARMING_NOTE,
            definitions,
        ),
    )


def build_stickiness(
    active: pl.DataFrame,
    platforms_table: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
) -> go.Figure:
    """DAU/MAU per platform vs days since launch; warming-up days drawn faded."""
    frame = days_since_launch(active, platforms_table)
    fig = new_figure()
    for platform in platforms:
        rows = frame.filter(pl.col("platform") == platform).sort("day")
        fig.add_trace(
            trace(
                "scatter",
                x=rows["days"].to_list(),
                y=rows["stickiness"].to_list(),
                mode="lines+markers",
                name=platform,
                line={"color": colour_of(platform, colours), "width": 2},
                marker={
                    "size": 6,
                    "color": [
                        "white" if w else colour_of(platform, colours)
                        for w in rows["warming_up"].to_list()
                    ],
                    "line": {"color": colour_of(platform, colours), "width": 1.5},
                },
                hovertemplate=f"{platform}: DAU/MAU %{{y:.1%}}<br>day %{{x}}<extra></extra>",
            )
        )
    fig.update_xaxes(title={"text": "Days since launch day (day 0 = day of t0)"})
    fig.update_yaxes(title={"text": "DAU / MAU (%)"}, tickformat=".0%", rangemode="tozero")
    return style_figure(
        fig,
        title=STICKINESS_TITLE,
        caption_text=caption(
            "Stickiness = DAU / MAU (rolling 30-day distinct users); " + WARMING_NOTE, definitions
        ),
        height=400,
    )


def quick_ratio(frame: pl.DataFrame) -> pl.Series:
    """(new + resurrected) / dormant; null (undefined) when dormant is 0."""
    dormant = pl.col("dormant").abs()
    return frame.select(
        pl.when(dormant > 0)
        .then((pl.col("new") + pl.col("resurrected")) / dormant)
        .otherwise(None)
        .alias("quick_ratio")
    )["quick_ratio"]


def build_lifecycle(
    lifecycle: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    *,
    grain: str = "day",
) -> go.Figure:
    """Stacked bars per platform (new, returning, resurrected up; dormant down) and the
    quick ratio on a second axis."""
    frame = lifecycle.filter((pl.col("grain") == grain) & pl.col("platform").is_in(list(platforms)))
    shown = [p for p in platforms if frame.filter(pl.col("platform") == p).height]
    title = f"{LIFECYCLE_TITLE} per {grain}"
    text = caption(
        f"Active users per {grain}: new + returning + resurrected; dormant (active last {grain}, "
        f"not this {grain}) drawn below zero; quick ratio = (new + resurrected) / dormant, "
        "undefined when dormant is 0",
        definitions,
    )
    if not shown:
        return empty_figure(
            f"No {grain} lifecycle data for these platforms", title=title, caption_text=text
        )
    # Plain dicts, one Figure at the end: make_subplots and update_yaxes walked plotly's
    # property paths for every axis, most of this chart's time.
    layout = row_subplots(shown, spacing=0.22 if len(shown) > 1 else 0.1, secondary_y=True)
    data: list[dict[str, object]] = []
    parts = frame.sort("bucket_start").partition_by("platform", as_dict=True)
    for row, platform in enumerate(shown, start=1):
        rows = parts[(platform,)]
        x_id, y_id, ratio_id = subplot_axes(row, secondary_y=True)
        x = rows["bucket_start"].to_list()
        for part, colour in LIFECYCLE_COLOURS.items():
            values = rows[part].abs() * (-1 if part == "dormant" else 1)
            data.append(
                trace(
                    "bar",
                    x=x,
                    y=values.to_list(),
                    name=part,
                    legendgroup=part,
                    showlegend=row == 1,
                    marker={"color": colour},
                    hovertemplate=f"{platform} {part}: %{{y:,}}<br>%{{x|%Y-%m-%d}}<extra></extra>",
                    xaxis=x_id,
                    yaxis=y_id,
                )
            )
        data.append(
            trace(
                "scatter",
                x=x,
                y=quick_ratio(rows).to_list(),
                name="quick ratio",
                legendgroup="quick ratio",
                showlegend=row == 1,
                mode="lines+markers",
                line={"color": "#111827", "width": 2},
                hovertemplate=f"{platform} quick ratio %{{y:.2f}}<extra></extra>",
                xaxis=x_id,
                yaxis=ratio_id,
            )
        )
        x_title = {"title": {"text": f"{grain.capitalize()} ({definitions.timezone})"}}
        layout[axis_key(x_id)].update(x_title)
        layout[axis_key(y_id)].update(title={"text": "Users"}, tickformat="~s")
        layout[axis_key(str(ratio_id))].update(
            title={"text": "Quick ratio"}, tickformat=".1f", rangemode="tozero", showgrid=False
        )
    layout["barmode"] = "relative"
    return figure_of(data, layout, title=title, caption_text=text, height=320 * len(shown) + 180)
