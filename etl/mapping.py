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
first (etl/convert.py) into plain signups/events Parquet files, one output row per
input row, which ingestion then loads with its usual rules and ledger.

In scheduled runs, an inbox folder holding `_mapping.toml` applies it to every file under
it (the nearest folder's mapping wins). The leading underscore keeps discovery from taking
the mapping file for data."""

from __future__ import annotations

import hashlib
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.config import check_signup_source
from etl.errors import ConfigError
from etl.ingest import CANONICAL_COLUMNS, IngestOptions
from etl.sources import FORMATS

log = logging.getLogger(__name__)

MAPPING_FILE_NAME = "_mapping.toml"
# The export adapters a mapping may name (etl.adapters.adapters() holds their converters).
ADAPTER_NAMES = ("amplitude", "mixpanel", "posthog", "segment", "stackexchange")
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
    name = _text_value(value, "adapter", where)
    if name not in ADAPTER_NAMES:
        known = ", ".join(ADAPTER_NAMES)
        raise ConfigError(f"{where}: adapter = {name!r} is unknown; valid: {known}")
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
