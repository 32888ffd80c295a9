"""Activation, hour-cohort retention ("on" and "on or after") and day-N retention per
channel against a brute-force reference computed here from the raw rows, in timezones whose
UTC hours split into two local hours (Asia/Kolkata, +05:30; America/St_Johns, -03:30 with
DST), and in Europe/Berlin across a fall-back."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from models_helpers import add_events, add_signups, refresh, served

from etl.config import load_settings
from etl.warehouse import connect

UTC = ZoneInfo("UTC")
START = datetime(2024, 10, 24)  # Berlin falls back on 27 October, St John's on 3 November
CLOCK = datetime(2026, 1, 1)


def _local(ts: datetime, zone: ZoneInfo) -> datetime:
    return ts.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _hour_start(ts: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant where the local hour holding ts began."""
    local = _local(ts, zone)
    return ts - (local - local.replace(minute=0, second=0, microsecond=0))


def _random_rows(seed: int) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    rng = random.Random(seed)
    stamp = lambda seconds: (START + timedelta(seconds=seconds)).isoformat(sep=" ")  # noqa: E731
    signups = [("a", f"u{i}", stamp(rng.randrange(0, 3 * 86400))) for i in range(120)]
    events = []
    for _, user, signed in signups:
        base = datetime.fromisoformat(signed)
        for _ in range(rng.randrange(0, 12)):
            offset = rng.choice(
                [
                    rng.randrange(-3600, 7200),
                    rng.randrange(0, 10 * 86400),
                    rng.randrange(0, 33 * 86400),
                ]
            )
            events.append(("a", user, (base + timedelta(seconds=offset)).isoformat(sep=" ")))
    return signups, events


class Reference(NamedTuple):
    activation: dict[date, tuple[int, int]]  # local signup day -> (24 h, 7 days)
    retained: dict[tuple[datetime, int], int]  # (cohort hour, period) -> users "on"
    or_after: dict[tuple[datetime, int], int]  # (cohort hour, period) -> "on or after"
    day_n: dict[date, tuple[int, int, int]]  # local signup day -> active on day 1, 7, 30


def _reference(
    signups: list[tuple[str, str, str]], events: list[tuple[str, str, str]], zone: ZoneInfo
) -> Reference:
    by_user: dict[str, list[datetime]] = defaultdict(list)
    for _, user, ts in events:
        by_user[user].append(datetime.fromisoformat(ts))
    activation: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    retained: dict[tuple[datetime, int], set[str]] = defaultdict(set)
    or_after: dict[tuple[datetime, int], int] = defaultdict(int)
    day_n: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, user, signed in signups:
        s = datetime.fromisoformat(signed)
        cohort_hour = _hour_start(s, zone)
        after = [e for e in by_user[user] if e >= s]
        counts = activation[_local(s, zone).date()]
        counts[0] += any(e <= s + timedelta(hours=24) for e in after)
        counts[1] += any(e <= s + timedelta(days=7) for e in after)
        last = -1
        for e in by_user[user]:
            start = _hour_start(e, zone)
            period = (start - cohort_hour) // timedelta(hours=1)
            if start >= cohort_hour and period <= 47:
                retained[(cohort_hour, period)].add(user)
            if start >= cohort_hour:
                last = max(last, min(period, 47))
        for period in range(last + 1):
            or_after[(cohort_hour, period)] += 1
        signup_day = _local(s, zone).date()
        active_days = {_local(e, zone).date() for e in by_user[user]}
        for i, n in enumerate((1, 7, 30)):
            day_n[signup_day][i] += signup_day + timedelta(days=n) in active_days
    return Reference(
        {day: (a, b) for day, (a, b) in activation.items()},
        {key: len(users) for key, users in retained.items()},
        dict(or_after),
        {day: (a, b, c) for day, (a, b, c) in day_n.items()},
    )


@pytest.mark.parametrize("timezone", ["Asia/Kolkata", "America/St_Johns", "Europe/Berlin"])
@pytest.mark.parametrize("batches", [1, 3])
def test_activation_and_hour_retention_match_reference(
    home: Path, timezone: str, batches: int
) -> None:
    settings = load_settings(home, env={}, overrides={"timezone": timezone})
    con = connect(settings)
    signups, events = _random_rows(seed=len(timezone) + batches)
    for batch in range(batches):
        add_signups(con, signups[batch::batches], 2 * batch + 1)
        add_events(con, events[batch::batches], 2 * batch + 2)
        refresh(con, settings, CLOCK)
    ref = _reference(signups, events, ZoneInfo(timezone))
    for row in served(con, "activation"):
        want = ref.activation.get(row["cohort_day"], (0, 0))
        got = (row["activated_24h"], row["activated_7d"])
        assert all(g is None or g == w for g, w in zip(got, want, strict=True)), row
    hour_rows = [r for r in served(con, "retention") if r["cohort_grain"] == "hour"]
    assert hour_rows
    for row in hour_rows:
        if row["observable"]:
            key = (row["cohort_start"], row["period"])
            assert row["retained"] == ref.retained.get(key, 0), row
            assert row["retained_or_after"] == ref.or_after.get(key, 0), row
    assert any(r["observable"] and r["period"] == 47 and r["retained_or_after"] for r in hour_rows)
    day_rows = [r for r in served(con, "channels") if r["grain"] == "day" and r["signups"]]
    assert day_rows
    zone = ZoneInfo(timezone)
    checked = 0
    for row in day_rows:
        day = _local(row["bucket_start"], zone).date()
        got = (row["retained_d1"], row["retained_d7"], row["retained_d30"])
        want = ref.day_n.get(day, (0, 0, 0))
        assert all(g is None or g == w for g, w in zip(got, want, strict=True)), row
        checked += sum(g is not None for g in got)
    assert checked
    con.close()
