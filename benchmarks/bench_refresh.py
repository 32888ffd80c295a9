"""Benchmark the metric refresh against DuckDB's bare load of the same data.

Generates a launch-shaped input in DuckDB from range() (signups: a burst in the first
7 hours then a steady trickle; usage events over 30 days, decaying per user), writes it to
Parquet, then in one process times:
  1. the bare load: CREATE TABLE AS SELECT * FROM read_parquet(...) of both files;
  2. a full refresh of 99% of the rows;
  3. an incremental refresh after appending the last 1% (new events and signups).
Prints wall and CPU seconds (user + system of this process, DuckDB's threads included: the
fairer figure on a shared machine), their ratios, and the process's peak RSS (the inputs
are generated in a child process, so it is that of the load and the refreshes).

    /tmp/venv/bin/python benchmarks/bench_refresh.py --signups 2000000 --events 10000000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

from etl.config import load_settings
from etl.load import assign_user_keys
from etl.refresh import refresh_models
from etl.warehouse import connect

LAUNCH = datetime(2026, 11, 1)
CLOCK = datetime(2026, 12, 15)


def generate(folder: Path, signups: int, events: int) -> None:
    """Parquet inputs: signups.parquet and events.parquet, with a `part` column (0 = first
    99% in time, 1 = the last 1%)."""
    con = duckdb.connect()
    con.execute("SET VARIABLE n = ?", [signups])
    con.execute("SET VARIABLE e = ?", [events])
    con.execute("SET VARIABLE launch = ?", [LAUNCH])
    con.execute(
        "CREATE TABLE s AS SELECT 'viral' AS platform, 'u' || i AS user_id, "
        "getvariable('launch') + to_microseconds(CAST(CASE WHEN i % 10 < 9 "
        "THEN 7 * 3600e6 * pow(i / getvariable('n'), 2) "
        "ELSE 30 * 86400e6 * (i / getvariable('n')) END AS BIGINT)) AS signup_ts "
        "FROM range(getvariable('n')) t(i)"
    )
    con.execute(
        "CREATE TABLE ev AS SELECT s.platform, s.user_id, "
        "s.signup_ts + to_microseconds(CAST(30 * 86400e6 * pow(random(), 3) AS BIGINT)) "
        "AS event_ts, 'post' AS event_type "
        "FROM range(getvariable('e')) t(j) "
        "JOIN s ON s.user_id = 'u' || CAST(hash(j) % getvariable('n') AS BIGINT)"
    )
    cut = con.execute("SELECT quantile_disc(event_ts, 0.99) FROM ev").fetchall()[0][0]
    cut_s = con.execute("SELECT quantile_disc(signup_ts, 0.99) FROM s").fetchall()[0][0]
    con.execute("SET VARIABLE cut = ?", [cut])
    con.execute("SET VARIABLE cut_s = ?", [cut_s])
    for table, column, cutoff, name in (
        ("s", "signup_ts", "cut_s", "signups"),
        ("ev", "event_ts", "cut", "events"),
    ):
        con.execute(
            f"CREATE TABLE out AS SELECT *, CAST({column} > getvariable('{cutoff}') AS INTEGER) "
            f"AS part FROM {table} ORDER BY {column}"
        )
        con.sql("SELECT * FROM out").write_parquet(str(folder / f"{name}.parquet"))
        con.execute("DROP TABLE out")
    con.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, action) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds of one action."""
    started, cpu = time.perf_counter(), cpu_seconds()
    action()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"{label:<34} {seconds:8.2f} s wall {cpu:8.2f} s CPU")
    return seconds, cpu


def load_part(con: duckdb.DuckDBPyConnection, folder: Path, part: int) -> None:
    """Raw rows as ingestion leaves them: one file id per stream and part."""
    con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, file_id) "
        "SELECT platform, user_id, signup_ts, ? FROM read_parquet(?) WHERE part = ?",
        [10 * part + 1, str(folder / "signups.parquet"), part],
    )
    con.execute(
        "INSERT INTO events (platform, user_id, event_ts, event_type, dedupe_key, file_id) "
        "SELECT platform, user_id, event_ts, event_type, hash(user_id, event_ts), ? "
        "FROM read_parquet(?) WHERE part = ?",
        [10 * part + 2, str(folder / "events.parquet"), part],
    )
    assign_user_keys(con, 10 * part + 1)


def refresh(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    settings = load_settings(con_home(con), env={})
    con.execute("BEGIN TRANSACTION")
    result = refresh_models(con, settings, CLOCK, full=full)
    con.execute("COMMIT")
    print("   ", result.summary()["timings"], "touched users:", result.touched_users)


def con_home(con: duckdb.DuckDBPyConnection) -> Path:
    path = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchall()[0][0]
    return Path(path).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=2_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--home", type=Path, help="working folder (default: a temp folder)")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:
        generate(args.generate_into, args.signups, args.events)
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    inputs = home / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    print(f"scale: {args.signups:,} signups, {args.events:,} events; home {home}")
    # In a child process: the generator's in-memory DuckDB (no memory limit) would otherwise
    # set this process's peak RSS (10 GB at 20M signups / 70M events), not the refresh.
    timed(
        "generate inputs (not measured)",
        lambda: subprocess.run(
            [sys.executable, __file__, "--generate-into", str(inputs),
             "--signups", str(args.signups), "--events", str(args.events)],
            check=True,
        ),
    )  # fmt: skip
    settings = load_settings(home, env={})
    con = connect(settings)
    bare = timed(
        "bare load (CTAS read_parquet)",
        lambda: con.execute(
            "CREATE TABLE bare_signups AS SELECT * FROM read_parquet(?);".replace(
                "?", "'" + str(inputs / "signups.parquet") + "'"
            )
            + "CREATE TABLE bare_events AS SELECT * FROM read_parquet('"
            + str(inputs / "events.parquet")
            + "')"
        ),
    )
    con.execute("DROP TABLE bare_signups; DROP TABLE bare_events")
    timed("raw tables, first 99% (not measured)", lambda: load_part(con, inputs, 0))
    full = timed("full refresh (99%)", lambda: refresh(con, full=True))
    timed("raw tables, last 1% (not measured)", lambda: load_part(con, inputs, 1))
    incremental = timed("incremental refresh (+1%)", lambda: refresh(con, full=False))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"full / bare load:        {full[0] / bare[0]:6.2f}x wall {full[1] / bare[1]:6.2f}x CPU")
    print(
        f"incremental / full:      {incremental[0] / full[0]:6.1%} wall"
        f" {incremental[1] / full[1]:6.1%} CPU"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"peak RSS:                {peak_gb:6.2f} GB")
    con.close()


if __name__ == "__main__":
    main()
