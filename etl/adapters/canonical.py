"""The shared back half of the export adapters: rows read from a source, with an SQL
expression per Uptake value, become plain signups and events Parquet files.

One input row gives exactly one output row, so ingestion's accounting stays exact:
- a row whose event name is a signup event becomes a signup row (signup_ts = its time) and
  is not also written as a usage event: the export recorded one thing, so Uptake loads one
  (the signup itself is what the growth metrics count; activity starts with the next event);
- a row whose event name is a deletion event becomes an `account_deleted` event;
- a row that could not be read (not a JSON object, a CSV line of the wrong width) goes to
  the events file with `_reject_reason` set, and so does a row whose time cannot be parsed;
  rows without a user, platform or event name are passed on for ingestion to quarantine.

Times are written as UTC `TIMESTAMP WITH TIME ZONE`, so ingestion never applies its own
naive-time zone to them again. `source_file`/`source_row` say where each row came from and,
for rows that will not load, `source_raw` keeps the row as read (it lands in quarantine)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from etl.errors import ConfigError, UsageError
from etl.ingest import REJECT_REASON_COLUMN, timestamp_expression
from etl.load import DELETION_EVENT_TYPE
from etl.mapping import MappingSpec

VALUES = (
    "platform",
    "user_id",
    "ts",
    "event_type",
    "event_id",
    "channel",
    "country",
    "person_id",
)
_BATCH_ROWS = 256_000


@dataclass(frozen=True)
class SourceRows:
    """A relation of source rows and how to read Uptake's values from it.

    `values` holds an SQL expression (over the relation's columns) for each of VALUES it
    can supply; `ts_type` is the DuckDB type of the `ts` expression. `bad` gives the reason
    a row could not be read (NULL when it could), `raw` the row as read."""

    relation: str
    values: Mapping[str, str]
    ts_type: str
    source_file: str
    source_row: str
    bad: str
    raw: str


@dataclass(frozen=True)
class Split:
    """How rows become signups or events."""

    stream: str  # "events": split by event name; "signups": every row is a signup
    platform: str | None
    signup_events: Sequence[str]
    deletion_events: Sequence[str]
    timezone: str = "UTC"
    constants: Mapping[str, str] = field(default_factory=dict)  # fill blanks (not platform)


def connect(scratch: Path) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for one conversion, spilling under `scratch`."""
    con = duckdb.connect(config={"temp_directory": str(scratch / ".spill")})
    con.execute("SET TimeZone = 'UTC'")
    return con


def output_folder(out_dir: Path, adapter: str, source: Path, spec: MappingSpec | None) -> Path:
    """Where one source's converted files go: stable for the same source and mapping."""
    key = f"{source.resolve()}|{spec.fingerprint() if spec else ''}"
    folder = out_dir / f"{adapter}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def platform_for(adapter: str, source: Path, platform: str | None, spec: MappingSpec | None) -> str:
    """The platform name: the flag, else the mapping's constant; an export does not say."""
    name = platform or (spec.platform if spec else None)
    if name:
        return name
    if spec is not None and spec.path is not None:
        raise ConfigError(
            f"mapping file {spec.path}: no platform for the {adapter} export {source.name}; "
            'add platform = "NAME" under [constants]'
        )
    raise UsageError(
        f"{adapter} adapter: no platform name for {source.name}; give --platform NAME "
        '(or platform = "NAME" under [constants] in a mapping file)'
    )


def event_names(configured: tuple[str, ...] | None, default: Sequence[str]) -> list[str]:
    return list(default if configured is None else configured)


def write_canonical(
    con: duckdb.DuckDBPyConnection, rows: SourceRows, split: Split, folder: Path, stem: str
) -> list[Path]:
    """Write `<stem>.signups.parquet` and/or `<stem>.events.parquet` (only non-empty ones)."""
    _classify(con, rows, split)
    written = []
    for kind, select in (("signups", _SIGNUPS), ("events", _EVENTS)):
        path = folder / f"{stem}.{kind}.parquet"
        path.unlink(missing_ok=True)
        if _write(con, select, kind[:-1], path):
            written.append(path)
    con.execute("DROP TABLE _adapter_rows")
    return written


def _value(rows: SourceRows, name: str) -> str:
    return rows.values.get(name, "NULL")


def _text(name: str) -> str:
    return f"nullif(trim(CAST(__v_{name} AS VARCHAR)), '')"


def _filled(name: str, split: Split) -> str:
    """A text value, with the mapping's constant where it is blank."""
    if name not in split.constants:
        return _text(name)
    return f"coalesce({_text(name)}, getvariable('adapter_constant_{name}'))"


def _classify(con: duckdb.DuckDBPyConnection, rows: SourceRows, split: Split) -> None:
    # Derived names start with "__" so that they cannot clash with the source's columns,
    # which stay in scope for `rows.raw`.
    values = ", ".join(f"{_value(rows, name)} AS __v_{name}" for name in VALUES)
    ts = timestamp_expression("__v_ts", rows.ts_type, "getvariable('adapter_zone')")
    blank_ts = (
        "(__v_ts IS NULL OR trim(CAST(__v_ts AS VARCHAR)) = '')"
        if rows.ts_type.upper() == "VARCHAR"
        else "(__v_ts IS NULL)"
    )
    is_signup = (
        "true"
        if split.stream == "signups"
        else "(__bad IS NULL AND list_contains(getvariable('adapter_signups'), lower(__event)))"
    )
    _set_variables(con, split)
    con.execute(
        f"""
        CREATE TEMP TABLE _adapter_rows AS
        WITH src AS (
            SELECT s.*, {values}, {rows.source_file} AS __file, {rows.source_row} AS __row,
                   {rows.bad} AS __bad
            FROM {rows.relation} s
        ),
        typed AS (
            SELECT *,
                coalesce({_text("platform")}, getvariable('adapter_platform')) AS __platform,
                {_text("user_id")} AS __user,
                {ts} AS __ts,
                {blank_ts} AS __ts_blank,
                {_filled("event_type", split)} AS __event
            FROM src
        ),
        kinds AS (
            SELECT *,
                CASE WHEN {is_signup} THEN 'signup' ELSE 'event' END AS __kind,
                CASE WHEN __bad IS NOT NULL THEN __bad
                     WHEN __ts IS NULL AND NOT __ts_blank THEN 'unparseable_timestamp'
                END AS __reject
            FROM typed
        )
        SELECT __kind AS kind, __platform AS platform, __user AS user_id,
            timezone('UTC', __ts) AS ts,
            CASE WHEN list_contains(getvariable('adapter_deletions'), lower(__event))
                 THEN '{DELETION_EVENT_TYPE}' ELSE __event END AS event_type,
            {_text("event_id")} AS event_id, {_filled("channel", split)} AS channel,
            {_filled("country", split)} AS country, {_text("person_id")} AS person_id,
            __file AS source_file, CAST(__row AS BIGINT) AS source_row,
            CASE WHEN __reject IS NOT NULL OR __platform IS NULL OR __user IS NULL
                      OR __ts IS NULL OR (__kind = 'event' AND __event IS NULL)
                 THEN {rows.raw} END AS source_raw,
            __reject AS {REJECT_REASON_COLUMN}
        FROM kinds
        """
    )


def _set_variables(con: duckdb.DuckDBPyConnection, split: Split) -> None:
    # Event names match case-insensitively ("Signed Up" = "signed up").
    con.execute("SET VARIABLE adapter_zone = ?", [split.timezone])
    con.execute("SET VARIABLE adapter_platform = ?::VARCHAR", [split.platform])
    con.execute(
        "SET VARIABLE adapter_signups = ?::VARCHAR[]", [[e.lower() for e in split.signup_events]]
    )
    con.execute(
        "SET VARIABLE adapter_deletions = ?::VARCHAR[]",
        [[e.lower() for e in split.deletion_events]],
    )
    for name, value in split.constants.items():
        con.execute(f"SET VARIABLE adapter_constant_{name} = ?::VARCHAR", [value])
    con.execute("SET preserve_insertion_order = true")


_TRAILER = f"source_file, source_row, source_raw, {REJECT_REASON_COLUMN}"
_SIGNUPS = (
    "SELECT platform, user_id, ts AS signup_ts, event_id, channel, country, person_id, "
    f"{_TRAILER} FROM _adapter_rows WHERE kind = ? ORDER BY source_row"
)
_EVENTS = (
    f"SELECT platform, user_id, ts AS event_ts, event_type, event_id, {_TRAILER} "
    "FROM _adapter_rows WHERE kind = ? ORDER BY source_row"
)


def _write(con: duckdb.DuckDBPyConnection, select: str, kind: str, path: Path) -> bool:
    """Stream the rows of one kind into a Parquet file; False (no file) when there are none.

    pyarrow's writer with a fixed batch size makes the bytes a function of the rows, so
    converting the same export again gives the same file (and ingestion skips it)."""
    [(count,)] = con.execute("SELECT count(*) FROM _adapter_rows WHERE kind = ?", [kind]).fetchall()
    if not count:
        return False
    reader = con.sql(select, params=[kind]).to_arrow_reader(_BATCH_ROWS)
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch, row_group_size=_BATCH_ROWS)
    return True
