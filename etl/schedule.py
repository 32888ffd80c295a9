"""`uptake schedule`: run ETL passes on a fixed interval or a cron expression, one at a time.

- A tick that falls while a pass is running is skipped (and logged), never queued up.
- SIGINT/SIGTERM stop the loop after the current pass: it finishes (or, if the process
  is killed, its transaction rolls back); the loop never dies between two passes.
- A failed pass is retried with exponential backoff (capped at the interval), then the
  schedule goes on.
- Another process holding the writer lock (a manual `uptake run`) skips the tick.
- The clock and the sleep are passed in, so the loop is tested without waiting.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from croniter import croniter

from etl.config import Settings, parse_duration
from etl.errors import ConfigError, LockedError

log = logging.getLogger("uptake.schedule")

Clock = Callable[[], datetime]
PassRunner = Callable[[Settings, datetime], Any]


@dataclass(frozen=True)
class Cadence:
    """When passes run: every fixed interval, or at the times of a cron expression (UTC)."""

    every: timedelta | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, every: str | None, cron: str | None) -> Cadence:
        if bool(every) == bool(cron):
            raise ConfigError("schedule needs exactly one of --every (e.g. 5m) or --cron EXPR")
        if every:
            interval = parse_duration(every, "--every")
            if interval.total_seconds() <= 0:
                raise ConfigError(f"--every {every!r} must be longer than zero")
            return cls(every=interval)
        assert cron is not None
        if not croniter.is_valid(cron):
            raise ConfigError(
                f"--cron {cron!r} is not a valid cron expression; "
                "use five fields, e.g. '*/15 * * * *'"
            )
        return cls(cron=cron)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment`."""
        if self.every is not None:
            step = self.every.total_seconds()
            epoch = datetime(1970, 1, 1)
            ticks = int((moment - epoch).total_seconds() // step) + 1
            return epoch + timedelta(seconds=ticks * step)
        assert self.cron is not None
        following: datetime = croniter(self.cron, moment).get_next(datetime)
        return following

    @property
    def period_s(self) -> float:
        if self.every is not None:
            return self.every.total_seconds()
        first = self.next_after(datetime(2000, 1, 1))
        return (self.next_after(first) - first).total_seconds()


@dataclass
class StopFlag:
    """Set by a signal; the loop checks it between passes and while waiting."""

    event: threading.Event = field(default_factory=threading.Event)

    def set(self, signum: int = 0, _frame: FrameType | None = None) -> None:
        if not self.event.is_set():
            log_event("stop_requested", signal=signal.Signals(signum).name if signum else None)
        self.event.set()

    @property
    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when asked to stop meanwhile."""
        return self.event.wait(max(0.0, seconds))


def log_event(event: str, **fields: Any) -> None:
    """One line per event; with the JSON formatter each line is a JSON object."""
    log.info(event, extra={"event": event, "fields": fields})


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
            **getattr(record, "fields", {}),
        }
        return json.dumps(payload, default=str)


class TextLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        stamp = datetime.fromtimestamp(record.created).isoformat(timespec="seconds")
        return f"{stamp} {record.levelname.lower()} {record.getMessage()} {text}".rstrip()


def configure_logging(json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter() if json_lines else TextLogFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


@dataclass
class Scheduler:
    """The loop. `run_pass(settings, now)` does one pass and returns its RunResult."""

    settings: Settings
    cadence: Cadence
    run_pass: PassRunner
    clock: Clock
    stop: StopFlag = field(default_factory=StopFlag)
    max_passes: int | None = None
    max_backoff_s: float = 300.0
    passes: int = 0
    failures_in_a_row: int = 0

    def loop(self) -> int:
        """Run until stopped (or `max_passes`); returns the exit code."""
        log_event("schedule_started", every=self._cadence_text())
        next_tick = self.cadence.next_after(self.clock())
        while not self.stop.is_set and not self._done():
            if self.stop.wait((next_tick - self.clock()).total_seconds()):
                break
            started = self.clock()
            ok = self._one_pass(started)
            if self.stop.is_set:  # asked to stop during the pass: no retry, no tick to skip
                break
            next_tick = self._after_pass(next_tick, ok)
        log_event("schedule_stopped", passes=self.passes)
        return 0

    def _done(self) -> bool:
        return self.max_passes is not None and self.passes >= self.max_passes

    def _one_pass(self, started: datetime) -> bool:
        self.passes += 1
        try:
            result = self.run_pass(self.settings, started)
        except LockedError as exc:
            log_event("pass_skipped", reason="locked", detail=str(exc))
            return True
        except Exception as exc:  # noqa: BLE001 - a failed pass must not end the schedule
            self.failures_in_a_row += 1
            log_event("pass_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        self.failures_in_a_row = 0
        summary = result.summary()
        log_event(
            "pass_finished",
            run_id=summary.get("run_id"),
            status=summary.get("status"),
            files=len(summary.get("files", [])),
            rows_loaded=summary.get("rows_loaded"),
            rows_quarantined=summary.get("rows_quarantined"),
            seconds=round((self.clock() - started).total_seconds(), 3),
        )
        return True

    def _after_pass(self, tick: datetime, ok: bool) -> datetime:
        now = self.clock()
        if not ok:
            backoff = min(self.max_backoff_s, 2.0 ** min(self.failures_in_a_row, 16) * 5)
            backoff = min(backoff, self.cadence.period_s)
            log_event("pass_retry", in_seconds=backoff, failures=self.failures_in_a_row)
            return now + timedelta(seconds=backoff)
        following = self.cadence.next_after(tick)
        skipped = 0
        while following <= now:  # ticks that fell during the pass are skipped, not queued
            skipped += 1
            following = self.cadence.next_after(following)
        if skipped:
            log_event("ticks_skipped", count=skipped, reason="a pass was running")
        return following

    def _cadence_text(self) -> str:
        if self.cadence.every is not None:
            return f"{self.cadence.every.total_seconds():g}s"
        return f"cron {self.cadence.cron}"


def install_signal_handlers(stop: StopFlag) -> None:
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
