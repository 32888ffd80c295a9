"""The real app in headless Chromium (Debian's, driven by Playwright), served in-process."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import build_tables, publish_fixture_snapshot, publish_tables
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from dashboard.app import create_app

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLOT = "#chart-{name} .js-plotly-plot"
TIMEOUT_MS = 30_000  # generous: the test machine is shared and often loaded


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Dash polls often; one log line per request would drown the test output."""


def serve(home: Path) -> Iterator[str]:
    app = create_app(home, poll_ms=300)
    server = make_server("127.0.0.1", 0, app.server, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    publish_fixture_snapshot(home)
    yield from serve(home)


@pytest.fixture
def tab(chromium_browser: Any) -> Iterator[Any]:
    context = chromium_browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.console_errors = errors
    yield tab
    context.close()


def figure(tab: Any, name: str) -> dict[str, Any]:
    """The figure plotly drew for chart `name` (its data names and layout)."""
    selector = PLOT.format(name=name)
    tab.wait_for_function(
        "(s) => { const el = document.querySelector(s); return el && el.data && el.data.length; }",
        arg=selector,
        timeout=TIMEOUT_MS,
    )
    return tab.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            return {names: el.data.map(t => t.name), layout: JSON.parse(JSON.stringify(el.layout))};
        }""",
        selector,
    )


def test_home_page_draws_the_race_of_both_platforms(tab: Any, published: str) -> None:
    tab.goto(published + "/")
    drawn = figure(tab, "launch-race")
    assert {"viral (measured)", "steady (measured)"} <= set(drawn["names"])
    assert drawn["layout"]["xaxis"]["type"] == "log"
    assert "21x faster to its milestone" in drawn["layout"]["title"]["subtitle"]["text"]
    expect(tab.locator("#snapshot-meta")).to_contain_text(
        "data as of 2026-10-15 00:00 UTC", timeout=TIMEOUT_MS
    )
    assert tab.console_errors == []


def test_switching_pages_shows_each_page(tab: Any, published: str) -> None:
    tab.goto(published + "/")
    figure(tab, "launch-race")
    for link, chart in (
        ("Milestones", "milestones"),
        ("Velocity", "velocity"),
        ("Engagement", "lifecycle"),
        ("Retention", "retention-heatmap"),
        ("Forecasts", "forecast"),
        ("Data health", "runs"),
    ):
        tab.click(f".nav >> text={link}")
        assert figure(tab, chart)["names"], link
    tab.click(".nav >> text=Milestones")
    tab.wait_for_selector("#milestone-table td", timeout=TIMEOUT_MS)
    expect(tab.locator("#milestone-table")).to_contain_text("6.1 days", timeout=TIMEOUT_MS)
    assert tab.console_errors == []


def test_toggles_update_the_figure_and_the_url(tab: Any, published: str) -> None:
    tab.goto(published + "/")
    figure(tab, "launch-race")
    tab.click("#scale >> text=Linear")
    tab.wait_for_function(
        "() => document.querySelector('#chart-launch-race .js-plotly-plot')"
        ".layout.xaxis.type === 'linear'",
        timeout=TIMEOUT_MS,
    )
    assert "scale=linear" in tab.url
    tab.click("#reported >> text=Overlay public figures")
    tab.wait_for_function(
        "() => document.querySelector('#chart-launch-race .js-plotly-plot')"
        ".data.some(t => t.name === 'Threads (reported)')",
        timeout=TIMEOUT_MS,
    )
    shared = tab.url
    tab.goto(published + "/")
    tab.goto(shared)  # a shared link restores the view
    drawn = figure(tab, "launch-race")
    assert drawn["layout"]["xaxis"]["type"] == "linear"
    assert "Threads (reported)" in drawn["names"]
    assert tab.console_errors == []


def test_retention_mode_toggle_changes_the_curves(tab: Any, published: str) -> None:
    tab.goto(published + "/retention")
    assert "(on)" in figure(tab, "retention-curves")["layout"]["title"]["text"]
    tab.click("#retention-mode >> text=On or after")
    tab.wait_for_function(
        "() => document.querySelector('#chart-retention-curves .js-plotly-plot')"
        ".layout.title.text.includes('on or after')",
        timeout=TIMEOUT_MS,
    )


def test_empty_home_then_a_new_snapshot_shows_without_restart(tab: Any, tmp_path: Path) -> None:
    for url in serve(tmp_path):
        tab.goto(url + "/")
        tab.wait_for_selector("#empty-state", timeout=TIMEOUT_MS)
        expect(tab.locator("#empty-state")).to_contain_text(
            "No data published yet", timeout=TIMEOUT_MS
        )
        publish_fixture_snapshot(tmp_path, "first")
        figure(tab, "launch-race")
        tables = build_tables()
        tables["platforms"] = tables["platforms"].filter(tables["platforms"]["platform"] == "viral")
        publish_tables(tmp_path, tables, "second")
        tab.wait_for_function(
            "() => document.querySelector('#snapshot-meta').innerText.includes('second')",
            timeout=TIMEOUT_MS,
        )
        tab.wait_for_function(
            "() => !document.querySelector('#chart-launch-race .js-plotly-plot')"
            ".data.some(t => t.name === 'steady (measured)')",
            timeout=TIMEOUT_MS,
        )
        assert tab.console_errors == []


SHARED = {
    "platforms": "viral",
    "range": "7d",
    "scale": "linear",
    "reported": "on",
    "reported-platforms": "Threads",
    "retention-mode": "on_or_after",
    "grain": "day",
    "cohort-grain": "week",
    "lifecycle-grain": "week",
    "heatmap-platform": "viral",
    "channel-mode": "count",
}


@pytest.mark.parametrize(
    "path",
    ["/", "/milestones", "/velocity", "/engagement", "/retention", "/forecasts", "/migration"],
)
def test_a_shared_url_keeps_every_control_on_every_page(
    tab: Any, published: str, path: str
) -> None:
    from urllib.parse import parse_qs, urlencode, urlparse

    tab.goto(published + path + "?" + urlencode(SHARED))
    tab.wait_for_function(  # every chart drawn (an empty state draws no traces)
        "() => { const p = [...document.querySelectorAll('.js-plotly-plot')];"
        " return p.length > 0 && p.every(el => el._fullLayout && el.querySelector('.main-svg')); }",
        timeout=TIMEOUT_MS,
    )
    tab.wait_for_timeout(500)  # late control updates would rewrite the URL by now
    kept = {k: v[-1] for k, v in parse_qs(urlparse(tab.url).query).items()}
    assert kept == SHARED, path
    expect(tab.locator("#platforms")).to_contain_text("viral")
    expect(tab.locator("#group-range")).to_contain_text("First 7 days")
    assert tab.console_errors == []


def test_time_range_lives_in_the_url_and_restricts_the_charts(tab: Any, published: str) -> None:
    tab.goto(published + "/?range=1d")
    drawn = figure(tab, "launch-race")
    caption = next(a["text"] for a in drawn["layout"]["annotations"] if a.get("name") == "caption")
    assert "time range: first 24 h after each platform" in caption.replace("<br>", " · ")
    tab.goto(published + "/velocity?range=1d&grain=hour")
    figure(tab, "velocity")
    xs = tab.evaluate(
        "() => document.querySelector('#chart-velocity .js-plotly-plot').data"
        ".flatMap(t => t.x || [])"
    )
    assert xs and max(xs) < 24
    tab.click("#range")
    tab.click(".dash-dropdown-option >> text=First 7 days")
    tab.wait_for_function("() => location.search.includes('range=7d')", timeout=TIMEOUT_MS)
    tab.wait_for_function(
        "() => Math.max(...document.querySelector('#chart-velocity .js-plotly-plot').data"
        ".flatMap(t => t.x || [])) > 24",
        timeout=TIMEOUT_MS,
    )
    assert "grain=hour" not in tab.url and "range=7d" in tab.url  # defaults stay out
    assert tab.console_errors == []


def test_charts_use_the_local_cartesian_plotly_bundle(tab: Any, published: str) -> None:
    """dashboard/assets carries plotly.js's cartesian bundle (1.5 MB, every trace type the
    charts use); dcc.Graph uses it instead of fetching the full 4.8 MB bundle."""
    fetched: list[str] = []
    tab.on("request", lambda r: fetched.append(r.url) if "plotly" in r.url else None)
    tab.goto(published + "/forecasts")
    figure(tab, "forecast")
    version = tab.evaluate("() => window.Plotly.version")
    bundle = next(Path(__file__).resolve().parents[1].glob("dashboard/assets/plotly-*.min.js"))
    assert version in bundle.name
    assert not [url for url in fetched if "package_data/plotly.min.js" in url]
    assert tab.console_errors == []
