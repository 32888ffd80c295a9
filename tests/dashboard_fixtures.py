"""A realistic synthetic serving snapshot for dashboard tests, written the way the publisher
writes one (DESIGN.md, "Serving snapshot contract"): HOME/serving/<id>/<table>.parquet,
manifest.json, and HOME/serving/CURRENT naming the live id.

Two platforms:
- `viral`: a launch burst plus a small steady inflow; the 10,000,000th signup at 7.0 h.
- `steady`: word-of-mouth growth with a diurnal cycle; the 1,000,000th signup at 6.1 days.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

WATERMARK = datetime(2026, 10, 15, 0, 0, 0)
VIRAL_T0 = datetime(2026, 10, 1, 12, 0, 0)
STEADY_T0 = datetime(2026, 9, 20, 9, 30, 0)
VIRAL_10M_HOURS = 7.0
STEADY_1M_HOURS = 6.1 * 24
MILESTONES = (1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000, 10_000_000)
MILESTONES += (50_000_000, 100_000_000)
GRAIN_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class FixturePlatform:
    name: str
    t0: datetime
    cumulative: np.ndarray  # expected cumulative signups at the end of each minute after t0

    @property
    def minutes(self) -> int:
        return len(self.cumulative)


def _minutes_until_watermark(t0: datetime) -> int:
    return int((WATERMARK - t0).total_seconds() // 60)


def viral_curve() -> np.ndarray:
    """A(1 - e^{-t/tau}) + b t with the 10M-th signup at exactly 7.0 h."""
    hours = np.arange(1, _minutes_until_watermark(VIRAL_T0) + 1) / 60.0
    tau, inflow = 5.5, 20_000.0
    burst = (10_000_000 - inflow * VIRAL_10M_HOURS) / (1 - math.exp(-VIRAL_10M_HOURS / tau))
    return np.asarray(burst * (1 - np.exp(-hours / tau)) + inflow * hours)


def steady_curve() -> np.ndarray:
    """Accelerating word-of-mouth growth with a diurnal cycle; 1M at exactly 6.1 days."""
    hours = np.arange(1, _minutes_until_watermark(STEADY_T0) + 1) / 60.0
    clock_hour = (hours + STEADY_T0.hour + STEADY_T0.minute / 60) % 24
    rate = (1 + hours / 200.0) * (1 + 0.6 * np.sin(2 * math.pi * (clock_hour - 9) / 24))
    cumulative = np.cumsum(rate)
    at_milestone = np.interp(STEADY_1M_HOURS, hours, cumulative)
    return np.asarray(cumulative * (1_000_000 / at_milestone))


def fixture_platforms() -> list[FixturePlatform]:
    return [
        FixturePlatform("viral", VIRAL_T0, viral_curve()),
        FixturePlatform("steady", STEADY_T0, steady_curve()),
    ]


def _minute_frame(p: FixturePlatform) -> pl.DataFrame:
    cumulative = np.floor(p.cumulative).astype(np.int64)
    signups = np.diff(cumulative, prepend=0)
    starts = [p.t0 + timedelta(minutes=i) for i in range(p.minutes)]
    return pl.DataFrame({"bucket_start": starts, "signups": signups}).with_columns(
        pl.col("bucket_start").cast(pl.Datetime("us"))
    )


def signups_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    frames = []
    for p in platforms:
        minutes = _minute_frame(p)
        for grain, every in (("minute", "1m"), ("hour", "1h"), ("day", "1d"), ("week", "1w")):
            frame = (
                minutes.group_by(pl.col("bucket_start").dt.truncate(every))
                .agg(pl.col("signups").sum())
                .sort("bucket_start")
            )
            length = timedelta(days=7) if grain == "week" else timedelta(seconds=0)
            length = length or timedelta(seconds=GRAIN_SECONDS[grain])
            frames.append(
                frame.with_columns(
                    platform=pl.lit(p.name),
                    grain=pl.lit(grain),
                    elapsed_s=(pl.col("bucket_start") - p.t0).dt.total_seconds().cast(pl.Float64),
                    cumulative=pl.col("signups").cum_sum(),
                    complete=(pl.col("bucket_start") + length) <= WATERMARK,
                )
            )
    columns = ["platform", "grain", "bucket_start", "elapsed_s", "signups", "cumulative"]
    return pl.concat(frames).select([*columns, "complete"])


def milestone_elapsed_s(p: FixturePlatform, users: int) -> float | None:
    """Seconds from t0 to the users-th signup (interpolated inside the minute)."""
    cumulative = np.floor(p.cumulative)
    if cumulative[-1] < users:
        return None
    minutes = np.arange(1, p.minutes + 1, dtype=float)
    return float(np.interp(users, np.concatenate([[0.0], cumulative]), np.r_[0.0, minutes])) * 60


def milestones_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for p in platforms:
        total = math.floor(p.cumulative[-1])
        listed = [m for m in MILESTONES if m <= total]
        listed += [m for m in MILESTONES if m > total][:1]
        for users in listed:
            elapsed = milestone_elapsed_s(p, users)
            reached = p.t0 + timedelta(seconds=elapsed) if elapsed is not None else None
            rows.append(
                {"platform": p.name, "users": users, "reached_at": reached, "elapsed_s": elapsed}
            )
    return pl.DataFrame(
        rows,
        schema={
            "platform": pl.String,
            "users": pl.Int64,
            "reached_at": pl.Datetime("us"),
            "elapsed_s": pl.Float64,
        },
    )


def platforms_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    rows = []
    for p in platforms:
        signups = math.floor(p.cumulative[-1])
        deletions = signups // 200
        rows.append(
            {
                "platform": p.name,
                "t0": p.t0,
                "first_signup": p.t0 + timedelta(seconds=2),
                "last_event": WATERMARK - timedelta(seconds=1),
                "signups": signups,
                "deletions": deletions,
                "net_users": signups - deletions,
            }
        )
    return pl.DataFrame(rows)


def _daily_signups(p: FixturePlatform) -> pl.DataFrame:
    return (
        _minute_frame(p)
        .group_by(pl.col("bucket_start").dt.truncate("1d").alias("day"))
        .agg(pl.col("signups").sum())
        .sort("day")
        .with_columns(pl.col("day").cast(pl.Date))
    )


def active_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    frames = []
    for p, stickiness in zip(platforms, (0.18, 0.42), strict=True):
        daily = _daily_signups(p)
        cumulative = daily["signups"].cum_sum().to_numpy().astype(float)
        age = np.arange(len(daily), dtype=float)
        mau = cumulative * (0.55 + 0.35 * np.exp(-age / 6))
        wau = mau * (0.55 + 0.2 * np.exp(-age / 4))
        dau = mau * (stickiness + 0.4 * np.exp(-age / 2))
        dau = np.minimum(dau, wau)
        frames.append(
            pl.DataFrame(
                {
                    "platform": p.name,
                    "day": daily["day"],
                    "dau": dau.astype(np.int64),
                    "wau": wau.astype(np.int64),
                    "mau": mau.astype(np.int64),
                    "stickiness": dau / mau,
                    "warming_up": age < 29,
                }
            )
        )
    return pl.concat(frames)


def _retention_rows(p: FixturePlatform, grain: str, decay: float, floor: float) -> list[dict]:
    step = timedelta(days=7) if grain == "week" else timedelta(days=1)
    daily = _daily_signups(p)
    truncate = "1w" if grain == "week" else "1d"
    cohorts = (
        daily.with_columns(pl.col("day").cast(pl.Datetime("us")).dt.truncate(truncate))
        .group_by("day")
        .agg(pl.col("signups").sum())
        .sort("day")
    )
    rows = []
    for cohort_start, size in cohorts.iter_rows():
        n_periods = 5 if grain == "week" else 31
        for period in range(n_periods):
            observable = cohort_start + step * (period + 1) <= WATERMARK
            share = floor + (1 - floor) * math.exp(-period / decay) if period else 1.0
            later = min(1.0, share * 1.25) if period else 1.0
            rows.append(
                {
                    "platform": p.name,
                    "cohort_grain": grain,
                    "cohort_start": cohort_start,
                    "cohort_size": size,
                    "period": period,
                    "retained": int(size * share) if observable else None,
                    "retained_or_after": int(size * later) if observable else None,
                    "observable": observable,
                }
            )
    return rows


def retention_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    rows = []
    for p, (decay, floor) in zip(platforms, ((1.5, 0.08), (4.0, 0.3)), strict=True):
        for grain in ("day", "week"):
            rows += _retention_rows(p, grain, decay, floor)
    return pl.DataFrame(rows, infer_schema_length=None)


def lifecycle_table(active: pl.DataFrame, signups: pl.DataFrame) -> pl.DataFrame:
    daily = signups.filter(pl.col("grain") == "day").with_columns(
        pl.col("bucket_start").cast(pl.Date).alias("day")
    )
    joined = active.join(daily.select("platform", "day", "signups"), on=["platform", "day"])
    frames = []
    for (name,), part in joined.sort("day").group_by("platform", maintain_order=True):
        dau = part["dau"].to_numpy().astype(np.int64)
        new = np.minimum(part["signups"].to_numpy().astype(np.int64), dau)
        previous = np.concatenate([[0], dau[:-1]])
        resurrected = ((dau - new) * 0.15).astype(np.int64)
        returning = dau - new - resurrected
        dormant = previous - returning
        shortfall = np.minimum(dormant, 0)
        returning, dormant = returning + shortfall, dormant - shortfall
        resurrected = dau - new - returning
        frames.append(
            pl.DataFrame(
                {
                    "platform": name,
                    "grain": "day",
                    "bucket_start": part["day"].cast(pl.Datetime("us")),
                    "new": new,
                    "returning": returning,
                    "resurrected": resurrected,
                    "dormant": dormant,
                    "active": dau,
                }
            )
        )
    return pl.concat(frames)


def activation_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    frames = []
    for p, share in zip(platforms, (0.35, 0.6), strict=True):
        daily = _daily_signups(p)
        n = daily["signups"].to_numpy()
        frames.append(
            pl.DataFrame(
                {
                    "platform": p.name,
                    "cohort_day": daily["day"],
                    "signups": n,
                    "activated_24h": (n * share).astype(np.int64),
                    "activated_7d": (n * min(1.0, share * 1.3)).astype(np.int64),
                }
            )
        )
    return pl.concat(frames)


CHANNEL_MIX = {
    "viral": {"instagram_import": 0.7, "organic": 0.2, "invite": 0.07, "unknown": 0.03},
    "steady": {"organic": 0.7, "invite": 0.18, "ads": 0.12},
}


def channels_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    """Daily signups split by a fixed channel mix (the remainder on the first channel), with
    day-1/7/30 retention and activation blank where the window has not ended."""
    rows: list[dict[str, Any]] = []
    for p in platforms:
        mix = CHANNEL_MIX[p.name]
        cumulative = dict.fromkeys(mix, 0)
        for day, total in _daily_signups(p).iter_rows():
            start = datetime.combine(day, datetime.min.time())
            parts = {c: int(total * share) for c, share in mix.items()}
            first = next(iter(mix))
            parts[first] += total - sum(parts.values())
            for channel, n in parts.items():
                cumulative[channel] += n
                seen = {k: start + timedelta(days=k + 1) <= WATERMARK for k in (1, 7, 30)}
                rows.append(
                    {
                        "platform": p.name,
                        "grain": "day",
                        "bucket_start": start,
                        "channel": channel,
                        "signups": n,
                        "cumulative": cumulative[channel],
                        "complete": start + timedelta(days=1) <= WATERMARK,
                        "retained_d1": int(n * 0.4) if seen[1] else None,
                        "retained_d7": int(n * 0.25) if seen[7] else None,
                        "retained_d30": int(n * 0.15) if seen[30] else None,
                        "observable_d1": seen[1],
                        "observable_d7": seen[7],
                        "observable_d30": seen[30],
                        "activated_24h": int(n * 0.5) if seen[1] else None,
                        "activated_7d": int(n * 0.6) if seen[7] else None,
                    }
                )
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("bucket_start").cast(pl.Datetime("us")),
        pl.col("retained_d1", "retained_d7", "retained_d30").cast(pl.Int64),
    )


def overlap_table() -> pl.DataFrame:
    """120,000 people on both: 100,000 on steady first (lag about 11 days), 20,000 on
    viral first."""
    return pl.DataFrame(
        [
            ("steady", "viral", 120_000, 100_000, 20_000, 0, 950_000.0, 1_150_000.0),
            ("viral", "steady", 120_000, 20_000, 100_000, 0, 3_600.0, 86_400.0),
        ],
        schema={
            "platform": pl.String,
            "other_platform": pl.String,
            "people": pl.Int64,
            "first_on_platform": pl.Int64,
            "first_on_other": pl.Int64,
            "same_time": pl.Int64,
            "lag_median_s": pl.Float64,
            "lag_p90_s": pl.Float64,
        },
        orient="row",
    )


def migration_table(platforms: list[FixturePlatform]) -> pl.DataFrame:
    """Steady's users migrating to viral: 40% of viral's signups on launch day, fading."""
    viral = next(p for p in platforms if p.name == "viral")
    rows = []
    for index, (day, total) in enumerate(_daily_signups(viral).iter_rows()):
        migrants = int(total * 0.4 / (1 + index))
        rows.append(
            {
                "platform": "viral",
                "from_platform": "steady",
                "day": day,
                "signups": total,
                "migrants": migrants,
                "share": migrants / total if total else None,
                "recently_active": migrants // 2,
                "recently_active_share": migrants // 2 / total if total else None,
                "complete": datetime.combine(day, datetime.min.time()) + timedelta(days=1)
                <= WATERMARK,
            }
        )
    return pl.DataFrame(rows)


def migrant_activity_table() -> pl.DataFrame:
    """Migrants from steady to viral, days -30..30: they leave steady over two weeks; days
    past 13 are not observable yet (viral is 13.5 days old)."""
    rows = []
    for day in range(-30, 31):
        migrants = 100_000 if day <= 13 else 0
        away = min(max(day, 0), 14) / 14
        on_old = 0.7 * (1 - 0.6 * away)
        on_new = 0.0 if day < 0 else 0.8 - 0.3 * away
        both = on_old * on_new
        parts = [on_old - both, on_new - both, both]
        counts = [round(migrants * x) for x in parts] if migrants else [None] * 3
        neither = migrants - sum(counts) if migrants else None  # type: ignore[arg-type]
        shares = [c / migrants if migrants else None for c in [*counts, neither]]  # type: ignore[operator]
        rows.append(
            {
                "platform": "viral",
                "from_platform": "steady",
                "day": day,
                "migrants": migrants,
                "from_only": counts[0],
                "to_only": counts[1],
                "both": counts[2],
                "neither": neither,
                "share_from_only": shares[0],
                "share_to_only": shares[1],
                "share_both": shares[2],
                "share_neither": shares[3],
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.col("day").cast(pl.Int32))


# Cumulative users at the watermark (the fits' measured_at_end), rounded.
MEASURED_AT_END = {"viral": 20_180_000.0, "steady": 7_380_000.0}


def fits_table() -> pl.DataFrame:
    """Fits in the format of etl/fits: `parameters` per day since t0, plus an ensemble row."""
    viral_burst = (10_000_000 - 20_000.0 * 7) / (1 - math.exp(-7 / 5.5))
    rows = [
        (
            "viral",
            "burst_inflow",
            3100.0,
            900.0,
            0.99,
            {
                "burst_users": viral_burst,
                "burst_decay_per_day": 24 / 5.5,
                "inflow_per_day": 480_000.0,
            },
        ),
        (
            "viral",
            "logistic",
            3190.0,
            4100.0,
            0.01,
            {"ceiling": 16.5e6, "rate_per_day": 7.2, "inflection_day": 0.125},
        ),
        (
            "steady",
            "logistic",
            5200.0,
            410.0,
            0.82,
            {"ceiling": 30.0e6, "rate_per_day": 0.1217, "inflection_day": 33.75},
        ),
        (
            "steady",
            "exponential",
            5203.0,
            800.0,
            0.18,
            {"scale": 480_000.0, "growth_per_day": 0.1128},
        ),
    ]
    records: list[dict[str, Any]] = [
        {
            "platform": platform,
            "model": model,
            "params": json.dumps(
                {"parameters": params, "time_unit": "day", "akaike_weight": weight, "note": ""}
            ),
            "aic": aic,
            "rmse": rmse,
            "n_points": 330 if platform == "viral" else 24,
            "fitted_until": WATERMARK,
            "ceiling_identified": platform == "viral" and model == "logistic",
            "measured_at_end": MEASURED_AT_END[platform],
            "fitted_at_end": MEASURED_AT_END[platform] * (0.98 if model == "logistic" else 1.03),
        }
        for platform, model, aic, rmse, weight, params in rows
    ]
    for platform in ("viral", "steady"):
        note = "ceiling identified" if platform == "viral" else "ceiling not yet identifiable"
        records.append(
            {
                "platform": platform,
                "model": "ensemble",
                "params": json.dumps({"note": note, "time_unit": "day"}),
                "aic": None,
                "rmse": None,
                "n_points": 330 if platform == "viral" else 24,
                "fitted_until": WATERMARK,
                "ceiling_identified": platform == "viral",
                "measured_at_end": MEASURED_AT_END[platform],
                "fitted_at_end": MEASURED_AT_END[platform] * 1.01,
            }
        )
    return pl.DataFrame(records, infer_schema_length=None)


def forecasts_table() -> pl.DataFrame:
    def eta(t0: datetime, hours: float | None) -> datetime | None:
        return t0 + timedelta(hours=hours) if hours is not None else None

    rows = [
        ("viral", VIRAL_T0, "ensemble", 50_000_000, None, None, None, 0.97),
        ("steady", STEADY_T0, "ensemble", 10_000_000, 673.0, 630.0, 760.0, 0.02),
        ("steady", STEADY_T0, "ensemble", 50_000_000, 2100.0, 1500.0, None, 0.6),
        ("steady", STEADY_T0, "logistic", 10_000_000, 670.0, 640.0, 720.0, 0.0),
    ]
    return pl.DataFrame(
        [
            {
                "platform": platform,
                "model": model,
                "users": users,
                "eta": eta(t0, mid),
                "eta_low": eta(t0, low),
                "eta_high": eta(t0, high),
                "p_never": p_never,
            }
            for platform, t0, model, users, mid, low, high, p_never in rows
        ],
        schema={
            "platform": pl.String,
            "model": pl.String,
            "users": pl.Int64,
            "eta": pl.Datetime("us"),
            "eta_low": pl.Datetime("us"),
            "eta_high": pl.Datetime("us"),
            "p_never": pl.Float64,
        },
    )


def runs_table(run_id: str) -> pl.DataFrame:
    starts = [WATERMARK - timedelta(hours=h) for h in (48, 24, 1)]
    return pl.DataFrame(
        {
            "run_id": [f"{run_id}-a", f"{run_id}-b", run_id],
            "started_at": starts,
            "finished_at": [s + timedelta(seconds=42) for s in starts],
            "status": ["ok", "rejected_input", "ok"],
            "files": [12, 3, 4],
            "rows_read": [9_000_000, 1_200_000, 800_100],
            "rows_loaded": [8_990_000, 1_150_000, 800_000],
            "rows_duplicate": [9_000, 30_000, 100],
            "rows_quarantined": [1_000, 20_000, 0],
            "error": [None, "1 file rejected: not a Parquet file", None],
        }
    )


def build_tables(run_id: str = "run-fixture") -> dict[str, pl.DataFrame]:
    platforms = fixture_platforms()
    signups = signups_table(platforms)
    active = active_table(platforms)
    return {
        "platforms": platforms_table(platforms),
        "signups": signups,
        "milestones": milestones_table(platforms),
        "active": active,
        "retention": retention_table(platforms),
        "lifecycle": lifecycle_table(active, signups),
        "activation": activation_table(platforms),
        "channels": channels_table(platforms),
        "overlap": overlap_table(),
        "migration": migration_table(platforms),
        "migrant_activity": migrant_activity_table(),
        "fits": fits_table(),
        "forecasts": forecasts_table(),
        "runs": runs_table(run_id),
    }


def definitions(timezone: str = "UTC", retention_mode: str = "on") -> dict[str, Any]:
    return {
        "timezone": timezone,
        "week_start": "monday",
        "retention_mode": retention_mode,
        "activity_event_types": "all but account_deleted",
        "milestones": list(MILESTONES),
        "t0": {"viral": None, "steady": STEADY_T0.isoformat()},
    }


def publish_tables(
    home: Path,
    tables: dict[str, pl.DataFrame],
    snapshot_id: str,
    *,
    watermark: datetime = WATERMARK,
    extra_manifest: dict[str, Any] | None = None,
) -> Path:
    """Write a snapshot folder and switch CURRENT to it (atomically, like the publisher)."""
    serving = home / "serving"
    folder = serving / snapshot_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    manifest = {
        "id": snapshot_id,
        "created": (watermark + timedelta(minutes=5)).isoformat() + "Z",
        "run_id": f"run-{snapshot_id}",
        "engine": "duckdb",
        "watermark": watermark.isoformat() + "Z",
        "row_counts": {name: frame.height for name, frame in tables.items()},
        "definitions": definitions(),
        **(extra_manifest or {}),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    pending = serving / "CURRENT.tmp"
    pending.write_text(snapshot_id + "\n")
    pending.replace(serving / "CURRENT")
    return folder


def publish_fixture_snapshot(home: Path, snapshot_id: str = "20261015T000500Z-fixture") -> Path:
    """Publish the two-platform fixture snapshot under `home` and return its folder."""
    return publish_tables(home, build_tables(), snapshot_id)


# --- a demo-shaped snapshot: the two launches beside a ten-year incumbent -------------------

INCUMBENT_T0 = datetime(2016, 1, 4, 10, 0, 0)  # about 10.8 years of history at WATERMARK
INCUMBENT_USERS = 5_000_000


def _incumbent_days() -> pl.DataFrame:
    """One row per day since the incumbent's t0: signups along a slow logistic curve."""
    days = (WATERMARK - INCUMBENT_T0).days
    age = np.arange(days + 1, dtype=float)
    cumulative = INCUMBENT_USERS / (1 + np.exp(-(age - days * 0.45) / (days / 9)))
    cumulative = np.floor(cumulative - cumulative[0] + 1).astype(np.int64)
    starts = [INCUMBENT_T0.replace(hour=0) + timedelta(days=int(d)) for d in age]
    return pl.DataFrame(
        {"day": starts, "signups": np.diff(cumulative, prepend=0), "cumulative": cumulative}
    ).with_columns(pl.col("day").cast(pl.Datetime("us")))


def _incumbent_signups(days: pl.DataFrame) -> pl.DataFrame:
    """Day and week rows over the whole history; hour rows for its last 30 days."""
    daily = days.rename({"day": "bucket_start"}).with_columns(grain=pl.lit("day"))
    weekly = (
        daily.group_by(pl.col("bucket_start").dt.truncate("1w"))
        .agg(pl.col("signups").sum(), pl.col("cumulative").max())
        .sort("bucket_start")
        .with_columns(grain=pl.lit("week"))
    )
    recent = daily.tail(30)
    hourly = (
        recent.with_columns(hour=pl.int_ranges(0, 24))
        .explode("hour")
        .select(
            bucket_start=pl.col("bucket_start") + pl.duration(hours=pl.col("hour")),
            signups=pl.col("signups") // 24,
            grain=pl.lit("hour"),
        )
        .with_columns(cumulative=recent["cumulative"][0] + pl.col("signups").cum_sum())
    )
    frames = []
    for grain, frame, length in (
        ("day", daily, timedelta(days=1)),
        ("week", weekly, timedelta(days=7)),
        ("hour", hourly, timedelta(hours=1)),
    ):
        frames.append(
            frame.filter(pl.col("grain") == grain).select(
                platform=pl.lit("incumbent"),
                grain=pl.col("grain"),
                bucket_start=pl.col("bucket_start"),
                elapsed_s=(pl.col("bucket_start") - INCUMBENT_T0)
                .dt.total_seconds()
                .cast(pl.Float64),
                signups=pl.col("signups").cast(pl.Int64),
                cumulative=pl.col("cumulative").cast(pl.Int64),
                complete=(pl.col("bucket_start") + length) <= WATERMARK,
            )
        )
    return pl.concat(frames)


def _incumbent_milestones(days: pl.DataFrame) -> pl.DataFrame:
    total = int(days["cumulative"][-1])
    listed = [m for m in MILESTONES if m <= total] + [m for m in MILESTONES if m > total][:1]
    rows = []
    for users in listed:
        reached = days.filter(pl.col("cumulative") >= users)["day"]
        at = reached[0] + timedelta(hours=12) if len(reached) else None
        elapsed = (at - INCUMBENT_T0).total_seconds() if at else None
        rows.append(
            {"platform": "incumbent", "users": users, "reached_at": at, "elapsed_s": elapsed}
        )
    return pl.DataFrame(
        rows,
        schema={
            "platform": pl.String,
            "users": pl.Int64,
            "reached_at": pl.Datetime("us"),
            "elapsed_s": pl.Float64,
        },
    )


def _incumbent_retention(days: pl.DataFrame) -> pl.DataFrame:
    """Day cohorts over the whole history (about 3,900 of them) and week cohorts, 31 and 53
    periods: the heatmap that once drew 72,000 px tall."""
    frames = []
    for grain, every, periods, step in (("day", "1d", 31, 1), ("week", "1w", 53, 7)):
        cohorts = (
            days.group_by(pl.col("day").dt.truncate(every).alias("cohort_start"))
            .agg(cohort_size=pl.col("signups").sum())
            .filter(pl.col("cohort_size") > 0)
        )
        frame = cohorts.with_columns(period=pl.int_ranges(0, periods)).explode("period")
        share = (
            pl.when(pl.col("period") == 0).then(1.0).otherwise(0.35 + 0.4 / (1 + pl.col("period")))
        )
        ends = pl.col("cohort_start") + pl.duration(days=(pl.col("period") + 1) * step)
        frames.append(
            frame.with_columns(observable=ends <= WATERMARK).select(
                platform=pl.lit("incumbent"),
                cohort_grain=pl.lit(grain),
                cohort_start=pl.col("cohort_start"),
                cohort_size=pl.col("cohort_size").cast(pl.Int64),
                period=pl.col("period").cast(pl.Int64),
                retained=pl.when("observable").then((pl.col("cohort_size") * share).cast(pl.Int64)),
                retained_or_after=pl.when("observable").then(
                    (pl.col("cohort_size") * (share + 0.1).clip(upper_bound=1.0)).cast(pl.Int64)
                ),
                observable=pl.col("observable"),
            )
        )
    return pl.concat(frames)


def _incumbent_active(days: pl.DataFrame) -> pl.DataFrame:
    """Usage only in the last 30 days (the incumbent's event history starts there)."""
    recent = days.tail(30)
    mau = (recent["cumulative"].to_numpy() * 0.5).astype(np.int64)
    return pl.DataFrame(
        {
            "platform": "incumbent",
            "day": recent["day"].cast(pl.Date),
            "dau": (mau * 0.45).astype(np.int64),
            "wau": (mau * 0.8).astype(np.int64),
            "mau": mau,
            "stickiness": np.full(30, 0.45),
            "warming_up": np.arange(30) < 29,
        }
    )


def incumbent_tables() -> dict[str, pl.DataFrame]:
    """The incumbent's rows of each table it has (platforms, signups, milestones, active,
    retention, lifecycle), in the fixture's schemas."""
    days = _incumbent_days()
    active = _incumbent_active(days)
    signups = _incumbent_signups(days)
    total = int(days["cumulative"][-1])
    platforms = pl.DataFrame(
        {
            "platform": ["incumbent"],
            "t0": [INCUMBENT_T0],
            "first_signup": [INCUMBENT_T0 + timedelta(seconds=1)],
            "last_event": [WATERMARK - timedelta(seconds=1)],
            "signups": [total],
            "deletions": [total // 100],
            "net_users": [total - total // 100],
        }
    )
    return {
        "platforms": platforms,
        "signups": signups,
        "milestones": _incumbent_milestones(days),
        "active": active,
        "retention": _incumbent_retention(days),
        "lifecycle": lifecycle_table(active, signups),
    }


def build_demo_shaped_tables(run_id: str = "run-demo-shaped") -> dict[str, pl.DataFrame]:
    """The fixture's tables with the incumbent's rows added (a long history beside two
    month-old launches, as `uptake demo` publishes)."""
    tables = build_tables(run_id)
    for name, rows in incumbent_tables().items():
        tables[name] = pl.concat(
            [tables[name], rows.select(tables[name].columns)], how="vertical_relaxed"
        )
    return tables


def publish_demo_shaped_snapshot(home: Path, snapshot_id: str = "20261015T000500Z-demo") -> Path:
    """Publish the three-platform, demo-shaped snapshot under `home`."""
    return publish_tables(home, build_demo_shaped_tables(), snapshot_id)
