"""`uptake report`: every chart of the dashboard and the key numbers (milestones, peak
velocity, DAU/MAU, retention at day 1/7/30, forecasts) with the data watermark and the
metric definitions, in one file.

HTML: one self-contained page, plotly.js inlined once in the head (about 4.6 MB) and each
chart a live plotly div; it opens offline. PDF: the same page with each chart as a vector
SVG drawn by kaleido (one persistent browser for all of them), printed by headless
Chromium. The key numbers come from the same pure helpers the dashboard's tables use."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.errors import ExportError, ExportTimeoutError, InvalidExportError
from dashboard.export import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WIDTH,
    HTML_CONFIG,
    StaticImage,
    StaticRenderer,
    chart_inputs,
    checked,
    find_chromium,
    pending_file,
    view_for,
    write_file,
)
from dashboard.figures.common import RETENTION_MODE_LABELS, format_duration
from dashboard.figures.forecasts import ENSEMBLE, model_table
from dashboard.figures.health import freshness
from dashboard.figures.launch_race import headline
from dashboard.figures.milestones import milestone_table
from dashboard.figures.retention import average_curve
from dashboard.figures.velocity import velocity_stats
from dashboard.suppression import note_suppression, suppressed_by, suppression_note
from dashboard.validation import check_payload
from etl.config import Settings
from etl.contract import format_users

RETENTION_DAYS = (1, 7, 30)
VELOCITY_GRAINS = ("minute", "hour", "day")
PDF_TIMEOUT_S = 120.0
NOT_OBSERVABLE = "not yet observable"

# Section id, heading, and the charts it shows (every chart of the dashboard appears once,
# the retention heatmap once per platform).
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("summary", "Summary", ()),
    ("definitions", "Definitions", ()),
    ("launch-race", "Launch race", ("launch-race",)),
    ("milestones", "Milestones", ("milestones",)),
    ("velocity", "Peak velocity", ("velocity", "hour-of-day")),
    ("engagement", "Engagement: DAU, WAU, MAU", ("active-users", "stickiness", "lifecycle")),
    ("retention", "Retention at day 1, 7 and 30", ("retention-curves", "retention-heatmap")),
    ("forecasts", "Forecasts", ("forecast",)),
    (
        "migration",
        "Migration and channels",
        ("channel-mix", "overlap", "migration-share", "migrant-activity"),
    ),
    ("data-health", "Data health", ("runs",)),
)

Row = dict[str, Any]
Columns = list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    rows: list[Row]
    columns: Columns
    note: str = ""


# --- key numbers (pure: snapshot tables in, rows out) ----------------------------------------


def platform_rows(inputs: ChartInputs, platforms: Sequence[str]) -> Table:
    table = inputs.table("platforms").filter(pl.col("platform").is_in(list(platforms)))
    rows = [
        {**row, "t0": _when(row["t0"]), "last_event": _when(row["last_event"])}
        for row in table.sort("platform").iter_rows(named=True)
    ]
    columns = [
        ("platform", "Platform"),
        ("t0", "Launch t0 (UTC)"),
        ("signups", "Signups"),
        ("deletions", "Deletions"),
        ("net_users", "Net users"),
        ("last_event", "Last event (UTC)"),
    ]
    return Table(rows, columns, "Net users = signups - deletions.")


def definition_rows(inputs: ChartInputs, options: ViewOptions) -> Table:
    d = inputs.definitions
    raw = inputs.snapshot.definitions
    mode = inputs.mode(options)
    manifest = inputs.snapshot.manifest
    rows = [
        ("Data watermark", _when(d.watermark) + " UTC" if d.watermark else "unknown"),
        ("Snapshot", f"{inputs.snapshot.id} (engine {manifest.get('engine', '?')})"),
        ("Snapshot created", str(manifest.get("created", "?"))),
        ("Reporting timezone", d.timezone),
        ("Weeks start", d.week_start.capitalize()),
        ("Retention mode", RETENTION_MODE_LABELS.get(mode, mode)),
        ("Time range", inputs.definitions_for(options).time_range or "all data"),
        ("Activity event types", _text(raw.get("activity_event_types"), "all")),
        ("Never activity", _text(raw.get("inactive_event_types"), "none")),
        ("Signups", _signup_sources(raw.get("signups"))),
        ("Launch t0", "declared in settings, else the first signup"),
        ("Time to N users", "exact time of the N-th signup minus t0; not reached is censored"),
        ("WAU / MAU", "distinct users over the trailing 7 / 30 days (not sums of DAU)"),
    ]
    return Table(
        [{"name": name, "value": value} for name, value in rows],
        [("name", "Definition"), ("value", "Value")],
    )


def milestone_rows(inputs: ChartInputs, options: ViewOptions, platforms: Sequence[str]) -> Table:
    rows = milestone_table(inputs.table("milestones", options), platforms)
    columns = [("milestone", "Users"), *[(p, p) for p in platforms], ("ratio", "Ratio")]
    return Table(rows, columns, "Exact time from t0 to the N-th signup.")


def velocity_rows(inputs: ChartInputs, options: ViewOptions, platforms: Sequence[str]) -> Table:
    rows = []
    for platform in platforms:
        for grain in VELOCITY_GRAINS:
            stats = velocity_stats(inputs.table("signups", options), platform, grain)
            if stats is None:
                continue
            half = stats.half_life_hours
            rows.append(
                {
                    "platform": platform,
                    "grain": grain,
                    "peak": f"{stats.peak:,} per {grain}",
                    "after": format_duration(max(stats.peak_hours, 0.0)),
                    "peak_at": _when(stats.peak_at),
                    "half_life": format_duration(half) if half is not None else "not yet",
                }
            )
    columns = [
        ("platform", "Platform"),
        ("grain", "Bucket"),
        ("peak", "Peak signups"),
        ("after", "After t0"),
        ("peak_at", "Bucket start (UTC)"),
        ("half_life", "Half-life"),
    ]
    return Table(
        rows,
        columns,
        "Complete buckets only; half-life: from the peak hour until the hourly rate falls "
        "below half of it (the same at every grain).",
    )


def engagement_rows(inputs: ChartInputs, options: ViewOptions, platforms: Sequence[str]) -> Table:
    active = inputs.table("active", options)
    rows = []
    for platform in platforms:
        own = active.filter(pl.col("platform") == platform).sort("day")
        if own.is_empty():
            continue
        last = own.row(-1, named=True)
        peak = own.row(int(own["dau"].arg_max() or 0), named=True)
        rows.append(
            {
                "platform": platform,
                "day": str(last["day"]),
                "dau": last["dau"],
                "wau": last["wau"],
                "mau": last["mau"],
                "stickiness": f"{last['stickiness']:.1%}" if last["stickiness"] is not None else "",
                "warming_up": "yes" if last["warming_up"] else "no",
                "peak_dau": f"{peak['dau']:,} on {peak['day']}",
            }
        )
    columns = [
        ("platform", "Platform"),
        ("day", "Latest day"),
        ("dau", "DAU"),
        ("wau", "WAU"),
        ("mau", "MAU"),
        ("stickiness", "DAU/MAU"),
        ("warming_up", "Warming up"),
        ("peak_dau", "Peak DAU"),
    ]
    note = "Warming up: the 30-day window still reaches before t0, so MAU is understated."
    return Table(rows, columns, note)


def retention_rows(inputs: ChartInputs, options: ViewOptions, platforms: Sequence[str]) -> Table:
    mode = inputs.mode(options)
    rows = []
    for platform in platforms:
        curve = average_curve(inputs.table("retention", options), platform, "day", mode)
        shares = {int(r["period"]): r for r in curve.iter_rows(named=True)}
        row: Row = {"platform": platform}
        for day in RETENTION_DAYS:
            point = shares.get(day)
            row[f"day_{day}"] = (
                f"{point['share']:.1%} ({point['cohorts']} cohorts)" if point else NOT_OBSERVABLE
            )
        rows.append(row)
    columns = [("platform", "Platform"), *[(f"day_{d}", f"Day {d}") for d in RETENTION_DAYS]]
    label = RETENTION_MODE_LABELS.get(mode, mode)
    note = (
        f"Daily signup cohorts, retention mode “{label}”; averages include only the cohorts "
        "that reached the day."
    )
    return Table(rows, columns, note)


def forecast_rows(inputs: ChartInputs, platforms: Sequence[str]) -> Table:
    forecasts = inputs.table("forecasts")
    t0s = dict(inputs.table("platforms").select("platform", "t0").iter_rows())
    rows = []
    for platform in platforms:
        own = forecasts.filter(pl.col("platform") == platform)
        if own.filter(pl.col("model") == ENSEMBLE).height:
            own = own.filter(pl.col("model") == ENSEMBLE)
        for row in own.sort("model", "users").iter_rows(named=True):
            rows.append(_forecast_row(row, t0s.get(platform)))
    columns = [
        ("platform", "Platform"),
        ("model", "Model"),
        ("users", "Milestone"),
        ("eta", "Expected (UTC)"),
        ("after", "After t0"),
        ("interval", "Interval"),
        ("p_never", "P(never)"),
    ]
    return Table(rows, columns, "The ensemble of fitted models where the snapshot has one.")


def _forecast_row(row: Row, t0: datetime | None) -> Row:
    def after(at: datetime | None) -> str:
        return format_duration((at - t0).total_seconds() / 3600) if at and t0 else "?"

    low = after(row["eta_low"]) if row["eta_low"] else "?"
    high = after(row["eta_high"]) if row["eta_high"] else "never"
    return {
        "platform": row["platform"],
        "model": row["model"],
        "users": format_users(row["users"]),
        "eta": _when(row["eta"]) if row["eta"] else "may never be reached",
        "after": after(row["eta"]) if row["eta"] else "",
        "interval": f"{low} to {high}" if row["eta"] else "",
        "p_never": f"{row['p_never']:.0%}" if row["p_never"] is not None else "",
    }


def model_rows(inputs: ChartInputs, platforms: Sequence[str]) -> Table:
    columns = [
        ("platform", "Platform"),
        ("model", "Model"),
        ("aic", "AIC"),
        ("akaike_weight", "Akaike weight"),
        ("rmse", "RMSE"),
        ("ceiling", "Ceiling"),
    ]
    return Table(model_table(inputs.table("fits"), platforms), columns)


def health_rows(inputs: ChartInputs) -> Table:
    fresh = freshness(inputs.table("runs"), inputs.definitions)
    rows = [
        ("Runs recorded", fresh["runs"]),
        ("Last run finished (UTC)", _when(fresh["last_run"]) if fresh["last_run"] else "none"),
        ("Last run status", fresh["last_status"] or ""),
        ("Rows read", fresh.get("rows_read", 0)),
        ("Rows loaded", fresh.get("rows_loaded", 0)),
        ("Duplicates", fresh.get("rows_duplicate", 0)),
        ("Quarantined", fresh.get("rows_quarantined", 0)),
    ]
    return Table([{"name": n, "value": v} for n, v in rows], [("name", "Runs"), ("value", "Value")])


def key_numbers(inputs: ChartInputs, options: ViewOptions) -> dict[str, list[Table]]:
    """Section id -> the tables of key numbers it shows."""
    chosen = inputs.platforms(options)
    return {
        "summary": [platform_rows(inputs, chosen)],
        "definitions": [definition_rows(inputs, options)],
        "launch-race": [],
        "milestones": [milestone_rows(inputs, options, chosen)],
        "velocity": [velocity_rows(inputs, options, chosen)],
        "engagement": [engagement_rows(inputs, options, chosen)],
        "retention": [retention_rows(inputs, options, chosen)],
        "forecasts": [forecast_rows(inputs, chosen), model_rows(inputs, chosen)],
        "migration": [],
        "data-health": [health_rows(inputs)],
    }


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else str(value or "")


def _signup_sources(sources: Any) -> str:
    """Where each platform's signups come from: signup events, or derived from usage."""
    if not isinstance(sources, dict) or not sources:
        return "signup events"
    derived = "; ".join(
        f"{name}: first event" if source == "first-seen" else f"{name}: {source.split(':', 1)[1]}"
        for name, source in sorted(sources.items())
    )
    return f"signup events; derived from usage for {derived}"


def _text(value: Any, default: str) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or default
    return str(value or default)


# --- HTML -----------------------------------------------------------------------------------

# Autoescaped: every value in the page is escaped unless it is Markup (the chart markup).
TEMPLATES = Environment(
    loader=PackageLoader("dashboard", "templates"),
    autoescape=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
)
ChartHtml = Callable[[str, go.Figure], Markup]


def _report_template() -> Template:
    return TEMPLATES.get_template("report.html.j2")


def _figure_macros() -> Any:
    return TEMPLATES.get_template("report_figure.html.j2").module


def live_chart(name: str, fig: go.Figure) -> Markup:
    """A plotly div drawn by the page's single inlined plotly.js."""
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        config=HTML_CONFIG,
        div_id=f"chart-{name}",
        default_height=f"{fig.layout.height or 480}px",
    )
    return Markup(_figure_macros().live_figure(name, Markup(div)))


def svg_chart(
    renderer: StaticRenderer, figures: Mapping[str, Sequence[go.Figure]] | None = None
) -> ChartHtml:
    """Charts as vector SVG images drawn by kaleido (for printing to PDF). With `figures`,
    all of them are drawn first in one batch through the browser; others on demand."""
    drawn: dict[int, bytes] = {}
    if figures:
        every = [fig for figs in figures.values() for fig in figs]
        images = (StaticImage(fig, "svg", DEFAULT_WIDTH, _height(fig)) for fig in every)
        drawn = {id(fig): svg for fig, svg in zip(every, renderer.render_many(images), strict=True)}

    def draw(name: str, fig: go.Figure) -> Markup:
        svg = drawn.get(id(fig))
        if svg is None:
            svg = renderer.render(fig, "svg", width=DEFAULT_WIDTH, height=_height(fig))
        checked(name, "svg", svg)
        alt = str(fig.layout.title.text or name)
        data = base64.b64encode(svg).decode()
        return Markup(_figure_macros().image_figure(name, alt, data))

    return draw


def _height(fig: go.Figure) -> int:
    return int(fig.layout.height or 480)


def report_figures(inputs: ChartInputs, options: ViewOptions) -> dict[str, list[go.Figure]]:
    """Chart name -> its figures in the report (one retention heatmap per platform)."""
    figures: dict[str, list[go.Figure]] = {}
    for name in CHARTS:
        if name == "retention-heatmap":
            figures[name] = [
                build_chart(name, inputs, _heatmap_view(options, p))
                for p in inputs.platforms(options)
            ]
        else:
            figures[name] = [build_chart(name, inputs, options)]
    k = suppressed_by(inputs)
    for figs in figures.values():
        for fig in figs:
            note_suppression(fig, k)
    return figures


def _heatmap_view(options: ViewOptions, platform: str) -> ViewOptions:
    return replace(options, heatmap_platform=platform)


def report_html(
    inputs: ChartInputs,
    options: ViewOptions,
    *,
    chart_html: ChartHtml = live_chart,
    figures: Mapping[str, Sequence[go.Figure]] | None = None,
) -> str:
    """The whole report as one HTML page (plotly.js inlined once when charts are live);
    `figures` are report_figures(inputs, options) when the caller has built them already."""
    numbers = key_numbers(inputs, options)
    figures = report_figures(inputs, options) if figures is None else figures
    sections = [
        {
            "id": section_id,
            "heading": heading,
            "tables": numbers[section_id],
            "charts": [chart_html(name, fig) for name in charts for fig in figures[name]],
        }
        for section_id, heading, charts in SECTIONS
    ]
    script = Markup(f"<script>{get_plotlyjs()}</script>") if chart_html is live_chart else ""
    return _report_template().render(**_header(inputs, options), script=script, sections=sections)


def _header(inputs: ChartInputs, options: ViewOptions) -> dict[str, Any]:
    """What the page's title and header line say."""
    chosen = inputs.platforms(options)
    d = inputs.definitions
    k = suppressed_by(inputs)
    return {
        "title": f"Uptake report: {', '.join(chosen) or 'no platforms'}",
        "launch": headline(inputs.table("milestones", options), chosen),
        "watermark": f"{_when(d.watermark)} UTC" if d.watermark else "unknown",
        "timezone": d.timezone,
        "week_start": d.week_start.capitalize(),
        "snapshot_id": inputs.snapshot.id,
        "time_range": inputs.definitions_for(options).time_range,
        "suppression": suppression_note(k) if k else None,
    }


# --- files ----------------------------------------------------------------------------------


def build_report(
    settings: Settings,
    out: Path,
    platforms: Sequence[str] = (),
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    suppress_below: int | None = None,
    view: Callable[[ChartInputs], ViewOptions] | None = None,
) -> Path:
    """Write the report of the live snapshot to `out` (.html or .pdf) and return the path;
    cells of fewer than `suppress_below` users (else the setting) are hidden. `view` gives
    the dashboard view to report (time range, scale, grains, mode: `uptake report --view`);
    without it, the default view of `platforms`.

    `uptake run --report PATH` calls this after publishing."""
    out = Path(out)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("html", "pdf"):
        raise ExportError(f"report file {out} must end in .html or .pdf, not {out.suffix!r}")
    inputs = chart_inputs(settings, suppress_below)
    options = view(inputs) if view is not None else view_for(inputs, platforms)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "html":
        _write_text(out, report_html(inputs, options))
        return out
    figures = report_figures(inputs, options)
    with StaticRenderer(timeout_s) as renderer:  # every chart's SVG in one batch
        page = report_html(
            inputs, options, chart_html=svg_chart(renderer, figures), figures=figures
        )
    with tempfile.TemporaryDirectory(prefix="uptake-report-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(page, encoding="utf-8")
        print_pdf(source, out, timeout_s=max(timeout_s, PDF_TIMEOUT_S))
    return out


def _write_text(out: Path, text: str) -> None:
    payload = text.encode("utf-8")
    try:
        check_payload("html", payload)
    except InvalidExportError as error:
        raise InvalidExportError(f"report {out}: {error}; nothing was written") from None
    write_file(out, payload)


def print_pdf(source: Path, out: Path, *, timeout_s: float = PDF_TIMEOUT_S) -> Path:
    """Print an HTML file to PDF with headless Chromium (its own profile, killed on timeout)."""
    browser = find_chromium()
    with (
        pending_file(out) as pending,
        tempfile.TemporaryDirectory(prefix="uptake-chromium-") as profile,
    ):
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-pdf-header-footer",
            "--generate-pdf-document-outline",  # bookmarks: one per section
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pending}",
            source.resolve().as_uri(),
        ]
        _run_browser(command, timeout_s)
        if not pending.exists():
            raise ExportError(f"Chromium did not write a PDF to {out} (ran: {' '.join(command)})")
        try:
            check_payload("pdf", pending.read_bytes())
        except InvalidExportError as error:
            raise InvalidExportError(f"report {out}: {error}; nothing was written") from None
    return out


def _run_browser(command: list[str], timeout_s: float) -> None:
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so a hang can be killed whole
    )
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ExportTimeoutError(
            f"Chromium did not print the report within {timeout_s:g} s and was stopped"
        ) from None
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ExportError(f"Chromium failed to print the report: {' / '.join(tail)}")
