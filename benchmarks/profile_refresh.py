"""Profile a full or (--incremental) the next refresh of an Uptake home, per statement.

Runs `refresh_models(full=True)` (with --incremental: the refresh the next pass would run,
over the rows loaded since the last one) in a transaction that is rolled back, so the
warehouse is left as it was, and times every statement the refresh executes: CPU seconds of this
process (DuckDB's threads included) and wall seconds, their ratio (the cores the statement
kept busy), and the temporary files DuckDB had spilled to after it. Prints the costliest
statements, the refresh's steps and the totals.

    /tmp/venv/bin/python benchmarks/profile_refresh.py --home /tmp/demo [--top 15]
        [--memory-limit 10GB] [--threads 2] [--incremental]

An incremental profile: copy a home, load a batch into the copy without refreshing
(`uptake --home COPY ingest --no-refresh DELTA`), then --incremental.

Use it on the home `uptake demo` leaves (--home of the demo) or on the one
`bench_refresh.py --home` builds.
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb

from etl.config import Settings, load_settings
from etl.refresh import refresh_models
from etl.warehouse import connect

T = TypeVar("T")
_COMMENT = re.compile(r"--[^\n]*")


def label(sql: str, width: int = 100) -> str:
    """The statement without its comments, on one line, cut to `width` characters."""
    return " ".join(_COMMENT.sub(" ", sql).split())[:width]


@dataclass
class Timing:
    cpu: float = 0.0
    wall: float = 0.0
    calls: int = 0


@dataclass
class Profile:
    by_statement: dict[str, Timing] = field(default_factory=dict)
    peak_temp_bytes: int = 0


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows


class TimedConnection:
    """A DuckDB connection whose execute() records each statement's CPU and wall time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
        self._con = con
        self._profile = profile

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Rows:
        cpu, wall = time.process_time(), time.perf_counter()
        cursor = self._con.execute(sql, parameters) if parameters else self._con.execute(sql)
        rows = cursor.fetchall() if cursor.description is not None else []
        timing = self._profile.by_statement.setdefault(label(sql), Timing())
        timing.cpu += time.process_time() - cpu
        timing.wall += time.perf_counter() - wall
        timing.calls += 1
        spilled = self._con.execute(
            "SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()"
        ).fetchall()[0][0]
        self._profile.peak_temp_bytes = max(self._profile.peak_temp_bytes, int(spilled))
        return _Rows(rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="an Uptake home with data")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="profile the refresh the next pass would run (rows loaded since the last "
        "refresh, e.g. by `uptake ingest --no-refresh`) instead of a full one",
    )
    add_engine_options(parser)
    args = parser.parse_args(argv)
    if not (args.home / "warehouse.duckdb").exists():
        parser.error(f"{args.home} has no warehouse.duckdb: run `uptake demo` or `uptake run`")
    settings = profiled_settings(args)
    con = connect(settings)
    run = rolled_back(
        con,
        lambda timed: refresh_models(timed, settings, datetime.now(), full=not args.incremental),
    )
    result, profile, cpu, wall = run.result, run.profile, run.cpu, run.wall
    print(f"home {args.home}: memory_limit {settings.memory_limit}, threads {settings.threads}")
    kind = "full" if result.full else f"incremental ({result.touched_users:,} users touched)"
    print(
        f"{kind} refresh (rolled back): {wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / wall:.2f} cores)"
    )
    print(f"peak temporary files: {profile.peak_temp_bytes / 1024**3:.2f} GB")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS: {peak_gb:.2f} GB")
    print("steps (wall s):", {k: round(v, 1) for k, v in result.timings.items() if v >= 0.05})
    print_statements(profile, args.top)
    con.close()


@dataclass
class Run(Generic[T]):
    """What `rolled_back` ran: its result, its statements' times, its CPU and wall seconds."""

    result: T
    profile: Profile
    cpu: float
    wall: float


def rolled_back(
    con: duckdb.DuckDBPyConnection, action: Callable[[duckdb.DuckDBPyConnection], T]
) -> Run[T]:
    """Run `action` on a connection that times each statement, inside a transaction that
    is rolled back (the warehouse is left as it was)."""
    profile = Profile()
    con.execute("BEGIN TRANSACTION")
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        result = action(TimedConnection(con, profile))  # type: ignore[arg-type]
    finally:
        con.execute("ROLLBACK")
    return Run(result, profile, time.process_time() - cpu, time.perf_counter() - wall)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=15, help="statements to list (default 15)")
    parser.add_argument("--memory-limit", help="DuckDB memory limit (default: the home's)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: the home's)")


def profiled_settings(args: argparse.Namespace) -> Settings:
    """The home's settings with the --memory-limit and --threads given."""
    overrides: dict[str, Any] = {}
    if args.memory_limit:
        overrides["memory_limit"] = args.memory_limit
    if args.threads:
        overrides["threads"] = args.threads
    return load_settings(args.home, overrides=overrides, env={})


def print_statements(profile: Profile, top: int) -> None:
    """The `top` statements by CPU seconds: CPU, wall, cores kept busy, calls."""
    print(f"\n{'CPU s':>8} {'wall s':>8} {'cores':>5} {'calls':>5}  statement")
    ranked = sorted(profile.by_statement.items(), key=lambda item: -item[1].cpu)
    for text, timing in ranked[:top]:
        cores = timing.cpu / timing.wall if timing.wall else 0.0
        print(f"{timing.cpu:8.2f} {timing.wall:8.2f} {cores:5.2f} {timing.calls:5d}  {text}")


if __name__ == "__main__":
    main()
