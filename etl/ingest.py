"""Lossless ingestion: read -> map columns -> validate -> dedupe -> load, inside the caller's
transaction. Each file is read, mapped and validated on its own; the valid rows of the
run's files are deduplicated and loaded together (etl/load.py).

Every row read ends up in exactly one place: loaded into `signups`, `events` or
`deletions`, counted as a duplicate, or stored in `quarantine` with its reason; the file
ledger records the four counts per file, so rows_read = loaded + duplicate + quarantined.

Dedupe is exact and set-wise; etl/load.py states its rules.
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
from etl.load import DELETION_EVENT_TYPE, FirstSeenRule, StagedFile, load_run
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
from etl.warehouse import scalar, sql_literal

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
# Adapters may mark rows they pass on but that must not load (reason text in the column).
REJECT_REASON_COLUMN = "_reject_reason"

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


def files_total(files: Sequence[FileOutcome], name: str) -> int:
    """The sum of one ledger count (rows_read, rows_loaded, ...) over the files."""
    return sum(int(getattr(f, name)) for f in files)


@dataclass
class IngestResult:
    files: list[FileOutcome] = field(default_factory=list)

    def total(self, name: str) -> int:
        return files_total(self.files, name)

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

    def rule(self, options: IngestOptions) -> FirstSeenRule:
        """What the run's load needs to derive the signups."""
        return FirstSeenRule(self.every_row, self.platforms, self.inactive_types, options.signups)


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
    """Load the planned files inside the caller's open transaction, and record every file
    (loaded, already loaded or rejected) in the ledger, with the path the user gave for it
    (`origins`: converted file -> the export it came from) and the options.

    Each file is read, validated and its bad rows quarantined on its own, in order (a file
    DuckDB cannot read fails there, alone); then the valid rows of all the run's files are
    deduplicated and inserted together, keyed as they go in (etl/load.py).

    Raises FileFailure when DuckDB fails on a file mid-load; nothing here commits."""
    result = IngestResult()
    key = resolve_key(con, settings)
    if key is not None:
        install_pseudonym_macro(con, key)
    tombstones = bool(scalar(con, "SELECT count(*) FROM tombstones"))
    batch = _Batch(con, settings, options, run_id, now + settings.future_tolerance, key, tombstones)
    batch.first_seen = FirstSeen.resolve(con, settings, options)
    rule = batch.first_seen.rule(options) if batch.first_seen is not None else None
    staged: list[StagedFile] = []
    for number, planned in enumerate(plan, start=1):
        report("ingest", number - 1, len(plan), planned.outcome.path.name)
        started = time.perf_counter()
        if planned.to_load:
            file = _stage_planned(batch, planned, number)
            if file is not None:
                staged.append(file)
        else:  # file ids follow the plan's order, loaded or not
            planned.outcome.file_id = int(scalar(con, "SELECT nextval('file_id_seq')"))
        planned.outcome.seconds = time.perf_counter() - started
        planned.outcome.source_path = source_path(planned.outcome.path, origins or {})
        result.files.append(planned.outcome)
        if len(staged) == LOAD_CHUNK_FILES or number == len(plan):
            _load_staged(con, staged, rule)
            staged = []
        report("ingest", number, len(plan), planned.outcome.path.name)
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


# Files loaded together: one statement reads the union of their views. A run of more files
# loads in chunks (each deduplicated against what the earlier chunks stored, which gives
# the same rows and counts), so no statement unions thousands of views.
LOAD_CHUNK_FILES = 400


def _load_staged(
    con: duckdb.DuckDBPyConnection, staged: Sequence[StagedFile], rule: FirstSeenRule | None
) -> None:
    load_run(con, staged, rule)
    for file in staged:
        _drop_temp(con, file.prefix)


def _stage_planned(batch: _Batch, planned: PlannedFile, number: int) -> StagedFile | None:
    """Stage, check and quarantine one file; None when the file is rejected."""
    outcome, source = planned.outcome, planned.source
    assert source is not None
    con = batch.con
    outcome.file_id = int(scalar(con, "SELECT nextval('file_id_seq')"))
    file = StagedFile(outcome, f"_f{number}")
    try:
        _stage_source(batch, planned, source, file)
    except InputError as exc:
        # Our own checks (e.g. a gzipped Parquet file without the columns): the
        # transaction is intact, so the file is rejected and the run goes on.
        outcome.outcome, outcome.reason = "rejected", str(exc)
        outcome.rows_read = outcome.rows_loaded = 0
        outcome.rows_duplicate = outcome.rows_quarantined = 0
        _drop_temp(con, file.prefix)
        return None
    except duckdb.Error as exc:
        raise FileFailure(source.path, read_error(source, exc)) from exc
    return file


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


def _drop_temp(con: duckdb.DuckDBPyConnection, prefix: str) -> None:
    """Drop a staged file's temp objects (see _stage_source)."""
    con.execute(f"DROP VIEW IF EXISTS {prefix}_canon")
    con.execute(f"DROP VIEW IF EXISTS {prefix}_typed")
    for table in ("_pseudonyms", "_erased"):
        con.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
    drop_staged(con, f"{prefix}_stage")


# The columns the run's load reads besides those a row's reason needs: the per-file check
# reads them too, so a file DuckDB cannot decode fails while it is checked, on its own.
_LOADED_COLUMNS = {
    "signups": ("channel", "country", "person_id", "event_id"),
    "events": ("event_id",),
}


def _stage_source(
    batch: _Batch, planned: PlannedFile, source: SourceFile, file: StagedFile
) -> None:
    """`<prefix>_stage` (the file's rows as read), `<prefix>_canon` (in Uptake's columns,
    with each row's reason), the file's counts, and its bad rows in quarantine."""
    con, options, outcome, prefix = batch.con, batch.options, file.outcome, file.prefix
    stage = f"{prefix}_stage"
    columns = stage_raw(con, source, stage, batch.settings.temp_directory)
    types, resolved = planned.types, planned.resolved
    if not resolved:  # not probed before (gzipped Parquet)
        types = _column_types(con, stage)
        resolved = resolve_columns(columns, options)
        outcome.stream = detect_stream(resolved, columns, source.path.name)
        check_required(outcome.stream, resolved, columns, options, source.path.name)
    stream = outcome.stream or "events"
    outcome.user_column = resolved.get("user_id")
    outcome.platform_column = resolved.get("platform")
    outcome.platform_constant = options.platform
    _build_canonical(
        batch, prefix, stream=stream, resolved=resolved, types=types, source_format=source.format
    )
    # _canon is a view: each pass reads the staged rows again, which costs less than
    # materialising tens of millions of rows (Parquet is columnar and cheap to rescan).
    deletions = "is_deletion" if stream == "events" else "false"
    read = [f"count({c})" for c in _LOADED_COLUMNS[stream]]
    if batch.first_seen is not None:
        read.append("count(first_seen_ts)")
    counts = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reason IS NOT NULL), "
        f"count(*) FILTER (WHERE reason IS NULL AND {deletions}), {', '.join(read)} "
        f"FROM {file.canon}"
    ).fetchall()[0]
    outcome.rows_read, outcome.rows_quarantined = int(counts[0]), int(counts[1])
    file.valid, file.deletions = outcome.rows_read - outcome.rows_quarantined, int(counts[2])
    _quarantine(batch, file, columns, resolved)


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
    source timezone (`naive_zone_param`: SQL giving its name); epoch numbers are UTC.
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
    prefix: str,
    *,
    stream: str,
    resolved: Mapping[str, str],
    types: Mapping[str, str],
    source_format: str,
) -> None:
    """<prefix>_canon: the file's rows in Uptake's columns, with the reason a row is bad (or
    NULL).

    Built in steps: <prefix>_typed (the raw values as text and time), then, with
    pseudonymisation on, <prefix>_pseudonyms (each distinct id of the file hashed once, not
    once per row and read), and with tombstones, <prefix>_erased (the file's erased users)."""
    con, options = batch.con, batch.options
    ts_col = resolved["signup_ts" if stream == "signups" else "event_ts"]
    # A view cannot hold bound parameters: the run's options are written into it as
    # literals (the run's files are read by its views until the run's load is done).
    ts_expr = timestamp_expression(
        ts_col,
        types[ts_col],
        sql_literal(options.source_timezone),
        naive_is_utc=options.source_timezone == "UTC",
    )
    trim = source_format != "parquet"
    platform = _text(resolved, "platform", trim)
    if "platform" in resolved:
        platform = f"coalesce({platform}, {sql_literal(options.platform)})"
    else:
        platform = sql_literal(options.platform)
    reject_col = f" {_quote(REJECT_REASON_COLUMN)}," if REJECT_REASON_COLUMN in types else ""
    con.execute(
        f"""
        CREATE TEMP VIEW {prefix}_typed AS
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
        FROM "{prefix}_stage"
        """
    )
    named = _stored_ids(batch, prefix)
    erased = _erased_users(batch, prefix, named)
    con.execute(
        f"""
        CREATE TEMP VIEW {prefix}_canon AS
        WITH named AS ({named}),
        checked AS ({erased})
        SELECT _row, c_platform AS platform, s_user_id AS user_id, c_ts AS ts,
               c_event_type AS event_type, c_event_id AS event_id, c_channel AS channel,
               c_country AS country, s_person_id AS person_id, c_first_seen AS first_seen_ts,
               CASE {" ".join(_reason_cases(stream, types, batch.future_limit))} END AS reason
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
        sql_literal(batch.options.source_timezone),
        naive_is_utc=batch.options.source_timezone == "UTC",
    )


def _stored_ids(batch: _Batch, prefix: str) -> str:
    """SQL of <prefix>_typed with s_user_id and s_person_id: the ids as stored (pseudonyms
    when on)."""
    typed = f"{prefix}_typed"
    if batch.key is None:
        return f"SELECT *, c_user_id AS s_user_id, c_person_id AS s_person_id FROM {typed}"
    batch.con.execute(
        f"""
        CREATE TEMP TABLE {prefix}_pseudonyms AS
        SELECT raw, {PSEUDONYM_MACRO}(raw) AS pseudonym
        FROM (SELECT c_user_id AS raw FROM {typed} UNION SELECT c_person_id FROM {typed})
        WHERE raw IS NOT NULL
        """
    )
    return (
        f"SELECT t.*, pu.pseudonym AS s_user_id, pp.pseudonym AS s_person_id FROM {typed} AS t "
        f"LEFT JOIN {prefix}_pseudonyms AS pu ON pu.raw = t.c_user_id "
        f"LEFT JOIN {prefix}_pseudonyms AS pp ON pp.raw = t.c_person_id"
    )


def _erased_users(batch: _Batch, prefix: str, named: str) -> str:
    """SQL of the named rows with c_erased: the row's user was erased (a tombstone)."""
    if not batch.tombstones:
        return "SELECT *, false AS c_erased FROM named"
    digest = TOMBSTONE_SQL.format(platform="c_platform", user_id="s_user_id")
    batch.con.execute(
        f"""
        CREATE TEMP TABLE {prefix}_erased AS
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
        f"LEFT JOIN {prefix}_erased AS e ON e.platform = n.c_platform AND e.user_id = n.s_user_id"
    )


def _reason_cases(stream: str, types: Mapping[str, str], future_limit: datetime) -> list[str]:
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
        f"WHEN c_ts > {sql_literal(future_limit)} THEN 'future_timestamp'",
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
    batch: _Batch, file: StagedFile, columns: Sequence[str], resolved: Mapping[str, str]
) -> None:
    """Store each bad row with its reason and the row as read (JSON of its columns, or the
    raw text of a line that could not be split). With pseudonymisation on, the user and
    person columns hold the pseudonyms, and a line that could not be split (its ids cannot
    be found) is not kept; an erased user's row is never kept."""
    outcome, prefix = file.outcome, file.prefix
    if not outcome.rows_quarantined:
        return
    stored = {}
    if batch.key is not None:
        stored = {resolved[n]: f"c.{n}" for n in ("user_id", "person_id") if n in resolved}
    raw = ", ".join(f"{_quote(c)} := {stored.get(c, f's.{_quote(c)}')}" for c in columns)
    raw_line = "NULL" if batch.key is not None else "s._raw_line"
    batch.con.execute(
        f"""
        INSERT INTO quarantine (file_id, run_id, source_file, row_number, reason, raw)
        SELECT ?, ?, ?, c._row, c.reason,
               CASE WHEN c.reason = 'erased_user' THEN NULL
                    WHEN s._raw_line IS NOT NULL THEN {raw_line}
                    ELSE to_json(struct_pack({raw}))::VARCHAR END
        FROM {prefix}_canon c JOIN "{prefix}_stage" s ON s._row = c._row
        WHERE c.reason IS NOT NULL ORDER BY c._row
        """,
        [outcome.file_id, batch.run_id, str(outcome.path)],
    )


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
