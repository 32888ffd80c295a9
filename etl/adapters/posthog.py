"""PostHog event exports: CSV or JSON lines (gzip ok; a folder is every file under it),
as written by PostHog's event export and its S3 batch exports.

Columns (keys): `event` (the event name), `distinct_id` (the user), `timestamp` (ISO 8601,
with an offset or naive UTC), `uuid` (the event id; `id` in the CSV export of PostHog's
UI); the signup's country is `properties.$geoip_country_code` in JSON lines.
An event named in `signup_events` (default "user signed up", PostHog's own example name)
is the user's signup instead of a usage event; one named in `deletion_events` (default
none) is a deletion. `$identify`, `$pageview` and the other `$` events load as usage
events under their own names."""

from __future__ import annotations

from pathlib import Path

from etl.adapters.exports import convert_json_lines, convert_table, each_file, split_for
from etl.adapters.readers import ExportShape
from etl.mapping import MappingSpec
from etl.sources import detect_format

SHAPE = ExportShape(
    adapter="posthog",
    description="a PostHog event export",
    expected="CSV columns or JSON lines with event, distinct_id, timestamp and uuid (or id)",
    fields={
        "user_id": ("distinct_id",),
        "ts": ("timestamp",),
        "event_type": ("event",),
        "event_id": ("uuid", "id"),
        "country": ('$.properties."$geoip_country_code"',),
    },
    signature=("distinct_id",),
    signup_events=("user signed up",),
)


def convert_posthog(
    source: Path, out_dir: Path, platform: str | None, mapping: MappingSpec | None = None
) -> list[Path]:
    """Write `<source>.signups.parquet` / `.events.parquet` under `out_dir`."""

    def one(path: Path) -> list[Path]:
        split = split_for(SHAPE, path, platform, mapping)
        fmt, _ = detect_format(path, mapping.format if mapping else None)
        if fmt == "ndjson":
            return convert_json_lines(SHAPE, path, [path], out_dir, split=split, spec=mapping)
        return convert_table(SHAPE, path, fmt, out_dir, split=split, spec=mapping)

    return each_file(source, SHAPE.adapter, one)
