"""What the app's callbacks share: the snapshot reader, colour settings and the reported
milestones, plus a small cache of built figures per snapshot (snapshots never change)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import ChartInputs, ViewOptions, build_chart
from dashboard.data import SnapshotReader

NO_DATA = "No data published yet: run `uptake run` (or `uptake demo` to try a simulated launch)."
CACHE_SIZE = 64


@dataclass
class AppContext:
    reader: SnapshotReader
    colour_overrides: dict[str, str | None] = field(default_factory=dict)
    reported: pl.DataFrame = field(default_factory=pl.DataFrame)
    _figures: OrderedDict[tuple[Any, ...], dict[str, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inputs(self) -> ChartInputs | None:
        snapshot = self.reader.current()
        if snapshot is None:
            return None
        return ChartInputs(snapshot, self.colour_overrides, self.reported)

    def figure(self, name: str, options: ViewOptions) -> dict[str, Any] | go.Figure:
        """The named chart of the live snapshot as a plotly dict (cached per snapshot)."""
        inputs = self.inputs()
        if inputs is None:
            return go.Figure()
        key = (inputs.snapshot.id, name, options)
        with self._lock:
            if key in self._figures:
                self._figures.move_to_end(key)
                return self._figures[key]
        built = build_chart(name, inputs, options).to_plotly_json()
        with self._lock:
            self._figures[key] = built
            while len(self._figures) > CACHE_SIZE:
                self._figures.popitem(last=False)
        return built
