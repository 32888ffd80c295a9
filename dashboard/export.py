"""One chart of the dashboard to a file: PNG, SVG or PDF (kaleido with a headless Chromium),
self-contained HTML, or CSV of the snapshot rows behind the chart.

Charts come from `dashboard.charts.CHARTS`, the registry the app's callbacks use, so an
export looks exactly like the dashboard. The definitions caption (reporting timezone, week
start, retention mode, data watermark) is drawn in every figure, so PNG, SVG, PDF and HTML
carry it; a CSV carries it as leading `# ` comment lines above the header (read it with
`pl.read_csv(path, comment_prefix="#")` or `pandas.read_csv(path, comment="#")`).

Static formats share one persistent Chromium per `StaticRenderer` (kaleido's sync server):
starting Chromium takes seconds, each image after that a fraction of one. Each static export
has a deadline; a browser that hangs is killed and reported as `ExportTimeoutError`."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.data import (
    Snapshot,
    SnapshotError,
    SnapshotReader,
    load_reported_milestones,
    reference_milestones_path,
)
from dashboard.errors import ChromiumMissingError, ExportError, ExportTimeoutError
from dashboard.figures.common import RETENTION_MODE_LABELS, caption_of
from dashboard.suppression import SuppressedInputs, note_suppression, suppressed_by
from etl.config import Settings

logger = logging.getLogger(__name__)
FORMATS = ("png", "svg", "pdf", "html", "csv")
STATIC_FORMATS = ("png", "svg", "pdf")
MEDIA_TYPES = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
}
DEFAULT_WIDTH = 1200
DEFAULT_HEIGHT = 600
DEFAULT_TIMEOUT_S = 60.0
HTML_CONFIG = {"displaylogo": False, "responsive": True}
# kaleido's sync server is one per process and pairs requests with replies through shared
# queues, so concurrent callers (the app's worker threads) must take turns.
_ONE_AT_A_TIME = threading.Lock()


# --- the data behind each chart -------------------------------------------------------------


@dataclass(frozen=True)
class ChartData:
    """Which snapshot table a chart draws, and which of its rows the current view uses."""

    table: str
    rows: Callable[[ChartInputs, ViewOptions, pl.DataFrame], pl.Expr]
    note: str


def _of_platforms(i: ChartInputs, o: ViewOptions, _: pl.DataFrame) -> pl.Expr:
    return pl.col("platform").is_in(i.platforms(o))


def _heatmap_platform(i: ChartInputs, o: ViewOptions) -> str:
    chosen = i.platforms(o)
    if o.heatmap_platform in chosen:
        return str(o.heatmap_platform)
    return chosen[0] if chosen else ""


CHART_DATA: dict[str, ChartData] = {
    "launch-race": ChartData(
        "signups", _of_platforms, "signups per bucket, every grain (the curve joins them)"
    ),
    "milestones": ChartData("milestones", _of_platforms, "time from t0 to each milestone"),
    "velocity": ChartData(
        "signups",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("grain") == o.grain),
        "signups per bucket of the chosen grain",
    ),
    "hour-of-day": ChartData(
        "signups",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("grain") == "hour"),
        "hourly signups the hour-of-day shares are computed from",
    ),
    "active-users": ChartData("active", _of_platforms, "DAU, rolling WAU and MAU per day"),
    "stickiness": ChartData("active", _of_platforms, "DAU/MAU per day"),
    "lifecycle": ChartData(
        "lifecycle",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("grain") == o.lifecycle_grain),
        "growth accounting per bucket of the chosen grain",
    ),
    "retention-heatmap": ChartData(
        "retention",
        lambda i, o, t: (
            (pl.col("platform") == _heatmap_platform(i, o))
            & (pl.col("cohort_grain") == o.cohort_grain)
        ),
        "retained users per cohort and period (blank: not yet observable)",
    ),
    "retention-curves": ChartData(
        "retention",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("cohort_grain") == o.cohort_grain),
        "retained users per cohort and period (blank: not yet observable)",
    ),
    "forecast": ChartData("forecasts", _of_platforms, "forecast time to the next milestones"),
    "channel-mix": ChartData(
        "channels",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("grain") == "day"),
        "signups, retention and activation per day and acquisition channel",
    ),
    "overlap": ChartData(
        "overlap",
        lambda i, o, t: _of_platforms(i, o, t) & pl.col("other_platform").is_in(i.platforms(o)),
        "people on both platforms of each ordered pair, who was first, signup lag",
    ),
    "migration-share": ChartData(
        "migration",
        lambda i, o, t: _of_platforms(i, o, t) & pl.col("from_platform").is_in(i.platforms(o)),
        "migrants per day and flow, and their share of the day's signups",
    ),
    "migrant-activity": ChartData(
        "migrant_activity",
        lambda i, o, t: _of_platforms(i, o, t) & pl.col("from_platform").is_in(i.platforms(o)),
        "migrants active on the old platform, the new one, both or neither, by day",
    ),
    "runs": ChartData("runs", lambda i, o, t: pl.lit(True), "ETL runs behind the snapshot"),
}


def chart_rows(inputs: ChartInputs, chart: str, options: ViewOptions) -> pl.DataFrame:
    """The snapshot rows the chart draws in this view, in the snapshot's order."""
    spec = CHART_DATA[check_chart(chart)]
    table = inputs.table(spec.table)
    return table.filter(spec.rows(inputs, options, table))


def definition_lines(inputs: ChartInputs, options: ViewOptions, fig: go.Figure) -> list[str]:
    """The caption and metric definitions of an export, as plain text lines."""
    d = inputs.definitions
    mode = inputs.mode(options)
    watermark = f"{d.watermark:%Y-%m-%d %H:%M:%S} UTC" if d.watermark else "unknown"
    return [
        f"title: {_plain(fig.layout.title.text)}",
        f"caption: {caption_of(fig)}",
        f"reporting timezone: {d.timezone}",
        f"week start: {d.week_start.capitalize()}",
        f"retention mode: {RETENTION_MODE_LABELS.get(mode, mode)}",
        f"data watermark: {watermark}",
        f"snapshot: {inputs.snapshot.id}",
        f"platforms: {', '.join(inputs.platforms(options)) or '(none)'}",
    ]


def chart_csv(inputs: ChartInputs, chart: str, options: ViewOptions) -> str:
    """CSV of the rows behind the chart, after `# ` comment lines with its definitions."""
    fig = shared_chart(inputs, chart, options)
    spec = CHART_DATA[chart]
    lines = [
        f"chart: {chart}",
        *definition_lines(inputs, options, fig),
        f"table: {spec.table} ({spec.note}); timestamps in UTC",
    ]
    header = "".join(f"# {line}\n" for line in lines)
    return header + chart_rows(inputs, chart, options).write_csv()


def shared_chart(inputs: ChartInputs, chart: str, options: ViewOptions) -> go.Figure:
    """The chart as shared in a file: with small cells hidden, its caption says so."""
    fig = build_chart(check_chart(chart), inputs, options)
    return note_suppression(fig, suppressed_by(inputs))


def _plain(text: Any) -> str:
    return str(text or "").replace("<br>", " · ")


# --- HTML -----------------------------------------------------------------------------------


def sized(fig: go.Figure, width: int | None, height: int | None) -> go.Figure:
    """A copy of `fig` with a fixed size where one is given."""
    copy = go.Figure(fig)
    if width:
        copy.update_layout(width=width)
    if height:
        copy.update_layout(height=height)
    return copy


def figure_html(fig: go.Figure, *, width: int | None = None, height: int | None = None) -> str:
    """A self-contained HTML page of one figure: plotly.js inlined, nothing fetched online."""
    shown = sized(fig, width, height)
    body = shown.to_html(
        include_plotlyjs=True,
        full_html=False,
        config=HTML_CONFIG,
        default_height=f"{shown.layout.height or DEFAULT_HEIGHT}px",
    )
    title = _plain(fig.layout.title.text)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_escape(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- static images through one persistent Chromium ------------------------------------------


def find_chromium() -> str:
    """The browser kaleido will start (BROWSER_PATH first, then the usual names and places);
    ChromiumMissingError with the install command when there is none."""
    from choreographer.browsers.chromium import Chromium

    path = Chromium.find_browser(skip_local=False)
    if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
        raise ChromiumMissingError(str(path) if path else None)
    return str(path)


class StaticRenderer:
    """PNG, SVG and PDF bytes of figures from one headless Chromium, started on first use and
    stopped on exit; each image has a deadline of `timeout_s` seconds.

        with StaticRenderer() as renderer:
            for name in CHARTS:
                export_chart(inputs, name, out / f"{name}.png", renderer=renderer)
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._started = False
        self._owner = False  # stop the server at exit only if this renderer started it
        self._broken: str | None = None

    def __enter__(self) -> StaticRenderer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the persistent browser (checks first that there is one to start)."""
        if self._started:
            return
        import kaleido
        from kaleido import _sync_server

        find_chromium()  # a missing browser would otherwise kill kaleido's server thread
        self._owner = not _sync_server.GlobalKaleidoServer().is_running()
        kaleido.start_sync_server(mathjax=False, timeout=self.timeout_s, silence_warnings=True)
        self._started = True

    def stop(self) -> None:
        if self._started and self._owner and not self._broken:
            import kaleido

            _within(5.0, lambda: kaleido.stop_sync_server(silence_warnings=True))
        self._started = False

    def render(
        self, fig: go.Figure, fmt: str, *, width: int, height: int, scale: float = 1.0
    ) -> bytes:
        """The figure as `fmt` bytes; ExportTimeoutError when it takes over `timeout_s`."""
        if fmt not in STATIC_FORMATS:
            raise ExportError(f"{fmt!r} is not a static format; expected one of {STATIC_FORMATS}")
        if self._broken:
            raise ExportTimeoutError(self._broken)
        opts = {"format": fmt, "width": width, "height": height, "scale": scale}
        figure = fig.to_dict()
        with _ONE_AT_A_TIME:
            self.start()
            done, result = _within(self.timeout_s, lambda: _calc_fig(figure, opts))
        if not done:
            self._abandon()
            raise ExportTimeoutError(self._broken)
        if isinstance(result, BaseException):
            raise _explain(result, self.timeout_s) from result
        return bytes(result)

    def _abandon(self) -> None:
        """The browser hung: kill it, so the process can exit and the next batch starts clean."""
        self._broken = (
            f"a static export did not finish within {self.timeout_s:g} s; the browser was "
            "stopped. Retry, or raise the timeout (--timeout) for very large charts."
        )
        _quiet_server_thread()
        _kill_own_browsers()
        import kaleido

        _within(5.0, lambda: kaleido.stop_sync_server(silence_warnings=True))


def _calc_fig(figure: dict[str, Any], opts: dict[str, Any]) -> bytes:
    import kaleido

    return bytes(kaleido.calc_fig_sync(figure, opts=opts))


def _within(seconds: float, work: Callable[[], Any]) -> tuple[bool, Any]:
    """Run `work` in a daemon thread; (finished in time, its result or exception)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who explains it
            box["result"] = exc

    thread = threading.Thread(target=run, name="uptake-export", daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive(), box.get("result"))


def _explain(error: BaseException, timeout_s: float) -> BaseException:
    """Kaleido's errors in Uptake's words (missing browser, kaleido's own render timeout)."""
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return ExportTimeoutError(
            f"a static export did not finish within {timeout_s:g} s (kaleido's render timeout)"
        )
    if "Chrome" in str(error) or type(error).__name__ == "ChromeNotFoundError":
        return ChromiumMissingError()
    return error


def _quiet_server_thread() -> None:
    """Kaleido's server thread dies with a traceback when its browser is killed; the user
    already has the timeout error, so log that traceback instead of printing it."""
    from kaleido import _sync_server

    server_thread = getattr(_sync_server.GlobalKaleidoServer(), "_thread", None)
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if server_thread is not None and args.thread is server_thread:
            logger.debug("kaleido server thread ended after a timeout: %r", args.exc_value)
            return
        previous(args)

    threading.excepthook = hook


def _kill_own_browsers() -> None:
    """Kill the headless browsers this process started (their own sessions, by process id)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"--remote-debugging-pipe" in cmdline:
            try:
                os.killpg(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue


# --- one chart to a file --------------------------------------------------------------------


_AXIS_RANGE = re.compile(r"^([xy]axis\d*)\.(autorange|range(?:\[([01])\])?)$")


def apply_relayout(fig: go.Figure, relayout: Mapping[str, Any] | None) -> go.Figure:
    """The figure with the axis ranges a user zoomed to in the dashboard (plotly sends
    `{"xaxis.range[0]": a, "xaxis.range[1]": b}`, `{"xaxis.range": [a, b]}` or
    `{"xaxis.autorange": true}`); other keys (drag mode, legend clicks) are ignored."""
    axes: dict[str, dict[str, Any]] = {}
    for key, value in (relayout or {}).items():
        match = _AXIS_RANGE.match(key)
        if match is None:
            continue
        axis, prop, index = match.groups()
        if prop == "autorange":
            axes.setdefault(axis, {})["autorange"] = bool(value)
        elif index is None:
            axes.setdefault(axis, {})["range"] = list(value)
        else:
            bounds = axes.setdefault(axis, {}).setdefault("range", [None, None])
            bounds[int(index)] = value
    if not axes:
        return fig
    zoomed = go.Figure(fig)
    zoomed.update_layout({axis: {**props, **_fixed(props)} for axis, props in axes.items()})
    return zoomed


def _fixed(props: Mapping[str, Any]) -> dict[str, Any]:
    """A zoomed range replaces autorange."""
    return {"autorange": False} if props.get("range") else {}


def check_chart(chart: str) -> str:
    if chart not in CHARTS:
        raise ExportError(f"unknown chart {chart!r}; charts: {', '.join(CHARTS)}")
    return chart


def check_format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt


def view_for(inputs: ChartInputs, platforms: Sequence[str] = ()) -> ViewOptions:
    """The dashboard's default view of the given platforms (all when none are given)."""
    known = inputs.snapshot.platform_names
    unknown = [p for p in platforms if p not in known]
    if unknown:
        raise ExportError(
            f"unknown platform {', '.join(unknown)}; the snapshot has {', '.join(known)}"
        )
    return ViewOptions(platforms=tuple(platforms))


def chart_bytes(
    inputs: ChartInputs,
    chart: str,
    fmt: str,
    options: ViewOptions,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
    renderer: StaticRenderer | None = None,
    relayout: Mapping[str, Any] | None = None,
) -> bytes:
    """The chart in `fmt` as bytes (what the dashboard's download buttons send); `relayout`
    is the dashboard graph's zoom (plotly relayoutData), applied to images and HTML."""
    fmt = check_format(fmt)
    if fmt == "csv":
        return chart_csv(inputs, chart, options).encode()
    fig = apply_relayout(shared_chart(inputs, chart, options), relayout)
    if fmt == "html":
        return figure_html(fig, width=width, height=height).encode()
    size = {"width": width or DEFAULT_WIDTH, "height": height or fig.layout.height or 600}
    if renderer is not None:
        return renderer.render(fig, fmt, scale=scale, **size)
    with StaticRenderer() as own:
        return own.render(fig, fmt, scale=scale, **size)


def export_chart(
    data: ChartInputs | Snapshot,
    chart: str,
    out: Path,
    *,
    fmt: str | None = None,
    platforms: Sequence[str] = (),
    options: ViewOptions | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
    renderer: StaticRenderer | None = None,
) -> Path:
    """Write one chart to `out` (format from `fmt`, else from the file suffix) and return
    the path. `options` (the dashboard's view) wins over `platforms`."""
    inputs = data if isinstance(data, ChartInputs) else ChartInputs(data)
    fmt = check_format(fmt or Path(out).suffix or "png")
    view = options or view_for(inputs, platforms)
    payload = chart_bytes(
        inputs, chart, fmt, view, width=width, height=height, scale=scale, renderer=renderer
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(out.name + ".part")
    pending.write_bytes(payload)
    pending.replace(out)  # never leave a half-written file under the final name
    return out


def chart_inputs(settings: Settings, suppress_below: int | None = None) -> ChartInputs:
    """The live snapshot with the colour settings and reported milestones, as the app sees it;
    cells of fewer than `suppress_below` users (else the setting; 0: none) are hidden."""
    try:
        snapshot = SnapshotReader(settings.serving).current()
    except SnapshotError as exc:
        raise ExportError(str(exc)) from exc
    if snapshot is None:
        raise ExportError(
            f"no snapshot published under {settings.serving}: run `uptake run` first "
            "(or `uptake demo` to try a simulated launch)"
        )
    colours = {name: p.colour for name, p in settings.platforms.items()}
    reported = load_reported_milestones(reference_milestones_path(settings.home))
    k = settings.suppress_below if suppress_below is None else suppress_below
    if k > 0:
        return SuppressedInputs(snapshot, colours, reported, suppress_below=k)
    return ChartInputs(snapshot, colour_overrides=colours, reported=reported)
