"""Benchmark of the Dash app: server-side chart callbacks and the home page in Chromium.

    /tmp/venv/bin/python benchmarks/bench_dashboard.py [--home DIR] [--repeat 20] [--loads 5]
        [--rounds 5] [--screenshots docs/screenshots]

1. Every chart of dashboard.charts.CHARTS, cold (what a chart callback does on a cache miss):
   build_chart on the live snapshot plus `fig.to_json()` (what the callback sends), p50/p95
   over --repeat calls, wall and CPU time.
2. The real Dash callbacks: the POST /_dash-update-component bodies the browser sent for
   every chart (default view), replayed through the Flask test client, per round on two
   fresh apps: one without prewarm (cold: the first view builds the figure) and one whose
   prewarm has finished (prewarmed: the first view should be a cache hit); then again on the
   same app (warm). Wall and CPU time of the request thread.
3. Time from navigation to every `.js-plotly-plot` of the home page drawn (data and an svg)
   on a fresh app per load, cold (no prewarm: the first visit builds the figures) and
   prewarmed (after the app's prewarm ended: the figure comes with the page layout), median
   over --loads fresh browser contexts each, served in-process by werkzeug.

Load average (the machine is shared) is printed at the start and the end. With an older
checkout on PYTHONPATH (no prewarm in create_app), only the cold columns are measured, so
before and after can be run in the same session with this same script.

With --screenshots it also saves every page at 1440x900 once its charts are drawn. Without
--home it publishes the synthetic test snapshot in a temporary folder. Targets:
every callback p95 under 150 ms; home page fully drawn under 2.5 s.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

import dashboard
from dashboard.app import create_app
from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.export import chart_inputs
from dashboard.pages import PAGES
from dashboard.server import serve_in_thread
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


PREWARM = "prewarm" in inspect.signature(create_app).parameters  # False on older code
MODES = ("cold", "prewarmed") if PREWARM else ("cold",)


def make_app(settings: Settings, mode: str) -> Any:
    """A fresh app; "prewarmed": once its prewarm has ended; "cold": without prewarm."""
    if not PREWARM:
        return create_app(settings)
    app = create_app(settings, prewarm=mode == "prewarmed")
    if mode == "prewarmed":
        from dashboard.app import app_context

        app_context(app).wait_prewarmed(timeout=600)
    return app


def time_charts(inputs: ChartInputs, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per chart: build_chart, fig.to_json(), both together, and CPU."""
    times: dict[str, dict[str, list[float]]] = {}
    views = [(name, name, ViewOptions()) for name in CHARTS]
    views.append(("velocity (minute)", "velocity", ViewOptions(grain="minute")))  # 43k rows
    for label, name, options in views:
        build_chart(name, inputs, options).to_json()  # warm imports and lazy tables
        row: dict[str, list[float]] = {"build": [], "json": [], "total": [], "cpu": []}
        for _ in range(repeat):
            cpu = time.thread_time()
            started = time.perf_counter()
            fig = build_chart(name, inputs, options)
            built = time.perf_counter()
            fig.to_json()
            done = time.perf_counter()
            row["build"].append((built - started) * 1000)
            row["json"].append((done - built) * 1000)
            row["total"].append((done - started) * 1000)
            row["cpu"].append((time.thread_time() - cpu) * 1000)
        times[label] = row
    return times


@contextmanager
def serve(settings: Settings, mode: str = "cold") -> Iterator[str]:
    with serve_in_thread(make_app(settings, mode)) as url:
        yield url


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
    output = str(json.loads(body).get("output", ""))
    if output.startswith("chart-") and output.endswith(".figure"):
        return output.removeprefix("chart-").removesuffix(".figure")
    return None


def home_page_draws(browser: Any, settings: Settings, loads: int) -> dict[str, list[float]]:
    """Seconds from navigation to a fully drawn home page, per mode: a fresh app and a fresh
    browser context per load, the modes alternating so that they share the load."""
    home_page = PAGES[0]
    drawn: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(loads):
        for mode in MODES:
            with serve(settings, mode) as base:
                context = browser.new_context(viewport=VIEWPORT)
                tab = context.new_page()
                started = time.perf_counter()
                tab.goto(base + home_page.PATH)
                tab.wait_for_function(ALL_DRAWN, arg=len(home_page.CHARTS), timeout=TIMEOUT_MS)
                drawn[mode].append(time.perf_counter() - started)
                context.close()
    return drawn


def browse(browser: Any, base: str, shots: Path | None) -> tuple[dict[str, str], list[str]]:
    """The chart callback bodies the browser sent on every page; console errors. Saves
    screenshots when `shots` is set."""
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
        # A page whose figures came with its layout is drawn before its chart callbacks
        # (which then send nothing) have gone out: wait for them to record their bodies.
        for _ in range(TIMEOUT_MS // 100):
            if set(page.CHARTS) <= set(bodies):
                break
            tab.wait_for_timeout(100)
        if shots is not None:
            tab.wait_for_timeout(500)  # let transitions and fonts settle
            stem = page.__name__.rsplit(".", 1)[-1].replace("_", "-")
            tab.screenshot(path=str(shots / f"{stem}.png"), full_page=False)
    context.close()
    return bodies, errors


def as_callback(body: str) -> str:
    """The recorded body as a chart callback that must answer: a graph that came with its
    figure in the page layout (className "prefilled") would get no_update on first load."""
    parsed = json.loads(body)
    for item in parsed.get("state", []):
        if item.get("property") == "className":
            item["value"] = None
    return json.dumps(parsed)


def time_callbacks(
    settings: Settings, bodies: dict[str, str], rounds: int
) -> tuple[dict[str, dict[str, list[float]]], list[tuple[float, float]]]:
    """Milliseconds per real chart callback through the Flask test client, wall and CPU of
    the request thread: per round a fresh app per mode (first call: "<mode>"), then the
    same request again ("warm"). Also (wall s, process CPU s) of each app's prewarm."""
    kinds = [*MODES, *(f"{mode} cpu" for mode in MODES), "warm", "warm cpu", "kb"]
    times: dict[str, dict[str, list[float]]] = {n: {k: [] for k in kinds} for n in bodies}
    prewarms: list[tuple[float, float]] = []
    headers = {"Content-Type": "application/json"}
    for _ in range(rounds):
        for mode in MODES:
            wall, cpu = time.perf_counter(), time.process_time()
            client = make_app(settings, mode).server.test_client()
            if mode == "prewarmed":
                prewarms.append((time.perf_counter() - wall, time.process_time() - cpu))
            client.get("/")
            for name, body in bodies.items():
                for kind in (mode, "warm", "warm", "warm"):
                    cpu = time.thread_time()
                    started = time.perf_counter()
                    response = client.post(
                        "/_dash-update-component", data=as_callback(body), headers=headers
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200 or f"chart-{name}" not in response.text:
                        raise RuntimeError(f"{name}: HTTP {response.status_code}, no figure")
                    times[name][kind].append(elapsed)
                    times[name][f"{kind} cpu"].append((time.thread_time() - cpu) * 1000)
                times[name]["kb"].append(len(response.data) / 1024)
    return times, prewarms


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
        print(
            f"snapshot {inputs.snapshot.id} under {home}; code {Path(dashboard.__file__).parent}"
            f"; prewarm {'yes' if PREWARM else 'no (older code)'}; "
            f"load average {load_average()}",
            flush=True,
        )
        cpu_started = time.process_time()
        charts = time_charts(inputs, args.repeat)
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        with chromium() as browser:
            drawn = home_page_draws(browser, settings, args.loads)
            with serve(settings, MODES[-1]) as base:
                bodies, errors = browse(browser, base, args.screenshots)
        callbacks, prewarms = time_callbacks(settings, bodies, args.rounds)

    print(f"\nchart builders, {args.repeat} calls each (ms)")
    print("| chart | build p50 | to_json p50 | total p50 | total p95 | CPU p50 | p95 < 150 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, row in charts.items():
        p95 = percentile(row["total"], 0.95)
        print(
            f"| {name} | {statistics.median(row['build']):.1f} | "
            f"{statistics.median(row['json']):.1f} | {statistics.median(row['total']):.1f} | "
            f"{p95:.1f} | {statistics.median(row['cpu']):.1f} | "
            f"{'yes' if p95 < CALLBACK_TARGET_MS else 'NO'} |"
        )
    print(
        f"\nFirst-view Dash chart callbacks via the Flask test client, {args.rounds} fresh apps "
        "per mode (ms; CPU: the request thread's)"
    )
    columns = [f"{m} {s}" for m in (*MODES, "warm") for s in ("p50", "p95", "CPU p50")]
    print(f"| callback | {' | '.join(columns)} | first-view p95 < 150 ms | KB |")
    print("|---|" + "---|" * (len(columns) + 2))
    for name, row in callbacks.items():
        cells = []
        for mode in (*MODES, "warm"):
            cells += [
                f"{statistics.median(row[mode]):.1f}",
                f"{percentile(row[mode], 0.95):.1f}",
                f"{statistics.median(row[f'{mode} cpu']):.1f}",
            ]
        first95 = percentile(row[MODES[-1]], 0.95)
        print(
            f"| chart-{name}.figure | {' | '.join(cells)} | "
            f"{'yes' if first95 < CALLBACK_TARGET_MS else 'NO'} | {max(row['kb']):.0f} |"
        )
    if prewarms:
        walls, cpus = [w for w, _ in prewarms], [c for _, c in prewarms]
        print(
            f"prewarm of every page's default view (start-up to done): wall median "
            f"{statistics.median(walls):.2f} s, process CPU median {statistics.median(cpus):.2f} s"
        )
    for mode, seconds in drawn.items():
        home_median = statistics.median(seconds)
        print(
            f"\nhome page fully drawn, {mode}, {args.loads} fresh apps and contexts: median "
            f"{home_median:.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}); "
            f"target < {HOME_TARGET_S} s: {'yes' if home_median < HOME_TARGET_S else 'NO'}"
        )
    print(
        f"console errors: {len(errors)}; process CPU {time.process_time() - cpu_started:.1f} s "
        f"(browser excluded); load average at the end {load_average()}"
    )
    for error in errors[:10]:
        print(f"  {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
