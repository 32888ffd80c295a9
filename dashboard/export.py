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
import atexit
import concurrent.futures
import contextlib
import logging
import os
import re
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import kaleido
import plotly.graph_objects as go
import polars as pl
from choreographer.browsers.chromium import Chromium

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.data import load_reported_milestones, reference_milestones_path
from dashboard.errors import (
    ChromiumMissingError,
    ExportError,
    ExportTimeoutError,
    InvalidExportError,
)
from dashboard.figures.common import RETENTION_MODE_LABELS, caption_of
from dashboard.figures.retention import heatmap_rows
from dashboard.suppression import SuppressedInputs, note_suppression, suppressed_by
from dashboard.validation import check_payload
from etl.config import Settings
from etl.errors import SnapshotError
from etl.snapshot import Snapshot, SnapshotReader

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
RELOAD_EVERY = 100  # images per page load of the browser's tab (see _kaleido_class)


# --- the data behind each chart -------------------------------------------------------------


@dataclass(frozen=True)
class ChartData:
    """Which snapshot table a chart draws, and which of its rows the current view uses."""

    table: str
    rows: Callable[[ChartInputs, ViewOptions, pl.DataFrame], pl.Expr]
    note: str


def _of_platforms(i: ChartInputs, o: ViewOptions, _: pl.DataFrame) -> pl.Expr:
    return pl.col("platform").is_in(i.platforms(o))


def _of_pairs(i: ChartInputs, o: ViewOptions, other: str) -> pl.Expr:
    both = i.pair_platforms(o)
    return pl.col("platform").is_in(both) & pl.col(other).is_in(both)


def _heatmap_cohorts(i: ChartInputs, o: ViewOptions, t: pl.DataFrame) -> pl.Expr:
    """The cohorts the heatmap draws (a long history: its latest week cohorts)."""
    rows = heatmap_rows(t, i.heatmap_platform(o), o.cohort_grain)
    return (pl.col("cohort_grain") == rows.grain) & pl.col("cohort_start").is_in(rows.cohorts)


CHART_DATA: dict[str, ChartData] = {
    "launch-race": ChartData(
        "signups",
        lambda i, o, t: _of_platforms(i, o, t) & (pl.col("grain") == "hour"),
        "signups and cumulative signups per hour (one grain: the rows sum without overlap)",
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
        lambda i, o, t: (pl.col("platform") == i.heatmap_platform(o)) & _heatmap_cohorts(i, o, t),
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
        lambda i, o, t: _of_pairs(i, o, "other_platform"),
        "people on both platforms of each ordered pair, who was first, signup lag",
    ),
    "migration-share": ChartData(
        "migration",
        lambda i, o, t: _of_pairs(i, o, "from_platform"),
        "migrants per day and flow, and their share of the day's signups",
    ),
    "migrant-activity": ChartData(
        "migrant_activity",
        lambda i, o, t: _of_pairs(i, o, "from_platform"),
        "migrants active on the old platform, the new one, both or neither, by day",
    ),
    "runs": ChartData("runs", lambda i, o, t: pl.lit(True), "ETL runs behind the snapshot"),
}


# The columns a chart's CSV is sorted by, where the table has them: platform(s), then time.
SORT_COLUMNS = (
    "platform",
    "other_platform",
    "from_platform",
    "grain",
    "cohort_grain",
    "bucket_start",
    "day",
    "cohort_start",
    "cohort_day",
    "period",
    "channel",
    "users",
    "model",
    "started_at",
)


def chart_rows(inputs: ChartInputs, chart: str, options: ViewOptions) -> pl.DataFrame:
    """The snapshot rows the chart draws in this view, sorted by platform and time."""
    spec = CHART_DATA[check_chart(chart)]
    table = inputs.table(spec.table, options)  # inside the view's time range, if any
    rows = table.filter(spec.rows(inputs, options, table))
    keys = [c for c in SORT_COLUMNS if c in rows.columns]
    return rows.sort(keys, maintain_order=True) if keys else rows


def definition_lines(inputs: ChartInputs, options: ViewOptions, fig: go.Figure) -> list[str]:
    """The caption and metric definitions of an export, as plain text lines."""
    d = inputs.definitions_for(options)
    mode = inputs.mode(options)
    watermark = f"{d.watermark:%Y-%m-%d %H:%M:%S} UTC" if d.watermark else "unknown"
    return [
        f"title: {_plain(fig.layout.title.text)}",
        f"caption: {caption_of(fig)}",
        f"reporting timezone: {d.timezone}",
        f"week start: {d.week_start.capitalize()}",
        f"retention mode: {RETENTION_MODE_LABELS.get(mode, mode)}",
        f"time range: {d.time_range or 'all data'}",
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
    path = Chromium.find_browser(skip_local=False)
    if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
        raise ChromiumMissingError(str(path) if path else None)
    return str(path)


@dataclass(frozen=True)
class StaticImage:
    """One image to draw: a figure, a static format and its size in CSS pixels."""

    figure: go.Figure
    fmt: str
    width: int
    height: int
    scale: float = 1.0

    def opts(self) -> dict[str, Any]:
        return {"format": self.fmt, "width": self.width, "height": self.height, "scale": self.scale}


def _kaleido_class(reuse_page: bool) -> type[Any]:
    """kaleido's browser class; with `reuse_page`, one that keeps its page between images.

    Stock kaleido 1.x reloads its page after every image, which re-parses all of
    plotly.js: most of a small chart's cost (benchmarks/RESULTS.md, "Export"). Its
    page script (`kaleido_scopes.plotly`) draws each figure with `Plotly.toImage` into a
    fresh detached div that plotly purges afterwards, so nothing of one figure is left for
    the next; a PDF sets the page size and image before it prints. The page is still
    reloaded every `RELOAD_EVERY` images (a bound on whatever a long-lived page gathers)
    and after a failed image. This overrides three private methods of kaleido 1.5
    (`_get_kaleido_tab`, `_return_kaleido_tab`, `_render_task`); if a later kaleido lacks
    them, the stock class (reload per image) is used: slower, never wrong. kaleido's
    public sync server was not used instead: docs/ARCHITECTURE.md says why."""
    base: type[Any] = kaleido.Kaleido
    if not reuse_page or not all(
        hasattr(base, name) for name in ("_get_kaleido_tab", "_return_kaleido_tab", "_render_task")
    ):
        return base

    class PageReusingKaleido(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.uses: dict[int, int] = {}  # images drawn per tab since its last (re)load
            self.stale: set[int] = set()

        async def _get_kaleido_tab(self) -> Any:
            tab = await super()._get_kaleido_tab()
            key = id(tab)
            if key in self.stale or self.uses.get(key, 0) >= RELOAD_EVERY:
                await tab.reload()
                self.stale.discard(key)
                self.uses[key] = 0
            self.uses[key] = self.uses.get(key, 0) + 1
            return tab

        async def _return_kaleido_tab(self, tab: Any) -> None:
            await self.tabs_ready.put(tab)  # no reload: the page is reused

        async def _render_task(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super()._render_task(*args, **kwargs)
            except BaseException:
                self.stale.update(self.uses)  # a failed image: fresh pages from here on
                raise

    return PageReusingKaleido


class _Browser:
    """One kaleido browser (headless Chromium) driven by an event loop on its own thread.

    Callers in any thread submit figures and get `concurrent.futures.Future`s back, so
    several images can be queued at once (kaleido hands them to its tabs in order) and the
    caller can build the next figure while the browser draws the previous one."""

    def __init__(self, *, reuse_page: bool, tabs: int) -> None:
        self.reuse_page = reuse_page
        self.tabs = tabs
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_log_loop_error)
        self.thread = threading.Thread(target=self._run, name="uptake-chromium", daemon=True)
        self.kaleido: Any = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        except Exception:  # a killed browser must not print a traceback
            logger.debug("Chromium event loop ended", exc_info=True)

    def open(self, timeout_s: float) -> None:
        """Start Chromium and load kaleido's page; ExportTimeoutError after `timeout_s`."""
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._open(), self.loop)
        try:
            future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            self.kill()
            raise ExportTimeoutError(
                f"Chromium did not start within {timeout_s:g} s and was stopped"
            ) from None
        except Exception as exc:
            self.kill()
            raise _explain(exc, timeout_s) from exc

    async def _open(self) -> None:
        cls = _kaleido_class(self.reuse_page)
        # plotly.js from the installed plotly package (a local file), no MathJax (a CDN)
        self.kaleido = cls(n=self.tabs, timeout=None, mathjax=False)
        await self.kaleido.open()

    def submit(self, image: StaticImage) -> concurrent.futures.Future[bytes]:
        figure = image.figure.to_dict()
        return asyncio.run_coroutine_threadsafe(
            self.kaleido.calc_fig(figure, opts=image.opts()), self.loop
        )

    def close(self, timeout_s: float = 5.0) -> None:
        """Close Chromium cleanly, or kill it when that takes over `timeout_s`."""
        if self.kaleido is not None and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.kaleido.close(), self.loop)
            try:
                future.result(timeout_s)
            except Exception:  # a browser that will not close is killed
                logger.debug("Chromium did not close cleanly; killing it", exc_info=True)
                self.kill()
                return
        self._stop_loop()

    def kill(self) -> None:
        """Kill Chromium's process group (and any browser this process started)."""
        process = getattr(self.kaleido, "subprocess", None)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        _kill_own_browsers()
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(2.0)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and self.kaleido is not None


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Errors of the browser's own tasks (its watchdog after a kill) are logged, not printed:
    the caller already has an ExportError or ExportTimeoutError."""
    error = context.get("exception")
    logger.debug("Chromium event loop: %s", context.get("message"), exc_info=error)


class _Process:
    """The process's one browser, shared by every StaticRenderer (the app's worker threads
    too), and the lock that starts and stops it."""

    browser: _Browser | None = None
    lock = threading.Lock()


def _close_shared_at_exit() -> None:
    browser, _Process.browser = _Process.browser, None
    if browser is not None:
        browser.close(2.0)


atexit.register(_close_shared_at_exit)


class StaticRenderer:
    """PNG, SVG and PDF bytes of figures from the process's one headless Chromium, started on
    first use and stopped on exit by the renderer that started it. Each image has a
    deadline of `timeout_s` seconds; a browser that misses it is killed.

        with StaticRenderer() as renderer:
            images = [StaticImage(fig, "png", 1200, 600) for fig in figures]
            for png in renderer.render_many(images):  # one batch: one queue, no waits between
                ...

    `reuse_page=False` is stock kaleido (its page reloaded after every image), kept to
    measure against; `tabs` > 1 draws that many images at once."""

    def __init__(
        self, timeout_s: float = DEFAULT_TIMEOUT_S, *, reuse_page: bool = True, tabs: int = 1
    ) -> None:
        self.timeout_s = timeout_s
        self.reuse_page = reuse_page
        self.tabs = tabs
        self._browser: _Browser | None = None
        self._owner = False  # stop the browser at exit only if this renderer started it
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
        """Start the process's browser unless it runs (checks first that there is one)."""
        with _Process.lock:
            shared = _Process.browser
            if self._browser is not None and self._browser is shared and shared.alive:
                return
            # Checked on each renderer's first use, even when the process's browser runs:
            # a clear message instead of kaleido's get_chrome advice, the same in every case.
            find_chromium()
            if shared is not None and shared.alive:
                self._browser, self._owner = shared, False
                return
            browser = _Browser(reuse_page=self.reuse_page, tabs=self.tabs)
            browser.open(self.timeout_s)
            _Process.browser, self._browser, self._owner = browser, browser, True

    def stop(self) -> None:
        with _Process.lock:
            browser, self._browser = self._browser, None
            if browser is not None and self._owner:
                if _Process.browser is browser:
                    _Process.browser = None
                browser.close()
            self._owner = False

    @property
    def browser(self) -> _Browser | None:
        """The browser this renderer draws with (None before the first image)."""
        return self._browser

    def render(
        self, fig: go.Figure, fmt: str, *, width: int, height: int, scale: float = 1.0
    ) -> bytes:
        """The figure as `fmt` bytes; ExportTimeoutError when it takes over `timeout_s`."""
        return next(self.render_many([StaticImage(fig, fmt, width, height, scale)]))

    def render_many(self, images: Iterable[StaticImage]) -> Iterator[bytes]:
        """The bytes of each image, in order. Every image is queued in the browser as soon as
        `images` yields it (a generator that builds figures overlaps with the drawing), and
        each has `timeout_s` seconds from the moment the previous one came back."""
        if self._broken:
            raise ExportTimeoutError(self._broken)
        pending: deque[concurrent.futures.Future[bytes]] = deque()
        for image in images:
            if image.fmt not in STATIC_FORMATS:
                raise ExportError(
                    f"{image.fmt!r} is not a static format; expected one of {STATIC_FORMATS}"
                )
            pending.append(self._submit(image))
            while pending and pending[0].done():  # hand over what is drawn already
                yield self._result(pending.popleft())
        while pending:
            yield self._result(pending.popleft())

    def _submit(self, image: StaticImage) -> concurrent.futures.Future[bytes]:
        self.start()
        assert self._browser is not None
        return self._browser.submit(image)

    def _result(self, future: concurrent.futures.Future[bytes]) -> bytes:
        try:
            return bytes(future.result(self.timeout_s))
        except concurrent.futures.TimeoutError:
            self._abandon()
            raise ExportTimeoutError(self._broken) from None
        except Exception as exc:
            raise _explain(exc, self.timeout_s) from exc

    def _abandon(self) -> None:
        """The browser hung: kill it, so the process can exit and the next batch starts clean."""
        self._broken = (
            f"a static export did not finish within {self.timeout_s:g} s; the browser was "
            "stopped. Retry, or raise the timeout (--timeout) for very large charts."
        )
        with _Process.lock:
            browser, self._browser = self._browser, None
            if browser is not None:
                if _Process.browser is browser:
                    _Process.browser = None
                browser.kill()


def _explain(error: BaseException, timeout_s: float) -> BaseException:
    """Kaleido's errors in Uptake's words (missing browser, kaleido's own render timeout)."""
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return ExportTimeoutError(
            f"a static export did not finish within {timeout_s:g} s (kaleido's render timeout)"
        )
    if "Chrome" in str(error) or type(error).__name__ == "ChromeNotFoundError":
        return ChromiumMissingError()
    return error


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


def image_of(
    fig: go.Figure, fmt: str, width: int | None, height: int | None, scale: float = 1.0
) -> StaticImage:
    """The static image of a figure: the given size, else 1200 px by the chart's height."""
    return StaticImage(
        fig, fmt, width or DEFAULT_WIDTH, height or int(fig.layout.height or 600), scale
    )


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
        return checked(chart, fmt, chart_csv(inputs, chart, options).encode())
    fig = apply_relayout(shared_chart(inputs, chart, options), relayout)
    if fmt == "html":
        return checked(chart, fmt, figure_html(fig, width=width, height=height).encode())
    image = image_of(fig, fmt, width, height, scale)
    if renderer is not None:
        return checked(chart, fmt, next(renderer.render_many([image])), image)
    with StaticRenderer() as own:
        return checked(chart, fmt, next(own.render_many([image])), image)


def checked(chart: str, fmt: str, payload: bytes, image: StaticImage | None = None) -> bytes:
    """`payload` if it is a valid `fmt` file; else InvalidExportError naming the chart (and
    the image size, the usual cause: Chromium cannot draw a PNG beyond its canvas limit)."""
    try:
        check_payload(fmt, payload)
    except InvalidExportError as error:
        size = f" at {image.width}x{image.height} px" if image is not None else ""
        raise InvalidExportError(
            f"{chart}: {error}{size}; nothing was written. Try a smaller --height or "
            "--scale, a narrower time range, or SVG."
        ) from None
    return payload


def export_charts(
    data: ChartInputs | Snapshot,
    charts: Sequence[str],
    outs: Sequence[Path],
    *,
    fmt: str,
    platforms: Sequence[str] = (),
    options: ViewOptions | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1.0,
    renderer: StaticRenderer | None = None,
) -> Iterator[Path]:
    """Write each chart to its path in `outs` and yield the path once written. Static
    formats go to the browser as one batch: every image is queued as soon as its figure is
    built, so building the next figure overlaps with drawing the previous one, and the
    browser never waits for Python between images."""
    if len(charts) != len(outs):
        raise ExportError(f"{len(charts)} charts but {len(outs)} output paths")
    inputs = data if isinstance(data, ChartInputs) else ChartInputs(data)
    fmt = check_format(fmt)
    view = options or view_for(inputs, platforms)
    for chart in charts:
        check_chart(chart)
    failed: list[str] = []
    if fmt not in STATIC_FORMATS:
        for chart, out in zip(charts, outs, strict=True):
            try:
                payload = chart_bytes(inputs, chart, fmt, view, width=width, height=height)
            except InvalidExportError as error:
                failed.append(str(error))
                continue
            yield write_file(Path(out), payload)
        _raise_failed(failed, len(charts))
        return
    built: list[StaticImage] = []  # each image as the generator hands it to the browser

    def images() -> Iterator[StaticImage]:
        for chart in charts:
            built.append(image_of(shared_chart(inputs, chart, view), fmt, width, height, scale))
            yield built[-1]

    with contextlib.ExitStack() as stack:
        if renderer is None:
            renderer = stack.enter_context(StaticRenderer())
        drawn = zip(charts, outs, renderer.render_many(images()), strict=True)
        for index, (chart, out, payload) in enumerate(drawn):
            try:
                yield write_file(Path(out), checked(chart, fmt, payload, built[index]))
            except InvalidExportError as error:  # the others are still written
                failed.append(str(error))
    _raise_failed(failed, len(charts))


def _raise_failed(failed: Sequence[str], total: int) -> None:
    """One line for the charts whose files were not valid (the others were written)."""
    if len(failed) == 1 and total == 1:
        raise InvalidExportError(failed[0])
    if failed:
        raise InvalidExportError(f"{len(failed)} of {total} exports failed: " + " | ".join(failed))


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
    written = export_charts(
        data,
        [chart],
        [Path(out)],
        fmt=fmt or Path(out).suffix or "png",
        platforms=platforms,
        options=options,
        width=width,
        height=height,
        scale=scale,
        renderer=renderer,
    )
    [path] = list(written)
    return path


def write_file(out: Path, payload: bytes) -> Path:
    """Write `payload` to `out` through a `.part` file (see pending_file)."""
    with pending_file(out) as pending:
        pending.write_bytes(payload)
    return out


@contextlib.contextmanager
def pending_file(out: Path) -> Iterator[Path]:
    """A `.part` path beside `out` for the block to write; renamed to `out` when the block
    ends without an error, removed when it fails, so a half-written or refused file never
    stands under the final name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(out.name + ".part")
    try:
        yield pending
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    pending.replace(out)


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
