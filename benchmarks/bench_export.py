"""Benchmark of `uptake export`: every chart of the dashboard as PNG in one process.

    /tmp/venv/bin/python benchmarks/bench_export.py [--home DIR] [--rounds 1] [--baseline 11]

Times export_chart (build the figure, render, write the file) for every chart through one
persistent Chromium (dashboard.export.StaticRenderer, kaleido's sync server), and in the same
run the plain baseline: `fig.write_image` per image without a server, which starts Chromium
for each image. Without --home it publishes the synthetic test snapshot (10M signups in 7 h
plus 1M over 6 days) in a temporary folder. Target (issue 8): under 0.5 s per chart after
the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import plotly.graph_objects as go

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.export import DEFAULT_WIDTH, StaticRenderer, chart_inputs, export_chart
from etl.config import load_settings

TESTS = Path(__file__).resolve().parents[1] / "tests"


def fixture_home(folder: Path) -> Path:
    sys.path.insert(0, str(TESTS))
    from dashboard_fixtures import publish_fixture_snapshot

    publish_fixture_snapshot(folder)
    return folder


def persistent(inputs: ChartInputs, out: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds per export in order (the first includes starting Chromium), and, with the
    same browser, where the time goes: building figures, rendering them, and kaleido's floor
    (a one-point figure; kaleido reloads its page after every image)."""
    times: dict[str, list[float]] = {"export": [], "build": [], "render": [], "floor": []}
    with StaticRenderer() as renderer:
        for round_ in range(rounds):
            for chart in CHARTS:
                started = time.perf_counter()
                export_chart(inputs, chart, out / f"{chart}-{round_}.png", renderer=renderer)
                times["export"].append(time.perf_counter() - started)
        figures = []
        for chart in CHARTS:
            started = time.perf_counter()
            figures.append(build_chart(chart, inputs, ViewOptions()))
            times["build"].append(time.perf_counter() - started)
        for fig in figures:
            started = time.perf_counter()
            renderer.render(fig, "png", width=DEFAULT_WIDTH, height=fig.layout.height or 600)
            times["render"].append(time.perf_counter() - started)
        dot = go.Figure(go.Scatter(x=[1], y=[1]))
        for _ in range(5):
            started = time.perf_counter()
            renderer.render(dot, "png", width=DEFAULT_WIDTH, height=480)
            times["floor"].append(time.perf_counter() - started)
    return times


def baseline(inputs: ChartInputs, out: Path, count: int) -> list[float]:
    """Seconds per plain fig.write_image (no server: Chromium starts for every image)."""
    times = []
    for chart in list(CHARTS)[:count]:
        started = time.perf_counter()
        fig = build_chart(chart, inputs, ViewOptions())
        fig.write_image(
            out / f"{chart}-plain.png", width=DEFAULT_WIDTH, height=fig.layout.height or 600
        )
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="an Uptake home with a published snapshot")
    parser.add_argument("--rounds", type=int, default=1, help="times to export every chart")
    parser.add_argument("--baseline", type=int, default=len(CHARTS), help="plain exports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        home = args.home or fixture_home(Path(tmp) / "home")
        inputs = chart_inputs(load_settings(home, env={}))
        out = Path(tmp) / "out"
        out.mkdir()
        fast = persistent(inputs, out, args.rounds)
        plain = baseline(inputs, out, args.baseline)
    after = fast["export"][1:]
    per_plain = statistics.mean(plain)
    per_fast = statistics.mean(after)
    total = sum(fast["export"])
    print(f"charts: {len(CHARTS)} x {args.rounds} round(s), PNG {DEFAULT_WIDTH} px wide")
    print(f"persistent browser: total {total:.2f} s, first {fast['export'][0]:.2f} s")
    print(
        f"  after the first: mean {per_fast:.3f} s, median {statistics.median(after):.3f} s, "
        f"max {max(after):.3f} s per chart"
    )
    for part in ("build", "render", "floor"):
        print(f"  {part}: mean {statistics.mean(fast[part]):.3f} s per chart")
    print(f"baseline fig.write_image without a server: mean {per_plain:.2f} s per chart")
    print(f"ratio per chart after the first (baseline / persistent): {per_plain / per_fast:.1f}x")
    batch = per_plain * len(fast["export"])
    print(f"ratio for the whole batch of {len(fast['export'])}: {batch / total:.1f}x")


if __name__ == "__main__":
    main()
