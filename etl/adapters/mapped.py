"""A mapping file applied to a plain file (CSV, Parquet, NDJSON) whose columns are not
Uptake's: the conversion behind `signup_events`, `deletion_events` and constants.

The file's columns are read through `[columns]` (an unmapped Uptake column is read from a
column of the same name); a dotted name reaches into nested JSON or structs
(`user_id = "properties.distinct_id"`). A file with a signup time column is a signups
file; otherwise it is an events file, and each row whose event name is in `signup_events`
becomes a signup row (not also a usage event: one input row, one output row), each row
in `deletion_events` an `account_deleted` event. Constants fill a column the file lacks, or
its blanks."""

from __future__ import annotations

from pathlib import Path

import duckdb

from etl.adapters.canonical import Split, connect, output_folder, write_canonical
from etl.adapters.exports import each_file
from etl.adapters.readers import MAPPED_VALUES, StagedTable, first_line, stage_table
from etl.errors import InputError
from etl.ingest import CANONICAL_COLUMNS
from etl.mapping import MappingSpec

ADAPTER = "mapping"


def convert_mapped(
    source: Path, out_dir: Path, platform: str | None, mapping: MappingSpec
) -> list[Path]:
    """Write `<source>.signups.parquet` / `.events.parquet` under `out_dir`."""
    return each_file(source, ADAPTER, lambda path: _convert_file(path, out_dir, platform, mapping))


def _convert_file(
    source: Path, out_dir: Path, platform: str | None, spec: MappingSpec
) -> list[Path]:
    folder = output_folder(out_dir, ADAPTER, source, spec)
    con = connect(folder)
    try:
        table = stage_table(con, source, spec.format, folder)
        chosen = _resolve(table, spec)
        stream = "signups" if "signup_ts" in chosen else "events"
        _check_required(table, spec, chosen, stream, platform)
        values = {MAPPED_VALUES[c]: col for c, col in chosen.items() if c != "event_ts"}
        if stream == "events":
            values["ts"] = chosen["event_ts"]
        split = Split(
            stream=stream,
            platform=platform or spec.platform,
            signup_events=spec.signup_events or (),
            deletion_events=spec.deletion_events or (),
            timezone=spec.timezone,
            constants={k: v for k, v in spec.constants.items() if k != "platform"},
        )
        return write_canonical(con, table.rows(values), split, folder, source.name)
    except duckdb.Error as exc:
        raise InputError(f"{_where(spec)}: cannot read {source.name}: {first_line(exc)}") from exc
    finally:
        con.close()


def _where(spec: MappingSpec) -> str:
    return f"mapping file {spec.path}" if spec.path else "mapping"


def _resolve(table: StagedTable, spec: MappingSpec) -> dict[str, str]:
    """Uptake column -> the file's column: mapped ones must exist, others match by name."""
    chosen = {}
    for column in CANONICAL_COLUMNS:
        if column in spec.columns:
            found = table.find([spec.columns[column]])
            if found is None:
                raise InputError(
                    f"{_where(spec)}: columns.{column} = {spec.columns[column]!r}, but "
                    f"{table.path.name} has no such column{_nested_hint(spec.columns[column])}; "
                    f"columns found: {', '.join(table.columns) or 'none'}"
                )
            chosen[column] = found
        elif (found := table.find([column])) is not None:
            chosen[column] = found
    return chosen


def _nested_hint(key: str) -> str:
    if "." not in key:
        return ""
    head = key.partition(".")[0]
    return f" (nor one named {head!r} holding nested JSON for a dotted path)"


def _check_required(
    table: StagedTable,
    spec: MappingSpec,
    chosen: dict[str, str],
    stream: str,
    platform: str | None,
) -> None:
    needed = ["user_id", "signup_ts" if stream == "signups" else "event_ts"]
    if stream == "events":
        needed.append("event_type")
    missing = [c for c in needed if c not in chosen and c not in spec.constants]
    if "platform" not in chosen and not (platform or spec.platform):
        missing.insert(0, "platform")
    if "signup_ts" not in chosen and "event_ts" not in chosen:
        missing = ["signup_ts or event_ts", *[m for m in missing if m != "event_ts"]]
    if missing:
        raise InputError(
            f"{_where(spec)}: {table.path.name} has no column for {', '.join(missing)} "
            f"({stream}); columns found: {', '.join(table.columns) or 'none'}; map them under "
            '[columns] (e.g. user_id = "distinct_id") or set [constants] (platform)'
        )
