"""Progress of a long pass, for whoever shows it (`uptake demo` draws progress bars) or
waits for a point in it (tests that kill a pass at a known step).

The pass reports (stage, done, total, detail) as it goes:
- `ingest` counts files (detail: the file);
- `metrics` counts the refresh's steps (detail: the step running);
- `publish` counts the snapshot's tables as they are written (detail: the table);
- `pass` names each step of the pass (detail: convert, plan, ingest, refresh, retention,
  commit, move_files, fit, publish; with the Spark engine, export_lake and spark) when it starts,
  as 0 of 0 (steps vary by pass), and when it ends, as 1 of 1.
Nothing is reported unless a caller installs a reporter with `reporting(...)`, so the
pipeline itself needs no knowledge of any display."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int, int, str], None]
_REPORTER: ContextVar[Reporter | None] = ContextVar("uptake_progress", default=None)


def report(stage: str, done: int, total: int, detail: str = "") -> None:
    """Tell the installed reporter (if any) that `done` of `total` units of `stage` are done."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total, detail)


class StepTimer:
    """Seconds per named step of a stage, in order, each step reported as it starts and as it
    ends without an error. A stage of a known number of steps (`total`: the refresh's
    `metrics`) reports done of total; the pass, whose steps vary, reports 0 of 0 at a start
    and 1 of 1 at an end. A step that fails keeps its seconds but is not reported done."""

    def __init__(self, stage: str, total: int = 0, timings: dict[str, float] | None = None) -> None:
        self.stage = stage
        self.total = total
        self.timings: dict[str, float] = {} if timings is None else timings
        self.done = 0

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        report(self.stage, self.done, self.total, name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started
        self.done += 1
        if self.total:
            report(self.stage, self.done, self.total, name)
        else:
            report(self.stage, 1, 1, name)


def timed_step(steps: dict[str, float], name: str) -> AbstractContextManager[None]:
    """Run the pass's step `name`, adding its seconds to `steps[name]` (StepTimer)."""
    return StepTimer("pass", timings=steps).step(name)


def is_step_end(stage: str, done: int, total: int) -> bool:
    """True for the report of a pass's step that ended without an error."""
    return stage == "pass" and done == total == 1


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the progress of passes run inside the block to `reporter`."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)
