"""Velocity: signups per minute, hour or day since launch, the peak rate and when it came,
the launch half-life, and the hour-of-day pattern in the reporting timezone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    HOUR,
    INCOMPLETE_NOTE,
    Definitions,
    caption,
    colour_of,
    elapsed_axis,
    format_duration,
    incomplete_markers,
    new_figure,
    style_figure,
    thin_series,
    trace,
    users_axis,
)
from etl.contract import format_users

TITLE = "Signup velocity since launch"
HOUR_OF_DAY_TITLE = "Signups by hour of day"
GRAINS = ("minute", "hour", "day")
SKIP_LAUNCH_HOURS = 24.0  # the hour-of-day pattern leaves out the launch spike
THINNED_NOTE = "drawn at screen resolution: each x step keeps its lowest and highest bucket"


@dataclass(frozen=True)
class VelocityStats:
    platform: str
    grain: str
    peak: int  # signups in the busiest bucket of `grain`
    peak_at: datetime  # start of that bucket (UTC)
    peak_hours: float  # hours from t0 to the start of that bucket
    half_life_hours: float | None  # peak until the rate first falls below half; None: not yet


GRAIN_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0, "week": 168.0}
HALF_LIFE_GRAIN = "hour"  # one half-life per platform, whatever grain is drawn


def rates(signups: pl.DataFrame, platform: str, grain: str) -> pl.DataFrame:
    """Signups per bucket of `grain` with hours since t0 at the bucket start, from the
    bucket holding t0 on (the launch day's bucket starts before t0 but holds its first
    signups: it is kept, never dropped)."""
    length = GRAIN_HOURS.get(grain, 0.0)
    return (
        signups.filter((pl.col("platform") == platform) & (pl.col("grain") == grain))
        .sort("bucket_start")
        .with_columns(hours=pl.col("elapsed_s") / HOUR)
        .filter(pl.col("hours") + length > 0)
    )


def drawn_hours(frame: pl.DataFrame, grain: str, *, log: bool) -> pl.Series:
    """Where each bucket is drawn: its start, or for the bucket that holds t0 (it starts
    before t0) t0 itself on a linear axis and the middle of its time after t0 on a log one."""
    length = GRAIN_HOURS.get(grain, 0.0)
    early = (pl.col("hours") + length) / 2 if log else pl.lit(0.0)
    before = pl.col("hours") <= 0 if log else pl.col("hours") < 0  # log(0) is not drawn
    at = pl.when(before).then(early).otherwise(pl.col("hours"))
    return frame.select(at.alias("hours"))["hours"]


def velocity_stats(
    signups: pl.DataFrame, platform: str, grain: str = "hour"
) -> VelocityStats | None:
    """Peak rate and its time on complete buckets of `grain`; the launch half-life on
    hourly buckets whatever `grain` is (a minute is noise, a day hides a launch's decay),
    so it is one number per platform. The bucket holding t0 counts, from t0."""
    frame = rates(signups, platform, grain).filter(pl.col("complete"))
    if frame.is_empty():
        return None
    index = int(frame["signups"].arg_max() or 0)
    peak = frame.row(index, named=True)
    hourly = rates(signups, platform, HALF_LIFE_GRAIN).filter(pl.col("complete"))
    return VelocityStats(
        platform=platform,
        grain=grain,
        peak=int(peak["signups"]),
        peak_at=peak["bucket_start"],
        peak_hours=max(float(peak["hours"]), 0.0),
        half_life_hours=half_life(hourly if hourly.height else frame),
    )


def half_life(frame: pl.DataFrame) -> float | None:
    """Hours from the peak bucket until the rate first falls below half of it; None when
    it has not yet."""
    index = int(frame["signups"].arg_max() or 0)
    peak = frame.row(index, named=True)
    below = frame.slice(index).filter(pl.col("signups") < peak["signups"] / 2)
    if not below.height:
        return None
    return float(below["hours"][0]) - max(float(peak["hours"]), 0.0)


def describe(stats: VelocityStats) -> str:
    """'viral: peak 2.3M/hour at 0 min after t0 (2026-10-01 12:00 UTC), half-life 4.0 h'"""
    half = (
        f"half-life {format_duration(stats.half_life_hours)}"
        if stats.half_life_hours is not None
        else "no half-life yet (rate still above half the peak)"
    )
    return (
        f"{stats.platform}: peak {format_users(stats.peak)}/{stats.grain} "
        f"{format_duration(max(stats.peak_hours, 0))} after t0 "
        f"({stats.peak_at:%Y-%m-%d %H:%M} UTC), {half}"
    )


def build_velocity(
    signups: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
    *,
    grain: str = "hour",
    log: bool = False,
) -> go.Figure:
    """Signups per `grain` bucket vs time since t0; incomplete buckets drawn open."""
    fig = new_figure()
    xs: list[float] = []
    notes = []
    thinned = False
    lowest: float | None = None
    for platform in platforms:
        frame = rates(signups, platform, grain)
        if frame.is_empty():
            continue
        frame = frame.with_columns(hours=drawn_hours(frame, grain, log=log))
        colour = colour_of(platform, colours)
        xs += [float(frame["hours"][0]), float(frame["hours"][-1])]  # sorted by time
        drawn = thin_series(frame, "hours", "signups", log=log)
        counts = frame.filter(pl.col("signups") > 0)["signups"]
        if counts.len():
            low = float(counts.min())  # type: ignore[arg-type]
            lowest = low if lowest is None else min(lowest, low)
        thinned = thinned or drawn.height < frame.height
        fig.add_trace(
            trace(
                "scatter",
                x=drawn["hours"].to_list(),
                y=drawn["signups"].to_list(),
                mode="lines",
                name=platform,
                legendgroup=platform,
                line={"color": colour, "width": 2, "shape": "hv"},
                hovertemplate=f"{platform}: %{{y:,}} signups per {grain}<br>"
                "%{x:.2f} h after t0<extra></extra>",
            )
        )
        open_buckets = frame.filter(~pl.col("complete"))
        if open_buckets.height:
            fig.add_trace(
                incomplete_markers(
                    open_buckets["hours"].to_list(),
                    open_buckets["signups"].to_list(),
                    platform=platform,
                    colour=colour,
                )
            )
        stats = velocity_stats(signups, platform, grain)
        if stats is not None:
            notes.append(describe(stats))
    if xs:
        positive = [x for x in xs if x > 0] or [1 / 60]
        fig.update_xaxes(elapsed_axis(log, min(positive), max(xs)))
    fig.update_yaxes(users_axis(log, f"Signups per {grain} (users)", lowest))
    return style_figure(
        fig,
        title=f"{TITLE}: signups per {grain}",
        subtitle="<br>".join(notes) or None,
        caption_text=caption(
            f"Signups per {grain} bucket (reporting timezone), x at bucket start (the bucket "
            "holding t0 from t0); half-life: time from the peak hour until the hourly rate "
            "first falls below half of it (the same at every grain); "
            + INCOMPLETE_NOTE
            + (f" · {THINNED_NOTE}" if thinned else ""),
            definitions,
        ),
    )


def hour_of_day_shares(signups: pl.DataFrame, platform: str, timezone: str) -> pl.DataFrame:
    """Share of signups in each hour of the day (reporting timezone), launch day excluded."""
    hourly = rates(signups, platform, "hour")
    later = hourly.filter(pl.col("hours") >= SKIP_LAUNCH_HOURS)
    frame = later if later["signups"].sum() > 0 else hourly
    local = pl.col("bucket_start").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    by_hour = (
        frame.group_by(local.dt.hour().alias("hour")).agg(pl.col("signups").sum()).sort("hour")
    )
    total = by_hour["signups"].sum() or 1
    return by_hour.with_columns(share=pl.col("signups") / total)


def build_hour_of_day(
    signups: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
) -> go.Figure:
    """Grouped bars: share of each platform's signups by hour of day."""
    fig = new_figure()
    launch_only = []
    for platform in platforms:
        shares = hour_of_day_shares(signups, platform, definitions.timezone)
        if (
            not rates(signups, platform, "hour")
            .filter((pl.col("hours") >= SKIP_LAUNCH_HOURS) & (pl.col("signups") > 0))
            .height
        ):
            launch_only.append(platform)
        fig.add_trace(
            trace(
                "bar",
                x=shares["hour"].to_list(),
                y=shares["share"].to_list(),
                name=platform,
                marker={"color": colour_of(platform, colours)},
                hovertemplate=f"{platform}: %{{y:.1%}} of signups at %{{x}}:00<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", bargap=0.15)
    fig.update_xaxes(
        title={"text": f"Hour of day ({definitions.timezone})"}, dtick=2, range=[-0.5, 23.5]
    )
    fig.update_yaxes(title={"text": "Share of signups (%)"}, tickformat=".0%")
    return style_figure(
        fig,
        title=HOUR_OF_DAY_TITLE,
        caption_text=caption(_hour_of_day_metric(launch_only), definitions),
        height=420,
    )


def _hour_of_day_metric(launch_only: Sequence[str]) -> str:
    """What the hour-of-day shares count: the launch spike is left out, except for the
    platforms whose signups in view are all in it (a short time range)."""
    text = (
        f"Share of signups by hour of day, excluding the first {SKIP_LAUNCH_HOURS:g} h "
        "after t0 (launch spike)"
    )
    if launch_only:
        text += (
            f"; {', '.join(launch_only)}: the first {SKIP_LAUNCH_HOURS:g} h only "
            "(no later signups in view)"
        )
    return text
