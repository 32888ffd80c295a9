"""The real app: its callbacks through the Flask test client, and in headless Chromium
(Debian's, driven by Playwright, marked `browser`), served in-process."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import (
    build_tables,
    publish_demo_shaped_snapshot,
    publish_fixture_snapshot,
    publish_tables,
)
from playwright.sync_api import expect

from dashboard.app import create_app
from dashboard.pages import PAGES
from dashboard.server import serve_in_thread

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


def serve(home: Path) -> Iterator[str]:
    with serve_in_thread(create_app(home, poll_ms=300)) as url:
        yield url


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


@pytest.mark.browser
def test_home_page_draws_the_race_of_both_platforms(tab: Any, published: str) -> None:
    tab.goto(published + "/")
    drawn = figure(tab, "launch-race")
    assert {"viral (measured)", "steady (measured)"} <= set(drawn["names"])
    assert drawn["layout"]["xaxis"]["type"] == "log"
    assert "Same milestone, 1M: viral in 25 min" in drawn["layout"]["title"]["subtitle"]["text"]
    expect(tab.locator("#snapshot-meta")).to_contain_text(
        "data as of 2026-10-15 00:00 UTC", timeout=TIMEOUT_MS
    )
    assert tab.console_errors == []


@pytest.mark.browser
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
    tab.click(".nav >> text=Launch race")  # back to the page the layout came with
    assert figure(tab, "launch-race")["names"]
    tab.click(".nav >> text=Milestones")
    tab.wait_for_selector("#milestone-table td", timeout=TIMEOUT_MS)
    expect(tab.locator("#milestone-table")).to_contain_text("6.1 days", timeout=TIMEOUT_MS)
    assert tab.console_errors == []


@pytest.mark.browser
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


@pytest.mark.browser
def test_retention_mode_toggle_changes_the_curves(tab: Any, published: str) -> None:
    tab.goto(published + "/retention")
    assert "(on)" in figure(tab, "retention-curves")["layout"]["title"]["text"]
    tab.click("#retention-mode >> text=On or after")
    tab.wait_for_function(
        "() => document.querySelector('#chart-retention-curves .js-plotly-plot')"
        ".layout.title.text.includes('on or after')",
        timeout=TIMEOUT_MS,
    )


@pytest.mark.browser
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
@pytest.mark.browser
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


@pytest.mark.browser
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


@pytest.mark.browser
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


# Callbacks and the prewarm, without a browser.


def callback_body(output: str, inputs: list[tuple[str, str, Any]], state: list[Any]) -> str:
    """A POST /_dash-update-component body as the browser sends it on a page's first load."""
    import json

    def ref(item: tuple[str, str, Any]) -> dict[str, Any]:
        return {"id": item[0], "property": item[1], "value": item[2]}

    many = [o.rsplit(".", 1) for o in output.strip(".").split("...")]
    outputs = [{"id": c, "property": p} for c, p in many]
    return json.dumps(
        {
            "output": output,
            "outputs": outputs if output.startswith("..") else outputs[0],
            "inputs": [ref(i) for i in inputs],
            "changedPropIds": [],
            "state": [ref(s) for s in state],
        }
    )


def chart_request(name: str, snapshot_id: str, class_name: str | None = None) -> str:
    from dashboard.controls import CONTROLS

    controls = [(c.id, "value", c.default) for c in CONTROLS]
    return callback_body(
        f"chart-{name}.figure",
        [("snapshot-id", "data", snapshot_id), *controls],
        [(f"chart-{name}", "className", class_name)],
    )


def post(client: Any, body: str) -> Any:
    return client.post(
        "/_dash-update-component", data=body, headers={"Content-Type": "application/json"}
    )


def test_prewarm_makes_every_default_view_callback_a_cache_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboard.context
    from dashboard.app import DEFAULT_VIEW, app_context, default_views

    publish_fixture_snapshot(tmp_path, "first")
    app = create_app(tmp_path)
    context = app_context(app)
    assert context.wait_prewarmed(timeout=300)
    views = default_views()
    assert len(views) == 15 and all(options == DEFAULT_VIEW for _, options in views)
    assert all(context.cached(name, options) is not None for name, options in views)

    def no_building(*args: Any) -> Any:
        raise AssertionError("a default view was built again instead of read from the cache")

    monkeypatch.setattr(dashboard.context, "build_chart", no_building)
    client = app.server.test_client()
    for name, options in views:
        response = post(client, chart_request(name, "first"))
        assert response.status_code == 200, name
        sent = response.get_json()["response"][f"chart-{name}"]["figure"]
        assert sent["layout"]["title"] == context.cached(name, options)["layout"]["title"]


def test_the_page_layout_carries_cached_default_figures(tmp_path: Path) -> None:
    from dashboard.app import PREFILLED, app_context

    publish_fixture_snapshot(tmp_path, "first")
    app = create_app(tmp_path)
    assert app_context(app).wait_prewarmed(timeout=300)
    client = app.server.test_client()
    client.get("/")
    # the route callback's multi-output id (page content, menu classes, control groups)
    route_id = next(k for k in app.callback_map if k.startswith("..page-content.children"))

    def route(search: str, rendered: str | None = None) -> Any:
        body = callback_body(
            route_id,
            [("url", "pathname", "/engagement"), ("snapshot-id", "data", "first")],
            [("url", "search", search), ("rendered-page", "data", rendered)],
        )
        return post(client, body)

    def graphs(tree: Any) -> dict[str, dict[str, Any]]:
        """The props of every chart graph in a layout tree."""
        found: dict[str, dict[str, Any]] = {}

        def walk(node: Any) -> None:
            if isinstance(node, list):
                for child in node:
                    walk(child)
            elif isinstance(node, dict):
                if node.get("type") == "Graph":
                    found[node["props"]["id"]] = node["props"]
                for value in node.values():
                    walk(value)

        walk(tree)
        return found

    default = graphs(route("").get_json()["response"]["page-content"])
    assert set(default) == {"chart-active-users", "chart-stickiness", "chart-lifecycle"}
    assert all(props.get("className") == PREFILLED for props in default.values())
    title = default["chart-lifecycle"]["figure"]["layout"]["title"]["text"]
    assert title == "Growth accounting per day"
    shared = graphs(route("?scale=linear").get_json()["response"]["page-content"])
    assert all("figure" not in props and not props.get("className") for props in shared.values())

    # The layout itself carries the page the browser asked for (the Referer of the layout
    # request), so the route's first call changes nothing.
    for referrer, prefilled in (("/engagement", True), ("/engagement?scale=linear", False)):
        layout = client.get("/_dash-layout", headers={"Referer": "http://localhost" + referrer})
        shell = graphs(layout.get_json())
        assert set(shell) == set(default), referrer
        assert all((p.get("className") == PREFILLED) is prefilled for p in shell.values())
    assert route("", rendered="/engagement").status_code == 204
    assert graphs(client.get("/_dash-layout").get_json()) == {}  # no Referer: the route draws

    # A prefilled graph's first callback sends nothing; a change redraws it.
    skipped = post(client, chart_request("lifecycle", "first", PREFILLED)).get_json()
    assert skipped in (None, {"multi": True, "response": {}})  # no_update
    drawn = post(client, chart_request("lifecycle", "first")).get_json()
    assert drawn["response"]["chart-lifecycle"]["figure"]["layout"]["title"]["text"] == title


def test_prewarm_stops_for_a_newer_snapshot_and_drops_the_old_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboard.context
    from dashboard.app import DEFAULT_VIEW
    from dashboard.charts import build_chart
    from dashboard.context import CACHE_SIZE, AppContext
    from etl.snapshot import SnapshotReader

    publish_fixture_snapshot(tmp_path, "first")
    built: list[tuple[str, str]] = []

    def build_then_publish(name: str, inputs: Any, options: Any) -> Any:
        built.append((inputs.snapshot.id, name))
        if len(built) == 1:  # a newer snapshot arrives while the first chart is built
            publish_fixture_snapshot(tmp_path, "second")
        return build_chart(name, inputs, options)

    monkeypatch.setattr(dashboard.context, "build_chart", build_then_publish)
    views = [(name, DEFAULT_VIEW) for name in ("runs", "milestones", "hour-of-day", "overlap")]
    context = AppContext(SnapshotReader(tmp_path / "serving"), prewarm_views=views)
    context.start_prewarm()
    assert context.wait_prewarmed(timeout=300)
    assert built == [("first", "runs")]  # stopped before the second chart
    context.start_prewarm()  # what the poll does when it sees the new snapshot
    assert context.wait_prewarmed(timeout=300)
    assert built[1:] == [("second", name) for name, _ in views]
    assert context.cached("runs", DEFAULT_VIEW) is not None
    assert all(key[0] == "second" for key in context._figures)
    assert len(context._figures) <= CACHE_SIZE


def test_concurrent_requests_for_one_figure_build_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import dashboard.context
    from dashboard.app import DEFAULT_VIEW
    from dashboard.charts import build_chart
    from dashboard.context import AppContext
    from etl.snapshot import SnapshotReader

    publish_fixture_snapshot(tmp_path, "first")
    built: list[str] = []

    def slow_build(name: str, inputs: Any, options: Any) -> Any:
        built.append(name)
        time.sleep(0.5)  # long enough for the other request to ask meanwhile
        return build_chart(name, inputs, options)

    monkeypatch.setattr(dashboard.context, "build_chart", slow_build)
    context = AppContext(SnapshotReader(tmp_path / "serving"))
    figures: list[Any] = []
    threads = [
        threading.Thread(target=lambda: figures.append(context.figure("runs", DEFAULT_VIEW)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == ["runs"]
    assert figures[0] is figures[1]


@pytest.fixture(scope="module")
def demo_shaped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two month-old launches beside a ten-year incumbent, as `uptake demo` publishes."""
    home = tmp_path_factory.mktemp("demo-home")
    publish_demo_shaped_snapshot(home)
    yield from serve(home)


MAX_PAGE_PX = 4_000


@pytest.mark.browser
def test_every_page_of_the_demo_shape_is_readable(tab: Any, demo_shaped: str) -> None:
    """At 1440x900, every page (the incumbent's heatmap included) is under 4,000 px tall,
    and in the default view the launches' traces span the time axes (no ten-year axis)."""
    heights = {}
    for page in PAGES:
        tab.goto(demo_shaped + page.PATH)
        for name in page.CHARTS:
            figure(tab, name)
        heights[page.PATH] = tab.evaluate("() => document.documentElement.scrollHeight")
    tab.goto(demo_shaped + "/retention?heatmap-platform=incumbent")
    drawn = figure(tab, "retention-heatmap")
    assert "week cohorts" in drawn["layout"]["title"]["subtitle"]["text"]
    heights["/retention?heatmap-platform=incumbent"] = tab.evaluate(
        "() => document.documentElement.scrollHeight"
    )
    assert max(heights.values()) < MAX_PAGE_PX, heights
    for path, name in (("/", "launch-race"), ("/velocity", "velocity")):
        tab.goto(demo_shaped + path)
        figure(tab, name)
        low = tab.evaluate(
            f"() => document.querySelector('#chart-{name} .js-plotly-plot')"
            "._fullLayout.yaxis.range[0]"
        )
        assert low >= 0, (name, low)  # no log tick below 1 user
    tab.goto(demo_shaped + "/engagement")
    for name in ("active-users", "stickiness"):
        drawn = figure(tab, name)
        assert not any("incumbent" in (n or "") for n in drawn["names"]), name
        xs = tab.evaluate(
            f"() => document.querySelector('#chart-{name} .js-plotly-plot').data"
            ".filter(t => (t.x || []).length > 1).map(t => [Math.min(...t.x), Math.max(...t.x)])"
        )
        axis = drawn["layout"]["xaxis"]["range"]
        for low, high in xs:  # each trace spans a visible share of its axis
            assert (high - low) / (axis[1] - axis[0]) > 0.3, (name, low, high, axis)
    placeholder = tab.locator("#platforms").inner_text()
    assert "incumbent" in placeholder
    assert tab.console_errors == []


@pytest.mark.browser
def test_controls_show_only_where_they_act(tab: Any, demo_shaped: str) -> None:
    """Scale on the pages with a log option only; the reported picker only with its overlay;
    the time range reaches the migration share, and the charts it cannot restrict say so."""
    for path, scale_shown in (("/", True), ("/engagement", True), ("/retention", False)):
        tab.goto(demo_shaped + path)
        tab.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
        visible = tab.locator("#group-scale").is_visible()
        assert visible == scale_shown, path
    tab.goto(demo_shaped + "/migration")
    tab.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    assert not tab.locator("#group-scale").is_visible()
    tab.goto(demo_shaped + "/")
    figure(tab, "launch-race")
    picker = tab.locator("button#reported-platforms")
    expect(picker).to_be_disabled(timeout=TIMEOUT_MS)
    tab.click("#reported >> text=Overlay public figures")
    expect(picker).to_be_enabled(timeout=TIMEOUT_MS)
    tab.goto(demo_shaped + "/migration?range=1d")
    share = figure(tab, "migration-share")
    days = tab.evaluate(
        "() => document.querySelector('#chart-migration-share .js-plotly-plot').data"
        ".flatMap(t => t.x || []).map(x => String(x).slice(0, 10))"
    )
    assert days and set(days) <= {"2026-10-01", "2026-10-02"}, set(days)
    caption = next(a["text"] for a in share["layout"]["annotations"] if a.get("name") == "caption")
    assert "first 24 h" in caption
    overlap = figure(tab, "overlap")
    caption = next(
        a["text"] for a in overlap["layout"]["annotations"] if a.get("name") == "caption"
    )
    assert "not restricted by it" in caption.replace("<br>", " ")
    assert tab.console_errors == []


@pytest.mark.browser
def test_data_health_tiles_share_one_row(tab: Any, demo_shaped: str) -> None:
    """At 1440x900 the six Data health tiles sit side by side (the long snapshot id and
    times wrapped the last tile onto a row of its own) and each value stays in its tile."""
    tab.goto(demo_shaped + "/health")
    tab.wait_for_selector("#health-stats .stat", timeout=TIMEOUT_MS)
    boxes = tab.evaluate(
        """() => [...document.querySelectorAll('#health-stats .stat')].map(el => {
            const value = el.querySelector('.stat-value').getBoundingClientRect();
            const tile = el.getBoundingClientRect();
            return [tile.top, tile.left, tile.right, value.right];
        })"""
    )
    assert len(boxes) == 6
    assert len({round(top) for top, *_ in boxes}) == 1, boxes
    assert all(value <= right for _, _, right, value in boxes), boxes
    assert tab.console_errors == []
