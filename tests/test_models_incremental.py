"""Incremental refresh equals a full rebuild, whatever the batch split (late events and
late signups included); identities hold on random data."""

from __future__ import annotations

import itertools
import random
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from models_helpers import add_events, add_signups, refresh, served, snapshot_of_models

import etl.refresh
from etl.config import load_settings
from etl.warehouse import connect

START = datetime(2024, 10, 20)  # spans the Europe/Berlin fall-back of 2024-10-27
CLOCK = datetime(2026, 11, 1, 12)

row = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(0, 7),  # user
    st.integers(0, 60 * 24 * 12),  # minutes after START
    st.integers(0, 3),  # batch
)


def _ts(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat(sep=" ")


@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    signups=st.lists(row, min_size=1, max_size=12, unique_by=lambda r: (r[0], r[1])),
    events=st.lists(row, max_size=30),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
)
def test_incremental_equals_full_rebuild(
    signups: list[tuple[str, int, int, int]],
    events: list[tuple[str, int, int, int]],
    timezone: str,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            Path(folder), env={}, overrides={"timezone": timezone, "milestones": "2,4,8"}
        )
        con = connect(settings)
        # The batches' user-days are grouped a few events at a time (spans of local days)
        # and their hour counts a few users at a time (parts), the full rebuild's in one
        # span and one part: the tables agree.
        with (
            mock.patch.object(etl.refresh, "DAY_SPAN_EVENTS", 3),
            mock.patch.object(etl.refresh, "HOUR_PART_SIGNUPS", 2),
        ):
            for batch in range(4):
                file_id = 2 * batch + 1
                add_signups(con, [(p, f"u{u}", _ts(m)) for p, u, m, b in signups if b == batch],
                            file_id)  # fmt: skip
                add_events(con, [(p, f"u{u}", _ts(m)) for p, u, m, b in events if b == batch],
                           file_id + 1)  # fmt: skip
                refresh(con, settings, CLOCK)
        incremental = snapshot_of_models(con)
        result = refresh(con, settings, CLOCK, full=True)
        assert result.full
        assert snapshot_of_models(con) == incremental
        con.close()


def _random_warehouse(home: Path, timezone: str, week_start: str = "monday"):  # type: ignore[no-untyped-def]
    settings = load_settings(home, env={}, overrides={"timezone": timezone,
                                                      "week_start": week_start})  # fmt: skip
    con = connect(settings)
    rng = random.Random(7)
    users = [f"u{i}" for i in range(60)]
    signups = [("a", u, _ts(rng.randrange(0, 60 * 24 * 20))) for u in users]
    events = [("a", rng.choice(users), _ts(rng.randrange(0, 60 * 24 * 45))) for _ in range(900)]
    add_signups(con, signups, 1)
    add_events(con, events, 2)
    refresh(con, settings, CLOCK)
    return con, events


def test_lifecycle_identities(home: Path) -> None:
    con, _ = _random_warehouse(home, "Europe/Berlin")
    for grain in ("day", "week"):
        rows = [r for r in served(con, "lifecycle") if r["grain"] == grain]
        for before, now in itertools.pairwise(rows):
            assert now["active"] == now["new"] + now["returning"] + now["resurrected"]
            assert now["returning"] == before["active"] + now["dormant"]  # dormant negative
            assert now["dormant"] <= 0


def test_active_matches_brute_force_and_bounds(home: Path) -> None:
    con, events = _random_warehouse(home, "Europe/Berlin")
    from zoneinfo import ZoneInfo

    berlin, utc = ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")
    days: dict[object, set[str]] = defaultdict(set)
    for _, user, ts in events:
        local = datetime.fromisoformat(ts).replace(tzinfo=utc).astimezone(berlin).date()
        days[local].add(user)
    for r in served(con, "active"):
        window = [r["day"] - timedelta(days=k) for k in range(30)]
        assert r["dau"] == len(days[r["day"]])
        assert r["wau"] == len(set().union(*(days[d] for d in window[:7])))
        assert r["mau"] == len(set().union(*(days[d] for d in window)))
        week_dau = [len(days[d]) for d in window[:7]]
        assert max(week_dau) <= r["wau"] <= sum(week_dau)


def test_on_or_after_retention_is_non_increasing(home: Path) -> None:
    con, _ = _random_warehouse(home, "UTC")
    cohorts: dict[tuple[str, datetime], list[dict[str, object]]] = defaultdict(list)
    for r in served(con, "retention"):
        cohorts[(r["cohort_grain"], r["cohort_start"])].append(r)
    assert cohorts
    for cells in cohorts.values():
        seen = [c["retained_or_after"] for c in cells if c["observable"]]
        assert seen == sorted(seen, reverse=True)  # type: ignore[type-var]
        for c in cells:
            if c["observable"]:
                assert c["retained"] <= c["retained_or_after"] <= c["cohort_size"]  # type: ignore[operator]
            else:
                assert c["retained"] is None and c["retained_or_after"] is None


def test_day_spans_hold_at_most_the_limit_and_cover_every_day() -> None:
    days: list[tuple[datetime | None, int]] = [(None, 2)]  # events before the first midnight
    days += [(datetime(2024, 1, d), n) for d, n in ((1, 3), (2, 4), (4, 9), (5, 1), (6, 1))]
    spans = list(etl.refresh.day_spans(days, 6))
    assert spans == [
        (etl.refresh.EARLIEST, datetime(2024, 1, 2)),
        (datetime(2024, 1, 2), datetime(2024, 1, 4)),
        (datetime(2024, 1, 4), datetime(2024, 1, 5)),  # one day above the limit: alone
        (datetime(2024, 1, 5), etl.refresh.LATEST),
    ]
    assert list(etl.refresh.day_spans([(datetime(2024, 1, 1), 9)], 6)) == [
        (etl.refresh.EARLIEST, etl.refresh.LATEST)
    ]
    assert list(etl.refresh.day_spans([], 6)) == []
