"""Benchmark of etl.fits.fit_all: two launch-like platforms, hourly buckets over 30 days.

    /tmp/venv/bin/python benchmarks/bench_fits.py [--repeat 3]

Prints the wall and CPU time of fit_all (all six models, AICc, identifiability checks,
the bootstrap, the calibration refits on the first 1/2 and 3/4 of each series, forecasts)
and of one plain scipy least_squares fit of one model to
one of the same series, so the ratio stays meaningful on a busy machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np
import polars as pl
from scipy.optimize import least_squares

from etl.config import DEFAULT_MILESTONES
from etl.fits import fit_all
from etl.fits.backtest import model_rows
from etl.fits.engine import BOOTSTRAP_DRAWS
from etl.fits.models import BURST_INFLOW, LOGISTIC, GrowthModel

DAYS = 30
LAUNCH = datetime(2025, 7, 5, 23, 0)


def launch_series(
    platform: str, model: GrowthModel, params: list[float], seed: int
) -> pl.DataFrame:
    """Poisson signups per hour with a diurnal cycle; the last bucket is incomplete."""
    return model_rows(platform, model, params, start=LAUNCH, days=DAYS, seed=seed, diurnal=0.5)


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def baseline_fit(frame: pl.DataFrame) -> None:
    """One least_squares fit of one model (logistic, soft_l1) to one platform's increments."""
    hours = frame.filter(pl.col("complete"))
    increments = hours["signups"].to_numpy().astype(float)
    edges = np.r_[hours["elapsed_s"].to_numpy(), hours["elapsed_s"][-1] + 3600] / 86_400
    scale = np.sqrt(np.maximum(increments, 1.0))

    def residuals(x: np.ndarray) -> np.ndarray:
        params = np.array([np.exp(x[0]), np.exp(x[1]), x[2]])
        return np.asarray((np.diff(LOGISTIC.cumulative(edges, params)) - increments) / scale)

    start = np.array([np.log(2 * increments.sum()), np.log(0.5), 5.0])
    least_squares(residuals, start, loss="soft_l1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    # A launch ramp of 1e300 per day: none (the series it drew before the ramp, to the bit).
    viral = launch_series("viral", BURST_INFLOW, [10e6, 3.0, 3e4, 1e300], seed=1)
    steady = launch_series("steady", LOGISTIC, [1.5e6, 0.35, 14.0], seed=2)
    both = pl.concat([viral, steady])
    fit_wall, fit_cpu = timed(lambda: fit_all(both, DEFAULT_MILESTONES, seed=0), repeat)
    base_wall, base_cpu = timed(lambda: baseline_fit(steady), repeat)
    print(f"series: 2 platforms x {DAYS} days hourly ({DAYS * 24} buckets each)")
    print(
        f"fit_all (6 models, AICc, checks, {BOOTSTRAP_DRAWS}-draw bootstrap, calibration "
        f"refits): {fit_wall:.2f} s wall, "
        f"{fit_cpu:.2f} s CPU"
    )
    print(
        f"baseline (one least_squares, one model, one platform): {base_wall * 1000:.1f} ms wall, "
        f"{base_cpu * 1000:.1f} ms CPU"
    )
    print(
        f"ratio fit_all / baseline (CPU): {fit_cpu / base_cpu:.0f}x; "
        f"per platform {fit_cpu / 2:.2f} s CPU"
    )


if __name__ == "__main__":
    main()
