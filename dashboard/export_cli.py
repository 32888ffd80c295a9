"""`uptake export` and `uptake report`: thin shells over dashboard.export and dashboard.report.

uptake export --list
uptake export launch-race --format svg --platform viral --platform steady
uptake export velocity --range 7d --axis-scale linear --grain day
uptake export lifecycle --view 'http://127.0.0.1:8050/engagement?lifecycle-grain=week'
uptake export all --format png --out decks/            # every chart: one browser, one batch
uptake report --out weekly.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dashboard.charts import CHARTS, ChartInputs, ViewOptions
from dashboard.controls import (
    CHANNEL_MODES,
    COHORT_GRAINS,
    CONTROL_IDS,
    GRAINS,
    LIFECYCLE_GRAINS,
    RETENTION_MODES,
    SCALES,
    TIME_RANGES,
    from_query,
    view_options,
)
from dashboard.errors import ExportError
from dashboard.export import (
    CHART_DATA,
    DEFAULT_TIMEOUT_S,
    FORMATS,
    StaticRenderer,
    chart_inputs,
    check_chart,
    check_format,
    export_charts,
    view_for,
)
from dashboard.report import build_report
from dashboard.suppression import DEFAULT_K
from etl.config import Settings

ALL = "all"


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export one chart (or `all`) of the live snapshot; prints each file written."""
    if args.list:
        for name in CHARTS:
            print(f"{name:<20} {CHART_DATA[name].note}")
        return 0
    if not args.chart:
        raise ExportError("name a chart to export (see `uptake export --list`), or `all`")
    charts = list(CHARTS) if args.chart == ALL else [check_chart(args.chart)]
    fmt = check_format(args.format or _suffix(args.out) or "png")
    inputs = chart_inputs(settings, args.suppress_below)
    view = view_of_args(inputs, args)
    outs = [output_path(args.out, settings.exports, c, fmt, many=len(charts) > 1) for c in charts]
    with StaticRenderer(args.timeout) as renderer:  # one browser, one batch of images
        written = export_charts(
            inputs,
            charts,
            outs,
            fmt=fmt,
            options=view,
            width=args.width,
            height=args.height,
            scale=args.scale,
            renderer=renderer,
        )
        for path in written:
            print(path)
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write the one-file report (HTML or PDF) of the live snapshot; prints its path."""
    out = Path(args.out) if args.out else settings.exports / "report.html"
    print(
        build_report(
            settings,
            out,
            args.platform or (),
            timeout_s=args.timeout,
            suppress_below=args.suppress_below,
            view=lambda inputs: view_of_args(inputs, args),
        )
    )
    return 0


# --flag -> the dashboard control (URL key) it sets; choices from the controls themselves.
VIEW_FLAGS = {
    "range": ("range", TIME_RANGES),
    "axis_scale": ("scale", SCALES),
    "grain": ("grain", GRAINS),
    "cohort_grain": ("cohort-grain", COHORT_GRAINS),
    "lifecycle_grain": ("lifecycle-grain", LIFECYCLE_GRAINS),
    "mode": ("retention-mode", RETENTION_MODES),
    "channel_mode": ("channel-mode", CHANNEL_MODES),
}


def view_of_args(inputs: ChartInputs, args: argparse.Namespace) -> ViewOptions:
    """The dashboard view the flags ask for: --view (a dashboard URL or its query string)
    first, then each flag over it; unknown platforms are a usage error."""
    query = (args.view or "").partition("?")[2] if "?" in (args.view or "") else args.view
    values = dict(zip(CONTROL_IDS, from_query(query), strict=True))
    if args.platform:
        values["platforms"] = list(args.platform)
    for flag, (control, _) in VIEW_FLAGS.items():
        if getattr(args, flag, None) is not None:
            values[control] = getattr(args, flag)
    if args.heatmap_platform:
        values["heatmap-platform"] = args.heatmap_platform
    if args.reported:
        values["reported"], values["reported-platforms"] = ["on"], list(args.reported)
    options = view_options(*(values[c] for c in CONTROL_IDS))
    view_for(inputs, [*options.platforms, *filter(None, [options.heatmap_platform])])
    return options


def output_path(out: str | None, exports: Path, chart: str, fmt: str, *, many: bool) -> Path:
    """--out as given for one chart with a file name; else CHART.FMT in --out or HOME/exports."""
    name = f"{chart}.{fmt}"
    if out is None:
        return exports / name
    path = Path(out)
    if many or path.is_dir() or out.endswith(("/", "\\")) or not path.suffix:
        return path / name
    return path


def _suffix(out: str | None) -> str | None:
    suffix = Path(out).suffix.lstrip(".").lower() if out else ""
    return suffix if suffix in FORMATS else None


def register_export(sub: Any) -> None:
    """Add `export` and `report` to `uptake`'s subparsers."""
    export = sub.add_parser(
        "export",
        help="one chart to PNG, SVG, PDF, HTML or CSV (list them with --list)",
        description="Export a dashboard chart of the current snapshot. The definitions caption "
        "is in every file; CSV files carry it as leading '# ' comment lines.",
    )
    export.add_argument("chart", nargs="?", metavar="CHART", help=f"a chart name, or {ALL!r}")
    export.add_argument("--list", action="store_true", help="list the charts and exit")
    export.add_argument(
        "--platform",
        action="append",
        metavar="P",
        help="platform to show (repeatable; default: every platform)",
    )
    export.add_argument(
        "--format", choices=FORMATS, help="file format (default: from --out, else png)"
    )
    export.add_argument(
        "--out", metavar="PATH", help="file or folder (default: HOME/exports/CHART.FORMAT)"
    )
    _size_args(export)
    _view_args(export)
    _suppress_arg(export)
    export.set_defaults(handler=cmd_export)

    report = sub.add_parser(
        "report", help="every chart and the key numbers in one HTML or PDF file"
    )
    report.add_argument(
        "--out", metavar="FILE", help="FILE.html or FILE.pdf (default: HOME/exports/report.html)"
    )
    report.add_argument(
        "--platform",
        action="append",
        metavar="P",
        help="platform to show (repeatable; default: every platform)",
    )
    _timeout_arg(report)
    _view_args(report)
    _suppress_arg(report)
    report.set_defaults(handler=cmd_report)


def _view_args(parser: argparse.ArgumentParser) -> None:
    """The dashboard's view options (the URL's), so a file reproduces what a user sees."""
    parser.add_argument(
        "--view",
        metavar="URL",
        help="a dashboard URL or its query string, e.g. '?range=7d&scale=linear'; "
        "the flags below override it",
    )
    helps = {
        "range": "time range after each platform's t0 (default: all)",
        "axis_scale": "log or linear axes (the dashboard's Scale; default log)",
        "grain": "velocity bucket (default hour)",
        "cohort_grain": "retention cohorts (default day)",
        "lifecycle_grain": "growth accounting bucket (default day)",
        "mode": "retention mode (default: the snapshot's)",
        "channel_mode": "channel mix as share of signups or counts (default share)",
    }
    for flag, (_, choices) in VIEW_FLAGS.items():
        parser.add_argument(
            "--" + flag.replace("_", "-"),
            choices=[str(choice[0]) for choice in choices],
            help=helps[flag],
        )
    parser.add_argument("--heatmap-platform", metavar="P", help="the retention heatmap's platform")
    parser.add_argument(
        "--reported",
        action="append",
        metavar="NAME",
        help="overlay this platform's reported milestones on the launch race (repeatable)",
    )


def _size_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, help="image width in px (default 1200)")
    parser.add_argument("--height", type=int, help="image height in px (default: the chart's)")
    parser.add_argument("--scale", type=float, default=1.0, help="pixel scale, e.g. 2 for retina")
    _timeout_arg(parser)


def _timeout_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per static image before a hung browser is stopped "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )


def _suppress_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suppress-below",
        type=int,
        nargs="?",
        const=DEFAULT_K,
        metavar="K",
        help=f"hide cohorts and buckets of fewer than K users (K default {DEFAULT_K}; "
        "without the flag: the suppress_below setting, 0 = off); the caption says so",
    )
