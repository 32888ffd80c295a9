"""Mixpanel exports: the Raw Event Export API's JSON lines (gzip ok; a folder is every file
under it), one event a line: `{"event": "...", "properties": {"time": ..., "distinct_id":
"...", "$insert_id": "...", ...}}`.

`event` names the event; `properties.time` (epoch seconds, or ms with `time_in_ms`) is its
time; `properties.distinct_id` is the user; `properties.$insert_id` is the event id (Mixpanel
dedupes on it, and so does Uptake). An event named in `signup_events` (default "Sign Up",
"Signed Up" and "signup") is the user's signup, with `properties.mp_country_code`; one named
in `deletion_events` (default none) is a deletion. Mixpanel's own events (`$identify`,
`$mp_web_page_view`, ...) load as usage events under their names.

Projects created before 2023 export `time` as wall-clock seconds in the project's timezone,
not UTC: give that timezone (`--tz` or `timezone` in a mapping file) and the times are read
in it."""

from __future__ import annotations

from pathlib import Path

from etl.adapters.exports import convert_each_json_lines_file
from etl.adapters.readers import ExportShape
from etl.mapping import MappingSpec

SHAPE = ExportShape(
    adapter="mixpanel",
    description="a Mixpanel export",
    expected='JSON lines {"event": ..., "properties": {"distinct_id", "time", "$insert_id", '
    "...}} as the Raw Event Export API writes them",
    fields={
        "user_id": ("$.properties.distinct_id",),
        "ts": ("$.properties.time",),
        "event_type": ("event",),
        "event_id": ('$.properties."$insert_id"',),
        "country": ("$.properties.mp_country_code",),
    },
    signature=("$.properties.distinct_id", "$.properties.time"),
    signup_events=("Sign Up", "Signed Up", "signup"),
    epoch_in_timezone=True,
)


def convert_mixpanel(
    source: Path, out_dir: Path, platform: str | None, mapping: MappingSpec | None = None
) -> list[Path]:
    """Write `<source>.signups.parquet` / `.events.parquet` under `out_dir`."""
    return convert_each_json_lines_file(SHAPE, source, out_dir, platform, mapping)
