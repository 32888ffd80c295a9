"""The core metrics as an analyst would compute them in a pandas notebook: read the Parquet
files, drop duplicates, group by, and a rolling distinct count by slicing each day's window.

Written from the metric definitions in DESIGN.md ("Metric conventions"), not from Uptake's
SQL, so that `alt_check.compare` is an independent check of Uptake's snapshot:
- a user's signup is their earliest; cumulative users and daily signups per local day of the
  reporting timezone, from the first signup's day to the data watermark's day;
- time to N users = the exact time of the N-th signup (null when not reached), listing the
  milestones up to the total plus the next one above it;
- activity = any usage event except `account_deleted`; DAU per local day, WAU / MAU the
  distinct users active in the trailing 7 / 30 local days ending that day;
- day-N retention ("on"): users of a local-day signup cohort active on local day N after it.

    from alt_pandas import core_metrics
    tables = core_metrics(Path("inbox"), timezone="UTC", milestones=(1000, 5000))
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

DELETED = "account_deleted"
DAY_PERIODS = 90  # retention periods kept per day cohort
FUTURE_TOLERANCE = timedelta(days=1)


def read_stream(folder: Path, stream: str, columns: list[str]) -> pd.DataFrame:
    """Every `<stream>-*.parquet` file under `folder` as one frame."""
    files = sorted(folder.rglob(f"{stream}-*.parquet"))
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)


def local_day(ts: pd.Series, timezone: str) -> pd.Series:
    """Naive UTC instants -> the local calendar day (as a naive midnight)."""
    local = ts.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None)
    return local.dt.normalize()


def day_start_utc(day: pd.Series, timezone: str) -> pd.Series:
    """A local day (naive midnight) -> the UTC instant it starts (naive)."""
    return day.dt.tz_localize(timezone).dt.tz_convert("UTC").dt.tz_localize(None)


def valid_rows(frame: pd.DataFrame, ts: str, as_of: datetime | None) -> pd.DataFrame:
    """Rows with a user and a time, not after the clock plus a day (the input contract)."""
    keep = frame["user_id"].notna() & (frame["user_id"] != "") & frame[ts].notna()
    if as_of is not None:
        keep &= frame[ts] <= as_of + FUTURE_TOLERANCE
    return frame[keep]


def first_signups(signups: pd.DataFrame) -> pd.DataFrame:
    """One row per user: their earliest signup."""
    signups = signups.drop_duplicates(subset=["platform", "event_id"])
    ordered = signups.sort_values("signup_ts")
    return ordered.drop_duplicates(subset=["platform", "user_id"], keep="first")


def watermarks(signups: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """The newest timestamp of each platform, signups and events together."""
    last_signup = signups.groupby("platform")["signup_ts"].max()
    last_event = events.groupby("platform")["event_ts"].max()
    return pd.concat([last_signup, last_event], axis=1).max(axis=1)


def daily_signups(users: pd.DataFrame, watermark: pd.Series, timezone: str) -> pd.DataFrame:
    """Signups per local day, dense up to the watermark's day, with the running total."""
    users = users.assign(day=local_day(users["signup_ts"], timezone))
    counts = users.groupby(["platform", "day"]).size()
    frames = []
    for platform, platform_counts in counts.groupby(level="platform"):
        per_day = platform_counts.droplevel("platform")
        last_day = local_day(pd.Series([watermark[platform]]), timezone).iloc[0]
        days = pd.date_range(per_day.index.min(), last_day, freq="D")
        dense = per_day.reindex(days, fill_value=0)
        frame = pd.DataFrame({"day": days, "signups": dense.to_numpy()})
        frame["cumulative"] = frame["signups"].cumsum()
        frame.insert(0, "platform", platform)
        frames.append(frame)
    result = pd.concat(frames, ignore_index=True)
    result["bucket_start"] = day_start_utc(result["day"], timezone)
    return result[["platform", "bucket_start", "signups", "cumulative"]]


def time_to_milestones(users: pd.DataFrame, milestones: Sequence[int]) -> pd.DataFrame:
    """The exact time of the N-th signup for each milestone N up to the total, and the
    next milestone above it (not reached: null)."""
    rows = []
    for platform, group in users.groupby("platform"):
        times = group["signup_ts"].sort_values().reset_index(drop=True)
        t0 = times.iloc[0]
        for users_needed in milestones:
            reached = users_needed <= len(times)
            at = times.iloc[users_needed - 1] if reached else pd.NaT
            elapsed = (at - t0).total_seconds() if reached else None
            rows.append((platform, users_needed, at, elapsed))
            if not reached:
                break
    return pd.DataFrame(rows, columns=["platform", "users", "reached_at", "elapsed_s"])


def active_days(events: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """One row per user and local day with an activity event."""
    activity = events[events["event_type"] != DELETED]
    days = activity.assign(day=local_day(activity["event_ts"], timezone))
    return days[["platform", "user_id", "day"]].drop_duplicates()


def active_users(user_days: pd.DataFrame, watermark: pd.Series, timezone: str) -> pd.DataFrame:
    """DAU, and WAU / MAU as distinct users over the trailing 7 / 30 days of each day."""
    rows = []
    for platform, days in user_days.groupby("platform"):
        last_day = local_day(pd.Series([watermark[platform]]), timezone).iloc[0]
        for day in pd.date_range(days["day"].min(), last_day, freq="D"):
            counts = [
                days.loc[
                    (days["day"] > day - pd.Timedelta(days=window)) & (days["day"] <= day),
                    "user_id",
                ].nunique()
                for window in (1, 7, 30)
            ]
            rows.append((platform, day.date(), *counts))
    return pd.DataFrame(rows, columns=["platform", "day", "dau", "wau", "mau"])


def cohorts(users: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Signup cohorts by local day, with their sizes."""
    users = users.assign(cohort_day=local_day(users["signup_ts"], timezone))
    sizes = users.groupby(["platform", "cohort_day"]).size().rename("cohort_size").reset_index()
    sizes["cohort_start"] = day_start_utc(sizes["cohort_day"], timezone)
    return sizes[["platform", "cohort_start", "cohort_size"]]


def retention(users: pd.DataFrame, user_days: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Users of each local-day signup cohort active on day N after it (N = 0 ... 90)."""
    users = users.assign(cohort_day=local_day(users["signup_ts"], timezone))
    joined = user_days.merge(
        users[["platform", "user_id", "cohort_day"]], on=["platform", "user_id"]
    )
    joined["period"] = (joined["day"] - joined["cohort_day"]).dt.days
    joined = joined[(joined["period"] >= 0) & (joined["period"] <= DAY_PERIODS)]
    retained = joined.groupby(["platform", "cohort_day", "period"])["user_id"].nunique()
    result = retained.rename("retained").reset_index()
    result["cohort_start"] = day_start_utc(result["cohort_day"], timezone)
    return result[["platform", "cohort_start", "period", "retained"]]


def core_metrics(
    folder: Path,
    timezone: str = "UTC",
    milestones: Sequence[int] = (),
    as_of: datetime | None = None,
) -> dict[str, pd.DataFrame]:
    """signups, milestones, active, cohorts and retention tables from the input files;
    rows after `as_of` + 1 day are left out, as Uptake quarantines them."""
    signups = read_stream(folder, "signups", ["platform", "user_id", "signup_ts", "event_id"])
    signups = valid_rows(signups, "signup_ts", as_of)
    events = read_stream(
        folder, "events", ["platform", "user_id", "event_ts", "event_type", "event_id"]
    )
    events = valid_rows(events, "event_ts", as_of).drop_duplicates(subset=["platform", "event_id"])
    users = first_signups(signups)
    watermark = watermarks(signups, events)
    user_days = active_days(events, timezone)
    return {
        "signups": daily_signups(users, watermark, timezone),
        "milestones": time_to_milestones(users, milestones),
        "active": active_users(user_days, watermark, timezone),
        "cohorts": cohorts(users, timezone),
        "retention": retention(users, user_days, timezone),
    }
