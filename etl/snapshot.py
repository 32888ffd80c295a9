"""The serving snapshot's contract (its tables and the CURRENT pointer) and its one reader,
shared by the CLI, the dashboard, `uptake export` and `uptake report`.

Readers depend on this module, never on the writer (etl/publish.py), which checks every
snapshot it writes against CONTRACT_TABLES. Snapshots are immutable, so a Snapshot keeps
the tables it has read and what callers derive from them; a SnapshotReader re-reads CURRENT
on every call (a tiny file), so a newly published snapshot shows up without a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from cachetools import LRUCache

from etl.config import Settings
from etl.errors import SnapshotError

CURRENT = "CURRENT"  # serving/CURRENT names the live snapshot
# The SQL models' serving tables (etl/models/), in the order they are refreshed: later ones
# read earlier ones. etl/refresh.py runs them; etl/publish.py writes them.
MODEL_TABLES = (
    "platforms",
    "signups",
    "milestones",
    "active",
    "retention",
    "lifecycle",
    "activation",
    "channels",
    "overlap",
    "migration",
    "migrant_activity",
)
# Every snapshot holds these tables: the models' rollups, the growth-model fits and
# forecasts (etl/contract.py has their schemas), and the run ledger. docs/ARCHITECTURE.md
# gives their columns.
CONTRACT_TABLES = (*MODEL_TABLES, "fits", "forecasts", "runs")
MEMO_SIZE = 256  # derived values kept per snapshot (least recently used dropped first)
T = TypeVar("T")


@dataclass(eq=False)
class Snapshot:
    """One published snapshot: its id, folder and manifest. Tables are read when first
    asked for and kept (as polars, timestamps naive UTC); `arrow` reads one afresh."""

    id: str
    path: Path
    manifest: dict[str, Any]
    _tables: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)
    _memo: LRUCache[Hashable, Any] = field(default_factory=lambda: LRUCache(MEMO_SIZE), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def table(self, name: str) -> pl.DataFrame:
        """One contract table as polars, timestamps naive UTC (read once, then kept)."""
        with self._lock:
            if name not in self._tables:
                self._tables[name] = naive_utc(pl.read_parquet(self.table_path(name)))
            return self._tables[name]

    def arrow(self, name: str) -> pa.Table:
        """One contract table as Arrow, as the engine wrote it."""
        return pq.read_table(self.table_path(name))

    def table_path(self, name: str) -> Path:
        if name not in CONTRACT_TABLES:
            raise SnapshotError(
                f"unknown snapshot table {name!r}; expected one of {', '.join(CONTRACT_TABLES)}"
            )
        path = self.path / f"{name}.parquet"
        if not path.exists():
            raise SnapshotError(
                f"snapshot {self.id} has no {path.name}; republish with `uptake run`"
            )
        return path

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per snapshot and key: what callers derive from the immutable
        tables (windowed tables, per-platform curves, colours) is computed once and kept."""
        with self._lock:
            if key in self._memo:
                return cast(T, self._memo[key])
        value = compute()  # outside the lock: it may read tables
        with self._lock:
            return cast(T, self._memo.setdefault(key, value))

    @property
    def definitions(self) -> dict[str, Any]:
        value = self.manifest.get("definitions") or {}
        return value if isinstance(value, dict) else {}

    @property
    def watermark(self) -> datetime | None:
        return parse_utc(self.manifest.get("watermark"))

    @property
    def platform_names(self) -> list[str]:
        return list(self.memo("platform_names", self._sorted_platform_names))

    def _sorted_platform_names(self) -> list[str]:
        return sorted(self.table("platforms")["platform"].to_list())


class SnapshotReader:
    """Finds the live snapshot under `serving` and keeps the current one (with the tables it
    has read) until another is published."""

    def __init__(self, serving: Path) -> None:
        self.serving = Path(serving)
        self._current: Snapshot | None = None
        self._lock = threading.Lock()

    def current_id(self) -> str | None:
        """The id named by CURRENT, or None when nothing has been published yet."""
        try:
            text = (self.serving / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def current(self) -> Snapshot | None:
        """The live snapshot (kept per id), or None when nothing has been published yet."""
        snapshot_id = self.current_id()
        if snapshot_id is None:
            return None
        with self._lock:
            if self._current is None or self._current.id != snapshot_id:
                self._current = open_snapshot(self.serving, snapshot_id)
            return self._current


def open_snapshot(serving: Path, snapshot_id: str) -> Snapshot:
    """The snapshot serving/<snapshot_id>/, its manifest read."""
    folder = serving / snapshot_id
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise SnapshotError(
            f"{serving / CURRENT} names snapshot {snapshot_id!r} but {folder / 'manifest.json'} "
            f"is missing or unreadable ({exc}); run `uptake run` to publish a new one"
        ) from exc
    return Snapshot(id=snapshot_id, path=folder, manifest=manifest)


def current_snapshot(settings: Settings) -> Snapshot | None:
    """The snapshot serving/CURRENT names, or None when nothing is published yet."""
    return SnapshotReader(settings.serving).current()


def read_table(snapshot: Snapshot, name: str) -> pa.Table:
    """One contract table of the snapshot as Arrow."""
    return snapshot.arrow(name)


def parse_utc(value: Any) -> datetime | None:
    """An ISO timestamp from a manifest ('...Z', an offset, or naive UTC) -> naive UTC
    datetime; None or '' stays None. Raises ValueError for text that is not a timestamp."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as naive UTC, whether an engine wrote them with a UTC zone or without."""
    zoned = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for name in zoned
    )
