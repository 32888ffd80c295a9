"""`uptake status`: warehouse size, platforms, last runs, quarantine, freshness, backlog."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import duckdb

from etl.config import Settings
from etl.errors import LockedError, SnapshotError, UsageError
from etl.privacy import privacy_summary
from etl.snapshot import current_snapshot, parse_utc, read_table
from etl.sources import discover
from etl.warehouse import connect

_RECENT_RUNS = 10


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def warehouse_status(settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything an operator checks, as plain data (also `uptake status --json`)."""
    backlog = _backlog_mtimes(settings)
    status: dict[str, Any] = {
        "home": str(settings.home),
        "warehouse": str(settings.warehouse_path),
        "warehouse_bytes": settings.warehouse_path.stat().st_size
        if settings.warehouse_path.exists()
        else 0,
        "inbox_backlog_files": len(backlog),
        "inbox_oldest_wait_s": round(time.time() - min(backlog), 1) if backlog else 0,
        "snapshot": _current_snapshot(settings),
    }
    if not settings.warehouse_path.exists():
        status["platforms"], status["runs"] = [], []
        return status
    try:
        con = connect(settings, read_only=True)
    except LockedError:
        # A pass holds the warehouse: report from the live snapshot instead.
        return {**status, "run_in_progress": True, **_from_snapshot(settings, now)}
    try:
        status["platforms"] = _rows(
            con,
            "SELECT s.platform, count(*) AS signups, min(signup_ts) AS first_signup, "
            "max(signup_ts) AS last_signup, "
            "(SELECT count(*) FROM events e WHERE e.platform = s.platform) AS events, "
            "(SELECT count(*) FROM deletions d WHERE d.platform = s.platform) AS deletions "
            "FROM signups s GROUP BY s.platform ORDER BY s.platform",
        )
        status["runs"] = _rows(
            con,
            "SELECT run_id, started_at, finished_at, status, trigger, files, rows_read, "
            "rows_loaded, rows_duplicate, rows_quarantined, error "
            f"FROM runs ORDER BY run_id DESC LIMIT {_RECENT_RUNS}",
        )
        status["quarantine"] = _rows(
            con,
            "SELECT regexp_replace(reason, ':.*', '') AS reason, count(*) AS rows "
            "FROM quarantine GROUP BY 1 ORDER BY 2 DESC",
        )
        status["rejected_files"] = _rows(
            con,
            "SELECT path, reason, recorded_at FROM files WHERE outcome = 'rejected' "
            "ORDER BY file_id DESC LIMIT 10",
        )
        status["privacy"] = privacy_summary(con)
        last_ok = _rows(con, "SELECT max(finished_at) AS at FROM runs WHERE status <> 'failed'")
        at = last_ok[0]["at"] if last_ok else None
        status["last_success"] = at
        status["freshness_s"] = (now - at).total_seconds() if at else None
    finally:
        con.close()
    return status


def _backlog_mtimes(settings: Settings) -> list[float]:
    """Modification times of the files waiting in the inbox. A pass may move a file to
    archive/ between listing and stat (or the inbox itself may go); such files are gone."""
    try:
        files = discover([settings.inbox]) if settings.inbox.exists() else []
    except (UsageError, FileNotFoundError):  # the inbox vanished while it was listed
        return []
    mtimes = []
    for path in files:
        try:
            mtimes.append(path.stat().st_mtime)
        except FileNotFoundError:
            continue
    return mtimes


def _from_snapshot(settings: Settings, now: datetime) -> dict[str, Any]:
    """Platforms and runs from the live snapshot. A publish may switch CURRENT and prune the
    snapshot just read meanwhile; then the new live one is read."""
    for attempt in range(3):
        try:
            return _read_snapshot_status(settings, now)
        except (SnapshotError, FileNotFoundError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _read_snapshot_status(settings: Settings, now: datetime) -> dict[str, Any]:
    snapshot = current_snapshot(settings)
    if snapshot is None:
        return {"platforms": [], "runs": []}
    platforms = [
        {
            "platform": p["platform"],
            "signups": p["signups"],
            "first_signup": p["first_signup"],
            "last_signup": None,
            "events": 0,
            "deletions": p["deletions"],
        }
        for p in read_table(snapshot, "platforms").to_pylist()
    ]
    runs = sorted(read_table(snapshot, "runs").to_pylist(), key=lambda r: -r["run_id"])
    last = next((r["finished_at"] for r in runs if r["status"] != "failed"), None)
    last_naive = last.replace(tzinfo=None) if last is not None else None
    return {
        "platforms": platforms,
        "runs": runs[:_RECENT_RUNS],
        "last_success": last_naive,
        "freshness_s": (now - last_naive).total_seconds() if last_naive else None,
    }


def _current_snapshot(settings: Settings) -> dict[str, Any] | None:
    try:
        snapshot = current_snapshot(settings)
    except SnapshotError:
        return None
    if snapshot is None:
        return None
    return {k: snapshot.manifest.get(k) for k in ("id", "created", "run_id", "watermark")}


def to_second(value: Any) -> str:
    """A UTC time for people, to the second ('2023-08-04 22:59:50 UTC'); --json keeps the
    full precision."""
    if isinstance(value, str):
        try:
            value = parse_utc(value) or value
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return str(value)


def format_status(status: dict[str, Any]) -> str:
    lines = [
        f"home       {status['home']}",
        *(
            ["busy       a pass is running; figures below are from the live snapshot"]
            if status.get("run_in_progress")
            else []
        ),
        f"warehouse  {status['warehouse']} ({status['warehouse_bytes'] / 1e6:,.1f} MB)",
        f"inbox      {status['inbox_backlog_files']} file(s) waiting",
    ]
    snapshot = status.get("snapshot")
    lines.append(
        f"snapshot   {snapshot['id']} (run {snapshot['run_id']}, "
        f"data until {to_second(snapshot['watermark'])})"
        if snapshot
        else "snapshot   none published yet (run `uptake run`)"
    )
    privacy = status.get("privacy")
    if privacy:
        lines.append(_privacy_line(privacy))
    if status.get("freshness_s") is not None:
        lines.append(f"freshness  last successful run {status['freshness_s'] / 60:,.1f} min ago")
    lines.append("platforms")
    lines.extend(
        f"  {p['platform']:<16} {p['signups']:>12,} signups {p['events']:>14,} events "
        f"{p['deletions']:>10,} deletions  first {to_second(p['first_signup'])}"
        for p in status.get("platforms", [])
    )
    lines.append("last runs")
    lines.extend(
        f"  #{r['run_id']:<5} {to_second(r['started_at'])} {r['status']:<15} {r['files']:>4} files "
        f"{r['rows_read']:>12,} read {r['rows_loaded']:>12,} loaded "
        f"{r['rows_duplicate']:>10,} dup {r['rows_quarantined']:>8,} quarantined"
        + (f"  error: {r['error']}" if r["error"] else "")
        for r in status.get("runs", [])
    )
    if status.get("quarantine"):
        lines.append("quarantined rows by reason")
        lines.extend(f"  {q['reason']:<28} {q['rows']:>10,}" for q in status["quarantine"])
    if status.get("rejected_files"):
        lines.append("rejected files")
        lines.extend(f"  {f['path']}: {f['reason']}" for f in status["rejected_files"])
    return "\n".join(lines)


def _privacy_line(privacy: dict[str, Any]) -> str:
    mode = privacy["pseudonymisation"]
    line = f"privacy    pseudonymisation {mode}"
    if privacy.get("key_fingerprint"):
        line += f" (key fingerprint {privacy['key_fingerprint']})"
    line += f"; {privacy['tombstones']:,} erased user(s), {privacy['erasures']} erasure(s)"
    if privacy.get("raw_events_compacted_before"):
        line += f"; raw events compacted before {privacy['raw_events_compacted_before']}"
    return line
