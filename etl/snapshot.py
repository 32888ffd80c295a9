"""The serving snapshot's contract (its tables and the CURRENT pointer) and reading the live
snapshot (for the CLI and anyone outside the dashboard).

Readers depend on this module, never on the writer (etl/publish.py), which checks every
snapshot it writes against CONTRACT_TABLES. Snapshots are immutable, so a reader may cache
tables by snapshot id; this module keeps no state itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import Settings
from etl.errors import SnapshotError

CURRENT = "CURRENT"  # serving/CURRENT names the live snapshot
# Every snapshot holds these tables: the SQL models' rollups (etl/models/), the growth-model
# fits and forecasts, and the run ledger. docs/ARCHITECTURE.md gives their columns.
CONTRACT_TABLES = (
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
    "fits",
    "forecasts",
    "runs",
)


@dataclass(frozen=True)
class Snapshot:
    """One published snapshot: its id, folder and manifest."""

    id: str
    path: Path
    manifest: dict[str, Any]


def current_snapshot(settings: Settings) -> Snapshot | None:
    """The snapshot serving/CURRENT names, or None when nothing is published yet."""
    pointer = settings.serving / CURRENT
    try:
        snapshot_id = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    if not snapshot_id:
        return None
    folder = settings.serving / snapshot_id
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise SnapshotError(
            f"{pointer} names snapshot {snapshot_id!r} but {folder / 'manifest.json'} is "
            f"missing or unreadable ({exc}); run `uptake run` to publish a new one"
        ) from exc
    return Snapshot(id=snapshot_id, path=folder, manifest=manifest)


def read_table(snapshot: Snapshot, name: str) -> pa.Table:
    """One contract table of the snapshot as Arrow."""
    if name not in CONTRACT_TABLES:
        raise SnapshotError(
            f"unknown snapshot table {name!r}; expected one of {', '.join(CONTRACT_TABLES)}"
        )
    path = snapshot.path / f"{name}.parquet"
    if not path.exists():
        raise SnapshotError(f"snapshot {snapshot.id} has no {path.name}; republish with uptake run")
    return pq.read_table(path)
