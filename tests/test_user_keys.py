"""The user dictionary (migration 006): every stored signup and event carries the dense
integer key of its user, assigned once at ingest; keys are unique per (platform, user),
never change while the user exists, and an existing warehouse gets them by migration."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import Settings, load_settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.refresh import refresh_models
from etl.warehouse import connect, migrate, migrations

UNKEYED = (
    "SELECT (SELECT count(*) FROM signups WHERE ukey IS NULL)"
    " + (SELECT count(*) FROM events WHERE ukey IS NULL)"
)
# Signups whose key is not their user's dictionary key (an event's user is its key: the
# test compares events_with_ids with the input instead).
MISKEYED = """
    SELECT count(*) FROM signups AS r
    ANTI JOIN user_keys AS k USING (platform, user_id, ukey)
"""
# Events that still store their user's id (it lives in the dictionary once keyed).
IDS_STORED = "SELECT count(*) FROM events WHERE user_id IS NOT NULL"


def write(folder: Path, name: str, table: pa.Table) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(table, path)
    return path


def signups(platform: str, users: list[str], day: int) -> pa.Table:
    return pa.table(
        {
            "platform": [platform] * len(users),
            "user_id": users,
            "signup_ts": [datetime(2024, 1, day, 10)] * len(users),
        }
    )


def events(platform: str, users: list[str], day: int) -> pa.Table:
    return pa.table(
        {
            "platform": [platform] * len(users),
            "user_id": users,
            "event_ts": [datetime(2024, 1, day, 12, i % 60) for i in range(len(users))],
            "event_type": ["post"] * len(users),
        }
    )


def ingest(settings: Settings, paths: list[Path], clock: datetime) -> None:
    ingest_and_publish(settings, paths, IngestOptions(), now=clock)


def dictionary(settings: Settings) -> dict[tuple[str, str], int]:
    con = connect(settings, read_only=True)
    try:
        rows = con.execute("SELECT platform, user_id, ukey FROM user_keys").fetchall()
        assert not con.execute(UNKEYED).fetchall()[0][0]
        assert not con.execute(MISKEYED).fetchall()[0][0]
        assert not con.execute(IDS_STORED).fetchall()[0][0]
        return {(str(p), str(u)): int(k) for p, u, k in rows}
    finally:
        con.close()


def test_keys_are_unique_per_user_and_stable_across_runs(
    settings: Settings, tmp_path: Path, clock: datetime
) -> None:
    first = [
        write(tmp_path / "a", "s.parquet", signups("a", ["u1", "u2", "u3"], 1)),
        write(tmp_path / "a", "e.parquet", events("a", ["u1", "u1", "u4"], 2)),
        # the same user id on another platform is another user
        write(tmp_path / "a", "b.parquet", signups("b", ["u1"], 1)),
    ]
    ingest(settings, first, clock)
    before = dictionary(settings)
    assert set(before) == {("a", "u1"), ("a", "u2"), ("a", "u3"), ("a", "u4"), ("b", "u1")}
    assert len(set(before.values())) == len(before)

    later = [
        write(tmp_path / "b", "e.parquet", events("a", ["u2", "u5", "u5"], 3)),
        write(tmp_path / "b", "s.parquet", signups("b", ["u9"], 3)),
    ]
    ingest(settings, later, clock)
    after = dictionary(settings)
    assert {k: after[k] for k in before} == before  # nobody's key moved
    assert set(after) - set(before) == {("a", "u5"), ("b", "u9")}

    # a small run beside a large dictionary keys its rows from its own users' entries
    many = [f"m{i}" for i in range(50)]
    ingest(settings, [write(tmp_path / "c", "s.parquet", signups("a", many, 4))], clock)
    ingest(settings, [write(tmp_path / "d", "e.parquet", events("a", ["m7", "u1"], 5))], clock)
    final = dictionary(settings)
    assert len(final) == len(after) + 50 and len(set(final.values())) == len(final)
    assert len(set(after.values())) == len(after)
    assert min(after[k] for k in set(after) - set(before)) > max(before.values())
    # every event reads back with its own user's id, from the dictionary
    con = connect(settings, read_only=True)
    stored = con.execute(
        "SELECT platform, user_id, count(*) FROM events_with_ids GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    con.close()
    assert stored == [
        ("a", "m7", 1),
        ("a", "u1", 3),
        ("a", "u2", 1),
        ("a", "u4", 1),
        ("a", "u5", 2),
    ]


def test_migration_keys_an_existing_warehouse(tmp_path: Path) -> None:
    """A warehouse at schema version 5 (user ids only) moves to keyed rows on open."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR)")
    for version, name, sql in migrations():
        if version <= 5:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, name])
    con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, file_id) VALUES"
        " ('a', 'x', TIMESTAMP '2024-01-01', 1), ('b', 'x', TIMESTAMP '2024-01-01', 1)"
    )
    con.execute(
        "INSERT INTO events (platform, user_id, event_ts, event_type, dedupe_key, file_id)"
        " VALUES ('a', 'x', TIMESTAMP '2024-01-02', 'post', 1, 2),"
        " ('a', 'y', TIMESTAMP '2024-01-02', 'post', 2, 2)"
    )
    con.close()

    con = duckdb.connect(str(path))
    migrate(con)
    keys = dict(
        ((str(p), str(u)), int(k))
        for p, u, k in con.execute("SELECT platform, user_id, ukey FROM user_keys").fetchall()
    )
    assert set(keys) == {("a", "x"), ("b", "x"), ("a", "y")}
    assert sorted(keys.values()) == [1, 2, 3]
    assert not con.execute(UNKEYED).fetchall()[0][0]
    assert not con.execute(MISKEYED).fetchall()[0][0]
    assert not con.execute(IDS_STORED).fetchall()[0][0]
    events = con.execute("SELECT platform, user_id, ukey FROM events_with_ids ORDER BY 2")
    assert events.fetchall() == [("a", "x", keys[("a", "x")]), ("a", "y", keys[("a", "y")])]
    # the models rebuild from the keyed rows
    con.execute("BEGIN TRANSACTION")
    refresh_models(con, load_settings(tmp_path, env={}), datetime(2024, 2, 1))
    con.execute("COMMIT")
    dau = con.execute("SELECT platform, day, dau FROM m_active WHERE dau > 0").fetchall()
    assert dau == [("a", date(2024, 1, 2), 2)]
    con.close()
