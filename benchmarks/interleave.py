"""Before and after on a machine whose speed drifts: the bare floor and Uptake's full pass of
two checkouts, interleaved (floor, before, after, floor, before, after, ...), so each round
compares them at the same moment.

    .venv/bin/python benchmarks/interleave.py --before /work/old --after . \\
        --work /tmp/sbs03c/scale-0.3 [--rounds 3]

`--work` is a folder that `benchmarks/run.py --work W` prepared (`W/scale-S`, holding the
simulated `inbox`). Each step is run.py's own `--child floor` or `--child uptake`, in a fresh
process, with `PYTHONPATH` at the checkout it measures; prints each run and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_step(checkout: Path, step: str, work: Path, out: Path) -> dict[str, float]:
    """One child step of `checkout`'s run.py: its seconds, CPU seconds and ingest seconds."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    script = checkout / "benchmarks" / "run.py"
    command = [sys.executable, str(script), "--child", step, "--work", str(work), "--out", str(out)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{step} at {checkout} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    ingest = result.get("steps", {}).get("ingest", 0.0)
    return {"seconds": result["seconds"], "cpu_s": result["cpu_s"], "ingest": ingest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout measured first")
    parser.add_argument("--after", type=Path, required=True, help="checkout measured second")
    parser.add_argument("--work", type=Path, required=True, help="run.py's W/scale-S folder")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plan = [("floor", args.after, "floor"), ("before", args.before, "uptake"),
            ("after", args.after, "uptake")]  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in plan}
    for round_ in range(1, args.rounds + 1):
        for name, checkout, step in plan:
            out = Path(tempfile.mkdtemp(prefix=f"interleave-{name}-"))
            try:
                run = run_step(checkout.resolve(), step, args.work, out)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            runs[name].append(run)
            print(f"{name} #{round_}: {run['seconds']:.1f} s, {run['cpu_s']:.1f} CPU-s", flush=True)
    floor = {k: statistics.median(r[k] for r in runs["floor"]) for k in ("seconds", "cpu_s")}
    for name, _, _ in plan:
        wall = statistics.median(r["seconds"] for r in runs[name])
        cpu = statistics.median(r["cpu_s"] for r in runs[name])
        line = f"{name}: median {wall:.1f} s, {cpu:.1f} CPU-s"
        if name != "floor":
            ingest = statistics.median(r["ingest"] for r in runs[name])
            line += (
                f" (ingest {ingest:.1f} s); {wall / floor['seconds']:.2f}x wall, "
                f"{cpu / floor['cpu_s']:.2f}x CPU of the floor"
            )
        print(line)


if __name__ == "__main__":
    main()
