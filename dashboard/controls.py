"""The shared controls (platforms, time range, scale, reported overlay, retention mode, grains,
channel mix mode), their defaults, and how their state maps to ViewOptions and to the URL
query string, so that a view can be shared as a link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import dcc, html

from dashboard.charts import ViewOptions

DEFAULT_REPORTED = ("Threads", "ChatGPT")


# Time range: (URL value, label, hours after each platform's t0; None: all time).
TIME_RANGES = (
    ("all", "All time", None),
    ("6h", "First 6 h", 6.0),
    ("1d", "First day", 24.0),
    ("3d", "First 3 days", 72.0),
    ("7d", "First 7 days", 168.0),
    ("30d", "First 30 days", 720.0),
    ("90d", "First 90 days", 2160.0),
)
WINDOW_HOURS = {value: hours for value, _, hours in TIME_RANGES}
GRAINS = (("minute", "Minute"), ("hour", "Hour"), ("day", "Day"))
LIFECYCLE_GRAINS = (("day", "Day"), ("week", "Week"))
COHORT_GRAINS = (("hour", "Hour"), ("day", "Day"), ("week", "Week"))
RETENTION_MODES = (("on", "On"), ("on_or_after", "On or after"))
SCALES = (("log", "Log"), ("linear", "Linear"))
CHANNEL_MODES = (("share", "Share of signups"), ("count", "Signups"))


@dataclass(frozen=True)
class Control:
    id: str  # component id, and key in the URL
    prop: str  # "value"
    default: Any
    many: bool = False  # a list value, written comma-separated in the URL
    choices: tuple[str, ...] = ()  # the valid values of a fixed-choice control

    def parse(self, raw: str) -> Any:
        """A value from the URL; an unknown choice falls back to the default."""
        if self.many:
            return [x for x in raw.split(",") if x]
        if self.choices and raw not in self.choices:
            return self.default
        return raw or self.default


def _values(options: Sequence[tuple[Any, ...]]) -> tuple[str, ...]:
    return tuple(str(option[0]) for option in options)


CONTROLS = (
    Control("platforms", "value", [], many=True),
    Control("range", "value", "all", choices=_values(TIME_RANGES)),
    Control("scale", "value", "log", choices=_values(SCALES)),
    Control("reported", "value", [], many=True),
    Control("reported-platforms", "value", list(DEFAULT_REPORTED), many=True),
    Control("retention-mode", "value", "on", choices=_values(RETENTION_MODES)),
    Control("grain", "value", "hour", choices=_values(GRAINS)),
    Control("cohort-grain", "value", "day", choices=_values(COHORT_GRAINS)),
    Control("lifecycle-grain", "value", "day", choices=_values(LIFECYCLE_GRAINS)),
    Control("heatmap-platform", "value", None),
    Control("channel-mode", "value", "share", choices=_values(CHANNEL_MODES)),
)
CONTROL_IDS = tuple(c.id for c in CONTROLS)


def view_options(*values: Any) -> ViewOptions:
    """Control values (in CONTROLS order) -> the options every chart takes."""
    v = dict(zip(CONTROL_IDS, values, strict=True))
    return ViewOptions(
        platforms=tuple(v["platforms"] or ()),
        log=v["scale"] != "linear",
        reported=tuple(v["reported-platforms"] or ()) if v["reported"] else (),
        retention_mode=v["retention-mode"] or None,
        grain=v["grain"] or "hour",
        cohort_grain=v["cohort-grain"] or "day",
        lifecycle_grain=v["lifecycle-grain"] or "day",
        heatmap_platform=v["heatmap-platform"] or None,
        window_hours=WINDOW_HOURS.get(v["range"] or "all"),
        channel_mode=v["channel-mode"] or "share",
    )


def to_query(values: Sequence[Any]) -> str:
    """Control values -> '?platforms=viral,steady&scale=linear' (defaults left out)."""
    pairs = {}
    for control, value in zip(CONTROLS, values, strict=True):
        if value == control.default or value is None:
            continue
        pairs[control.id] = ",".join(value) if control.many else str(value)
    return "?" + urlencode(pairs) if pairs else ""


def from_query(search: str | None) -> list[Any]:
    """'?platforms=viral&scale=linear' -> control values (defaults for what is absent)."""
    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    return [
        control.parse(parsed[control.id][-1]) if control.id in parsed else control.default
        for control in CONTROLS
    ]


def _group(label: str, child: Any, group_id: str | None = None) -> html.Div:
    return html.Div(
        [html.Label(label, className="control-label"), child],
        className="control",
        id=group_id or "group-" + label.lower().replace(" ", "-"),
    )


def _radio(control_id: str, options: Sequence[tuple[str, str]], value: str) -> dcc.RadioItems:
    return dcc.RadioItems(
        id=control_id,
        options=[{"label": label, "value": v} for v, label in options],
        value=value,
        inline=True,
        className="radio",
    )


def platforms_placeholder(hidden: Sequence[str] = ()) -> str:
    """What the empty platform picker shows: which platforms "all" means."""
    if not hidden:
        return "All platforms"
    return f"All launches ({', '.join(hidden)}: long history, pick to compare)"


def controls_layout(
    reported_names: Sequence[str] = (),
    platform_names: Sequence[str] = (),
    hidden: Sequence[str] = (),
) -> html.Div:
    """The control bar; page-specific groups are shown or hidden by the page. The platform
    dropdowns start with the live snapshot's platforms: a dropdown drops values that are not
    among its options, so options arriving after a value from the URL would lose it."""
    return html.Div(
        [
            _group(
                "Platforms",
                dcc.Dropdown(
                    id="platforms",
                    options=list(platform_names),
                    multi=True,
                    placeholder=platforms_placeholder(hidden),
                    value=[],
                ),
            ),
            _group(
                "Time range",
                dcc.Dropdown(
                    id="range",
                    options=[{"label": label, "value": v} for v, label, _ in TIME_RANGES],
                    value="all",
                    clearable=False,
                    searchable=False,
                ),
                group_id="group-range",
            ),
            _group("Scale", _radio("scale", SCALES, "log")),
            _group(
                "Reported milestones",
                html.Div(
                    [
                        dcc.Checklist(
                            id="reported",
                            options=[{"label": "Overlay public figures", "value": "on"}],
                            value=[],
                            className="checklist",
                        ),
                        dcc.Dropdown(
                            id="reported-platforms",
                            options=list(reported_names),
                            multi=True,
                            value=list(DEFAULT_REPORTED),
                            placeholder="Reported platforms",
                            disabled=True,  # until the overlay is on (app.py)
                        ),
                    ]
                ),
                group_id="group-reported",
            ),
            _group("Velocity grain", _radio("grain", GRAINS, "hour"), group_id="group-grain"),
            _group(
                "Lifecycle grain",
                _radio("lifecycle-grain", LIFECYCLE_GRAINS, "day"),
                group_id="group-lifecycle-grain",
            ),
            _group(
                "Retention mode",
                _radio("retention-mode", RETENTION_MODES, "on"),
                group_id="group-retention-mode",
            ),
            _group(
                "Cohorts",
                _radio("cohort-grain", COHORT_GRAINS, "day"),
                group_id="group-cohort-grain",
            ),
            _group(
                "Heatmap platform",
                dcc.Dropdown(
                    id="heatmap-platform",
                    options=list(platform_names),
                    clearable=True,
                    placeholder="First chosen",
                ),
                group_id="group-heatmap-platform",
            ),
            _group(
                "Channel mix",
                _radio("channel-mode", CHANNEL_MODES, "share"),
                group_id="group-channel-mode",
            ),
        ],
        className="controls",
    )


# Which page-specific control groups each page shows.
PAGE_GROUPS = {
    "group-range": (
        "/",
        "/milestones",
        "/velocity",
        "/engagement",
        "/retention",
        "/forecasts",
        "/migration",
    ),
    # Scale only where a chart has a log option (retention, migration and data health
    # charts are shares and counts on linear axes).
    "group-scale": ("/", "/milestones", "/velocity", "/engagement", "/forecasts"),
    "group-reported": ("/",),
    "group-grain": ("/velocity",),
    "group-lifecycle-grain": ("/engagement",),
    "group-retention-mode": ("/retention",),
    "group-cohort-grain": ("/retention",),
    "group-heatmap-platform": ("/retention",),
    "group-channel-mode": ("/migration",),
}
