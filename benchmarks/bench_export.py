"""Benchmark of `uptake export all --format png`: every chart of the dashboard as PNG in one
process, through the current path and the older ones, in the same run.

    /tmp/venv/bin/python benchmarks/bench_export.py [--home DIR] [--rounds 3] [--baseline 0]
        [--modes batch,sequential,reload,sync-server] [--tabs 1]

Modes (each starts its own Chromium, so "first" includes the start):
- batch: what `uptake export all` does: `export_charts`, one batch through one browser whose
  page is reused between images; figures are built while the browser draws.
- sequential: `export_chart` per chart with the same renderer (page reused, no batch).
- reload: the batch with stock kaleido, which reloads its page (and re-parses plotly.js)
  after every image (`StaticRenderer(reuse_page=False)`).
- sync-server: the previous implementation: kaleido's sync server
  (`kaleido.start_sync_server`, then `calc_fig_sync` per chart, one at a time).
- --baseline N: plain `fig.write_image` without a server for N charts (Chromium per image).

Without --home it publishes the synthetic test snapshot (10M signups in 7 h plus 1M over
6 days) in a temporary folder. Target: under 0.5 s per chart after the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import plotly.graph_objects as go

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.export import (
    DEFAULT_WIDTH,
    StaticRenderer,
    chart_inputs,
    export_chart,
    export_charts,
    image_of,
    shared_chart,
)
from etl.config import load_settings

TESTS = Path(__file__).resolve().parents[1] / "tests"
MODES = ("batch", "sequential", "reload", "sync-server")


def fixture_home(folder: Path) -> Path:
    sys.path.insert(0, str(TESTS))
    from dashboard_fixtures import publish_fixture_snapshot

    publish_fixture_snapshot(folder)
    return folder


def _timed(stamps: list[float], written: Iterable[Path]) -> None:
    """Append the time each file was written (the iterator yields it then)."""
    for _ in written:
        stamps.append(time.perf_counter())


def renderer_mode(
    inputs: ChartInputs, out: Path, rounds: int, *, batch: bool, reuse_page: bool, tabs: int
) -> dict[str, list[float]]:
    """Seconds per export in order (the first includes starting Chromium), seconds per
    round, and with the same browser kaleido's floor: a one-point figure, one at a time."""
    charts = list(CHARTS)
    stamps: list[float] = []
    rounds_s: list[float] = []
    started = time.perf_counter()
    with StaticRenderer(reuse_page=reuse_page, tabs=tabs) as renderer:
        for round_ in range(rounds):
            begun = time.perf_counter()
            outs = [out / f"{chart}-{round_}.png" for chart in charts]
            if batch:
                _timed(stamps, export_charts(inputs, charts, outs, fmt="png", renderer=renderer))
            else:
                for chart, path in zip(charts, outs, strict=True):
                    export_chart(inputs, chart, path, renderer=renderer)
                    stamps.append(time.perf_counter())
            rounds_s.append(time.perf_counter() - begun)
        floor = []
        dot = go.Figure(go.Scatter(x=[1], y=[1]))
        for _ in range(5):
            begun = time.perf_counter()
            renderer.render(dot, "png", width=DEFAULT_WIDTH, height=480)
            floor.append(time.perf_counter() - begun)
    return {"export": _durations(started, stamps), "rounds": rounds_s, "floor": floor}


def sync_server_mode(inputs: ChartInputs, out: Path, rounds: int) -> dict[str, list[float]]:
    """The previous implementation: kaleido's sync server, one `calc_fig_sync` per chart."""
    import kaleido

    stamps: list[float] = []
    rounds_s: list[float] = []
    started = time.perf_counter()
    kaleido.start_sync_server(mathjax=False, silence_warnings=True)
    try:
        for round_ in range(rounds):
            begun = time.perf_counter()
            for chart in CHARTS:
                image = image_of(shared_chart(inputs, chart, ViewOptions()), "png", None, None)
                png = kaleido.calc_fig_sync(image.figure.to_dict(), opts=image.opts())
                (out / f"{chart}-{round_}-sync.png").write_bytes(png)
                stamps.append(time.perf_counter())
            rounds_s.append(time.perf_counter() - begun)
        floor = []
        dot = go.Figure(go.Scatter(x=[1], y=[1])).to_dict()
        opts = {"format": "png", "width": DEFAULT_WIDTH, "height": 480}
        for _ in range(5):
            begun = time.perf_counter()
            kaleido.calc_fig_sync(dot, opts=opts)
            floor.append(time.perf_counter() - begun)
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
    return {"export": _durations(started, stamps), "rounds": rounds_s, "floor": floor}


def _durations(started: float, stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip([started, *stamps], stamps, strict=False)]


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


def per_chart_after_first(times: dict[str, list[float]]) -> float:
    """Seconds per chart once the browser runs: the later rounds' mean per chart (with one
    round: the first round after its first image)."""
    later = times["rounds"][1:]
    if later:
        return statistics.mean(later) / len(CHARTS)
    export = times["export"]
    return (sum(export) - export[0]) / (len(export) - 1)


def report(name: str, times: dict[str, list[float]]) -> None:
    export, rounds = times["export"], times["rounds"]
    print(
        f"{name:<12} first image {export[0]:5.2f} s (starts Chromium), first round "
        f"{rounds[0]:5.2f} s; after the first: {per_chart_after_first(times):.3f} s per chart "
        f"(later rounds: {', '.join(f'{r:.2f}' for r in rounds[1:]) or '-'} s for "
        f"{len(CHARTS)}); floor, one-point figure: {statistics.median(times['floor']):.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--home", type=Path, help="an Uptake home with a published snapshot")
    parser.add_argument("--rounds", type=int, default=3, help="batches of every chart per mode")
    parser.add_argument("--baseline", type=int, default=0, help="plain exports (slow)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--tabs", type=int, default=1, help="browser tabs drawing at once")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; modes: {', '.join(MODES)}")
    runs: dict[str, Callable[[ChartInputs, Path], dict[str, list[float]]]] = {
        "batch": lambda i, o: renderer_mode(
            i, o, args.rounds, batch=True, reuse_page=True, tabs=args.tabs
        ),
        "sequential": lambda i, o: renderer_mode(
            i, o, args.rounds, batch=False, reuse_page=True, tabs=args.tabs
        ),
        "reload": lambda i, o: renderer_mode(
            i, o, args.rounds, batch=True, reuse_page=False, tabs=args.tabs
        ),
        "sync-server": lambda i, o: sync_server_mode(i, o, args.rounds),
    }
    load_before = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        home = args.home or fixture_home(Path(tmp) / "home")
        inputs = chart_inputs(load_settings(home, env={}))
        out = Path(tmp) / "out"
        out.mkdir()
        for chart in CHARTS:  # warm the snapshot's table cache for every mode alike
            build_chart(chart, inputs, ViewOptions())
        for mode in modes:
            results[mode] = runs[mode](inputs, out)
        plain = baseline(inputs, out, args.baseline) if args.baseline else []
    load_after = os.getloadavg()
    print(
        f"charts: {len(CHARTS)} x {args.rounds} round(s), PNG {DEFAULT_WIDTH} px wide, "
        f"tabs {args.tabs}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    for mode in modes:
        report(mode, results[mode])
    if plain:
        print(f"baseline fig.write_image without a server: mean {statistics.mean(plain):.2f} s")
    if "batch" in results:
        best = per_chart_after_first(results["batch"])
        for mode in modes:
            if mode != "batch":
                other = per_chart_after_first(results[mode])
                print(f"batch vs {mode}: {other / best:.1f}x faster per chart after the first")
        print(f"target under 0.5 s per chart after the first: {'met' if best < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
