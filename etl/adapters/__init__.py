"""Adapters turn exports whose shape is not Uptake's (a Stack Exchange dump, a Segment,
PostHog, Amplitude or Mixpanel export, ...) into plain input files that ingestion then
reads with the usual rules and ledger.

A converter is `convert(source, out_dir, platform, mapping=None) -> files`: it writes
Parquet files under `out_dir` (the same bytes for the same input, so loading an export
again is a no-op) and returns them. `mapping` (a mapping file, see etl/mapping.py) may
name the signup and deletion events, the timezone of naive times, the platform and other
source keys for Uptake's columns; without it each adapter uses its defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from etl.adapters import amplitude, mixpanel, posthog, segment, stackexchange
from etl.errors import UsageError
from etl.mapping import MappingSpec


class Converter(Protocol):
    def __call__(
        self,
        source: Path,
        out_dir: Path,
        platform: str | None,
        mapping: MappingSpec | None = None,
        /,
    ) -> list[Path]: ...


def adapters() -> dict[str, tuple[Converter, str]]:
    """name -> (converter(source, out_dir, platform, mapping=None) -> files, description)."""
    return {
        "amplitude": (
            amplitude.convert_amplitude,
            "an Amplitude export (zip of gzipped JSON lines, or .json.gz): event_type, "
            'event_time, user_id/device_id, $insert_id; signups from "Sign Up"',
        ),
        "mixpanel": (
            mixpanel.convert_mixpanel,
            "a Mixpanel Raw Event Export (JSON lines): event, properties.distinct_id, "
            'properties.time (epoch s), properties.$insert_id; signups from "Sign Up"',
        ),
        "posthog": (
            posthog.convert_posthog,
            "a PostHog event export (CSV or JSON lines): event, distinct_id, timestamp, "
            'uuid (or id); signups from "user signed up"',
        ),
        "segment": (
            segment.convert_segment,
            "Segment/RudderStack JSON lines: track (event, userId/anonymousId, timestamp, "
            'messageId) and other calls; signups from "Signed Up"',
        ),
        "stackexchange": (
            stackexchange.convert_dump,
            "a Stack Exchange data dump folder: Users.xml as signups; Posts, Comments and "
            "Badges as usage events",
        ),
    }


def reads_folders_whole(name: str) -> bool:
    """True for an adapter whose export is a folder (read as one), not a folder of files."""
    return name == "stackexchange"


def converter(name: str) -> Converter:
    known = adapters()
    if name not in known:
        raise UsageError(f"--adapter {name!r} is unknown; known adapters: {', '.join(known)}")
    return known[name][0]
