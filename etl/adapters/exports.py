"""Converting one analytics export (JSON lines or a table) into Uptake's signups and
events files: the part Segment, PostHog and Amplitude share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from etl.adapters.canonical import (
    Split,
    connect,
    event_names,
    output_folder,
    platform_for,
    write_canonical,
)
from etl.adapters.readers import ExportShape, first_line, read_json_lines, stage_table
from etl.errors import InputError, UsageError
from etl.mapping import MappingSpec
from etl.sources import input_files, read_hint


def each_file(source: Path, adapter: str, convert_one: Callable[[Path], list[Path]]) -> list[Path]:
    """A folder is every input file under it (sorted), converted one by one."""
    if not source.exists():
        raise UsageError(f"{source} does not exist; give a {adapter} export file or folder")
    if not source.is_dir():
        return convert_one(source)
    return [out for path in input_files([source]) for out in convert_one(path)]


def split_for(
    shape: ExportShape, source: Path, platform: str | None, spec: MappingSpec | None
) -> Split:
    return Split(
        stream="events",
        platform=platform_for(shape.adapter, source, platform, spec),
        signup_events=event_names(spec.signup_events if spec else None, shape.signup_events),
        deletion_events=event_names(spec.deletion_events if spec else None, shape.deletion_events),
        timezone=spec.timezone if spec else "UTC",
    )


def convert_each_json_lines_file(
    shape: ExportShape,
    source: Path,
    out_dir: Path,
    platform: str | None,
    mapping: MappingSpec | None = None,
) -> list[Path]:
    """An export of plain JSON lines files (a file, or a folder of them: Segment, Mixpanel):
    `<file>.signups.parquet` / `.events.parquet` under `out_dir` for each file."""

    def one(path: Path) -> list[Path]:
        split = split_for(shape, path, platform, mapping)
        return convert_json_lines(shape, path, [path], out_dir, split=split, spec=mapping)

    return each_file(source, shape.adapter, one)


def convert_json_lines(
    shape: ExportShape,
    source: Path,
    files: Sequence[Path],
    out_dir: Path,
    *,
    split: Split,
    spec: MappingSpec | None,
) -> list[Path]:
    """Signups/events Parquet files from the JSON lines in `files` (all of `source`)."""
    folder = output_folder(out_dir, shape.adapter, source, spec)
    con = connect(folder)
    try:
        rows = read_json_lines(con, files, shape, shape.with_mapping(spec), source.name)
        if rows is None:
            return []
        return write_canonical(con, rows, split, folder, source.name)
    except duckdb.Error as exc:
        error = first_line(exc)
        advice = read_hint(error) or f"expected {shape.expected}"
        raise InputError(
            f"{shape.adapter} adapter: cannot read {source.name} as {shape.description}: "
            f"{error}; {advice}"
        ) from exc
    finally:
        con.close()


def convert_table(
    shape: ExportShape,
    source: Path,
    fmt: str | None,
    out_dir: Path,
    *,
    split: Split,
    spec: MappingSpec | None,
) -> list[Path]:
    """Signups/events Parquet files from a CSV or Parquet export with named columns."""
    folder = output_folder(out_dir, shape.adapter, source, spec)
    con = connect(folder)
    try:
        table = stage_table(con, source, fmt, folder)
        fields = shape.with_mapping(spec)
        chosen = {name: table.find(keys) for name, keys in fields.items()}
        missing = [name for name in ("user_id", "ts", "event_type") if not chosen.get(name)]
        if missing:
            raise InputError(
                f"{shape.adapter} adapter: {source.name} is not {shape.description}: no "
                f"column for {', '.join(missing)}; columns found: "
                f"{', '.join(table.columns) or 'none'}; expected {shape.expected}"
            )
        found = {name: column for name, column in chosen.items() if column}
        return write_canonical(con, table.rows(found), split, folder, source.name)
    except duckdb.Error as exc:
        error = first_line(exc)
        hint = read_hint(error)
        raise InputError(
            f"{shape.adapter} adapter: cannot read {source.name}: {error}"
            + (f"; {hint}" if hint else "")
        ) from exc
    finally:
        con.close()
