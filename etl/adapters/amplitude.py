"""Amplitude exports: the Export API's zip of gzipped JSON lines files (one per project
and hour), a single `.json.gz`/`.json` file, or a folder of them.

`event_type` names the event; `event_time` ("2023-01-01 00:00:00.123000", UTC without a
zone) is its time; `$insert_id` (else `insert_id`, else `uuid`) is the event id. The user
is `user_id`, else `device_id`: events sent before a user logged in carry only the device,
which Uptake then counts as a user of its own (map `user_id = "amplitude_id"` in a mapping
file to count Amplitude's merged users instead). An event named in `signup_events`
(default "Sign Up" and "signup") is the user's signup, with `country`; one named in
`deletion_events` (default none) is a deletion."""

from __future__ import annotations

import zipfile
from pathlib import Path

from etl.adapters.canonical import output_folder
from etl.adapters.exports import convert_json_lines, each_file, split_for
from etl.adapters.readers import ExportShape
from etl.errors import InputError
from etl.mapping import MappingSpec

SHAPE = ExportShape(
    adapter="amplitude",
    description="an Amplitude export",
    expected="a zip of gzipped JSON lines (or one .json.gz) with event_type, event_time, "
    "user_id or device_id and $insert_id",
    fields={
        "user_id": ("user_id", "device_id"),
        "ts": ("event_time",),
        "event_type": ("event_type",),
        "event_id": ("$insert_id", "insert_id", "uuid"),
        "country": ("country",),
    },
    signature=("event_time", "amplitude_id"),
    signup_events=("Sign Up", "signup"),
)
_MEMBER_SUFFIXES = (".json.gz", ".json", ".jsonl", ".jsonl.gz", ".gz")


def convert_amplitude(
    source: Path, out_dir: Path, platform: str | None, mapping: MappingSpec | None = None
) -> list[Path]:
    """Write `<source>.signups.parquet` / `.events.parquet` under `out_dir`."""

    def one(path: Path) -> list[Path]:
        split = split_for(SHAPE, path, platform, mapping)
        files = _unzipped(path, output_folder(out_dir, SHAPE.adapter, path, mapping))
        try:
            return convert_json_lines(SHAPE, path, files, out_dir, split=split, spec=mapping)
        finally:
            for member in files:
                if member != path:
                    member.unlink(missing_ok=True)

    return each_file(source, SHAPE.adapter, one)


def _unzipped(path: Path, folder: Path) -> list[Path]:
    """The export's JSON lines files: the zip's members in name order (still gzipped,
    DuckDB reads them so), or the file itself."""
    if not zipfile.is_zipfile(path):
        return [path]
    target = folder / "members"
    target.mkdir(parents=True, exist_ok=True)
    files = []
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.lower().endswith(_MEMBER_SUFFIXES))
            for i, name in enumerate(names):
                member = target / f"{i:06d}-{Path(name).name}"
                member.write_bytes(archive.read(name))
                files.append(member)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"amplitude adapter: cannot unzip {path.name}: {exc}") from exc
    if not files:
        raise InputError(
            f"amplitude adapter: {path.name} holds no JSON lines files (.json.gz); "
            f"expected {SHAPE.expected}"
        )
    return files
