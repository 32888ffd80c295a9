"""Mapping files: how one source's files become Uptake input, written once as TOML.

```toml
adapter = "posthog"                 # optional: an export adapter (uptake ingest --list-adapters)
format = "csv"                      # optional: csv | parquet | ndjson (else detected)
timezone = "Europe/Berlin"          # of naive timestamps (default UTC)
signup_events = ["user signed up"]  # event names that mean a signup
deletion_events = ["account closed"]  # event names that mean an account deletion

[columns]                           # Uptake column = the source's column
user_id = "distinct_id"
event_ts = "timestamp"

[constants]                         # a value for every row (fills a mapped column's blanks)
platform = "myapp"
```

A mapping that only renames columns (and names the platform and timezone) is applied by
ingestion itself (`MappingSpec.ingest_options`). One that needs more (an adapter, event
names that mean signup or deletion, constants other than the platform) converts each file
first (`convert_with_mapping`) into plain signups/events Parquet files, one output row per
input row, which ingestion then loads with its usual rules and ledger.

In scheduled runs, an inbox folder holding `_mapping.toml` applies it to every file under
it (the nearest folder's mapping wins). The leading underscore keeps discovery from taking
the mapping file for data."""

from __future__ import annotations

import hashlib
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.config import check_signup_source
from etl.errors import ConfigError, InputError
from etl.ingest import CANONICAL_COLUMNS, FileOutcome, IngestOptions
from etl.sources import FORMATS, content_hash, empty_file_reason, input_files

log = logging.getLogger(__name__)

MAPPING_FILE_NAME = "_mapping.toml"
# Columns a constant may fill: per-row identities and times cannot be constants.
CONSTANT_COLUMNS = ("platform", "event_type", "channel", "country")
_KEYS = (
    "adapter",
    "format",
    "timezone",
    "signup_events",
    "deletion_events",
    "columns",
    "constants",
    "signups",
)


@dataclass(frozen=True)
class MappingSpec:
    """One source's mapping. `signup_events`/`deletion_events` None: the adapter's default
    (an explicit empty list means "none in this source")."""

    columns: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    signup_events: tuple[str, ...] | None = None
    deletion_events: tuple[str, ...] | None = None
    timezone: str = "UTC"
    adapter: str | None = None
    format: str | None = None
    signups: str | None = None  # first-seen[:column]: signups derived from the events
    path: Path | None = None  # the file it was read from, for messages

    @property
    def platform(self) -> str | None:
        return self.constants.get("platform")

    @property
    def needs_conversion(self) -> bool:
        """True when ingestion alone cannot apply the mapping."""
        return bool(
            self.adapter
            or self.signup_events
            or self.deletion_events
            or set(self.constants) - {"platform"}
            or any("." in source for source in self.columns.values())  # nested paths
        )

    def ingest_options(
        self, platform: str | None = None, source_timezone: str | None = None
    ) -> IngestOptions:
        """Options that apply a renaming-only mapping; flags (`platform`, `source_timezone`)
        win over the file."""
        return IngestOptions(
            platform=platform or self.platform,
            format=self.format,
            mapping=dict(self.columns),
            source_timezone=source_timezone or self.timezone,
            signups=self.signups,
        )

    def fingerprint(self) -> str:
        """A short hash of what the mapping does (names converted outputs apart)."""
        text = repr(
            (
                sorted(self.columns.items()),
                sorted(self.constants.items()),
                self.signup_events,
                self.deletion_events,
                self.timezone,
                self.adapter,
                self.format,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def timezone_mapping(name: str) -> MappingSpec:
    """`uptake ingest --adapter A --tz TZ` without a mapping file: the export's naive times
    (and a Mixpanel project's wall-clock epochs) are in TZ. Only the flag does this: an
    adapter otherwise keeps its export's own zone (UTC), whatever `source_timezone` says."""
    return MappingSpec(timezone=_timezone(name, "--tz"))


def load_mapping(path: Path) -> MappingSpec:
    """Read and check a mapping file; ConfigError names the file, the key, the value and
    what is valid."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"mapping file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"mapping file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path} is not valid TOML: {exc}") from exc
    return parse_mapping(raw, path)


def parse_mapping(raw: Mapping[str, Any], path: Path) -> MappingSpec:
    where = f"mapping file {path}"
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(_KEYS)}")
    return MappingSpec(
        columns=_columns(raw.get("columns", {}), where),
        constants=_constants(raw.get("constants", {}), where),
        signup_events=_event_names(raw, "signup_events", where),
        deletion_events=_event_names(raw, "deletion_events", where),
        timezone=_timezone(raw.get("timezone", "UTC"), where),
        adapter=_adapter(raw.get("adapter"), where),
        format=_format(raw.get("format"), where),
        signups=check_signup_source(raw.get("signups"), f"{where}: signups"),
        path=path,
    )


def _table(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f'{where}: [{key}] must be a table of name = "value" pairs, got {value!r}'
        )
    return value


def _text_value(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} = {value!r} must be a non-empty string")
    return value.strip()


def _columns(value: Any, where: str) -> dict[str, str]:
    columns = {}
    for target, source in _table(value, "columns", where).items():
        if target not in CANONICAL_COLUMNS:
            raise ConfigError(
                f"{where}: [columns] key {target!r} (= {source!r}) is not an Uptake column; "
                f"valid keys: {', '.join(CANONICAL_COLUMNS)}"
            )
        columns[target] = _text_value(source, f"columns.{target}", where)
    return columns


def _constants(value: Any, where: str) -> dict[str, str]:
    constants = {}
    for target, constant in _table(value, "constants", where).items():
        if target not in CONSTANT_COLUMNS:
            raise ConfigError(
                f"{where}: [constants] key {target!r} (= {constant!r}) cannot be a constant; "
                f"valid keys: {', '.join(CONSTANT_COLUMNS)}"
            )
        constants[target] = _text_value(constant, f"constants.{target}", where)
    return constants


def _event_names(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    if key not in raw:
        return None
    value = raw[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f'{where}: {key} = {value!r} must be a list of event names ["..."]')
    return tuple(_text_value(v, key, where) for v in value)


def _timezone(value: Any, where: str) -> str:
    name = _text_value(value, "timezone", where)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where}: timezone = {name!r} is not a known IANA timezone; "
            "use a name such as UTC or Europe/Berlin"
        ) from exc
    return name


def _adapter(value: Any, where: str) -> str | None:
    if value is None:
        return None
    from etl.adapters import adapters

    known = tuple(adapters())
    name = _text_value(value, "adapter", where)
    if name not in known:
        raise ConfigError(f"{where}: adapter = {name!r} is unknown; valid: {', '.join(known)}")
    return name


def _format(value: Any, where: str) -> str | None:
    if value is None:
        return None
    name = _text_value(value, "format", where)
    if name not in FORMATS:
        raise ConfigError(f"{where}: format = {name!r} is unknown; valid: {', '.join(FORMATS)}")
    return name


def mapping_for_inbox_folder(folder: Path) -> MappingSpec | None:
    """The mapping of one inbox folder (`<folder>/_mapping.toml`), or None."""
    path = folder / MAPPING_FILE_NAME
    return load_mapping(path) if path.is_file() else None


def mapping_for_file(path: Path, inbox: Path) -> MappingSpec | None:
    """The nearest `_mapping.toml` from the file's folder up to the inbox itself."""
    inbox = inbox.resolve()
    folder = path.resolve().parent
    while folder == inbox or inbox in folder.parents:
        spec = mapping_for_inbox_folder(folder)
        if spec is not None:
            return spec
        if folder == inbox:
            break
        folder = folder.parent
    return None


def convert_with_mapping(
    source: Path, out_dir: Path, spec: MappingSpec, platform: str | None = None
) -> list[Path]:
    """Plain signups/events Parquet files for one source file (or dump folder): through the
    mapping's adapter when it names one, else the generic column mapping with its
    signup/deletion event split. `platform` (a flag) wins over the mapping's constant."""
    from etl.adapters import converter
    from etl.adapters.mapped import convert_mapped

    if spec.adapter:
        return converter(spec.adapter)(source, out_dir, platform, spec)
    return convert_mapped(source, out_dir, platform, spec)


def prepare_inputs(
    paths: Sequence[Path],
    options: IngestOptions,
    spec: MappingSpec | None,
    scratch: Path,
) -> tuple[Conversion, IngestOptions]:
    """The files to ingest, with the sources they were converted from, and the options to
    ingest them with, for `uptake ingest` (with `--adapter` and/or `--mapping`, each source
    file is converted on its own: one that cannot be is rejected, the others go on). Flags
    in `options` win over the mapping file."""
    from etl.adapters import converter

    adapter = options.adapter or (spec.adapter if spec else None)
    if spec is None and adapter is None:
        return Conversion(files=input_files(paths)), options
    if spec is not None and not spec.needs_conversion and adapter is None:
        mapped = spec.ingest_options(options.platform, _flag_timezone(options))
        plain = Conversion(files=input_files(paths))
        return plain, replace(
            mapped,
            mapping={**mapped.mapping, **options.mapping},
            replace=options.replace,
            signups=options.signups or mapped.signups,
        )
    sources = _export_sources(paths, adapter)
    if spec is None:
        assert adapter is not None
        convert = converter(adapter)
        return convert_each(sources, lambda p: convert(p, scratch, options.platform)), options
    spec = replace(spec, adapter=adapter, timezone=_flag_timezone(options) or spec.timezone)
    mapped_files = convert_each(
        sources,
        partial(convert_with_mapping, out_dir=scratch, spec=spec, platform=options.platform),
    )
    # Converted files hold Uptake's columns with UTC times: nothing left to map.
    return mapped_files, IngestOptions(
        platform=options.platform or spec.platform,
        replace=options.replace,
        signups=options.signups or spec.signups,
    )


def _export_sources(paths: Sequence[Path], adapter: str | None) -> list[Path]:
    """The sources to convert one by one: each file under the given folders, except for an
    adapter that reads a folder as one export (a Stack Exchange dump)."""
    from etl.adapters import reads_folders_whole

    if adapter is not None and reads_folders_whole(adapter):
        return list(paths)
    return input_files(paths)


def _flag_timezone(options: IngestOptions) -> str | None:
    # IngestOptions cannot tell "--tz UTC" from no flag; UTC defers to the mapping's zone.
    return options.source_timezone if options.source_timezone != "UTC" else None


@dataclass
class Conversion:
    """The files one pass ingests, and the source files that were converted into them (an
    inbox's files under a `_mapping.toml`, or the paths of `uptake ingest --adapter`)."""

    files: list[Path] = field(default_factory=list)  # what the pass ingests
    origins: dict[Path, Path] = field(default_factory=dict)  # converted file -> source
    rejected: dict[Path, str] = field(default_factory=dict)  # source -> why it failed
    empty: list[Path] = field(default_factory=list)  # converted into no rows

    def convert(self, source: Path, convert_one: Callable[[Path], list[Path]]) -> None:
        """Convert one source; one that is empty or cannot be converted is rejected with
        the reason (a bad file must not hold back the others)."""
        try:
            empty = None if source.is_dir() else empty_file_reason(source)
            if empty:
                raise InputError(empty)
            converted = convert_one(source)
        except InputError as exc:
            log.info("%s cannot be converted: %s", source, exc)
            self.rejected[source] = str(exc)
            return
        if not converted:
            self.empty.append(source)
        self.files.extend(converted)
        self.origins.update(dict.fromkeys(converted, source))

    def source_outcomes(self) -> list[FileOutcome]:
        """Ledger rows of the sources that gave no file to ingest: a rejected one with its
        reason; one without rows (a header only) loaded, with 0 rows, as the plain path
        records such a file."""
        rejected = [
            FileOutcome(path=p, outcome="rejected", reason=r) for p, r in self.rejected.items()
        ]
        empty = [
            FileOutcome(path=p, content_hash=content_hash(p), size_bytes=p.stat().st_size)
            for p in self.empty
            if p.is_file()
        ]
        return rejected + empty

    def inbox_outcomes(self, outcomes: Sequence[FileOutcome]) -> list[FileOutcome]:
        """The pass's outcomes addressed to inbox files, for `move_processed`: an inbox
        file that was converted is rejected when its conversion or any converted file was
        rejected, else archived; unconverted files keep their own outcome."""
        by_origin: dict[Path, list[FileOutcome]] = {}
        direct = []
        for outcome in outcomes:
            origin = self.origins.get(outcome.path)
            if origin is None:
                direct.append(outcome)
            else:
                by_origin.setdefault(origin, []).append(outcome)
        moved = [_merged(origin, parts) for origin, parts in by_origin.items()]
        listed = {o.path for o in direct}
        sources = [o for o in self.source_outcomes() if o.path not in listed]
        return direct + moved + sources


def convert_each(sources: Sequence[Path], convert_one: Callable[[Path], list[Path]]) -> Conversion:
    batch = Conversion()
    for source in sources:
        batch.convert(source, convert_one)
    return batch


def _merged(origin: Path, parts: Sequence[FileOutcome]) -> FileOutcome:
    bad = [p for p in parts if p.outcome == "rejected"]
    if bad:
        return FileOutcome(path=origin, outcome="rejected", reason=bad[0].reason)
    return FileOutcome(path=origin, outcome="loaded")


def convert_inbox(paths: Sequence[Path], inbox: Path, scratch: Path) -> Conversion:
    """Apply each folder's `_mapping.toml` to the inbox files under it: mapped files are
    always converted (so one pass can mix sources under one set of ingest options), the
    others pass through. A file that cannot be converted is rejected, the rest go on; an
    invalid mapping file raises ConfigError (fix it; its files wait in the inbox)."""
    batch = Conversion()
    for path in paths:
        spec = mapping_for_file(path, inbox)
        if spec is None:
            batch.files.append(path)
            continue
        target = scratch / f"inbox-{spec.fingerprint()}"
        batch.convert(path, partial(convert_with_mapping, out_dir=target, spec=spec))
    return batch
