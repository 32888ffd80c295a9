"""`uptake demo`: simulate an incumbent and both launch presets, run the ETL, publish, serve
the dashboard.

The viral launch draws part of its signups from the incumbent (`uptake simulate --from`),
so the Migration page has people on two platforms. Each long step shows a progress bar;
the end prints rows and seconds per step and where to click. Simulation is deterministic
for a seed, so a platform already loaded with the same preset, scale and seed is not
simulated again: running the demo again loads nothing twice and goes straight to serving."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from etl.cli import now_utc
from etl.config import Settings
from etl.progress import is_step_end, reporting

if TYPE_CHECKING:  # etl.simulate loads numpy and pyarrow: not on every `uptake` start
    from etl.simulate import SimulationOptions


@dataclass(frozen=True)
class DemoPlatform:
    """One simulated platform of the demo, at `scale_factor` x the demo's scale."""

    preset: str
    scale_factor: float = 1.0
    from_platform: str | None = None


# The incumbent at a tenth of the demo's scale (at demo scale 1: 200,000 people from before
# its window, 2,000 new a day, ~1.7M events): people enough for the viral launch's first
# migrants, few rows next to the launches'. Simulated first: --from reads its files.
INCUMBENT_SCALE = 0.1
DEMO_PLATFORMS = (
    DemoPlatform("incumbent", scale_factor=INCUMBENT_SCALE),
    DemoPlatform("viral", from_platform="incumbent"),
    DemoPlatform("steady"),
)


def run_demo(settings: Settings, scale: float, seed: int, console: Console) -> dict[str, float]:
    """Simulate and load the demo data; return seconds per step and rows simulated."""
    from etl.pipeline import run_pass

    steps: dict[str, float] = {}
    rows = 0
    loaded = loaded_platforms(settings)
    for platform in DEMO_PLATFORMS:
        options, note = plan_simulation(settings, platform, scale, seed, loaded)
        if note:
            console.print(f"[bold]{platform.preset}[/]: {note}")
        if options is None:
            continue
        started = time.perf_counter()
        rows += simulate_platform(settings, options, console)
        steps[f"simulate {platform.preset}"] = time.perf_counter() - started
    started = time.perf_counter()
    console.print("[bold]running the ETL[/]: ingest, models, fits, publish")
    # Files just written are complete (written atomically): no need to let them settle.
    ready = Settings(**{**settings.__dict__, "settle_seconds": 0.0})
    with EtlProgress(console) as progress, reporting(progress.update):
        outcome = run_pass(ready, now=now_utc(), trigger="demo")
    console.print(f"  {outcome.summary()['line']}")
    _print_loaded(console, settings)
    for name, seconds in outcome.steps.items():
        steps[f"etl {name}"] = seconds
    steps["etl total"] = time.perf_counter() - started
    steps["rows simulated"] = rows
    return steps


# Stages of etl/progress.py shown with a count, and their labels.
_COUNTED_STAGES = {"ingest": "load files", "metrics": "compute metrics"}


class EtlProgress:
    """Progress bars of one ETL pass: files loaded, then metric steps done, each with what
    is running now; fits and publishing show on the last line (etl/progress.py stages)."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            TextColumn("{task.fields[count]:>9}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> EtlProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if "pass" in self.tasks:  # the pass is over: its line stops pulsing
            self.bars.update(self.tasks["pass"], total=1, completed=1, detail="done")
        self.bars.stop()

    def update(self, stage: str, done: int, total: int, detail: str) -> None:
        if is_step_end(stage, done, total) or stage == "publish":
            return  # the next step's start replaces it; tables are written in a moment
        count = f"{done}/{total}"
        if stage not in _COUNTED_STAGES:
            # A step of the pass (plan, ingest, refresh, fit, publish...): named, not counted.
            stage, count, detail = "pass", "", f"{detail}..."
        if stage not in self.tasks:
            label = _COUNTED_STAGES.get(stage, "ETL pass")
            self.tasks[stage] = self.bars.add_task(label, total=None, count=count, detail=detail)
        # A pass step has no total: its bar pulses.
        self.bars.update(
            self.tasks[stage], completed=done, total=total or None, count=count, detail=detail
        )


def plan_simulation(
    settings: Settings, platform: DemoPlatform, scale: float, seed: int, loaded: set[str]
) -> tuple[SimulationOptions | None, str]:
    """What to simulate for `platform` (None: nothing, its files are waiting in the inbox
    or it is already loaded, as the same preset, scale and seed give the same files), and
    a note for the user when the plan is not the usual one."""
    from etl.simulate import SimulationOptions

    options = SimulationOptions(
        preset=platform.preset, scale=scale * platform.scale_factor, seed=seed
    )
    if files_waiting(settings, platform.preset):
        # An earlier demo stopped before loading them: load those files.
        return None, "files already waiting in the inbox, loading them"
    if platform.preset in loaded and simulated_alike(settings, options):
        return None, "already loaded, not simulated again"
    source = platform.from_platform
    if source is None:
        return options, ""
    if files_waiting(settings, source):
        return replace(options, from_platform=source), ""
    # --from rewrites the source's event files, so they must still wait in the inbox.
    return options, f"{source} is already loaded, so nobody moves from it this time"


def simulate_platform(settings: Settings, options: SimulationOptions, console: Console) -> int:
    """Simulate one platform into the inbox; return the rows written."""
    from etl.simulate import simulate

    drawn = f", people drawn from {options.from_platform}" if options.from_platform else ""
    console.print(f"[bold]simulating[/] {options.preset} at scale {options.scale:g}{drawn}")
    result = simulate(options, settings.inbox, progress=True)
    console.print(f"  {result.summary()['line']}")
    # Events the migrants no longer have were taken out of the source's files.
    if options.from_platform and result.switching_dropped_events:
        console.print(
            f"  {result.switching_dropped_events:,} {options.from_platform} events taken out "
            "of its files (the days the people who moved no longer used it)"
        )
    return result.rows_written - result.switching_dropped_events


def _print_loaded(console: Console, settings: Settings) -> None:
    """What the warehouse holds per platform, counted as `uptake status` counts it (the
    simulation lines count before the migrants' events left the incumbent's files)."""
    from etl.status import warehouse_status

    platforms = warehouse_status(settings, now_utc()).get("platforms", [])
    console.print("  in the warehouse (as `uptake status` counts):")
    for p in platforms:
        console.print(
            f"    {p['platform']}: {p['signups']:,} signups, {p['events']:,} events, "
            f"{p['deletions']:,} deletions"
        )


def files_waiting(settings: Settings, platform: str) -> bool:
    return any((settings.inbox / platform).glob("*.parquet"))


def loaded_platforms(settings: Settings) -> set[str]:
    """Platforms with signups in the warehouse (none when there is no warehouse yet)."""
    from etl.warehouse import connect

    if not settings.warehouse_path.exists():
        return set()
    con = connect(settings, read_only=True)
    try:
        return {str(p) for (p,) in con.execute("SELECT DISTINCT platform FROM signups").fetchall()}
    finally:
        con.close()


def simulated_alike(settings: Settings, options: SimulationOptions) -> bool:
    """Whether the platform's last simulation (its summary) had the same preset, scale and
    seed: simulating it again would write the same files."""
    record = settings.inbox.parent / "simulations" / f"{options.platform_name}.json"
    if not record.exists():
        return False
    summary = json.loads(record.read_text(encoding="utf-8"))
    return (
        summary.get("preset") == options.preset
        and summary.get("seed") == options.seed
        and math.isclose(float(summary.get("scale", 0.0)), options.scale)
    )


def _print_summary(console: Console, steps: dict[str, Any], url: str) -> None:
    table = Table(title="Uptake demo")
    table.add_column("step")
    table.add_column("value", justify="right")
    for name, value in steps.items():
        table.add_row(name, f"{value:,.0f}" if name.startswith("rows") else f"{value:.1f} s")
    console.print(table)
    console.print(
        f"Open [bold]{url}[/]: the launch race compares the viral and steady launches "
        "with the incumbent; Milestones, Velocity, Engagement, Retention, Forecasts, "
        "Migration (the channel mix and the people who moved from the incumbent to the "
        "viral launch: overlap, share of signups, activity on both) and Data health are "
        "in the top bar."
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
        "demo", help="simulate an incumbent and two launches, run the ETL, serve the dashboard"
    )
    demo.add_argument("--scale", type=float, default=1.0, help="data scale (default 1 = full)")
    demo.add_argument("--seed", type=int, default=1, help="simulation seed")
    demo.add_argument("--host", default="127.0.0.1", help="dashboard address")
    demo.add_argument("--port", type=int, default=8050, help="dashboard port")
    demo.add_argument("--no-serve", action="store_true", help="stop after publishing")
    demo.set_defaults(handler=cmd_demo)
