"""Progress of a long pass, for whoever shows it (`uptake demo` draws progress bars).

The pass reports (stage, done, total, detail) as it goes: `ingest` counts files, `metrics`
counts the refresh's steps (detail: the step running), `finish` the fits and publishing.
Nothing is reported unless a caller installs a reporter with `reporting(...)`, so the
pipeline itself needs no knowledge of any display."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int, int, str], None]
_REPORTER: ContextVar[Reporter | None] = ContextVar("uptake_progress", default=None)


def report(stage: str, done: int, total: int, detail: str = "") -> None:
    """Tell the installed reporter (if any) that `done` of `total` units of `stage` are done."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total, detail)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the progress of passes run inside the block to `reporter`."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)
