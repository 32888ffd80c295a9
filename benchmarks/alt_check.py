"""Compare the core metrics of an alternative (alt_pandas, alt_polars) with Uptake's serving
snapshot, table by table; every difference is reported, none is tolerated.

    differences = compare(uptake_core_metrics(snapshot_folder), alternative_tables)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

CORE_TABLES = ("signups", "milestones", "active", "cohorts", "retention")
KEYS = {
    "signups": ["platform", "bucket_start"],
    "milestones": ["platform", "users"],
    "active": ["platform", "day"],
    "cohorts": ["platform", "cohort_start"],
    "retention": ["platform", "cohort_start", "period"],
}
VALUES = {
    "signups": ["signups", "cumulative"],
    "milestones": ["reached_at", "elapsed_s"],
    "active": ["dau", "wau", "mau"],
    "cohorts": ["cohort_size"],
    "retention": ["retained"],
}
SHOWN = 5  # differing rows quoted per table


def uptake_core_metrics(snapshot: Path) -> dict[str, pl.DataFrame]:
    """The snapshot's tables in the alternatives' shape (day grain, day cohorts); retention
    keeps Uptake's `observable` flag (unobservable cells must be blank)."""
    signups = pl.read_parquet(snapshot / "signups.parquet").filter(pl.col("grain") == "day")
    retention = pl.read_parquet(snapshot / "retention.parquet").filter(
        pl.col("cohort_grain") == "day"
    )
    return {
        "signups": signups.select(KEYS["signups"] + VALUES["signups"]),
        "milestones": pl.read_parquet(snapshot / "milestones.parquet").select(
            KEYS["milestones"] + VALUES["milestones"]
        ),
        "active": pl.read_parquet(snapshot / "active.parquet").select(
            KEYS["active"] + VALUES["active"]
        ),
        "cohorts": retention.select("platform", "cohort_start", "cohort_size").unique(),
        "retention": retention.select(
            "platform", "cohort_start", pl.col("period").cast(pl.Int64), "retained", "observable"
        ),
    }


def as_polars(frame: Any) -> pl.DataFrame:
    """A pandas or polars frame as polars, with microsecond datetimes and int64 counts."""
    table = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    casts = []
    for name, dtype in table.schema.items():
        if isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).cast(pl.Datetime("us")))
        elif dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Int64))
    return table.with_columns(casts)


def compare(uptake: Mapping[str, pl.DataFrame], other: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between Uptake's tables and an alternative's (empty when
    every number agrees)."""
    differences: list[str] = []
    for name in CORE_TABLES:
        theirs = as_polars(other[name])
        ours = as_polars(uptake[name])
        if name == "retention":
            differences += _compare_retention(ours, theirs)
        elif name == "active":
            differences += _compare_dense(name, ours, theirs)
        else:
            differences += _compare_exact(name, ours, theirs)
    return differences


def _joined(name: str, ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    theirs = theirs.select(KEYS[name] + VALUES[name])
    return ours.join(theirs, on=KEYS[name], how="full", coalesce=True, suffix="_alt")


def _mismatch(name: str, joined: pl.DataFrame, fill_zero: bool = False) -> pl.DataFrame:
    conditions = []
    for value in VALUES[name]:
        ours, theirs = pl.col(value), pl.col(f"{value}_alt")
        if fill_zero:
            ours, theirs = ours.fill_null(0), theirs.fill_null(0)
        if joined.schema[value].is_float():
            close = (ours - theirs).abs() <= 1e-6
            conditions.append(~(close.fill_null(False) | (ours.is_null() & theirs.is_null())))
        else:
            conditions.append(ours.ne_missing(theirs))
    return joined.filter(pl.any_horizontal(conditions))


def _report(name: str, bad: pl.DataFrame, total: int) -> list[str]:
    if bad.is_empty():
        return []
    with pl.Config(tbl_cols=-1, tbl_width_chars=200, tbl_rows=SHOWN):
        return [f"{name}: {bad.height} of {total} rows differ (Uptake vs _alt)\n{bad.head(SHOWN)}"]


def _compare_exact(name: str, ours: pl.DataFrame, theirs: pl.DataFrame) -> list[str]:
    joined = _joined(name, ours, theirs)
    return _report(name, _mismatch(name, joined), joined.height)


def _compare_dense(name: str, ours: pl.DataFrame, theirs: pl.DataFrame) -> list[str]:
    """Uptake's series is dense; a day the alternative leaves out counts as zero."""
    joined = _joined(name, ours, theirs)
    return _report(name, _mismatch(name, joined, fill_zero=True), joined.height)


def _compare_retention(ours: pl.DataFrame, theirs: pl.DataFrame) -> list[str]:
    """Observable cells equal the alternative's count (absent = 0); the others are blank;
    the alternative has no cell with users that Uptake does not list."""
    name = "retention"
    joined = _joined(name, ours, theirs)
    observable = joined.filter(pl.col("observable").fill_null(False))
    differences = _report(name, _mismatch(name, observable, fill_zero=True), observable.height)
    not_blank = joined.filter(~pl.col("observable") & pl.col("retained").is_not_null())
    differences += _report("retention (unobservable, not blank)", not_blank, joined.height)
    unlisted = joined.filter(pl.col("observable").is_null() & (pl.col("retained_alt") > 0))
    differences += _report("retention (cells Uptake does not list)", unlisted, joined.height)
    return differences
