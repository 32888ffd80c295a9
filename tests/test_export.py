"""`uptake export`: every chart in every format from the fixture snapshot, checked as a
reader of the file would check it: PNG and PDF headers and sizes, SVG that parses and
carries the title and caption, CSV equal to the snapshot rows behind the chart, HTML that
draws offline in headless Chromium. Plus the no-Chromium path and a hung browser."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest
from dashboard_fixtures import publish_demo_shaped_snapshot, publish_fixture_snapshot
from polars.testing import assert_frame_equal

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.errors import (
    ChromiumMissingError,
    ExportError,
    ExportTimeoutError,
    InvalidExportError,
)
from dashboard.export import (
    CHART_DATA,
    StaticRenderer,
    chart_inputs,
    export_chart,
    export_charts,
)
from dashboard.export_cli import output_path, register_export, view_of_args
from dashboard.figures.common import caption_of
from dashboard.validation import check_payload
from etl.config import Settings, load_settings
from etl.errors import UptakeError

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = 900, 500
TITLE_OF_EVERY_CAPTION = ("reporting timezone UTC", "weeks start Monday", "data watermark")

# What each chart's CSV must hold in the default view, written out independently of
# dashboard/export.py: (table, filter).
EXPECTED_ROWS: dict[str, tuple[str, pl.Expr]] = {
    "launch-race": ("signups", pl.col("grain") == "hour"),
    "milestones": ("milestones", pl.lit(True)),
    "velocity": ("signups", pl.col("grain") == "hour"),
    "hour-of-day": ("signups", pl.col("grain") == "hour"),
    "active-users": ("active", pl.lit(True)),
    "stickiness": ("active", pl.lit(True)),
    "lifecycle": ("lifecycle", pl.col("grain") == "day"),
    "retention-heatmap": (
        "retention",
        (pl.col("platform") == "steady") & (pl.col("cohort_grain") == "day"),
    ),
    "retention-curves": ("retention", pl.col("cohort_grain") == "day"),
    "forecast": ("forecasts", pl.lit(True)),
    "channel-mix": ("channels", pl.col("grain") == "day"),
    "overlap": ("overlap", pl.lit(True)),
    "migration-share": ("migration", pl.lit(True)),
    "migrant-activity": ("migrant_activity", pl.lit(True)),
    "runs": ("runs", pl.lit(True)),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("home")
    publish_fixture_snapshot(path)
    return path


@pytest.fixture(scope="module")
def module_settings(home: Path) -> Settings:
    return load_settings(home, env={})


@pytest.fixture(scope="module")
def inputs(module_settings: Settings) -> ChartInputs:
    return chart_inputs(module_settings)


@pytest.fixture(scope="module")
def figures(inputs: ChartInputs) -> dict[str, go.Figure]:
    return {name: build_chart(name, inputs, ViewOptions()) for name in CHARTS}


@pytest.fixture(scope="module")
def renderer() -> Iterator[StaticRenderer]:
    """One Chromium for every static export of this module."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    with StaticRenderer(timeout_s=60) as shared:
        yield shared


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


def test_the_data_registry_covers_every_chart() -> None:
    assert set(CHART_DATA) == set(CHARTS) == set(EXPECTED_ROWS)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.mark.parametrize("chart", list(CHARTS))
def test_static_formats_of_every_chart(
    chart: str,
    inputs: ChartInputs,
    figures: dict[str, go.Figure],
    renderer: StaticRenderer,
    out: Path,
) -> None:
    size = {"width": WIDTH, "height": HEIGHT, "renderer": renderer}
    scale = 2 if chart == "runs" else 1  # the scale works; other charts keep it cheap
    png = export_chart(inputs, chart, out / f"{chart}.png", scale=scale, **size).read_bytes()
    assert png_size(png) == (scale * WIDTH, scale * HEIGHT)
    assert len(png) > 10_000, "a chart, not a blank image"

    pdf = export_chart(inputs, chart, out / f"{chart}.pdf", **size).read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 5_000

    svg = export_chart(inputs, chart, out / f"{chart}.svg", **size).read_text()
    text = " ".join(ET.fromstring(svg).itertext())
    for fmt, payload in (("png", png), ("pdf", pdf), ("svg", svg.encode())):
        check_payload(fmt, payload)  # magic bytes and a parse of the whole file
    assert str(figures[chart].layout.title.text) in text
    for part in TITLE_OF_EVERY_CAPTION:
        assert part in text, (chart, part)


@pytest.mark.parametrize("chart", list(CHARTS))
def test_csv_is_the_snapshot_rows_behind_the_chart(
    chart: str, inputs: ChartInputs, figures: dict[str, go.Figure], out: Path
) -> None:
    path = export_chart(inputs, chart, out / f"{chart}.csv")
    check_payload("csv", path.read_bytes())
    check_payload("html", export_chart(inputs, chart, out / f"{chart}.html").read_bytes())
    table, rows = EXPECTED_ROWS[chart]
    expected = inputs.table(table).filter(rows)
    assert expected.height > 0
    got = pl.read_csv(path, comment_prefix="#", schema=expected.schema)
    assert_frame_equal(got, expected, check_row_order=False)
    if "grain" in got.columns:  # one grain per file: summing rows never double-counts
        assert got["grain"].n_unique() == 1
    time = next((c for c in ("bucket_start", "day", "cohort_start") if c in got.columns), None)
    if time is not None and "platform" in got.columns:  # sorted by platform, then time
        keys = ["platform", *(["from_platform"] if "from_platform" in got.columns else []), time]
        assert got.select(keys).equals(got.select(keys).sort(keys)), chart
    comments = [line for line in path.read_text().splitlines() if line.startswith("# ")]
    assert f"# caption: {caption_of(figures[chart])}" in comments
    for line in ("# reporting timezone: UTC", "# week start: Monday", "# retention mode: on"):
        assert line in comments
    assert "# data watermark: 2026-10-15 00:00:00 UTC" in comments


def test_csv_follows_the_time_range(inputs: ChartInputs, out: Path) -> None:
    """A view restricted to the first hours after t0 exports only those rows, and says so."""
    view = ViewOptions(window_hours=2.0)
    path = export_chart(inputs, "velocity", out / "velocity-2h.csv", options=view)
    text = path.read_text()
    assert "# time range: first 2 h after each platform's t0" in text
    rows = pl.read_csv(path, comment_prefix="#")
    assert rows.height > 0 and (rows["elapsed_s"] + 3600).max() <= 2 * 3600
    everything = export_chart(inputs, "velocity", out / "velocity-all.csv").read_text()
    assert "# time range: all data" in everything


def test_csv_follows_the_view(inputs: ChartInputs, out: Path) -> None:
    view = ViewOptions(platforms=("viral",), grain="minute")
    path = export_chart(inputs, "velocity", out / "viral-minutes.csv", options=view)
    got = pl.read_csv(path, comment_prefix="#")
    assert set(got["platform"]) == {"viral"} and set(got["grain"]) == {"minute"}
    assert "# platforms: viral" in path.read_text()


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


def open_offline(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """Open a file in an offline context, recording every request that is not local."""
    context = browser.new_context(offline=True)
    page = context.new_page()
    remote: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("file:", "data:", "blob:", "about:"))
            else remote.append(request.url)
        ),
    )
    page.goto(path.resolve().as_uri())
    page.wait_for_selector(".main-svg", timeout=15_000)
    return page, remote


def test_html_is_self_contained(
    inputs: ChartInputs, figures: dict[str, go.Figure], out: Path
) -> None:
    for chart in CHARTS:
        source = export_chart(inputs, chart, out / f"{chart}.html").read_text()
        assert not re.search(r"<script[^>]*\bsrc=", source), "plotly.js must be inlined"
        assert source.count("* plotly.js v") == 1 and source.count("Plotly.newPlot") == 1
        assert f"<title>{figures[chart].layout.title.text}" in source


# Opening a page parses the 4.6 MB of inlined plotly.js: about 3 s per page on 2 busy cores,
# so the default run opens the biggest chart and `-m slow` opens all of them; the report
# test (tests/test_report.py) draws every chart offline in one page.
SAMPLE = ("launch-race",)


@pytest.mark.browser
@pytest.mark.parametrize(
    "chart",
    [c if c in SAMPLE else pytest.param(c, marks=pytest.mark.slow) for c in CHARTS],
)
def test_html_opens_offline_with_the_chart_drawn(
    chart: str,
    inputs: ChartInputs,
    figures: dict[str, go.Figure],
    offline_browser: Any,
    out: Path,
) -> None:
    path = export_chart(inputs, chart, out / f"{chart}.html")
    page, remote = open_offline(offline_browser, path)
    assert remote == [], remote
    drawn = page.inner_text("body")
    assert str(figures[chart].layout.title.text) in drawn
    assert "data watermark 2026-10-15" in drawn
    page.context.close()


def test_missing_chromium_names_the_install_command(
    inputs: ChartInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    for fmt in ("png", "svg", "pdf"):
        with pytest.raises(ChromiumMissingError) as caught:
            export_chart(inputs, "milestones", tmp_path / f"m.{fmt}")
        error = caught.value
        assert isinstance(error, UptakeError) and error.exit_code == 2
        assert "apt-get install -y chromium" in str(error) and "\n" not in str(error)
        assert not (tmp_path / f"m.{fmt}").exists()
    # HTML and CSV do not need a browser
    assert export_chart(inputs, "milestones", tmp_path / "m.html").stat().st_size > 1_000_000
    assert export_chart(inputs, "milestones", tmp_path / "m.csv").read_text().startswith("# ")


def test_cli_without_chromium_is_one_line_and_exit_2(
    module_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    parser = argparse.ArgumentParser()
    register_export(parser.add_subparsers())
    args = parser.parse_args(["export", "runs", "--out", str(tmp_path / "runs.png")])
    with pytest.raises(ChromiumMissingError) as caught:
        args.handler(args, module_settings)
    assert caught.value.exit_code == 2
    args = parser.parse_args(["export", "runs", "--out", str(tmp_path / "runs.csv")])
    assert args.handler(args, module_settings) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "runs.csv")


def test_cli_lists_charts_and_rejects_unknown_ones(
    module_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    register_export(parser.add_subparsers())
    args = parser.parse_args(["export", "--list"])
    assert args.handler(args, module_settings) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(CHARTS)
    for argv in (["export", "nope"], ["export", "runs", "--platform", "nope"]):
        args = parser.parse_args(argv)
        with pytest.raises(ExportError) as caught:
            args.handler(args, module_settings)
        assert caught.value.exit_code == 2


def test_output_path_defaults_to_home_exports(module_settings: Settings, tmp_path: Path) -> None:
    exports = module_settings.exports
    assert output_path(None, exports, "runs", "svg", many=False) == exports / "runs.svg"
    assert output_path("a/b.png", exports, "runs", "png", many=False) == Path("a/b.png")
    assert output_path(str(tmp_path), exports, "runs", "csv", many=False) == tmp_path / "runs.csv"
    assert output_path("deck", exports, "runs", "png", many=True) == Path("deck/runs.png")


def test_no_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="uptake run"):
        chart_inputs(load_settings(tmp_path, env={}))


HUNG_EXPORT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dashboard.errors import ExportTimeoutError
    from dashboard.export import StaticRenderer, chart_inputs, export_chart
    from etl.config import load_settings

    inputs = chart_inputs(load_settings(Path(sys.argv[1]), env={}))
    try:
        with StaticRenderer(timeout_s=1) as renderer:
            export_chart(inputs, "runs", Path(sys.argv[2]), renderer=renderer)
    except ExportTimeoutError as error:
        print("timeout:", error.exit_code, error)
    """
)


def test_a_hung_browser_is_stopped_and_reported(home: Path, tmp_path: Path) -> None:
    """A 'browser' that never answers: the export times out and the process is killed.
    In a subprocess, because the browser is one per process."""
    pid_file = tmp_path / "pid"
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 300\n")
    fake.chmod(0o755)
    env = {**os.environ, "BROWSER_PATH": str(fake)}
    done = subprocess.run(
        [sys.executable, "-c", HUNG_EXPORT, str(home), str(tmp_path / "runs.png")],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.startswith("timeout: 4 "), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs.png").exists()
    assert not running(int(pid_file.read_text())), "hung browser left running"


def running(pid: int) -> bool:
    """A process that exists and is not a zombie. A killed browser whose parent exited
    before reaping it stays a zombie when PID 1 does not reap orphans (containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_slow_render_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline itself, without a browser: a render that never returns."""
    from concurrent.futures import Future

    from dashboard import export

    never: Future[bytes] = Future()
    monkeypatch.setattr(export.StaticRenderer, "start", lambda self: None)
    monkeypatch.setattr(export.StaticRenderer, "_submit", lambda self, image: never)
    renderer = StaticRenderer(timeout_s=0.2)
    with pytest.raises(ExportTimeoutError, match=r"within 0\.2 s"):
        renderer.render(go.Figure(), "png", width=100, height=100)
    with pytest.raises(ExportTimeoutError):  # a broken renderer fails fast afterwards
        renderer.render(go.Figure(), "png", width=100, height=100)
    never.cancel()


def test_the_browser_page_loads_plotly_js_from_disk() -> None:
    """kaleido's page: the installed plotly.js as a local file, no MathJax, nothing online."""
    from kaleido._page_generator import PageGenerator

    page = PageGenerator(mathjax=False).generate_index()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert any(src.endswith("plotly.min.js") for src in scripts), scripts
    assert all(src.startswith("file://") for src in scripts), scripts


def test_the_page_is_reused_and_images_do_not_leak_into_each_other(
    figures: dict[str, go.Figure], renderer: StaticRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Images after the first skip kaleido's page reload (benchmarks/bench_export.py measures
    it), and drawing other charts and formats in between changes nothing in the next image."""
    from dashboard import export

    monkeypatch.setattr(export, "RELOAD_EVERY", 10_000)  # no scheduled reload in between
    first = renderer.render(figures["runs"], "png", width=WIDTH, height=HEIGHT)
    browser = renderer.browser
    assert browser is not None and browser.kaleido is not None
    (tab,) = browser.kaleido.uses  # one tab
    drawn_before = browser.kaleido.uses[tab]
    for chart, fmt in (("milestones", "pdf"), ("velocity", "svg"), ("lifecycle", "png")):
        renderer.render(figures[chart], fmt, width=WIDTH, height=HEIGHT)
    again = renderer.render(figures["runs"], "png", width=WIDTH, height=HEIGHT)
    assert again == first
    assert browser.kaleido.uses[tab] == drawn_before + 4, "the page was reloaded"


def test_export_charts_is_one_batch_in_order(
    inputs: ChartInputs, renderer: StaticRenderer, tmp_path: Path
) -> None:
    from dashboard.export import export_charts

    charts = ["runs", "milestones", "hour-of-day"]
    outs = [tmp_path / f"{chart}.png" for chart in charts]
    written = list(
        export_charts(
            inputs, charts, outs, fmt="png", width=WIDTH, height=HEIGHT, renderer=renderer
        )
    )
    assert written == outs
    for path in outs:
        assert png_size(path.read_bytes()) == (WIDTH, HEIGHT)
    assert not list(tmp_path.glob("*.part"))
    csvs = list(export_charts(inputs, charts, [tmp_path / f"{c}.csv" for c in charts], fmt="csv"))
    assert [p.read_text().startswith("# chart: ") for p in csvs] == [True] * 3


def test_concurrent_renders_get_their_own_images(
    figures: dict[str, go.Figure], renderer: StaticRenderer
) -> None:
    """The app's worker threads share one browser; each caller gets its own image back."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [("runs", "png"), ("milestones", "svg"), ("runs", "svg"), ("milestones", "png")]

    def render(job: tuple[str, str]) -> bytes:
        chart, fmt = job
        return renderer.render(figures[chart], fmt, width=400, height=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(render, jobs))
    for (chart, fmt), image in zip(jobs, images, strict=True):
        if fmt == "png":
            assert png_size(image) == (400, 300)
        else:
            title = str(figures[chart].layout.title.text)
            assert title in " ".join(ET.fromstring(image).itertext())


def test_relayout_zoom_is_kept_in_images(figures: dict[str, go.Figure]) -> None:
    from dashboard.export import apply_relayout

    fig = figures["velocity"]
    assert apply_relayout(fig, None) is fig
    assert apply_relayout(fig, {"dragmode": "pan"}) is fig
    zoomed = apply_relayout(fig, {"xaxis.range[0]": 0.0, "xaxis.range[1]": 1.5})
    assert list(zoomed.layout.xaxis.range) == [0.0, 1.5]
    assert zoomed.layout.xaxis.autorange is False
    assert list(fig.layout.xaxis.range) != [0.0, 1.5], "the original figure is left alone"
    both = apply_relayout(fig, {"yaxis.range": [1, 3], "xaxis.autorange": True})
    assert list(both.layout.yaxis.range) == [1, 3] and both.layout.xaxis.autorange is True


# --- the dashboard's download buttons ---------------------------------------------------------


def test_every_chart_card_of_every_page_gets_download_buttons() -> None:
    from dashboard.app import DOWNLOAD_FORMATS, with_downloads
    from dashboard.pages import PAGES

    def ids(node: Any) -> set[str]:
        found = {str(node.id)} if getattr(node, "id", None) else set()
        children = getattr(node, "children", None)
        if isinstance(children, list | tuple):
            return found.union(*(ids(c) for c in children))
        return found | (ids(children) if children is not None else set())

    for page in PAGES:
        shown = ids(with_downloads(page.layout()))
        for name in page.CHARTS:
            assert f"download-{name}" in shown, (page.NAME, name)
            for fmt in DOWNLOAD_FORMATS:
                assert f"download-{name}-{fmt}" in shown


def test_download_is_the_current_view(
    module_settings: Settings,
    renderer: StaticRenderer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64

    from dashboard.app import download_file
    from dashboard.context import AppContext
    from etl.snapshot import SnapshotReader

    context = AppContext(reader=SnapshotReader(module_settings.serving))
    view = ViewOptions(platforms=("viral",), grain="minute")
    data, status = download_file(context, renderer, "velocity", "csv", options=view)
    assert status == "" and data["filename"] == "velocity.csv" and data["base64"]
    rows = pl.read_csv(base64.b64decode(data["content"]), comment_prefix="#")
    assert set(rows["platform"]) == {"viral"} and set(rows["grain"]) == {"minute"}

    zoom = {"xaxis.range[0]": -1, "xaxis.range[1]": 0.5}
    data, _ = download_file(context, renderer, "velocity", "png", options=view, relayout=zoom)
    assert base64.b64decode(data["content"])[:8] == PNG_SIGNATURE

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    fresh = StaticRenderer()
    data, status = download_file(context, fresh, "velocity", "svg", options=view)
    assert "apt-get install -y chromium" in status and not isinstance(data, dict)


@pytest.mark.browser
def test_download_buttons_in_the_running_app(home: Path, offline_browser: Any) -> None:
    from dashboard.app import create_app
    from dashboard.server import serve_in_thread

    app = create_app(home, poll_ms=60_000)
    with (
        serve_in_thread(app) as url,
        closing(offline_browser.new_context(accept_downloads=True)) as context,
    ):
        page = context.new_page()
        page.goto(f"{url}/velocity?grain=day&scale=linear")
        page.wait_for_function(  # the controls have taken the view from the URL
            """() => { const el = document.querySelector('#chart-velocity .js-plotly-plot');
                return el && el.data && el.data.length && el.layout.title.text.endsWith('day')
                    && el.layout.xaxis.type === 'linear'; }""",
            timeout=15_000,
        )
        with page.expect_download(timeout=30_000) as csv_download:
            page.click("#download-velocity-csv")
        assert csv_download.value.suggested_filename == "velocity.csv"
        rows = pl.read_csv(csv_download.value.path(), comment_prefix="#")
        assert set(rows["grain"]) == {"day"}, "the CSV follows the view, not the default"
        with page.expect_download(timeout=30_000) as png_download:
            page.click("#download-velocity-png")
        assert Path(png_download.value.path()).read_bytes()[:8] == PNG_SIGNATURE


def _broken(fmt: str, good: bytes) -> list[bytes]:
    """Payloads a renderer or a cut-off write could hand back instead of a `fmt` file."""
    common = [b"", good[:3], good[: len(good) // 2]]
    specific = {
        "png": [good[:-12], good[:40] + b"\0" + good[41:]],  # no IEND; a corrupt IHDR CRC
        "svg": [b"<svg></svg>", good.replace(b"</svg>", b"", 1)],
        "pdf": [good.replace(b"/Type /Page", b"/Type /Pxge"), good[:-7]],
        "html": [good.replace(b"</body>", b""), b"<html><body>x</body></html>"],
        "csv": [b"# a comment only\n", b"a,b\n1,2\n3\n", b"\xff\xfe,\n"],
    }
    return common + specific[fmt]


def test_check_payload_accepts_real_files_and_refuses_broken_ones(
    inputs: ChartInputs, renderer: StaticRenderer, out: Path
) -> None:
    for fmt in ("png", "svg", "pdf", "html", "csv"):
        good = export_chart(
            inputs, "runs", out / f"check.{fmt}", width=WIDTH, height=HEIGHT, renderer=renderer
        ).read_bytes()
        check_payload(fmt, good)
        for bad in _broken(fmt, good):
            if fmt == "csv" and bad == good[: len(good) // 2]:
                continue  # half a CSV can still be a CSV: its header and whole rows
            with pytest.raises(InvalidExportError) as caught:
                check_payload(fmt, bad)
            assert fmt.upper() in str(caught.value) and "\n" not in str(caught.value)


def test_a_png_beyond_chromiums_canvas_is_refused_not_written(
    home: Path, inputs: ChartInputs, renderer: StaticRenderer, tmp_path: Path
) -> None:
    """Chromium hands back 3 bytes for a PNG taller than its canvas; that is an error with
    a non-zero exit and one line, and no file, never a 3-byte 'PNG' and exit 0."""
    target = tmp_path / "runs.png"
    with pytest.raises(InvalidExportError) as caught:
        export_chart(inputs, "runs", target, height=72_000, renderer=renderer)
    assert "runs: the PNG (3 bytes) is not valid" in str(caught.value)
    assert caught.value.exit_code == 4
    assert not target.exists() and not list(tmp_path.iterdir())

    cli = Path(sys.executable).with_name("uptake")
    command = [str(cli), "--home", str(home), "export", "runs", "--height", "72000"]
    done = subprocess.run(
        [*command, "--out", str(target)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 4, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "not valid" in done.stderr
    assert not target.exists()


def _export_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_export(parser.add_subparsers())
    return parser.parse_args(["export", *argv])


def test_cli_export_takes_the_dashboards_view_options(
    module_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`uptake export CHART` reproduces a dashboard view: platforms, range, scale, grain,
    mode; --view takes the dashboard's URL and the flags override it."""
    flags = ["--platform", "viral", "--range", "1d", "--axis-scale", "linear", "--grain", "day"]
    args = _export_args("velocity", *flags, "--out", str(tmp_path / "v.csv"))
    assert args.handler(args, module_settings) == 0
    rows = pl.read_csv(tmp_path / "v.csv", comment_prefix="#")
    assert set(rows["platform"]) == {"viral"} and set(rows["grain"]) == {"day"}
    assert rows["elapsed_s"].max() + 86400 <= 24 * 3600
    assert "# time range: first 24 h after each platform's t0" in (tmp_path / "v.csv").read_text()

    url = "http://127.0.0.1:8050/velocity?platforms=viral&range=1d&scale=linear&grain=day"
    args = _export_args("velocity", "--view", url, "--out", str(tmp_path / "u.csv"))
    assert args.handler(args, module_settings) == 0
    assert (tmp_path / "u.csv").read_text() == (tmp_path / "v.csv").read_text()

    args = _export_args("velocity", "--view", url, "--out", str(tmp_path / "v.html"))
    assert args.handler(args, module_settings) == 0
    html = (tmp_path / "v.html").read_text()
    assert '"type":"linear"' in html.replace(" ", "") and "signups per day" in html

    args = _export_args("retention-curves", "--mode", "on_or_after", "--cohort-grain", "week")
    view = view_of_args(chart_inputs(module_settings), args)
    assert (view.retention_mode, view.cohort_grain) == ("on_or_after", "week")
    for bad in (["--platform", "nope"], ["--heatmap-platform", "nope"]):
        with pytest.raises(ExportError):
            view_of_args(chart_inputs(module_settings), _export_args("runs", *bad))
    with pytest.raises(SystemExit):  # argparse: a range the dashboard does not have
        _export_args("runs", "--range", "2d")
    capsys.readouterr()


def test_every_export_of_the_demo_shape_is_valid(tmp_path: Path, renderer: StaticRenderer) -> None:
    """The demo's shape (a ten-year incumbent beside two launches): every chart in every
    format is a valid file, the incumbent's heatmap included (once a 3-byte 'PNG')."""
    publish_demo_shaped_snapshot(tmp_path / "home")
    inputs = chart_inputs(load_settings(tmp_path / "home", env={}))
    views = {
        "default": ViewOptions(),
        "incumbent": ViewOptions(platforms=("incumbent", "viral"), heatmap_platform="incumbent"),
    }
    for label, view in views.items():
        for fmt in ("png", "svg", "pdf", "html", "csv"):
            charts = list(CHARTS) if label == "default" else ["retention-heatmap", "launch-race"]
            outs = [tmp_path / label / f"{chart}.{fmt}" for chart in charts]
            written = list(
                export_charts(inputs, charts, outs, fmt=fmt, options=view, renderer=renderer)
            )
            assert written == outs
            for out in outs:
                check_payload(fmt, out.read_bytes())
    heatmap = (tmp_path / "incumbent" / "retention-heatmap.png").read_bytes()
    assert png_size(heatmap)[1] <= 1000
