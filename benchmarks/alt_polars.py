"""The core metrics in polars (lazy), as a polars user would write them: scan the Parquet
files, unique, group_by, and `group_by_dynamic` windows for the rolling distinct counts.

Same definitions and output tables as alt_pandas (see its docstring); written from
DESIGN.md's metric conventions, not from Uptake's SQL.

    from alt_polars import core_metrics
    tables = core_metrics(Path("inbox"), timezone="UTC", milestones=(1000, 5000))
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

DELETED = "account_deleted"
DAY_PERIODS = 90
FUTURE_TOLERANCE = timedelta(days=1)


def scan_stream(folder: Path, stream: str) -> pl.LazyFrame:
    files = sorted(folder.rglob(f"{stream}-*.parquet"))
    return pl.scan_parquet(files)


def valid_rows(frame: pl.LazyFrame, ts: str, as_of: datetime | None) -> pl.LazyFrame:
    """Rows with a user and a time, not after the clock plus a day (the input contract)."""
    keep = pl.col("user_id").is_not_null() & (pl.col("user_id") != "") & pl.col(ts).is_not_null()
    if as_of is not None:
        keep &= pl.col(ts) <= as_of + FUTURE_TOLERANCE
    return frame.filter(keep)


def local_day(column: str, timezone: str) -> pl.Expr:
    """Naive UTC instants -> the local calendar date."""
    return pl.col(column).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()


def day_start_utc(column: str, timezone: str) -> pl.Expr:
    """A local date -> the UTC instant (naive) its day starts."""
    local = pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone(timezone)
    return local.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def first_signups(signups: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    """One row per user: their earliest signup, with its local day."""
    unique = signups.unique(subset=["platform", "event_id"])
    first = unique.group_by("platform", "user_id").agg(pl.col("signup_ts").min())
    return first.with_columns(day=local_day("signup_ts", timezone))


def watermarks(signups: pl.LazyFrame, events: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    """The newest timestamp of each platform (signups and events) and its local day."""
    last = pl.concat(
        [
            signups.select("platform", ts=pl.col("signup_ts")),
            events.select("platform", ts=pl.col("event_ts")),
        ]
    )
    newest = last.group_by("platform").agg(pl.col("ts").max())
    return newest.with_columns(last_day=local_day("ts", timezone)).select("platform", "last_day")


def dense_days(first_days: pl.LazyFrame, watermark: pl.LazyFrame) -> pl.LazyFrame:
    """Every local day of each platform from `first_day` to its watermark's day."""
    spans = first_days.join(watermark, on="platform")
    days = pl.date_ranges(pl.col("first_day"), pl.col("last_day"), interval="1d")
    return spans.select("platform", day=days).explode("day")


def daily_signups(users: pl.LazyFrame, watermark: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    counts = users.group_by("platform", "day").agg(signups=pl.len())
    first = users.group_by("platform").agg(first_day=pl.col("day").min())
    dense = dense_days(first, watermark).join(counts, on=["platform", "day"], how="left")
    dense = dense.with_columns(pl.col("signups").fill_null(0)).sort("platform", "day")
    return dense.select(
        "platform",
        bucket_start=day_start_utc("day", timezone),
        signups=pl.col("signups").cast(pl.Int64),
        cumulative=pl.col("signups").cum_sum().over("platform").cast(pl.Int64),
    )


def time_to_milestones(users: pl.LazyFrame, milestones: Sequence[int]) -> pl.LazyFrame:
    """The N-th signup's exact time, for milestones up to the total plus the next one."""
    ranked = users.select(
        "platform",
        "signup_ts",
        users=pl.col("signup_ts").rank("ordinal").over("platform").cast(pl.Int64),
        t0=pl.col("signup_ts").min().over("platform"),
    )
    totals = users.group_by("platform").agg(total=pl.len().cast(pl.Int64))
    wanted = pl.LazyFrame({"users": list(milestones)}, schema={"users": pl.Int64})
    grid = totals.join(wanted, how="cross").sort("platform", "users")
    # Milestones reached, and the first one not reached.
    grid = grid.filter(
        (pl.col("users") <= pl.col("total"))
        | (
            pl.col("users")
            == pl.col("users").filter(pl.col("users") > pl.col("total")).min().over("platform")
        )
    )
    hits = ranked.filter(pl.col("users").is_in(list(milestones)))
    joined = grid.join(hits, on=["platform", "users"], how="left")
    return joined.select(
        "platform",
        "users",
        reached_at=pl.col("signup_ts"),
        elapsed_s=(pl.col("signup_ts") - pl.col("t0")).dt.total_microseconds() / 1e6,
    ).sort("platform", "users")


def active_days(events: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    activity = events.filter(pl.col("event_type") != DELETED)
    days = activity.select("platform", "user_id", day=local_day("event_ts", timezone))
    return days.unique()


def rolling_distinct(user_days: pl.LazyFrame, days: int, name: str) -> pl.LazyFrame:
    """Distinct users in the `days` local days ending each day: window [d - days + 1, d]."""
    windows = user_days.sort("platform", "day").group_by_dynamic(
        "day",
        every="1d",
        period=f"{days}d",
        offset=f"-{days - 1}d",
        group_by="platform",
        closed="left",
        label="left",
    )
    counts = windows.agg(pl.col("user_id").n_unique().alias(name))
    return counts.with_columns(pl.col("day") + timedelta(days=days - 1))


def active_users(user_days: pl.LazyFrame, watermark: pl.LazyFrame) -> pl.LazyFrame:
    first = user_days.group_by("platform").agg(first_day=pl.col("day").min())
    dense = dense_days(first, watermark)
    for days, name in ((1, "dau"), (7, "wau"), (30, "mau")):
        dense = dense.join(
            rolling_distinct(user_days, days, name), on=["platform", "day"], how="left"
        )
    return dense.select(
        "platform", "day", *(pl.col(n).fill_null(0).cast(pl.Int64) for n in ("dau", "wau", "mau"))
    ).sort("platform", "day")


def cohorts(users: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    sizes = users.group_by("platform", "day").agg(cohort_size=pl.len().cast(pl.Int64))
    return sizes.select(
        "platform", cohort_start=day_start_utc("day", timezone), cohort_size="cohort_size"
    )


def retention(users: pl.LazyFrame, user_days: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    """Users of each local-day signup cohort active on day N after it (N = 0 ... 90)."""
    cohort = users.select("platform", "user_id", cohort_day="day")
    joined = user_days.join(cohort, on=["platform", "user_id"])
    joined = joined.with_columns(period=(pl.col("day") - pl.col("cohort_day")).dt.total_days())
    joined = joined.filter(pl.col("period").is_between(0, DAY_PERIODS))
    retained = joined.group_by("platform", "cohort_day", "period").agg(
        retained=pl.col("user_id").n_unique().cast(pl.Int64)
    )
    return retained.select(
        "platform",
        cohort_start=day_start_utc("cohort_day", timezone),
        period=pl.col("period").cast(pl.Int64),
        retained="retained",
    )


def core_metrics(
    folder: Path,
    timezone: str = "UTC",
    milestones: Sequence[int] = (),
    as_of: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """signups, milestones, active, cohorts and retention tables from the input files;
    rows after `as_of` + 1 day are left out, as Uptake quarantines them."""
    signups = valid_rows(scan_stream(folder, "signups"), "signup_ts", as_of)
    events = valid_rows(scan_stream(folder, "events"), "event_ts", as_of)
    events = events.unique(subset=["platform", "event_id"])
    users = first_signups(signups, timezone)
    watermark = watermarks(signups, events, timezone)
    user_days = active_days(events, timezone)
    plans = {
        "signups": daily_signups(users, watermark, timezone),
        "milestones": time_to_milestones(users, milestones),
        "active": active_users(user_days, watermark),
        "cohorts": cohorts(users, timezone),
        "retention": retention(users, user_days, timezone),
    }
    frames = pl.collect_all(list(plans.values()))
    return dict(zip(plans, frames, strict=True))
