"""The shared controls (platforms, scale, reported overlay, retention mode, grains), their
defaults, and how their state maps to ViewOptions and to the URL query string, so that a
view can be shared as a link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import dcc, html

from dashboard.charts import ViewOptions

DEFAULT_REPORTED = ("Threads", "ChatGPT")


@dataclass(frozen=True)
class Control:
    id: str  # component id, and key in the URL
    prop: str  # "value"
    default: Any
    many: bool = False  # a list value, written comma-separated in the URL


CONTROLS = (
    Control("platforms", "value", [], many=True),
    Control("scale", "value", "log"),
    Control("reported", "value", [], many=True),
    Control("reported-platforms", "value", list(DEFAULT_REPORTED), many=True),
    Control("retention-mode", "value", "on"),
    Control("grain", "value", "hour"),
    Control("cohort-grain", "value", "day"),
    Control("lifecycle-grain", "value", "day"),
    Control("heatmap-platform", "value", None),
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
    values = []
    for control in CONTROLS:
        if control.id not in parsed:
            values.append(control.default)
            continue
        raw = parsed[control.id][-1]
        values.append([x for x in raw.split(",") if x] if control.many else raw)
    return values


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


def controls_layout(reported_names: Sequence[str] = ()) -> html.Div:
    """The control bar; page-specific groups are shown or hidden by the page."""
    return html.Div(
        [
            _group(
                "Platforms",
                dcc.Dropdown(id="platforms", multi=True, placeholder="All platforms", value=[]),
            ),
            _group("Scale", _radio("scale", [("log", "Log"), ("linear", "Linear")], "log")),
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
                        ),
                    ]
                ),
                group_id="group-reported",
            ),
            _group(
                "Velocity grain",
                _radio("grain", [("minute", "Minute"), ("hour", "Hour"), ("day", "Day")], "hour"),
                group_id="group-grain",
            ),
            _group(
                "Lifecycle grain",
                _radio("lifecycle-grain", [("day", "Day"), ("week", "Week")], "day"),
                group_id="group-lifecycle-grain",
            ),
            _group(
                "Retention mode",
                _radio("retention-mode", [("on", "On"), ("on_or_after", "On or after")], "on"),
                group_id="group-retention-mode",
            ),
            _group(
                "Cohorts",
                _radio("cohort-grain", [("hour", "Hour"), ("day", "Day"), ("week", "Week")], "day"),
                group_id="group-cohort-grain",
            ),
            _group(
                "Heatmap platform",
                dcc.Dropdown(id="heatmap-platform", clearable=True, placeholder="First chosen"),
                group_id="group-heatmap-platform",
            ),
        ],
        className="controls",
    )


# Which page-specific control groups each page shows.
PAGE_GROUPS = {
    "group-reported": ("/",),
    "group-grain": ("/velocity",),
    "group-lifecycle-grain": ("/engagement",),
    "group-retention-mode": ("/retention",),
    "group-cohort-grain": ("/retention",),
    "group-heatmap-platform": ("/retention",),
}
