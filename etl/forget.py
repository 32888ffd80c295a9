"""`uptake forget`: erase users everywhere Uptake keeps them, and restate the metrics.

One pass under the writer lock: the archived inbox files holding the users are rewritten
to temporary files first; then one transaction deletes their raw rows and quarantined
rows, records tombstones (so a later re-ingest of an old copy cannot bring them back),
points the file ledger at the rewritten files' new content hashes, rebuilds every model
in full and logs the erasure (when and how many rows, never who); after the commit the
rewritten files replace the originals (atomic renames) and a snapshot is published. A
crash before the commit leaves everything as it was; between the commit and the renames,
running the same `forget` again finishes the job.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.config import Settings
from etl.errors import UsageError
from etl.pipeline import RunResult, publish, record_run
from etl.privacy import resolve_key, tombstone_digest
from etl.refresh import refresh_models
from etl.sources import content_hash, discover
from etl.spark.lake import export_lake
from etl.warehouse import open_for_writing, scalar

log = logging.getLogger(__name__)
_TEMP_SUFFIX = ".forget-tmp"


@dataclass(frozen=True)
class FileColumns:
    """Where a file's user ids and platform are (from the file ledger, else by name)."""

    user: str
    platform: str | None
    constant: str | None  # the --platform the file was loaded with, when known


@dataclass(frozen=True)
class Erasure:
    """Whom to erase: one platform's users, by their ids as they arrive in the files."""

    platform: str
    users: frozenset[str]

    def matches(self, user: Any, platform: Any, columns: FileColumns) -> bool:
        if user is None or str(user).strip() not in self.users:
            return False
        text = str(platform).strip() if platform is not None else ""
        if text:
            return text == self.platform
        return columns.constant in (None, self.platform)


@dataclass
class Rewrite:
    """An archived file rewritten without the users, waiting to replace the original."""

    path: Path
    pending: Path
    old_hash: str
    new_hash: str
    size: int
    rows_removed: int


@dataclass
class ForgetResult:
    run_id: int
    users: int
    removed: dict[str, int] = field(default_factory=dict)
    rewrites: list[Rewrite] = field(default_factory=list)
    snapshot: Path | None = None
    lake_rewritten: bool = False

    def summary(self) -> dict[str, Any]:
        archived = sum(r.rows_removed for r in self.rewrites)
        rows = ", ".join(f"{n:,} {table}" for table, n in self.removed.items())
        line = (
            f"forget (run {self.run_id}): {self.users} user(s); removed {rows}; "
            f"{archived:,} row(s) from {len(self.rewrites)} archived file(s)"
        )
        if self.lake_rewritten:
            line += "; lake rewritten"
        if self.snapshot:
            line += f"; published {self.snapshot.name}"
        return {
            "line": line,
            "run_id": self.run_id,
            "users": self.users,
            "removed": self.removed,
            "archived_files": len(self.rewrites),
            "archived_rows": archived,
            "lake_rewritten": self.lake_rewritten,
            "snapshot": str(self.snapshot) if self.snapshot else None,
        }


def read_users_file(path: Path) -> list[str]:
    """One user id a line; blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--users-file {path}: cannot read it ({exc.strerror})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def forget_users(
    settings: Settings, platform: str, users: Sequence[str], now: datetime
) -> ForgetResult:
    """Erase `users` of `platform` from the warehouse, the models, the archive; publish."""
    wanted = frozenset(u.strip() for u in users if u.strip())
    if not wanted:
        raise UsageError("forget needs at least one user id (--user U or --users-file FILE)")
    erasure = Erasure(platform, wanted)
    with open_for_writing(settings) as con:
        key = resolve_key(con, settings)
        stored = sorted(key.pseudonym(u) if key else u for u in wanted)
        run_id = int(scalar(con, "SELECT nextval('run_id_seq')"))
        result = ForgetResult(run_id=run_id, users=len(wanted))
        result.rewrites = rewrite_archive(con, settings, erasure)
        try:
            con.execute("BEGIN TRANSACTION")
            result.removed = erase_rows(con, platform, stored)
            finish_erasure(con, settings, result, now)
            record_run(con, RunResult(run_id=run_id, trigger="forget"), now)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            for rewrite in result.rewrites:
                rewrite.pending.unlink(missing_ok=True)
            raise
        for rewrite in result.rewrites:
            os.replace(rewrite.pending, rewrite.path)
        lake = settings.home / "lake"
        if lake.is_dir():
            # The Spark engine's local lake is a copy of the warehouse's raw rows: write it
            # again from the warehouse, now without the users. (A lake elsewhere, e.g. in
            # object storage, belongs to its producer: erase there too.)
            export_lake(con, lake)
            result.lake_rewritten = True
        published = RunResult(run_id=run_id, trigger="forget")
        publish(con, settings, published, now)
        result.snapshot = published.snapshot
    return result


def erase_rows(
    con: duckdb.DuckDBPyConnection, platform: str, stored: Sequence[str]
) -> dict[str, int]:
    """Delete the users' raw and quarantined rows and add their tombstones."""
    con.execute("CREATE OR REPLACE TEMP TABLE _forget (platform VARCHAR, user_id VARCHAR)")
    con.executemany("INSERT INTO _forget VALUES (?, ?)", [[platform, u] for u in stored])
    removed = {}
    for table in ("signups", "deletions"):
        removed[table] = int(
            con.execute(
                f"DELETE FROM {table} AS t USING _forget AS f "
                "WHERE t.platform = f.platform AND t.user_id = f.user_id"
            ).fetchall()[0][0]
        )
    # Events store their user's key, not the id (every committed event is keyed).
    removed["events"] = int(
        con.execute(
            "DELETE FROM events AS t USING user_keys AS k, _forget AS f "
            "WHERE t.ukey = k.ukey AND k.platform = f.platform AND k.user_id = f.user_id"
        ).fetchall()[0][0]
    )
    # The user dictionary holds the id too; a user loaded again later gets a new key.
    con.execute(
        "DELETE FROM user_keys AS t USING _forget AS f "
        "WHERE t.platform = f.platform AND t.user_id = f.user_id"
    )
    removed["quarantine"] = _erase_quarantine(con, stored)
    con.executemany(
        "INSERT OR IGNORE INTO tombstones (digest) VALUES (?)",
        [[tombstone_digest(platform, u)] for u in stored],
    )
    con.execute("DROP TABLE _forget")
    return removed


def _erase_quarantine(con: duckdb.DuckDBPyConnection, stored: Sequence[str]) -> int:
    """Quarantined rows whose row mentions a user (as a JSON string, or a bare number)."""
    removed = 0
    for user in stored:
        pattern = None
        if user.lstrip("-").isdigit():
            pattern = r"[:\[,]\s*" + user + r"\s*[,}\]]"
        removed += int(
            con.execute(
                "DELETE FROM quarantine WHERE raw IS NOT NULL AND (contains(raw, ?) "
                "OR (? IS NOT NULL AND regexp_matches(raw, ?)))",
                [json.dumps(user), pattern, pattern or ""],
            ).fetchall()[0][0]
        )
    return removed


def finish_erasure(
    con: duckdb.DuckDBPyConnection, settings: Settings, result: ForgetResult, now: datetime
) -> None:
    """Ledger hashes of rewritten files, a full restatement of the models, the log row."""
    for rewrite in result.rewrites:
        con.execute(
            "UPDATE files SET content_hash = ?, size_bytes = ? WHERE content_hash = ?",
            [rewrite.new_hash, rewrite.size, rewrite.old_hash],
        ).fetchall()
    refresh_models(con, settings, now, full=True)
    erasure_id = int(scalar(con, "SELECT coalesce(max(erasure_id), 0) + 1 FROM erasures"))
    con.execute(
        "INSERT INTO erasures (erasure_id, run_id, erased_at, users, signups, events, "
        "deletions, quarantine, archived_files, archived_rows) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            erasure_id,
            result.run_id,
            now,
            result.users,
            result.removed["signups"],
            result.removed["events"],
            result.removed["deletions"],
            result.removed["quarantine"],
            len(result.rewrites),
            sum(r.rows_removed for r in result.rewrites),
        ],
    ).fetchall()


# --- archived files -------------------------------------------------------------------------


def rewrite_archive(
    con: duckdb.DuckDBPyConnection, settings: Settings, erasure: Erasure
) -> list[Rewrite]:
    """Write each archived file holding the users again without their rows, beside it
    (the originals are replaced only after the warehouse commits)."""
    if not settings.archive.exists():
        return []
    rewrites = []
    for path in discover([settings.archive]):
        if path.name.endswith(_TEMP_SUFFIX) or path.name.endswith(".reason.txt"):
            continue
        old_hash = content_hash(path)
        columns = _file_columns(con, path, old_hash)
        if columns is None:
            continue
        pending = path.with_name(path.name + _TEMP_SUFFIX)
        removed = _rewrite_file(path, pending, columns, erasure)
        if not removed:
            pending.unlink(missing_ok=True)
            continue
        rewrites.append(
            Rewrite(path, pending, old_hash, content_hash(pending), pending.stat().st_size, removed)
        )
    return rewrites


def _file_columns(con: duckdb.DuckDBPyConnection, path: Path, digest: str) -> FileColumns | None:
    rows = con.execute(
        "SELECT user_column, platform_column, platform_constant FROM files "
        "WHERE content_hash = ? AND user_column IS NOT NULL ORDER BY file_id LIMIT 1",
        [digest],
    ).fetchall()
    if rows:
        return FileColumns(str(rows[0][0]), rows[0][1], rows[0][2])
    header = _header(path)
    by_lower = {c.lower(): c for c in header}
    if "user_id" not in by_lower:
        log.info("forget: %s has no user_id column in the ledger or the file; skipped", path)
        return None
    return FileColumns(by_lower["user_id"], by_lower.get("platform"), None)


def _kind(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    return "csv"


@contextmanager
def _open_text(path: Path, mode: str) -> Iterator[IO[str]]:
    if path.name.lower().endswith(".gz") or path.name.lower().endswith(".gz" + _TEMP_SUFFIX):
        with io.TextIOWrapper(
            gzip.GzipFile(path, mode + "b"), encoding="utf-8", newline=""
        ) as zipped:
            yield zipped
    else:
        with path.open(mode, encoding="utf-8", newline="") as handle:
            yield handle


def _header(path: Path) -> list[str]:
    kind = _kind(path)
    if kind == "parquet":
        return list(pq.read_schema(_binary(path)).names)
    with _open_text(path, "r") as handle:
        if kind == "csv":
            return next(csv.reader(handle), [])
        for line in handle:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return list(value)
    return []


def _binary(path: Path) -> Any:
    if path.name.lower().endswith(".gz"):
        return io.BytesIO(gzip.decompress(path.read_bytes()))
    return path


def _rewrite_file(path: Path, pending: Path, columns: FileColumns, erasure: Erasure) -> int:
    kind = _kind(path)
    if kind == "parquet":
        return _rewrite_parquet(path, pending, columns, erasure)
    if kind == "ndjson":
        return _rewrite_ndjson(path, pending, columns, erasure)
    return _rewrite_csv(path, pending, columns, erasure)


def _rewrite_csv(path: Path, pending: Path, columns: FileColumns, erasure: Erasure) -> int:
    removed = 0
    with _open_text(path, "r") as source, _open_text(pending, "w") as target:
        reader = csv.reader(source)
        writer = csv.writer(target, lineterminator="\n")
        header = next(reader, [])
        writer.writerow(header)
        user = header.index(columns.user) if columns.user in header else -1
        platform = header.index(columns.platform) if columns.platform in header else -1
        for row in reader:
            value = row[user] if 0 <= user < len(row) else None
            where = row[platform] if 0 <= platform < len(row) else None
            if erasure.matches(value, where, columns):
                removed += 1
            else:
                writer.writerow(row)
    return removed


def _rewrite_ndjson(path: Path, pending: Path, columns: FileColumns, erasure: Erasure) -> int:
    removed = 0
    with _open_text(path, "r") as source, _open_text(pending, "w") as target:
        for line in source:
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if isinstance(row, dict) and erasure.matches(
                row.get(columns.user),
                row.get(columns.platform) if columns.platform else None,
                columns,
            ):
                removed += 1
            else:
                target.write(line)
    return removed


def _rewrite_parquet(path: Path, pending: Path, columns: FileColumns, erasure: Erasure) -> int:
    table = pq.read_table(_binary(path))
    users = pc.cast(table.column(columns.user), pa.string())
    hit = pc.is_in(pc.utf8_trim_whitespace(users), value_set=pa.array(sorted(erasure.users)))
    if columns.platform and columns.platform in table.column_names:
        where = pc.utf8_trim_whitespace(pc.cast(table.column(columns.platform), pa.string()))
        blank = pc.or_kleene(pc.is_null(where), pc.equal(where, ""))
        same = pc.equal(where, erasure.platform)
        fallback = pa.scalar(columns.constant in (None, erasure.platform))
        hit = pc.and_(hit, pc.if_else(blank, fallback, same))
    elif columns.constant not in (None, erasure.platform):
        return 0
    hit = pc.fill_null(hit, False)
    removed = int(pc.sum(hit).as_py() or 0)
    if removed:
        kept = table.filter(pc.invert(hit))
        if path.name.lower().endswith(".gz"):
            buffer = io.BytesIO()
            pq.write_table(kept, buffer)
            pending.write_bytes(gzip.compress(buffer.getvalue()))
        else:
            pq.write_table(kept, pending)
    return removed
