"""Publishing the serving snapshot and reading it back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from models_helpers import add_events, add_signups, refresh

from etl.config import Settings, load_settings
from etl.contract import EXTRA_SCHEMAS
from etl.errors import SnapshotError
from etl.publish import publish_warehouse
from etl.snapshot import CONTRACT_TABLES, current_snapshot, read_table
from etl.warehouse import connect


@pytest.fixture
def con(settings: Settings, clock: datetime):  # type: ignore[no-untyped-def]
    connection = connect(settings)
    add_signups(connection, [("a", "u1", "2024-01-01 10:00"), ("a", "u2", "2024-01-02 10:00")], 1)
    add_events(connection, [("a", "u1", "2024-01-03 08:00")], 2)
    connection.execute(
        "INSERT INTO runs (run_id, started_at, finished_at, status, trigger) "
        "VALUES (1, ?, ?, 'ok', 'run')",
        [clock, clock],
    )
    refresh(connection, settings, clock)
    yield connection
    connection.close()


def test_publish_writes_every_table_manifest_and_current(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    assert current_snapshot(settings) is None
    folder = publish_warehouse(con, settings, run_id=1, now=clock)
    assert folder.name == "20261101T120000Z-r1"
    assert (settings.serving / "CURRENT").read_text().strip() == folder.name
    snapshot = current_snapshot(settings)
    assert snapshot is not None and snapshot.id == folder.name
    manifest = snapshot.manifest
    assert manifest["engine"] == "duckdb" and manifest["run_id"] == 1
    assert manifest["created"] == "2026-11-01T12:00:00Z"
    assert manifest["watermark"] == "2024-01-03T08:00:00Z"
    assert manifest["definitions"] == {**settings.definitions(), "signups": {}}  # no first-seen
    assert set(manifest["row_counts"]) == set(CONTRACT_TABLES)
    for name in CONTRACT_TABLES:
        assert read_table(snapshot, name).num_rows == manifest["row_counts"][name]
    assert read_table(snapshot, "platforms").to_pylist()[0]["signups"] == 2
    assert read_table(snapshot, "runs").to_pylist()[0]["status"] == "ok"
    for name, schema in EXTRA_SCHEMAS.items():  # absent fits: empty, with the contract columns
        assert read_table(snapshot, name).schema.equals(schema)
    assert not list(settings.serving.glob(".tmp-*"))
    assert not (settings.serving / "CURRENT.tmp").exists()


def test_publish_passes_extra_tables_through(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    fits = pa.table({"platform": ["a"], "model": ["logistic"]})
    publish_warehouse(con, settings, run_id=1, now=clock, extra_tables={"fits": fits})
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    assert read_table(snapshot, "fits").to_pylist() == [{"platform": "a", "model": "logistic"}]
    assert read_table(snapshot, "forecasts").num_rows == 0


def test_keeps_the_newest_snapshots_and_never_the_live_one(home: Path, clock: datetime) -> None:
    settings = load_settings(home, env={}, overrides={"keep_snapshots": 2})
    con = connect(settings)
    add_signups(con, [("a", "u1", "2024-01-01 10:00")], 1)
    refresh(con, settings, clock)
    published = [
        publish_warehouse(con, settings, run_id=n, now=clock + timedelta(minutes=n)).name
        for n in range(1, 5)
    ]
    left = sorted(p.name for p in settings.serving.iterdir() if p.is_dir())
    assert left == published[-2:]
    again = publish_warehouse(con, settings, run_id=4, now=clock + timedelta(minutes=4))
    assert again.name == published[-1] + "-1"  # same second and run: a distinct id
    snapshot = current_snapshot(settings)
    assert snapshot is not None and snapshot.id == again.name


def test_reader_errors_are_explanatory(con, settings, clock) -> None:  # type: ignore[no-untyped-def]
    publish_warehouse(con, settings, run_id=1, now=clock)
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    with pytest.raises(SnapshotError, match="unknown snapshot table"):
        read_table(snapshot, "nope")
    (settings.serving / "CURRENT").write_text("missing-id\n")
    with pytest.raises(SnapshotError, match="uptake run"):
        current_snapshot(settings)


def test_the_models_refresh_the_contracts_model_tables() -> None:
    # etl/snapshot.py lists the contract; the refresh runs exactly those models, in order.
    from etl.refresh import SERVING_MODELS
    from etl.snapshot import MODEL_TABLES

    assert tuple(SERVING_MODELS) == MODEL_TABLES
