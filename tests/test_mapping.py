"""Mapping files: parsing and its errors, the signup/deletion split of an events file,
renaming-only mappings applied by ingestion, and per-folder mappings in the inbox."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from etl.adapters import adapters
from etl.config import Settings
from etl.convert import Conversion, convert_inbox, convert_with_mapping, prepare_inputs
from etl.errors import ConfigError, InputError
from etl.ingest import FileOutcome, IngestOptions
from etl.mapping import (
    ADAPTER_NAMES,
    MAPPING_FILE_NAME,
    MappingSpec,
    load_mapping,
    mapping_for_inbox_folder,
)
from etl.pipeline import RunResult, ingest_and_publish, ingest_only
from etl.snapshot import current_snapshot, read_table
from etl.sources import discover
from etl.warehouse import connect

FULL = """
adapter = "posthog"
format = "csv"
timezone = "Europe/Berlin"
signup_events = ["Signed Up", "Registered"]
deletion_events = ["Closed Account"]

[columns]
user_id = "who"
event_ts = "when"

[constants]
platform = "myapp"
channel = "import"
"""

# An events export of a product database: naive Berlin times, one event name per row.
EVENTS_CSV = """\
who,when,name,id
u1,2024-01-10 10:00:00,Signed Up,e1
u1,2024-01-10 10:05:00,Posted,e2
u2,2024-01-11 09:00:00,Registered,e3
u2,2024-01-12 09:00:00,Closed Account,e4
u3,2024-01-12 09:30:00,,e5
u3,someday,Posted,e6
u1,2024-01-10 10:05:00,Posted,e2
u4,2024-01-13 12:00:00,Posted,e8,surplus
"""

SPLIT_MAPPING = """
timezone = "Europe/Berlin"
signup_events = ["signed up", "Registered"]
deletion_events = ["Closed Account"]

[columns]
user_id = "who"
event_ts = "when"
event_type = "name"
event_id = "id"

[constants]
platform = "myapp"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    con = connect(settings, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def counts(result: RunResult) -> tuple[int, ...]:
    read, loaded, duplicate, quarantined = (
        result.total(n) for n in ("rows_read", "rows_loaded", "rows_duplicate", "rows_quarantined")
    )
    assert read == loaded + duplicate + quarantined
    return read, loaded, duplicate, quarantined


def test_load_a_full_mapping(tmp_path: Path):
    spec = load_mapping(write(tmp_path / "m.toml", FULL))
    assert spec == MappingSpec(
        columns={"user_id": "who", "event_ts": "when"},
        constants={"platform": "myapp", "channel": "import"},
        signup_events=("Signed Up", "Registered"),
        deletion_events=("Closed Account",),
        timezone="Europe/Berlin",
        adapter="posthog",
        format="csv",
        path=tmp_path / "m.toml",
    )
    assert spec.platform == "myapp" and spec.needs_conversion


def test_an_empty_mapping_means_the_defaults(tmp_path: Path):
    spec = load_mapping(write(tmp_path / "m.toml", ""))
    assert spec.signup_events is None and spec.timezone == "UTC" and not spec.needs_conversion


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colums = {}", "unknown key 'colums'; valid keys: adapter, format"),
        ('[columns]\nuserid = "x"', r"key 'userid' \(= 'x'\) is not an Uptake column; valid keys:"),
        ('[columns]\nuser_id = ""', "columns.user_id = '' must be a non-empty string"),
        ("columns = 3", r"\[columns\] must be a table"),
        ('[constants]\nuser_id = "x"', "cannot be a constant; valid keys: platform, event_type"),
        ('timezone = "Mars/Olympus"', "timezone = 'Mars/Olympus' is not a known IANA timezone"),
        ('adapter = "heap"', "adapter = 'heap' is unknown; valid: amplitude, mixpanel, posthog"),
        ('format = "xlsx"', "format = 'xlsx' is unknown; valid: csv, parquet, ndjson"),
        ("signup_events = 3", "signup_events = 3 must be a list of event names"),
        ("signup_events = [1]", "signup_events = 1 must be a non-empty string"),
        ("adapter = ", "is not valid TOML"),
    ],
)
def test_mapping_errors_name_the_file_key_value_and_choices(
    tmp_path: Path, text: str, expected: str
):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError, match=expected) as raised:
        load_mapping(path)
    assert str(path) in str(raised.value)


def test_a_mapping_may_name_every_adapter_and_only_those():
    # The mapping file sits below the adapters (which convert to its MappingSpec), so it
    # checks names against its own list: it must be the registry's, in the same order.
    assert tuple(adapters()) == ADAPTER_NAMES


def test_missing_mapping_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(tmp_path / "nope.toml")


def test_a_mapping_splits_signups_and_deletions_out_of_an_events_file(
    settings: Settings, tmp_path: Path, clock: datetime
):
    spec = load_mapping(write(tmp_path / "m.toml", SPLIT_MAPPING))
    source = write(tmp_path / "events.csv", EVENTS_CSV)
    files = convert_with_mapping(source, tmp_path / "converted", spec)
    assert sorted(f.name for f in files) == [
        "events.csv.events.parquet",
        "events.csv.signups.parquet",
    ]
    result = ingest_only(settings, files, IngestOptions(), now=clock)
    # 8 rows: 2 signups, 1 event + 1 deletion loaded; the repeated e2 is a duplicate;
    # no event name, an unparseable time and a line too wide are quarantined.
    assert counts(result) == (8, 4, 1, 3)
    assert rows(settings, "SELECT platform, user_id, signup_ts FROM signups ORDER BY 2") == [
        ("myapp", "u1", datetime(2024, 1, 10, 9, 0)),  # Berlin is UTC+1 in January
        ("myapp", "u2", datetime(2024, 1, 11, 8, 0)),
    ]
    assert rows(settings, "SELECT user_id, event_type FROM events_with_ids") == [("u1", "Posted")]
    assert rows(settings, "SELECT user_id, deleted_ts FROM deletions") == [
        ("u2", datetime(2024, 1, 12, 8, 0))
    ]
    reasons = [r[0] for r in rows(settings, "SELECT reason FROM quarantine ORDER BY reason")]
    assert reasons[0].startswith("malformed_row")  # type: ignore[union-attr]
    assert reasons[1:] == ["missing_event_type", "unparseable_timestamp"]
    # Converting the same file again gives the same bytes: loading it again is a no-op.
    again = convert_with_mapping(source, tmp_path / "converted", spec)
    second = ingest_only(settings, again, IngestOptions(), now=clock)
    assert {f.outcome for f in second.files} == {"already_loaded"}


def test_constants_fill_columns_a_file_lacks(settings: Settings, tmp_path: Path, clock: datetime):
    source = write(tmp_path / "visits.csv", "uid,at\na,2024-05-01T10:00:00Z\nb,2024-05-01\n")
    spec = MappingSpec(
        columns={"user_id": "uid", "event_ts": "at"},
        constants={"platform": "site", "event_type": "visit"},
    )
    result = ingest_only(
        settings,
        convert_with_mapping(source, tmp_path / "out", spec),
        IngestOptions(),
        now=clock,
    )
    assert counts(result) == (2, 2, 0, 0)
    assert rows(settings, "SELECT DISTINCT platform, event_type FROM events") == [("site", "visit")]


def test_a_mapped_column_the_file_lacks_is_named(tmp_path: Path):
    spec = load_mapping(write(tmp_path / "m.toml", SPLIT_MAPPING))
    source = write(tmp_path / "other.csv", "user,time\nu1,2024-01-01\n")
    with pytest.raises(InputError, match=r"m\.toml: columns\.user_id = 'who', but other\.csv"):
        convert_with_mapping(source, tmp_path / "out", spec)


# Mixpanel's Export API shape, read through a mapping file alone (no adapter).
NESTED_JSON_LINES = """\
{"event": "Sign Up", "properties": {"distinct_id": "m1", "time": 1704103200, "$insert_id": "a"}}
{"event": "Played", "properties": {"distinct_id": "m1", "time": 1704103260, "$insert_id": "b"}}
{"event": "Played", "properties": {"distinct_id": "m1", "time": 1704103260, "$insert_id": "b"}}
{"event": "Played", "properties": {"distinct_id": "m2", "time": 1704189600, "$insert_id": "c"}}
{"event": "Played", "properties": {"time": 1704189600, "$insert_id": "d"}}
"""

NESTED_MAPPING = """
signup_events = ["Sign Up"]

[columns]
user_id = "properties.distinct_id"
event_ts = "properties.time"
event_type = "event"
event_id = "properties.$insert_id"

[constants]
platform = "mp"
"""


def test_dotted_paths_reach_into_nested_json(settings: Settings, tmp_path: Path, clock: datetime):
    spec = load_mapping(write(tmp_path / "m.toml", NESTED_MAPPING))
    source = write(tmp_path / "export.json", NESTED_JSON_LINES)
    result = ingest_and_publish(settings, [source], IngestOptions(), now=clock, mapping=spec)
    # m1's signup, 2 events; the repeated $insert_id b; the line without a distinct_id.
    assert counts(result) == (5, 3, 1, 1)
    assert result.exit_code == 1
    assert rows(settings, "SELECT user_id, signup_ts, event_id FROM signups") == [
        ("m1", datetime(2024, 1, 1, 10, 0), "a")
    ]
    assert rows(settings, "SELECT user_id, event_ts, event_id FROM events_with_ids ORDER BY 3") == [
        ("m1", datetime(2024, 1, 1, 10, 1), "b"),
        ("m2", datetime(2024, 1, 2, 10, 0), "c"),
    ]
    assert rows(settings, "SELECT reason FROM quarantine") == [("missing_user_id",)]
    snapshot = current_snapshot(settings)
    assert snapshot is not None
    [platform] = read_table(snapshot, "platforms").to_pylist()
    assert (platform["signups"], platform["t0"].replace(tzinfo=None)) == (
        1,
        datetime(2024, 1, 1, 10, 0),
    )


def test_a_renaming_mapping_with_a_dotted_path_is_converted(tmp_path: Path):
    """Ingestion only renames top-level columns: a nested path needs the conversion."""
    spec = MappingSpec(columns={"user_id": "properties.distinct_id"}, constants={"platform": "p"})
    assert spec.needs_conversion
    assert not MappingSpec(columns={"user_id": "distinct_id"}).needs_conversion


def test_a_dotted_path_reaches_into_a_csv_column_of_json_text(
    settings: Settings, tmp_path: Path, clock: datetime
):
    """PostHog's CSV export keeps `properties` as JSON text."""
    source = write(
        tmp_path / "posthog.csv",
        "uuid,event,distinct_id,timestamp,properties\n"
        '01,user signed up,d1,2024-02-01T10:00:00Z,"{""plan"": {""country"": ""NO""}}"\n',
    )
    spec = MappingSpec(
        adapter="posthog",
        columns={"country": "properties.plan.country"},
        constants={"platform": "ph"},
    )
    result = ingest_only(
        settings,
        convert_with_mapping(source, tmp_path / "out", spec),
        IngestOptions(),
        now=clock,
    )
    assert counts(result) == (1, 1, 0, 0)
    assert rows(settings, "SELECT user_id, country FROM signups") == [("d1", "NO")]


def test_a_dotted_path_that_names_nothing_is_named(tmp_path: Path):
    spec = load_mapping(
        write(tmp_path / "m.toml", NESTED_MAPPING.replace("properties.d", "props.d"))
    )
    source = write(tmp_path / "export.json", NESTED_JSON_LINES)
    with pytest.raises(InputError) as raised:
        convert_with_mapping(source, tmp_path / "out", spec)
    assert str(raised.value) == (
        f"mapping file {tmp_path / 'm.toml'}: columns.user_id = 'props.distinct_id', but "
        "export.json has no such column (nor one named 'props' holding nested JSON for a "
        "dotted path); columns found: event, properties"
    )


def test_a_renaming_mapping_is_applied_by_ingestion_itself(
    settings: Settings, tmp_path: Path, clock: datetime
):
    source = write(tmp_path / "s.csv", "uid,joined\nu1,2024-01-01 01:00\nu2,2024-01-02\n")
    spec = MappingSpec(
        columns={"user_id": "uid", "signup_ts": "joined"},
        constants={"platform": "p"},
        timezone="America/New_York",
    )
    prepared, options = prepare_inputs([source], IngestOptions(), spec, tmp_path / "scratch")
    assert prepared.files == [source] and not prepared.origins  # no conversion
    assert options.mapping == {"user_id": "uid", "signup_ts": "joined"}
    result = ingest_only(settings, prepared.files, options, now=clock)
    assert counts(result) == (2, 2, 0, 0)
    assert rows(settings, "SELECT min(signup_ts) FROM signups") == [(datetime(2024, 1, 1, 6, 0),)]


def test_prepare_inputs_converts_for_an_adapter_or_a_split(tmp_path: Path):
    spec = load_mapping(write(tmp_path / "m.toml", SPLIT_MAPPING))
    source = write(tmp_path / "events.csv", EVENTS_CSV)
    prepared, options = prepare_inputs([source], IngestOptions(), spec, tmp_path / "scratch")
    assert [p.suffix for p in prepared.files] == [".parquet", ".parquet"]
    assert set(prepared.origins.values()) == {source}
    assert options == IngestOptions(platform="myapp")
    unchanged, same = prepare_inputs([source], IngestOptions(), None, tmp_path / "scratch")
    assert (unchanged.files, unchanged.origins, same) == ([source], {}, IngestOptions())


def test_inbox_folder_mapping(settings: Settings, tmp_path: Path, clock: datetime):
    inbox = settings.inbox
    write(inbox / "app" / MAPPING_FILE_NAME, SPLIT_MAPPING)
    mapped = write(inbox / "app" / "2024" / "events.csv", EVENTS_CSV)
    broken = write(inbox / "app" / "broken.csv", "nothing,useful\n1,2\n")
    plain = write(inbox / "plain.csv", "platform,user_id,signup_ts\np,u9,2024-01-01\n")
    assert mapping_for_inbox_folder(inbox / "app") is not None
    assert mapping_for_inbox_folder(inbox) is None
    # The mapping file is not data: discovery skips it.
    found = discover([inbox])
    assert sorted(found) == sorted([mapped, broken, plain])
    batch = convert_inbox(found, inbox, settings.temp_directory / "adapters")
    assert plain in batch.files and mapped not in batch.files
    assert set(batch.origins.values()) == {mapped}
    assert list(batch.rejected) == [broken]
    result = ingest_only(settings, batch.files, IngestOptions(), now=clock)
    assert counts(result) == (9, 5, 1, 3)
    moved = {o.path: o.outcome for o in batch.inbox_outcomes(result.files)}
    assert moved == {plain: "loaded", mapped: "loaded", broken: "rejected"}


def test_inbox_outcome_of_a_converted_file_with_a_rejected_part(tmp_path: Path):
    origin, part = tmp_path / "a.json", tmp_path / "a.json.events.parquet"
    batch = Conversion(files=[part], origins={part: origin})
    [outcome] = batch.inbox_outcomes([FileOutcome(path=part, outcome="rejected", reason="bad")])
    assert (outcome.path, outcome.outcome, outcome.reason) == (origin, "rejected", "bad")
