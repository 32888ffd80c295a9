"""Reading an export's rows for the adapters: JSON lines (one object per line, any number
of files, gzip ok) and tabular files (CSV, Parquet, NDJSON through ingestion's own
lossless reader). Both keep every line: one that cannot be read stays as a row with the
reason, so the adapter passes it on for quarantine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from etl.adapters.canonical import VALUES, SourceRows
from etl.errors import InputError
from etl.mapping import MappingSpec
from etl.sources import SourceFile, detect_format, json_path_key, read_error, stage_raw

# Mapping-file column names -> the value they feed (both timestamps are "the row's time").
MAPPED_VALUES = {
    "platform": "platform",
    "user_id": "user_id",
    "signup_ts": "ts",
    "event_ts": "ts",
    "event_type": "event_type",
    "event_id": "event_id",
    "channel": "channel",
    "country": "country",
    "person_id": "person_id",
}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ExportShape:
    """What one export format looks like.

    `fields`: value -> the keys (or JSON paths starting with `$`) that may hold it, first
    non-blank wins. `signature`: keys of which every line of this export has at least one
    (a file where no line has any is not this export). `call_type`: a key naming the kind
    of call (Segment's `type`); calls other than `track` become events of that name.
    `skew_corrected_ts`: the keys (original, sent, received) of an export that computes a
    missing time as `received - (sent - original)`; that value comes right after the first
    `ts` key and before the others. `epoch_in_timezone`: an epoch `ts` counts wall-clock
    seconds in the export's declared timezone (Mixpanel before 2023), not UTC."""

    adapter: str
    description: str
    expected: str
    fields: Mapping[str, tuple[str, ...]]
    signature: tuple[str, ...]
    signup_events: tuple[str, ...] = ()
    deletion_events: tuple[str, ...] = ()
    call_type: str | None = None
    skew_corrected_ts: tuple[str, str, str] | None = None
    epoch_in_timezone: bool = False

    def with_mapping(self, spec: MappingSpec | None) -> dict[str, tuple[str, ...]]:
        """The fields, with a mapping file's [columns] naming other keys: a key with dots
        ("properties.distinct_id") is that top-level key, else that path into nested
        objects."""
        fields = dict(self.fields)
        for column, key in (spec.columns if spec else {}).items():
            nested = (nested_path(key),) if "." in key and not _is_json_path(key) else ()
            fields[MAPPED_VALUES[column]] = (key, *nested)
        return fields


def nested_path(dotted: str) -> str:
    """The JSON path of a dotted key: "properties.$insert_id" -> $."properties"."$insert_id"."""
    return "$." + ".".join(json_path_key(part) for part in dotted.split("."))


def _is_json_path(key: str) -> bool:
    return key.startswith(("$.", "$["))


def _json_path(key: str) -> str:
    # "$.a.b" is a JSON path; anything else ("userId", "$insert_id") is a top-level key.
    return key if _is_json_path(key) else f"$.{json_path_key(key)}"


def read_json_lines(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    shape: ExportShape,
    fields: Mapping[str, tuple[str, ...]],
    label: str,
) -> SourceRows | None:
    """The lines of `files` as one relation; None when there are no lines at all.

    Raises InputError when no line looks like this export (naming the adapter, the file
    and what was expected)."""
    corrected = shape.skew_corrected_ts if fields.get("ts") == shape.fields.get("ts") else None
    keys = list(dict.fromkeys([k for v in fields.values() for k in v] + list(shape.signature)))
    keys += [k for k in (shape.call_type, *(corrected or ())) if k and k not in keys]
    _stage_lines(con, files, keys)
    _check_recognised(con, shape, keys, label)
    if not _count(con, "SELECT count(*) FROM _adapter_lines"):
        return None
    position = {key: i + 1 for i, key in enumerate(keys)}
    values = {
        name: _first_of([_text_at(position[k]) for k in candidates])
        for name, candidates in fields.items()
        if name in VALUES and candidates
    }
    if corrected:
        parts = [_text_at(position[k]) for k in fields["ts"]]
        parts.insert(1, _skew_corrected([position[k] for k in corrected]))
        values["ts"] = _first_of(parts)
    if shape.epoch_in_timezone and "ts" in values:
        values["ts"] = _epoch_as_wall_clock(values["ts"])
    if shape.call_type:
        call = f"lower(nullif(trim(v[{position[shape.call_type]}]), ''))"
        values["event_type"] = (
            f"CASE WHEN {call} IS NULL OR {call} = 'track' "
            f"THEN {values.get('event_type', 'NULL')} ELSE {call} END"
        )
    return SourceRows(
        relation="_adapter_lines",
        values=values,
        ts_type="VARCHAR",
        source_file="file",
        source_row="n",
        bad="CASE WHEN NOT ok THEN 'invalid_json' END",
        raw="line",
    )


def _text_at(index: int) -> str:
    return f"nullif(trim(v[{index}]), '')"


def _first_of(parts: Sequence[str]) -> str:
    return f"coalesce({', '.join(parts)})"


def _skew_corrected(indexes: Sequence[int]) -> str:
    """received - (sent - original) as ISO text in UTC: NULL unless all three parse."""
    original, sent, received = (f"try_cast({_text_at(i)} AS TIMESTAMPTZ)" for i in indexes)
    return f"strftime({received} - ({sent} - {original}), '%Y-%m-%dT%H:%M:%S.%fZ')"


_WALL_CLOCK = "'%Y-%m-%d %H:%M:%S.%f'"


def _epoch_as_wall_clock(text: str) -> str:
    """Epoch seconds (or ms) as naive text, which the declared timezone then applies to
    (with the default UTC the time is the same); other text stays as it is."""
    return (
        f"CASE WHEN regexp_full_match({text}, '-?\\d{{9,11}}(\\.\\d+)?') "
        f"THEN strftime(to_timestamp(CAST({text} AS DOUBLE)), {_WALL_CLOCK}) "
        f"WHEN regexp_full_match({text}, '-?\\d{{12,14}}(\\.\\d+)?') "
        f"THEN strftime(to_timestamp(CAST({text} AS DOUBLE) / 1000), {_WALL_CLOCK}) "
        f"ELSE {text} END"
    )


def _stage_lines(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], keys: Sequence[str]
) -> None:
    gzipped = {_is_gzipped(f) for f in files}
    # One reader for all files: by content when they agree, else by each file's name.
    compression: Literal["auto", "gzip", "none"] = (
        "auto" if len(gzipped) > 1 else "gzip" if gzipped == {True} else "none"
    )
    # Each line is one text value: no delimiter or quote character splits it.
    lines = con.read_csv(
        [str(f) for f in files],
        header=False,
        columns={"line": "VARCHAR"},
        delimiter="\x01",
        quotechar="",
        escapechar="",
        compression=compression,
        filename=True,
    )
    lines.create_view("_adapter_src", replace=True)
    con.execute("SET preserve_insertion_order = true")
    # DuckDB's AND does not short-circuit; CASE does, so json_type never sees invalid text.
    con.execute(
        """
        CREATE TEMP TABLE _adapter_lines AS
        SELECT *, CASE WHEN ok THEN json_extract_string(line, ?::VARCHAR[]) END AS v
        FROM (
            SELECT parse_filename(filename) AS file, row_number() OVER () AS n, line,
                   CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END
                       AS ok
            FROM _adapter_src
        )
        """,
        [[_json_path(k) for k in keys]],
    )


def _is_gzipped(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    [(count,)] = con.execute(sql).fetchall()
    return int(count)


def _check_recognised(
    con: duckdb.DuckDBPyConnection, shape: ExportShape, keys: Sequence[str], label: str
) -> None:
    position = {key: i + 1 for i, key in enumerate(keys)}
    signature = " OR ".join(f"v[{position[k]}] IS NOT NULL" for k in shape.signature)
    [(lines, objects, recognised)] = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE ok), "
        f"count(*) FILTER (WHERE ok AND ({signature})) FROM _adapter_lines"
    ).fetchall()
    if not lines or recognised:
        return
    if not objects:
        why = f"none of its {lines:,} lines is a JSON object"
    else:
        why = f"none of its {objects:,} JSON lines has any of {', '.join(shape.signature)}"
    raise InputError(
        f"{shape.adapter} adapter: {label} is not {shape.description}: {why}; "
        f"expected {shape.expected}"
    )


@dataclass(frozen=True)
class StagedTable:
    """A tabular file staged by ingestion's reader: its columns and their DuckDB types."""

    path: Path
    columns: list[str]
    types: dict[str, str]

    def find(self, candidates: Sequence[str]) -> str | None:
        """The first candidate the file has: a column (names match case-insensitively), else
        a dotted path into a column of nested JSON or structs ("properties.distinct_id")."""
        for candidate in candidates:
            found = self._column(candidate)
            if found is not None:
                return found
            if self._nested(candidate) is not None:
                return candidate
        return None

    def _column(self, name: str) -> str | None:
        by_lower = {c.lower(): c for c in self.columns}
        return by_lower.get(name.lower())

    def _nested(self, dotted: str) -> tuple[str, str] | None:
        """(column, path inside it) for the longest leading part of `dotted` that is a
        column, or None."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            column = self._column(".".join(parts[:cut]))
            if column is not None:
                return column, ".".join(parts[cut:])
        return None

    def expression(self, found: str) -> str:
        """SQL reading what `find` returned: the column, or the nested value as text."""
        if found in self.columns:
            return _quote(found)
        nested = self._nested(found)
        assert nested is not None
        column, path = nested
        # Text columns hold JSON text (NDJSON objects, PostHog's CSV `properties`).
        json = _quote(column)
        if self.types[column].upper() not in ("VARCHAR", "JSON"):
            json = f"to_json({json})"
        return f"json_extract_string({json}, '{nested_path(path).replace(chr(39), chr(39) * 2)}')"

    def rows(self, chosen: Mapping[str, str]) -> SourceRows:
        """Rows reading each value (value -> what `find` returned) from the staged table."""
        packed = ", ".join(f"{_quote(c)} := {_quote(c)}" for c in self.columns)
        return SourceRows(
            relation='"_adapter_table"',
            values={name: self.expression(f) for name, f in chosen.items() if name in VALUES},
            ts_type=self.types.get(chosen.get("ts", ""), "VARCHAR"),
            source_file="getvariable('adapter_file')",
            source_row="_row",
            bad="_malformed",
            raw=f"coalesce(_raw_line, to_json(struct_pack({packed}))::VARCHAR)"
            if self.columns
            else "_raw_line",
        )


def stage_table(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str | None, scratch: Path
) -> StagedTable:
    """A CSV, Parquet or NDJSON file (gzip ok) through ingestion's lossless reader."""
    declared, gzipped = detect_format(path, fmt)
    source = SourceFile(path, path.stat().st_size, "", declared, gzipped)
    try:
        columns = stage_raw(con, source, "_adapter_table", scratch)
    except duckdb.Error as exc:
        raise InputError(read_error(source, exc)) from exc
    types = {str(r[0]): str(r[1]) for r in con.execute('DESCRIBE "_adapter_table"').fetchall()}
    con.execute("SET VARIABLE adapter_file = ?", [path.name])
    return StagedTable(path, columns, types)


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
