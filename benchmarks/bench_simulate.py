"""Benchmark of `uptake simulate`: throughput and peak memory at a chosen scale.

    python benchmarks/bench_simulate.py [--scale 1.0] [--seed 1] [--compact] [--keep DIR]
        [--against REV]

Simulates both presets into a temporary home, then prints, per preset and in total:
usage events, signup rows, files, bytes, wall and CPU seconds, events/s and rows/s, and
the peak RSS of the process. As a yardstick measured in the same run on the same
machine, it also times numpy drawing the same number of random int64 values and pyarrow
writing them as one-column zstd Parquet files of the same size: the ratio says how far
the simulator is from the cost of just producing and storing that many numbers.
`--compact` simulates with zstd id columns (SimulationOptions.compact) instead of snappy.

With `--against REV` (e.g. a commit before a speed-up), the simulator of that git revision
(its `etl/` extracted with `git archive`) runs the same presets right after, in a child
process of its own (so its peak RSS is its own), and the speed-up is printed in wall and
CPU time. On a machine shared with other work, CPU seconds are the steadier figure; the
main thread's CPU seconds (drawing rows) and half the process's (writer threads build and
write the files) bound the wall time on two free cores, printed as "at best" events/s."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl.simulate import SimulationOptions, SimulationResult, simulate
from etl.simulate.simulation import ROWS_PER_FILE

PRESETS = ("viral", "steady")
REPOSITORY = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss would carry over the parent's
    peak into a child started with --against), else ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    peak = next(row for row in status.splitlines() if row.startswith("VmHWM:"))
    return int(peak.split()[1]) / 1024


def run_preset(
    preset: str, scale: float, seed: int, inbox: Path, compact: bool = False
) -> tuple[SimulationResult, float, float]:
    """The result, the CPU seconds of the process and those of the calling thread."""
    options = SimulationOptions(preset=preset, scale=scale, seed=seed)
    # Revisions before the option (--against) always wrote zstd ids, i.e. compact files.
    if compact and "compact" in SimulationOptions.__dataclass_fields__:
        options = SimulationOptions(preset=preset, scale=scale, seed=seed, compact=True)
    cpu, thread = time.process_time(), time.thread_time()
    result = simulate(options, inbox)
    return result, time.process_time() - cpu, time.thread_time() - thread


def baseline(rows: int, folder: Path, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds to draw `rows` random int64s and write them to Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(seed))
    wall, cpu = time.perf_counter(), time.process_time()
    for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        values = rng.integers(0, 2**62, min(ROWS_PER_FILE, rows - start), dtype=np.int64)
        pq.write_table(pa.table({"value": values}), folder / f"{part}.parquet", compression="zstd")
    return time.perf_counter() - wall, time.process_time() - cpu


def line(label: str, result: dict[str, Any]) -> str:
    return (
        f"{label:<8} events {result['events']:>12,}  signups {result['signups']:>11,}  "
        f"files {result['files']:>4}  {result['bytes'] / 1e6:>8,.0f} MB  "
        f"wall {result['wall']:6.1f} s  cpu {result['cpu']:6.1f} s "
        f"(main thread {result.get('main_cpu', float('nan')):5.1f} s)  "
        f"{result['events'] / result['wall'] / 1e6:5.2f}M events/s  "
        f"{result['rows'] / result['wall'] / 1e6:5.2f}M rows/s; "
        f"on 2 free cores at best {two_core_rate(result) / 1e6:5.2f}M events/s"
    )


def two_core_rate(result: dict[str, Any]) -> float:
    """Events/s on two otherwise idle cores, at best: the main thread's CPU time and half
    the process's CPU time are both lower bounds of the wall time there."""
    return float(result["events"] / max(result.get("main_cpu", 0.0), result["cpu"] / 2))


def measure(scale: float, seed: int, home: Path, compact: bool = False) -> dict[str, Any]:
    """Both presets into `home`: per preset and total figures, and the peak RSS."""
    figures: dict[str, Any] = {}
    for preset in PRESETS:
        result, cpu, main_cpu = run_preset(preset, scale, seed, home / "inbox", compact)
        figures[preset] = {
            "events": result.events,
            "signups": result.signups,
            "rows": result.rows_written,
            "files": len(result.files),
            "bytes": result.bytes_written,
            "wall": result.seconds,
            "cpu": cpu,
            "main_cpu": main_cpu,
            "milestone": f"{result.milestone_users:,}th signup at "
            f"{(result.milestone_elapsed_s or float('nan')) / 3600:.2f} h",
        }
    figures["total"] = {
        key: sum(figures[p][key] for p in PRESETS)
        for key in ("events", "signups", "rows", "files", "bytes", "wall", "cpu", "main_cpu")
    }
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def report(figures: dict[str, Any]) -> None:
    for preset in PRESETS:
        print(line(preset, figures[preset]))
        print(f"         {figures[preset]['milestone']}")
    print(f"{line('total', figures['total'])}  peak RSS {figures['peak_rss_mb']:,.0f} MB")


def measure_revision(
    revision: str, scale: float, seed: int, home: Path, compact: bool = False
) -> dict[str, Any]:
    """The same measurement with the `etl/` package of a git revision, in a child process."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", revision, "etl"],
        check=True,
        capture_output=True,
    ).stdout
    source = home / "source"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    child = subprocess.run(
        [sys.executable, __file__, "--scale", str(scale), "--seed", str(seed), "--json"]
        + (["--compact"] if compact else []),
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(source)},
    )
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--compact", action="store_true", help="zstd id columns (smaller files, more CPU)"
    )
    parser.add_argument("--keep", type=Path, help="write into this home and keep the files")
    parser.add_argument("--against", metavar="REV", help="also run this git revision's simulator")
    parser.add_argument("--json", action="store_true", help="only print the figures as JSON")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    try:
        if args.json:
            print(json.dumps(measure(args.scale, args.seed, home, args.compact)))
            return
        print(f"python {platform.python_version()} on {platform.platform()}, scale {args.scale}")
        figures = measure(args.scale, args.seed, home, args.compact)
        report(figures)
        total = figures["total"]
        base_wall, base_cpu = baseline(total["rows"], home / "baseline", args.seed)
        print(
            f"baseline numpy int64 + pyarrow zstd, {total['rows']:,} values: "
            f"wall {base_wall:.1f} s  cpu {base_cpu:.1f} s  "
            f"{total['rows'] / base_wall / 1e6:.2f}M rows/s; "
            f"simulator/baseline wall ratio {total['wall'] / base_wall:.2f}"
        )
        if args.against:
            shutil.rmtree(home / "inbox", ignore_errors=True)
            print(f"--- the simulator of {args.against}, same scale and seed:")
            old = measure_revision(
                args.against, args.scale, args.seed, home / "against", args.compact
            )
            report(old)
            print(
                f"speed-up over {args.against}: wall {old['total']['wall'] / total['wall']:.2f}x, "
                f"cpu {old['total']['cpu'] / total['cpu']:.2f}x, main thread "
                f"{old['total']['main_cpu'] / total['main_cpu']:.2f}x, 2-core bound "
                f"{two_core_rate(total) / two_core_rate(old['total']):.2f}x; events/s "
                f"{total['events'] / total['wall'] / 1e6:.2f}M now vs "
                f"{old['total']['events'] / old['total']['wall'] / 1e6:.2f}M; peak RSS "
                f"{figures['peak_rss_mb']:,.0f} MB now vs {old['peak_rss_mb']:,.0f} MB"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
