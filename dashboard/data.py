"""The dashboard's data: the serving snapshot (read through etl/snapshot.py, the one reader
the app, export and report share; never the warehouse) and the publicly reported
milestones (data/milestones.csv)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

REFERENCE_MILESTONES = Path(__file__).resolve().parents[1] / "data" / "milestones.csv"


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
