"""Stack Exchange data dumps (archive.org/details/stackexchange) as growth data.

Users.xml rows become signups (CreationDate, UTC without a zone); Posts (by OwnerUserId),
Comments (by UserId) and Badges (by UserId, Date) become usage events. Every row is passed
on: rows without a user id are quarantined by ingestion as `missing_user_id`, and the
site's "Community" bot (Id -1) is marked with a `_reject_reason`, since it is not a person."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import InputError
from etl.mapping import MappingSpec

COMMUNITY_USER_ID = "-1"
_POST_TYPES = {"1": "question", "2": "answer"}
# file -> (user attribute, time attribute, event type for the row)
_EVENT_FILES = {
    "Posts.xml": ("OwnerUserId", "CreationDate"),
    "Comments.xml": ("UserId", "CreationDate"),
    "Badges.xml": ("UserId", "Date"),
}


def _rows(path: Path) -> Iterator[dict[str, str]]:
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "row":
                yield dict(element.attrib)
                element.clear()
    except ET.ParseError as exc:
        raise InputError(f"{path} is not a readable Stack Exchange XML file: {exc}") from exc


def _event_type(file_name: str, row: dict[str, str]) -> str:
    if file_name == "Posts.xml":
        return _POST_TYPES.get(row.get("PostTypeId", ""), "post")
    return "comment" if file_name == "Comments.xml" else "badge"


def _signups(path: Path, platform: str) -> pa.Table:
    ids, times, reasons = [], [], []
    for row in _rows(path):
        ids.append(row.get("Id"))
        times.append(row.get("CreationDate"))
        reasons.append(
            "system_account: the Community bot (Id -1) is not a person"
            if row.get("Id") == COMMUNITY_USER_ID
            else None
        )
    return pa.table(
        {
            "platform": [platform] * len(ids),
            "user_id": ids,
            "signup_ts": times,
            "event_id": [f"user:{i}" for i in ids],
            "_reject_reason": pa.array(reasons, pa.string()),
        }
    )


def _events(path: Path, platform: str) -> pa.Table:
    user_attr, time_attr = _EVENT_FILES[path.name]
    kind = path.stem.lower()
    users, times, types, ids = [], [], [], []
    for row in _rows(path):
        users.append(row.get(user_attr))
        times.append(row.get(time_attr))
        types.append(_event_type(path.name, row))
        ids.append(f"{kind}:{row.get('Id')}")
    return pa.table(
        {
            "platform": [platform] * len(users),
            "user_id": pa.array(users, pa.string()),
            "event_ts": times,
            "event_type": types,
            "event_id": ids,
        }
    )


def convert_dump(
    folder: Path, out_dir: Path, platform: str | None, mapping: MappingSpec | None = None
) -> list[Path]:
    """Write <out_dir>/<File>.xml.parquet for Users and each event file found in `folder`.
    A mapping may name the platform (a [constants] platform); nothing else applies.

    The output is a pure function of the input bytes, so re-ingesting a dump is a no-op."""
    if not (folder / "Users.xml").is_file():
        raise InputError(
            f"{folder} is not a Stack Exchange dump: Users.xml not found "
            "(expected Users.xml and any of Posts.xml, Comments.xml, Badges.xml)"
        )
    name = platform or (mapping.platform if mapping else None) or folder.name
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    target = out_dir / f"stackexchange-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    written = [_write(_signups(folder / "Users.xml", name), target / "Users.xml.parquet")]
    for file_name in _EVENT_FILES:
        if (folder / file_name).is_file():
            table = _events(folder / file_name, name)
            written.append(_write(table, target / f"{file_name}.parquet"))
    return written


def _write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path, compression="zstd")
    return path
