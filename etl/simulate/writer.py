"""Arrow columns built without Python loops, and Parquet files written atomically.

String ids dominate the cost of a simulated row, so ids are fixed-width text built
straight into buffers: hex digits from a lookup table of 16-bit groups (no division),
kept as numpy `void` rows that can be gathered, repeated and concatenated cheaply, and
wrapped as an Arrow string array without a copy."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

IntArray = npt.NDArray[np.int64]
TextArray = npt.NDArray[np.void]  # fixed-width ASCII ids, one `void` item per id
# DuckDB reads a Parquet file in parallel by row group: groups of its own row-group size
# (122,880 rows) let a ~1M-row file load on both cores, not one (-31% ingest wall time).
ROW_GROUP_ROWS = 122_880
BLOCK = 1 << 16
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
DICTIONARY_COLUMNS = ["platform", "event_type", "channel", "country"]
ID_COLUMNS = ("user_id", "event_id", "person_id")
# Unique id strings cost most to write: zstd ~30 ns a value over plain, snappy ~10 ns,
# for about 5 bytes a value where zstd stores under 1. Snappy is the default (faster to
# write and to load); zstd ("compact") halves the files.
FAST_ID_CODEC = "snappy"
COMPACT_ID_CODEC = "zstd"


@functools.cache
def _hex_groups() -> npt.NDArray[np.uint8]:
    """Row i holds the four lowercase hex digits of i (0000 ... ffff); read-only, so the
    memo is safe to share."""
    numbers = np.arange(BLOCK)
    digits = [HEX_DIGITS[(numbers >> shift) & 15] for shift in (12, 8, 4, 0)]
    groups = np.stack(digits, axis=1)
    groups.setflags(write=False)
    return groups


def hex_ids(prefix: str, start: int, count: int, digits: int) -> TextArray:
    """`prefix` + the numbers start, start + 1, ... as `digits` zero-padded hex digits.

    Consecutive numbers share their high digits in blocks of 65,536 and cycle through
    the same low four digits, so the text is filled by broadcasting, without any
    per-row arithmetic."""
    head = prefix.encode()
    width = len(head) + digits
    first_block, last_block = start // BLOCK, (start + max(count, 1) - 1) // BLOCK
    blocks = np.arange(first_block, last_block + 1)
    low = min(digits, 4)
    block = np.empty((BLOCK, width), dtype=np.uint8)
    block[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    block[:, width - low :] = _hex_groups()[:, 4 - low :]
    text = np.empty((len(blocks), BLOCK, width), dtype=np.uint8)
    text[:] = block  # whole-block copies: fast where row-by-row writes are not
    for position in range(digits - low):
        shift = 4 * (digits - low - 1 - position)
        text[:, :, len(head) + position] = HEX_DIGITS[(blocks >> shift) & 15][:, None]
    offset = start - first_block * BLOCK
    rows = text.reshape(-1, width)[offset : offset + count]
    return rows.view(np.dtype((np.void, width))).ravel()


def hex_text(prefix: str, numbers: IntArray, digits: int) -> TextArray:
    """`prefix` + each of any `numbers` as `digits` zero-padded hex digits (one 16-bit
    table lookup per four digits; for consecutive numbers `hex_ids` is cheaper)."""
    head = prefix.encode()
    width = len(head) + digits
    count = len(numbers)
    text = np.empty((count, width), dtype=np.uint8)
    text[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    rest = np.asarray(numbers, dtype=np.int64).view(np.uint64)
    for end in range(width, len(head), -4):
        start = max(end - 4, len(head))
        text[:, start:end] = _hex_groups()[rest & np.uint64(0xFFFF)][:, 4 - (end - start) :]
        rest = rest >> np.uint64(16)
    return text.view(np.dtype((np.void, width))).ravel()


def nullable_string_column(
    text: TextArray, valid: npt.NDArray[np.bool_], filled: npt.NDArray[np.bool_] | None = None
) -> pa.StringArray:
    """Strings where `valid` holds, nulls elsewhere: the rows of `text` in order, one for
    each valid row that is `filled` (default: all of them); a valid row not filled is ''."""
    filled = valid if filled is None else filled & valid
    count, width = len(valid), text.dtype.itemsize
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(filled * np.int32(width), out=offsets[1:])
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        count,
        pa.py_buffer(offsets),
        pa.py_buffer(np.ascontiguousarray(text) if len(text) else b" "),
        pa.py_buffer(bitmap),
        null_count=count - int(valid.sum()),
    )


def string_column(text: TextArray) -> pa.StringArray:
    """Fixed-width ids as an Arrow string array, sharing the bytes."""
    count, width = len(text), text.dtype.itemsize
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(text)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def coded_strings(codes: npt.NDArray[np.int8], values: tuple[str, ...]) -> pa.DictionaryArray:
    """A low-cardinality string column as dictionary codes (Parquet stores it as text)."""
    indices = pa.Array.from_buffers(pa.int8(), len(codes), [None, _buffer(codes, np.int8)])
    # safe=False: the codes index `values` by construction, so skip Arrow's bounds check.
    return pa.DictionaryArray.from_arrays(indices, text_values(values), safe=False)


def constant_strings(value: str, count: int) -> pa.DictionaryArray:
    return coded_strings(np.zeros(count, dtype=np.int8), (value,))


def text_values(values: tuple[str, ...]) -> pa.StringArray:
    """A few strings as an Arrow array, built from buffers: `pa.array` would import pandas
    (about 0.8 CPU-s, under the GIL) the first time it runs in a process."""
    encoded = [v.encode() for v in values]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int32)
    data = np.frombuffer(b"".join(encoded) or b" ", dtype=np.uint8)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data))


def timestamps(micros: IntArray, valid: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """UTC instants as naive timestamp[us] (the warehouse's convention); nulls where
    `valid` is False."""
    count = len(micros)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else count - int(np.count_nonzero(valid))
    data = _buffer(micros, np.int64)
    return pa.Array.from_buffers(pa.timestamp("us"), count, [bitmap, data], null_count=nulls)


def _buffer(values: npt.NDArray[Any], dtype: type[np.generic]) -> pa.Buffer:
    return pa.py_buffer(np.ascontiguousarray(values, dtype=dtype))


def plain_strings(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded, so tables of different dictionaries concatenate."""
    columns = [
        col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col for col in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def required_where_complete(table: pa.Table) -> pa.Table:
    """The table with every column that holds no null declared non-nullable (no copy).

    Parquet then stores those columns as REQUIRED, without definition levels: that saves
    about a sixth of the writing CPU and changes nothing a reader sees but the flag."""
    fields = [
        field.with_nullable(column.null_count > 0)
        for field, column in zip(table.schema, table.columns, strict=True)
    ]
    return pa.table(table.columns, schema=pa.schema(fields))


def write_json_atomically(data: Any, path: Path) -> None:
    """Write `data` as indented JSON to `path` via `path.tmp` and a rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)


def write_parquet_atomically(table: pa.Table, path: Path, id_codec: str = FAST_ID_CODEC) -> int:
    """Write `table` to `path` via `path.tmp` and a rename, so a reader never sees half a
    file (the inbox scanner ignores *.tmp); the id columns compressed with `id_codec`,
    the other strings with zstd. Returns the file's size in bytes."""
    temporary = path.with_name(path.name + ".tmp")
    table = required_where_complete(table)
    times = [c for c in table.column_names if c.endswith("_ts")]
    pq.write_table(
        table,
        temporary,
        compression={c: _codec(c, times, id_codec) for c in table.column_names},
        row_group_size=ROW_GROUP_ROWS,
        # Unique ids gain nothing from a dictionary, and statistics on them are costly.
        use_dictionary=[c for c in DICTIONARY_COLUMNS if c in table.column_names],
        write_statistics=times,
        column_encoding=dict.fromkeys(times, "DELTA_BINARY_PACKED"),
        # Without the Arrow schema, readers see plain strings rather than dictionaries.
        store_schema=False,
    )
    os.replace(temporary, path)
    return path.stat().st_size


def _codec(column: str, times: list[str], id_codec: str) -> str:
    if column in times:
        return "none"  # delta-encoded times are about as small as compressed plain ones
    return id_codec if column in ID_COLUMNS else "zstd"


def id_codec_of(path: Path) -> str:
    """The codec of a simulated file's id columns (to rewrite it the same way)."""
    metadata = pq.read_metadata(path)
    names = metadata.schema.names
    column = next((names.index(c) for c in ID_COLUMNS if c in names), None)
    if column is None or metadata.num_row_groups == 0:
        return FAST_ID_CODEC
    return str(metadata.row_group(0).column(column).compression).lower()
