"""The scheduler: cadence arithmetic, skipped ticks, retries with backoff, clean stops; and a
real `uptake schedule` process stopped by SIGTERM."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.config import Settings
from etl.errors import ConfigError, LockedError
from etl.schedule import Cadence, Scheduler, StopFlag


def test_every_ticks_align_to_the_interval() -> None:
    cadence = Cadence.parse("5m", None)
    assert cadence.next_after(datetime(2024, 1, 1, 0, 7, 30)) == datetime(2024, 1, 1, 0, 10)
    assert cadence.next_after(datetime(2024, 1, 1, 0, 10)) == datetime(2024, 1, 1, 0, 15)


def test_cron_ticks() -> None:
    cadence = Cadence.parse(None, "*/15 * * * *")
    assert cadence.next_after(datetime(2024, 1, 1, 0, 7)) == datetime(2024, 1, 1, 0, 15)
    assert cadence.period_s == 900


@pytest.mark.parametrize(
    ("every", "cron", "message"),
    [(None, None, "exactly one"), ("5m", "* * * * *", "exactly one"), (None, "nope", "cron")],
)
def test_bad_cadence(every: str | None, cron: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Cadence.parse(every, cron)


@dataclass
class FakeTime:
    """A clock that moves only when the scheduler sleeps or a pass takes time."""

    now: datetime = datetime(2024, 1, 1, 0, 0, 1)
    slept: list[float] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now


class FakeStop(StopFlag):
    def __init__(self, time_: FakeTime) -> None:
        super().__init__()
        self.time = time_

    def wait(self, seconds: float) -> bool:
        self.time.slept.append(seconds)
        self.time.now += timedelta(seconds=max(0.0, seconds))
        return self.is_set


@dataclass
class Outcome:
    run_id: int

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": "ok", "files": [], "rows_loaded": 0}


def make_scheduler(settings: Settings, runner: Any, time_: FakeTime, **kw: Any) -> Scheduler:
    return Scheduler(
        settings, Cadence.parse("1m", None), runner, time_.clock, FakeStop(time_), **kw
    )


def test_a_long_pass_skips_the_ticks_it_covers(settings: Settings) -> None:
    time_ = FakeTime()
    starts: list[datetime] = []

    def runner(_: Settings, now: datetime) -> Outcome:
        starts.append(now)
        time_.now += timedelta(seconds=150 if len(starts) == 1 else 10)  # first pass: 2.5 min
        return Outcome(len(starts))

    make_scheduler(settings, runner, time_, max_passes=3).loop()
    assert starts == [
        datetime(2024, 1, 1, 0, 1),
        datetime(2024, 1, 1, 0, 4),  # 0:02 and 0:03 fell during the first pass
        datetime(2024, 1, 1, 0, 5),
    ]


def test_failures_are_retried_with_backoff_and_the_loop_survives(settings: Settings) -> None:
    time_ = FakeTime()
    calls: list[datetime] = []

    def runner(_: Settings, now: datetime) -> Outcome:
        calls.append(now)
        if len(calls) <= 2:
            raise duckdb.IOException("disk hiccup")
        return Outcome(len(calls))

    make_scheduler(settings, runner, time_, max_passes=3).loop()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(calls)]
    assert gaps == [10.0, 20.0]  # 5 s * 2^failures, capped by the interval


def test_locked_warehouse_skips_the_tick(settings: Settings) -> None:
    time_ = FakeTime()
    calls = []

    def runner(_: Settings, now: datetime) -> Outcome:
        calls.append(now)
        if len(calls) == 1:
            raise LockedError("another run")
        return Outcome(2)

    make_scheduler(settings, runner, time_, max_passes=2).loop()
    assert (calls[1] - calls[0]).total_seconds() == 60


def test_stop_flag_ends_the_loop_after_the_current_pass(settings: Settings) -> None:
    time_ = FakeTime()
    stop_holder: list[StopFlag] = []

    def runner(_: Settings, now: datetime) -> Outcome:
        stop_holder[0].set()  # a signal arrives during the pass
        return Outcome(1)

    scheduler = make_scheduler(settings, runner, time_)
    stop_holder.append(scheduler.stop)
    assert scheduler.loop() == 0
    assert scheduler.passes == 1


def test_real_schedule_process_stops_on_sigterm(settings: Settings, tmp_path: Path) -> None:
    inbox = settings.inbox
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text("platform,user_id,signup_ts\np,u1,2024-01-01\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "etl.cli",
            "--home",
            str(settings.home),
            "schedule",
            "--every",
            "1s",
            "--log-json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Stop once a pass has loaded the file and another has run after it (no sleeps: a
    # loaded machine may take many seconds per pass).
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        seen.append(line)
        finished = [e for e in seen if '"pass_finished"' in e]
        if any('"rows_loaded": 1' in e for e in finished[:-1]):
            break
        assert time.monotonic() < deadline, "".join(seen)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 0, err
    events = [line for line in err.splitlines() if line.startswith("{")]
    assert any('"pass_finished"' in e for e in events)
    assert '"schedule_stopped"' in events[-1]
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    runs = con.execute("SELECT count(*), sum(rows_loaded) FROM runs").fetchall()[0]
    con.close()
    assert runs[0] >= 2 and runs[1] == 1


def test_a_file_still_being_written_waits_for_the_next_pass(home: Path) -> None:
    """Settle time: a file modified within `settle_seconds` is not read (it may be half
    written); once it has settled, the next pass loads it whole."""
    import os

    from etl.config import load_settings
    from etl.pipeline import inbox_files

    settings = load_settings(home, env={"UPTAKE_SETTLE_SECONDS": "30s"})
    settings.inbox.mkdir(parents=True)
    growing = settings.inbox / "signups.csv"
    growing.write_text("platform,user_id,signup_ts\np,u1,2024-01-01\n")
    now = time.time()
    assert inbox_files(settings, now) == []
    os.utime(growing, (now - 60, now - 60))
    assert inbox_files(settings, now) == [growing]


def test_a_failing_real_pass_rolls_back_is_retried_and_the_schedule_goes_on(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pipeline under the scheduler: the first pass fails inside its transaction
    (an I/O error in the refresh), rolls back and is recorded as failed; the retry after the
    backoff loads the same files once, and later passes keep running."""
    import etl.pipeline
    from etl.config import load_settings
    from etl.pipeline import run_pass

    settings = load_settings(home, env={"UPTAKE_SETTLE_SECONDS": "0s"})
    settings.inbox.mkdir(parents=True)
    (settings.inbox / "s.csv").write_text(
        "platform,user_id,signup_ts\n"
        + "".join(f"p,u{i},2023-12-0{1 + i % 5}\n" for i in range(40))
    )
    real_refresh = etl.pipeline.refresh_models
    failures = [duckdb.IOException("disk hiccup while refreshing")]

    def flaky_refresh(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(etl.pipeline, "refresh_models", flaky_refresh)
    seen: list[tuple[str, int, bool]] = []

    def runner(s: Settings, now: datetime) -> Any:
        try:
            result = run_pass(s, now, trigger="schedule")
        finally:
            con = duckdb.connect(str(s.warehouse_path), read_only=True)
            loaded = con.execute("SELECT count(*) FROM signups").fetchall()[0][0]
            con.close()
            seen.append((str(len(seen)), loaded, (s.inbox / "s.csv").exists()))
        return result

    time_ = FakeTime()
    make_scheduler(settings, runner, time_, max_passes=3).loop()
    # pass 1 failed: nothing loaded, the file waits; pass 2 loads it; pass 3 is a no-op
    assert [(loaded, waiting) for _, loaded, waiting in seen] == [
        (0, True),
        (40, False),
        (40, False),
    ]
    assert time_.slept[1] == pytest.approx(10.0)  # backoff after one failure: 5 s * 2
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    runs = con.execute("SELECT status, trigger, error FROM runs ORDER BY run_id").fetchall()
    con.close()
    assert [r[0] for r in runs] == ["failed", "ok", "noop"]
    assert "disk hiccup" in runs[0][2]
    assert (settings.archive / "s.csv").exists()
