"""Benchmark of the Dash app (issue 6): server-side chart callbacks and the home page in Chromium.

    /tmp/venv/bin/python benchmarks/bench_dashboard.py [--home DIR] [--repeat 20] [--loads 5]
        [--screenshots docs/screenshots]

1. Every chart of dashboard.charts.CHARTS, cold (what a chart callback does on a cache miss):
   build_chart on the live snapshot plus `fig.to_json()` (what the callback sends), p50/p95
   over --repeat calls.
2. The real Dash callbacks: the POST /_dash-update-component bodies the browser sent for
   every chart, replayed through the Flask test client of a fresh app (cold: the app's figure
   cache is empty) and again on the same app (warm: a cache hit).
3. Time from navigation to every `.js-plotly-plot` of the home page drawn (data and an svg),
   median over --loads fresh browser contexts, served in-process by werkzeug.

With --screenshots it also saves every page at 1440x900 once its charts are drawn. Without
--home it publishes the synthetic test snapshot in a temporary folder. Targets (issue 6):
every callback p95 under 150 ms; home page fully drawn under 2.5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from werkzeug.serving import WSGIRequestHandler, make_server

from dashboard.app import create_app
from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.export import chart_inputs
from dashboard.pages import PAGES
from etl.config import Settings, load_settings

TESTS = Path(__file__).resolve().parents[1] / "tests"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 20_000
CALLBACK_TARGET_MS = 150.0
HOME_TARGET_S = 2.5
# A chart is drawn when its figure has arrived: traces, or an empty state's message (the
# graph's placeholder before the callback answers has neither).
DRAWN = """el => el.data && el.layout && el.querySelector('.main-svg')
    && (el.data.length || (el.layout.annotations || []).length)"""
ALL_DRAWN = f"""(expected) => {{
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    return plots.length >= expected && plots.every({DRAWN});
}}"""
EMPTY_PLOTS = f"""() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(el => !({DRAWN})(el))
    .map(el => el.closest('[id^=chart-]')?.id || '?')"""


def fixture_home(folder: Path) -> Path:
    sys.path.insert(0, str(TESTS))
    from dashboard_fixtures import publish_fixture_snapshot

    publish_fixture_snapshot(folder)
    return folder


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_charts(inputs: ChartInputs, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per chart: build_chart, fig.to_json(), and both together."""
    times: dict[str, dict[str, list[float]]] = {}
    views = [(name, name, ViewOptions()) for name in CHARTS]
    views.append(("velocity (minute)", "velocity", ViewOptions(grain="minute")))  # 43k rows
    for label, name, options in views:
        build_chart(name, inputs, options).to_json()  # warm imports and lazy tables
        row: dict[str, list[float]] = {"build": [], "json": [], "total": []}
        for _ in range(repeat):
            started = time.perf_counter()
            fig = build_chart(name, inputs, options)
            built = time.perf_counter()
            fig.to_json()
            done = time.perf_counter()
            row["build"].append((built - started) * 1000)
            row["json"].append((done - built) * 1000)
            row["total"].append((done - started) * 1000)
        times[label] = row
    return times


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """One line per Dash request would drown the table."""


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app.server, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


def chart_of(body: str | None) -> str | None:
    """The chart a Dash callback request updates, if it is a chart callback."""
    if not body:
        return None
    output = json.loads(body).get("output", "")
    if output.startswith("chart-") and output.endswith(".figure"):
        return output.removeprefix("chart-").removesuffix(".figure")
    return None


def browse(
    browser: Any, base: str, loads: int, shots: Path | None
) -> tuple[list[float], dict[str, str], list[str]]:
    """Seconds to a fully drawn home page per fresh context; the chart callback bodies the
    browser sent on every page; console errors. Saves screenshots when `shots` is set."""
    home_page = PAGES[0]
    drawn: list[float] = []
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)
        tab = context.new_page()
        started = time.perf_counter()
        tab.goto(base + home_page.PATH)
        tab.wait_for_function(ALL_DRAWN, arg=len(home_page.CHARTS), timeout=TIMEOUT_MS)
        drawn.append(time.perf_counter() - started)
        context.close()

    bodies: dict[str, str] = {}
    errors: list[str] = []
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))

    def record(request: Any) -> None:
        if "_dash-update-component" in request.url and (name := chart_of(request.post_data)):
            bodies.setdefault(name, request.post_data)

    tab.on("request", record)
    for page in PAGES:
        tab.goto(base + page.PATH)
        try:
            tab.wait_for_function(ALL_DRAWN, arg=len(page.CHARTS), timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            empty = tab.evaluate(EMPTY_PLOTS)
            errors.append(f"{page.PATH}: plots with no data after {TIMEOUT_MS} ms: {empty}")
        if shots is not None:
            tab.wait_for_timeout(500)  # let transitions and fonts settle
            stem = page.__name__.rsplit(".", 1)[-1].replace("_", "-")
            tab.screenshot(path=str(shots / f"{stem}.png"), full_page=False)
    context.close()
    return drawn, bodies, errors


def time_callbacks(
    settings: Settings, bodies: dict[str, str], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per real chart callback through the Flask test client: cold (a fresh
    app per round, snapshot already opened) and warm (the same request again)."""
    times: dict[str, dict[str, list[float]]] = {
        n: {"cold": [], "warm": [], "kb": []} for n in bodies
    }
    headers = {"Content-Type": "application/json"}
    for _ in range(rounds):
        client = create_app(settings).server.test_client()
        client.get("/")
        for name, body in bodies.items():
            for kind in ("cold", "warm", "warm", "warm"):
                started = time.perf_counter()
                response = client.post("/_dash-update-component", data=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}")
                times[name][kind].append(elapsed)
            times[name]["kb"].append(len(response.data) / 1024)
    return times


def load_average() -> str:
    """The 1-minute load average (the machine is shared: it says how loaded it was)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="home folder with a published snapshot")
    parser.add_argument("--repeat", type=int, default=20, help="calls per chart")
    parser.add_argument("--loads", type=int, default=5, help="fresh home page loads")
    parser.add_argument("--rounds", type=int, default=5, help="fresh apps for Dash callbacks")
    parser.add_argument("--screenshots", type=Path, help="save every page here as PNG")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or fixture_home(Path(tmp))
        settings = load_settings(home, env={})
        inputs = chart_inputs(settings)
        print(f"snapshot {inputs.snapshot.id} under {home}; load average {load_average()}")
        charts = time_charts(inputs, args.repeat)
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        with serve(settings) as base, chromium() as browser:
            drawn, bodies, errors = browse(browser, base, args.loads, args.screenshots)
        callbacks = time_callbacks(settings, bodies, args.rounds)

    print(f"\nchart builders, {args.repeat} calls each (ms)")
    print("| chart | build p50 | to_json p50 | total p50 | total p95 | p95 < 150 ms |")
    print("|---|---|---|---|---|---|")
    for name, row in charts.items():
        p95 = percentile(row["total"], 0.95)
        print(
            f"| {name} | {statistics.median(row['build']):.1f} | "
            f"{statistics.median(row['json']):.1f} | {statistics.median(row['total']):.1f} | "
            f"{p95:.1f} | {'yes' if p95 < CALLBACK_TARGET_MS else 'NO'} |"
        )
    print(f"\nDash chart callbacks via the Flask test client, {args.rounds} fresh apps (ms)")
    print("| callback | cold p50 | cold p95 | warm p50 | warm p95 | cold p95 < 150 ms | KB |")
    print("|---|---|---|---|---|---|---|")
    for name, row in callbacks.items():
        cold95 = percentile(row["cold"], 0.95)
        print(
            f"| chart-{name}.figure | {statistics.median(row['cold']):.1f} | {cold95:.1f} | "
            f"{statistics.median(row['warm']):.1f} | {percentile(row['warm'], 0.95):.1f} | "
            f"{'yes' if cold95 < CALLBACK_TARGET_MS else 'NO'} | {max(row['kb']):.0f} |"
        )
    home_median = statistics.median(drawn)
    print(
        f"\nhome page fully drawn, {args.loads} fresh contexts: median {home_median:.2f} s "
        f"(min {min(drawn):.2f}, max {max(drawn):.2f}); target < {HOME_TARGET_S} s: "
        f"{'yes' if home_median < HOME_TARGET_S else 'NO'}"
    )
    print(f"console errors: {len(errors)}; load average at the end {load_average()}")
    for error in errors[:10]:
        print(f"  {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
