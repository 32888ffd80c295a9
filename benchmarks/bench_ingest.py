"""Ingestion benchmark: Uptake's lossless ingest (validate, quarantine, dedupe, ledger) next
to DuckDB's bare `CREATE TABLE AS SELECT * FROM read_parquet(...)` of the same files, in the
same run, with peak RSS of each (each in its own process).

    python benchmarks/bench_ingest.py [--signups 10_000_000] [--events 50_000_000] [--files 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

GENERATE = """
COPY (
    SELECT 'bench' AS platform, 'u' || i AS user_id,
           TIMESTAMP '2023-07-05 23:00:00' + to_microseconds((i::DOUBLE * 2.52e10 / $n)::BIGINT)
               AS signup_ts,
           ['organic', 'invite', 'ads'][1 + i % 3] AS channel, 'US' AS country,
           's' || i AS event_id
    FROM range($lo, $hi) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""
GENERATE_EVENTS = """
COPY (
    SELECT 'bench' AS platform, 'u' || (hash(i) % $users) AS user_id,
           TIMESTAMP '2023-07-05 23:00:00' + to_microseconds((i::DOUBLE * 2.592e12 / $n)::BIGINT)
               AS event_ts,
           ['session', 'post', 'reply', 'like', 'follow'][1 + (i % 5)::INT] AS event_type,
           'e' || i AS event_id
    FROM range($lo, $hi) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""


def generate(folder: Path, signups: int, events: int, files: int) -> None:
    con = duckdb.connect()
    for kind, total, sql in (("signups", signups, GENERATE), ("events", events, GENERATE_EVENTS)):
        for part in range(files):
            lo, hi = total * part // files, total * (part + 1) // files
            path = folder / f"{kind}-{part:03d}.parquet"
            params = {"lo": lo, "hi": hi, "n": total}
            if kind == "events":
                params["users"] = signups
            con.execute(sql.format(path=path), params)


def child(mode: str, inbox: Path, home: Path) -> None:
    """One measured step in a fresh process, so peak RSS is its own."""
    started = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    if mode == "bare":
        con = duckdb.connect(str(home / "bare.duckdb"))
        con.execute("SET threads = 2; SET memory_limit = '3GB'")
        con.execute(f"SET temp_directory = '{home / 'tmp'}'")
        for kind in ("signups", "events"):
            files = [str(p) for p in sorted(inbox.glob(f"{kind}-*.parquet"))]
            con.execute(f"CREATE TABLE {kind} AS SELECT * FROM read_parquet(?)", [files])
        con.close()
    else:
        from etl.config import load_settings
        from etl.ingest import IngestOptions
        from etl.pipeline import ingest_only

        settings = load_settings(home / "uptake", env={})
        ingest_only(settings, [inbox], IngestOptions(), now=datetime(2026, 1, 1))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_rss_mb": peak_mb}))


def measure(mode: str, inbox: Path, home: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--inbox", str(inbox), "--home", str(home)],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{mode} step failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--child")
    parser.add_argument("--inbox", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.inbox, args.home)
        return
    with tempfile.TemporaryDirectory(prefix="uptake-bench-") as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        inbox.mkdir()
        started = time.perf_counter()
        generate(inbox, args.signups, args.events, args.files)
        print(
            f"generated {args.signups:,} signups + {args.events:,} events in "
            f"{2 * args.files} Parquet files ({time.perf_counter() - started:.1f}s)"
        )
        bare = measure("bare", inbox, root / "bare")
        uptake = measure("uptake", inbox, root / "uptake")
    rows = args.signups + args.events
    print(f"machine: {platform.platform()}, {platform.python_version()}")
    print(f"{'step':<34}{'seconds':>9}{'rows/s':>14}{'peak RSS MB':>13}")
    for name, r in (
        ("bare DuckDB CTAS (floor)", bare),
        ("uptake ingest (validate+dedupe)", uptake),
    ):
        print(
            f"{name:<34}{r['seconds']:>9.1f}{rows / r['seconds']:>14,.0f}{r['peak_rss_mb']:>13,.0f}"
        )
    print(f"ratio uptake / floor: {uptake['seconds'] / bare['seconds']:.2f}x")


if __name__ == "__main__":
    main()
