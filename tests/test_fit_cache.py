"""Fits are reused while their input is unchanged, and only then: the same bits as a refit."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import etl.fits
from etl.config import Settings, load_settings
from etl.fits import fit_all
from etl.fits.backtest import model_rows
from etl.fits.cache import code_fingerprint, fit_key
from etl.fits.models import LOGISTIC
from etl.fits.series import build_series
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.snapshot import current_snapshot, read_table

LAUNCH = datetime(2025, 3, 1)
MILESTONES = (1_000, 10_000, 100_000)


class DictCache:
    """The cache protocol over a dict, counting what it was asked."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, tuple[pa.Table, pa.Table]]] = {}
        self.hits: list[str] = []

    def get(self, platform: str, key: str) -> tuple[pa.Table, pa.Table] | None:
        found = self.stored.get(platform)
        if found is None or found[0] != key:
            return None
        self.hits.append(platform)
        return found[1]

    def put(self, platform: str, key: str, tables: tuple[pa.Table, pa.Table]) -> None:
        self.stored[platform] = (key, tables)


def hourly(platform: str, ceiling: float, seed: int) -> pl.DataFrame:
    """Four days of hourly signups around a logistic; the last bucket is incomplete."""
    return model_rows(platform, LOGISTIC, [ceiling, 1.5, 2.0], start=LAUNCH, days=4, seed=seed)


def with_last_bucket(frame: pl.DataFrame, platform: str, signups: int) -> pl.DataFrame:
    """`frame` with the platform's incomplete last bucket holding `signups` more."""
    last = (pl.col("platform") == platform) & ~pl.col("complete")
    return frame.with_columns(
        pl.when(last).then(pl.col("signups") + signups).otherwise(pl.col("signups")),
        pl.when(last).then(pl.col("cumulative") + signups).otherwise(pl.col("cumulative")),
    )


def same(a: tuple[pa.Table, pa.Table], b: tuple[pa.Table, pa.Table]) -> bool:
    return a[0].to_pylist() == b[0].to_pylist() and a[1].to_pylist() == b[1].to_pylist()


@pytest.fixture(scope="module")
def two_platforms() -> pl.DataFrame:
    return pl.concat([hourly("a", 30_000, seed=1), hourly("b", 8_000, seed=2)])


def test_an_unchanged_input_reuses_the_stored_fits_bit_for_bit(two_platforms: pl.DataFrame):
    cache = DictCache()
    first = fit_all(two_platforms, MILESTONES, cache=cache)
    assert same(first, fit_all(two_platforms, MILESTONES))  # the cache changes nothing
    assert set(cache.stored) == {"a", "b"} and cache.hits == []
    with mock.patch.object(etl.fits, "fit_platform", side_effect=AssertionError("refit")):
        again = fit_all(two_platforms, MILESTONES, cache=cache)
    assert cache.hits == ["a", "b"] and same(again, first)


def test_a_changed_complete_bucket_refits_that_platform_only(two_platforms: pl.DataFrame):
    cache = DictCache()
    fit_all(two_platforms, MILESTONES, cache=cache)
    changed = two_platforms.with_columns(
        pl.when((pl.col("platform") == "a") & (pl.col("bucket_start") == LAUNCH))
        .then(pl.col("signups") + 1)
        .otherwise(pl.col("signups"))
    ).with_columns(pl.col("signups").cum_sum().over("platform").alias("cumulative"))
    refit = fit_all(changed, MILESTONES, cache=cache)
    assert cache.hits == ["b"]
    assert same(refit, fit_all(changed, MILESTONES))


def test_signups_in_the_incomplete_bucket_refit_only_past_a_milestone(
    two_platforms: pl.DataFrame,
):
    cache = DictCache()
    fit_all(two_platforms, MILESTONES, cache=cache)
    total = int(two_platforms.filter(pl.col("platform") == "b")["cumulative"].max())  # type: ignore[arg-type]
    assert total < 10_000  # the next milestone ahead of b
    fit_all(with_last_bucket(two_platforms, "b", 10_000 - total - 1), MILESTONES, cache=cache)
    assert cache.hits == ["a", "b"]  # the same milestones ahead: the same forecasts
    crossed = with_last_bucket(two_platforms, "b", 10_000 - total)
    fit_all(crossed, MILESTONES, cache=cache)
    assert cache.hits == ["a", "b", "a"]  # b reached 10k: it forecasts other milestones


def test_the_key_covers_seed_milestones_and_code(two_platforms: pl.DataFrame):
    series = build_series("a", two_platforms.filter(pl.col("platform") == "a"))
    assert series is not None
    key = fit_key(series, MILESTONES, 0)
    assert key == fit_key(series, MILESTONES, 0)
    assert key != fit_key(series, MILESTONES, 1)
    assert key != fit_key(series, (*MILESTONES, 50_000), 0)
    code_fingerprint.cache_clear()
    with mock.patch("pathlib.Path.read_bytes", return_value=b"other code"):
        assert fit_key(series, MILESTONES, 0) != key
    code_fingerprint.cache_clear()
    assert fit_key(series, MILESTONES, 0) == key


# -- in the pass: the warehouse's fit_cache ----------------------------------------------------


def _files(folder: Path, name: str, signups: list[datetime], events: list[datetime]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if signups:
        users = [f"u{i}" for i in range(len(signups))]
        pq.write_table(
            pa.table({"platform": ["p"] * len(users), "user_id": users, "signup_ts": signups}),
            folder / f"{name}-signups.parquet",
        )
    pq.write_table(
        pa.table(
            {
                "platform": ["p"] * len(events),
                "user_id": [f"u{i % 50}" for i in range(len(events))],
                "event_ts": events,
                "event_type": ["post"] * len(events),
            }
        ),
        folder / f"{name}-events.parquet",
    )
    return folder


def _pass(settings: Settings, folder: Path, clock: datetime) -> list[str]:
    result = ingest_and_publish(settings, [folder], IngestOptions(), now=clock)
    assert result.status == "ok", result.error
    return result.summary()["fits_reused"]  # type: ignore[no-any-return]


def _published_fits_equal_a_refit(settings: Settings) -> bool:
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    signups = pl.from_arrow(read_table(snapshot, "signups"))
    assert isinstance(signups, pl.DataFrame)
    published = (read_table(snapshot, "fits"), read_table(snapshot, "forecasts"))
    return same(published, fit_all(signups, settings.milestones))


def test_a_pass_reuses_fits_until_new_buckets_complete(tmp_path: Path, clock: datetime):
    settings = load_settings(tmp_path / "home", env={})
    rng = np.random.default_rng(3)
    signups = sorted(LAUNCH + timedelta(hours=float(h)) for h in rng.gamma(2.0, 12.0, 1500))
    end = signups[-1]
    assert _pass(settings, _files(tmp_path / "1", "a", signups, [end]), clock) == []
    # Late events inside the window: the signup series, the watermark, the fit: unchanged.
    late = [LAUNCH + timedelta(hours=h) for h in range(1, 40)]
    assert _pass(settings, _files(tmp_path / "2", "b", [], late), clock) == ["p"]
    assert _published_fits_equal_a_refit(settings)
    # An event two hours on moves the watermark: the last hours' buckets complete.
    later = [end + timedelta(hours=2)]
    assert _pass(settings, _files(tmp_path / "3", "c", [], later), clock) == []
    assert _published_fits_equal_a_refit(settings)
