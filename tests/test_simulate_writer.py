"""The simulator's Arrow columns and Parquet files: values, nullability, and no pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl.simulate import SimulationOptions, simulate
from etl.simulate.writer import (
    ROW_GROUP_ROWS,
    coded_strings,
    constant_strings,
    hex_ids,
    hex_text,
    id_codec_of,
    nullable_string_column,
    string_column,
    timestamps,
    write_parquet_atomically,
)


def test_columns_built_from_buffers_hold_the_expected_values() -> None:
    assert string_column(hex_ids("x-u", 65_534, 3, 8)).to_pylist() == [
        "x-u0000fffe",
        "x-u0000ffff",
        "x-u00010000",
    ]
    numbers = np.array([0, 255, 70_000], dtype=np.int64)
    assert string_column(hex_text("p", numbers, 6)).to_pylist() == ["p000000", "p0000ff", "p011170"]
    codes = np.array([2, 0, 1, 2], dtype=np.int8)
    assert coded_strings(codes, ("a", "bb", "")).to_pylist() == ["", "a", "bb", ""]
    assert constant_strings("viral", 2).to_pylist() == ["viral", "viral"]
    valid = np.array([True, False, True, True])
    stamps = timestamps(np.array([0, 1, 2, 86_400_000_000], dtype=np.int64), valid)
    assert stamps.type == pa.timestamp("us") and stamps.null_count == 1
    assert [str(t) for t in stamps.to_pylist()] == [
        "1970-01-01 00:00:00",
        "None",
        "1970-01-01 00:00:00.000002",
        "1970-01-02 00:00:00",
    ]


def test_nullable_strings_take_text_rows_for_filled_rows_only() -> None:
    text = hex_text("u", np.array([1, 2], dtype=np.int64), 2)
    valid = np.array([True, False, True, True])
    filled = np.array([True, True, False, True])  # row 1 is null anyway; row 2 is blank
    column = nullable_string_column(text, valid, filled)
    assert column.to_pylist() == ["u01", None, "", "u02"]
    assert nullable_string_column(text[:0], np.zeros(2, dtype=np.bool_)).to_pylist() == [None] * 2


def test_complete_columns_are_written_as_required(tmp_path: Path) -> None:
    table = pa.table(
        {
            "user_id": string_column(hex_ids("u", 0, 3, 4)),
            "person_id": nullable_string_column(
                hex_ids("p", 0, 1, 4), np.array([False, True, False])
            ),
        }
    )
    path = tmp_path / "t.parquet"
    write_parquet_atomically(table, path)
    schema = pq.read_metadata(path).schema
    assert [schema.column(i).max_definition_level for i in range(2)] == [0, 1]
    back = pq.read_table(path)
    assert back.column_names == ["user_id", "person_id"]
    assert back["user_id"].to_pylist() == ["u0000", "u0001", "u0002"]
    assert back["person_id"].to_pylist() == [None, "p0000", None]
    assert not list(tmp_path.glob("*.tmp"))


def test_dirty_files_keep_nullable_columns_where_rows_are_malformed(tmp_path: Path) -> None:
    options = SimulationOptions(preset="viral", scale=0.002, seed=5, days=2, dirty=0.2)
    result = simulate(options, tmp_path / "inbox")
    optional = set()
    for path in result.files:
        table = pq.read_table(path)
        schema = pq.read_metadata(path).schema
        for i, name in enumerate(table.column_names):
            has_nulls = table[name].null_count > 0
            assert schema.column(i).max_definition_level == int(has_nulls), (path, name)
            if has_nulls:
                optional.add(name)
    assert {"user_id", "event_ts", "signup_ts", "person_id"} <= optional


def test_simulating_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas on the first `pa.array` call: about 0.8 CPU-s per run."""
    script = (
        "import sys; from pathlib import Path; "
        "from etl.simulate import SimulationOptions, simulate; "
        "simulate(SimulationOptions(preset='viral', scale=0.001, days=2, dirty=0.05), "
        f"Path({str(tmp_path / 'inbox')!r})); "
        "print('pandas' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def id_codecs(path: Path) -> dict[str, str]:
    metadata = pq.read_metadata(path)
    group = metadata.row_group(0)
    return {
        group.column(i).path_in_schema: group.column(i).compression
        for i in range(metadata.num_columns)
    }


def test_compact_compresses_ids_with_zstd_and_changes_nothing_else(tmp_path: Path) -> None:
    """Ids are snappy by default (cheaper to write and to load), zstd with `compact`."""
    results = {
        compact: simulate(
            SimulationOptions(preset="steady", scale=0.003, seed=2, days=3, compact=compact),
            tmp_path / str(compact) / "inbox",
        )
        for compact in (False, True)
    }
    fast, compact = results[False], results[True]
    assert (fast.id_codec, compact.id_codec) == ("snappy", "zstd")
    assert [p.name for p in fast.files] == [p.name for p in compact.files]
    for fast_file, compact_file in zip(fast.files, compact.files, strict=True):
        assert pq.read_table(fast_file).equals(pq.read_table(compact_file))
        codecs, compact_codecs = id_codecs(fast_file), id_codecs(compact_file)
        for name, codec in codecs.items():
            if name in ("user_id", "event_id", "person_id"):
                assert (codec, compact_codecs[name]) == ("SNAPPY", "ZSTD")
            else:
                assert codec == compact_codecs[name] != "SNAPPY"
    assert compact.bytes_written < 0.8 * fast.bytes_written
    assert id_codec_of(fast.files[0]) == "snappy" and id_codec_of(compact.files[0]) == "zstd"


def test_the_cli_passes_compact(tmp_path: Path) -> None:
    """`uptake simulate --compact` writes zstd ids; without it, snappy."""
    from etl.cli import main

    for flag, home, want in (([], "fast", "SNAPPY"), (["--compact"], "small", "ZSTD")):
        args = ["--home", str(tmp_path / home), "simulate", "--preset", "steady"]
        args += ["--scale", "0.001", "--days", "2", "--quiet", *flag]
        assert main(args) == 0
        files = sorted((tmp_path / home / "inbox").rglob("*.parquet"))
        assert files
        assert {id_codecs(f)["user_id"] for f in files} == {want}


def test_large_files_are_cut_into_row_groups_duckdb_can_read_in_parallel(tmp_path: Path) -> None:
    """DuckDB splits a Parquet scan across threads by row group: a million-row file in one
    group loads on one core. Files are cut at DuckDB's own row-group size."""
    rows = 2 * ROW_GROUP_ROWS + 5
    table = pa.table(
        {
            "platform": pa.array(["p"] * rows),
            "user_id": pa.array([f"u{i}" for i in range(rows)]),
            "event_ts": pa.array(np.arange(rows).astype("datetime64[us]")),
        }
    )
    path = tmp_path / "events.parquet"
    write_parquet_atomically(table, path)
    metadata = pq.read_metadata(path)
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 5]
    # The same size as the row groups of a DuckDB table.
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(?)", [rows])
    groups = con.execute(
        "SELECT row_group_id, max(start + count) - min(start) FROM pragma_storage_info('t') "
        "WHERE segment_type <> 'VALIDITY' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert [n for _, n in groups] == sizes
