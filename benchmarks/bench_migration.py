"""Benchmark of the channel and migration tables (issue 13): what channels, overlap,
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
ratio printed is that cost over the full pass without them (target: at most 25%)."""

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
from dataclasses import replace
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


def timed_rebuild(settings: Settings, with_tables: bool) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of one full model rebuild, rolled back; seconds per step."""
    con = connect(settings)
    try:
        con.begin()
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
    return wall, cpu, result.timings


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
        measured: dict[bool, list[tuple[float, float, dict[str, float]]]] = {True: [], False: []}
        for _ in range(args.repeat):
            for with_tables in (True, False):
                measured[with_tables].append(timed_rebuild(settings, with_tables))
        for with_tables, label in ((True, "with the four"), (False, "without them")):
            for rebuild_wall, rebuild_cpu, steps in measured[with_tables]:
                print(
                    f"model rebuild {label:<13}: wall {rebuild_wall:6.1f} s  "
                    f"cpu {rebuild_cpu:6.1f} s  ({steps_line(steps)})"
                )
        extra_wall = statistics.median(w for w, _, _ in measured[True]) - statistics.median(
            w for w, _, _ in measured[False]
        )
        extra_cpu = statistics.median(c for _, c, _ in measured[True]) - statistics.median(
            c for _, c, _ in measured[False]
        )
        base_wall, base_cpu = pass_wall - extra_wall, pass_cpu - extra_cpu
        print(
            f"channels + overlap + migration + migrant_activity: wall {extra_wall:.1f} s = "
            f"{extra_wall / base_wall:.1%} on top of a full pass without them "
            f"({base_wall:.1f} s); cpu {extra_cpu:.1f} s = {extra_cpu / base_cpu:.1%} "
            f"({base_cpu:.1f} s); target at most 25%; peak RSS {peak_rss_mb():,.0f} MB"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
