"""Migration and channels: where signups came from (acquisition channel mix), who is on two
platforms (overlap, who was first, the lag), how many of a day's signups came from another
platform (migration share), and what migrants did afterwards on both platforms (kept the
old one, split, switched). Pure: snapshot tables in, Figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.figures.common import (
    Definitions,
    axis_key,
    caption,
    colour_of,
    empty_figure,
    figure_of,
    format_duration,
    new_figure,
    row_subplots,
    style_figure,
    subplot_axes,
    trace,
)

CHANNEL_TITLE = "Signups by acquisition channel"
OVERLAP_TITLE = "People on two platforms"
MIGRATION_TITLE = "Migration: share of signups who came from another platform"
ACTIVITY_TITLE = "Migrants' activity around joining"
CHANNEL_PALETTE = ("#2563eb", "#059669", "#ea580c", "#9333ea", "#0891b2", "#ca8a04", "#db2777")
UNKNOWN_CHANNEL = "unknown"
UNKNOWN_COLOUR = "#9ca3af"
CHANNEL_DAYS = 90
# Activity states of a migrant on a day, bottom to top, with their colours.
ACTIVITY_STATES = {
    "share_from_only": ("only on the old platform", "#dc2626"),
    "share_both": ("on both", "#9333ea"),
    "share_to_only": ("only on the new platform", "#059669"),
    "share_neither": ("on neither", "#d1d5db"),
}
MIGRANT_DEFINITION = (
    "Migrant from A to B: a person (same person_id) whose first signup on B came after "
    "they signed up on A · or after a usage event on A in the 30 days before"
)


def channel_colours(channels: Sequence[str]) -> dict[str, str]:
    """Channel -> colour, stable for a set of channels (sorted), 'unknown' always grey."""
    named = sorted(c for c in set(channels) if c != UNKNOWN_CHANNEL)
    colours = {c: CHANNEL_PALETTE[i % len(CHANNEL_PALETTE)] for i, c in enumerate(named)}
    return {**colours, UNKNOWN_CHANNEL: UNKNOWN_COLOUR}


def recent_channel_days(channels: pl.DataFrame, platform: str, days: int) -> pl.DataFrame:
    """Day rows of one platform over its last `days` days (a long history would hide the
    launch), with each channel's share of the day's signups (null when nobody signed up)."""
    rows = channels.filter((pl.col("platform") == platform) & (pl.col("grain") == "day"))
    if rows.is_empty():
        return rows
    since = rows["bucket_start"].max() - timedelta(days=days - 1)  # type: ignore[operator]
    return (
        rows.filter(pl.col("bucket_start") >= since)
        .with_columns(day_total=pl.col("signups").sum().over("bucket_start"))
        .with_columns(
            share=pl.when(pl.col("day_total") > 0).then(pl.col("signups") / pl.col("day_total"))
        )
        .sort("bucket_start", "channel")
    )


def build_channel_mix(
    channels: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    *,
    days: int = CHANNEL_DAYS,
    mode: str = "count",
) -> go.Figure:
    """Stacked daily signups per channel, one panel per platform (last `days` days).
    mode "count": signups per day; "share": each channel's share of the day's signups, so
    the days after a launch spike stay readable."""
    share = mode == "share"
    stacked = "stack to 100% of the day's signups" if share else "stack to the day's signups"
    text = caption(
        f"{'Share of signups' if share else 'Signups'} per local day by acquisition channel "
        f"(no channel: '{UNKNOWN_CHANNEL}'), at most the latest {days} days of each "
        "platform in view; "
        f"channels {stacked}",
        definitions,
    )
    frames = {p: recent_channel_days(channels, p, days) for p in platforms}
    shown = [p for p, f in frames.items() if f.height]
    if not shown:
        return empty_figure(
            "No channel data for these platforms", title=CHANNEL_TITLE, caption_text=text
        )
    colours = channel_colours(channels["channel"].unique().to_list())
    # Plain dicts, one Figure at the end (make_subplots and per-row update_yaxes walked
    # plotly's property paths, most of this chart's time).
    layout = row_subplots(shown, spacing=0.18)
    data: list[dict[str, object]] = []
    listed: set[str] = set()  # one legend entry per channel, wherever it first appears
    y_axis = {
        "title": {"text": "Share of the day's signups" if share else "Signups per day"},
        "tickformat": ".0%" if share else "~s",
        **({"range": [0, 1]} if share else {}),
    }
    for row, platform in enumerate(shown, start=1):
        x_id, y_id, _ = subplot_axes(row)
        by_channel = frames[platform].partition_by("channel", as_dict=True)
        for (channel,), part in sorted(by_channel.items(), key=lambda item: str(item[0][0])):
            data.append(
                trace(
                    "bar",
                    x=part["bucket_start"].to_list(),
                    y=part["share" if share else "signups"].to_list(),
                    customdata=part.select("signups", "share").rows(),
                    name=channel,
                    legendgroup=channel,
                    showlegend=channel not in listed,
                    marker={"color": colours.get(channel, UNKNOWN_COLOUR)},
                    hovertemplate=f"{platform} · {channel}: %{{customdata[0]:,}} signups "
                    "(%{customdata[1]:.1%})<br>%{x|%Y-%m-%d}<extra></extra>",
                    xaxis=x_id,
                    yaxis=y_id,
                )
            )
            listed.add(channel)
        layout[axis_key(x_id)]["title"] = {"text": f"Day ({definitions.timezone})"}
        layout[axis_key(y_id)].update(y_axis)
    layout.update(barmode="stack", bargap=0.05)
    return figure_of(
        data, layout, title=CHANNEL_TITLE, caption_text=text, height=300 * len(shown) + 180
    )


def _pairs(frame: pl.DataFrame, platforms: Sequence[str], other: str) -> pl.DataFrame:
    """Rows whose platforms are both among the chosen ones."""
    chosen = list(platforms)
    return frame.filter(pl.col("platform").is_in(chosen) & pl.col(other).is_in(chosen))


def build_overlap(
    overlap: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
) -> go.Figure:
    """People on both platforms of each pair, split by where they signed up first; the
    median and p90 lag between the two signups in the labels."""
    text = caption(
        "People on both platforms, linked by person_id (signups without one are not "
        "counted); 'A first': signed up on A strictly before B; lag: time from the first "
        "signup to the second, median and 90th percentile (exact)",
        definitions,
    )
    rows = (
        _pairs(overlap, platforms, "other_platform")
        .filter(pl.col("platform") < pl.col("other_platform"))
        .sort("platform", "other_platform")
    )
    reverse = {(r["platform"], r["other_platform"]): r for r in overlap.iter_rows(named=True)}
    if rows.is_empty() or not rows["people"].sum():
        return empty_figure(
            "No people on two of these platforms (no shared person_id)",
            title=OVERLAP_TITLE,
            caption_text=text,
        )
    labels = [f"{r['platform']} & {r['other_platform']}" for r in rows.iter_rows(named=True)]
    fig = new_figure()
    for first in ("platform", "other_platform"):
        names = rows[first].to_list()
        counts, notes = [], []
        for r in rows.iter_rows(named=True):
            seen = r if first == "platform" else reverse[(r["other_platform"], r["platform"])]
            counts.append(seen["first_on_platform"])
            notes.append(_lag_note(seen["lag_median_s"], seen["lag_p90_s"]))
        fig.add_trace(
            trace(
                "bar",
                x=labels,
                y=counts,
                name="first on the left platform" if first == "platform" else "first on the right",
                text=[f"{n} first" for n in names],
                customdata=notes,
                marker={"color": [colour_of(n, colours) for n in names]},
                hovertemplate="%{text}: %{y:,} people<br>%{customdata}<extra></extra>",
            )
        )
    fig.add_trace(
        trace(
            "bar",
            x=labels,
            y=rows["same_time"].to_list(),
            name="same instant",
            marker={"color": UNKNOWN_COLOUR},
            hovertemplate="signed up on both at the same instant: %{y:,}<extra></extra>",
        )
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="Pair of platforms")
    fig.update_yaxes(title_text="People on both (distinct person_id)", tickformat="~s")
    return style_figure(fig, title=OVERLAP_TITLE, caption_text=text, height=440)


def _lag_note(median_s: float | None, p90_s: float | None) -> str:
    if median_s is None or p90_s is None:
        return "no lag (nobody first here)"
    return (
        f"lag to the other signup: median {format_duration(median_s / 3600)}, "
        f"p90 {format_duration(p90_s / 3600)}"
    )


def build_migration_share(
    migration: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
) -> go.Figure:
    """Per destination and origin: the share of each day's signups who were migrants
    (solid) and who had been active on the origin in the last 30 days (dotted)."""
    text = caption(
        MIGRANT_DEFINITION + " · share of the destination's signups that day · dotted: "
        "migrants with a usage event on A in the 30 days before · open markers: day not over",
        definitions,
    )
    rows = _pairs(migration, platforms, "from_platform")
    flows = (
        rows.group_by("platform", "from_platform")
        .agg(pl.col("migrants").sum())
        .filter(pl.col("migrants") > 0)
        .sort("platform", "from_platform")
    )
    if flows.is_empty():
        return empty_figure(
            "No migrants between these platforms", title=MIGRATION_TITLE, caption_text=text
        )
    fig = new_figure()
    for to, origin, _ in flows.iter_rows():
        flow = rows.filter((pl.col("platform") == to) & (pl.col("from_platform") == origin))
        flow = flow.filter(pl.col("day") >= flow.filter(pl.col("migrants") > 0)["day"].min())
        colour = colour_of(to, colours)
        for column, dash, label in (
            ("share", "solid", "migrants"),
            ("recently_active_share", "dot", "active on origin in last 30 d"),
        ):
            fig.add_trace(
                trace(
                    "scatter",
                    x=flow["day"].to_list(),
                    y=flow[column].to_list(),
                    customdata=flow["migrants"].to_list(),
                    mode="lines+markers",
                    name=f"{origin} → {to}: {label}",
                    line={"color": colour, "dash": dash, "width": 2},
                    marker={
                        "size": 5,
                        "color": ["white" if not c else colour for c in flow["complete"]],
                        "line": {"color": colour, "width": 1},
                    },
                    hovertemplate=f"{origin} → {to} ({label}): %{{y:.1%}} of signups"
                    "<br>%{x|%Y-%m-%d}; %{customdata:,} migrants<extra></extra>",
                )
            )
    fig.update_xaxes(title_text=f"Day of signup on the destination ({definitions.timezone})")
    fig.update_yaxes(title_text="Share of the day's signups", tickformat=".0%", rangemode="tozero")
    return style_figure(fig, title=MIGRATION_TITLE, caption_text=text, height=440)


def build_migrant_activity(
    activity: pl.DataFrame, platforms: Sequence[str], definitions: Definitions
) -> go.Figure:
    """For each flow A -> B: stacked shares of migrants active on A only, both, B only or
    neither, by day relative to joining B (negative: before)."""
    text = caption(
        MIGRANT_DEFINITION + " · active: a usage event that local day on any of the person's "
        "accounts · days relative to the signup day on B · each day counts the migrants who "
        "reached it (blank: nobody yet)",
        definitions,
    )
    rows = _pairs(activity, platforms, "from_platform").filter(pl.col("migrants") > 0)
    flows = rows.select("from_platform", "platform").unique().sort("from_platform", "platform")
    if flows.is_empty():
        return empty_figure(
            "No migrants between these platforms", title=ACTIVITY_TITLE, caption_text=text
        )
    titles = [f"{a} → {b}" for a, b in flows.iter_rows()]
    fig = make_subplots(
        rows=len(titles),
        cols=1,
        subplot_titles=titles,
        vertical_spacing=0.18,
        figure=new_figure(),
    )
    for row, (origin, to) in enumerate(flows.iter_rows(), start=1):
        flow = rows.filter((pl.col("platform") == to) & (pl.col("from_platform") == origin))
        flow = flow.sort("day")
        for column, (label, colour) in ACTIVITY_STATES.items():
            fig.add_trace(
                trace(
                    "scatter",
                    x=flow["day"].to_list(),
                    y=flow[column].to_list(),
                    customdata=flow["migrants"].to_list(),
                    mode="lines",
                    stackgroup=f"flow{row}",
                    name=label.replace("the old platform", origin).replace("the new platform", to)
                    if len(titles) == 1
                    else label,
                    legendgroup=column,
                    showlegend=row == 1,
                    line={"color": colour, "width": 1},
                    fillcolor=colour,
                    hovertemplate=f"{label}: %{{y:.1%}}<br>day %{{x}} after joining {to}; "
                    "%{customdata:,} migrants<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.add_vline(x=0, line={"color": "#111827", "width": 1, "dash": "dash"}, row=row, col=1)
        fig.update_yaxes(
            title_text="Share of migrants", tickformat=".0%", range=[0, 1], row=row, col=1
        )
    fig.update_xaxes(title_text="Days since joining the new platform (0 = signup day)")
    return style_figure(
        fig, title=ACTIVITY_TITLE, caption_text=text, height=320 * len(titles) + 180
    )
