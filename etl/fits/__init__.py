"""Growth-model fits and milestone forecasts: a pure library, no warehouse.

    fit_all(signups, milestones, seed=0, cache=None) -> (fits, forecasts)  # pyarrow Tables
    format_forecasts(fits, forecasts, platform=None) -> str     # for `uptake forecast`

Input: the snapshot's `signups` rows (platform, grain, bucket_start, elapsed_s, signups,
cumulative, complete). Per platform the grain is chosen from the span of the data (minute
up to 2 days, hour up to 60 days, day up to 5 years, else week; a coarser grain, then a
finer one, when the preferred one has fewer than 8 complete buckets). Incomplete buckets
are left out. Models are fitted to per-bucket increments, never to the cumulative curve.

Models (time in days since t0): logistic, gompertz, bass (m, p, q), exponential (early
phase), burst_inflow, A(1 - e^{-kt}) + bt, and burst_tail, A(1 - e^{-kt}) + (b/j)(1 - e^{-jt}),
less (1 - e^{-rt}) f(t)/r (f: the rate): a burst ramping up over ~1/r days, a tail fading
at its own pace (j = 0: burst_inflow; A + b/j checked like an S-curve's ceiling). Positive
parameters are fitted as logs, within bounds scaled to the data, from several starts, by
maximum likelihood under a negative binomial (variance mu + a mu^2, a fitted per model;
etl/fits/likelihood.py), with scipy's least_squares on deviance residuals. On hourly data
an hour-of-day profile (day-of-week on daily data), estimated once per platform and shrunk
to 1 when it is noise, multiplies every model's prediction, so a diurnal cycle is not
mistaken for growth or decline. AICc comes from the same likelihood the fit maximises,
on the same counts for every model.

`fits`, one row per platform and model plus one `ensemble` row:
- `aic` holds AICc (small-sample corrected, from the negative-binomial log-likelihood; null
  on `ensemble`); `params` JSON carries `akaike_weight`, the fitted `parameters` (rates per
  day, times in days since t0), the residual check (lag-1 autocorrelation, runs test),
  the identifiability evidence and `note`, and, only when identified, `ceiling`,
  `ceiling_low`, `ceiling_high` (total users, 80% interval).
- `measured_at_end` / `fitted_at_end`: cumulative users at `fitted_until`, observed and
  per the model (ensemble: weighted mean of its usable models); the ensemble's params
  carry `fitted_curve` ({days, users}: its cumulative curve over the window, seasonal
  factor included, at up to ~200 bucket boundaries), which the chart draws as it is.
- `rmse` is in signups per bucket of the chosen grain; `n_points` counts the buckets fitted;
  `fitted_until` is the end of the last complete bucket.
- `ceiling_identified` is true only when the ceiling is not at a bound, the inflection
  lies inside the data, the profile likelihood is not flat (pinning the ceiling at twice
  its value must cost chi-square(1) > 3.84, counting autocorrelated points at their
  effective number), the bootstrap interval is bounded and the window is not a surge on
  earlier growth (the pace at its end still at least the pace at its start while the
  ceiling is closer to the last value than the users at its start: every S-curve here,
  at two times of equal pace, has at least as many users left to gain at the later time
  as it had at the earlier one). Otherwise `note` says "ceiling not yet identifiable
  (...reasons)". Exponential and burst_inflow have no ceiling; burst_tail's profile check
  doubles its ceiling by slowing the tail's fade.
- `params.calibration`: "calibrated" with the number of checks, the RMS and median
  log-ratio error and `widening_80` (exp(1.28 x RMS) over all checks; each forecast is
  widened by the checks weighed by how near their reach is to its own), or
  "too little history" with a note (the ensemble's `note` then ends "interval not
  calibrated (too little history)"); see etl/fits/calibration.py.

`forecasts`, per platform, for the next 3 milestones above the current total:
- one row per model: `eta` from the fitted curve, `eta_low`/`eta_high` the 10th and 90th
  percentiles (an 80% interval) of a seeded parametric bootstrap (150 draws: simulated
  AR(1) noise on the fit's residual scale and autocorrelation, every draw refitted),
  each draw's waiting time widened by a log-normal factor so that the interval spreads
  as much as the model's own forecast error (RMS log ratio of forecast to real waiting
  time) when the same fit was run on the first 1/2 and 3/4 of the window and asked when
  the later observed counts were reached (that error includes the noise the bootstrap
  draws, so only what the bootstrap lacks of it is added); a time widened past the
  horizon is "never"; every interval holds the whole bucket its forecast falls in;
- the headline row, model `ensemble`: the Akaike-weighted mixture of the models' draws,
  leaving out models whose ceiling is not identifiable (so before the inflection the
  forecast rests on the burst+inflow and exponential views), widened by the error of the
  ensemble's own forecasts from the truncations; `eta` is its median.
- `p_never` is the share of (weighted) draws that never reach the milestone: the ceiling
  is below it, or it is not reached within 10x the observed span. A null `eta_high` (or
  `eta`) means that percentile is "never".
Forecasts are anchored at the observed total at `fitted_until`. Same input and seed, same
output, to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from etl.fits.cache import FitCache, fit_key
from etl.fits.engine import fit_platform
from etl.fits.report import format_forecasts
from etl.fits.series import build_series
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
    tables = TableRows(fits=[], forecasts=[])
    series = build_series(platform, rows)
    if series is None:
        add_unfitted(tables, platform, _most_complete_buckets(rows))
        return tables.to_tables()
    key = fit_key(series, milestones, seed) if cache is not None else ""
    stored = cache.get(platform, key) if cache is not None else None
    if stored is not None:
        return stored
    add_platform(tables, fit_platform(series, milestones, seed))
    fitted = tables.to_tables()
    if cache is not None:
        cache.put(platform, key, fitted)
    return fitted


def _most_complete_buckets(rows: pl.DataFrame) -> int:
    counts = rows.filter(pl.col("complete")).group_by("grain").len()
    return int(counts["len"].max() or 0) if not counts.is_empty() else 0  # type: ignore[arg-type]
