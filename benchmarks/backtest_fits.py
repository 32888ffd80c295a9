"""The early-launch backtest table of the growth-model forecasts.

    nice -n 10 .venv/bin/python benchmarks/backtest_fits.py [--seeds 1 2 3] [--cases]

Simulated launches (viral cut at 1, 2, 4, 8, 24 h; steady and incumbent at 1, 2, 4, 7 d;
scale 1, one Poisson draw per seed) and the real series in ../shared/growth-data (Stack
Exchange signups, Bluesky daily totals, OWID adoption shares; set UPTAKE_GROWTH_DATA to
read them elsewhere), each asked when 1.25x, 1.5x and 2x its users at the cut were
reached. Prints one Markdown row per group: targets, reached in the data, forecasts
withheld as "too early", median |error| / real wait, 80% interval coverage and
confident-wrong cases (P(never) >= 0.5 for a target reached within 3x the observed span);
`--cases` prints every forecast as well. Also prints the fit seconds per case.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from etl.fits.backtest import BacktestRow, format_backtests
from etl.fits.backtest_suite import (
    BacktestCase,
    format_summary,
    real_cases,
    run_case,
    simulated_cases,
    summarise,
)

GROWTH_DATA = Path(
    os.environ.get("UPTAKE_GROWTH_DATA", Path(__file__).resolve().parents[2] / "shared/growth-data")
)


def run_group(cases: list[BacktestCase]) -> list[tuple[BacktestCase, list[BacktestRow]]]:
    return [(case, run_case(case)) for case in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cases", action="store_true", help="print every forecast too")
    args = parser.parse_args()
    groups: dict[str, list[BacktestCase]] = {}
    for preset in ("viral", "steady", "incumbent"):
        groups[preset] = simulated_cases(preset, seeds=args.seeds)
    if GROWTH_DATA.is_dir():
        for case in real_cases(GROWTH_DATA):
            groups.setdefault(case.group, []).append(case)
    results, summaries = [], {}
    started = time.process_time()
    n_cases = 0
    for name, cases in groups.items():
        group_results = run_group(cases)
        results += group_results
        n_cases += len(cases)
        summaries[name] = summarise(group_results)
        if args.cases:
            print(format_backtests([r for _, rows in group_results for r in rows]) + "\n")
    simulated = [r for r in results if r[0].group in ("viral", "steady", "incumbent")]
    summaries["all simulated"] = summarise(simulated)
    summaries["all real"] = summarise([r for r in results if r not in simulated])
    summaries["all"] = summarise(results)
    print(format_summary(summaries))
    cpu = time.process_time() - started
    print(f"\n{n_cases} cases, {cpu:.0f} s CPU ({cpu / n_cases:.2f} s per case)")


if __name__ == "__main__":
    main()
