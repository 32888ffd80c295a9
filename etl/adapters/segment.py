"""Segment and RudderStack exports: JSON lines, one message per line (gzip ok; a folder
is every file under it), as in Segment's S3/warehouse dumps and RudderStack's object
storage destinations.

- `track` calls are usage events named by `event`; an event named in `signup_events`
  (default "Signed Up") is the user's signup instead, one named in `deletion_events`
  (default "Account Deleted", from Segment's B2B SaaS spec) is a deletion.
- `identify`, `page`, `screen`, `group` and `alias` calls are usage events whose type is the
  call's name (`identify`, `page`, ...): every line loads somewhere, and the
  `activity_event_types` setting decides which types count as activity.
- The user is `userId`, else `anonymousId` (an anonymous visitor is a user of its own);
  the time is `timestamp` (ISO 8601 with an offset); a message without one gets the time
  Segment itself computes (`receivedAt - (sentAt - originalTimestamp)`, which corrects the
  device's clock skew), else `originalTimestamp`, else `sentAt`, else `receivedAt`;
  `messageId` is the event id. The
  signup's channel is `context.campaign.source`, its country `context.location.country`;
  other `properties`, `traits` and `context` are not read."""

from __future__ import annotations

from pathlib import Path

from etl.adapters.exports import convert_each_json_lines_file
from etl.adapters.readers import ExportShape
from etl.mapping import MappingSpec

SHAPE = ExportShape(
    adapter="segment",
    description="Segment/RudderStack JSON lines",
    expected="one JSON message per line with type, event, userId or anonymousId, "
    "timestamp and messageId",
    fields={
        "user_id": ("userId", "anonymousId"),
        "ts": ("timestamp", "originalTimestamp", "sentAt", "receivedAt"),
        "event_type": ("event",),
        "event_id": ("messageId",),
        "channel": ("$.context.campaign.source",),
        "country": ("$.context.location.country",),
    },
    signature=("messageId", "userId", "anonymousId"),
    signup_events=("Signed Up",),
    deletion_events=("Account Deleted",),
    call_type="type",
    skew_corrected_ts=("originalTimestamp", "sentAt", "receivedAt"),
)


def convert_segment(
    source: Path, out_dir: Path, platform: str | None, mapping: MappingSpec | None = None
) -> list[Path]:
    """Write `<source>.signups.parquet` / `.events.parquet` under `out_dir`."""
    return convert_each_json_lines_file(SHAPE, source, out_dir, platform, mapping)
