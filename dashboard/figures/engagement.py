"""Engagement: DAU with rolling WAU and MAU (distinct users, never sums of DAU), DAU/MAU
stickiness, and growth accounting (new, returning, resurrected; dormant below zero) with
the quick ratio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    Definitions,
    add_annotation,
    axis_key,
    caption,
    colour_of,
    data_ends,
    empty_figure,
    figure_of,
    log_users_floor,
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
WARMING_NOTE = "shaded: warming up, the trailing 30-day window reaches before t0"
WARMING_LABEL = "warming up (30-day window reaches before t0)"
WARMING_FILL = "#f3f4f6"


PARTIAL_NOTE = "open diamond: a partial day (the platform's data ends inside it), not a drop"


def days_since_launch(
    active: pl.DataFrame, platforms_table: pl.DataFrame, watermark: datetime | None = None
) -> pl.DataFrame:
    """`active` with `days`: whole days between the platform's launch day and the row's
    day, and `partial`: the platform's own data ends inside that day."""
    launch = platforms_table.select("platform", pl.col("t0").dt.date().alias("launch_day"))
    ends = pl.DataFrame(
        list(data_ends(platforms_table, watermark).items()),
        schema={"platform": pl.String, "data_end": pl.Datetime("us")},
        orient="row",
    )
    day_end = pl.col("day").cast(pl.Date).cast(pl.Datetime("us")) + pl.duration(days=1)
    return (
        active.join(launch, on="platform", how="left")
        .join(ends, on="platform", how="left")
        .with_columns(
            days=(pl.col("day").cast(pl.Date) - pl.col("launch_day")).dt.total_days(),
            partial=pl.col("data_end").is_not_null() & (day_end > pl.col("data_end")),
        )
    )


def _partial_marker(rows: pl.DataFrame, platform: str, colour: str, metric: str) -> dict[str, Any]:
    """An open diamond on a partial day: its value is real but not comparable."""
    return trace(
        "scatter",
        x=rows["days"].to_list(),
        y=rows[metric].to_list(),
        mode="markers",
        name=f"{platform} partial day",
        legendgroup=platform,
        showlegend=False,
        marker={"symbol": "diamond-open", "size": 9, "color": colour},
        hovertemplate=f"{platform} {metric.upper()} %{{y:,}} on day %{{x}}: a partial day "
        "(the data ends inside it)<extra></extra>",
    )


def warming_up_days(frame: pl.DataFrame, platforms: Sequence[str]) -> tuple[int, int] | None:
    """The first and last day since launch on which a chosen platform's 30-day window
    reaches before its t0: the same days for every launch (each is aligned at its t0)."""
    chosen = pl.col("platform").is_in(list(platforms)) & pl.col("warming_up")
    days = [int(d) for d in frame.filter(chosen)["days"].to_list()]
    return (min(days), max(days)) if days else None


def _shade_warming_up(fig: go.Figure, frame: pl.DataFrame, platforms: Sequence[str]) -> None:
    """One shaded, labelled span over the warming-up days instead of a marker on each:
    with a month of data nearly every day of a launch is warming up."""
    span = warming_up_days(frame, platforms)
    if span is None:
        return
    first, last = span[0] - 0.5, span[1] + 0.5
    rect = {"type": "rect", "xref": "x", "yref": "paper", "x0": first, "x1": last, "y0": 0}
    rect |= {"y1": 1, "fillcolor": WARMING_FILL, "line": {"width": 0}, "layer": "below"}
    fig.layout.shapes = (*fig.layout.shapes, go.layout.Shape(rect, _validate=False))
    add_annotation(
        fig,
        text=WARMING_LABEL,
        xref="x",
        yref="paper",
        x=first,
        y=1,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 11, "color": "#6b7280"},
        name="warming up",
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
    frame = days_since_launch(active, platforms_table, definitions.watermark)
    fig = new_figure()
    for platform in platforms:
        rows, partial = complete_and_partial(frame, platform)
        if partial.height:
            fig.add_trace(_partial_marker(partial, platform, colour_of(platform, colours), "dau"))
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
    _shade_warming_up(fig, frame, platforms)
    fig.update_xaxes(title={"text": "Days since launch day (day 0 = day of t0)"})
    fig.update_yaxes(
        type="log" if log else "linear",
        autorangeoptions=log_users_floor(_lowest(frame, platforms)) if log else None,
        title={"text": "Active users (distinct users)"},
        tickformat="~s",
    )
    return style_figure(
        fig,
        title=ACTIVE_TITLE,
        caption_text=caption(
            "DAU per day; WAU and MAU: distinct users active in the trailing 7 and 30 days; "
            + WARMING_NOTE
            + "; "
            + PARTIAL_NOTE,
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
    """DAU/MAU per platform vs days since launch; the warming-up days shaded."""
    frame = days_since_launch(active, platforms_table, definitions.watermark)
    fig = new_figure()
    for platform in platforms:
        rows, partial = complete_and_partial(frame, platform)
        if partial.height:
            colour = colour_of(platform, colours)
            fig.add_trace(_partial_marker(partial, platform, colour, "stickiness"))
        fig.add_trace(
            trace(
                "scatter",
                x=rows["days"].to_list(),
                y=rows["stickiness"].to_list(),
                mode="lines",
                name=platform,
                line={"color": colour_of(platform, colours), "width": 2},
                customdata=[" (warming up)" if w else "" for w in rows["warming_up"].to_list()],
                hovertemplate=f"{platform}: DAU/MAU %{{y:.1%}}<br>day %{{x}}%{{customdata}}"
                "<extra></extra>",
            )
        )
    _shade_warming_up(fig, frame, platforms)
    fig.update_xaxes(title={"text": "Days since launch day (day 0 = day of t0)"})
    fig.update_yaxes(title={"text": "DAU / MAU (%)"}, tickformat=".0%", rangemode="tozero")
    return style_figure(
        fig,
        title=STICKINESS_TITLE,
        caption_text=caption(
            "Stickiness = DAU / MAU (rolling 30-day distinct users); "
            + WARMING_NOTE
            + "; "
            + PARTIAL_NOTE,
            definitions,
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
    ends: Mapping[str, datetime] | None = None,
) -> go.Figure:
    """Stacked bars per platform (new, returning, resurrected up; dormant down) and the
    quick ratio on a second axis whose zero is the bars' zero. A bucket the platform's data
    (`ends`: platform -> where its data ends) does not cover is drawn faded, its quick ratio
    left out; a launch bucket that would flatten every other bar runs off the top, labelled."""
    frame = lifecycle.filter((pl.col("grain") == grain) & pl.col("platform").is_in(list(platforms)))
    frame = _with_partial(frame, grain, ends or {})
    shown = [p for p in platforms if frame.filter(pl.col("platform") == p).height]
    title = f"{LIFECYCLE_TITLE} per {grain}"
    text = caption(
        f"Active users per {grain}: new + returning + resurrected; dormant (active last {grain}, "
        f"not this {grain}) drawn below zero; quick ratio = (new + resurrected) / dormant, "
        "undefined when dormant is 0 · the users axis is linear at either Scale (dormant users "
        "are drawn below zero)",
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
        opacity = [0.35 if p else 1.0 for p in rows["partial"].to_list()]
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
                    marker={"color": colour, "opacity": opacity},
                    hovertemplate=f"{platform} {part}: %{{y:,}}<br>%{{x|%Y-%m-%d}}<extra></extra>",
                    xaxis=x_id,
                    yaxis=y_id,
                )
            )
        ratios = [
            None if partial else value
            for value, partial in zip(
                quick_ratio(rows).to_list(), rows["partial"].to_list(), strict=True
            )
        ]
        data.append(
            trace(
                "scatter",
                x=x,
                y=ratios,
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
        low, high, off_scale = bar_range(rows)
        layout[axis_key(y_id)].update(
            title={"text": "Users"}, tickformat="~s", range=[low, high], zeroline=True
        )
        layout[axis_key(str(ratio_id))].update(
            title={"text": "Quick ratio"},
            range=ratio_range(ratios, low, high),
            showgrid=False,
            zeroline=False,
            tickmode="auto",  # an overlaying axis syncs to the bars' grid: 2.35, 4.69, ...
            nticks=6,
        )
        layout["annotations"] += [_off_scale_label(b, x_id, y_id) for b in off_scale]
    layout["barmode"] = "relative"
    return figure_of(data, layout, title=title, caption_text=text, height=320 * len(shown) + 180)


GRAIN_LENGTH = {"day": 1, "week": 7}
OFF_SCALE_FACTOR = 3.0  # a bucket this many times the next tallest runs off the top


def _with_partial(frame: pl.DataFrame, grain: str, ends: Mapping[str, datetime]) -> pl.DataFrame:
    """`frame` with `partial`: the bucket ends after its platform's data does."""
    if not ends:
        return frame.with_columns(partial=pl.lit(False))
    end = pl.col("platform").replace_strict(
        dict(ends), default=None, return_dtype=pl.Datetime("us")
    )
    bucket_end = pl.col("bucket_start") + pl.duration(days=GRAIN_LENGTH.get(grain, 1))
    return frame.with_columns(partial=(bucket_end > end).fill_null(False))


def bar_range(rows: pl.DataFrame) -> tuple[float, float, list[dict[str, Any]]]:
    """The users axis range of one platform's bars, and the buckets left running off it:
    the tallest stack above zero (launch day's new users) or below (the day after's
    dormant users) when it is over OFF_SCALE_FACTOR times the next: it would flatten
    every other bar."""
    up = (rows["new"] + rows["returning"] + rows["resurrected"]).to_list()
    down = [abs(v) for v in rows["dormant"].to_list()]
    starts = rows["bucket_start"].to_list()
    top, high_out = _clipped(up)
    bottom, low_out = _clipped(down)
    off_scale = [
        {"x": starts[i], "y": top * 1.15, "text": f"{up[i]:,} active, off the scale"}
        for i in high_out
    ] + [
        {"x": starts[i], "y": -bottom * 1.08, "text": f"{down[i]:,} dormant, off the scale"}
        for i in low_out
    ]
    return -bottom * 1.08, max(top, 1) * 1.15, off_scale


def _clipped(values: Sequence[int]) -> tuple[float, list[int]]:
    """The axis extent for `values` (>= 0), and the index of the one left off it, if any."""
    ranked = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
    if len(ranked) > 2 and values[ranked[0]] > OFF_SCALE_FACTOR * max(values[ranked[1]], 1):
        return float(values[ranked[1]]), [ranked[0]]
    return float(max([0, *values])), []


def ratio_range(ratios: Sequence[float | None], low: float, high: float) -> list[float]:
    """The quick-ratio axis with its zero level with the bars' zero (the same share of the
    height below zero), up to the largest ratio shown, at most 10 (the first days' ratios,
    over a handful of dormant users, are off the scale)."""
    shown = [r for r in ratios if r is not None]
    top = min(max([1.0, *shown]) * 1.1, 10.0)
    below = -low / high if high > 0 else 0.0
    return [-top * below, top]


def _off_scale_label(bucket: Mapping[str, Any], x_id: str, y_id: str) -> dict[str, Any]:
    return {
        "x": bucket["x"],
        "y": bucket["y"],
        "xref": x_id,
        "yref": y_id,
        "text": bucket["text"],
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "top" if bucket["y"] > 0 else "bottom",
        "xshift": 8,
        "font": {"size": 11, "color": "#374151"},
        "name": "off scale",
    }


def _lowest(frame: pl.DataFrame, platforms: Sequence[str]) -> float | None:
    """The smallest positive DAU/WAU/MAU of the platforms (None when there is none)."""
    rows = frame.filter(pl.col("platform").is_in(list(platforms)))
    values = [v for c in ACTIVE_DASHES for v in rows[c].to_list() if v and v > 0]
    return float(min(values)) if values else None


def complete_and_partial(frame: pl.DataFrame, platform: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One platform's days by date: the complete ones, and the partial one(s) past the
    watermark (drawn as a marker, not joined to the line)."""
    every = frame.filter(pl.col("platform") == platform).sort("day")
    return every.filter(~pl.col("partial")), every.filter(pl.col("partial"))
