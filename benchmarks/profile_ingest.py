"""Profile one ingest run of a folder of files into an Uptake home, statement by statement.

Plans the files, then runs `ingest_files` in a transaction that is rolled back, so the
warehouse is left as it was, and times every statement the ingest executes: CPU seconds of
this process (DuckDB's threads included), wall seconds and the cores they kept busy.
Prints the costliest statements and the totals (the commit's checkpoint is not included).

    .venv/bin/python benchmarks/profile_ingest.py --home /tmp/h --input /tmp/files [--top 15]
        [--memory-limit 10GB] [--threads 2]

An empty home profiles a first load; a home holding data profiles an incremental run (for
example the base home of `benchmarks/run.py --work DIR` with its `delta` folder).
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from profile_refresh import add_engine_options, print_statements, profiled_settings, rolled_back

from etl.ingest import IngestOptions, ingest_files, plan_ingest
from etl.sources import discover
from etl.warehouse import connect


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="an Uptake home (may be new)")
    parser.add_argument("--input", type=Path, required=True, help="a file or folder to ingest")
    add_engine_options(parser)
    args = parser.parse_args(argv)
    settings = profiled_settings(args)
    con = connect(settings)
    options = IngestOptions()
    plan = plan_ingest(con, discover([args.input]), options)
    run = rolled_back(
        con,
        lambda timed: ingest_files(timed, settings, plan, options, run_id=0, now=datetime.now()),
    )
    result, profile, cpu, wall = run.result, run.profile, run.cpu, run.wall
    print(f"home {args.home}: memory_limit {settings.memory_limit}, threads {settings.threads}")
    print(
        f"ingest of {len(plan)} files, {result.total('rows_read'):,} rows (rolled back): "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / wall:.2f} cores)"
    )
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    spilled = profile.peak_temp_bytes / 1024**3
    print(f"peak temporary files: {spilled:.2f} GB; peak RSS {peak_gb:.2f} GB")
    print_statements(profile, args.top)
    con.close()


if __name__ == "__main__":
    main()
