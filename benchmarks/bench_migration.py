"""Benchmark of the channel and migration tables: what channels, overlap,
migration and migrant_activity add to a full pass.

    python benchmarks/bench_migration.py [--scale 1.0] [--seed 1] [--repeat 2] [--keep DIR]

Simulates the demo's launches at `--scale` with people in common: an incumbent, then
viral and steady launches that draw part of their signups from it (`--from incumbent`),
so that the four tables have real work. Then, in one process:
  1. one full pass (`uptake run`: ingest, refresh, fits, publish), timed per step;
  2. `--repeat` times, alternately, a full rebuild of the models with every table and one
     without the four (their count table c_channels and their serving tables left out of
     etl.refresh's lists for that rebuild), each inside a transaction that is rolled back.
The four tables cost the difference of the two rebuilds (median over the repeats); the
ratio printed is that cost over the full pass without them (target: at most 25%). Their
own steps in the rebuilds with them (serve:channels, serve:overlap, serve:migration,
serve:migrant_activity: wall and CPU seconds) are printed too: a direct measure that
other load on the machine disturbs less than a difference of two whole rebuilds (it
leaves out c_channels' share of the contributions step)."""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from etl import refresh
from etl.config import Settings, load_settings
from etl.pipeline import run_pass
from etl.simulate import SimulationOptions, simulate
from etl.warehouse import connect

CLOCK = datetime(2026, 11, 1, 12, 0)
MIGRATION_TABLES = ("channels", "overlap", "migration", "migrant_activity")
MIGRATION_COUNT_TABLES = ("c_channels",)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def simulate_launches(inbox: Path, scale: float, seed: int) -> dict[str, int]:
    """Incumbent, then viral and steady drawing people from it; rows written per platform."""
    runs = [
        SimulationOptions("incumbent", scale=scale, seed=seed),
        SimulationOptions("viral", scale=scale, seed=seed, from_platform="incumbent"),
        SimulationOptions("steady", scale=scale, seed=seed, from_platform="incumbent"),
    ]
    rows = {}
    for options in runs:
        result = simulate(options, inbox)
        rows[result.platform] = result.rows_written
        print(f"  {result.summary()['line']}")
    return rows


@contextmanager
def without_migration_tables() -> Iterator[None]:
    """etl.refresh with the four tables left out of its count and serving lists."""
    count_tables, serving = refresh.COUNT_TABLES, refresh.SERVING_MODELS
    # setattr: the module's constants have literal tuple types that a shorter one breaks.
    kept_counts = tuple(t for t in count_tables if t.name not in MIGRATION_COUNT_TABLES)
    kept_serving = tuple(m for m in serving if m not in MIGRATION_TABLES)
    setattr(refresh, "COUNT_TABLES", kept_counts)  # noqa: B010
    setattr(refresh, "SERVING_MODELS", kept_serving)  # noqa: B010
    try:
        yield
    finally:
        setattr(refresh, "COUNT_TABLES", count_tables)  # noqa: B010
        setattr(refresh, "SERVING_MODELS", serving)  # noqa: B010


class CpuStepTimer(refresh.StepTimer):
    """etl.progress's StepTimer (as the refresh uses it) that also records CPU seconds per
    step (process time: DuckDB's threads included)."""

    def __init__(self, stage: str, total: int) -> None:
        super().__init__(stage, total)
        self.cpu: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.process_time()
        try:
            with super().step(name):
                yield
        finally:
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - started


@contextmanager
def cpu_step_timers() -> Iterator[list[CpuStepTimer]]:
    """etl.refresh timing its steps with CpuStepTimer; yields the timers it made."""
    made: list[CpuStepTimer] = []

    def timer(stage: str, total: int) -> CpuStepTimer:
        made.append(CpuStepTimer(stage, total))
        return made[-1]

    original = refresh.StepTimer
    setattr(refresh, "StepTimer", timer)  # noqa: B010
    try:
        yield made
    finally:
        setattr(refresh, "StepTimer", original)  # noqa: B010


@dataclass
class Rebuild:
    """One rolled-back full model rebuild: wall and CPU seconds, in all and per step."""

    wall: float
    cpu: float
    steps: dict[str, float]
    step_cpu: dict[str, float]

    def tables(self) -> tuple[float, float]:
        """Wall and CPU seconds of the four tables' serving steps."""
        names = [f"serve:{table}" for table in MIGRATION_TABLES]
        return (
            sum(self.steps.get(n, 0.0) for n in names),
            sum(self.step_cpu.get(n, 0.0) for n in names),
        )


def timed_rebuild(settings: Settings, with_tables: bool) -> Rebuild:
    """One full model rebuild, timed, then rolled back."""
    con = connect(settings)
    try:
        con.begin()
        with cpu_step_timers() as timers:
            wall, cpu = time.perf_counter(), time.process_time()
            if with_tables:
                result = refresh.refresh_models(con, settings, CLOCK, full=True)
            else:
                with without_migration_tables():
                    result = refresh.refresh_models(con, settings, CLOCK, full=True)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        con.rollback()
    finally:
        con.close()
    return Rebuild(wall, cpu, result.timings, timers[-1].cpu if timers else {})


def print_own_steps(rebuilds: list[Rebuild]) -> tuple[float, float]:
    """Print the four tables' serving steps (median over the rebuilds with them); return
    their wall and CPU seconds."""
    wall = statistics.median(r.tables()[0] for r in rebuilds)
    cpu = statistics.median(r.tables()[1] for r in rebuilds)
    each = ", ".join(
        f"{t} {statistics.median(r.step_cpu.get(f'serve:{t}', 0.0) for r in rebuilds):.1f}"
        for t in MIGRATION_TABLES
    )
    print(f"their serving steps, median: wall {wall:.1f} s, cpu {cpu:.1f} s ({each} s cpu)")
    return wall, cpu


def steps_line(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in timings.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is the demo's scale")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="rebuilds of each kind")
    parser.add_argument("--keep", type=Path, help="use this home and keep it")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-migration-"))
    try:
        print(f"python {platform.python_version()} on {platform.platform()}, scale {args.scale}")
        rows = simulate_launches(home / "inbox", args.scale, args.seed)
        settings = replace(load_settings(home, env={}), settle_seconds=0)
        wall, cpu = time.perf_counter(), time.process_time()
        run = run_pass(settings, now=CLOCK)
        pass_wall, pass_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"full pass: {sum(rows.values()):,} rows, wall {pass_wall:.1f} s, "
            f"cpu {pass_cpu:.1f} s ({steps_line(run.steps)}); status {run.status}"
        )
        print(f"peak RSS after the full pass {peak_rss_mb():,.0f} MB")
        measured: dict[bool, list[Rebuild]] = {True: [], False: []}
        for _ in range(args.repeat):
            for with_tables in (True, False):
                measured[with_tables].append(timed_rebuild(settings, with_tables))
        for with_tables, label in ((True, "with the four"), (False, "without them")):
            for rebuild in measured[with_tables]:
                print(
                    f"model rebuild {label:<13}: wall {rebuild.wall:6.1f} s  "
                    f"cpu {rebuild.cpu:6.1f} s  ({steps_line(rebuild.steps)})"
                )
        own_wall, own_cpu = print_own_steps(measured[True])
        extra_wall = statistics.median(r.wall for r in measured[True]) - statistics.median(
            r.wall for r in measured[False]
        )
        extra_cpu = statistics.median(r.cpu for r in measured[True]) - statistics.median(
            r.cpu for r in measured[False]
        )
        base_wall, base_cpu = pass_wall - extra_wall, pass_cpu - extra_cpu
        print(
            f"channels + overlap + migration + migrant_activity: wall {extra_wall:.1f} s = "
            f"{extra_wall / base_wall:.1%} on top of a full pass without them "
            f"({base_wall:.1f} s); cpu {extra_cpu:.1f} s = {extra_cpu / base_cpu:.1%} "
            f"({base_cpu:.1f} s); their serving steps alone: cpu {own_cpu:.1f} s = "
            f"{own_cpu / (pass_cpu - own_cpu):.1%}, wall {own_wall:.1f} s = "
            f"{own_wall / (pass_wall - own_wall):.1%}; target at most 25%; "
            f"peak RSS {peak_rss_mb():,.0f} MB"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
