"""overlap, migration and migrant_activity against a brute-force reference computed here
from the raw rows: people on three platforms, some with two accounts on one platform,
accounts without a person key, and activity placed on and around the edges of the 30 days
before joining (to the microsecond, alone or in an hour that straddles the edge), in UTC
and in a timezone whose local days are not UTC days (Asia/Kolkata, +05:30)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from models_helpers import refresh, served

from etl.config import load_settings
from etl.load import assign_user_keys
from etl.warehouse import connect

UTC = ZoneInfo("UTC")
START = datetime(2024, 3, 1)
CLOCK = datetime(2026, 1, 1)
WINDOW = timedelta(days=30)
PLATFORMS = ("a", "b", "c")


@dataclass
class World:
    """Raw rows: signups (platform, user, ts, person or None), activity events."""

    zone: ZoneInfo
    signups: list[tuple[str, str, datetime, str | None]] = field(default_factory=list)
    events: list[tuple[str, str, datetime]] = field(default_factory=list)

    def local_day(self, ts: datetime) -> date:
        return ts.replace(tzinfo=UTC).astimezone(self.zone).date()

    def utc_start(self, day: date) -> datetime:
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return local.astimezone(UTC).replace(tzinfo=None)


def random_world(seed: int, zone: ZoneInfo) -> World:
    rng = random.Random(seed)
    world = World(zone)
    launches = {"a": START, "b": START + timedelta(days=20), "c": START + timedelta(days=45)}
    joined: dict[tuple[str, str], datetime] = {}  # (person, platform) -> a signup there
    for n in range(40):
        person = f"p{n}" if rng.random() < 0.85 else None
        for platform in rng.sample(PLATFORMS, rng.choice((1, 2, 2, 3))):
            for account in range(rng.choice((1, 1, 1, 2))):
                ts = launches[platform] + timedelta(seconds=rng.randrange(40 * 86_400))
                user = f"{platform}{n}x{account}"
                world.signups.append((platform, user, ts, person))
                if person is not None:
                    joined[(person, platform)] = ts
    accounts = defaultdict(list)
    for platform, user, _, person in world.signups:
        accounts[(person, platform)].append(user)
        for _ in range(rng.randrange(4)):  # ordinary activity after signing up
            ts = launches[platform] + timedelta(seconds=rng.randrange(80 * 86_400))
            world.events.append((platform, user, ts))
    # Activity on the edges of the 30 days before joining another platform.
    edges = (timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1))
    for (person, platform), ts in joined.items():
        for other in PLATFORMS:
            users = accounts.get((person, other))
            if other == platform or not users:
                continue
            user = rng.choice(users)
            start = ts - WINDOW + rng.choice(edges)
            end = ts + rng.choice(edges)
            kind = rng.randrange(4)
            if kind == 0:
                world.events.append((other, user, start))
            elif kind == 1:
                world.events.append((other, user, end))
            elif kind == 2:  # one hour straddling the window's start
                world.events.append((other, user, start - timedelta(minutes=10)))
                world.events.append((other, user, start + timedelta(minutes=10)))
    return world


def load(con: duckdb.DuckDBPyConnection, world: World) -> None:
    for platform, user, ts, person in world.signups:
        con.execute(
            "INSERT INTO signups (platform, user_id, signup_ts, person_id, file_id) "
            "VALUES (?, ?, ?, ?, 1)",
            [platform, user, ts, person],
        ).fetchall()
    for platform, user, ts in world.events:
        con.execute(
            "INSERT INTO events (platform, user_id, event_ts, event_type, dedupe_key, file_id) "
            "VALUES (?, ?, ?, 'post', hash(random()), 2)",
            [platform, user, ts],
        ).fetchall()
    assign_user_keys(con, 1)


@dataclass(frozen=True)
class Migrant:
    person: str
    from_platform: str
    platform: str
    joined: datetime
    recently_active: bool


class Reference:
    """The three tables' definitions (README, the SQL headers), applied row by row."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.first: dict[str, dict[str, datetime]] = defaultdict(dict)  # person -> platform
        self.users: dict[tuple[str, str], set[str]] = defaultdict(set)
        for platform, user, ts, person in world.signups:
            if person is not None:
                self.users[(person, platform)].add(user)
                earliest = self.first[person].get(platform)
                self.first[person][platform] = ts if earliest is None else min(earliest, ts)
        self.activity: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        for platform, user, ts in world.events:
            self.activity[(platform, user)].append(ts)

    def person_events(self, person: str, platform: str) -> list[datetime]:
        users = self.users[(person, platform)]
        return [ts for user in users for ts in self.activity[(platform, user)]]

    def overlap(self) -> list[dict[str, Any]]:
        out = []
        for a in PLATFORMS:
            for b in PLATFORMS:
                if a == b:
                    continue
                both = [f for f in self.first.values() if a in f and b in f]
                lags = sorted((f[b] - f[a]).total_seconds() for f in both if f[a] < f[b])
                out.append(
                    {
                        "platform": a,
                        "other_platform": b,
                        "people": len(both),
                        "first_on_platform": len(lags),
                        "first_on_other": sum(f[b] < f[a] for f in both),
                        "same_time": sum(f[a] == f[b] for f in both),
                        "lag_median_s": quantile(lags, 0.5),
                        "lag_p90_s": quantile(lags, 0.9),
                    }
                )
        return out

    def migrants(self) -> list[Migrant]:
        out = []
        for person, first in self.first.items():
            for b, joined in first.items():
                for a, from_signup in first.items():
                    if a == b:
                        continue
                    recent = any(
                        joined - WINDOW <= ts < joined for ts in self.person_events(person, a)
                    )
                    if from_signup < joined or recent:
                        out.append(Migrant(person, a, b, joined, recent))
        return out

    def migration(self) -> list[dict[str, Any]]:
        world, clock = self.world, self.clocks()
        signups: dict[tuple[str, date], int] = defaultdict(int)
        for platform, _, ts, _ in world.signups:
            signups[(platform, world.local_day(ts))] += 1
        moved: dict[tuple[str, str, date], list[Migrant]] = defaultdict(list)
        for m in self.migrants():
            moved[(m.platform, m.from_platform, world.local_day(m.joined))].append(m)
        out = []
        for b in PLATFORMS:
            for a in PLATFORMS:
                if a == b:
                    continue
                day = max(clock[b]["first_day"], clock[a]["first_day"])
                while day <= world.local_day(clock[b]["watermark"]):
                    count = signups[(b, day)]
                    group = moved[(b, a, day)]
                    recent = sum(m.recently_active for m in group)
                    out.append(
                        {
                            "platform": b,
                            "from_platform": a,
                            "day": day,
                            "signups": count,
                            "migrants": len(group),
                            "share": len(group) / count if count else None,
                            "recently_active": recent,
                            "recently_active_share": recent / count if count else None,
                            "complete": world.utc_start(day + timedelta(days=1))
                            <= clock[b]["watermark"],
                        }
                    )
                    day += timedelta(days=1)
        return out

    def clocks(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in PLATFORMS:
            signups = [ts for platform, _, ts, _ in self.world.signups if platform == p]
            events = [ts for platform, _, ts in self.world.events if platform == p]
            out[p] = {
                "t0": min(signups),
                "first_day": self.world.local_day(min(*signups, *events)),
                "first_event_day": self.world.local_day(min(events)),
                "watermark": max(*signups, *events),
            }
        return out

    def observable(self, platform: str, day: date) -> bool:
        c = self.clocks()[platform]
        ends = self.world.utc_start(day + timedelta(days=1))
        return (day >= c["first_event_day"] or ends <= c["t0"]) and ends <= c["watermark"]

    def active_days(self, person: str, platform: str) -> set[date]:
        return {self.world.local_day(ts) for ts in self.person_events(person, platform)}

    def migrant_activity(self) -> list[dict[str, Any]]:
        cells: dict[tuple[str, str, int], list[tuple[bool, bool]]] = {}
        for m in self.migrants():
            join_day = self.world.local_day(m.joined)
            on_from = self.active_days(m.person, m.from_platform)
            on_to = self.active_days(m.person, m.platform)
            for offset in range(-30, 31):
                day = join_day + timedelta(days=offset)
                cell = cells.setdefault((m.platform, m.from_platform, offset), [])
                if self.observable(m.from_platform, day) and self.observable(m.platform, day):
                    cell.append((day in on_from, day in on_to))
        return [activity_row(key, seen) for key, seen in cells.items()]


def activity_row(key: tuple[str, str, int], seen: list[tuple[bool, bool]]) -> dict[str, Any]:
    platform, from_platform, day = key
    row: dict[str, Any] = {"platform": platform, "from_platform": from_platform, "day": day}
    parts = {
        "from_only": sum(f and not t for f, t in seen),
        "to_only": sum(t and not f for f, t in seen),
        "both": sum(f and t for f, t in seen),
        "neither": sum(not f and not t for f, t in seen),
    }
    row["migrants"] = len(seen)
    for name, count in parts.items():
        row[name] = count if seen else None
        row[f"share_{name}"] = count / len(seen) if seen else None
    return row


def quantile(values: list[float], q: float) -> float | None:
    """quantile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def keyed(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in rows}


def assert_rows_equal(got: list[dict[str, Any]], want: list[dict[str, Any]], *keys: str) -> None:
    got_by, want_by = keyed(got, *keys), keyed(want, *keys)
    assert sorted(got_by) == sorted(want_by)
    for key, expected in want_by.items():
        row = got_by[key]
        for column, value in expected.items():
            if isinstance(value, float):
                assert row[column] == pytest.approx(value, rel=1e-9), (key, column)
            else:
                assert row[column] == value, (key, column)


@pytest.mark.parametrize(
    ("seed", "timezone"), [(1, "UTC"), (2, "Asia/Kolkata"), (3, "UTC"), (4, "Asia/Kolkata")]
)
def test_migration_tables_match_a_brute_force_reference(
    tmp_path: Path, seed: int, timezone: str
) -> None:
    world = random_world(seed, ZoneInfo(timezone))
    settings = load_settings(tmp_path, env={}, overrides={"timezone": timezone})
    con = connect(settings)
    try:
        load(con, world)
        refresh(con, settings, CLOCK)
        reference = Reference(world)
        migrants = reference.migrants()
        # The fixture has what each rule needs: migrants either way, recent activity
        # inside and just outside the window.
        assert any(m.recently_active for m in migrants)
        assert any(not m.recently_active for m in migrants)
        assert_rows_equal(served(con, "overlap"), reference.overlap(), "platform", "other_platform")
        assert_rows_equal(
            served(con, "migration"), reference.migration(), "platform", "from_platform", "day"
        )
        assert_rows_equal(
            served(con, "migrant_activity"),
            reference.migrant_activity(),
            "platform",
            "from_platform",
            "day",
        )
    finally:
        con.close()
