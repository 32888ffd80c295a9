"""Growth-model fits and milestone forecasts: a pure library, no warehouse.

    fit_all(signups, milestones, seed=0, cache=None) -> (fits, forecasts)  # pyarrow Tables
    format_forecasts(fits, forecasts, platform=None) -> str  # for `uptake forecast`

Input: the snapshot's `signups` rows. Per platform: the series of complete buckets at a
grain chosen from its span (series.py), six models fitted to its per-bucket increments by
maximum likelihood under a negative binomial (models.py, likelihood.py, fitting.py),
compared by AICc and checked for a ceiling the data can pin (engine.py), a parametric
bootstrap of every model (bootstrap.py), intervals calibrated on the window's own
truncations (calibration.py), forecasts of the next milestones (forecast.py) and the two
tables' rows (tables.py); cache.py keys a platform's fits by their input. What each
column and `params` key means, and the rules behind them: docs/METRICS.md, "Growth models
and forecasts". Same input and seed, same output, to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from etl.fits.cache import FitCache, fit_key
from etl.fits.engine import fit_platform
from etl.fits.report import format_forecasts
from etl.fits.series import FitSeries, build_series
from etl.fits.tables import TableRows, add_platform, add_unfitted

__all__ = ["FitCache", "fit_all", "format_forecasts"]


def fit_all(
    signups: pl.DataFrame,
    milestones: Sequence[int],
    seed: int = 0,
    cache: FitCache | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Fit every model to every platform's signups; returns (fits, forecasts). With a
    `cache`, a platform whose fit input is unchanged takes its stored tables instead of a
    refit (etl/fits/cache.py): the same bits."""
    parts = [
        _platform_tables(
            platform, signups.filter(pl.col("platform") == platform), milestones, seed, cache
        )
        for platform in sorted(signups["platform"].unique().to_list())
    ]
    empty = TableRows(fits=[], forecasts=[]).to_tables()
    return (
        pa.concat_tables([empty[0], *(p[0] for p in parts)]).combine_chunks(),
        pa.concat_tables([empty[1], *(p[1] for p in parts)]).combine_chunks(),
    )


def _platform_tables(
    platform: str,
    rows: pl.DataFrame,
    milestones: Sequence[int],
    seed: int,
    cache: FitCache | None,
) -> tuple[pa.Table, pa.Table]:
    series = build_series(platform, rows)
    if series is None:
        tables = TableRows(fits=[], forecasts=[])
        add_unfitted(tables, platform, _most_complete_buckets(rows))
        return tables.to_tables()
    if cache is None:
        return _fitted(series, milestones, seed)
    key = fit_key(series, milestones, seed)
    stored = cache.get(platform, key)
    if stored is None:
        stored = _fitted(series, milestones, seed)
        cache.put(platform, key, stored)
    return stored


def _fitted(series: FitSeries, milestones: Sequence[int], seed: int) -> tuple[pa.Table, pa.Table]:
    tables = TableRows(fits=[], forecasts=[])
    add_platform(tables, fit_platform(series, milestones, seed))
    return tables.to_tables()


def _most_complete_buckets(rows: pl.DataFrame) -> int:
    counts = rows.filter(pl.col("complete")).group_by("grain").len()
    return int(counts["len"].max() or 0) if not counts.is_empty() else 0  # type: ignore[arg-type]
