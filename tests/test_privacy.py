"""Privacy: keyed pseudonyms, erasure with tombstones, raw-event retention, small
cell suppression on exports, and the dashboard's token when it binds beyond loopback."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import Settings, load_settings
from etl.errors import ConfigError
from etl.forget import forget_users
from etl.pipeline import run_pass
from etl.privacy import compact_raw_events  # noqa: F401 - documents the API under test
from etl.snapshot import current_snapshot, read_table
from etl.status import warehouse_status

KEY = "k" * 8 + "-test-key-0123456789"
OTHER_KEY = "o" * 8 + "-other-key-0123456789"
T0 = datetime(2026, 10, 1)
SECRET_ID = "alice-raw-00042"
ERASED = "zed-raw-00777"
MODEL_TABLES = ("platforms", "signups", "milestones", "active", "retention", "lifecycle")


@pytest.fixture(autouse=True)
def no_growth_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Growth-model fits take seconds and say nothing about privacy: published empty."""
    import etl.pipeline

    monkeypatch.setattr(etl.pipeline, "_fit_tables", lambda *_: {})


def home_settings(root: Path, name: str, key: str | None = None) -> Settings:
    env = {"UPTAKE_PSEUDONYM_KEY": key} if key else {}
    return replace(load_settings(root / name, env=env), settle_seconds=0.0)


def people(extra: tuple[str, ...] = ()) -> list[str]:
    return [f"user-{i:03d}" for i in range(24)] + list(extra)


def write_inbox(settings: Settings, users: list[str], tag: str = "1") -> None:
    """Signups over two days, daily activity for three weeks, one far-future (quarantined)
    event per user; Parquet signups and CSV events."""
    settings.inbox.mkdir(parents=True, exist_ok=True)
    signups = {
        "platform": ["p"] * len(users),
        "user_id": users,
        "signup_ts": [T0 + timedelta(hours=3 * i) for i in range(len(users))],
        "person_id": [f"person-{u}" for u in users],
    }
    pq.write_table(pa.table(signups), settings.inbox / f"signups-{tag}.parquet")
    lines = ["platform,user_id,event_ts,event_type"]
    for i, user in enumerate(users):
        for day in range(0, 21, 1 + i % 3):
            stamp = T0 + timedelta(days=day, hours=7 + i % 5, minutes=i)
            lines.append(f"p,{user},{stamp:%Y-%m-%d %H:%M:%S},post")
            for minute in (1, 2):
                lines.append(f"p,{user},{stamp + timedelta(minutes=minute):%Y-%m-%d %H:%M:%S},post")
            lines.append(f"p,{user},{stamp + timedelta(minutes=20):%Y-%m-%d %H:%M:%S},like")
        lines.append(f"p,{user},2031-01-01 00:00:00,post")  # future: quarantined
    (settings.inbox / f"events-{tag}.csv").write_text("\n".join(lines) + "\n")


def model_tables(settings: Settings) -> dict[str, list[dict[str, object]]]:
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    return {name: sorted(read_table(snapshot, name).to_pylist(), key=repr) for name in MODEL_TABLES}


def query(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_pseudonyms_are_keyed_stable_and_leave_no_raw_id(tmp_path: Path, clock: datetime) -> None:
    keyed = home_settings(tmp_path, "keyed", KEY)
    write_inbox(keyed, people((SECRET_ID,)))
    run_pass(keyed, clock)
    expected = hmac.new(KEY.encode(), SECRET_ID.encode(), hashlib.sha256).hexdigest()
    stored = {u for (u,) in query(keyed, "SELECT user_id FROM signups")}
    assert expected in stored and SECRET_ID not in stored
    person = hmac.new(KEY.encode(), f"person-{SECRET_ID}".encode(), hashlib.sha256).hexdigest()
    assert query(keyed, f"SELECT person_id FROM signups WHERE user_id = '{expected}'") == [
        (person,)
    ]
    # A second run with the same key: the same user gets the same pseudonym.
    write_inbox(keyed, [SECRET_ID], tag="2")
    run_pass(keyed, clock)
    assert {u for (u,) in query(keyed, "SELECT DISTINCT user_id FROM events_with_ids")} <= stored
    quarantined = query(keyed, "SELECT raw FROM quarantine")
    assert quarantined and all(SECRET_ID not in str(r) for (r,) in quarantined)
    assert any(expected in str(r) for (r,) in quarantined)
    con = duckdb.connect(str(keyed.warehouse_path))
    con.execute("CHECKPOINT")
    con.close()
    data = keyed.warehouse_path.read_bytes()
    assert SECRET_ID.encode() not in data and KEY.encode() not in data
    assert warehouse_status(keyed, clock)["privacy"]["pseudonymisation"] == "on"
    # Another key gives other pseudonyms, and is refused by this warehouse.
    other = home_settings(tmp_path, "other", OTHER_KEY)
    write_inbox(other, [SECRET_ID])
    run_pass(other, clock)
    assert not stored & {u for (u,) in query(other, "SELECT user_id FROM signups")}
    write_inbox(keyed, [SECRET_ID], tag="3")
    with pytest.raises(ConfigError, match="fingerprint"):
        run_pass(replace(keyed, pseudonym_key=OTHER_KEY), clock)
    with pytest.raises(ConfigError, match="UPTAKE_PSEUDONYM_KEY"):
        run_pass(replace(keyed, pseudonym_key=None), clock)


def test_a_plain_warehouse_refuses_a_key(tmp_path: Path, clock: datetime) -> None:
    plain = home_settings(tmp_path, "plain")
    write_inbox(plain, people())
    run_pass(plain, clock)
    assert warehouse_status(plain, clock)["privacy"]["pseudonymisation"] == "off"
    write_inbox(plain, [SECRET_ID], tag="2")
    with pytest.raises(ConfigError, match="raw"):
        run_pass(replace(plain, pseudonym_key=KEY), clock)


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "pseudonymised"])
def test_forget_erases_every_trace_and_restates(
    tmp_path: Path, clock: datetime, key: str | None
) -> None:
    full = home_settings(tmp_path, "full", key)
    write_inbox(full, people((ERASED,)))
    originals = tmp_path / "originals"
    shutil.copytree(full.inbox, originals)
    run_pass(full, clock)
    clean = home_settings(tmp_path, "clean", key)
    write_inbox(clean, people())
    run_pass(clean, clock)

    stored = hmac.new(KEY.encode(), ERASED.encode(), hashlib.sha256).hexdigest() if key else ERASED
    [(erased_key,)] = query(full, f"SELECT ukey FROM user_keys WHERE user_id = '{stored}'")
    assert query(full, f"SELECT count(*) FROM user_days WHERE uid = {erased_key}")[0][0] > 0
    summary = forget_users(full, "p", [ERASED], clock).summary()
    assert summary["removed"]["signups"] == 1 and summary["removed"]["events"] > 0
    assert summary["removed"]["quarantine"] == 1 and summary["archived_files"] == 2
    for table in ("signups", "events_with_ids", "deletions", "user_keys"):
        assert not query(full, f"SELECT * FROM {table} WHERE user_id = '{stored}'"), table
    # events (their ids are in the dictionary) and user_days are keyed by the user's key
    assert not query(full, f"SELECT * FROM events WHERE ukey = {erased_key}")
    assert not query(full, f"SELECT * FROM user_days WHERE uid = {erased_key}")
    assert not query(full, f"SELECT * FROM quarantine WHERE contains(raw, '{stored}')")
    for path in full.archive.rglob("*"):
        if path.is_file():
            assert ERASED.encode() not in path.read_bytes(), path
    assert query(full, "SELECT users, signups FROM erasures") == [(1, 1)]
    assert model_tables(full) == model_tables(clean)

    # The pre-erasure copy again: its new rows are duplicates, the user's are kept out.
    shutil.copytree(originals, full.inbox, dirs_exist_ok=True)
    result = run_pass(full, clock)
    assert result.total("rows_read") == sum(
        f.rows_loaded + f.rows_duplicate + f.rows_quarantined for f in result.files
    )
    erased = query(full, "SELECT count(*), count(raw) FROM quarantine WHERE reason = 'erased_user'")
    assert erased[0][0] > 0 and erased[0][1] == 0
    assert not query(full, f"SELECT * FROM signups WHERE user_id = '{stored}'")
    assert model_tables(full) == model_tables(clean)
    assert warehouse_status(full, clock)["privacy"]["tombstones"] == 1


def test_keep_raw_days_keeps_metrics_and_full_rebuilds(tmp_path: Path, clock: datetime) -> None:
    now = T0 + timedelta(days=25)
    kept = home_settings(tmp_path, "kept")
    compacted = replace(home_settings(tmp_path, "compacted"), keep_raw_days=7)
    for settings in (kept, compacted):
        write_inbox(settings, people())
        run_pass(settings, now)
    before = query(kept, "SELECT count(*) FROM events")[0][0]
    after = query(compacted, "SELECT count(*) FROM events")[0][0]
    assert after < before
    assert query(compacted, "SELECT sum(events_removed) FROM raw_retention") == [(before - after,)]
    assert model_tables(compacted) == model_tables(kept)
    # A full rebuild (here: forgetting a user) reads the compacted events: still exact.
    for settings in (kept, compacted):
        forget_users(settings, "p", ["user-003"], now)
    assert model_tables(compacted) == model_tables(kept)
    # A later, incremental pass on top of compacted history stays exact too.
    for settings in (kept, compacted):
        write_inbox(settings, ["late-user"], tag="late")
        run_pass(settings, now + timedelta(days=1))
    assert model_tables(compacted) == model_tables(kept)


def test_exports_hide_small_cells_and_say_so(tmp_path: Path, clock: datetime) -> None:
    from dashboard.export import chart_csv, chart_inputs, view_for

    settings = home_settings(tmp_path, "small")
    write_inbox(settings, people())
    run_pass(settings, clock)
    plain = chart_inputs(settings)
    hidden = chart_inputs(settings, suppress_below=10)
    shown = chart_csv(plain, "retention-curves", view_for(plain))
    csv = chart_csv(hidden, "retention-curves", view_for(hidden))
    assert "cells under 10 users hidden" in csv and "hidden" not in shown
    retention = hidden.table("retention")
    assert retention["cohort_size"].min() >= 10  # small cohorts are left out
    assert all(v is None or v >= 10 for v in retention["retained"].to_list())
    signups = hidden.table("signups")
    assert all(not 0 < v < 10 for v in signups["signups"].to_list())
    assert len(signups) < len(plain.table("signups"))


def test_serve_needs_a_token_beyond_loopback(tmp_path: Path, clock: datetime) -> None:
    from dashboard.server import TOKEN_COOKIE, build_server, check_bind
    from etl.errors import UsageError

    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(UsageError, match="UPTAKE_TOKEN"):
            check_bind(host, None)
    token = "t" * 24
    check_bind("0.0.0.0", token)
    settings = home_settings(tmp_path, "served")
    write_inbox(settings, people())
    run_pass(settings, clock)
    client = build_server(settings, token).test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    redirected = client.get(f"/?token={token}")
    assert redirected.status_code == 303 and "token" not in redirected.headers["Location"]
    assert client.get_cookie(TOKEN_COOKIE) is not None
    assert client.get("/").status_code == 200  # the cookie carries it now
    open_client = build_server(settings, None).test_client()
    assert open_client.get("/").status_code == 200


def test_forget_and_serve_through_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "--home", str(home), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in __import__("os").environ.items() if k != "UPTAKE_TOKEN"},
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "UPTAKE_TOKEN" in done.stderr


def test_forget_rewrites_the_spark_engines_local_lake(tmp_path: Path) -> None:
    """HOME/lake (what `uptake run --engine spark` writes) holds raw rows too: erasure
    writes it again from the warehouse, without the user and with everyone else."""
    from etl.spark.lake import export_lake
    from etl.warehouse import open_for_writing

    settings = home_settings(tmp_path, "lake")
    write_inbox(settings, people((ERASED,)))
    clock = T0 + timedelta(days=30)
    run_pass(settings, clock)
    lake = settings.home / "lake"
    with open_for_writing(settings) as con:
        export_lake(con, lake)

    def lake_users() -> set[str]:
        streams = [f"{lake}/{stream}/**/*.parquet" for stream in ("signups", "events")]
        rows = duckdb.sql(
            f"SELECT DISTINCT user_id FROM read_parquet({streams}, union_by_name=true)"
        ).fetchall()
        return {str(r[0]) for r in rows}

    assert ERASED in lake_users()
    summary = forget_users(settings, "p", [ERASED], clock).summary()
    assert summary["lake_rewritten"] and "lake rewritten" in summary["line"]
    assert lake_users() == set(people())
