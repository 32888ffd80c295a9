"""`uptake run --engine spark` as one library function: ingest the inbox into the warehouse
as usual (without the DuckDB model refresh), write the warehouse's clean streams into the
lake, then one Spark pass over the lake publishes the snapshot. See docs/SPARK.md."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import etl.spark as engine
from etl.config import Settings
from etl.errors import SnapshotError
from etl.ingest import recorded_signup_sources
from etl.pipeline import RunResult, load_inbox
from etl.progress import timed_step
from etl.snapshot import current_snapshot
from etl.warehouse import connect, writer_lock

SPARK_MASTER = "local[2]"


def run_spark(
    settings: Settings, now: datetime, *, master: str = SPARK_MASTER, lake: str | None = None
) -> RunResult:
    """Ingest the inbox, export the lake and publish with one Spark pass on `master`.

    `lake` defaults to HOME/lake, which is rewritten from the warehouse on each pass; a
    lake given as a URI (s3a://...) is written by its own producer: read, never exported
    to. With nothing new since a Spark snapshot, the pass is a fast no-op. The extra
    `spark` is checked before anything is ingested, so a missing one changes nothing."""
    engine.require_spark()
    lake = lake or str(settings.home / "lake")
    exported = "://" not in lake
    result = load_inbox(settings, now, trigger="run")
    if result.status == "noop" and exported and live_engine(settings) == engine.ENGINE:
        return result
    result.status = "ok" if result.status == "noop" else result.status
    with writer_lock(settings):  # one writer of the lake and serving/ at a time
        con = connect(settings, read_only=True)
        try:
            sources = recorded_signup_sources(con)
            if exported:
                with timed_step(result.steps, "export_lake"):
                    engine.export_lake(con, Path(lake))
        finally:
            con.close()
        with timed_step(result.steps, "spark"):
            result.snapshot = engine.run_spark_pass(
                settings, now, master, lake=lake, signup_sources=sources
            )
    return result


def spark_summary(result: RunResult, master: str) -> dict[str, Any]:
    """The pass's summary, naming the engine and its master."""
    summary = result.summary()
    return {**summary, "line": f"{summary['line']} (spark, {master})", "engine": "spark"}


def live_engine(settings: Settings) -> str | None:
    """The engine that published the live snapshot (None when there is none)."""
    try:
        snapshot = current_snapshot(settings)
    except SnapshotError:
        return None
    return None if snapshot is None else str(snapshot.manifest.get("engine"))
