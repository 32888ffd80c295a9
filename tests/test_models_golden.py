"""Golden tests per model on tiny hand-made fixtures with known answers."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from models_helpers import add_deletions, add_events, add_signups, refresh, served

from etl.config import PlatformSettings, Settings, load_settings
from etl.warehouse import connect

T = datetime.fromisoformat


@pytest.fixture
def con(settings: Settings):  # type: ignore[no-untyped-def]
    connection = connect(settings)
    yield connection
    connection.close()


def test_platforms_counts_net_users_and_declared_t0(home: Path, clock: datetime) -> None:
    settings = load_settings(home, env={})
    settings = Settings(home=home, platforms={"b": PlatformSettings("b", t0=T("2024-01-01 00:00"))})
    con = connect(settings)
    add_signups(con, [("a", "u1", "2024-01-01 10:00"), ("a", "u2", "2024-01-02 10:00")], 1)
    add_signups(con, [("b", "v1", "2024-01-01 05:00")], 1)
    add_events(con, [("a", "u1", "2024-01-03 08:00")], 2)
    add_deletions(con, [("a", "u2", "2024-01-03 09:00"), ("a", "u2", "2024-01-03 09:01")], 3)
    refresh(con, settings, clock)
    platforms = {row["platform"]: row for row in served(con, "platforms")}
    assert platforms["a"]["t0"] == T("2024-01-01 10:00")  # first signup
    assert platforms["b"]["t0"] == T("2024-01-01 00:00")  # declared
    assert platforms["a"]["last_event"] == T("2024-01-03 08:00")
    assert (platforms["a"]["signups"], platforms["a"]["deletions"]) == (2, 1)
    assert platforms["a"]["net_users"] == 1


def test_signups_buckets_cumulative_elapsed_and_complete(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(
        con,
        [
            ("a", "u1", "2024-01-01 10:00:00"),
            ("a", "u2", "2024-01-01 10:00:30"),
            ("a", "u3", "2024-01-01 12:15:00"),
        ],
        1,
    )
    refresh(con, settings, clock)
    by_grain: dict[str, list[tuple[datetime, int, int, bool]]] = {}
    for row in served(con, "signups"):
        by_grain.setdefault(row["grain"], []).append(
            (row["bucket_start"], row["signups"], row["cumulative"], row["complete"])
        )
    assert by_grain["minute"] == [
        (T("2024-01-01 10:00"), 2, 2, True),
        (T("2024-01-01 12:15"), 1, 3, False),  # holds the watermark: incomplete
    ]
    assert by_grain["hour"] == [
        (T("2024-01-01 10:00"), 2, 2, True),
        (T("2024-01-01 11:00"), 0, 2, True),  # dense: empty hours are listed
        (T("2024-01-01 12:00"), 1, 3, False),
    ]
    assert by_grain["day"] == [(T("2024-01-01 00:00"), 3, 3, False)]
    assert by_grain["week"] == [(T("2024-01-01 00:00"), 3, 3, False)]  # a Monday
    elapsed = {r["bucket_start"]: r["elapsed_s"] for r in served(con, "signups")}
    assert elapsed[T("2024-01-01 12:00")] == 2 * 3600.0
    assert elapsed[T("2024-01-01 00:00")] == -10 * 3600.0  # day starts before t0


def test_milestones_exact_nth_signup_and_next_unreached(home: Path, clock: datetime) -> None:
    settings = load_settings(home, env={}, overrides={"milestones": "2,3,5,10"})
    con = connect(settings)
    add_signups(
        con,
        [
            ("a", "u1", "2024-01-01 10:00:00"),
            ("a", "u2", "2024-01-01 10:00:40"),
            ("a", "u3", "2024-01-01 10:00:20"),  # same minute, out of order
            ("a", "u4", "2024-01-02 00:00:00"),
        ],
        1,
    )
    refresh(con, settings, clock)
    got = [(r["users"], r["reached_at"], r["elapsed_s"]) for r in served(con, "milestones")]
    assert got == [
        (2, T("2024-01-01 10:00:20"), 20.0),
        (3, T("2024-01-01 10:00:40"), 40.0),
        (5, None, None),  # next one above the total: censored, not 0
    ]


def test_active_dau_wau_mau_and_warming_up(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(con, [("a", "x", "2024-01-01 00:00"), ("a", "y", "2024-01-01 00:00")], 1)
    days = {"x": [1, 5, 12], "y": [3, 3, 40]}
    events = [("a", u, f"2024-{1 + (d - 1) // 31:02d}-{(d - 1) % 31 + 1:02d} 12:00")
              for u, ds in days.items() for d in ds]  # fmt: skip
    add_events(con, events, 2)
    refresh(con, settings, clock)
    active = {r["day"].day if r["day"].month == 1 else 31 + r["day"].day: r
              for r in served(con, "active")}  # fmt: skip
    assert (active[1]["dau"], active[1]["wau"], active[1]["mau"]) == (1, 1, 1)
    assert (active[3]["dau"], active[3]["wau"], active[3]["mau"]) == (1, 2, 2)
    assert (active[7]["wau"], active[8]["wau"]) == (2, 2)  # x(5) and y(3) still in window
    assert (active[11]["wau"], active[18]["wau"], active[19]["wau"]) == (1, 1, 0)
    assert active[30]["mau"] == 2  # x on day 12, y on day 3 (day 1..30)
    assert active[33]["mau"] == 1  # y's day 3 has left the window; x's day 12 not
    assert active[40]["dau"] == 1 and active[40]["stickiness"] == 0.5  # x (day 12) in MAU
    assert active[19]["stickiness"] == 0.0
    assert active[29]["warming_up"] and not active[30]["warming_up"]


def test_retention_on_and_on_or_after_with_unobservable_cells(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(con, [("a", "u1", "2024-01-01 10:00"), ("a", "u2", "2024-01-01 11:30")], 1)
    add_events(
        con,
        [
            ("a", "u1", "2024-01-01 10:05"),
            ("a", "u1", "2024-01-03 10:05"),
            ("a", "u2", "2024-01-02 10:05"),
        ],
        2,
    )
    refresh(con, settings, clock)
    day = [(r["period"], r["cohort_size"], r["retained"], r["retained_or_after"], r["observable"])
           for r in served(con, "retention") if r["cohort_grain"] == "day"]  # fmt: skip
    assert day == [(0, 2, 1, 2, True), (1, 2, 1, 2, True), (2, 2, None, None, False)]
    hour = [r for r in served(con, "retention") if r["cohort_grain"] == "hour"]
    first = {r["period"]: r for r in hour if r["cohort_start"] == T("2024-01-01 10:00")}
    assert (first[0]["retained"], first[0]["retained_or_after"]) == (1, 1)
    assert (first[1]["retained"], first[1]["retained_or_after"]) == (0, 1)
    assert max(first) == 47  # capped periods, all observable by 2024-01-03 10:05


def test_lifecycle_day_classes(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(con, [("a", u, "2024-01-01 00:00") for u in ("u1", "u2", "u3")], 1)
    add_events(
        con,
        [
            ("a", "u1", "2024-01-01 10:00"),
            ("a", "u1", "2024-01-03 10:00"),
            ("a", "u2", "2024-01-02 10:00"),
            ("a", "u3", "2024-01-02 10:00"),
            ("a", "u3", "2024-01-03 09:00"),
        ],
        2,
    )
    refresh(con, settings, clock)
    got = [(r["bucket_start"].day, r["new"], r["returning"], r["resurrected"], r["dormant"],
            r["active"]) for r in served(con, "lifecycle") if r["grain"] == "day"]  # fmt: skip
    assert got == [(1, 1, 0, 0, 0, 1), (2, 2, 0, 0, -1, 2), (3, 0, 1, 1, -1, 2)]
    week = [r for r in served(con, "lifecycle") if r["grain"] == "week"]
    assert [(r["new"], r["active"]) for r in week] == [(3, 3)]


def test_activation_windows_are_exact(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(
        con,
        [
            ("a", "early", "2024-01-01 10:30"),  # event before signup only: not activated
            ("a", "edge", "2024-01-01 10:30"),  # event at exactly +24h: activated
            ("a", "late", "2024-01-01 10:30"),  # event on day 3: 7d only
            ("a", "never", "2024-01-01 10:30"),
        ],
        1,
    )
    add_events(
        con,
        [
            ("a", "early", "2024-01-01 10:10"),
            ("a", "edge", "2024-01-02 10:30"),
            ("a", "late", "2024-01-03 10:00"),
            ("a", "never", "2024-01-20 10:00"),
        ],
        2,
    )
    refresh(con, settings, clock)
    first = served(con, "activation")[0]
    assert first["cohort_day"] == date(2024, 1, 1)
    assert (first["signups"], first["activated_24h"], first["activated_7d"]) == (4, 1, 2)


def test_cohorts_before_the_first_usage_event_are_unobservable(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    """A long history whose usage export starts later (the incumbent's): before the first
    usage event nobody's activity was recorded, so those cells are blank, not 'not
    retained'; from the bucket holding the first event on, they are observed."""
    add_signups(con, [("a", "old", "2020-03-02 10:00"), ("a", "new", "2020-03-10 10:00")], 1)
    days = ("2020-03-10 12:00", "2020-03-11 09:00", "2020-03-20 09:00")
    add_events(con, [("a", "new", day) for day in days], 2)
    refresh(con, settings, clock)
    cells = {
        (r["cohort_start"].day, r["period"]): (r["retained"], r["observable"])
        for r in served(con, "retention")
        if r["cohort_grain"] == "day" and r["period"] <= 1
    }
    assert cells[(2, 0)] == cells[(2, 1)] == (None, False)  # before 10 March
    assert cells[(10, 0)] == (1, True) and cells[(10, 1)] == (1, True)
    weeks = {
        (r["cohort_start"].day, r["period"]): (r["retained"], r["observable"])
        for r in served(con, "retention")
        if r["cohort_grain"] == "week" and r["period"] <= 1
    }
    # the old user's week (2 March) was before usage; its period 1 is the week of 9 March,
    # which holds the first event: observed, and the old user was not active
    assert weeks[(2, 0)] == (None, False) and weeks[(2, 1)] == (0, True)
    activation = {r["cohort_day"].day: r["activated_24h"] for r in served(con, "activation")}
    assert activation[2] is None and activation[10] == 1


def test_activation_not_observable_is_null(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_signups(con, [("a", "u1", "2024-01-01 10:30")], 1)
    add_events(con, [("a", "u1", "2024-01-02 20:00")], 2)
    refresh(con, settings, clock)
    row = served(con, "activation")[0]
    assert (row["activated_24h"], row["activated_7d"]) == (None, None)


def test_activity_event_types_setting(home: Path, clock: datetime) -> None:
    settings = load_settings(home, env={}, overrides={"activity_event_types": "post"})
    con = connect(settings)
    add_signups(con, [("a", "u1", "2024-01-01 10:00")], 1)
    add_events(con, [("a", "u1", "2024-01-01 11:00")], 2, event_type="view")
    add_events(con, [("a", "u1", "2024-01-02 11:00")], 3, event_type="post")
    refresh(con, settings, clock)
    assert [(r["day"].day, r["dau"]) for r in served(con, "active")] == [(2, 1)]


def test_inactive_event_types_are_never_activity(home: Path, clock: datetime) -> None:
    """Rows that are not people acting (Amplitude's "Daily Ad Metrics") are left out of
    DAU, retention and activation, with or without an allow-list; they still move the
    platform's last event."""
    for allowed in ("", "post,ad_metrics"):
        settings = load_settings(
            home / (allowed or "all"),
            env={},
            overrides={"activity_event_types": allowed, "inactive_event_types": "ad_metrics"},
        )
        con = connect(settings)
        add_signups(con, [("a", "u1", "2024-01-01 10:00")], 1)
        ads = [("a", "ads", "2024-01-01 11:00"), ("a", "u1", "2024-01-01 12:00")]
        add_events(con, ads, 2, event_type="ad_metrics")
        add_events(con, [("a", "u1", "2024-01-03 11:00")], 3, event_type="post")
        refresh(con, settings, clock)
        assert [(r["day"].day, r["dau"]) for r in served(con, "active") if r["dau"]] == [(3, 1)]
        assert served(con, "activation")[0]["activated_24h"] == 0
        con.close()


def test_no_new_data_is_a_noop_and_definition_change_forces_full(
    home: Path, clock: datetime
) -> None:
    settings = load_settings(home, env={})
    con = connect(settings)
    add_signups(con, [("a", "u1", "2024-01-01 10:00")], 1)
    assert refresh(con, settings, clock).full
    again = refresh(con, settings, clock)
    assert (again.full, again.reason, again.timings) == (False, "no new data", {})
    berlin = load_settings(home, env={}, overrides={"timezone": "Europe/Berlin"})
    changed = refresh(con, berlin, clock)
    assert changed.full and changed.reason == "metric definitions changed"
