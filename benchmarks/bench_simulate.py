"""Benchmark of `uptake simulate`: throughput and peak memory at a chosen scale.

    python benchmarks/bench_simulate.py [--scale 1.0] [--seed 1] [--keep DIR]

Simulates both presets into a temporary home, then prints, per preset and in total:
usage events, signup rows, files, bytes, wall and CPU seconds, events/s and rows/s, and
the peak RSS of the process. As a yardstick measured in the same run on the same
machine, it also times numpy drawing the same number of random int64 values and pyarrow
writing them as one-column zstd Parquet files of the same size: the ratio says how far
the simulator is from the cost of just producing and storing that many numbers."""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl.simulate import SimulationOptions, SimulationResult, simulate
from etl.simulate.simulation import ROWS_PER_FILE


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_preset(preset: str, scale: float, seed: int, inbox: Path) -> tuple[SimulationResult, float]:
    cpu = time.process_time()
    result = simulate(SimulationOptions(preset=preset, scale=scale, seed=seed), inbox)
    return result, time.process_time() - cpu


def baseline(rows: int, folder: Path, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds to draw `rows` random int64s and write them to Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(seed))
    wall, cpu = time.perf_counter(), time.process_time()
    for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        values = rng.integers(0, 2**62, min(ROWS_PER_FILE, rows - start), dtype=np.int64)
        pq.write_table(pa.table({"value": values}), folder / f"{part}.parquet", compression="zstd")
    return time.perf_counter() - wall, time.process_time() - cpu


def line(label: str, result: SimulationResult, cpu: float) -> str:
    rows = result.rows_written
    return (
        f"{label:<8} events {result.events:>12,}  signups {result.signups:>11,}  "
        f"files {len(result.files):>4}  {result.bytes_written / 1e6:>8,.0f} MB  "
        f"wall {result.seconds:6.1f} s  cpu {cpu:6.1f} s  "
        f"{result.events / result.seconds / 1e6:5.2f}M events/s  "
        f"{rows / result.seconds / 1e6:5.2f}M rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write into this home and keep the files")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    try:
        print(f"python {platform.python_version()} on {platform.platform()}, scale {args.scale}")
        results = {
            p: run_preset(p, args.scale, args.seed, home / "inbox") for p in ("viral", "steady")
        }
        peak = peak_rss_mb()
        for name, (result, cpu) in results.items():
            print(line(name, result, cpu))
            milestone = result.milestone_elapsed_s or float("nan")
            print(f"         {result.milestone_users:,}th signup at {milestone / 3600:.2f} h")
        events = sum(r.events for r, _ in results.values())
        rows = sum(r.rows_written for r, _ in results.values())
        wall = sum(r.seconds for r, _ in results.values())
        cpu = sum(c for _, c in results.values())
        print(
            f"total    events {events:,}  rows {rows:,}  wall {wall:.1f} s  cpu {cpu:.1f} s  "
            f"{events / wall / 1e6:.2f}M events/s  {rows / wall / 1e6:.2f}M rows/s  "
            f"peak RSS {peak:,.0f} MB"
        )
        base_wall, base_cpu = baseline(rows, home / "baseline", args.seed)
        print(
            f"baseline numpy int64 + pyarrow zstd, {rows:,} values: wall {base_wall:.1f} s  "
            f"cpu {base_cpu:.1f} s  {rows / base_wall / 1e6:.2f}M rows/s; "
            f"simulator/baseline wall ratio {wall / base_wall:.2f}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
