"""Shared pieces of every chart: platform colours, the definitions caption, time and user
number formatting, log-time ticks and the house layout. Pure: no I/O, no clock, no Dash."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

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
_LINEAR_STEPS_HOURS = (0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 8760)


@dataclass(frozen=True)
class Definitions:
    """The metric definitions a chart's caption states (from the snapshot manifest)."""

    timezone: str = "UTC"
    week_start: str = "monday"
    retention_mode: str = "on"
    watermark: datetime | None = None
    snapshot_id: str | None = None

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Definitions:
        raw = manifest.get("definitions")
        definitions: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        return cls(
            timezone=str(definitions.get("timezone") or "UTC"),
            week_start=str(definitions.get("week_start") or "monday"),
            retention_mode=str(definitions.get("retention_mode") or "on"),
            watermark=_parse_timestamp(manifest.get("watermark")),
            snapshot_id=str(manifest["id"]) if manifest.get("id") else None,
        )


def _parse_timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


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


def format_users(users: float) -> str:
    """1000 -> '1k', 2_500_000 -> '2.5M', 1e9 -> '1B'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(users) >= size:
            value = users / size
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 100 else f"{value:.0f}"
            return text + suffix
    return f"{users:.0f}"


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


def users_axis(log: bool, title: str) -> dict[str, Any]:
    return {
        "type": "log" if log else "linear",
        "title": {"text": title},
        "tickformat": "~s",
        "dtick": 1 if log else None,
        "rangemode": "tozero" if not log else None,
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
    top = 70 + 20 * (subtitle.count("<br>") + 1) if subtitle else 70
    fig.update_layout(
        template="plotly_white",
        font={"family": FONT, "size": 13, "color": "#1f2937"},
        title={
            "text": title,
            "x": 0.01,
            "xanchor": "left",
            "font": {"size": 18},
            "subtitle": {"text": subtitle or "", "font": {"size": 13, "color": "#374151"}},
        },
        height=height,
        margin={"l": 70, "r": 30, "t": top, "b": 110},
        legend={"yanchor": "top", "y": 1.0, "x": 1.01, "xanchor": "left"},
        hoverlabel={"font": {"family": FONT}},
    )
    fig.add_annotation(
        text=wrap_caption(caption_text),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-80,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
        font={"size": 11, "color": "#6b7280"},
        name="caption",
    )
    return fig


def wrap_caption(text: str, width: int = 150) -> str:
    """Break a long caption at ' · ' separators into lines of at most `width` characters."""
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + len(part) + 3 <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "<br>".join(lines)


def caption_of(fig: go.Figure) -> str:
    """The caption text of a figure styled by `style_figure` (line breaks undone)."""
    for annotation in fig.layout.annotations:
        if annotation.name == "caption":
            return str(annotation.text).replace("<br>", " · ")
    return ""


def empty_figure(message: str, *, title: str, caption_text: str) -> go.Figure:
    """A chart that says why it is empty instead of drawing blank axes."""
    fig = go.Figure()
    fig.add_annotation(
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
