"""The Spark engine (optional extra `spark`): the same models over a Parquet data lake,
publishing the same serving snapshot. See docs/SPARK.md.

Importing this package needs neither pyspark nor sqlglot; calling the engine without them
(or without Java) raises UsageError with an install hint."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.spark.lake import export_lake
from etl.spark.session import require_spark

if TYPE_CHECKING:
    from etl.config import Settings

__all__ = ["ENGINE", "export_lake", "require_spark", "run_spark_pass"]
ENGINE = "spark"  # the manifest's "engine"


def run_spark_pass(
    settings: Settings,
    now: datetime,
    master: str = "local[2]",
    *,
    lake: Path | str,
    session: Any = None,
    signup_sources: Mapping[str, str] | None = None,
) -> Path:
    """See etl.spark.engine.run_spark_pass (imported late: it needs sqlglot)."""
    require_spark()
    from etl.spark.engine import run_spark_pass as run  # noqa: PLC0415 - needs sqlglot

    return run(settings, now, master, lake=lake, session=session, signup_sources=signup_sources)
