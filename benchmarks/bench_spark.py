"""The same data through both engines, at a few sizes, on this machine.

For each simulate scale, both presets (viral and steady, seed 1) are simulated into an
inbox and go through:
  1. the DuckDB engine: `ingest_and_publish` (ingest, then a full refresh of every model,
     the growth-model fits and the publish: the "duckdb" column is refresh + fit + publish);
  2. `export_lake` of that warehouse (the Spark engine's input);
  3. the Spark engine: `run_spark_pass` over the lake on one SparkSession started once
     (start-up time printed apart; a warm-up pass on a tiny input runs first, so the JVM's
     JIT warm-up is not counted in the first size).
Both snapshots must have the same row counts per table (tests/test_spark.py checks them
row for row). Prints seconds per step, Spark / DuckDB, and how each engine's time scales
with the input (the exponent b of time ~ rows^b between consecutive sizes; 1 = linear).

    /tmp/venv/bin/python benchmarks/bench_spark.py --scales 0.002 0.01 0.03

Needs the spark extra (pip install -e '.[spark]') and Java 17. docs/SPARK.md has the
figures and the cluster estimate built on them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from etl.config import Settings
from etl.ingest import IngestOptions
from etl.pipeline import ingest_and_publish
from etl.simulate import SimulationOptions, simulate
from etl.spark import export_lake, run_spark_pass
from etl.spark.session import spark_session
from etl.warehouse import connect, scalar

NOW = datetime(2030, 1, 1)


@dataclass
class Size:
    scale: float
    signups: int
    events: int
    ingest: float
    duckdb: float
    export: float
    spark: float

    @property
    def rows(self) -> int:
        return self.signups + self.events

    @property
    def ratio(self) -> float:
        return self.spark / self.duckdb


def row_counts(snapshot: Path) -> dict[str, int]:
    counts: dict[str, int] = json.loads((snapshot / "manifest.json").read_text())["row_counts"]
    return counts


def one_size(scale: float, root: Path, spark: Any, threads: int) -> Size:
    inbox = root / "inbox"
    for preset in ("viral", "steady"):
        simulate(SimulationOptions(preset=preset, scale=scale, seed=1), inbox, progress=False)
    duck = Settings(home=root / "duckdb", settle_seconds=0, threads=threads)
    result = ingest_and_publish(duck, [inbox], IngestOptions(), now=NOW)
    assert result.snapshot is not None, result.summary()["line"]
    steps = result.steps
    con = connect(duck, read_only=True)
    try:
        signups = int(scalar(con, "SELECT count(*) FROM signups"))
        events = int(scalar(con, "SELECT count(*) FROM events"))
        started = time.perf_counter()
        export_lake(con, root / "lake")
        export = time.perf_counter() - started
    finally:
        con.close()
    started = time.perf_counter()
    sparked = run_spark_pass(Settings(home=root / "spark"), NOW, lake=root / "lake", session=spark)
    spark_s = time.perf_counter() - started
    if row_counts(sparked) != row_counts(result.snapshot):
        raise SystemExit(f"row counts differ at scale {scale}: {row_counts(sparked)}")
    return Size(
        scale=scale,
        signups=signups,
        events=events,
        ingest=steps.get("ingest", 0.0),
        duckdb=sum(steps.get(k, 0.0) for k in ("refresh", "fit", "publish")),
        export=export,
        spark=spark_s,
    )


def exponent(small: float, large: float, rows_small: int, rows_large: int) -> float:
    return math.log(large / small) / math.log(rows_large / rows_small)


def report(sizes: list[Size], startup: float, master: str) -> None:
    print(f"\nSpark master {master}; session start-up {startup:.1f} s (once, not counted)")
    header = (
        f"{'scale':>6} {'signups':>9} {'events':>10} {'ingest s':>9} {'duckdb s':>9} "
        f"{'export s':>9} {'spark s':>8} {'spark/duckdb':>13}"
    )
    print(header)
    for s in sizes:
        print(
            f"{s.scale:>6g} {s.signups:>9,} {s.events:>10,} {s.ingest:>9.2f} {s.duckdb:>9.2f} "
            f"{s.export:>9.2f} {s.spark:>8.1f} {s.ratio:>12.1f}x"
        )
    for a, b in itertools.pairwise(sizes):
        duck_b = exponent(a.duckdb, b.duckdb, a.rows, b.rows)
        spark_b = exponent(a.spark, b.spark, a.rows, b.rows)
        print(
            f"scale {a.scale:g} -> {b.scale:g}: rows x{b.rows / a.rows:.1f}, "
            f"duckdb x{b.duckdb / a.duckdb:.2f} (time ~ rows^{duck_b:.2f}), "
            f"spark x{b.spark / a.spark:.2f} (rows^{spark_b:.2f})"
        )
    first, last = sizes[0], sizes[-1]
    if last.rows > first.rows:
        marginal = (last.spark - first.spark) / (last.rows - first.rows) * 1e6
        duck_marginal = (last.duckdb - first.duckdb) / (last.rows - first.rows) * 1e6
        print(
            f"marginal cost from scale {first.scale:g} to {last.scale:g}: spark "
            f"{marginal:.2f} s per million rows ({master}), duckdb "
            f"{duck_marginal:.2f} s per million rows"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.002, 0.01, 0.03])
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument(
        "--warmup-scale", type=float, default=0.0002, help="warm-up pass size (0: none)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the homes here (default: a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    started = time.perf_counter()
    spark = spark_session(args.master)
    startup = time.perf_counter() - started
    sizes = []
    try:
        scales = sorted(args.scales)
        if args.warmup_scale:
            one_size(args.warmup_scale, work / "warmup", spark, args.threads)
            print(f"warm-up pass done ({time.perf_counter() - started:.0f} s)", flush=True)
        for scale in scales:
            size = one_size(scale, work / f"scale-{scale:g}", spark, args.threads)
            print(
                f"scale {scale:g}: {size.rows:,} rows, duckdb {size.duckdb:.2f} s, "
                f"spark {size.spark:.1f} s",
                flush=True,
            )
            sizes.append(size)
    finally:
        spark.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report(sizes, startup, args.master)


if __name__ == "__main__":
    main()
