"""Adapter ingest throughput next to the native Parquet path, same events, same run.

Writes N Segment track events (JSON lines, gzip) and the same events as Uptake-shaped
Parquet, then ingests each into a fresh home (no model refresh) in its own process.

    python benchmarks/bench_adapters.py [--events 1_000_000] [--users 100_000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

T0 = datetime(2024, 3, 1)


def write_inputs(folder: Path, events: int, users: int) -> tuple[Path, Path]:
    """The same events twice: Segment JSON lines and native Parquet."""
    rows = []
    for i in range(events):
        user = f"u{i % users}"
        first = i < users
        rows.append(
            {
                "type": "track",
                "event": "Signed Up" if first else ("Post" if i % 3 else "Like"),
                "userId": user,
                "timestamp": (T0 + timedelta(seconds=i)).isoformat() + "Z",
                "messageId": f"m{i}",
            }
        )
    segment = folder / "segment.jsonl.gz"
    with gzip.open(segment, "wt") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    native = folder / "native"
    native.mkdir()
    signups = [r for r in rows if r["event"] == "Signed Up"]
    usage = [r for r in rows if r["event"] != "Signed Up"]

    def table(items: list[dict[str, str]], ts: str) -> pa.Table:
        return pa.table(
            {
                "platform": ["app"] * len(items),
                "user_id": [r["userId"] for r in items],
                ts: pa.array(
                    [datetime.fromisoformat(r["timestamp"][:-1]) for r in items],
                    pa.timestamp("us"),
                ),
                "event_id": [r["messageId"] for r in items],
                **({"event_type": [r["event"] for r in items]} if ts == "event_ts" else {}),
            }
        )

    pq.write_table(table(signups, "signup_ts"), native / "signups.parquet")
    pq.write_table(table(usage, "event_ts"), native / "events.parquet")
    return segment, native


def child(mode: str, source: Path, home: Path) -> None:
    from etl.config import load_settings
    from etl.ingest import IngestOptions
    from etl.pipeline import ingest_only

    settings = load_settings(home, env={})
    options = (
        IngestOptions(adapter="segment", platform="app") if mode == "segment" else IngestOptions()
    )
    started = time.perf_counter()
    result = ingest_only(settings, [source], options, now=datetime(2026, 1, 1))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loaded = result.total("rows_loaded")
    print(json.dumps({"seconds": seconds, "loaded": loaded, "peak_rss_mb": peak_mb}))


def measure(mode: str, source: Path, home: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--source", str(source), "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--child")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.home)
        return
    with tempfile.TemporaryDirectory(prefix="uptake-adapters-") as tmp:
        root = Path(tmp)
        segment, native = write_inputs(root, args.events, args.users)
        runs = {
            "native Parquet": measure("native", native, root / "home-native"),
            "segment adapter": measure("segment", segment, root / "home-segment"),
        }
    print(f"{'path':<18}{'seconds':>9}{'rows/s':>12}{'loaded':>12}{'peak RSS MB':>13}")
    for name, r in runs.items():
        print(
            f"{name:<18}{r['seconds']:>9.1f}{args.events / r['seconds']:>12,.0f}"
            f"{r['loaded']:>12,.0f}{r['peak_rss_mb']:>13,.0f}"
        )
    ratio = runs["segment adapter"]["seconds"] / runs["native Parquet"]["seconds"]
    print(f"ratio segment adapter / native Parquet: {ratio:.2f}x")


if __name__ == "__main__":
    main()
