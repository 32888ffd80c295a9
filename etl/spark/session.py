"""The Spark session: checks that the optional pieces are installed, and in local mode binds
the driver to 127.0.0.1 only (no port on the machine's network address)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from typing import Any

from etl.errors import UsageError

INSTALL_HINT = (
    "install the Spark extra with `pip install -e '.[spark]'` (pyspark and sqlglot) and "
    "Java 17 (e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
)
SHUFFLE_PARTITIONS_LOCAL = 4


def require_spark() -> None:
    """UsageError (exit 2) with an install hint when pyspark, sqlglot or Java is missing."""
    missing = [name for name in ("pyspark", "sqlglot") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"the Spark engine needs {' and '.join(missing)}: {INSTALL_HINT}")
    if not java_available():
        raise UsageError(f"the Spark engine needs Java 17 (no `java` on PATH): {INSTALL_HINT}")


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def spark_session(master: str = "local[2]", app_name: str = "uptake") -> Any:
    """A SparkSession for `master`; the session time zone is UTC (timestamps are UTC
    instants everywhere), partition values stay strings (a platform named "2024" is not a
    number), and in local mode the UI is off and everything binds to 127.0.0.1."""
    require_spark()
    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    builder: Any = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if is_local(master):
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        # Python workers (if a step needs one) run this interpreter, not whatever
        # `python3` is first on PATH (a different minor version fails the pass).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS_LOCAL))
            # The lake has one small file per platform and day: pack them into few tasks.
            .config("spark.sql.files.openCostInBytes", str(64 * 1024 * 1024))
            # In local mode the driver is the executor: Spark's default 1 GB heap ran out
            # building a broadcast join at simulate scale 0.003. SPARK_DRIVER_MEMORY wins.
            .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        )
    return builder.getOrCreate()
