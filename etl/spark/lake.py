"""The data-lake layout the Spark engine reads: one Parquet dataset per raw stream,
partitioned Hive-style by platform and UTC date, plus the run ledger:

    <lake>/signups/platform=P/date=D/*.parquet     user_id, signup_ts, channel, country,
                                                   person_id, event_id
    <lake>/events/platform=P/date=D/*.parquet      user_id, event_ts, event_type, event_id
    <lake>/deletions/platform=P/date=D/*.parquet   user_id, deleted_ts, event_id
    <lake>/runs/runs.parquet                       the run ledger as served (optional)

Timestamps are UTC instants (Parquet isAdjustedToUTC); `date` is the UTC date of the row's
timestamp. The streams are clean: validated and deduplicated (signups: one row per user,
the earliest), which is what `export_lake` writes from the warehouse. Any other producer
(a streaming job, a Spark ingest) must keep the same promise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from etl.refresh import model_sql
from etl.warehouse import sql_literal

STREAMS = {
    "signups": (
        "signup_ts",
        ("user_id", "signup_ts", "channel", "country", "person_id", "event_id"),
    ),
    "events": ("event_ts", ("user_id", "event_ts", "event_type", "event_id")),
    "deletions": ("deleted_ts", ("user_id", "deleted_ts", "event_id")),
}
RUNS = "runs"
# The warehouse relation each stream is exported from (events: their user ids joined back
# from the dictionary).
SOURCES = {"signups": "signups", "events": "events_with_ids", "deletions": "deletions"}


def export_query(stream: str) -> str:
    """The SELECT that COPY writes for one stream (identifiers only, no values)."""
    ts, columns = STREAMS[stream]
    listed = ", ".join(f"CAST({c} AS TIMESTAMPTZ) AS {c}" if c == ts else c for c in columns)
    return (
        f"SELECT platform, CAST({ts} AS DATE) AS date, {listed} FROM {SOURCES[stream]} "
        f"ORDER BY platform, date, {ts}"
    )


def export_lake(con: duckdb.DuckDBPyConnection, lake: Path | str) -> Path:
    """Write the warehouse's raw streams and run ledger into the lake layout (replacing
    what was there). Local paths only: for object storage, write the same layout with the
    producer that owns the bucket."""
    root = Path(lake)
    root.mkdir(parents=True, exist_ok=True)
    con.execute("SET TimeZone = 'UTC'")  # TIMESTAMP -> TIMESTAMPTZ reads the value as UTC
    for stream in STREAMS:
        target = root / stream
        if target.exists():
            shutil.rmtree(target)
        con.execute(
            f"COPY ({export_query(stream)}) TO {sql_literal(str(target))} "
            "(FORMAT parquet, PARTITION_BY (platform, date))"
        )
    ledger = root / RUNS
    if ledger.exists():
        shutil.rmtree(ledger)
    ledger.mkdir()
    runs = model_sql("runs")["serve"].rstrip().rstrip(";")
    con.execute(f"COPY ({runs}) TO {sql_literal(str(ledger / 'runs.parquet'))} (FORMAT parquet)")
    return root
