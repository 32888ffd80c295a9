"""Channels and cross-platform migration: golden tests on hand-made fixtures
(a person on two platforms in each order, no person key, one person twice on a platform),
identities (channels sum to signups; migrant shares sum to 1), incremental == full."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from models_helpers import add_events, refresh, served, snapshot_of_models

from etl.config import Settings, load_settings
from etl.load import assign_user_keys
from etl.warehouse import connect

T = datetime.fromisoformat
# platform, user_id, signup_ts (UTC), channel, person_id
Person = tuple[str, str, str, str | None, str | None]


def add_people(con: duckdb.DuckDBPyConnection, rows: Iterable[Person], file_id: int) -> None:
    for platform, user, ts, channel, person in rows:
        con.execute(
            "INSERT INTO signups (platform, user_id, signup_ts, channel, person_id, file_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [platform, user, T(ts), channel, person, file_id],
        )
    assign_user_keys(con, file_id)


@pytest.fixture
def con(settings: Settings):  # type: ignore[no-untyped-def]
    connection = connect(settings)
    yield connection
    connection.close()


def by_key(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


# --- channels -------------------------------------------------------------------------------


def test_channels_signups_retention_activation_and_blanks(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_people(
        con,
        [
            ("a", "u1", "2024-01-01 10:00", "organic", None),
            ("a", "u2", "2024-01-01 23:00", "organic", None),
            ("a", "u3", "2024-01-02 05:00", None, None),  # no channel: 'unknown'
            ("a", "u4", "2024-01-08 12:00", "ads", None),
        ],
        1,
    )
    add_events(
        con,
        [
            ("a", "u1", "2024-01-02 09:00"),  # day 1, within 24 h
            ("a", "u2", "2024-01-03 00:30"),  # day 2, 25.5 h after signup: 7 days only
            ("a", "u3", "2024-01-03 06:00"),  # day 1, 25 h after signup
            ("a", "u1", "2024-01-09 12:00"),  # day 8; the watermark
        ],
        2,
    )
    refresh(con, settings, clock)
    rows = served(con, "channels")
    day = by_key([r for r in rows if r["grain"] == "day"], "bucket_start", "channel")
    assert len(day) == 9 * 3  # dense: 9 days x 3 channels
    organic = day[(T("2024-01-01"), "organic")]
    assert (organic["signups"], organic["cumulative"], organic["complete"]) == (2, 2, True)
    assert (organic["retained_d1"], organic["retained_d7"], organic["retained_d30"]) == (1, 0, None)
    assert (organic["observable_d1"], organic["observable_d7"], organic["observable_d30"]) == (
        True,
        True,
        False,
    )
    assert (organic["activated_24h"], organic["activated_7d"]) == (1, 2)
    unknown = day[(T("2024-01-02"), "unknown")]
    assert (unknown["signups"], unknown["retained_d1"], unknown["retained_d7"]) == (1, 1, None)
    assert (unknown["activated_24h"], unknown["activated_7d"]) == (0, None)  # 7 d not over
    assert day[(T("2024-01-09"), "organic")]["cumulative"] == 2
    assert day[(T("2024-01-09"), "organic")]["complete"] is False
    ads = day[(T("2024-01-08"), "ads")]
    assert (ads["signups"], ads["retained_d1"], ads["observable_d1"]) == (1, None, False)
    week = by_key([r for r in rows if r["grain"] == "week"], "bucket_start", "channel")
    first = T("2024-01-01")  # a Monday
    assert [week[(first, c)]["signups"] for c in ("ads", "organic", "unknown")] == [0, 2, 1]
    assert week[(first, "organic")]["retained_d1"] == 1  # 2024-01-08 ended by the watermark
    assert week[(first, "unknown")]["retained_d7"] is None
    assert week[(T("2024-01-08"), "ads")]["signups"] == 1
    assert_channels_sum_to_signups(con)


def assert_channels_sum_to_signups(con: duckdb.DuckDBPyConnection) -> None:
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in served(con, "channels"):
        totals[(r["platform"], r["grain"], r["bucket_start"])] += r["signups"]
    expected = {
        (r["platform"], r["grain"], r["bucket_start"]): r["signups"]
        for r in served(con, "signups")
        if r["grain"] in ("day", "week")
    }
    assert totals == expected


def assert_channel_retention_matches_retention(con: duckdb.DuckDBPyConnection) -> None:
    """Day-1 retention per channel sums to the day cohorts' period-1 retention."""
    per_day: dict[tuple[str, datetime], int] = defaultdict(int)
    for r in served(con, "channels"):
        if r["grain"] == "day" and r["observable_d1"]:
            per_day[(r["platform"], r["bucket_start"])] += r["retained_d1"]
    for r in served(con, "retention"):
        if r["cohort_grain"] == "day" and r["period"] == 1 and r["observable"]:
            assert per_day[(r["platform"], r["cohort_start"])] == r["retained"]


# --- overlap and migration --------------------------------------------------------------------

PEOPLE: list[Person] = [
    ("a", "u1", "2024-01-01 00:00", "organic", "p1"),  # p1: a, then b 10 h later
    ("b", "v1", "2024-01-01 10:00", "invite", "p1"),
    ("b", "v2", "2024-01-02 00:00", None, "p2"),  # p2: b first, a a day later ...
    ("a", "u2", "2024-01-03 00:00", None, "p2"),  # ... but active on a before b
    ("a", "u3", "2024-01-01 01:00", None, "p3"),  # p3: twice on a (the earliest counts)
    ("a", "u3x", "2024-01-05 00:00", None, "p3"),
    ("b", "v3", "2024-01-02 01:00", None, "p3"),
    ("a", "u4", "2024-01-01 02:00", None, "p4"),  # p4: only on a, twice
    ("a", "u4x", "2024-01-01 03:00", None, "p4"),
    ("a", "u5", "2024-01-01 04:00", None, None),  # no person key: never linked
    ("b", "v5", "2024-01-01 05:00", None, None),
    ("a", "u6", "2024-01-04 00:00", None, "p6"),  # p6: the same instant on both
    ("b", "v6", "2024-01-04 00:00", None, "p6"),
    ("b", "v7", "2024-02-10 00:00", None, "p7"),  # p7: on a later, active on a 31 days
    ("a", "u7", "2024-02-11 00:00", None, "p7"),  # before b: not a migrant
    ("b", "v8", "2024-02-10 00:00", None, "p8"),  # p8: active on a exactly 30 days before
    ("a", "u8", "2024-02-12 00:00", None, "p8"),
]
PEOPLE_EVENTS = [
    ("a", "u2", "2024-01-01 12:00"),
    ("a", "u7", "2024-01-10 00:00"),
    ("a", "u8", "2024-01-11 00:00"),
    ("b", "v5", "2024-03-01 00:00"),
]


def test_overlap_people_order_and_lag(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_people(con, PEOPLE, 1)
    add_events(con, PEOPLE_EVENTS, 2)
    refresh(con, settings, clock)
    overlap = by_key(served(con, "overlap"), "platform", "other_platform")
    assert set(overlap) == {("a", "b"), ("b", "a")}
    ab, ba = overlap[("a", "b")], overlap[("b", "a")]
    # p1, p2, p3, p6, p7, p8; p4 is on a only; u5/v5 carry no person key
    assert (ab["people"], ab["first_on_platform"], ab["first_on_other"], ab["same_time"]) == (
        6,
        2,  # p1, p3 (earliest a signup)
        3,  # p2, p7, p8
        1,  # p6
    )
    assert ab["lag_median_s"] == pytest.approx((36_000 + 86_400) / 2)
    assert ab["lag_p90_s"] == pytest.approx(36_000 + 0.9 * 50_400)
    assert (ba["people"], ba["first_on_platform"], ba["first_on_other"]) == (6, 3, 2)
    assert ba["lag_median_s"] == pytest.approx(86_400)  # 1, 1 and 2 days
    assert ba["lag_p90_s"] == pytest.approx(86_400 * 1.8)  # interpolated


def test_overlap_without_shared_people_is_zero_not_missing(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_people(con, [("a", "u1", "2024-01-01 00:00", None, "p1"),
                     ("b", "v1", "2024-01-02 00:00", None, "p2")], 1)  # fmt: skip
    refresh(con, settings, clock)
    for row in served(con, "overlap"):
        assert (row["people"], row["first_on_platform"], row["lag_median_s"]) == (0, 0, None)
    assert served(con, "migrant_activity") == []


def test_migration_by_day_signup_before_or_active_in_30_days(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_people(con, PEOPLE, 1)
    add_events(con, PEOPLE_EVENTS, 2)
    refresh(con, settings, clock)
    rows = by_key(served(con, "migration"), "platform", "from_platform", "day")
    to_b = {d: r for (p, f, d), r in rows.items() if (p, f) == ("b", "a")}
    assert min(to_b) == date(2024, 1, 1) and max(to_b) == date(2024, 3, 1)  # dense days
    got = {
        d: (r["signups"], r["migrants"], r["share"], r["recently_active"])
        for d, r in to_b.items()
        if r["signups"]
    }
    assert got == {
        date(2024, 1, 1): (2, 1, 0.5, 0),  # p1 (signed up on a first); v5 has no key
        date(2024, 1, 2): (2, 2, 1.0, 1),  # p3 (a first), p2 (active on a 12 h before)
        date(2024, 1, 4): (1, 0, 0.0, 0),  # p6: same instant, not before
        date(2024, 2, 10): (2, 1, 0.5, 1),  # p8 at exactly 30 days; p7 at 31 days is not
    }
    assert to_b[date(2024, 1, 3)]["share"] is None  # no signups that day: undefined
    to_a = {d: r for (p, f, d), r in rows.items() if (p, f) == ("a", "b")}
    moved = {d: r["migrants"] for d, r in to_a.items() if r["migrants"]}
    # p2, p7, p8 signed up on b first; p3's second account on a (u3x) is not a new arrival
    assert moved == {date(2024, 1, 3): 1, date(2024, 2, 11): 1, date(2024, 2, 12): 1}
    assert all(r["complete"] for d, r in to_b.items() if d < date(2024, 3, 1))
    assert not to_b[date(2024, 3, 1)]["complete"]  # holds b's watermark


def migrant_activity_fixture(con: duckdb.DuckDBPyConnection) -> None:
    add_people(
        con,
        [
            ("a", "u1", "2024-01-01 00:00", None, "p1"),
            ("a", "u2", "2024-01-01 00:00", None, "p2"),
            ("a", "u3", "2024-01-01 00:00", None, "p3"),
            ("b", "v1", "2024-01-10 12:00", None, "p1"),
            ("b", "v2", "2024-01-10 13:00", None, "p2"),
            ("b", "v3", "2024-01-11 09:00", None, "p3"),
        ],
        1,
    )
    add_events(
        con,
        [
            ("a", "u1", "2024-01-01 01:00"),
            ("a", "u1", "2024-01-09 08:00"),  # p1: day -1 on a
            ("b", "v1", "2024-01-10 12:30"),  # p1: day 0 on b
            ("a", "u1", "2024-01-11 08:00"),  # p1: day 1 on both
            ("b", "v1", "2024-01-11 20:00"),
            ("a", "u2", "2024-01-10 08:00"),  # p2: day 0 on a (before joining b)
            ("a", "u3", "2024-01-11 10:00"),  # p3: day 0 on a (after joining b)
            ("b", "v3", "2024-01-12 10:00"),  # p3: day 1 on b
            ("a", "u1", "2024-03-01 00:00"),  # watermarks far beyond day 30
            ("b", "v1", "2024-03-01 00:00"),
        ],
        2,
    )


def test_migrant_activity_by_day_since_joining(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    migrant_activity_fixture(con)
    refresh(con, settings, clock)
    rows = by_key(served(con, "migrant_activity"), "platform", "from_platform", "day")
    assert {(p, f) for p, f, _ in rows} == {("b", "a")}
    assert sorted(d for _, _, d in rows) == list(range(-30, 31))
    parts = ("migrants", "from_only", "to_only", "both", "neither")
    got = {d: tuple(rows[("b", "a", d)][k] for k in parts) for d in (-30, -1, 0, 1, 2, 30)}
    assert got == {
        -30: (3, 0, 0, 0, 3),  # before a's launch: nobody active (observable)
        -1: (3, 1, 0, 0, 2),
        0: (3, 2, 1, 0, 0),
        1: (3, 0, 1, 1, 1),
        2: (3, 0, 0, 0, 3),
        30: (3, 0, 0, 0, 3),
    }
    assert rows[("b", "a", 1)]["share_both"] == pytest.approx(1 / 3)
    migration = by_key(served(con, "migration"), "platform", "from_platform", "day")
    day_one = migration[("b", "a", date(2024, 1, 10))]
    assert (day_one["migrants"], day_one["recently_active"]) == (2, 2)
    day_two = migration[("b", "a", date(2024, 1, 11))]
    assert (day_two["migrants"], day_two["recently_active"]) == (1, 0)  # p3's a event is after


def test_migrant_activity_is_blank_where_not_observable(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    migrant_activity_fixture(con)
    con.execute("DELETE FROM events WHERE event_ts >= '2024-03-01'")
    add_events(con, [("b", "v1", "2024-01-20 00:00")], 3)  # a ends 2024-01-11 10:00
    refresh(con, settings, clock)
    rows = by_key(served(con, "migrant_activity"), "platform", "from_platform", "day")
    assert rows[("b", "a", -1)]["migrants"] == 3
    # a's data ends on 2024-01-11: day 0 is over for p1, p2 only; day 1 for nobody
    assert rows[("b", "a", 0)]["migrants"] == 2
    late = rows[("b", "a", 1)]
    assert late["migrants"] == 0
    assert all(late[k] is None for k in ("from_only", "both", "neither", "share_neither"))


def assert_migrant_shares_sum_to_one(con: duckdb.DuckDBPyConnection) -> None:
    for r in served(con, "migrant_activity"):
        if r["migrants"]:
            parts = ("from_only", "to_only", "both", "neither")
            assert sum(r[k] for k in parts) == r["migrants"]
            assert min(r[k] for k in parts) >= 0
            shares = ("share_from_only", "share_to_only", "share_both", "share_neither")
            assert sum(r[k] for k in shares) == pytest.approx(1.0)
        else:
            assert r["neither"] is None and r["share_both"] is None


# --- properties: incremental == full, identities ------------------------------------------

START = datetime(2024, 10, 20)  # spans the Europe/Berlin fall-back of 2024-10-27
CLOCK = datetime(2026, 11, 1, 12)
signup_row = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 5),  # user
    st.integers(0, 60 * 24 * 40),  # minutes after START
    st.integers(0, 2),  # batch
    st.sampled_from([None, "organic", "ads"]),
    st.sampled_from([None, "p0", "p1", "p2", "p3"]),
)
event_row = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 5),
    st.integers(0, 60 * 24 * 75),
    st.integers(0, 2),
)


def _ts(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat(sep=" ")


@hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    signups=st.lists(signup_row, min_size=1, max_size=14, unique_by=lambda r: (r[0], r[1])),
    events=st.lists(event_row, max_size=40),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
)
def test_incremental_equals_full_with_channels_and_people(
    signups: list[tuple[str, int, int, int, str | None, str | None]],
    events: list[tuple[str, int, int, int]],
    timezone: str,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(Path(folder), env={}, overrides={"timezone": timezone})
        con = connect(settings)
        for batch in range(3):
            file_id = 2 * batch + 1
            add_people(
                con,
                [(p, f"u{u}", _ts(m), ch, who) for p, u, m, b, ch, who in signups if b == batch],
                file_id,
            )
            add_events(con, [(p, f"u{u}", _ts(m)) for p, u, m, b in events if b == batch],
                       file_id + 1)  # fmt: skip
            refresh(con, settings, CLOCK)
        incremental = snapshot_of_models(con)
        assert refresh(con, settings, CLOCK, full=True).full
        assert snapshot_of_models(con) == incremental
        assert_channels_sum_to_signups(con)
        assert_channel_retention_matches_retention(con)
        assert_migrant_shares_sum_to_one(con)
        con.close()
