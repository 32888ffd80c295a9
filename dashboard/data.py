"""Reading serving snapshots: the dashboard's only data source (never the warehouse).

A snapshot is HOME/serving/<id>/ with one Parquet file per table and manifest.json;
HOME/serving/CURRENT names the live one. The reader re-reads CURRENT on every call (a tiny
file), so a newly published snapshot shows up without a restart, and caches each table of
the current snapshot in memory (snapshots are immutable, so the cache never goes stale)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import polars as pl

from etl.errors import SnapshotError
from etl.snapshot import CONTRACT_TABLES

# The snapshot contract is defined once, in etl/snapshot.py.
TABLES = CONTRACT_TABLES
MEMO_SIZE = 256  # derived values kept per snapshot (oldest dropped first)
T = TypeVar("T")
REFERENCE_MILESTONES = Path(__file__).resolve().parents[1] / "data" / "milestones.csv"


@dataclass
class Snapshot:
    """One immutable published snapshot; tables are read lazily and kept."""

    id: str
    folder: Path
    manifest: dict[str, Any]
    _tables: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def table(self, name: str) -> pl.DataFrame:
        if name not in TABLES:
            raise SnapshotError(f"unknown table {name!r}; the snapshot has {', '.join(TABLES)}")
        with self._lock:
            if name not in self._tables:
                self._tables[name] = _read_table(self.folder, name)
            return self._tables[name]

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per snapshot and key: what the charts derive from the immutable
        tables (windowed tables, per-platform curves, colours) is computed once and kept."""
        with self._lock:
            if key in self._memo:
                return cast(T, self._memo[key])
        value = compute()  # outside the lock: it may read tables
        with self._lock:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
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


def parse_utc(value: Any) -> datetime | None:
    """An ISO timestamp from a manifest -> naive UTC datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _read_table(folder: Path, name: str) -> pl.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.exists():
        raise SnapshotError(
            f"snapshot {folder.name} has no {path.name}; republish with `uptake run`"
        )
    return naive_utc(pl.read_parquet(path))


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


class SnapshotReader:
    """Finds the live snapshot under `serving` and keeps the current one's tables cached."""

    def __init__(self, serving: Path) -> None:
        self.serving = Path(serving)
        self._current: Snapshot | None = None
        self._lock = threading.Lock()

    def current_id(self) -> str | None:
        """The id named by CURRENT, or None when nothing has been published yet."""
        try:
            text = (self.serving / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def current(self) -> Snapshot | None:
        """The live snapshot (cached per id), or None when nothing has been published yet."""
        snapshot_id = self.current_id()
        if snapshot_id is None:
            return None
        with self._lock:
            if self._current is None or self._current.id != snapshot_id:
                self._current = self._open(snapshot_id)
            return self._current

    def _open(self, snapshot_id: str) -> Snapshot:
        folder = self.serving / snapshot_id
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except FileNotFoundError as exc:
            raise SnapshotError(
                f"CURRENT names snapshot {snapshot_id!r} but {folder}/manifest.json is missing"
            ) from exc
        return Snapshot(id=snapshot_id, folder=folder, manifest=manifest)


def reference_milestones_path(home: Path) -> Path:
    """HOME/milestones.csv when the user keeps their own, else the tracked reference file."""
    own = Path(home) / "milestones.csv"
    return own if own.exists() else REFERENCE_MILESTONES


def load_reported_milestones(path: Path) -> pl.DataFrame:
    """Publicly reported milestones (data/milestones.csv); empty when the file is absent."""
    if not path.exists():
        return pl.DataFrame()
    return pl.read_csv(
        path,
        infer_schema_length=None,
        schema_overrides={"users": pl.Int64, "elapsed_hours": pl.Float64},
    )
