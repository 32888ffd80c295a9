"""Invariants of ingestion: N batches equal one batch, a killed run leaves nothing behind,
one writer at a time, and real Stack Exchange dumps load with every row accounted for."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import etl.ingest
from etl.config import Settings, load_settings
from etl.errors import LockedError
from etl.ingest import IngestOptions
from etl.pipeline import ingest_only
from etl.warehouse import connect, writer_lock

RAW_TABLES = {
    "signups": "platform, user_id, signup_ts, channel",
    "events_with_ids": "platform, user_id, event_ts, event_type, event_id",
    "deletions": "platform, user_id, deleted_ts",
}


def snapshot_of_tables(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    con = connect(settings, read_only=True)
    try:
        return {
            table: con.execute(f"SELECT {cols} FROM {table} ORDER BY ALL").fetchall()
            for table, cols in RAW_TABLES.items()
        }
    finally:
        con.close()


def ingest(settings: Settings, paths: list[Path], clock: datetime) -> None:
    ingest_only(settings, paths, IngestOptions(), now=clock)


def make_rows(seed: int, n: int) -> tuple[pa.Table, pa.Table]:
    """Signups and events with repeats, late rows and deletions, from a seed."""
    import random

    rnd = random.Random(seed)
    base = datetime(2024, 1, 1)
    signups = {
        "platform": [],
        "user_id": [],
        "signup_ts": [],
        "channel": [],
    }  # type: dict[str, list[object]]
    for _ in range(n):
        signups["platform"].append(rnd.choice(["a", "b"]))
        signups["user_id"].append(f"u{rnd.randrange(n // 2 + 1)}")
        signups["signup_ts"].append(base + timedelta(minutes=rnd.randrange(5000)))
        signups["channel"].append(rnd.choice(["organic", "ads"]))
    events = {"platform": [], "user_id": [], "event_ts": [], "event_type": [], "event_id": []}  # type: dict[str, list[object]]
    for i in range(n * 3):
        events["platform"].append(rnd.choice(["a", "b"]))
        events["user_id"].append(f"u{rnd.randrange(n // 2 + 1)}")
        events["event_ts"].append(base + timedelta(minutes=rnd.randrange(5000)))
        events["event_type"].append(rnd.choice(["post", "like", "account_deleted"]))
        # Half the events carry an id (with repeats), half rely on the natural key.
        events["event_id"].append(f"e{rnd.randrange(n)}" if i % 2 else None)
    return pa.table(signups), pa.table(events)


def write_batches(table: pa.Table, folder: Path, name: str, cuts: list[int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, *sorted(c % (table.num_rows + 1) for c in cuts), table.num_rows]
    paths = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        path = folder / f"{name}-{i:03d}.parquet"
        pq.write_table(table.slice(lo, hi - lo), path)
        paths.append(path)
    return paths


@hsettings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(0, 10_000), min_size=1, max_size=4),
)
def test_n_batches_equal_one_batch(tmp_path: Path, clock: datetime, seed: int, cuts: list[int]):
    signups, events = make_rows(seed, 60)
    run = tmp_path / f"case-{seed}-{'-'.join(map(str, cuts))}"
    one = load_settings(run / "one", env={})
    many = load_settings(run / "many", env={})
    batched = load_settings(run / "batched", env={})
    chunked = load_settings(run / "chunked", env={})
    ingest(
        one,
        write_batches(signups, run / "in1", "s", []) + write_batches(events, run / "in1", "e", []),
        clock,
    )
    batches = write_batches(signups, run / "inN", "s", cuts) + write_batches(
        events, run / "inN", "e", cuts
    )
    for path in batches:
        ingest(many, [path], clock)  # one run per batch
    ingest(batched, batches, clock)  # every batch in one run
    with mock.patch.object(etl.ingest, "LOAD_CHUNK_FILES", 2):
        ingest(chunked, batches, clock)  # one run, loaded two files at a time
    assert snapshot_of_tables(one) == snapshot_of_tables(many) == snapshot_of_tables(batched)
    assert snapshot_of_tables(chunked) == snapshot_of_tables(batched)
    # Within a run, repeats across files are resolved once for the run; each file's counts
    # are still those of loading the files one after another.
    assert file_counts(many) == file_counts(batched) == file_counts(chunked)


def file_counts(settings: Settings) -> dict[str, tuple[object, ...]]:
    con = connect(settings, read_only=True)
    try:
        rows = con.execute(
            "SELECT path, rows_read, rows_loaded, rows_duplicate, rows_quarantined FROM files"
        ).fetchall()
    finally:
        con.close()
    return {Path(str(r[0])).name: tuple(r[1:]) for r in rows}


def test_running_twice_equals_running_once(tmp_path: Path, clock: datetime):
    signups, events = make_rows(7, 80)
    paths = write_batches(signups, tmp_path / "in", "s", [30]) + write_batches(
        events, tmp_path / "in", "e", [100]
    )
    once = load_settings(tmp_path / "once", env={})
    twice = load_settings(tmp_path / "twice", env={})
    ingest(once, paths, clock)
    ingest(twice, paths, clock)
    ingest(twice, paths, clock)
    assert snapshot_of_tables(once) == snapshot_of_tables(twice)


def test_second_writer_gets_locked_error(settings: Settings):
    with writer_lock(settings), pytest.raises(LockedError, match="another Uptake run"):  # noqa: SIM117
        with writer_lock(settings):
            pass


def test_cli_exits_3_when_locked(settings: Settings, tmp_path: Path):
    (tmp_path / "a.csv").write_text("platform,user_id,signup_ts\np,u,2024-01-01\n")
    with writer_lock(settings):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "etl.cli",
                "--home",
                str(settings.home),
                "ingest",
                str(tmp_path / "a.csv"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 3
    assert "another Uptake run holds" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


KILL_SCRIPT = """
import sys
from datetime import datetime
from pathlib import Path
from etl.config import load_settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_only
settings = load_settings(sys.argv[1], env={})
ingest_only(settings, [Path(sys.argv[2])], IngestOptions(), now=datetime(2026, 11, 1))
"""


def test_kill_9_mid_ingest_then_rerun_equals_clean_run(tmp_path: Path, clock: datetime):
    n = 400_000
    events = pa.table(
        {
            "platform": ["p"] * n,
            "user_id": [f"u{i % 5000}" for i in range(n)],
            "event_ts": pa.array(
                [1_704_067_200_000_000 + i * 1_000_000 for i in range(n)], pa.timestamp("us")
            ),
            "event_type": ["post"] * n,
            "event_id": [f"e{i}" for i in range(n)],
        }
    )
    inbox = tmp_path / "in"
    write_batches(events, inbox, "e", [n // 4, n // 2, 3 * n // 4])
    clean = load_settings(tmp_path / "clean", env={})
    killed = load_settings(tmp_path / "killed", env={})
    ingest(clean, [inbox], clock)
    script = tmp_path / "kill_me.py"
    script.write_text(KILL_SCRIPT)
    kills = 0
    for delay in (0.05, 0.3):
        proc = subprocess.Popen([sys.executable, str(script), str(killed.home), str(inbox)])
        # Kill once the run holds the lock and is loading (the warehouse file exists).
        while proc.poll() is None and not killed.warehouse_path.exists():
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        kills += proc.wait() == -signal.SIGKILL
    assert kills >= 1, "the run finished before it could be killed; use more rows"
    ingest(killed, [inbox], clock)
    assert snapshot_of_tables(killed) == snapshot_of_tables(clean)
    con = connect(killed, read_only=True)
    loaded = con.execute("SELECT count(*) FROM files WHERE outcome = 'loaded'").fetchall()
    con.close()
    assert loaded == [(4,)]


def _xml_rows(path: Path) -> list[dict[str, str]]:
    return [dict(e.attrib) for e in ET.parse(path).getroot().iter("row")]


@pytest.mark.parametrize("site", ["stackexchange-cardano", "stackexchange-conlang"])
def test_stack_exchange_dump_loads_every_row(
    settings: Settings, growth_data: Path, clock: datetime, site: str
):
    dump = growth_data / site
    users = _xml_rows(dump / "Users.xml")
    people = [u for u in users if u["Id"] != "-1"]
    activity = (
        [r.get("OwnerUserId") for r in _xml_rows(dump / "Posts.xml")]
        + [r.get("UserId") for r in _xml_rows(dump / "Comments.xml")]
        + [r.get("UserId") for r in _xml_rows(dump / "Badges.xml")]
    )
    result = ingest_only(
        settings,
        [dump],
        IngestOptions(adapter="stackexchange", platform=site),
        now=clock,
    )
    assert result.total("rows_read") == len(users) + len(activity)
    con = connect(settings, read_only=True)
    try:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM signups), (SELECT count(*) FROM events), "
            "(SELECT count(*) FROM quarantine), (SELECT min(signup_ts) FROM signups)"
        ).fetchall()[0]
    finally:
        con.close()
    with_user = [u for u in activity if u]
    first = min(datetime.fromisoformat(u["CreationDate"]) for u in people)
    assert counts == (len(people), len(with_user), len(activity) - len(with_user) + 1, first)
