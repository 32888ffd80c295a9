"""Uptake side by side with the alternatives, on the same simulated input, in one run:
the DuckDB floor, Uptake's full and incremental passes, a pandas notebook, a
polars (lazy) version, and the dashboard's charts and PNG export on the snapshot.

    /tmp/venv/bin/python benchmarks/run.py [--scale 1.0] [--repeat 3] [--scaling 0.1,0.3]
        [--skip pandas,...] [--results benchmarks/RESULTS.md]

Input: `uptake simulate` of the demo (viral seed 1 + steady seed 2) at --scale. Each step
runs --repeat times, each time in a fresh child process, so its peak RSS
(getrusage(RUSAGE_SELF).ru_maxrss in the child) is its own; times are the median with the
min-max spread. The pandas and polars results are checked against Uptake's snapshot
(alt_check.compare) and any difference is printed. Incremental pass: the newest 1% of
each platform's rows (signups and events together, by time) are held back into their own
files; a warehouse that has loaded the other 99% (prepared once, not timed) is copied
fresh for each repeat, and the pass that loads the 1% is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
CLOCK = datetime(2026, 1, 1)
DEMO = (("viral", 1), ("steady", 2))
HELD_BACK = 0.01
SECTION = "## Side by side"
STEPS = ("floor", "uptake", "incremental", "pandas", "polars", "dashboard")


# --- input ------------------------------------------------------------------------------


def simulate_demo(inbox: Path, scale: float) -> int:
    """The demo's files into `inbox`; returns the rows written."""
    from etl.simulate import SimulationOptions, simulate

    rows = 0
    for preset, seed in DEMO:
        result = simulate(SimulationOptions(preset, scale=scale, seed=seed), inbox)
        rows += result.rows_written
    return rows


def split_newest(inbox: Path, base: Path, delta: Path, share: float) -> int:
    """Copy `inbox` into `base` without the newest `share` of each platform's rows, which go
    to `delta/<platform>/{signups,events}-delta.parquet`. Returns the rows held back."""
    con = duckdb.connect()
    held = 0
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        cut = _cut_time(con, folder, share)
        (delta / folder.name).mkdir(parents=True)
        (base / folder.name).mkdir(parents=True)
        for stream, ts in (("signups", "signup_ts"), ("events", "event_ts")):
            held += _split_stream(con, folder, stream, ts, cut=cut, base=base, delta=delta)
    con.close()
    return held


def _cut_time(con: duckdb.DuckDBPyConnection, folder: Path, share: float) -> datetime:
    times = (
        f"SELECT signup_ts AS ts FROM read_parquet('{folder}/signups-*.parquet') UNION ALL "
        f"SELECT event_ts FROM read_parquet('{folder}/events-*.parquet')"
    )
    row = con.execute(f"SELECT quantile_disc(ts, ?) FROM ({times})", [1 - share]).fetchone()
    assert row is not None
    cut: datetime = row[0]
    return cut


def _split_stream(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    stream: str,
    ts: str,
    *,
    cut: datetime,
    base: Path,
    delta: Path,
) -> int:
    held = 0
    for path in sorted(folder.glob(f"{stream}-*.parquet")):
        newest = con.execute(f"SELECT max({ts}) FROM read_parquet(?)", [str(path)]).fetchone()
        target = base / folder.name / path.name
        if newest is None or newest[0] is None or newest[0] <= cut:
            shutil.copyfile(path, target)
            continue
        query = f"SELECT * FROM read_parquet('{path}') WHERE {ts} <= ?"
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)", [cut])
    newer = f"SELECT * FROM read_parquet('{folder}/{stream}-*.parquet') WHERE {ts} > ?"
    out = delta / folder.name / f"{stream}-delta.parquet"
    con.execute(f"COPY ({newer}) TO '{out}' (FORMAT parquet)", [cut])
    count = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()
    held += int(count[0]) if count else 0
    return held


# --- the measured steps (each runs in a child process) ----------------------------------


def step_floor(work: Path, out: Path) -> dict[str, Any]:
    """DuckDB reading the input Parquet into two tables, nothing else."""
    con = duckdb.connect(str(out / "floor.duckdb"))
    con.execute("SET threads = 2; SET memory_limit = '3GB'")
    con.execute(f"SET temp_directory = '{out / 'tmp'}'")
    for stream in ("signups", "events"):
        files = [str(p) for p in sorted((work / "inbox").rglob(f"{stream}-*.parquet"))]
        con.execute(f"CREATE TABLE {stream} AS SELECT * FROM read_parquet(?)", [files])
    con.close()
    return {}


def _uptake_pass(home: Path, inbox: Path) -> dict[str, Any]:
    from etl.config import load_settings
    from etl.ingest import IngestOptions
    from etl.pipeline import ingest_and_publish

    settings = load_settings(home, env={})
    result = ingest_and_publish(settings, [inbox], IngestOptions(), now=CLOCK)
    if result.status != "ok":
        raise SystemExit(f"uptake pass {result.status}: {result.summary()['line']}")
    steps = {k: round(v, 2) for k, v in result.steps.items()}
    return {"steps": steps, "snapshot": str(result.snapshot)}


def step_uptake(work: Path, out: Path) -> dict[str, Any]:
    """Uptake's full pass (ingest, refresh, fits, publish) into a fresh home."""
    return _uptake_pass(out / "home", work / "inbox")


def step_incremental(work: Path, out: Path) -> dict[str, Any]:
    """The pass that loads the held-back 1% into a copy of the 99% warehouse."""
    return _uptake_pass(out / "home", work / "delta")


def _alternative(module: str, work: Path, out: Path) -> dict[str, Any]:
    import importlib

    from etl.config import DEFAULT_MILESTONES

    sys.path.insert(0, str(HERE))
    core_metrics = importlib.import_module(module).core_metrics
    started = time.perf_counter()
    tables = core_metrics(work / "inbox", "UTC", DEFAULT_MILESTONES, CLOCK)
    seconds = time.perf_counter() - started
    for name, table in tables.items():  # the results, for the check (not timed)
        if hasattr(table, "write_parquet"):
            table.write_parquet(out / f"{name}.parquet")
        else:
            table.to_parquet(out / f"{name}.parquet", index=False)
    return {"seconds": seconds}


def step_pandas(work: Path, out: Path) -> dict[str, Any]:
    return _alternative("alt_pandas", work, out)


def step_polars(work: Path, out: Path) -> dict[str, Any]:
    return _alternative("alt_polars", work, out)


def step_dashboard(work: Path, out: Path) -> dict[str, Any]:
    """Read the snapshot as the app does, build every chart, then a PNG of each."""
    from dashboard.charts import CHARTS, ViewOptions, build_chart
    from dashboard.errors import ChromiumMissingError, ExportError
    from dashboard.export import StaticRenderer, chart_inputs, export_chart
    from etl.config import load_settings

    started = time.perf_counter()
    inputs = chart_inputs(load_settings(work / "snapshot-home", env={}))
    for name in inputs.snapshot.manifest["row_counts"]:
        inputs.table(name)
    charts = {"load": time.perf_counter() - started}
    for chart in CHARTS:
        begun = time.perf_counter()
        build_chart(chart, inputs, ViewOptions())
        charts[chart] = time.perf_counter() - begun
    begun = time.perf_counter()
    try:
        with StaticRenderer() as renderer:
            for chart in CHARTS:
                export_chart(inputs, chart, out / f"{chart}.png", renderer=renderer)
        png: float | str = time.perf_counter() - begun
    except (ChromiumMissingError, ExportError) as exc:
        png = f"not measured: {exc}"
    build = sum(v for k, v in charts.items() if k != "load")
    return {"load_s": charts["load"], "build_s": build, "png_s": png, "charts": charts}


CHILD_STEPS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "floor": step_floor,
    "uptake": step_uptake,
    "incremental": step_incremental,
    "pandas": step_pandas,
    "polars": step_polars,
    "dashboard": step_dashboard,
}


def child(step: str, work: Path, out: Path) -> None:
    """One measured step; prints its seconds, peak RSS and details as JSON."""
    started = time.perf_counter()
    details = CHILD_STEPS[step](work, out)
    seconds = details.pop("seconds", time.perf_counter() - started)
    own = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds (all threads, plus Chromium for the PNGs): on a shared machine they move
    # far less with the load average than wall time does.
    spawned = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + spawned.ru_utime + spawned.ru_stime
    peak_mb = own.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "cpu_s": cpu, **details}))


# --- the parent: repeat, measure, check, report -----------------------------------------


@dataclass
class Measured:
    """Repeated runs of one step."""

    step: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    def spread(self) -> str:
        if len(self.seconds) < 2:
            return "1 run"
        return f"{min(self.seconds):.1f}-{max(self.seconds):.1f}"


def run_child(step: str, work: Path, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", step, "--work", str(work), "--out", str(out)]
    proc = subprocess.run(command, check=False, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure(step: str, work: Path, repeat: int, prepare: Callable[[Path], None]) -> Measured:
    measured = Measured(step)
    for attempt in range(repeat):
        out = work / "runs" / f"{step}-{attempt}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        prepare(out)
        result = run_child(step, work, out)
        measured.seconds.append(result.pop("seconds"))
        measured.peak_mb.append(result.pop("peak_rss_mb"))
        measured.cpu.append(result.pop("cpu_s"))
        measured.load.append(os.getloadavg()[0])
        measured.details.append(result)
        print(
            f"  {step} #{attempt + 1}: {measured.seconds[-1]:.1f} s "
            f"(CPU {measured.cpu[-1]:.1f} s), "
            f"{measured.peak_mb[-1]:,.0f} MB, load {measured.load[-1]:.1f} {result or ''}"
        )
        if attempt < repeat - 1 and step not in ("dashboard",):
            shutil.rmtree(out, ignore_errors=True)  # keep only the last run's output
    return measured


def no_preparation(_: Path) -> None:
    return None


def copy_base_home(work: Path) -> Callable[[Path], None]:
    def prepare(out: Path) -> None:
        shutil.copytree(work / "base-home", out / "home")

    return prepare


def check_alternative(work: Path, step: str) -> list[str]:
    """Differences between an alternative's tables and Uptake's snapshot."""
    sys.path.insert(0, str(HERE))
    import polars as pl
    from alt_check import CORE_TABLES, compare, uptake_core_metrics

    snapshot = Path((work / "snapshot").read_text().strip())
    runs = sorted((work / "runs").glob(f"{step}-*"))
    tables = {name: pl.read_parquet(runs[-1] / f"{name}.parquet") for name in CORE_TABLES}
    return compare(uptake_core_metrics(snapshot), tables)


@dataclass
class Benchmark:
    """Everything measured at one scale."""

    scale: float
    rows: int = 0
    held_back: int = 0
    prepare_s: float = 0.0
    steps: dict[str, Measured] = field(default_factory=dict)
    checks: dict[str, list[str]] = field(default_factory=dict)


def prepare_inputs(work: Path, bench: Benchmark, with_incremental: bool) -> None:
    started = time.perf_counter()
    bench.rows = simulate_demo(work / "inbox", bench.scale)
    if with_incremental:
        bench.held_back = split_newest(work / "inbox", work / "base", work / "delta", HELD_BACK)
        base = run_child("uptake-base", work, work)  # the 99% warehouse, not timed
        print(f"  99% warehouse prepared in {base['seconds']:.1f} s")
    bench.prepare_s = time.perf_counter() - started
    print(
        f"scale {bench.scale}: {bench.rows:,} rows simulated; prepared in {bench.prepare_s:.0f} s"
    )


def step_uptake_base(work: Path, out: Path) -> dict[str, Any]:
    return _uptake_pass(work / "base-home", work / "base")


CHILD_STEPS["uptake-base"] = step_uptake_base


def run_scale(work: Path, scale: float, repeat: int, steps: tuple[str, ...]) -> Benchmark:
    bench = Benchmark(scale)
    prepare_inputs(work, bench, "incremental" in steps)
    for step in steps:
        prepare = copy_base_home(work) if step == "incremental" else no_preparation
        bench.steps[step] = measure(step, work, repeat, prepare)
        if step == "uptake":
            last = bench.steps[step].details[-1]["snapshot"]
            (work / "snapshot").write_text(last + "\n")
            home = work / "snapshot-home"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            (home / "serving").symlink_to(Path(last).parent)
        if step in ("pandas", "polars"):
            bench.checks[step] = check_alternative(work, step)
            verdict = "same numbers as Uptake" if not bench.checks[step] else "DIFFERENT"
            print(f"  {step} check: {verdict}")
            for difference in bench.checks[step]:
                print(difference)
    return bench


# --- report -----------------------------------------------------------------------------


def ratio(bench: Benchmark, top: str, bottom: str) -> str:
    """Wall-time ratio of the medians, and the CPU-time ratio in brackets."""
    if top not in bench.steps or bottom not in bench.steps:
        return "n/a"
    upper, lower = bench.steps[top], bench.steps[bottom]
    return f"{upper.median / lower.median:.2f}x ({upper.median_cpu / lower.median_cpu:.2f}x CPU)"


def step_table(bench: Benchmark) -> list[str]:
    labels = {
        "floor": "bare floor: DuckDB CTAS read_parquet",
        "uptake": "Uptake full pass (ingest, models, fits, publish)",
        "incremental": "Uptake incremental pass (+1% newest rows)",
        "pandas": "pandas notebook (core metrics)",
        "polars": "polars lazy (core metrics)",
        "dashboard": "dashboard: read snapshot + build every chart + PNG each",
    }
    lines = [
        "| step | median s | spread (min-max) | CPU s | peak RSS MB (max) | load avg |",
        "|---|---|---|---|---|---|",
    ]
    for step, measured in bench.steps.items():
        lines.append(
            f"| {labels[step]} | {measured.median:.1f} | {measured.spread()} | "
            f"{measured.median_cpu:.1f} | "
            f"{max(measured.peak_mb):,.0f} | {min(measured.load):.1f}-{max(measured.load):.1f} |"
        )
    return lines


def ratio_table(bench: Benchmark) -> list[str]:
    return [
        "| ratio | value | target |",
        "|---|---|---|",
        f"| Uptake / floor | {ratio(bench, 'uptake', 'floor')} | at most 2.0x (goal 1.5x) |",
        f"| pandas / Uptake | {ratio(bench, 'pandas', 'uptake')} | at least 3x in CPU |",
        f"| polars / Uptake | {ratio(bench, 'polars', 'uptake')} | |",
        f"| incremental / full | {ratio(bench, 'incremental', 'uptake')} | at most 0.05x |",
    ]


def scaling_table(benches: list[Benchmark]) -> list[str]:
    names = [s for s in ("floor", "uptake", "pandas", "polars") if s in benches[-1].steps]
    head = "| scale | rows | " + " | ".join(f"{n} s (CPU s) / peak MB" for n in names) + " |"
    lines = [head, "|---|---|" + "---|" * len(names)]
    for bench in sorted(benches, key=lambda b: b.scale):
        cells = [
            f"{bench.steps[n].median:.1f} ({bench.steps[n].median_cpu:.1f}) / "
            f"{max(bench.steps[n].peak_mb):,.0f}"
            if n in bench.steps
            else "n/a"
            for n in names
        ]
        lines.append(f"| {bench.scale:g}x | {bench.rows:,} | " + " | ".join(cells) + " |")
    return lines


def machine() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.platform()}, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def report(main: Benchmark, scaling: list[Benchmark], command: str) -> str:
    load = os.getloadavg()
    lines = [
        SECTION,
        "",
        f"Machine: {machine()}; load average at the end {load[0]:.1f}, "
        f"{load[1]:.1f}, {load[2]:.1f} (1, 5, 15 min). Command:",
        "",
        f"    {command}",
        "",
    ]
    lines += [f"Scale {main.scale:g}x: {main.rows:,} rows (signups + usage events).", ""]
    lines += [*step_table(main), "", *ratio_table(main), ""]
    for step, differences in main.checks.items():
        verdict = "same numbers as Uptake" if not differences else f"{len(differences)} differ"
        lines.append(f"- {step} vs Uptake's snapshot: {verdict}")
    if len(scaling) > 1:
        lines += ["", "Scaling:", "", *scaling_table(scaling)]
    return "\n".join(lines) + "\n"


def write_section(results: Path, section: str) -> None:
    """Replace this issue's section of RESULTS.md (or append it), keeping the others."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    results.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scaling", default="", help="other scales, e.g. 0.1,0.3 (1 run each)")
    parser.add_argument("--skip", default="", help="steps to leave out, e.g. pandas")
    parser.add_argument("--results", type=Path, help="write the section into this RESULTS.md")
    parser.add_argument("--work", type=Path, help="working folder (default: a temp folder)")
    parser.add_argument("--child")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.work, args.out)
        return
    skipped = set(filter(None, args.skip.split(",")))
    steps = tuple(s for s in STEPS if s not in skipped)
    scaling_steps = tuple(s for s in ("floor", "uptake", "pandas", "polars") if s in steps)
    root = args.work or Path(tempfile.mkdtemp(prefix="uptake-side-by-side-"))
    benches = []
    for scale in sorted(float(s) for s in args.scaling.split(",") if s):
        benches.append(run_scale(root / f"scale-{scale:g}", scale, 1, scaling_steps))
    main_bench = run_scale(root / f"scale-{args.scale:g}", args.scale, args.repeat, steps)
    benches.append(main_bench)
    command = "/tmp/venv/bin/python benchmarks/run.py " + " ".join(sys.argv[1:])
    section = report(main_bench, benches, command)
    print()
    print(section)
    if args.results:
        write_section(args.results, section)
    if not args.work:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
