"""`uptake demo`: simulate both launch presets, run the ETL, publish, serve the dashboard.

Each long step shows a progress bar; the end prints rows and seconds per step and where
to click. Simulation is deterministic for a seed, so running the demo again finds the same
files already loaded and goes straight to serving."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from etl.cli import now_utc
from etl.config import Settings

PRESETS = ("viral", "steady")


def run_demo(settings: Settings, scale: float, seed: int, console: Console) -> dict[str, float]:
    """Simulate and load the demo data; return seconds per step."""
    from etl.pipeline import run_pass
    from etl.simulate import SimulationOptions, simulate

    steps: dict[str, float] = {}
    rows = 0
    for preset in PRESETS:
        started = time.perf_counter()
        if any((settings.inbox / preset).glob("*.parquet")):
            # An earlier demo stopped before loading them: load those files.
            console.print(f"[bold]{preset}[/]: files already waiting in the inbox, loading them")
            continue
        console.print(f"[bold]simulating[/] {preset} launch at scale {scale}")
        result = simulate(
            SimulationOptions(preset=preset, scale=scale, seed=seed), settings.inbox, progress=True
        )
        rows += int(result.summary().get("rows_written", 0))
        steps[f"simulate {preset}"] = time.perf_counter() - started
        console.print(f"  {result.summary()['line']}")
    started = time.perf_counter()
    console.print("[bold]running the ETL[/]: ingest, models, fits, publish")
    # Files just written are complete (written atomically): no need to let them settle.
    ready = Settings(**{**settings.__dict__, "settle_seconds": 0.0})
    with console.status("loading and computing metrics..."):
        outcome = run_pass(ready, now=now_utc(), trigger="demo")
    console.print(f"  {outcome.summary()['line']}")
    for name, seconds in outcome.steps.items():
        steps[f"etl {name}"] = seconds
    steps["etl total"] = time.perf_counter() - started
    steps["rows simulated"] = rows
    return steps


def _print_summary(console: Console, steps: dict[str, Any], url: str) -> None:
    table = Table(title="Uptake demo")
    table.add_column("step")
    table.add_column("value", justify="right")
    for name, value in steps.items():
        table.add_row(name, f"{value:,.0f}" if name.startswith("rows") else f"{value:.1f} s")
    console.print(table)
    console.print(
        f"Open [bold]{url}[/]: the launch race compares the viral and steady launches; "
        "Milestones, Velocity, Engagement, Retention and Forecasts are in the top bar."
    )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard.server import serve

    console = Console()
    steps = run_demo(settings, args.scale, args.seed, console)
    url = f"http://{args.host}:{args.port}"
    _print_summary(console, steps, url)
    if not args.no_serve:
        serve(settings, host=args.host, port=args.port, threads=4)
    return 0


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo", help="simulate both launches at full scale, run the ETL, serve the dashboard"
    )
    demo.add_argument("--scale", type=float, default=1.0, help="data scale (default 1 = full)")
    demo.add_argument("--seed", type=int, default=1, help="simulation seed")
    demo.add_argument("--host", default="127.0.0.1", help="dashboard address")
    demo.add_argument("--port", type=int, default=8050, help="dashboard port")
    demo.add_argument("--no-serve", action="store_true", help="stop after publishing")
    demo.set_defaults(handler=cmd_demo)
