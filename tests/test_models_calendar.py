"""Buckets in the reporting timezone: DST days of 23 and 25 hours (Europe/Berlin) and
weeks starting on any day."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from models_helpers import add_events, add_signups, refresh, served

from etl.config import WEEKDAYS, load_settings
from etl.warehouse import connect

T = datetime.fromisoformat


def test_berlin_dst_days_and_repeated_hour(home: Path, clock: datetime) -> None:
    settings = load_settings(home, env={}, overrides={"timezone": "Europe/Berlin"})
    con = connect(settings)
    add_signups(
        con,
        [
            ("a", "s1", "2024-03-30 23:30"),  # 00:30 CET on 31 March (a 23-hour day)
            ("a", "s2", "2024-03-31 21:59"),  # 23:59 CEST, still 31 March
            ("a", "f1", "2024-10-27 00:30"),  # 02:30 CEST on 27 October (25 hours)
            ("a", "f2", "2024-10-27 01:30"),  # 02:30 CET: the repeated local hour
            ("a", "f3", "2024-10-27 22:59"),  # 23:59 CET, still 27 October
        ],
        1,
    )
    add_events(
        con,
        [
            ("a", "f1", "2024-10-26 22:00"),
            ("a", "f2", "2024-10-27 22:30"),
            ("a", "f3", "2024-10-28 09:00"),
        ],
        2,
    )
    refresh(con, settings, clock)
    days = {r["bucket_start"]: r["signups"] for r in served(con, "signups")
            if r["grain"] == "day" and r["signups"]}  # fmt: skip
    assert days == {T("2024-03-30 23:00"): 2, T("2024-10-26 22:00"): 3}
    hours = {r["bucket_start"] for r in served(con, "signups")
             if r["grain"] == "hour" and r["signups"]}  # fmt: skip
    assert {T("2024-10-27 00:00"), T("2024-10-27 01:00")} <= hours  # two distinct hours
    active = {r["day"]: r["dau"] for r in served(con, "active") if r["dau"]}
    assert active == {
        date(2024, 10, 27): 2,
        date(2024, 10, 28): 1,
    }  # 00:00 CEST and 23:30 CET: the same day
    day_rows = [r for r in served(con, "lifecycle") if r["grain"] == "day"]
    starts = [r["bucket_start"] for r in day_rows][:2]
    assert starts == [T("2024-10-26 22:00"), T("2024-10-27 23:00")]  # 25 hours apart


@pytest.mark.parametrize("week_start", WEEKDAYS)
def test_every_week_start(home: Path, clock: datetime, week_start: str) -> None:
    settings = load_settings(home, env={}, overrides={"week_start": week_start})
    con = connect(settings)
    add_signups(con, [("a", "u1", "2024-01-03 12:00")], 1)  # a Wednesday
    add_events(con, [("a", "u1", "2024-01-03 12:30"), ("a", "u1", "2024-01-10 12:30")], 2)
    refresh(con, settings, clock)
    back = (3 - (WEEKDAYS.index(week_start) + 1)) % 7  # days back to the week's first day
    expected = T(f"2024-01-{3 - back:02d} 00:00") if back < 3 else T(f"2023-12-{31 + 3 - back}")
    weeks = [r for r in served(con, "signups") if r["grain"] == "week"]
    assert weeks[0]["bucket_start"] == expected
    cohort = [r for r in served(con, "retention") if r["cohort_grain"] == "week"]
    assert cohort[0]["cohort_start"] == expected
    # the second week holds the watermark: not observable yet, so blank rather than 0
    assert [(r["period"], r["retained"]) for r in cohort] == [(0, 1), (1, None)]
