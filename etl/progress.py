"""Progress of a long pass, for whoever shows it (`uptake demo` draws progress bars) or
waits for a point in it (tests that kill a pass at a known step).

The pass reports (stage, done, total, detail) as it goes:
- `ingest` counts files (detail: the file);
- `metrics` counts the refresh's steps (detail: the step running);
- `publish` counts the snapshot's tables as they are written (detail: the table);
- `pass` names each step of the pass (detail: convert, plan, ingest, refresh, retention,
  move_files, fit, publish; with the Spark engine, export_lake and spark) when it starts,
  as 0 of 0 (steps vary by pass), and when it ends, as 1 of 1.
Nothing is reported unless a caller installs a reporter with `reporting(...)`, so the
pipeline itself needs no knowledge of any display."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int, int, str], None]
_REPORTER: ContextVar[Reporter | None] = ContextVar("uptake_progress", default=None)


def report(stage: str, done: int, total: int, detail: str = "") -> None:
    """Tell the installed reporter (if any) that `done` of `total` units of `stage` are done."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total, detail)


def step_started(name: str) -> None:
    """The pass's step `name` is now running."""
    report("pass", 0, 0, name)


def step_finished(name: str) -> None:
    """The pass's step `name` has ended without an error."""
    report("pass", 1, 1, name)


@contextmanager
def timed_step(steps: MutableMapping[str, float], name: str) -> Iterator[None]:
    """Run the pass's step `name`: report its start and its end, and add the seconds it
    took to `steps[name]` (also when it fails)."""
    step_started(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - started
    step_finished(name)


def is_step_end(stage: str, done: int, total: int) -> bool:
    """True for the report `step_finished` sends."""
    return stage == "pass" and done == total == 1


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the progress of passes run inside the block to `reporter`."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)
