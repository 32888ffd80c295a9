"""What the app's callbacks share: the snapshot reader, colour settings and the reported
milestones, plus a small cache of built figures per snapshot (snapshots never change).

Prewarm: when the app first sees a snapshot (at start-up, and when a newly published one
is picked up), a background thread builds the figures of every page's default view into
the cache, under the key the chart callbacks use, so a user's first visit is a cache hit.
It never holds up a request: it yields while requests are building figures, a request
that wants a figure the thread is building waits for that build instead of doing it
twice, and it stops as soon as a newer snapshot is published. Memory stays bounded: the
cache keeps at most CACHE_SIZE figures, and the figures of older snapshots are dropped
when a new one is seen. The cache is cachetools' LRUCache, and `cachetools.cached` with a
condition makes concurrent builds of one figure share the first (single flight)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cachetools
import plotly.graph_objects as go
import polars as pl

from dashboard.charts import ChartInputs, ViewOptions, build_chart
from etl.errors import SnapshotError
from etl.snapshot import Snapshot, SnapshotReader

log = logging.getLogger("uptake.dashboard")
NO_DATA = "No data published yet: run `uptake run` (or `uptake demo` to try a simulated launch)."
CACHE_SIZE = 64
PREWARM_MAX = CACHE_SIZE // 2  # default-view figures prewarmed per snapshot, at most
PREWARM_YIELD_S = 1.0  # how long the prewarm waits for busy requests before each chart
Key = tuple[str, str, ViewOptions]


@dataclass
class AppContext:
    reader: SnapshotReader
    colour_overrides: dict[str, str | None] = field(default_factory=dict)
    reported: pl.DataFrame = field(default_factory=pl.DataFrame)
    # (chart, options) to build for every new snapshot, in order (first: the home page)
    prewarm_views: Sequence[tuple[str, ViewOptions]] = ()
    _figures: cachetools.LRUCache[Key, dict[str, Any]] = field(
        default_factory=lambda: cachetools.LRUCache(CACHE_SIZE)
    )
    # Guards the cache; a builder of a figure another thread is building waits on it.
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _prewarm_id: str | None = None  # the snapshot prewarmed last (or being prewarmed)
    _prewarm_thread: threading.Thread | None = None
    _busy: int = 0  # requests building a figure right now

    def __post_init__(self) -> None:
        self._cached_build = cachetools.cached(
            self._figures, key=_figure_key, condition=self._lock
        )(self._build)

    def inputs(self) -> ChartInputs | None:
        snapshot = self.reader.current()
        if snapshot is None:
            return None
        self.notice(snapshot)
        return self._inputs(snapshot)

    def _inputs(self, snapshot: Snapshot) -> ChartInputs:
        return ChartInputs(snapshot, self.colour_overrides, self.reported)

    def figure(self, name: str, options: ViewOptions) -> dict[str, Any] | go.Figure:
        """The named chart of the live snapshot as a plotly dict (cached per snapshot)."""
        inputs = self.inputs()
        if inputs is None:
            return go.Figure()
        return self._figure(inputs, name, options, request=True)

    def cached(self, name: str, options: ViewOptions) -> dict[str, Any] | None:
        """The live snapshot's figure if it is in the cache; never builds it."""
        snapshot_id = self.reader.current_id()
        with self._lock:
            return self._figures.get((snapshot_id or "", name, options))

    def _figure(
        self, inputs: ChartInputs, name: str, options: ViewOptions, *, request: bool
    ) -> dict[str, Any]:
        """The figure from the cache, else built once (a second caller waits for it)."""
        figure: dict[str, Any] = self._cached_build(inputs, name, options, request)
        return figure

    def _build(
        self, inputs: ChartInputs, name: str, options: ViewOptions, request: bool
    ) -> dict[str, Any]:
        with self._lock:
            self._busy += request
        try:
            built: dict[str, Any] = build_chart(name, inputs, options).to_plotly_json()
            return built
        finally:
            with self._lock:
                self._busy -= request

    def notice(self, snapshot: Snapshot) -> None:
        """Prewarm `snapshot` in the background if it is new to the app."""
        if not self.prewarm_views or snapshot.id == self._prewarm_id:
            return
        with self._lock:
            if snapshot.id == self._prewarm_id:
                return
            self._prewarm_id = snapshot.id
            for key in [k for k in self._figures if k[0] != snapshot.id]:
                del self._figures[key]  # an older snapshot's: never asked for again
        thread = threading.Thread(
            target=self._prewarm, args=(snapshot,), name=f"prewarm-{snapshot.id}", daemon=True
        )
        self._prewarm_thread = thread
        thread.start()

    def start_prewarm(self) -> None:
        """Prewarm the live snapshot now (at start-up); nothing when none is published."""
        try:
            self.inputs()
        except (SnapshotError, OSError, ValueError) as error:  # the page will say so
            log.warning("prewarm: cannot open the current snapshot: %s", error)

    def wait_prewarmed(self, timeout: float | None = None) -> bool:
        """Wait for the running prewarm to end; True when none is left running."""
        thread = self._prewarm_thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _stale(self, snapshot: Snapshot) -> bool:
        return self._prewarm_id != snapshot.id or self.reader.current_id() != snapshot.id

    def _prewarm(self, snapshot: Snapshot) -> None:
        inputs = self._inputs(snapshot)
        started = time.perf_counter()
        built = 0
        for name, options in self.prewarm_views[:PREWARM_MAX]:
            deadline = time.monotonic() + PREWARM_YIELD_S
            while self._busy and time.monotonic() < deadline:
                time.sleep(0.02)  # requests first
            if self._stale(snapshot):
                log.info("prewarm of %s stopped: a newer snapshot is live", snapshot.id)
                return
            try:
                self._figure(inputs, name, options, request=False)
                built += 1
            except Exception as error:  # noqa: BLE001 - the thread goes on; the callback reports it
                log.warning("prewarm of %s: chart %s failed: %s", snapshot.id, name, error)
        log.info(
            "prewarmed %d figures of snapshot %s in %.1f s",
            built,
            snapshot.id,
            time.perf_counter() - started,
        )


def _figure_key(inputs: ChartInputs, name: str, options: ViewOptions, request: bool) -> Key:
    """A figure is the same whoever asks for it: the snapshot, the chart and the view."""
    return (inputs.snapshot.id, name, options)
