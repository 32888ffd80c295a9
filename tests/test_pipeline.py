"""Whole passes: inbox -> warehouse -> models -> fits -> snapshot, through the real CLI where
it matters; late data restated exactly; Stack Exchange acceptance against the raw XML."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import Settings, load_settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.snapshot import CONTRACT_TABLES, current_snapshot, read_table


def uptake(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_simulate_run_status_forecast_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for preset in ("viral", "steady"):
        done = uptake(home, "simulate", "--preset", preset, "--scale", "0.002", "--quiet")
        assert done.returncode == 0, done.stderr
    (home / "uptake.toml").write_text('settle_seconds = "0s"\n')
    run = uptake(home, "run", "--json", "--report", str(tmp_path / "report.html"))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    report = (tmp_path / "report.html").read_text()
    assert "Launch race" in report and "Retention" in report
    assert summary["rows_read"] == summary["rows_loaded"] > 0
    assert not list((home / "inbox").rglob("*.parquet"))  # all archived
    snapshot = current_snapshot(load_settings(home, env={}))
    assert snapshot is not None
    assert set(CONTRACT_TABLES) <= {p.stem for p in snapshot.path.glob("*.parquet")}
    assert snapshot.manifest["run_id"] == summary["run_id"]
    platforms = read_table(snapshot, "platforms").to_pylist()
    assert {p["platform"] for p in platforms} == {"viral", "steady"}
    assert read_table(snapshot, "fits").num_rows > 0
    again = uptake(home, "run", "--json")
    assert json.loads(again.stdout)["status"] == "noop"
    status = uptake(home, "status", "--json")
    assert json.loads(status.stdout)["runs"][0]["status"] == "noop"
    forecast = uptake(home, "forecast", "--platform", "viral")
    assert forecast.returncode == 0 and "viral" in forecast.stdout


def test_bad_setting_is_exit_2_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "uptake.toml").write_text('week_start = "caturday"\n')
    done = uptake(home, "status")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "week_start='caturday'" in done.stderr and "monday" in done.stderr


def _signups(rows: list[tuple[str, datetime]]) -> pa.Table:
    return pa.table(
        {
            "platform": ["p"] * len(rows),
            "user_id": [u for u, _ in rows],
            "signup_ts": [t for _, t in rows],
        }
    )


def _events(rows: list[tuple[str, datetime]]) -> pa.Table:
    return pa.table(
        {
            "platform": ["p"] * len(rows),
            "user_id": [u for u, _ in rows],
            "event_ts": [t for _, t in rows],
            "event_type": ["post"] * len(rows),
        }
    )


def _model_tables(settings: Settings) -> dict[str, list[dict[str, object]]]:
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    return {
        name: sorted(read_table(snapshot, name).to_pylist(), key=repr)
        for name in ("platforms", "signups", "milestones", "active", "retention", "lifecycle")
    }


def test_late_earlier_signup_restates_like_a_clean_run(tmp_path: Path, clock: datetime) -> None:
    t0 = datetime(2024, 1, 1)
    first = [(f"u{i}", t0 + timedelta(hours=i)) for i in range(30)]
    late = [("u5", t0 - timedelta(days=2)), ("u40", t0 + timedelta(days=3))]
    activity = [(f"u{i}", t0 + timedelta(days=i % 9, hours=1)) for i in range(30)]
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(_signups(first), folder / "s1.parquet")
    pq.write_table(_events(activity), folder / "e1.parquet")
    pq.write_table(_signups(late), folder / "s2.parquet")
    batches = load_settings(tmp_path / "batches", env={})
    clean = load_settings(tmp_path / "clean", env={})
    for name in ("s1", "e1", "s2"):
        ingest_and_publish(batches, [folder / f"{name}.parquet"], IngestOptions(), now=clock)
    ingest_and_publish(clean, [folder], IngestOptions(), now=clock)
    assert _model_tables(batches) == _model_tables(clean)


def _xml(path: Path) -> list[dict[str, str]]:
    return [dict(e.attrib) for e in ET.parse(path).getroot().iter("row")]


@pytest.mark.parametrize("site", ["stackexchange-cardano", "stackexchange-conlang"])
def test_stack_exchange_snapshot_matches_the_raw_dump(
    settings: Settings, growth_data: Path, clock: datetime, site: str
) -> None:
    people = [u for u in _xml(growth_data / site / "Users.xml") if u["Id"] != "-1"]
    created = sorted(datetime.fromisoformat(u["CreationDate"]) for u in people)
    ingest_and_publish(
        settings,
        [growth_data / site],
        IngestOptions(adapter="stackexchange", platform=site),
        now=clock,
    )
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    [platform] = read_table(snapshot, "platforms").to_pylist()
    assert platform["signups"] == len(people)
    assert _naive(platform["first_signup"]) == created[0]
    daily = [
        r
        for r in read_table(snapshot, "signups").to_pylist()
        if r["grain"] == "day" and r["signups"]
    ]
    first_day = min(daily, key=lambda r: r["bucket_start"])
    assert first_day["signups"] == sum(1 for c in created if c.date() == created[0].date())
    assert max(r["cumulative"] for r in daily) == len(people)
    milestones = {r["users"]: r for r in read_table(snapshot, "milestones").to_pylist()}
    if len(people) >= 1000:
        assert _naive(milestones[1000]["reached_at"]) == created[999]
        assert milestones[1000]["elapsed_s"] == pytest.approx(
            (created[999] - created[0]).total_seconds()
        )
    else:
        assert milestones[1000]["reached_at"] is None


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def test_status_while_a_pass_holds_the_warehouse(tmp_path: Path, clock: datetime) -> None:
    settings = load_settings(tmp_path / "home", env={})
    (tmp_path / "s.csv").write_text("platform,user_id,signup_ts\np,u1,2024-01-01\n")
    ingest_and_publish(settings, [tmp_path / "s.csv"], IngestOptions(), now=clock)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True);"
            " time.sleep(60)",
            str(settings.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        done = uptake(settings.home, "status")
        assert done.returncode == 0, done.stderr
        assert "a pass is running" in done.stdout
        assert "p " in done.stdout
    finally:
        holder.kill()
        holder.wait()


def test_root_cause_sees_through_aborted_transaction_errors() -> None:
    from etl.pipeline import root_cause

    try:
        try:
            raise MemoryError("Out of Memory Error: could not allocate block")
        finally:
            raise RuntimeError("TransactionContext Error: Current transaction is aborted")
    except RuntimeError as exc:
        assert isinstance(root_cause(exc), MemoryError)


def test_scheduled_run_applies_an_inbox_folder_mapping(home: Path, clock: datetime) -> None:
    folder = home / "inbox" / "posthog"
    folder.mkdir(parents=True)
    (folder / "_mapping.toml").write_text(
        'adapter = "posthog"\nsignup_events = ["user signed up"]\n[constants]\nplatform = "web"\n'
    )
    (folder / "events.csv").write_text(
        "event,distinct_id,timestamp,uuid\n"
        "user signed up,d1,2024-01-01T00:00:00Z,x1\n"
        "pageview,d1,2024-01-01T00:05:00Z,x2\n"
        "pageview,,2024-01-01T00:06:00Z,x3\n"
    )
    settings = load_settings(home, env={"UPTAKE_SETTLE_SECONDS": "0s"})
    from etl.pipeline import run_pass

    result = run_pass(settings, now=clock)
    assert result.total("rows_read") == 3
    assert (result.total("rows_loaded"), result.total("rows_quarantined")) == (2, 1)
    assert (home / "archive" / "posthog" / "events.csv").exists()
    assert (home / "inbox" / "posthog" / "_mapping.toml").exists()
    platforms = read_table(current_snapshot(settings), "platforms").to_pylist()  # type: ignore[arg-type]
    assert [(p["platform"], p["signups"]) for p in platforms] == [("web", 1)]


def _inbox_home(tmp_path: Path) -> Settings:
    settings = load_settings(tmp_path / "home", env={"UPTAKE_SETTLE_SECONDS": "0s"})
    settings.inbox.mkdir(parents=True)
    return settings


def _signup_csv(rows: range) -> str:
    return "platform,user_id,signup_ts\n" + "".join(
        f"p,u{i},2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00\n" for i in rows
    )


def _ledger(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_pass_with_nothing_new_is_a_fast_noop_that_records_itself(
    tmp_path: Path, clock: datetime
) -> None:
    import time

    from etl.pipeline import run_pass

    settings = _inbox_home(tmp_path)
    (settings.inbox / "s.csv").write_text(_signup_csv(range(200)))
    first = run_pass(settings, clock)
    live = current_snapshot(settings)
    assert first.status == "ok" and live is not None
    # Nothing in the inbox, then the same bytes again under another name: both no-ops.
    (tmp_path / "again.csv").write_text(_signup_csv(range(200)))
    results = []
    for arrive in (None, tmp_path / "again.csv"):
        if arrive is not None:
            arrive.rename(settings.inbox / arrive.name)
        started = time.perf_counter()
        results.append(run_pass(settings, clock, trigger="schedule"))
        assert time.perf_counter() - started < 5  # no refresh, no fit, no publish
    for result in results:
        assert result.status == "noop" and result.exit_code == 0
        assert result.snapshot is None
        assert not {"refresh", "fit", "publish"} & set(result.steps)
    assert [f.outcome for f in results[1].files] == ["already_loaded"]
    assert (settings.archive / "again.csv").exists()
    current = current_snapshot(settings)
    assert current is not None and current.id == live.id
    runs = _ledger(settings, "SELECT run_id, status, trigger, files, steps FROM runs ORDER BY 1")
    assert [(status, trigger, files) for _, status, trigger, files, _ in runs] == [
        ("ok", "run", 1),
        ("noop", "schedule", 0),
        ("noop", "schedule", 1),
    ]
    assert {"fit", "publish"} <= set(json.loads(str(runs[0][4])))  # the whole pass is timed


def test_a_file_written_slowly_is_never_half_read(tmp_path: Path, clock: datetime) -> None:
    """A writer appends to an inbox file in chunks while passes keep running: no pass reads
    it until it has settled, and then it loads whole, once. A file written as *.tmp and
    renamed when complete is never read before the rename."""
    import threading
    import time
    from dataclasses import replace

    from etl.pipeline import run_pass

    settings = replace(_inbox_home(tmp_path), settle_seconds=2.0)
    (settings.inbox / "first.csv").write_text(_signup_csv(range(10)))
    os_utime_past(settings.inbox / "first.csv")
    run_pass(settings, clock)
    texts = {
        "growing.csv": _signup_csv(range(1000, 1600)),
        "renamed.csv.tmp": _signup_csv(range(2000, 2600)),
    }

    def write_slowly() -> None:
        handles = {name: (settings.inbox / name).open("w") for name in texts}
        for piece in range(12):
            for name, text in texts.items():
                size = len(text) // 12 + 1
                handles[name].write(text[piece * size : (piece + 1) * size])
                handles[name].flush()
            time.sleep(0.15)
        for handle in handles.values():
            handle.close()
        (settings.inbox / "renamed.csv.tmp").rename(settings.inbox / "renamed.csv")

    writer = threading.Thread(target=write_slowly)
    writer.start()
    passes_while_writing = 0
    while writer.is_alive():
        result = run_pass(settings, clock)
        passes_while_writing += 1
        assert result.files == [] or all(f.path.name == "renamed.csv" for f in result.files)
    writer.join()
    assert passes_while_writing >= 1
    time.sleep(2.2)
    run_pass(settings, clock)
    loaded = _ledger(
        settings,
        "SELECT regexp_extract(path, '[^/]+$'), outcome, rows_read, rows_loaded FROM files "
        "ORDER BY file_id",
    )
    assert sorted(loaded) == [
        ("first.csv", "loaded", 10, 10),
        ("growing.csv", "loaded", 600, 600),
        ("renamed.csv", "loaded", 600, 600),
    ]
    assert _ledger(settings, "SELECT count(*) FROM quarantine") == [(0,)]
    assert _ledger(settings, "SELECT count(*) FROM signups") == [(1210,)]


def os_utime_past(path: Path) -> None:
    import os
    import time

    past = time.time() - 60
    os.utime(path, (past, past))


def test_a_pass_reports_its_progress_file_by_file_and_step_by_step(
    tmp_path: Path, clock: datetime
) -> None:
    """What `uptake demo` draws its ETL progress bars from: files loaded out of the run's,
    metric steps done out of the refresh's, and the pass's steps by name."""
    from etl.progress import reporting
    from etl.refresh import refresh_steps

    t0 = datetime(2024, 1, 1)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(_signups([(f"u{i}", t0 + timedelta(hours=i)) for i in range(10)]),
                   folder / "s1.parquet")  # fmt: skip
    pq.write_table(_events([(f"u{i}", t0 + timedelta(days=i % 3)) for i in range(10)]),
                   folder / "e1.parquet")  # fmt: skip
    seen: list[tuple[str, int, int, str]] = []
    with reporting(lambda *event: seen.append(event)):
        ingest_and_publish(load_settings(tmp_path / "home", env={}), [folder], IngestOptions(),
                           now=clock)  # fmt: skip
    by_stage: dict[str, list[tuple[int, int, str]]] = {}
    for stage, done, total, detail in seen:
        by_stage.setdefault(stage, []).append((done, total, detail))
    assert by_stage["ingest"][-1][:2] == (2, 2)
    assert {d for _, _, d in by_stage["ingest"]} == {"e1.parquet", "s1.parquet"}
    metrics = by_stage["metrics"]
    assert [d for d, _, _ in metrics] == sorted(d for d, _, _ in metrics)
    assert metrics[-1][:2] == (refresh_steps(True), refresh_steps(True))  # the first: full
    assert {"user_days", "contributions", "serve:retention"} <= {n for _, _, n in metrics}
    steps = [name for _, _, name in by_stage["pass"]]
    assert steps.index("ingest") < steps.index("refresh") < steps.index("commit")
    assert steps.index("commit") < steps.index("publish")
    # Outside the block nothing is reported.
    seen.clear()
    ingest_and_publish(load_settings(tmp_path / "again", env={}), [folder], IngestOptions(),
                       now=clock)  # fmt: skip
    assert seen == []


def test_status_prints_times_to_the_second() -> None:
    """`uptake status` shows times to the second; --json keeps them as stored."""
    from etl.status import format_status

    at = datetime(2023, 8, 4, 22, 59, 50, 971565)
    text = format_status(
        {
            "home": "h",
            "warehouse": "w",
            "warehouse_bytes": 0,
            "inbox_backlog_files": 0,
            "snapshot": {"id": "s", "run_id": 1, "watermark": "2023-08-04T22:59:50.971565Z"},
            "platforms": [
                {"platform": "p", "signups": 1, "events": 2, "deletions": 0, "first_signup": at}
            ],
            "runs": [
                {
                    "run_id": 1,
                    "started_at": at,
                    "status": "ok",
                    "files": 1,
                    "rows_read": 3,
                    "rows_loaded": 3,
                    "rows_duplicate": 0,
                    "rows_quarantined": 0,
                    "error": None,
                }
            ],
        }
    )
    assert "971565" not in text
    assert text.count("2023-08-04 22:59:50 UTC") == 3
