"""Launch race: cumulative users of each platform aligned at its launch t0, with milestone
lines, the moments each platform crossed them, a headline comparison and, optionally,
publicly reported milestones drawn as "reported" (never as measured)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    HOUR,
    REPORTED_COLOUR,
    Definitions,
    add_milestone_lines,
    caption,
    colour_of,
    elapsed_axis,
    format_duration,
    incomplete_markers,
    label_position,
    measured_curve,
    new_figure,
    paper_x,
    spaced_lines,
    style_figure,
    trace,
    users_axis,
)
from etl.contract import format_users

TITLE = "Launch race: cumulative signups since launch"
GRAIN_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}
# Which bucket grain draws which stretch of the curve (end of bucket, hours since t0):
# minutes for the first hours, hours for the first days, days after that.
GRAIN_SPANS = (("minute", 0.0, 3.0), ("hour", 0.0, 72.0), ("day", 0.0, math.inf))
# After the day buckets: the hours (then minutes) that end later, so that a curve cut by
# a time range ("first 7 days") runs to the range's end, not to the last whole day.
TAIL_GRAINS = ("hour", "minute")
REPORTED_KINDS = ("cumulative sign-ups", "users (unspecified)")
REPORTED_SYMBOLS = ("diamond-open", "square-open", "triangle-up-open", "star-open")


@dataclass(frozen=True)
class Curve:
    hours: list[float]
    cumulative: list[int]
    incomplete_from: int | None  # index of the first incomplete point, if any


@dataclass(frozen=True)
class Crossing:
    platform: str
    users: int
    hours: float


def race_curve(signups: pl.DataFrame, platform: str) -> Curve:
    """Cumulative signups at the end of each bucket, hours since t0, finest grain first."""
    rows = signups.filter(pl.col("platform") == platform)
    parts: list[pl.DataFrame] = []
    covered = 0.0  # hours already drawn by a finer grain
    for grain, _, high in GRAIN_SPANS:
        part = (
            rows.filter(pl.col("grain") == grain)
            .with_columns(hours=(pl.col("elapsed_s") + GRAIN_SECONDS[grain]) / HOUR)
            .sort("hours")
        )
        part = part.filter((pl.col("hours") > covered) & (pl.col("hours") <= high))
        if part.height:
            parts.append(part)
            covered = part["hours"].to_list()[-1]
    for grain in TAIL_GRAINS:  # past the last whole day (a time range's end): finer buckets
        part = (
            rows.filter(pl.col("grain") == grain)
            .with_columns(hours=(pl.col("elapsed_s") + GRAIN_SECONDS[grain]) / HOUR)
            .filter(pl.col("hours") > covered)
            .sort("hours")
        )
        if part.height:
            parts.append(part)
            covered = part["hours"].to_list()[-1]
    if not parts:
        return Curve([], [], None)
    curve = pl.concat([p.select("hours", "cumulative", "complete") for p in parts]).sort("hours")
    complete = curve["complete"].to_list()
    incomplete = next((i for i, ok in enumerate(complete) if not ok), None)
    return Curve(curve["hours"].to_list(), curve["cumulative"].to_list(), incomplete)


def crossings(
    milestones: pl.DataFrame, platforms: Sequence[str], lines: Sequence[int]
) -> list[Crossing]:
    """Where each platform crossed each milestone line (exact elapsed times)."""
    reached = milestones.filter(
        pl.col("platform").is_in(list(platforms))
        & pl.col("users").is_in(list(lines))
        & pl.col("elapsed_s").is_not_null()
    ).sort("platform", "users")
    return [
        Crossing(str(row["platform"]), int(row["users"]), float(row["elapsed_s"]) / HOUR)
        for row in reached.iter_rows(named=True)
    ]


def milestone_lines(max_users: float, count: int = 3) -> list[int]:
    """Powers of ten from 1k up to the largest count reached, the top `count` of them."""
    if max_users < 1000:
        return []
    top = math.floor(math.log10(max_users))
    return [10**k for k in range(max(3, top - count + 1), top + 1)]


def headline_milestones(milestones: pl.DataFrame, platforms: Sequence[str]) -> list[Crossing]:
    """Per platform, the largest power-of-ten milestone reached, fastest platform first."""
    result = []
    for platform in platforms:
        reached = milestones.filter(
            (pl.col("platform") == platform) & pl.col("elapsed_s").is_not_null()
        )
        powers = [u for u in reached["users"].to_list() if _is_power_of_ten(u)]
        if not powers:
            continue
        users = max(powers)
        elapsed = reached.filter(pl.col("users") == users)["elapsed_s"].item()
        result.append(Crossing(platform, users, float(elapsed) / HOUR))
    return sorted(result, key=lambda c: c.hours)


def _is_power_of_ten(users: int) -> bool:
    return users >= 10 and 10 ** round(math.log10(users)) == users


MAX_RATIO = 1000.0  # beyond it a ratio says nothing more than "far faster"


def format_ratio(ratio: float) -> str:
    """2.14 -> '2.1x', 21.4 -> '21x', 1234.5 -> '1,235x', 552898 -> 'over 1,000x'."""
    if ratio > MAX_RATIO:
        return f"over {MAX_RATIO:,.0f}x"
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def headline(milestones: pl.DataFrame, platforms: Sequence[str]) -> str:
    """'viral reached 10M in 7.0 h; steady reached 1M in 6.1 days'. A ratio only when both
    reached the same milestone: the times to two different milestones do not compare (the
    like-for-like ratio is `shared_milestone_note`'s)."""
    marks = headline_milestones(milestones, platforms)
    if not marks:
        return "No platform has reached a milestone yet."
    text = "; ".join(
        f"{m.platform} reached {format_users(m.users)} in {format_duration(m.hours)}" for m in marks
    )
    if len(marks) >= 2 and marks[0].hours > 0 and marks[0].users == marks[1].users:
        ratio = format_ratio(marks[1].hours / marks[0].hours)
        text += f" ({marks[0].platform} {ratio} faster)"
    return text


def shared_milestone_note(milestones: pl.DataFrame, platforms: Sequence[str]) -> str | None:
    """The like-for-like comparison: the largest milestone the two fastest platforms share."""
    marks = headline_milestones(milestones, platforms)
    if len(marks) < 2:
        return None
    first, second = marks[0].platform, marks[1].platform
    times = {
        (str(r["platform"]), int(r["users"])): float(r["elapsed_s"]) / HOUR
        for r in milestones.filter(pl.col("elapsed_s").is_not_null()).iter_rows(named=True)
    }
    shared = [u for (p, u) in times if p == first and (second, u) in times and _is_power_of_ten(u)]
    if not shared:
        return None
    users = max(shared)
    a, b = times[(first, users)], times[(second, users)]
    ratio = f" ({format_ratio(b / a)})" if a > 0 else ""
    return (
        f"Same milestone, {format_users(users)}: {first} in {format_duration(a)}, "
        f"{second} in {format_duration(b)}{ratio}"
    )


def _add_curves(fig: go.Figure, curves: Mapping[str, Curve], colours: Mapping[str, str]) -> None:
    for platform, curve in curves.items():
        colour = colour_of(platform, colours)
        fig.add_trace(
            measured_curve(curve.hours, curve.cumulative, platform=platform, colour=colour)
        )
        if curve.incomplete_from is not None:
            i = curve.incomplete_from
            fig.add_trace(
                incomplete_markers(
                    curve.hours[i:], curve.cumulative[i:], platform=platform, colour=colour
                )
            )


def _add_crossings(
    fig: go.Figure,
    marks: Sequence[Crossing],
    colours: Mapping[str, str],
    *,
    log: bool,
    axis_range: Sequence[float],
    max_users: float,
) -> None:
    for platform in dict.fromkeys(m.platform for m in marks):
        own = [m for m in marks if m.platform == platform]
        positions = [
            label_position(
                paper_x(m.hours, axis_range, log),
                1.0 if log or max_users <= 0 else m.users / max_users,
            )
            for m in own
        ]
        fig.add_trace(
            trace(
                "scatter",
                x=[m.hours for m in own],
                y=[m.users for m in own],
                mode="markers+text",
                name=f"{platform} crossed",
                legendgroup=platform,
                showlegend=False,
                text=[format_duration(m.hours) for m in own],
                textposition=positions,
                cliponaxis=False,  # a label beside a marker at the edge stays whole
                textfont={"size": 11, "color": colour_of(platform, colours)},
                marker={
                    "color": colour_of(platform, colours),
                    "size": 11,
                    "line": {"color": "white", "width": 2},
                },
                customdata=[format_users(m.users) for m in own],
                hovertemplate=f"{platform} reached %{{customdata}} after %{{text}}"
                "<extra>measured milestone</extra>",
            )
        )


def _curve_markers(curves: Mapping[str, Curve]) -> list[tuple[float, float]]:
    """Where each curve ends and its incomplete-bucket markers: points labels must avoid."""
    points: list[tuple[float, float]] = []
    for c in curves.values():
        start = c.incomplete_from if c.incomplete_from is not None else len(c.hours) - 1
        points += list(zip(c.hours[start:], c.cumulative[start:], strict=True))
    return points


def reported_points(reported: pl.DataFrame) -> pl.DataFrame:
    """Reported milestones that can sit beside a cumulative-signups curve."""
    if reported.is_empty():
        return reported
    return reported.filter(
        pl.col("kind").is_in(REPORTED_KINDS)
        & pl.col("users").is_not_null()
        & pl.col("elapsed_hours").is_not_null()
    ).sort("platform", "elapsed_hours")


def _add_reported(fig: go.Figure, points: pl.DataFrame) -> None:
    for index, (name,) in enumerate(points.select("platform").unique(maintain_order=True).rows()):
        rows = points.filter(pl.col("platform") == name)
        fig.add_trace(
            trace(
                "scatter",
                x=rows["elapsed_hours"].to_list(),
                y=rows["users"].to_list(),
                mode="lines+markers",
                name=f"{name} (reported)",
                legendgroup="reported",
                line={"color": REPORTED_COLOUR, "width": 1.5, "dash": "dash"},
                marker={
                    "symbol": REPORTED_SYMBOLS[index % len(REPORTED_SYMBOLS)],
                    "size": 10,
                    "color": REPORTED_COLOUR,
                },
                customdata=rows.select("metric", "confidence", "source_title").rows(),
                hovertemplate=f"{name}: %{{y:,}} %{{customdata[0]}} after ~%{{x:.0f}} h"
                "<br>reported, confidence %{customdata[1]}<br>%{customdata[2]}"
                "<extra>reported, not measured</extra>",
            )
        )


def build_launch_race(
    signups: pl.DataFrame,
    milestones: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
    *,
    log: bool = True,
    reported: pl.DataFrame | None = None,
) -> go.Figure:
    """Cumulative signups vs time since t0 for `platforms`, with milestones and a headline."""
    curves = {p: race_curve(signups, p) for p in platforms}
    curves = {p: c for p, c in curves.items() if c.hours}
    points = reported_points(reported) if reported is not None else None
    max_users = max((max(c.cumulative) for c in curves.values()), default=0)
    top = max([max_users, *(points["users"].to_list() if points is not None else [])])
    lines = milestone_lines(max_users)
    if not log:
        lines = spaced_lines(lines, top)
    marks = crossings(milestones, list(curves), lines)
    xs = [h for c in curves.values() for h in c.hours] + [m.hours for m in marks]
    if points is not None and not points.is_empty():
        xs += points["elapsed_hours"].to_list()
    axis = elapsed_axis(log, min(xs, default=1 / 60), max(xs, default=24.0))
    reported_xy = (
        list(points.select("elapsed_hours", "users").iter_rows())
        if points is not None and not points.is_empty()
        else []
    )
    fig = new_figure()
    _add_curves(fig, curves, colours)
    if points is not None and not points.is_empty():
        _add_reported(fig, points)
    add_milestone_lines(
        fig,
        lines,
        log=log,
        axis_range=axis["range"],
        markers=[(m.hours, m.users) for m in marks] + _curve_markers(curves) + reported_xy,
    )
    _add_crossings(fig, marks, colours, log=log, axis_range=axis["range"], max_users=top)
    fig.update_xaxes(axis)
    lowest = min((y for c in curves.values() for y in c.cumulative if y > 0), default=None)
    fig.update_yaxes(users_axis(log, "Cumulative signups (users)", lowest))
    note = shared_milestone_note(milestones, list(curves))
    subtitle = headline(milestones, list(curves)) + (f"<br>{note}" if note else "")
    metric = "Measured: cumulative signups (exact time of the N-th signup for milestones)"
    if points is not None and not points.is_empty():
        metric += "; reported: public figures from data/milestones.csv (metrics vary, see hover)"
    return style_figure(
        fig,
        title=TITLE,
        subtitle=subtitle,
        caption_text=caption(metric, definitions),
        height=560,
    )
