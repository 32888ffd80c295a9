"""Soak test of scheduled runs: `uptake schedule` at a short interval for a few minutes while
files keep arriving in the inbox and readers keep reading the serving snapshot and
`uptake status`; then SIGTERM, one more pass, and the checks:

  (a) every input row is accounted for: for every file written, the file ledger's
      rows read = loaded + duplicate + quarantined, and rows read = rows written;
  (b) the final snapshot equals a clean one-shot rebuild (`uptake run` in a fresh home over
      the same files), table for table (the run ledger table aside);
  (c) no reader saw a half-written snapshot (a manifest, a table or a row count missing or
      wrong) or an error, and `uptake status` never failed.

The writer (its own process) splits simulated launches (`uptake simulate --dirty`, so some
rows are faulty) into pieces and drops them into the inbox in three ways: Parquet written
as `*.tmp` and renamed, NDJSON written as `*.part` and renamed, and CSV written slowly in
place (chunks a fraction of `settle_seconds` apart: the scheduler must wait for it to
settle). Pieces are numbered in arrival order, so a clean run that reads them in name order
sees them in the same order.

    /tmp/venv/bin/python benchmarks/soak.py --minutes 3 --every 5s

Prints passes, skipped ticks, pass durations p50/p95, rows/s, reader and status latency
p50/p95, the scheduler's peak RSS, errors, and PASS/FAIL per check (exit code 1 on FAIL).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

UPTAKE = [sys.executable, "-m", "etl.cli"]


def uptake(home: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UPTAKE, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------- writer


def simulate_sources(work: Path, scale: float, dirty: float, seed: int) -> list[Path]:
    """Simulated launches (viral and steady) as Parquet files, in time order (day first)."""
    source = work / "source"
    for preset in ("viral", "steady"):
        done = uptake(
            source,
            "simulate",
            "--preset",
            preset,
            "--scale",
            str(scale),
            "--dirty",
            str(dirty),
            "--seed",
            str(seed),
            "--days",
            "14",
            "--quiet",
        )
        if done.returncode:
            raise SystemExit(f"simulate {preset} failed: {done.stderr}")
    files = list((source / "inbox").rglob("*.parquet"))
    # signups-d003-p00.parquet -> day 3; signups before events of the same day
    return sorted(files, key=lambda p: (p.stem.split("-")[1], p.stem, p.parent.name))


def _write_slowly(path: Path, data: bytes, pause_s: float, chunks: int) -> None:
    step = max(1, len(data) // chunks + 1)
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            os.fsync(handle.fileno())
            time.sleep(pause_s)


def writer(sources: list[str], inbox: str, written: str, plan: dict[str, float]) -> None:
    """Drop pieces of the source files into the inbox over `seconds`; log each piece (name,
    rows, how it was written) to written/pieces.jsonl and keep a copy in written/."""
    import io

    import polars as pl
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    seconds, settle_s = plan["seconds"], plan["settle_s"]
    rnd = random.Random(int(plan["seed"]))
    inbox_path, written_path = Path(inbox), Path(written)
    log = (written_path / "pieces.jsonl").open("a")
    started = time.monotonic()
    sequence = 0
    for index, name in enumerate(sources):
        # Spread the files over the time given (a little faster at first: the launch burst).
        due = started + seconds * ((index + 1) / len(sources)) ** 1.3
        time.sleep(max(0.0, due - time.monotonic()))
        table = pq.read_table(name)
        parts = rnd.randint(1, 4)
        bounds = sorted(
            {0, table.num_rows, *(rnd.randrange(table.num_rows + 1) for _ in range(parts - 1))}
        )
        for lo, hi in itertools.pairwise(bounds):
            piece = table.slice(lo, hi - lo)
            sequence += 1
            how = ("parquet-renamed", "ndjson-renamed", "csv-slow")[sequence % 3]
            stem = f"{sequence:05d}-{Path(name).parent.name}-{Path(name).stem}"
            if how == "parquet-renamed":
                final = inbox_path / f"{stem}.parquet"
                staged = final.with_name(final.name + ".tmp")
                pq.write_table(piece, staged)
                os.replace(staged, final)
            elif how == "ndjson-renamed":
                final = inbox_path / f"{stem}.ndjson"
                staged = final.with_name(final.name + ".part")
                frame = pl.from_arrow(piece)
                assert isinstance(frame, pl.DataFrame)
                frame.write_ndjson(staged)
                os.replace(staged, final)
            else:
                final = inbox_path / f"{stem}.csv"
                buffer = io.BytesIO()
                pacsv.write_csv(piece, buffer)
                # Chunks well inside settle_seconds of each other: never picked up half-way.
                _write_slowly(final, buffer.getvalue(), pause_s=settle_s / 8, chunks=6)
            shutil.copy2(final, written_path / final.name)
            log.write(json.dumps({"name": final.name, "rows": piece.num_rows, "how": how}) + "\n")
            log.flush()
    log.close()


# ---------------------------------------------------------------------------------- readers


def snapshot_reader(serving: str, stop_file: str, out: str) -> None:
    """Read every table of the live snapshot, again and again, as the dashboard does (a new
    reader each time: nothing cached); check each table against the manifest's row count."""
    from etl.snapshot import CONTRACT_TABLES, SnapshotReader

    latencies: list[float] = []
    errors: list[str] = []
    ids: set[str] = set()
    reads = 0
    while not Path(stop_file).exists():
        started = time.perf_counter()
        try:
            snapshot = SnapshotReader(Path(serving)).current()
            if snapshot is not None:
                counts = snapshot.manifest["row_counts"]
                for name in CONTRACT_TABLES:
                    rows = snapshot.table(name).height
                    if rows != counts[name]:
                        errors.append(
                            f"{snapshot.id}: {name} has {rows} rows, manifest {counts[name]}"
                        )
                ids.add(snapshot.id)
                reads += 1
                latencies.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.2)
    Path(out).write_text(
        json.dumps({"latencies": latencies, "errors": errors, "ids": sorted(ids), "reads": reads})
    )


def status_reader(home: str, stop_file: str, out: str) -> None:
    """`uptake status --json` every few seconds (it opens the warehouse read-only when no
    pass holds it, else reports from the snapshot)."""
    latencies: list[float] = []
    errors: list[str] = []
    busy = 0
    while not Path(stop_file).exists():
        started = time.perf_counter()
        done = uptake(Path(home), "status", "--json", timeout=300)
        latencies.append(time.perf_counter() - started)
        if done.returncode:
            errors.append(f"exit {done.returncode}: {done.stderr.strip()}")
        else:
            busy += bool(json.loads(done.stdout).get("run_in_progress"))
        time.sleep(2.0)
    Path(out).write_text(json.dumps({"latencies": latencies, "errors": errors, "busy": busy}))


# ---------------------------------------------------------------------------------- checks


def ledger_check(home: Path, pieces: list[dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT path, outcome, rows_read, rows_loaded, rows_duplicate, rows_quarantined "
            "FROM files"
        ).fetchall()
    finally:
        con.close()
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_name.setdefault(Path(row[0]).name, []).append(row)
    problems = []
    totals = {"written": 0, "read": 0, "loaded": 0, "duplicate": 0, "quarantined": 0}
    for piece in pieces:
        totals["written"] += piece["rows"]
        loads = [r for r in by_name.pop(piece["name"], []) if r[1] != "already_loaded"]
        if len(loads) != 1 or loads[0][1] != "loaded":
            problems.append(f"{piece['name']}: ledger rows {loads}")
            continue
        _, _, read, loaded, duplicate, quarantined = loads[0]
        totals["read"] += read
        totals["loaded"] += loaded
        totals["duplicate"] += duplicate
        totals["quarantined"] += quarantined
        if read != piece["rows"] or read != loaded + duplicate + quarantined:
            problems.append(
                f"{piece['name']}: written {piece['rows']}, read {read} = {loaded} + "
                f"{duplicate} + {quarantined}"
            )
    problems += [f"unexpected file in the ledger: {name}" for name in by_name]
    return not problems, {**totals, "problems": problems[:10]}


def snapshot_rows(home: Path) -> dict[str, list[Any]]:
    from etl.config import load_settings
    from etl.snapshot import CONTRACT_TABLES, current_snapshot, read_table

    snapshot = current_snapshot(load_settings(home, env={}))
    assert snapshot is not None
    return {
        name: sorted(map(repr, read_table(snapshot, name).to_pylist()))
        for name in CONTRACT_TABLES
        if name != "runs"
    }


def clean_rebuild_check(work: Path, soak_home: Path) -> tuple[bool, dict[str, Any]]:
    clean = work / "clean"
    (clean / "inbox").mkdir(parents=True)
    (clean / "uptake.toml").write_text('settle_seconds = "0s"\n')
    for piece in sorted((work / "written").iterdir()):
        if piece.name != "pieces.jsonl":
            shutil.copy2(piece, clean / "inbox" / piece.name)
    started = time.perf_counter()
    done = uptake(clean, "run", "--json")
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        return False, {"error": done.stderr}
    mine, theirs = snapshot_rows(soak_home), snapshot_rows(clean)
    differing = [name for name in theirs if mine.get(name) != theirs[name]]
    return not differing, {
        "tables": len(theirs),
        "differing": differing,
        "clean_run_s": round(seconds, 1),
        "rows": {k: len(v) for k, v in theirs.items()},
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the soak runs")
    parser.add_argument("--every", default="5s", help="the scheduler's interval")
    parser.add_argument("--scale", type=float, default=0.003, help="simulation scale")
    parser.add_argument("--dirty", type=float, default=0.01, help="share of faulty rows")
    parser.add_argument("--settle", default="2s", help="settle_seconds of the soak home")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, help="work folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="uptake-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    (home / "inbox").mkdir(parents=True)
    (work / "written").mkdir()
    (home / "uptake.toml").write_text(f'settle_seconds = "{args.settle}"\n')
    settle_s = float(args.settle.rstrip("s"))
    print(f"work folder {work}", flush=True)

    t = time.perf_counter()
    sources = simulate_sources(work, args.scale, args.dirty, args.seed)
    print(f"simulated {len(sources)} source files in {time.perf_counter() - t:.1f}s", flush=True)

    stop_file = work / "stop"
    log_path = work / "schedule.log"
    spawn = mp.get_context("spawn")
    soak_s = args.minutes * 60
    with log_path.open("w") as log:
        scheduler = subprocess.Popen(
            [*UPTAKE, "--home", str(home), "schedule", "--every", args.every, "--log-json"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        write = spawn.Process(
            target=writer,
            args=(
                [str(s) for s in sources],
                str(home / "inbox"),
                str(work / "written"),
                {"seconds": soak_s * 0.85, "settle_s": settle_s, "seed": args.seed},
            ),
        )
        read = spawn.Process(
            target=snapshot_reader,
            args=(str(home / "serving"), str(stop_file), str(work / "reader.json")),
        )
        status = spawn.Process(
            target=status_reader, args=(str(home), str(stop_file), str(work / "status.json"))
        )
        started = time.monotonic()
        for process in (write, read, status):
            process.start()
        while time.monotonic() - started < soak_s:
            time.sleep(1)
            if scheduler.poll() is not None:
                break
        write.join()
        rss = peak_rss_mb(scheduler.pid) if scheduler.poll() is None else float("nan")
        stopping = time.perf_counter()
        scheduler.send_signal(signal.SIGTERM)
        scheduler_code = scheduler.wait(timeout=900)
        stop_s = time.perf_counter() - stopping
        time.sleep(settle_s + 0.5)  # the last pieces settle
        final = uptake(home, "run", "--json")
        stop_file.touch()
        read.join()
        status.join()
    elapsed = time.monotonic() - started

    events = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")
    ]
    finished = [e for e in events if e["event"] == "pass_finished"]
    failed = [e for e in events if e["event"] == "pass_failed"]
    skipped_ticks = sum(e["count"] for e in events if e["event"] == "ticks_skipped")
    locked = [e for e in events if e["event"] == "pass_skipped"]
    durations = [e["seconds"] for e in finished]
    loaded = sum(e.get("rows_loaded") or 0 for e in finished)
    pieces = [
        json.loads(line) for line in (work / "written" / "pieces.jsonl").read_text().splitlines()
    ]
    reader = json.loads((work / "reader.json").read_text())
    status_out = json.loads((work / "status.json").read_text())
    final_summary = json.loads(final.stdout) if final.stdout.strip() else {}

    ledger_ok, ledger = ledger_check(home, pieces)
    clean_ok, clean = clean_rebuild_check(work, home)
    readers_ok = not reader["errors"] and not status_out["errors"]
    scheduler_ok = scheduler_code == 0 and events and events[-1]["event"] == "schedule_stopped"

    rows_written = sum(p["rows"] for p in pieces)
    kinds = ", ".join(
        f"{how} {sum(p['how'] == how for p in pieces)}"
        for how in ("parquet-renamed", "ndjson-renamed", "csv-slow")
    )
    noops = sum(e["status"] == "noop" for e in finished)
    p50, p95 = percentile(durations, 0.5), percentile(durations, 0.95)
    pass_s = sum(durations)
    read_ms = [x * 1000 for x in reader["latencies"]]
    status_s = status_out["latencies"]
    verdict = {True: "PASS", False: "FAIL"}
    lines = [
        f"soak: {elapsed / 60:.1f} min, `uptake schedule --every {args.every}`, "
        f"settle {args.settle}, simulate --scale {args.scale} --dirty {args.dirty}",
        f"files written     {len(pieces)} ({kinds}), {rows_written:,} rows",
        f"passes            {len(finished)} finished ({noops} no-op), {len(failed)} failed, "
        f"{len(locked)} skipped as locked; {skipped_ticks} tick(s) skipped during passes",
        f"pass seconds      p50 {p50:.2f}  p95 {p95:.2f}  max {max(durations, default=0):.2f}",
        f"rows/s            {loaded / pass_s if pass_s else 0:,.0f} rows loaded per second "
        f"of pass time ({loaded:,} rows in {pass_s:.1f}s)",
        f"snapshot reads    {reader['reads']} full reads of {len(reader['ids'])} snapshots; "
        f"latency p50 {percentile(read_ms, 0.5):.0f} ms  p95 {percentile(read_ms, 0.95):.0f} ms",
        f"status calls      {len(status_s)} ({status_out['busy']} during a pass); "
        f"latency p50 {percentile(status_s, 0.5):.2f}s  p95 {percentile(status_s, 0.95):.2f}s",
        f"scheduler         peak RSS {rss:,.0f} MB; "
        f"SIGTERM -> exit {scheduler_code} in {stop_s:.1f}s",
        f"final pass        {final_summary.get('line', final.stderr.strip())}",
        f"errors            {len(failed)} failed passes, {len(reader['errors'])} reader, "
        f"{len(status_out['errors'])} status",
        f"(a) ledger        {verdict[ledger_ok]}: {ledger['written']:,} rows written = "
        f"{ledger['read']:,} read = {ledger['loaded']:,} loaded + "
        f"{ledger['duplicate']:,} duplicate + {ledger['quarantined']:,} quarantined",
        f"(b) clean rebuild {verdict[clean_ok]}: {clean.get('tables')} tables compared, "
        f"differing {clean.get('differing')}; clean one-shot run {clean.get('clean_run_s')}s",
        f"(c) readers       {verdict[readers_ok]}: no half-written snapshot, no error",
        f"scheduler stop    {verdict[bool(scheduler_ok)]}",
    ]
    print("\n".join(lines))
    for problem in (
        ledger["problems"]
        + reader["errors"][:5]
        + status_out["errors"][:5]
        + [e["error"] for e in failed][:5]
    ):
        print(f"  ! {problem}")
    if "error" in clean:
        print(f"  ! clean run: {clean['error']}")
    ok = ledger_ok and clean_ok and readers_ok and scheduler_ok
    if not args.keep and not args.work and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
