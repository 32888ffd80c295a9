"""Export adapters end to end: small exports written as the vendors document them, loaded
through the pipeline, every row accounted for (read = loaded + duplicate + quarantined)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from etl.adapters import adapters
from etl.cli import main
from etl.config import Settings, load_settings
from etl.convert import convert_with_mapping
from etl.errors import InputError, UsageError
from etl.ingest import IngestOptions
from etl.mapping import MappingSpec
from etl.pipeline import RunResult, ingest_and_publish, ingest_only, run_pass
from etl.snapshot import current_snapshot, read_table
from etl.warehouse import connect


def ingest(settings: Settings, path: Path, clock: datetime, **options: object) -> RunResult:
    return ingest_only(
        settings,
        [path],
        IngestOptions(**options),  # type: ignore[arg-type]
        now=clock,
    )


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    con = connect(settings, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def accounted(result: RunResult) -> tuple[int, int, int, int]:
    """(read, loaded, duplicate, quarantined), after checking that they add up."""
    counts = tuple(
        result.total(name)
        for name in ("rows_read", "rows_loaded", "rows_duplicate", "rows_quarantined")
    )
    assert counts[0] == counts[1] + counts[2] + counts[3]
    return counts  # type: ignore[return-value]


def warehouse_counts(settings: Settings) -> dict[str, int]:
    [(signups, events, deletions, quarantined)] = rows(
        settings,
        "SELECT (SELECT count(*) FROM signups), (SELECT count(*) FROM events), "
        "(SELECT count(*) FROM deletions), (SELECT count(*) FROM quarantine)",
    )
    return {
        "signups": int(signups),  # type: ignore[call-overload]
        "events": int(events),  # type: ignore[call-overload]
        "deletions": int(deletions),  # type: ignore[call-overload]
        "quarantined": int(quarantined),  # type: ignore[call-overload]
    }


def published(settings: Settings) -> dict[str, object]:
    """The live snapshot's platform rows (signups, t0) and DAU by day, per platform."""
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    platforms = read_table(snapshot, "platforms").to_pylist()
    active = read_table(snapshot, "active").to_pylist()
    return {
        p["platform"]: {
            "signups": p["signups"],
            "t0": p["t0"].replace(tzinfo=None),
            "dau": {str(a["day"]): a["dau"] for a in active if a["platform"] == p["platform"]},
        }
        for p in platforms
    }


def reasons(settings: Settings) -> list[object]:
    return [r[0] for r in rows(settings, "SELECT reason FROM quarantine ORDER BY reason")]


# --- Segment ---------------------------------------------------------------------------


def segment_message(kind: str, **fields: object) -> str:
    message = {
        "type": kind,
        "messageId": f"m-{fields.pop('n')}",
        "timestamp": "2024-03-01T09:00:00.000Z",
        "context": {"library": {"name": "analytics.js"}},
        "properties": {},
    }
    message.update(fields)
    return json.dumps(message)


def write_segment(path: Path) -> Path:
    lines = [
        segment_message("identify", n=1, userId="u1", traits={"email": "a@b.c"}),
        segment_message(
            "track",
            n=2,
            userId="u1",
            event="Signed Up",
            context={"campaign": {"source": "ads"}, "location": {"country": "FR"}},
        ),
        segment_message("track", n=3, userId="u1", event="Post Created"),
        segment_message("track", n=4, anonymousId="anon-9", event="Post Created"),
        segment_message("page", n=5, userId="u1", name="Home"),
        segment_message(
            "track", n=6, userId=42, event="Signed Up", timestamp="2024-03-01T10:00:00+02:00"
        ),
        segment_message("track", n=3, userId="u1", event="Post Created"),  # a retry
        '{"type": "track", "event": "Broken',  # cut off mid-line
        segment_message("track", n=9, userId="u3", event="Liked", timestamp="yesterday"),
        segment_message("track", n=10, event="Liked"),  # no user at all
        segment_message("track", n=11, userId=42, event="Account Deleted"),
        "[1, 2]",  # JSON, but not a message
        segment_message(
            "track", n=13, userId="u1", event="Signed Up", timestamp="2024-03-05T00:00:00Z"
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_segment_track_identify_and_bad_lines(settings: Settings, tmp_path: Path, clock: datetime):
    path = write_segment(tmp_path / "segment-2024-03-01.jsonl")
    result = ingest(settings, path, clock, adapter="segment", platform="app")
    # 13 lines: signups u1, 42; events identify, 2 x Post Created, page; 1 deletion;
    # duplicates: the retried message and u1's second signup; 4 quarantined.
    assert accounted(result) == (13, 7, 2, 4)
    assert warehouse_counts(settings) == {
        "signups": 2,
        "events": 4,
        "deletions": 1,
        "quarantined": 4,
    }
    assert reasons(settings) == [
        "invalid_json",
        "invalid_json",
        "missing_user_id",
        "unparseable_timestamp",
    ]
    assert rows(
        settings, "SELECT user_id, signup_ts, channel, country, event_id FROM signups ORDER BY 1"
    ) == [
        ("42", datetime(2024, 3, 1, 8, 0), None, None, "m-6"),
        ("u1", datetime(2024, 3, 1, 9, 0), "ads", "FR", "m-2"),
    ]
    assert rows(settings, "SELECT user_id, event_type FROM events_with_ids ORDER BY event_id") == [
        ("u1", "identify"),
        ("u1", "Post Created"),
        ("anon-9", "Post Created"),
        ("u1", "page"),
    ]
    # A quarantined line keeps its text and its line number in the export.
    raw = rows(settings, "SELECT raw FROM quarantine WHERE reason = 'invalid_json' ORDER BY 1")
    quarantined = [json.loads(str(r[0])) for r in raw]
    assert sorted((q["source_row"], q["source_raw"]) for q in quarantined) == [
        (8, '{"type": "track", "event": "Broken'),
        (12, "[1, 2]"),
    ]


def test_segment_export_loaded_again_is_a_no_op(
    settings: Settings, tmp_path: Path, clock: datetime
):
    path = write_segment(tmp_path / "segment.jsonl")
    ingest(settings, path, clock, adapter="segment", platform="app")
    again = ingest(settings, path, clock, adapter="segment", platform="app")
    assert {f.outcome for f in again.files} == {"already_loaded"}
    assert accounted(again) == (0, 0, 0, 0)


def test_segment_gzipped_folder(settings: Settings, tmp_path: Path, clock: datetime):
    folder = tmp_path / "s3-dump"
    folder.mkdir()
    text = write_segment(tmp_path / "plain.jsonl").read_bytes()
    (folder / "part-0001.gz").write_bytes(gzip.compress(text))
    result = ingest(settings, folder, clock, adapter="segment", platform="app")
    assert accounted(result) == (13, 7, 2, 4)


def test_segment_time_without_timestamp_follows_segment(
    settings: Settings, tmp_path: Path, clock: datetime
):
    """No `timestamp`: Segment's own skew correction, receivedAt - (sentAt -
    originalTimestamp), else originalTimestamp, else sentAt, else receivedAt."""
    times = [
        {  # a device clock 2 h behind: the event happened 5 s before receipt
            "originalTimestamp": "2024-03-01T09:00:00Z",
            "sentAt": "2024-03-01T09:00:05Z",
            "receivedAt": "2024-03-01T11:00:10.500Z",
        },
        {"originalTimestamp": "2024-03-02T08:00:00+01:00"},
        {"sentAt": "2024-03-03T10:00:00Z", "receivedAt": "2024-03-03T10:00:01Z"},
        {"receivedAt": "2024-03-04T12:30:00Z"},
        {},  # no time at all
        {"timestamp": "2024-03-05T00:00:00Z", "receivedAt": "2024-03-06T00:00:00Z"},
    ]
    lines = [
        json.dumps({"type": "track", "messageId": f"m-{n}", "userId": "u1",
                    "event": "Signed Up" if n == 0 else "Liked", **time})
        for n, time in enumerate(times)
    ]  # fmt: skip
    path = tmp_path / "rudderstack.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_and_publish(
        settings, [path], IngestOptions(adapter="segment", platform="app"), now=clock
    )
    assert accounted(result) == (6, 5, 0, 1)
    assert reasons(settings) == ["missing_timestamp"]
    assert rows(settings, "SELECT signup_ts FROM signups") == [
        (datetime(2024, 3, 1, 11, 0, 5, 500000),)
    ]
    assert rows(settings, "SELECT event_ts FROM events ORDER BY event_id") == [
        (datetime(2024, 3, 2, 7, 0),),
        (datetime(2024, 3, 3, 10, 0),),
        (datetime(2024, 3, 4, 12, 30),),
        (datetime(2024, 3, 5, 0, 0),),
    ]
    app = published(settings)["app"]
    assert (app["signups"], app["t0"]) == (1, datetime(2024, 3, 1, 11, 0, 5, 500000))  # type: ignore[index]
    assert result.exit_code == 1  # the quarantined row


def write_segment_parts(folder: Path) -> Path:
    """A Segment S3 dump as it may arrive: two good gzipped parts, a 0-byte part file and a
    .gz cut off mid-download (two parts that would have loaded 20 rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    day_one = [
        segment_message("track", n=1, userId="u1", event="Signed Up"),
        segment_message("track", n=2, userId="u2", event="Signed Up"),
        segment_message("track", n=3, userId="u1", event="Post Created"),
    ]
    day_two = [
        segment_message("track", n=n, userId=u, event="Liked", timestamp="2024-03-02T10:00:00Z")
        for n, u in ((4, "u1"), (5, "u2"))
    ] + [segment_message("track", n=3, userId="u1", event="Post Created")]  # a retry
    lost = [segment_message("track", n=10 + i, userId=f"x{i}", event="Liked") for i in range(20)]
    (folder / "part-0000.json.gz").write_bytes(gz_lines(day_one))
    (folder / "part-0001.json.gz").write_bytes(gz_lines(day_two))
    (folder / "part-0002.json.gz").write_bytes(b"")
    cut = gz_lines(lost)
    (folder / "part-0003.json.gz").write_bytes(cut[: len(cut) // 2])
    return folder


def test_one_bad_part_file_does_not_stop_an_adapter_ingest(
    settings: Settings, tmp_path: Path, clock: datetime
):
    folder = write_segment_parts(tmp_path / "segment-dump")
    result = ingest_and_publish(
        settings, [folder], IngestOptions(adapter="segment", platform="app"), now=clock
    )
    assert accounted(result) == (6, 5, 1, 0)
    assert result.exit_code == 1
    rejected = {f.path.name: str(f.reason) for f in result.files if f.outcome == "rejected"}
    assert rejected.keys() == {"part-0002.json.gz", "part-0003.json.gz"}
    assert rejected["part-0002.json.gz"].startswith("part-0002.json.gz is empty (0 bytes): ")
    assert (
        "cut short or corrupt: download or export the file again" in rejected["part-0003.json.gz"]
    )
    assert "part-0003.json.gz" in rejected["part-0003.json.gz"]
    # The ledger keeps each rejected file with its reason, and the summary shows them.
    ledger = rows(settings, "SELECT path, reason FROM files WHERE outcome = 'rejected' ORDER BY 1")
    assert [(Path(str(p)).name, r) for p, r in ledger] == sorted(rejected.items())
    assert "rejected " + str(folder / "part-0002.json.gz") in result.summary()["line"]
    assert published(settings)["app"] == {
        "signups": 2,
        "t0": datetime(2024, 3, 1, 9, 0),
        "dau": {"2024-03-01": 1, "2024-03-02": 2},
    }


def test_one_bad_part_file_in_an_adapter_inbox_folder_goes_to_rejected(
    settings: Settings, clock: datetime
):
    settings = replace(settings, settle_seconds=0.0)
    folder = write_segment_parts(settings.inbox / "segment")
    (folder / "_mapping.toml").write_text('adapter = "segment"\n[constants]\nplatform = "app"\n')
    result = run_pass(settings, clock)
    assert accounted(result) == (6, 5, 1, 0)
    assert result.exit_code == 1
    assert sorted(p.name for p in (settings.archive / "segment").iterdir()) == [
        "part-0000.json.gz",
        "part-0001.json.gz",
    ]
    reason = settings.rejected / "segment" / "part-0002.json.gz.reason.txt"
    assert reason.read_text().startswith("part-0002.json.gz is empty (0 bytes): nothing to load")
    assert (
        "cut short" in (settings.rejected / "segment" / "part-0003.json.gz.reason.txt").read_text()
    )
    assert published(settings)["app"]["signups"] == 2  # type: ignore[index]


# --- Empty input: the same message on every path ------------------------------------------

HEADER_ONLY = "event,distinct_id,timestamp,uuid\n"


def ingest_either(
    settings: Settings, path: Path, clock: datetime, adapter: str | None
) -> RunResult:
    """The plain path (a CSV of Uptake's columns) or the PostHog adapter's."""
    return ingest_only(
        settings,
        [path],
        IngestOptions(adapter=adapter, platform="ph"),
        now=clock,
    )


@pytest.mark.parametrize("adapter", [None, "posthog"])
def test_a_zero_byte_file_is_rejected_with_what_to_do(
    settings: Settings, tmp_path: Path, clock: datetime, adapter: str | None
):
    empty = tmp_path / "events-2024-05-01.csv"
    empty.write_bytes(b"")
    result = ingest_either(settings, empty, clock, adapter)
    [outcome] = result.files
    assert (outcome.outcome, result.exit_code, accounted(result)) == ("rejected", 1, (0, 0, 0, 0))
    assert outcome.reason == (
        "events-2024-05-01.csv is empty (0 bytes): nothing to load; if the export should hold "
        "data, export or download it again, else delete the file"
    )


@pytest.mark.parametrize("adapter", [None, "posthog"])
def test_a_gzipped_file_of_nothing_is_rejected_with_what_to_do(
    settings: Settings, tmp_path: Path, clock: datetime, adapter: str | None
):
    empty = tmp_path / "events.csv.gz"
    empty.write_bytes(gzip.compress(b"\n"))
    [outcome] = ingest_either(settings, empty, clock, adapter).files
    assert outcome.outcome == "rejected"
    assert str(outcome.reason).startswith("events.csv.gz holds no data (1 bytes uncompressed): ")


@pytest.mark.parametrize("adapter", [None, "posthog"])
def test_a_header_only_file_is_one_file_of_no_rows(
    settings: Settings, tmp_path: Path, clock: datetime, adapter: str | None
):
    path = tmp_path / "events.csv"
    path.write_text(HEADER_ONLY if adapter else "user_id,event_ts,event_type\n")
    result = ingest_either(settings, path, clock, adapter)
    [outcome] = result.files
    assert (outcome.outcome, result.exit_code, accounted(result)) == ("loaded", 0, (0, 0, 0, 0))
    assert f"{path}: no rows to load (a header only?)" in result.summary()["line"]
    assert rows(settings, "SELECT count(*) FROM files WHERE outcome = 'loaded'") == [(1,)]


@pytest.mark.parametrize("adapter", [None, "posthog", "segment"])
def test_an_empty_folder_says_so_on_every_path(
    settings: Settings, tmp_path: Path, clock: datetime, adapter: str | None
):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "events.csv.part").write_text("event,distinct_id\n")  # still downloading
    with pytest.raises(UsageError) as raised:
        ingest_either(settings, folder, clock, adapter)
    assert str(raised.value) == (
        f"{folder} holds no input files (1 file(s) skipped: hidden, named _..., or partial "
        "such as .part); put the export's files there (CSV, Parquet or JSON lines, .gz ok) "
        "or give the files' own paths"
    )


# --- PostHog ---------------------------------------------------------------------------

POSTHOG_CSV = """\
event,distinct_id,timestamp,uuid,properties
user signed up,d1,2024-02-01T10:00:00.000000Z,0188-a1,"{""$browser"": ""Firefox""}"
$pageview,d1,2024-02-01 10:05:00.000000,0188-a2,"{""$current_url"": ""https://x.y/""}"
$identify,d1,2024-02-01 10:05:01.000000,0188-a3,{}
$pageview,d2,2024-02-02T08:00:00.000000+00:00,0188-a4,{}
$pageview,d2,2024-02-02,0188-a5,{},extra
$pageview,,2024-02-02T08:00:00Z,0188-a6,{}
$pageview,d1,2024-02-01 10:05:00.000000,0188-a2,{}
"""


def test_posthog_csv(settings: Settings, tmp_path: Path, clock: datetime):
    path = tmp_path / "posthog-events.csv"
    path.write_text(POSTHOG_CSV)
    result = ingest(settings, path, clock, adapter="posthog", platform="ph")
    assert accounted(result) == (7, 4, 1, 2)
    assert warehouse_counts(settings)["signups"] == 1
    assert reasons(settings)[0].startswith("malformed_row")  # type: ignore[union-attr]
    assert reasons(settings)[1] == "missing_user_id"
    assert rows(settings, "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        ("$identify", 1),
        ("$pageview", 2),
    ]


def test_posthog_csv_export_names_the_event_id_id(
    settings: Settings, tmp_path: Path, clock: datetime
):
    """PostHog's UI CSV export calls the event id `id`: a repeated id is a duplicate even at
    another time, and two events at the same time with other ids both load."""
    path = tmp_path / "posthog-ui-export.csv"
    path.write_text(
        "id,event,distinct_id,timestamp\n"
        "0191-01,user signed up,d1,2024-05-01T10:00:00Z\n"
        "0191-02,$pageview,d1,2024-05-01T10:01:00Z\n"
        "0191-03,$pageview,d1,2024-05-01T10:01:00Z\n"
        "0191-02,$pageview,d1,2024-05-01T10:01:30Z\n"
    )
    result = ingest(settings, path, clock, adapter="posthog", platform="ph")
    assert accounted(result) == (4, 3, 1, 0)
    assert rows(settings, "SELECT event_id FROM events ORDER BY 1") == [("0191-02",), ("0191-03",)]
    assert result.exit_code == 0


def test_posthog_jsonl_gzipped(settings: Settings, tmp_path: Path, clock: datetime):
    events = [
        {"uuid": "01-a", "event": "user signed up", "distinct_id": "p1",
         "timestamp": "2024-04-01T12:00:00Z",
         "properties": {"$geoip_country_code": "DE"}},
        {"uuid": "01-b", "event": "$pageview", "distinct_id": "p1",
         "timestamp": "2024-04-01T12:01:00Z", "properties": {}},
        {"uuid": "01-c", "event": "$pageview", "distinct_id": "p2",
         "timestamp": "2999-01-01T00:00:00Z", "properties": {}},
    ]  # fmt: skip
    text = "\n".join(json.dumps(e) for e in events) + "\n"
    path = tmp_path / "posthog-export.jsonl.gz"
    path.write_bytes(gzip.compress(text.encode()))
    result = ingest(settings, path, clock, adapter="posthog", platform="ph")
    assert accounted(result) == (3, 2, 0, 1)
    assert rows(settings, "SELECT user_id, country FROM signups") == [("p1", "DE")]
    assert reasons(settings) == ["future_timestamp"]


def test_posthog_signup_event_from_a_mapping(settings: Settings, tmp_path: Path, clock: datetime):
    path = tmp_path / "posthog-events.csv"
    path.write_text(POSTHOG_CSV.replace("user signed up", "$identify"))
    spec = MappingSpec(
        adapter="posthog", signup_events=("$identify",), constants={"platform": "ph"}
    )
    files = convert_with_mapping(path, tmp_path / "converted", spec)
    result = ingest_only(settings, files, IngestOptions(), now=clock)
    # Both $identify rows are signups of d1 now: one loads, the later one is a duplicate.
    assert accounted(result) == (7, 3, 2, 2)
    assert rows(settings, "SELECT user_id, signup_ts FROM signups") == [
        ("d1", datetime(2024, 2, 1, 10, 0))
    ]


# --- Amplitude -------------------------------------------------------------------------


def amplitude_event(n: int, event_type: str, user: str | None, **extra: object) -> str:
    event = {
        "$insert_id": f"ins-{n}",
        "amplitude_id": 900 + n,
        "device_id": f"dev-{n}",
        "user_id": user,
        "event_type": event_type,
        "event_time": f"2023-01-0{1 + n % 3} 0{n % 10}:00:00.123000",
        "server_upload_time": "2023-01-04 00:00:00.000000",
        "country": "Japan",
        "event_properties": {"plan": "free"},
    }
    event.update(extra)
    return json.dumps(event)


def gz_lines(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def write_amplitude_zip(path: Path) -> Path:
    first = [
        amplitude_event(1, "Sign Up", "amy"),
        amplitude_event(2, "song played", "amy"),
        amplitude_event(3, "song played", None),  # before login: the device is the user
        amplitude_event(4, "signup", "bo"),
    ]
    second = [
        amplitude_event(5, "song played", "bo"),
        amplitude_event(2, "song played", "amy"),  # the same insert id again
        "{not json",
        amplitude_event(7, "song played", "bo", event_time="01/02/2023"),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("123456/123456_2023-01-01_0#0.json.gz", gz_lines(first))
        archive.writestr("123456/123456_2023-01-01_1#0.json.gz", gz_lines(second))
    path.write_bytes(buffer.getvalue())
    return path


def test_amplitude_zip_of_gzipped_json_lines(settings: Settings, tmp_path: Path, clock: datetime):
    path = write_amplitude_zip(tmp_path / "amplitude-export.zip")
    result = ingest(settings, path, clock, adapter="amplitude", platform="amp")
    assert accounted(result) == (8, 5, 1, 2)
    assert rows(settings, "SELECT user_id, signup_ts, country FROM signups ORDER BY 1") == [
        ("amy", datetime(2023, 1, 2, 1, 0, 0, 123000), "Japan"),
        ("bo", datetime(2023, 1, 2, 4, 0, 0, 123000), "Japan"),
    ]
    assert rows(settings, "SELECT DISTINCT user_id FROM events_with_ids ORDER BY 1") == [
        ("amy",),
        ("bo",),
        ("dev-3",),
    ]
    assert reasons(settings) == ["invalid_json", "unparseable_timestamp"]


def test_amplitude_single_gz_file(settings: Settings, tmp_path: Path, clock: datetime):
    path = tmp_path / "123456_2023-01-01_0#0.json.gz"
    path.write_bytes(gz_lines([amplitude_event(1, "Sign Up", "amy")]))
    result = ingest(settings, path, clock, adapter="amplitude", platform="amp")
    assert accounted(result) == (1, 1, 0, 0)


# --- Mixpanel --------------------------------------------------------------------------

JAN_1_10H = 1704103200  # 2024-01-01 10:00:00 UTC


def mixpanel_event(event: str, user: str | None, time: int, insert_id: str, **props: object) -> str:
    properties = {
        "time": time,
        "distinct_id": user,
        "$insert_id": insert_id,
        "mp_processing_time_ms": time * 1000 + 512,
        "$os": "Mac OS X",
        **props,
    }
    return json.dumps({"event": event, "properties": properties})  # fmt: skip


def write_mixpanel(path: Path) -> Path:
    lines = [
        mixpanel_event("Sign Up", "u1", JAN_1_10H, "i-1", mp_country_code="SE"),
        mixpanel_event("Viewed Page", "u1", JAN_1_10H + 60, "i-2"),
        mixpanel_event("Signed Up", "u2", JAN_1_10H + 3600, "i-3"),
        mixpanel_event("Viewed Page", "u2", (JAN_1_10H + 86400) * 1000, "i-4"),  # time_in_ms
        mixpanel_event("Viewed Page", "u1", JAN_1_10H + 86400 + 5, "i-5"),
        mixpanel_event("Viewed Page", "u1", JAN_1_10H + 86400 + 5, "i-5"),  # exported twice
        mixpanel_event("$identify", "u2", JAN_1_10H + 3601, "i-7"),
        mixpanel_event("Viewed Page", None, JAN_1_10H, "i-8"),  # no distinct_id
        '{"event": "Viewed Page", "properties": {',  # cut off
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mixpanel_export_api_json_lines(settings: Settings, tmp_path: Path, clock: datetime):
    path = write_mixpanel(tmp_path / "mixpanel-export-2024-01-01.json")
    result = ingest_and_publish(
        settings, [path], IngestOptions(adapter="mixpanel", platform="mp"), now=clock
    )
    # 9 lines: signups u1, u2; 4 events; the repeated $insert_id; 2 quarantined.
    assert accounted(result) == (9, 6, 1, 2)
    assert result.exit_code == 1  # the quarantined rows
    assert reasons(settings) == ["invalid_json", "missing_user_id"]
    assert rows(
        settings, "SELECT user_id, signup_ts, country, event_id FROM signups ORDER BY 1"
    ) == [
        ("u1", datetime(2024, 1, 1, 10, 0), "SE", "i-1"),
        ("u2", datetime(2024, 1, 1, 11, 0), None, "i-3"),
    ]
    assert rows(settings, "SELECT event_id, event_type, event_ts FROM events ORDER BY 1") == [
        ("i-2", "Viewed Page", datetime(2024, 1, 1, 10, 1)),
        ("i-4", "Viewed Page", datetime(2024, 1, 2, 10, 0)),
        ("i-5", "Viewed Page", datetime(2024, 1, 2, 10, 0, 5)),
        ("i-7", "$identify", datetime(2024, 1, 1, 11, 0, 1)),
    ]
    assert published(settings)["mp"] == {
        "signups": 2,
        "t0": datetime(2024, 1, 1, 10, 0),
        "dau": {"2024-01-01": 2, "2024-01-02": 2},
    }


def test_mixpanel_times_of_an_old_project_in_its_timezone(
    settings: Settings, tmp_path: Path, clock: datetime
):
    """Projects created before 2023 export `time` as wall-clock seconds in the project's
    timezone: with --tz, 10:00 in Stockholm (UTC+1 in January) is 09:00 UTC."""
    path = tmp_path / "old-project.json.gz"
    path.write_bytes(gz_lines([mixpanel_event("Sign Up", "u1", JAN_1_10H, "i-1")]))
    command = ["--home", str(settings.home), "ingest", str(path), "--no-refresh"]
    command += ["--adapter", "mixpanel", "--platform", "mp", "--tz", "Europe/Stockholm"]
    assert main(command) == 0
    assert rows(settings, "SELECT signup_ts FROM signups") == [(datetime(2024, 1, 1, 9, 0),)]
    # Without --tz an adapter keeps its export's zone (UTC), whatever source_timezone says.
    home = tmp_path / "home2"
    home.mkdir()
    (home / "uptake.toml").write_text('source_timezone = "Europe/Stockholm"\n')
    assert main(["--home", str(home), "ingest", str(path), "--no-refresh",
                 "--adapter", "mixpanel", "--platform", "mp"]) == 0  # fmt: skip
    utc = load_settings(home, env={})
    assert rows(utc, "SELECT signup_ts FROM signups") == [(datetime(2024, 1, 1, 10, 0),)]


def test_mixpanel_signup_event_from_a_mapping(settings: Settings, tmp_path: Path, clock: datetime):
    path = write_mixpanel(tmp_path / "mixpanel.json")
    spec = MappingSpec(
        adapter="mixpanel", signup_events=("$identify",), constants={"platform": "mp"}
    )
    files = convert_with_mapping(path, tmp_path / "converted", spec)
    result = ingest_only(settings, files, IngestOptions(), now=clock)
    # "Sign Up" and "Signed Up" are usage events now; u2's $identify is the one signup.
    assert accounted(result) == (9, 6, 1, 2)
    assert rows(settings, "SELECT user_id, event_id FROM signups") == [("u2", "i-7")]


# --- Wrong input -----------------------------------------------------------------------


def test_export_of_another_vendor_is_named_in_one_line(
    settings: Settings, tmp_path: Path, clock: datetime
):
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps({"event": "x", "distinct_id": "d", "timestamp": "2024"}) + "\n")
    result = ingest(settings, path, clock, adapter="segment", platform="app")
    [rejected] = result.files
    assert (rejected.path, rejected.outcome, result.exit_code) == (path, "rejected", 1)
    message = str(rejected.reason)
    assert message.startswith("segment adapter: export.jsonl is not Segment/RudderStack")
    assert "messageId, userId, anonymousId" in message and "expected" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("adapter", "name", "content", "expected"),
    [
        ("amplitude", "a.json.gz", b"rubbish\nmore rubbish\n", "none of its 2 lines"),
        ("amplitude", "b.json.gz", b"\x00\x01\x02binary", "as an Amplitude export: .*; expected"),
        ("amplitude", "a.zip", b"PK\x05\x06" + b"\x00" * 18, "holds no JSON lines files"),
        ("posthog", "p.csv", b"name,when\nx,2024-01-01\n", "no column for user_id, ts"),
        ("segment", "s.jsonl", b"a,b\n1,2\n", "none of its 2 lines is a JSON object"),
        ("mixpanel", "m.json", b'{"event": "x", "distinct_id": "d"}\n', "properties.distinct_id"),
    ],
)
def test_malformed_exports_are_rejected_with_the_reason(
    tmp_path: Path, adapter: str, name: str, content: bytes, expected: str
):
    path = tmp_path / name
    path.write_bytes(content)
    convert = adapters()[adapter][0]
    with pytest.raises(InputError, match=f"^{adapter} adapter: .*{name}.*{expected}"):
        convert(path, tmp_path / "out", "p")


def test_an_export_needs_a_platform_name(tmp_path: Path):
    path = write_segment(tmp_path / "s.jsonl")
    with pytest.raises(UsageError, match="--platform NAME"):
        adapters()["segment"][0](path, tmp_path / "out", None)


def test_every_adapter_is_listed():
    assert set(adapters()) == {"amplitude", "mixpanel", "posthog", "segment", "stackexchange"}
