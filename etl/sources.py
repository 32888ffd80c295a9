"""Input files: discovery, format detection, content hashing, and reading a file into DuckDB
as raw columns with a row number. Validation and loading are in etl/ingest.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.errors import InputError, UsageError
from etl.warehouse import scalar

FORMATS = ("csv", "parquet", "ndjson")
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}
# Files that are still being written, or that are not data, are never picked up.
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".lock")
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SourceFile:
    """One input file as found on disk."""

    path: Path
    size: int
    content_hash: str
    format: str
    gzipped: bool


def is_candidate(path: Path) -> bool:
    """Hidden files, partial downloads and temporary files are not inputs."""
    name = path.name
    return not name.startswith((".", "_")) and not name.endswith(_IGNORED_SUFFIXES)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Expand folders (recursively) into their candidate files, sorted by path.

    Sorted order matters: when two files hold the same event, the first one loads it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and is_candidate(p))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path} does not exist; give a file or a folder of input files")
    return sorted(dict.fromkeys(found))


def input_files(paths: Iterable[Path]) -> list[Path]:
    """`discover` for paths a user named: a folder holding no input file is a UsageError
    (a wrong path, or an export that has not arrived), not a silent run of 0 files."""
    for path in paths:
        if path.is_dir() and not discover([path]):
            raise UsageError(empty_folder_message(path))
    return discover(paths)


def empty_folder_message(folder: Path) -> str:
    skipped = sum(1 for p in folder.rglob("*") if p.is_file())
    why = f" ({skipped} file(s) skipped: hidden, named _..., or partial such as .part)"
    return (
        f"{folder} holds no input files{why if skipped else ''}; put the export's files "
        "there (CSV, Parquet or JSON lines, .gz ok) or give the files' own paths"
    )


def settled(paths: Sequence[Path], now_epoch: float, settle_seconds: float) -> list[Path]:
    """Files not modified in the last `settle_seconds` (a writer may still be busy)."""
    return [p for p in paths if now_epoch - p.stat().st_mtime >= settle_seconds]


def content_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _format_from_name(name: str) -> str | None:
    stem = name[:-3] if name.endswith(".gz") else name
    return _SUFFIX_FORMATS.get(Path(stem).suffix.lower())


def _format_from_bytes(head: bytes) -> str:
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ndjson" if text.startswith(b"{") else "csv"


def detect_format(path: Path, declared: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) from the declared format, else the name, else the first bytes."""
    head = _head(path)
    gzipped = head.startswith(_GZIP_MAGIC)
    if declared:
        if declared not in FORMATS:
            raise UsageError(f"--format {declared!r} is not one of {', '.join(FORMATS)}")
        return declared, gzipped
    by_name = _format_from_name(path.name)
    if by_name:
        return by_name, gzipped
    if gzipped:
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(4096)
        except (OSError, EOFError) as exc:
            raise InputError(
                f"{path} looks gzip-compressed but cannot be read: {exc}; {_GZIP_HINT}"
            ) from exc
    return _format_from_bytes(head), gzipped


_EMPTY_PROBE_BYTES = 1 << 16


def empty_file_reason(path: Path) -> str | None:
    """Why `path` holds nothing to load (0 bytes, or only blank lines, also once
    decompressed), or None. A header without rows is not empty: it is a file of 0 rows."""
    if path.stat().st_size == 0:
        return f"{path.name} is empty (0 bytes): {_EMPTY_ADVICE}"
    try:
        with _opened(path) as handle:
            head = handle.read(_EMPTY_PROBE_BYTES)
            ended = not handle.read(1)
    except (OSError, EOFError):  # truncated or corrupt: the reader says so, with its hint
        return None
    if ended and not head.strip():
        what = "uncompressed" if _head(path, 2) == _GZIP_MAGIC else "of blank lines"
        return f"{path.name} holds no data ({len(head)} bytes {what}): {_EMPTY_ADVICE}"
    return None


_EMPTY_ADVICE = (
    "nothing to load; if the export should hold data, export or download it again, "
    "else delete the file"
)


def _opened(path: Path) -> io.BufferedIOBase:
    if _head(path, 2) == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return path.open("rb")


def describe(path: Path, declared_format: str | None = None) -> SourceFile:
    """The file's format and content hash; InputError when it holds nothing to load."""
    empty = empty_file_reason(path)
    if empty:
        raise InputError(empty)
    fmt, gzipped = detect_format(path, declared_format)
    return SourceFile(path, path.stat().st_size, content_hash(path), fmt, gzipped)


def _gunzip_to(source: Path, scratch: Path) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / (source.name.removesuffix(".gz") + ".unzipped")
    with gzip.open(source, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def stage_raw(
    con: duckdb.DuckDBPyConnection, source: SourceFile, table: str, scratch: Path
) -> list[str]:
    """Make `table` (a temp view or table) hold the file's rows with a 1-based `_row`, the
    file's own columns, `_malformed` (why a row could not even be split into columns) and
    `_raw_line` (the text of such a row). Returns the file's column names.

    CSV lines with the wrong number of fields and NDJSON lines that are not objects stay as
    rows with `_malformed` set, so nothing is dropped silently. DuckDB errors propagate:
    inside a transaction they abort it, and the caller decides what that means."""
    path = source.path
    try:
        if source.format == "parquet":
            if source.gzipped:
                path = _gunzip_to(path, scratch)
                return _stage_parquet(con, path, table, materialize=True)
            return _stage_parquet(con, path, table, materialize=False)
        if source.format == "csv":
            return _stage_csv(con, path, table, source.gzipped)
        return _stage_ndjson(con, path, table, source.gzipped)
    finally:
        if path != source.path:
            path.unlink(missing_ok=True)


def drop_staged(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop what stage_raw made (temp views or tables named `table*`)."""
    kinds = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_catalog = 'temp' AND starts_with(table_name, ?)",
        [table],
    ).fetchall()
    for name, kind in sorted(kinds, key=lambda row: row[0] != table):
        statement = "DROP VIEW" if kind == "VIEW" else "DROP TABLE"
        con.execute(f'{statement} IF EXISTS "{name}"')


_EXTRA = "NULL::VARCHAR AS _malformed, NULL::VARCHAR AS _raw_line"
# DuckDB's AND does not short-circuit; CASE does, so json_type never sees invalid text.
_IS_JSON_OBJECT = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"


def _stage_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, materialize: bool
) -> list[str]:
    # Parquet is typed and cheap to scan again, so large files are read in place (a view),
    # not copied; a decompressed temporary copy must be materialized before it is deleted.
    relation = con.read_parquet(str(path), file_row_number=True)
    columns = [c for c in relation.columns if c != "file_row_number"]
    relation.create_view(f"{table}_src", replace=True)
    select = (
        f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row, {_EXTRA} "
        f'FROM "{table}_src"'
    )
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f'CREATE TEMP {kind} "{table}" AS {select}')
    return columns


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str, gzipped: bool) -> list[str]:
    # Everything is read as text and validated by us; rows DuckDB cannot split come back
    # from its rejects table, so every line of the file is accounted for.
    con.execute("SET preserve_insertion_order = true")
    try:
        relation = con.read_csv(
            str(path),
            all_varchar=True,
            header=True,
            store_rejects=True,
            rejects_table="_csv_rejects",
            rejects_scan="_csv_reject_scans",
            compression="gzip" if gzipped else "auto",
        )
        columns = list(relation.columns)
        relation.create_view(f"{table}_src", replace=True)
        con.execute(
            f'CREATE TEMP TABLE "{table}" AS SELECT *, row_number() OVER () AS _row, {_EXTRA} '
            f'FROM "{table}_src"'
        )
        _renumber_around_rejects(con, table)
        _append_csv_rejects(con, table, columns)
    finally:
        con.execute("SET preserve_insertion_order = false")
    return columns


def _renumber_around_rejects(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Give parsed rows their position in the file, counting the rejected lines between
    them: with rejected data rows d_1 < d_2 < ..., parsed row i sits after reject j
    exactly when i > d_j - j."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _csv_reject_rows AS "
        "SELECT line - 1 - row_number() OVER (ORDER BY line) AS good_before "
        "FROM (SELECT DISTINCT line FROM _csv_rejects)"
    )
    if not scalar(con, "SELECT count(*) FROM _csv_reject_rows"):
        con.execute("DROP TABLE _csv_reject_rows")
        return
    con.execute(
        f'UPDATE "{table}" SET _row = _row + '
        "(SELECT count(*) FROM _csv_reject_rows r WHERE r.good_before < _row)"
    )
    con.execute("DROP TABLE _csv_reject_rows")


def _append_csv_rejects(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    # A line is counted once even when DuckDB reports several errors for it; its position
    # is its line number minus the header line.
    con.execute(
        f'INSERT INTO "{table}" ({names}, _row, _malformed, _raw_line) '
        f"SELECT {', '.join('NULL' for _ in columns)}, line - 1, "
        "'malformed_row: ' || lower(first(error_type ORDER BY column_idx)) || ' ('"
        " || first(error_message ORDER BY column_idx) || ')', first(csv_line) "
        "FROM _csv_rejects GROUP BY line"
    )
    con.execute("DROP TABLE IF EXISTS _csv_rejects")
    con.execute("DROP TABLE IF EXISTS _csv_reject_scans")


def _ndjson_lines(
    con: duckdb.DuckDBPyConnection, path: Path, gzipped: bool
) -> duckdb.DuckDBPyRelation:
    # Each line is one text value: no delimiter or quote character splits it.
    return con.read_csv(
        str(path),
        header=False,
        columns={"line": "VARCHAR"},
        delimiter="\x01",
        quotechar="",
        escapechar="",
        compression="gzip" if gzipped else "auto",
    )


def probe_columns(
    con: duckdb.DuckDBPyConnection, source: SourceFile
) -> tuple[list[str], dict[str, str]]:
    """The file's column names and DuckDB types, read without loading the data (outside
    any transaction, so a file that cannot be read is rejected before the run starts)."""
    try:
        if source.format == "parquet" and not source.gzipped:
            relation = con.read_parquet(str(source.path))
        elif source.format == "parquet":
            return [], {}
        elif source.format == "csv":
            # ignore_errors makes the sniffer judge the dialect by the rows that fit, as
            # the load does (where the others are quarantined, not ignored).
            relation = con.read_csv(
                str(source.path),
                all_varchar=True,
                header=True,
                ignore_errors=True,
                compression="gzip" if source.gzipped else "auto",
            )
        else:
            lines = _ndjson_lines(con, source.path, source.gzipped)
            keys = lines.filter(_IS_JSON_OBJECT).project("unnest(json_keys(line)) AS key")
            names = sorted({str(row[0]) for row in keys.distinct().fetchall()})
            return names, dict.fromkeys(names, "VARCHAR")
        return list(relation.columns), {
            c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)
        }
    except duckdb.Error as exc:
        raise InputError(read_error(source, exc)) from exc


def read_error(source: SourceFile, exc: Exception) -> str:
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    message = f"cannot read {source.path.name} as {source.format}: {first_line}"
    hint = read_hint(first_line)
    return f"{message}; {hint}" if hint else message


def read_hint(error: str) -> str | None:
    """What to do about a reader's error, where the error itself does not say."""
    return _GZIP_HINT if "gzip" in error.lower() else None


_GZIP_HINT = "the compressed data is cut short or corrupt: download or export the file again"


def _stage_ndjson(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, gzipped: bool
) -> list[str]:
    # Each line is read as text, so one bad line cannot fail the file; fields are then
    # extracted as text from the lines that are JSON objects.
    con.execute("SET preserve_insertion_order = true")
    try:
        _ndjson_lines(con, path, gzipped).create_view(f"{table}_src", replace=True)
        con.execute(
            f'CREATE TEMP TABLE "{table}_lines" AS SELECT row_number() OVER () AS _row, line, '
            f"{_IS_JSON_OBJECT} AS _ok "
            f'FROM "{table}_src"'
        )
    finally:
        con.execute("SET preserve_insertion_order = false")
    keys = con.execute(
        f'SELECT DISTINCT unnest(json_keys(line)) FROM "{table}_lines" WHERE _ok ORDER BY 1'
    ).fetchall()
    columns = [str(k[0]) for k in keys if '"' not in str(k[0])]
    fields = "".join(
        f'CASE WHEN _ok THEN json_extract_string(line, ?) END AS "{c}", ' for c in columns
    )
    con.execute(
        f'CREATE TEMP TABLE "{table}" AS SELECT {fields}_row, '
        "CASE WHEN NOT _ok THEN 'invalid_json: the line is not a JSON object' END AS _malformed, "
        f'CASE WHEN NOT _ok THEN line END AS _raw_line FROM "{table}_lines"',
        [f"$.{json_path_key(c)}" for c in columns],
    )
    con.execute(f'DROP TABLE "{table}_lines"')
    return columns


def json_path_key(key: str) -> str:
    """A JSON path member for `key`, quoted so dots and spaces stay part of the name."""
    return '"' + key.replace("\\", "\\\\") + '"'
