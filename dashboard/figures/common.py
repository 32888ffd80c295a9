"""Shared pieces of every chart: platform colours, the definitions caption, time and user
number formatting, log-time ticks and the house layout. Pure: no I/O, no clock, no Dash."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import polars as pl

from etl.contract import format_users

PALETTE = (
    "#2563eb",  # blue
    "#ea580c",  # orange
    "#059669",  # green
    "#9333ea",  # purple
    "#dc2626",  # red
    "#0891b2",  # cyan
    "#ca8a04",  # amber
    "#db2777",  # pink
)
REPORTED_COLOUR = "#6b7280"
FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INCOMPLETE_NOTE = "open markers / faded bars: incomplete bucket (beyond the data watermark)"
HOUR = 3600.0
SCREEN_BINS = 1200  # about one x step per pixel of a full-width chart
DAY_HOURS = 24.0
RETENTION_MODE_LABELS = {"on": "on", "on_or_after": "on or after"}

# (hours, label): the candidates of readable log-time ticks.
_TIME_TICKS = (
    (1 / 3600, "1 s"),
    (10 / 3600, "10 s"),
    (1 / 60, "1 min"),
    (5 / 60, "5 min"),
    (15 / 60, "15 min"),
    (0.5, "30 min"),
    (1.0, "1 h"),
    (3.0, "3 h"),
    (6.0, "6 h"),
    (12.0, "12 h"),
    (24.0, "1 d"),
    (72.0, "3 d"),
    (168.0, "7 d"),
    (336.0, "14 d"),
    (720.0, "30 d"),
    (2160.0, "90 d"),
    (4380.0, "6 mo"),
    (8760.0, "1 y"),
    (17520.0, "2 y"),
    (43800.0, "5 y"),
)
_MAJOR_TICKS = {"1 s", "1 min", "15 min", "1 h", "6 h", "1 d", "7 d", "30 d", "90 d", "1 y", "5 y"}
# The axis colours of plotly's "plotly_white" template (grid, axis line, zero line).
WHITE_AXIS = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8"}
_LINEAR_STEPS_HOURS = (
    *(0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160),
    *(8760, 17520, 43800, 87600),  # 1, 2, 5 and 10 years
)
YEAR_HOURS = 8760.0


@dataclass(frozen=True)
class Definitions:
    """The metric definitions a chart's caption states (from the snapshot manifest)."""

    timezone: str = "UTC"
    week_start: str = "monday"
    retention_mode: str = "on"
    watermark: datetime | None = None
    snapshot_id: str | None = None
    time_range: str | None = None  # e.g. "first 7 days after each platform's t0"


def platform_colours(
    platforms: Iterable[str], overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """Platform -> colour, stable for a given set of platforms (sorted order), with the
    colours declared in settings or the manifest taking precedence."""
    overrides = overrides or {}
    colours: dict[str, str] = {}
    for index, name in enumerate(sorted(set(platforms))):
        colours[name] = overrides.get(name) or PALETTE[index % len(PALETTE)]
    return colours


def colour_of(platform: str, colours: Mapping[str, str]) -> str:
    return colours.get(platform) or PALETTE[sum(map(ord, platform)) % len(PALETTE)]


def caption(metric: str, definitions: Definitions, *, mode: bool = False) -> str:
    """The definition line every chart carries: metric, timezone, week start, mode, watermark."""
    parts = [
        metric,
        f"reporting timezone {definitions.timezone}",
        f"weeks start {definitions.week_start.capitalize()}",
    ]
    if definitions.time_range:
        parts.append(f"time range: {definitions.time_range}")
    if mode:
        label = RETENTION_MODE_LABELS.get(definitions.retention_mode, definitions.retention_mode)
        parts.append(f"retention mode: {label}")
    watermark = (
        definitions.watermark.strftime("%Y-%m-%d %H:%M UTC") if definitions.watermark else "unknown"
    )
    parts.append(f"data watermark {watermark}")
    if definitions.snapshot_id:
        parts.append(f"snapshot {definitions.snapshot_id}")
    return " · ".join(parts)


def format_duration(hours: float) -> str:
    """A time to milestone for prose: '42 min', '7.0 h', '6.1 days', '2.3 years'."""
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    if hours < 2 * 8760:
        return f"{hours / DAY_HOURS:.1f} days"
    return f"{hours / 8760:.1f} years"


def format_elapsed_tick(hours: float) -> str:
    """A short axis label for an elapsed time: '30 min', '6 h', '7 d'."""
    if hours < 1 / 60:
        return f"{hours * 3600:g} s"
    if hours < 1:
        return f"{hours * 60:g} min"
    if hours < DAY_HOURS:
        return f"{hours:g} h"
    if hours >= YEAR_HOURS:  # '2 y', not '730 d'
        return f"{hours / YEAR_HOURS:g} y"
    return f"{hours / DAY_HOURS:g} d"


def log_time_ticks(min_hours: float, max_hours: float) -> tuple[list[float], list[str]]:
    """Readable tick positions (hours) and labels for a log elapsed-time axis."""
    low, high = max(min_hours, 1e-6), max(max_hours, min_hours * 1.01, 1e-6)
    ticks = [(value, label) for value, label in _TIME_TICKS if low <= value <= high]
    if len(ticks) > 9:  # long spans: the major ticks only, for a readable density
        ticks = [(value, label) for value, label in ticks if label in _MAJOR_TICKS]
    return [value for value, _ in ticks], [label for _, label in ticks]


def linear_time_ticks(max_hours: float, target: int = 8) -> tuple[list[float], list[str]]:
    """Evenly spaced tick positions (hours) and labels for a linear elapsed-time axis."""
    step = next(
        (s for s in _LINEAR_STEPS_HOURS if max_hours / s <= target), _LINEAR_STEPS_HOURS[-1]
    )
    count = int(max_hours // step) + 1
    values = [step * i for i in range(count + 1)]
    return values, [format_elapsed_tick(v) if v else "t0" for v in values]


def elapsed_axis(log: bool, min_hours: float, max_hours: float) -> dict[str, Any]:
    """Layout of the elapsed-time x axis in hours, log or linear, with readable ticks."""
    if log:
        values, labels = log_time_ticks(min_hours, max_hours)
        low, high = math.log10(max(min_hours, 1e-6)), math.log10(max(max_hours, 1e-6))
        return {
            "type": "log",
            "tickvals": values,
            "ticktext": labels,
            "range": [low - 0.05, high + 0.05],
            "title": {"text": "Time since launch t0 (log scale; min, h = hours, d = days)"},
        }
    values, labels = linear_time_ticks(max_hours)
    return {
        "type": "linear",
        "tickvals": values,
        "ticktext": labels,
        "range": [0, max_hours * 1.02],
        "title": {"text": "Time since launch t0 (h = hours, d = days)"},
    }


# A log users axis starts no lower than 1 user (10**0): plotly's autorange went below it
# (ticks at 0.1 and 0.01 users) whenever a series had a bucket of one signup.
LOG_FLOOR_BELOW = 10.0  # data this low gets the floor; higher data keeps plotly's range


def log_users_floor(lowest: float | None) -> dict[str, Any] | None:
    """autorangeoptions for a log users axis whose smallest value is `lowest`."""
    if lowest is None or lowest >= LOG_FLOOR_BELOW:
        return None
    return {"minallowed": 0}  # log axes take range values in log10 units: 10**0 = 1 user


def users_axis(log: bool, title: str, lowest: float | None = None) -> dict[str, Any]:
    """A users axis; on a log one, `lowest` (the smallest value drawn) under 10 pins its
    bottom at 1 user."""
    return {
        "type": "log" if log else "linear",
        "title": {"text": title},
        "tickformat": "~s",
        "dtick": 1 if log else None,
        "rangemode": "tozero" if not log else None,
        "autorangeoptions": log_users_floor(lowest) if log else None,
    }


def new_figure() -> go.Figure:
    """An empty Figure that takes properties without validating each one: plotly's
    validation was most of a chart callback's time. The builders' figures are validated
    in the tests instead (tests/test_figures.py rebuilds every chart with validation)."""
    return go.Figure(_validate=False)


def trace(kind: str, **props: Any) -> dict[str, Any]:
    """A trace as a plain dict ("scatter", "bar", "heatmap"): a figure from new_figure()
    takes it as it is, where a go.Scatter object would validate every property."""
    return {"type": kind, **props}


def add_annotation(fig: go.Figure, **props: Any) -> None:
    """fig.add_annotation without its per-call cost (it checks subplots and re-validates
    every annotation already there, so each call costs more than the last): the tuple is
    extended once."""
    fig.layout.annotations = (*fig.layout.annotations, go.layout.Annotation(props, _validate=False))


def add_hline(fig: go.Figure, y: float, **props: Any) -> None:
    """A horizontal line across the plot at `y` (fig.add_hline, cheaper: see add_annotation)."""
    line = {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y}
    fig.layout.shapes = (*fig.layout.shapes, go.layout.Shape({**line, **props}, _validate=False))


# The title block, in px: padding above the title, the title's line (18 px font), each
# subtitle line (13 px font) and the gap before the plot (room for a subplot's title).
TITLE_PAD = 12
TITLE_LINE = 26
SUBTITLE_LINE = 18
TITLE_GAP = 24


def top_margin(subtitle_lines: int) -> int:
    """The top margin that holds the title and `subtitle_lines` lines of subtitle."""
    return TITLE_PAD + TITLE_LINE + SUBTITLE_LINE * subtitle_lines + TITLE_GAP


def house_layout(*, title: str, subtitle: str | None = None, height: int = 480) -> dict[str, Any]:
    """The house look as layout properties: white theme, title and optional subtitle,
    legend on top (the caption is `caption_annotation`, axes take WHITE_AXIS)."""
    lines = subtitle.count("<br>") + 1 if subtitle else 0
    return {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": FONT, "size": 13, "color": "#1f2937"},
        "title": {
            "text": title,
            "x": 0.01,
            "xanchor": "left",
            # pinned to the top of the figure: plotly centres a title in the top margin,
            # which left about 40 px blank above it
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": TITLE_PAD},
            "font": {"size": 18},
            "subtitle": {"text": subtitle or "", "font": {"size": 13, "color": "#374151"}},
        },
        "height": height,
        "margin": {"l": 70, "r": 30, "t": top_margin(lines), "b": 110},
        "legend": {"yanchor": "top", "y": 1.0, "x": 1.01, "xanchor": "left"},
        "hoverlabel": {"font": {"family": FONT}},
    }


def caption_annotation(caption_text: str) -> dict[str, Any]:
    """The definition caption below the plot, as an annotation."""
    return {
        "text": wrap_caption(caption_text),
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": 0,
        "yshift": -80,
        "xanchor": "left",
        "yanchor": "top",
        "showarrow": False,
        "align": "left",
        "font": {"size": 11, "color": "#6b7280"},
        "name": "caption",
    }


def style_figure(
    fig: go.Figure,
    *,
    title: str,
    caption_text: str,
    subtitle: str | None = None,
    height: int = 480,
) -> go.Figure:
    """The house look: white theme, title and optional subtitle, legend on top, caption below."""
    # plotly_white's look set directly on the figure: assigning the template itself is
    # validated property by property, which costs more than building the rest of a chart.
    fig.update_layout(**house_layout(title=title, subtitle=subtitle, height=height))
    fig.update_xaxes(**WHITE_AXIS)
    fig.update_yaxes(**WHITE_AXIS)
    add_annotation(fig, **caption_annotation(caption_text))
    return fig


def row_subplots(
    titles: Sequence[str], *, spacing: float, secondary_y: bool = False
) -> dict[str, Any]:
    """Layout of one column of subplots titled `titles`, top to bottom, as make_subplots
    draws it (same axis names, domains and title annotations) without its cost: row r has
    axes x{r}/y{r}, or x{r}/y{2r-1} with y{2r} on the right when `secondary_y`. Fill the
    axes with `subplot_axes`."""
    rows = len(titles)
    height = (1 - spacing * (rows - 1)) / rows
    right = 0.94 if secondary_y else 1.0  # make_subplots leaves room for the right axis
    layout: dict[str, Any] = {"annotations": []}
    for row, text in enumerate(titles, start=1):
        x, y, y2 = subplot_axes(row, secondary_y=secondary_y)
        top = 1 - (row - 1) * (height + spacing)
        bottom = max(top - height, 0.0)
        layout[axis_key(x)] = {"anchor": y, "domain": [0.0, right]}
        layout[axis_key(y)] = {"anchor": x, "domain": [bottom, top]}
        if y2:
            layout[axis_key(y2)] = {"anchor": x, "overlaying": y, "side": "right"}
        layout["annotations"].append(
            {
                "font": {"size": 16},
                "showarrow": False,
                "text": text,
                "x": right / 2,
                "xanchor": "center",
                "xref": "paper",
                "y": top,
                "yanchor": "bottom",
                "yref": "paper",
            }
        )
    return layout


def subplot_axes(row: int, *, secondary_y: bool = False) -> tuple[str, str, str | None]:
    """The (x, y, secondary y or None) axis ids of subplot `row` of `row_subplots`."""
    x = "x" if row == 1 else f"x{row}"
    first = 2 * row - 1 if secondary_y else row
    y = "y" if first == 1 else f"y{first}"
    return x, y, f"y{2 * row}" if secondary_y else None


def axis_key(axis_id: str) -> str:
    """'x' -> 'xaxis', 'y3' -> 'yaxis3'."""
    return axis_id[0] + "axis" + axis_id[1:]


def figure_of(
    data: list[dict[str, Any]],
    layout: dict[str, Any],
    *,
    title: str,
    caption_text: str,
    subtitle: str | None = None,
    height: int = 480,
) -> go.Figure:
    """A styled Figure from plain-dict traces and layout (what `style_figure` does to a
    figure, in one unvalidated construction: no per-update property path walks)."""
    full = {**layout, **house_layout(title=title, subtitle=subtitle, height=height)}
    for key, value in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            full[key] = {**value, **WHITE_AXIS}
    full["annotations"] = [*layout.get("annotations", ()), caption_annotation(caption_text)]
    return go.Figure({"data": data, "layout": full}, _validate=False)


# A line break inside one part of a caption (a part longer than a line), told apart from
# the breaks at ' · ' separators so that caption_of can undo both exactly.
_SOFT_BREAK = "<br> "


def wrap_caption(text: str, width: int = 150) -> str:
    """Break a long caption at ' · ' separators into lines of at most `width` characters;
    a single part longer than a line breaks between words."""
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + len(part) + 3 <= width:
            lines[-1] += " · " + part
        else:
            lines.append(_wrap_words(part, width))
    return "<br>".join(lines)


def _wrap_words(part: str, width: int) -> str:
    rows: list[str] = []
    for word in part.split(" "):
        if rows and len(rows[-1]) + len(word) + 1 <= width:
            rows[-1] += " " + word
        else:
            rows.append(word)
    return _SOFT_BREAK.join(rows)


def caption_of(fig: go.Figure) -> str:
    """The caption text of a figure styled by `style_figure` (line breaks undone)."""
    for annotation in fig.layout.annotations:
        if annotation.name == "caption":
            return str(annotation.text).replace(_SOFT_BREAK, " ").replace("<br>", " · ")
    return ""


def empty_figure(message: str, *, title: str, caption_text: str) -> go.Figure:
    """A chart that says why it is empty instead of drawing blank axes."""
    fig = new_figure()
    add_annotation(
        fig,
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15, "color": "#6b7280"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style_figure(fig, title=title, caption_text=caption_text)


def selected(platforms: Sequence[str] | None, available: Iterable[str]) -> list[str]:
    """The chosen platforms that exist, in the order of `available` (all when none chosen)."""
    names = list(available)
    if not platforms:
        return names
    wanted = set(platforms)
    return [name for name in names if name in wanted]


def paper_x(value: float, axis_range: Sequence[float], log: bool) -> float:
    """Where x = `value` (hours) falls across the plot, 0 (left edge) to 1 (right edge)."""
    low, high = axis_range
    position = math.log10(max(value, 1e-9)) if log else value
    return (position - low) / (high - low) if high != low else 0.0


# Past these shares of the plot a marker's label would run off its edge: the label goes to
# the marker's other side.
LABEL_RIGHT_EDGE = 0.88
LABEL_BOTTOM_EDGE = 0.06


def label_position(x_share: float, y_share: float) -> str:
    """The textposition of a label on a rising curve's marker: below right, unless that
    runs off the plot (shares of the plot, 0-1): above left near the right edge, above
    right near the bottom. Below right and above left of a rising curve stay off it."""
    if x_share > LABEL_RIGHT_EDGE:
        return "top left"
    return "top right" if y_share < LABEL_BOTTOM_EDGE else "bottom right"


# On a linear users axis a milestone line's label is about this share of the axis tall.
LINEAR_LABEL_SHARE = 0.06


def spaced_lines(lines: Sequence[int], top: float) -> list[int]:
    """The milestone lines of a linear axis running to `top` whose labels do not overlap:
    from the highest down, a line a label's height or less below the last one kept is left
    out (100k and 1M under a 100M reported figure: only 1M). A log axis spaces them."""
    kept: list[int] = []
    for users in sorted(lines, reverse=True):
        if not kept or top <= 0 or (kept[-1] - users) / top >= LINEAR_LABEL_SHARE:
            kept.append(users)
    return sorted(kept)


def add_milestone_lines(
    fig: go.Figure,
    lines: Sequence[int],
    *,
    log: bool,
    axis_range: Sequence[float],
    markers: Sequence[tuple[float, float]] = (),
    label_width: float = 0.12,
) -> None:
    """Dotted horizontal lines at milestone user counts, each labelled just above the line
    at the left edge of the plot; at the right edge when a data marker (x hours, y users)
    sits where the left label would be, so that labels do not cover markers."""
    top = max((y for _, y in markers), default=max(lines, default=0))
    for users in lines:
        # the label's box: a quarter decade above the line on a log axis, 6% of the top
        # value on a linear one
        ceiling = users * 10**0.25 if log else users + 0.06 * top
        near = [paper_x(x, axis_range, log) for x, y in markers if users <= y <= ceiling]
        left = not any(p <= label_width for p in near)
        add_hline(fig, users, line={"color": "#9ca3af", "width": 1, "dash": "dot"})
        add_annotation(  # log axes place annotations in log10 units
            fig,
            x=0 if left else 1,
            xref="paper",
            y=math.log10(users) if log else users,
            text=f"{format_users(users)} users",
            showarrow=False,
            xanchor="left" if left else "right",
            yanchor="bottom",
            font={"color": "#6b7280", "size": 11},
            name=f"milestone {users}",
        )


def incomplete_markers(
    x: Sequence[Any], y: Sequence[Any], *, platform: str, colour: str
) -> dict[str, Any]:
    """Open markers on buckets beyond the data watermark (not over yet)."""
    return trace(
        "scatter",
        x=list(x),
        y=list(y),
        mode="markers",
        name=f"{platform}: incomplete bucket",
        legendgroup=platform,
        showlegend=False,
        marker={"color": "white", "line": {"color": colour, "width": 2}, "size": 8},
        hovertemplate="incomplete bucket (beyond the data watermark)<extra></extra>",
    )


def measured_curve(
    x: Sequence[float], y: Sequence[Any], *, platform: str, colour: str
) -> dict[str, Any]:
    """The measured cumulative-signups line of a platform (launch race, forecast)."""
    return trace(
        "scatter",
        x=list(x),
        y=list(y),
        mode="lines",
        name=f"{platform} (measured)",
        legendgroup=platform,
        line={"color": colour, "width": 3},
        hovertemplate=f"{platform}<br>%{{y:,}} signups<br>%{{x:.2f}} h after t0"
        "<extra>measured</extra>",
    )


def thin_series(
    frame: pl.DataFrame, x: str, y: str, *, log: bool, bins: int = SCREEN_BINS
) -> pl.DataFrame:
    """A long series cut to what a chart can show: the x axis (log or linear) in `bins`
    equal steps, and in each step the rows with the lowest and the highest `y`, in order.
    The drawn envelope, the peak and both ends stay exact; a month of minutes (43,200 rows)
    becomes at most about 2 x `bins` rows."""
    if frame.height <= 2 * bins:
        return frame
    position = pl.col(x).log10() if log else pl.col(x)
    low, high = frame.select(position.min()).item(), frame.select(position.max()).item()
    step = (high - low) / bins or 1.0
    indexed = frame.with_row_index("_row").with_columns(
        _bin=((position - low) / step).floor().cast(pl.Int64)
    )
    picks = indexed.group_by("_bin").agg(
        low=pl.col("_row").sort_by(y).first(), high=pl.col("_row").sort_by(y).last()
    )
    keep = {0, frame.height - 1, *picks["low"].to_list(), *picks["high"].to_list()}
    return indexed.filter(pl.col("_row").is_in(sorted(keep))).drop("_row", "_bin")


# A bucket is partial for a platform when its own data ends more than this before the
# bucket does (its last event at 23:59:59 leaves the day whole; at 15:59, not).
PARTIAL_SLACK_S = 3600


def data_ends(platforms_table: pl.DataFrame, watermark: datetime | None) -> dict[str, datetime]:
    """Platform -> where its own data ends: its last event, never past the snapshot's
    watermark, plus PARTIAL_SLACK_S. A bucket that ends after it is partial for that
    platform (a day whose data stops at 16:00 is not a drop in DAU)."""
    ends: dict[str, datetime] = {}
    if platforms_table.is_empty() or "last_event" not in platforms_table.columns:
        return ends
    for platform, last in platforms_table.select("platform", "last_event").iter_rows():
        end = min(t for t in (last, watermark) if t is not None) if last or watermark else None
        if end is not None:
            ends[str(platform)] = end + timedelta(seconds=PARTIAL_SLACK_S)
    return ends
