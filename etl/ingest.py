"""Lossless ingestion: read -> map columns -> validate -> dedupe -> load, one file at a time,
inside the caller's transaction.

Every row read ends up in exactly one place: loaded into `signups`, `events` or
`deletions`, counted as a duplicate, or stored in `quarantine` with its reason; the file
ledger records the four counts per file, so rows_read = loaded + duplicate + quarantined.

Dedupe, set-wise and exact:
- signups: one row per (platform, user_id), the earliest; a later or equal repeat is a
  duplicate, an earlier one replaces the stored row (and counts as loaded);
- events and deletions: `event_id` when given, else the natural key (platform, user_id,
  timestamp, event type). A 64-bit hash of that identity (`dedupe_key`) finds candidate
  duplicates cheaply; candidates are confirmed on the full identity, so a hash collision
  can never drop an event.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from etl.config import Settings, check_signup_source
from etl.errors import InputError, UsageError
from etl.privacy import (
    PSEUDONYM_MACRO,
    TOMBSTONE_SQL,
    PseudonymKey,
    install_pseudonym_macro,
    record_mode,
    resolve_key,
)
from etl.progress import report
from etl.sources import SourceFile, describe, drop_staged, probe_columns, read_error, stage_raw
from etl.warehouse import scalar

log = logging.getLogger(__name__)

CANONICAL_COLUMNS = (
    "platform",
    "user_id",
    "signup_ts",
    "event_ts",
    "event_type",
    "event_id",
    "channel",
    "country",
    "person_id",
)
REQUIRED = {
    "signups": ("platform", "user_id", "signup_ts"),
    "events": ("platform", "user_id", "event_ts", "event_type"),
}
DELETION_EVENT_TYPE = "account_deleted"
# Adapters may mark rows they pass on but that must not load (reason text in the column).
REJECT_REASON_COLUMN = "_reject_reason"
_STAGE = "_stage_file"

# Reasons a row is quarantined (stable strings; documented in the README).
REASONS = (
    "malformed_row",
    "invalid_json",
    "missing_platform",
    "missing_user_id",
    "missing_timestamp",
    "unparseable_timestamp",
    "future_timestamp",
    "missing_event_type",
    "erased_user",
)


@dataclass(frozen=True)
class IngestOptions:
    """How to read a batch of files: constants, column mapping and naive-time zone."""

    platform: str | None = None
    format: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    source_timezone: str = "UTC"
    adapter: str | None = None
    # Load the files even if loaded before, removing their earlier rows first (`--replace`).
    replace: bool = False
    # first-seen[:column]: derive each user's signup from the events (see PlatformSettings).
    signups: str | None = None

    def as_text(self) -> str:
        """The options a file was loaded with, as the ledger keeps them (JSON)."""
        return json.dumps(
            {
                "platform": self.platform,
                "format": self.format,
                "map": dict(self.mapping),
                "tz": self.source_timezone,
                "adapter": self.adapter,
                "signups": self.signups,
            },
            sort_keys=True,
        )

    def __post_init__(self) -> None:
        check_signup_source(self.signups, "--signups")
        unknown = sorted(set(self.mapping) - set(CANONICAL_COLUMNS))
        if unknown:
            raise UsageError(
                f"--map targets {unknown} are not Uptake columns; "
                f"valid targets: {', '.join(CANONICAL_COLUMNS)}"
            )


@dataclass
class FileOutcome:
    """What happened to one file: the ledger row."""

    path: Path
    content_hash: str = ""
    size_bytes: int = 0
    format: str | None = None
    stream: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    outcome: str = "loaded"  # loaded | already_loaded | rejected
    reason: str | None = None
    file_id: int | None = None
    seconds: float = 0.0
    # Stored signups this file replaced with an earlier one (not a ledger column: it tells
    # the refresh that history changed in place, which only a full rebuild restates).
    signups_replaced: int = 0
    # Where the file's user ids and platform are (for erasure in archived files).
    user_column: str | None = None
    platform_column: str | None = None
    platform_constant: str | None = None
    # The path the user gave (an export an adapter converted into this file, or the file).
    source_path: Path | None = None
    # Signups derived from this file's events (first-seen platforms; not rows of the file).
    signups_derived: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        out["source_path"] = str(self.source_path) if self.source_path else None
        return out


@dataclass
class IngestResult:
    files: list[FileOutcome] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def rejected_files(self) -> list[FileOutcome]:
        return [f for f in self.files if f.outcome == "rejected"]

    @property
    def loaded_files(self) -> list[FileOutcome]:
        return [f for f in self.files if f.outcome == "loaded"]


@dataclass
class PlannedFile:
    """A file checked before the run's transaction: readable, of a known stream, with its
    columns resolved; or already decided (rejected, already loaded)."""

    outcome: FileOutcome
    source: SourceFile | None = None
    columns: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)

    @property
    def to_load(self) -> bool:
        return self.source is not None and self.outcome.outcome == "loaded"


class FileFailure(InputError):
    """DuckDB failed while loading a file that passed the checks (e.g. a corrupt page deep
    in a Parquet file). The run's transaction is lost: the caller rolls back, marks the
    file rejected and runs again without it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def plan_ingest(
    con: duckdb.DuckDBPyConnection, paths: Sequence[Path], options: IngestOptions
) -> list[PlannedFile]:
    """Check every file outside any transaction: content hash against the ledger, format,
    columns, stream and required columns. Nothing is written."""
    plan: list[PlannedFile] = []
    seen: set[str] = set()
    for path in paths:
        planned = _plan_one(con, path, options, seen)
        if planned.to_load and planned.source is not None:
            seen.add(planned.source.content_hash)
        plan.append(planned)
    return plan


def _plan_one(
    con: duckdb.DuckDBPyConnection, path: Path, options: IngestOptions, seen: set[str]
) -> PlannedFile:
    outcome = FileOutcome(path=path)
    try:
        source = describe(path, options.format)
    except (InputError, OSError) as exc:
        outcome.outcome, outcome.reason = "rejected", str(exc)
        return PlannedFile(outcome)
    outcome.content_hash, outcome.size_bytes = source.content_hash, source.size
    outcome.format = source.format
    if source.content_hash in seen:
        outcome.outcome, outcome.reason = "already_loaded", "the same content twice in this run"
        return PlannedFile(outcome, source)
    if not options.replace and _already_loaded(con, source.content_hash):
        outcome.outcome, outcome.reason = "already_loaded", _earlier_load(con, source.content_hash)
        return PlannedFile(outcome, source)
    try:
        columns, types = probe_columns(con, source)
        if not columns and source.format == "parquet":  # gzipped Parquet: checked at load
            return PlannedFile(outcome, source)
        resolved = resolve_columns(columns, options)
        outcome.stream = detect_stream(resolved, columns, path.name)
        check_required(outcome.stream, resolved, columns, options, path.name)
    except InputError as exc:
        outcome.outcome, outcome.reason = "rejected", str(exc)
        return PlannedFile(outcome, source)
    return PlannedFile(outcome, source, columns, types, resolved)


def check_required(
    stream: str,
    resolved: Mapping[str, str],
    columns: Sequence[str],
    options: IngestOptions,
    name: str,
) -> None:
    missing = [c for c in REQUIRED[stream] if c not in resolved]
    if "platform" in missing and options.platform:
        missing.remove("platform")
    if missing:
        hint = f"use --map {missing[0]}=<column>" + (
            " or --platform NAME" if "platform" in missing else ""
        )
        raise InputError(
            f"{name}: missing required column(s) {', '.join(missing)} for {stream}; "
            f"columns found: {', '.join(columns) or 'none'}; "
            f"expected: {', '.join(REQUIRED[stream])} ({hint})"
        )


@dataclass
class _Batch:
    """What every file of one ingest call shares."""

    con: duckdb.DuckDBPyConnection
    settings: Settings
    options: IngestOptions
    run_id: int
    future_limit: datetime
    key: PseudonymKey | None = None
    tombstones: bool = False  # any erased users to keep out
    first_seen: FirstSeen | None = None


@dataclass(frozen=True)
class FirstSeen:
    """Where signups are derived from the events: every row of this ingest (`--signups`)
    or the rows of some platforms (settings, or recorded by an earlier `--signups`), with
    the column holding each user's creation time, if any."""

    every_row: bool
    platforms: tuple[str, ...]
    columns: tuple[str, ...]
    inactive_types: tuple[str, ...]

    @staticmethod
    def resolve(
        con: duckdb.DuckDBPyConnection, settings: Settings, options: IngestOptions
    ) -> FirstSeen | None:
        sources = {**recorded_signup_sources(con), **settings.signup_sources()}
        if not sources and not options.signups:
            return None
        given = [*sources.values(), *([options.signups] if options.signups else [])]
        columns = tuple(dict.fromkeys(s.split(":", 1)[1] for s in given if ":" in s))
        return FirstSeen(
            bool(options.signups), tuple(sorted(sources)), columns, settings.inactive_event_types
        )

    def column_in(self, types: Mapping[str, str]) -> str | None:
        return next((c for c in self.columns if c in types), None)


def recorded_signup_sources(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Platforms whose signups an ingest derived from usage (`--signups first-seen`)."""
    return {str(p): str(s) for p, s in con.execute("SELECT * FROM signup_sources").fetchall()}


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    plan: Sequence[PlannedFile],
    options: IngestOptions,
    *,
    run_id: int,
    now: datetime,
    origins: Mapping[Path, Path] | None = None,
) -> IngestResult:
    """Load the planned files, in order, inside the caller's open transaction, and record
    every file (loaded, already loaded or rejected) in the ledger, with the path the user
    gave for it (`origins`: converted file -> the export it came from) and the options.

    Raises FileFailure when DuckDB fails on a file mid-load; nothing here commits."""
    result = IngestResult()
    key = resolve_key(con, settings)
    if key is not None:
        install_pseudonym_macro(con, key)
    tombstones = bool(scalar(con, "SELECT count(*) FROM tombstones"))
    batch = _Batch(con, settings, options, run_id, now + settings.future_tolerance, key, tombstones)
    batch.first_seen = FirstSeen.resolve(con, settings, options)
    if batch.first_seen is not None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _run_first_seen "
            "(platform VARCHAR, user_id VARCHAR, ts TIMESTAMP, file_id BIGINT)"
        )
    for number, planned in enumerate(plan, start=1):
        report("ingest", number - 1, len(plan), planned.outcome.path.name)
        started = time.perf_counter()
        if planned.to_load:
            _load_planned(batch, planned)
        else:  # file ids follow the plan's order, loaded or not
            planned.outcome.file_id = int(scalar(con, "SELECT nextval('file_id_seq')"))
        planned.outcome.seconds = time.perf_counter() - started
        planned.outcome.source_path = source_path(planned.outcome.path, origins or {})
        result.files.append(planned.outcome)
        report("ingest", number, len(plan), planned.outcome.path.name)
    # Each file was deduplicated within itself; rows repeating an earlier file of this run
    # or a stored row are found once for the whole run (see _dedupe_across_files).
    _dedupe_across_files(con, result.loaded_files)
    if batch.first_seen is not None:
        derive_first_seen_signups(con, result.loaded_files, options)
    assign_run_user_keys(con, result.loaded_files)
    for outcome in result.files:
        record_file(con, outcome, run_id, now, options)
        if outcome.rows_read:
            record_mode(con, key)
        log.info(
            "file %s: %s read=%d loaded=%d duplicate=%d quarantined=%d%s",
            outcome.path.name,
            outcome.outcome,
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_duplicate,
            outcome.rows_quarantined,
            f" ({outcome.reason})" if outcome.reason else "",
        )
    return result


def _load_planned(batch: _Batch, planned: PlannedFile) -> None:
    outcome, source = planned.outcome, planned.source
    assert source is not None
    con = batch.con
    outcome.file_id = int(scalar(con, "SELECT nextval('file_id_seq')"))
    try:
        _load_source(batch, planned, source, outcome)
    except InputError as exc:
        # Our own checks (e.g. a gzipped Parquet file without the columns): the
        # transaction is intact, so the file is rejected and the run goes on.
        outcome.outcome, outcome.reason = "rejected", str(exc)
        outcome.rows_read = outcome.rows_loaded = 0
        outcome.rows_duplicate = outcome.rows_quarantined = 0
        _drop_temp(con)
    except duckdb.Error as exc:
        raise FileFailure(source.path, read_error(source, exc)) from exc
    else:
        _drop_temp(con)


def _already_loaded(con: duckdb.DuckDBPyConnection, content_hash: str) -> bool:
    return bool(
        scalar(
            con,
            "SELECT count(*) FROM files WHERE content_hash = ? AND outcome = 'loaded'",
            [content_hash],
        )
    )


def _earlier_load(con: duckdb.DuckDBPyConnection, content_hash: str) -> str:
    """How a file was loaded before (run, day, options), and how to load it again."""
    run_id, recorded_at, options = con.execute(
        "SELECT run_id, recorded_at, load_options FROM files "
        "WHERE content_hash = ? AND outcome = 'loaded' ORDER BY file_id DESC LIMIT 1",
        [content_hash],
    ).fetchall()[0]
    how = ""
    if options:
        given = {k: v for k, v in json.loads(options).items() if v not in (None, {}, "UTC")}
        how = " with " + ", ".join(f"{k} {v}" for k, v in sorted(given.items())) if given else ""
    return (
        f"already loaded by run {run_id} on {recorded_at:%Y-%m-%d %H:%M} UTC{how}; to load it "
        "again with other options: uptake ingest --replace PATH (its earlier rows are removed)"
    )


def remove_earlier_loads(
    con: duckdb.DuckDBPyConnection,
    plan: Sequence[PlannedFile],
    origins: Mapping[Path, Path],
    run_id: int,
) -> int:
    """`--replace`: delete the rows every earlier load of the planned files left (found by
    the path the user gave, or, for ledger rows from before source paths were kept, by
    content hash), with their quarantined rows, and mark those ledger rows `replaced`.
    Runs in the pass's transaction, before the files load again. Returns the number of
    earlier loads removed. Rows of other files counted as duplicates of a replaced file
    were never stored and do not come back: replace those files too."""
    sources = sorted({str(source_path(p.outcome.path, origins)) for p in plan})
    hashes = sorted({p.outcome.content_hash for p in plan if p.outcome.content_hash})
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _replaced AS SELECT file_id FROM files "
        "WHERE outcome = 'loaded' AND (list_contains(?, source_path) "
        "OR (source_path IS NULL AND list_contains(?, content_hash)))",
        [sources, hashes],
    )
    for table in ("signups", "events", "deletions", "quarantine"):
        con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT file_id FROM _replaced)")
    replaced = con.execute(
        "UPDATE files SET outcome = 'replaced', reason = ? "
        "WHERE file_id IN (SELECT file_id FROM _replaced)",
        [f"rows removed by run {run_id} (uptake ingest --replace)"],
    ).fetchall()[0][0]
    con.execute("DROP TABLE _replaced")
    return int(replaced)


def source_path(path: Path, origins: Mapping[Path, Path]) -> Path:
    """The absolute path the user gave for a file (its source when it was converted)."""
    return origins.get(path, path).absolute()


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    drop_staged(con, _STAGE)
    con.execute("DROP VIEW IF EXISTS _valid")
    con.execute("DROP VIEW IF EXISTS _canon")
    con.execute("DROP VIEW IF EXISTS _typed")
    for table in (
        "_dup_rows",
        "_cand_keys",
        "_cand_users",
        "_pseudonyms",
        "_erased",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _load_source(
    batch: _Batch, planned: PlannedFile, source: SourceFile, outcome: FileOutcome
) -> None:
    con, options = batch.con, batch.options
    columns = stage_raw(con, source, _STAGE, batch.settings.temp_directory)
    types, resolved = planned.types, planned.resolved
    if not resolved:  # not probed before (gzipped Parquet)
        types = _column_types(con, _STAGE)
        resolved = resolve_columns(columns, options)
        outcome.stream = detect_stream(resolved, columns, source.path.name)
        check_required(outcome.stream, resolved, columns, options, source.path.name)
    stream = outcome.stream or "events"
    outcome.user_column = resolved.get("user_id")
    outcome.platform_column = resolved.get("platform")
    outcome.platform_constant = options.platform
    _build_canonical(batch, stream, resolved, types, source.format)
    # _canon is a view: each pass reads the staged rows again, which costs less than
    # materialising tens of millions of rows (Parquet is columnar and cheap to rescan).
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reason IS NOT NULL) FROM _canon"
    ).fetchall()[0]
    outcome.rows_read, outcome.rows_quarantined = int(counts[0]), int(counts[1])
    _quarantine(con, columns, resolved, outcome, batch)
    # Valid rows are read in place: copying tens of millions of rows costs more than
    # filtering them again.
    con.execute("CREATE TEMP VIEW _valid AS SELECT * FROM _canon WHERE reason IS NULL")
    if stream == "signups":
        outcome.rows_loaded = _load_signups(con, outcome)
    else:
        outcome.rows_loaded = _load_events(con, outcome)
        if batch.first_seen is not None:
            _collect_first_seen(con, batch.first_seen, outcome)
    outcome.rows_duplicate = outcome.rows_read - outcome.rows_quarantined - outcome.rows_loaded


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(f'DESCRIBE "{table}"').fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def resolve_columns(columns: Sequence[str], options: IngestOptions) -> dict[str, str]:
    """Canonical column -> the file's column, from the mapping, else the same name
    (case-insensitive)."""
    by_lower = {c.lower(): c for c in columns}
    resolved: dict[str, str] = {}
    for target, source in options.mapping.items():
        if source not in columns and source.lower() not in by_lower:
            raise InputError(
                f"--map {target}={source}: the file has no column {source!r}; "
                f"columns found: {', '.join(columns)}"
            )
        resolved[target] = source if source in columns else by_lower[source.lower()]
    mapped_sources = set(resolved.values())
    for name in CANONICAL_COLUMNS:
        if name not in resolved and name in by_lower and by_lower[name] not in mapped_sources:
            resolved[name] = by_lower[name]
    return resolved


def detect_stream(resolved: Mapping[str, str], columns: Sequence[str], name: str) -> str:
    if "signup_ts" in resolved:
        return "signups"
    if "event_ts" in resolved or "event_type" in resolved:
        return "events"
    raise InputError(
        f"{name}: cannot tell signups from usage events: no signup_ts or event_ts column; "
        f"columns found: {', '.join(columns) or 'none'} "
        "(use --map signup_ts=<column> or --map event_ts=<column>)"
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_OFFSET_SUFFIX = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}(:?\d{2})?)$"
_EPOCH_TEXT = r"-?\d{9,19}(\.\d+)?"


def _epoch_to_timestamp(expr: str) -> str:
    """Epoch numbers in seconds, ms, us or ns, told apart by magnitude."""
    return (
        f"CASE WHEN abs({expr}) >= 1e17 THEN make_timestamp(CAST({expr} / 1000 AS BIGINT)) "
        f"WHEN abs({expr}) >= 1e14 THEN make_timestamp(CAST({expr} AS BIGINT)) "
        f"WHEN abs({expr}) >= 1e11 THEN make_timestamp(CAST({expr} * 1000 AS BIGINT)) "
        f"ELSE make_timestamp(CAST({expr} * 1000000 AS BIGINT)) END"
    )


def timestamp_expression(
    column: str, duckdb_type: str, naive_zone_param: str, naive_is_utc: bool = False
) -> str:
    """SQL turning the raw column into a naive UTC TIMESTAMP (NULL when unparseable).

    Text with an offset keeps it; naive text and naive typed timestamps are read in the
    source timezone (the bound parameter `naive_zone_param`); epoch numbers are UTC.
    `naive_is_utc` skips the zone conversion of typed naive timestamps (the common case,
    and a costly per-row ICU call at tens of millions of rows)."""
    col = _quote(column)
    upper = duckdb_type.upper()
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"({col} AT TIME ZONE 'UTC')"
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        if naive_is_utc:
            return f"CAST({col} AS TIMESTAMP)"
        return f"(timezone({naive_zone_param}, CAST({col} AS TIMESTAMP)) AT TIME ZONE 'UTC')"
    if any(
        upper.startswith(t)
        for t in ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "HUGEINT", "DECIMAL", "UBIGINT")
    ):
        return f"TRY({_epoch_to_timestamp(f'CAST({col} AS DOUBLE)')})"
    text = f"trim(CAST({col} AS VARCHAR))"
    return (
        f"CASE WHEN regexp_full_match({text}, '{_EPOCH_TEXT}') "
        f"THEN TRY({_epoch_to_timestamp(f'CAST({text} AS DOUBLE)')}) "
        f"WHEN regexp_matches({text}, '{_OFFSET_SUFFIX}') "
        f"THEN try_cast({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' "
        f"ELSE timezone({naive_zone_param}, try_cast({text} AS TIMESTAMP)) AT TIME ZONE 'UTC' END"
    )


def _text(resolved: Mapping[str, str], name: str, trim: bool) -> str:
    """A text field: blank is NULL; text formats (CSV, NDJSON) are trimmed of padding,
    typed (Parquet) strings are taken as they are."""
    if name not in resolved:
        return "NULL::VARCHAR"
    col = f"CAST({_quote(resolved[name])} AS VARCHAR)"
    return f"nullif(trim({col}), '')" if trim else f"nullif({col}, '')"


def _is_blank(column: str, duckdb_type: str) -> str:
    col = _quote(column)
    if duckdb_type.upper() != "VARCHAR":
        return f"({col} IS NULL)"
    return f"({col} IS NULL OR trim({col}) = '')"


def _build_canonical(
    batch: _Batch,
    stream: str,
    resolved: Mapping[str, str],
    types: Mapping[str, str],
    source_format: str,
) -> None:
    """_canon: the file's rows in Uptake's columns, with the reason a row is bad (or NULL).

    Built in steps: _typed (the raw values as text and time), then, with pseudonymisation
    on, _pseudonyms (each distinct id of the file hashed once, not once per row and read),
    and with tombstones, _erased (the file's erased users)."""
    con, options = batch.con, batch.options
    ts_col = resolved["signup_ts" if stream == "signups" else "event_ts"]
    ts_expr = timestamp_expression(
        ts_col,
        types[ts_col],
        "getvariable('ingest_zone')",
        naive_is_utc=options.source_timezone == "UTC",
    )
    trim = source_format != "parquet"
    platform = _text(resolved, "platform", trim)
    if "platform" in resolved:
        platform = f"coalesce({platform}, getvariable('ingest_platform'))"
    else:
        platform = "CAST(getvariable('ingest_platform') AS VARCHAR)"
    reject_col = f" {_quote(REJECT_REASON_COLUMN)}," if REJECT_REASON_COLUMN in types else ""
    # A view cannot hold bound parameters; session variables carry the values instead.
    con.execute("SET VARIABLE ingest_zone = ?", [options.source_timezone])
    con.execute("SET VARIABLE ingest_platform = ?", [options.platform])
    con.execute("SET VARIABLE ingest_future_limit = ?", [batch.future_limit])
    con.execute(
        f"""
        CREATE TEMP VIEW _typed AS
        SELECT _row, _malformed,{reject_col}
            {platform} AS c_platform,
            {_text(resolved, "user_id", trim)} AS c_user_id,
            {ts_expr} AS c_ts,
            {_is_blank(ts_col, types[ts_col])} AS c_ts_blank,
            {_text(resolved, "event_type", trim)} AS c_event_type,
            {_text(resolved, "event_id", trim)} AS c_event_id,
            {_text(resolved, "channel", trim)} AS c_channel,
            {_text(resolved, "country", trim)} AS c_country,
            {_text(resolved, "person_id", trim)} AS c_person_id,
            {_first_seen_expression(batch, types)} AS c_first_seen
        FROM "{_STAGE}"
        """
    )
    named = _stored_ids(batch)
    erased = _erased_users(batch, named)
    con.execute(
        f"""
        CREATE TEMP VIEW _canon AS
        WITH named AS ({named}),
        checked AS ({erased})
        SELECT _row, c_platform AS platform, s_user_id AS user_id, c_ts AS ts,
               c_event_type AS event_type, c_event_id AS event_id, c_channel AS channel,
               c_country AS country, s_person_id AS person_id, c_first_seen AS first_seen_ts,
               CASE {" ".join(_reason_cases(stream, types))} END AS reason
               {_event_identity(stream)}
        FROM checked
        """
    )


def _first_seen_expression(batch: _Batch, types: Mapping[str, str]) -> str:
    """The user's creation time from the file's column named by `first-seen:<column>`
    (an untyped NULL when there is none)."""
    column = batch.first_seen.column_in(types) if batch.first_seen else None
    if column is None:
        return "NULL::TIMESTAMP"
    return timestamp_expression(
        column,
        types[column],
        "getvariable('ingest_zone')",
        naive_is_utc=batch.options.source_timezone == "UTC",
    )


def _collect_first_seen(
    con: duckdb.DuckDBPyConnection, first_seen: FirstSeen, outcome: FileOutcome
) -> None:
    """Each user's earliest time in this file (their creation time when the file has it,
    else their first event; deletions and inactive event types do not count), for the
    platforms whose signups are derived."""
    con.execute(
        """
        INSERT INTO _run_first_seen
        SELECT platform, user_id, min(coalesce(first_seen_ts, ts)), ?
        FROM _valid
        WHERE NOT is_deletion AND NOT list_contains(?, event_type)
          AND (? OR list_contains(?, platform))
        GROUP BY platform, user_id
        """,
        [
            outcome.file_id,
            list(first_seen.inactive_types),
            first_seen.every_row,
            list(first_seen.platforms),
        ],
    )


def derive_first_seen_signups(
    con: duckdb.DuckDBPyConnection, loaded: Sequence[FileOutcome], options: IngestOptions
) -> None:
    """Signups for the run's users of first-seen platforms: each user's earliest time over
    the run's files becomes their signup, unless a stored signup is as early (the earliest
    signup wins, as for signup rows; a later stored one is replaced, which restates
    history). A derived signup belongs to the file of that earliest event. `--signups` is
    recorded for the run's platforms, so later passes derive their new users the same way."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _first_seen AS
        SELECT platform, user_id, min(ts) AS ts, arg_min(file_id, ts) AS file_id
        FROM _run_first_seen GROUP BY platform, user_id
        """
    )
    replaced = con.execute(
        "DELETE FROM signups AS s USING _first_seen AS f "
        "WHERE s.platform = f.platform AND s.user_id = f.user_id AND f.ts < s.signup_ts"
    ).fetchall()[0][0]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _first_seen_new AS SELECT f.* FROM _first_seen AS f "
        "ANTI JOIN signups AS s USING (platform, user_id)"
    )
    con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, file_id) "
        "SELECT platform, user_id, ts, file_id FROM _first_seen_new"
    )
    counts = con.execute(
        "SELECT file_id, count(*) FROM _first_seen_new GROUP BY file_id"
    ).fetchall()
    by_id = {f.file_id: f for f in loaded}
    for file_id, derived in counts:
        by_id[int(file_id)].signups_derived += int(derived)
    if replaced and loaded:
        loaded[0].signups_replaced += int(replaced)  # tells the refresh to restate in full
    if options.signups:
        con.execute(
            "INSERT OR REPLACE INTO signup_sources SELECT DISTINCT platform, ? FROM _first_seen",
            [options.signups],
        )
    con.execute("DROP TABLE _first_seen")
    con.execute("DROP TABLE _first_seen_new")
    con.execute("DROP TABLE _run_first_seen")


def _stored_ids(batch: _Batch) -> str:
    """SQL of _typed with s_user_id and s_person_id: the ids as stored (pseudonyms when on)."""
    if batch.key is None:
        return "SELECT *, c_user_id AS s_user_id, c_person_id AS s_person_id FROM _typed"
    batch.con.execute(
        f"""
        CREATE TEMP TABLE _pseudonyms AS
        SELECT raw, {PSEUDONYM_MACRO}(raw) AS pseudonym
        FROM (SELECT c_user_id AS raw FROM _typed UNION SELECT c_person_id FROM _typed)
        WHERE raw IS NOT NULL
        """
    )
    return (
        "SELECT t.*, pu.pseudonym AS s_user_id, pp.pseudonym AS s_person_id FROM _typed AS t "
        "LEFT JOIN _pseudonyms AS pu ON pu.raw = t.c_user_id "
        "LEFT JOIN _pseudonyms AS pp ON pp.raw = t.c_person_id"
    )


def _erased_users(batch: _Batch, named: str) -> str:
    """SQL of the named rows with c_erased: the row's user was erased (a tombstone)."""
    if not batch.tombstones:
        return "SELECT *, false AS c_erased FROM named"
    digest = TOMBSTONE_SQL.format(platform="c_platform", user_id="s_user_id")
    batch.con.execute(
        f"""
        CREATE TEMP TABLE _erased AS
        WITH named AS ({named})
        SELECT platform, user_id FROM (
            SELECT DISTINCT c_platform AS platform, s_user_id AS user_id FROM named
            WHERE c_platform IS NOT NULL AND s_user_id IS NOT NULL)
        WHERE {digest.replace("c_platform", "platform").replace("s_user_id", "user_id")}
            IN (SELECT digest FROM tombstones)
        """
    )
    return (
        "SELECT n.*, e.user_id IS NOT NULL AS c_erased FROM named AS n "
        "LEFT JOIN _erased AS e ON e.platform = n.c_platform AND e.user_id = n.s_user_id"
    )


def _reason_cases(stream: str, types: Mapping[str, str]) -> list[str]:
    # An erased user's rows are kept out first: their quarantine row keeps nothing of them.
    reasons = [
        "WHEN c_erased THEN 'erased_user'",
        "WHEN _malformed IS NOT NULL THEN _malformed",
    ]
    if REJECT_REASON_COLUMN in types:
        # An adapter's verdict on a row it passes on (e.g. a bot account).
        reasons.append(
            f"WHEN {_quote(REJECT_REASON_COLUMN)} IS NOT NULL THEN {_quote(REJECT_REASON_COLUMN)}"
        )
    reasons += [
        "WHEN c_platform IS NULL THEN 'missing_platform'",
        "WHEN c_user_id IS NULL THEN 'missing_user_id'",
        "WHEN c_ts_blank THEN 'missing_timestamp'",
        "WHEN c_ts IS NULL THEN 'unparseable_timestamp'",
        "WHEN c_ts > getvariable('ingest_future_limit') THEN 'future_timestamp'",
    ]
    if stream == "events":
        reasons.append("WHEN c_event_type IS NULL THEN 'missing_event_type'")
    return reasons


def _event_identity(stream: str) -> str:
    if stream != "events":
        return ""
    return (
        ", CASE WHEN c_event_id IS NOT NULL THEN hash(c_platform, c_event_id) "
        "ELSE hash(c_platform, s_user_id, c_ts, c_event_type) END AS k, "
        f"lower(c_event_type) = '{DELETION_EVENT_TYPE}' AS is_deletion"
    )


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[str],
    resolved: Mapping[str, str],
    outcome: FileOutcome,
    batch: _Batch,
) -> None:
    """Store each bad row with its reason and the row as read (JSON of its columns, or the
    raw text of a line that could not be split). With pseudonymisation on, the user and
    person columns hold the pseudonyms, and a line that could not be split (its ids cannot
    be found) is not kept; an erased user's row is never kept."""
    if not outcome.rows_quarantined:
        return
    stored = {}
    if batch.key is not None:
        stored = {resolved[n]: f"c.{n}" for n in ("user_id", "person_id") if n in resolved}
    raw = ", ".join(f"{_quote(c)} := {stored.get(c, f's.{_quote(c)}')}" for c in columns)
    raw_line = "NULL" if batch.key is not None else "s._raw_line"
    con.execute(
        f"""
        INSERT INTO quarantine (file_id, run_id, source_file, row_number, reason, raw)
        SELECT ?, ?, ?, c._row, c.reason,
               CASE WHEN c.reason = 'erased_user' THEN NULL
                    WHEN s._raw_line IS NOT NULL THEN {raw_line}
                    ELSE to_json(struct_pack({raw}))::VARCHAR END
        FROM _canon c JOIN "{_STAGE}" s ON s._row = c._row
        WHERE c.reason IS NOT NULL ORDER BY c._row
        """,
        [outcome.file_id, batch.run_id, str(outcome.path)],
    )


def _load_signups(con: duckdb.DuckDBPyConnection, outcome: FileOutcome) -> int:
    """One row per user of the file goes in: most users appear once and are inserted
    straight from the file; a user repeated in the file keeps their earliest row (ties: the
    first). Repeats of stored users are resolved once per run (_dedupe_signups)."""
    con.execute(
        """
        CREATE TEMP TABLE _cand_users AS
        SELECT platform, user_id FROM _valid GROUP BY platform, user_id HAVING count(*) > 1
        """
    )
    clean = con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, channel, country, person_id, "
        "event_id, file_id) SELECT platform, user_id, ts, channel, country, person_id, "
        "event_id, ? FROM _valid v WHERE NOT EXISTS (SELECT 1 FROM _cand_users c "
        "WHERE c.platform = v.platform AND c.user_id = v.user_id)",
        [outcome.file_id],
    ).fetchall()[0][0]
    if not scalar(con, "SELECT count(*) FROM _cand_users"):
        return int(clean)
    # Earliest signup per repeated user in this file (ties: first row).
    repeated = con.execute(
        """
        INSERT INTO signups (platform, user_id, signup_ts, channel, country, person_id,
                             event_id, file_id)
        SELECT platform, user_id, r.ts, r.channel, r.country, r.person_id, r.event_id, ?
        FROM (
            SELECT platform, user_id,
                   arg_min({'ts': ts, 'channel': channel, 'country': country,
                            'person_id': person_id, 'event_id': event_id}, (ts, _row)) AS r
            FROM _valid v
            WHERE (platform, user_id) IN (SELECT platform, user_id FROM _cand_users)
            GROUP BY platform, user_id
        )
        """,
        [outcome.file_id],
    ).fetchall()[0][0]
    return int(clean) + int(repeated)


_SAME_EVENT = """
    a.platform = b.platform AND (
        (a.event_id IS NOT NULL AND a.event_id = b.event_id)
        OR (a.event_id IS NULL AND b.event_id IS NULL AND a.user_id = b.user_id
            AND a.ts = b.ts AND a.event_type = b.event_type))
"""


def _load_events(con: duckdb.DuckDBPyConnection, outcome: FileOutcome) -> int:
    """The file's events without its own repeats (the first row of each event stays);
    repeats of earlier files and stored events are removed once per run
    (_dedupe_events)."""
    _find_repeated_events(con)
    has_deletions = scalar(con, "SELECT count(*) FROM _canon WHERE is_deletion")
    targets = [("events", "event_ts", False)]
    if has_deletions:
        targets.append(("deletions", "deleted_ts", True))
    loaded = 0
    for table, ts_col, flag in targets:
        extra = ", event_type" if table == "events" else ""
        inserted = con.execute(
            f"INSERT INTO {table} (platform, user_id, {ts_col}{extra}, event_id, dedupe_key, "
            f"file_id) SELECT platform, user_id, ts{extra}, event_id, k, ? FROM _valid v "
            "WHERE is_deletion = ? "
            "AND NOT EXISTS (SELECT 1 FROM _dup_rows d WHERE d._row = v._row)",
            [outcome.file_id, flag],
        ).fetchall()
        loaded += int(inserted[0][0])
    return loaded


def _find_repeated_events(con: duckdb.DuckDBPyConnection) -> None:
    """_dup_rows: rows of this file that repeat an earlier row of the file. 64-bit hashes
    find the candidates in one narrow pass; only candidates are compared on their full
    identity, so a hash collision never drops an event."""
    con.execute(
        "CREATE TEMP TABLE _cand_keys AS SELECT k FROM _valid GROUP BY k HAVING count(*) > 1"
    )
    con.execute("CREATE TEMP TABLE _dup_rows (_row BIGINT)")
    if not scalar(con, "SELECT count(*) FROM _cand_keys"):
        return
    con.execute(
        f"""
        INSERT INTO _dup_rows
        WITH cand AS (SELECT * FROM _valid WHERE k IN (SELECT k FROM _cand_keys))
        SELECT DISTINCT b._row FROM cand a JOIN cand b
            ON a.k = b.k AND a._row < b._row AND {_SAME_EVENT}
        """
    )


def _dedupe_across_files(con: duckdb.DuckDBPyConnection, loaded: Sequence[FileOutcome]) -> None:
    """Remove this run's rows that repeat a row of an earlier file (of this run or stored
    before it), as if the files had been loaded one after another: each file's counts move
    from loaded to duplicate. Done once per run, so the stored rows are read once, not once
    per file. File ids grow in load order: rows below the run's first file id are stored."""
    by_id = {f.file_id: f for f in loaded if f.file_id is not None}
    if not by_id:
        return
    first = min(by_id)
    con.execute("SET VARIABLE ingest_first_file = ?", [first])
    for stream, finder in (("signups", _dedupe_signups), ("events", _dedupe_events)):
        if not any(f.stream == stream and f.rows_loaded for f in loaded):
            continue
        for file_id, duplicates, replaced in finder(con, first):
            outcome = by_id[int(file_id)]
            outcome.rows_loaded -= int(duplicates)
            outcome.rows_duplicate += int(duplicates)
            outcome.signups_replaced += int(replaced)
        for table in ("_x_keys", "_x_rows", "_x_users"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def assign_run_user_keys(con: duckdb.DuckDBPyConnection, loaded: Sequence[FileOutcome]) -> None:
    """Key this run's rows (see assign_user_keys); nothing to do when no file loaded rows."""
    ids = [f.file_id for f in loaded if f.file_id is not None and f.rows_loaded]
    if ids:
        assign_user_keys(con, min(ids))


def assign_user_keys(con: duckdb.DuckDBPyConnection, first_file: int) -> None:
    """Give the signups and events of files from `first_file` on the dense integer key of
    their user (the user dictionary user_keys, migration 006); users not seen before get
    the next keys. Ingest calls it once per run, after the duplicates are gone: one lookup
    of the run's rows against the dictionary costs about what writing them did, where a
    lookup per file would read the whole dictionary once per file.

    Signups hold one row per user by then, so their new users need no DISTINCT over the
    run's rows; events are keyed by a join, and only the few rows of users without a
    signup (still unkeyed) are grouped to key their users."""
    con.execute("SET VARIABLE key_first_file = ?", [first_file])
    _add_new_users(
        con,
        "SELECT platform, user_id FROM signups "
        "WHERE file_id >= getvariable('key_first_file') AND ukey IS NULL",
    )
    _key_rows(con, "signups", only_unkeyed=True)
    _key_rows(con, "events", only_unkeyed=False)
    _add_new_users(
        con,
        "SELECT DISTINCT platform, user_id FROM events "
        "WHERE file_id >= getvariable('key_first_file') AND ukey IS NULL",
    )
    _key_rows(con, "events", only_unkeyed=True)


def _add_new_users(con: duckdb.DuckDBPyConnection, users: str) -> None:
    """Append the users (distinct (platform, user_id) rows) missing from the dictionary,
    numbered after the largest key."""
    con.execute(
        f"""
        INSERT INTO user_keys (platform, user_id, ukey)
        SELECT platform, user_id,
               CAST((SELECT coalesce(max(ukey), 0) FROM user_keys) + row_number() OVER ()
                    AS INTEGER)
        FROM ({users}) AS candidates
        ANTI JOIN user_keys AS k USING (platform, user_id)
        """
    )


def _key_rows(con: duckdb.DuckDBPyConnection, table: str, only_unkeyed: bool) -> None:
    """Set the key of the table's rows from `key_first_file` on (only those still without
    one, if `only_unkeyed`). A small run next to a large dictionary first takes the
    dictionary rows of its own users (the run's users are the hash table, the dictionary
    is only scanned), so an incremental pass does not hash the whole dictionary."""
    rows = f"{table} WHERE file_id >= getvariable('key_first_file')"
    if only_unkeyed:
        rows += " AND ukey IS NULL"
    run_rows = int(scalar(con, f"SELECT count(*) FROM {rows}"))
    if not run_rows:
        return
    keys = "user_keys"
    if 4 * run_rows < int(scalar(con, "SELECT count(*) FROM user_keys")):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _run_keys AS SELECT k.* FROM user_keys AS k "
            f"SEMI JOIN (SELECT platform, user_id FROM {rows}) AS r USING (platform, user_id)"
        )
        keys = "_run_keys"
    unkeyed = f" AND {table}.ukey IS NULL" if only_unkeyed else ""
    con.execute(
        f"""
        UPDATE {table} SET ukey = k.ukey
        FROM {keys} AS k
        WHERE {table}.file_id >= getvariable('key_first_file'){unkeyed}
          AND k.platform = {table}.platform AND k.user_id = {table}.user_id
        """
    )
    con.execute("DROP TABLE IF EXISTS _run_keys")


def _dedupe_events(con: duckdb.DuckDBPyConnection, first: int) -> list[tuple[int, int, int]]:
    """Per file of this run: events (and deletions) deleted because an earlier file holds
    the same event. Candidates share a 64-bit key with another row; they are confirmed on
    the full identity, which is an equivalence (event id, else the natural key), so a row
    repeats an earlier loaded row exactly when an earlier row of its class exists."""
    stored = scalar(
        con,
        "SELECT (SELECT count(*) FROM events WHERE file_id < $1)"
        " + (SELECT count(*) FROM deletions WHERE file_id < $1)",
        [first],
    )
    run_keys = (
        "SELECT dedupe_key AS k FROM events WHERE file_id >= getvariable('ingest_first_file') "
        "UNION ALL SELECT dedupe_key FROM deletions "
        "WHERE file_id >= getvariable('ingest_first_file')"
    )
    against_stored = (
        """
        UNION SELECT dedupe_key FROM events
        WHERE file_id < getvariable('ingest_first_file') AND dedupe_key IN (SELECT k FROM run)
        UNION SELECT dedupe_key FROM deletions
        WHERE file_id < getvariable('ingest_first_file') AND dedupe_key IN (SELECT k FROM run)
        """
        if stored
        else ""
    )
    con.execute(
        f"""
        CREATE TEMP TABLE _x_keys AS
        WITH run AS ({run_keys})
        SELECT k FROM run GROUP BY k HAVING count(*) > 1
        {against_stored}
        """
    )
    if not scalar(con, "SELECT count(*) FROM _x_keys"):
        return []
    con.execute(
        f"""
        CREATE TEMP TABLE _x_rows AS
        WITH cand AS (
            SELECT 'events' AS tbl, rowid AS rid, platform, user_id, event_ts AS ts, event_type,
                   event_id, dedupe_key AS k, file_id
            FROM events WHERE dedupe_key IN (SELECT k FROM _x_keys)
            UNION ALL
            SELECT 'deletions', rowid, platform, user_id, deleted_ts, '{DELETION_EVENT_TYPE}',
                   event_id, dedupe_key, file_id
            FROM deletions WHERE dedupe_key IN (SELECT k FROM _x_keys)
        )
        SELECT DISTINCT b.tbl, b.rid, b.file_id FROM cand a JOIN cand b
            ON a.k = b.k AND a.file_id < b.file_id AND {_SAME_EVENT}
        WHERE b.file_id >= getvariable('ingest_first_file')
        """
    )
    for table in ("events", "deletions"):
        con.execute(
            f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM _x_rows WHERE tbl = ?)",
            [table],
        )
    rows = con.execute("SELECT file_id, count(*), 0 FROM _x_rows GROUP BY file_id").fetchall()
    return [(int(f), int(n), int(r)) for f, n, r in rows]


def _dedupe_signups(con: duckdb.DuckDBPyConnection, first: int) -> list[tuple[int, int, int]]:
    """Per file of this run: signups that repeat a user of an earlier file (a later or equal
    time: a duplicate, deleted) and stored signups replaced by an earlier one (deleted; the
    refresh then restates history). Each user keeps their earliest signup (ties: the earlier
    file). A signup replaced later in the same run stays counted as loaded, as it was when
    its file loaded."""
    stored = scalar(con, "SELECT count(*) FROM signups WHERE file_id < ?", [first])
    run_users = (
        "SELECT platform, user_id FROM signups WHERE file_id >= getvariable('ingest_first_file')"
    )
    # A 64-bit hash of the user finds repeats in one narrow pass; candidates are then read
    # and compared on the user itself.
    if stored:
        candidates = f"""
            SELECT hash(platform, user_id) AS h FROM signups
            WHERE (platform, user_id) IN ({run_users})
            GROUP BY h HAVING count(*) > 1
        """
    else:
        candidates = (
            f"SELECT hash(platform, user_id) AS h FROM ({run_users}) GROUP BY h HAVING count(*) > 1"
        )
    con.execute(f"CREATE TEMP TABLE _x_keys AS {candidates}")
    if not scalar(con, "SELECT count(*) FROM _x_keys"):
        return []
    con.execute(
        """
        CREATE TEMP TABLE _x_users AS
        WITH cand AS (
            SELECT rowid AS rid, platform, user_id, signup_ts, file_id
            FROM signups WHERE hash(platform, user_id) IN (SELECT h FROM _x_keys)
        ), ordered AS (
            SELECT *,
                   min(signup_ts) OVER (PARTITION BY platform, user_id ORDER BY file_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier,
                   row_number() OVER (PARTITION BY platform, user_id
                       ORDER BY signup_ts, file_id) = 1 AS kept
            FROM cand
        )
        SELECT rid, file_id, kept,
               earlier IS NOT NULL AND signup_ts >= earlier AS duplicate,
               file_id < getvariable('ingest_first_file') AS stored,
               -- the user's kept row, when it replaces a stored one
               kept AND file_id >= getvariable('ingest_first_file')
                   AND bool_or(file_id < getvariable('ingest_first_file'))
                       OVER (PARTITION BY platform, user_id) AS replaces
        FROM ordered
        """
    )
    con.execute("DELETE FROM signups WHERE rowid IN (SELECT rid FROM _x_users WHERE NOT kept)")
    rows = con.execute(
        "SELECT file_id, count(*) FILTER (WHERE duplicate), count(*) FILTER (WHERE replaces) "
        "FROM _x_users WHERE NOT stored GROUP BY file_id"
    ).fetchall()
    return [(int(f), int(n), int(r)) for f, n, r in rows]


def record_file(
    con: duckdb.DuckDBPyConnection,
    outcome: FileOutcome,
    run_id: int,
    now: datetime,
    options: IngestOptions | None = None,
) -> None:
    if outcome.file_id is None:
        outcome.file_id = int(scalar(con, "SELECT nextval('file_id_seq')"))
    source = outcome.source_path or outcome.path.absolute()
    con.execute(
        "INSERT INTO files (file_id, run_id, path, content_hash, size_bytes, format, stream, "
        "rows_read, rows_loaded, rows_duplicate, rows_quarantined, outcome, reason, recorded_at, "
        "user_column, platform_column, platform_constant, source_path, load_options) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.file_id,
            run_id,
            str(outcome.path),
            outcome.content_hash,
            outcome.size_bytes,
            outcome.format,
            outcome.stream,
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_duplicate,
            outcome.rows_quarantined,
            outcome.outcome,
            outcome.reason,
            now,
            outcome.user_column,
            outcome.platform_column,
            outcome.platform_constant,
            str(source),
            options.as_text() if options else None,
        ],
    )
