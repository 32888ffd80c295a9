"""Settings: one object, resolved once at the edge (defaults < uptake.toml < UPTAKE_* env <
flags) and passed down. Errors name the key, the value, the valid values and the source."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RETENTION_MODES = ("on", "on_or_after")
DEFAULT_MILESTONES = (
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
)
SETTINGS_FILE = "uptake.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, key: str = "duration") -> timedelta:
    """'90s', '5m', '6h', '1d', '2w' or plain seconds -> timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(
            f"{key}={text!r} is not a duration; use a number with s, m, h, d or w (e.g. 5m)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


FIRST_SEEN = "first-seen"


@dataclass(frozen=True)
class PlatformSettings:
    """Display and definition settings of one compared platform."""

    name: str
    label: str | None = None
    colour: str | None = None
    t0: datetime | None = None  # declared launch time (UTC, naive); else the first signup
    # None: signups come from the signup stream; "first-seen": each user's first event;
    # "first-seen:<column>": the time in that column of the events, else the first event.
    signups: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything that changes what Uptake does or how a metric is defined."""

    home: Path = Path("data")
    timezone: str = "UTC"  # reporting timezone for buckets
    week_start: str = "monday"
    retention_mode: str = "on"
    activity_event_types: tuple[str, ...] = ()  # empty: every event type except deletions
    inactive_event_types: tuple[str, ...] = ()  # never activity, whatever the list above says
    milestones: tuple[int, ...] = DEFAULT_MILESTONES
    source_timezone: str = "UTC"  # applies to naive input timestamps
    future_tolerance: timedelta = timedelta(days=1)
    settle_seconds: float = 5.0  # inbox files modified more recently wait for the next pass
    memory_limit: str = "2.25GB"  # DuckDB buffers; the process peaks up to ~0.6 GB above it
    threads: int = 2
    keep_snapshots: int = 3
    # Privacy (docs/PRIVACY.md). The key comes from UPTAKE_PSEUDONYM_KEY or the key file,
    # never from uptake.toml, and is kept out of repr so it cannot end up in a log.
    pseudonym_key: str | None = field(default=None, repr=False)
    pseudonym_key_file: Path | None = None
    keep_raw_days: int | None = None  # compact raw events older than this many days
    suppress_below: int = 0  # exports and reports hide cells of fewer users (0: off)
    platforms: Mapping[str, PlatformSettings] = field(default_factory=dict)

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def rejected(self) -> Path:
        return self.home / "rejected"

    @property
    def serving(self) -> Path:
        return self.home / "serving"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def temp_directory(self) -> Path:
        return self.home / "tmp"

    @property
    def week_start_index(self) -> int:
        """ISO day of week of the first day of a week: Monday = 1 ... Sunday = 7."""
        return WEEKDAYS.index(self.week_start) + 1

    def platform(self, name: str) -> PlatformSettings:
        return self.platforms.get(name, PlatformSettings(name=name))

    def definitions(self) -> dict[str, Any]:
        """The settings that define metrics; recorded in every snapshot manifest."""
        return {
            "timezone": self.timezone,
            "week_start": self.week_start,
            "retention_mode": self.retention_mode,
            "activity_event_types": list(self.activity_event_types) or "all but account_deleted",
            "inactive_event_types": list(self.inactive_event_types),
            "milestones": list(self.milestones),
            "t0": {name: p.t0.isoformat() if p.t0 else None for name, p in self.platforms.items()},
        }

    def signup_sources(self) -> dict[str, str]:
        """Platforms whose signups are derived from usage, by settings."""
        return {name: p.signups for name, p in self.platforms.items() if p.signups}


def _check_timezone(key: str, value: str, source: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{key}={value!r} (from {source}) is not a known IANA timezone; "
            "use a name such as UTC or Europe/Berlin"
        ) from exc
    return value


def _check_choice(key: str, value: str, choices: tuple[str, ...], source: str) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise ConfigError(
            f"{key}={value!r} (from {source}) is not valid; expected one of {', '.join(choices)}"
        )
    return lowered


def _parse_t0(name: str, value: Any, source: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(
                f"platforms.{name}.t0={value!r} (from {source}) is not an ISO-8601 time; "
                "write e.g. 2023-07-05T23:00:00Z"
            ) from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _coerce(key: str, value: Any, source: str) -> Any:
    """Turn a raw value (TOML, env text or flag) into the typed value of `key`."""
    match key:
        case "home":
            return Path(value)
        case "timezone" | "source_timezone":
            return _check_timezone(key, str(value), source)
        case "week_start":
            return _check_choice(key, str(value), WEEKDAYS, source)
        case "retention_mode":
            return _check_choice(key, str(value).replace("-", "_"), RETENTION_MODES, source)
        case "activity_event_types" | "inactive_event_types":
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(i).strip() for i in items if str(i).strip())
        case "milestones":
            items = value.split(",") if isinstance(value, str) else value
            try:
                return tuple(sorted(int(str(i).replace("_", "")) for i in items))
            except ValueError as exc:
                raise ConfigError(
                    f"milestones={value!r} (from {source}) must be whole numbers of users"
                ) from exc
        case "future_tolerance":
            return parse_duration(str(value), key)
        case "settle_seconds":
            return parse_duration(str(value), key).total_seconds()
        case "pseudonym_key":
            return _check_key_text(str(value), source)
        case "pseudonym_key_file":
            return Path(str(value)).expanduser()
        case "keep_raw_days":
            days = _non_negative(key, value, source)
            if days < 1:
                raise ConfigError(
                    f"keep_raw_days={value!r} (from {source}) must be at least 1 (days of raw "
                    "events kept); leave it unset to keep every raw event"
                )
            return days
        case "suppress_below":
            return _non_negative(key, value, source)
        case "threads" | "keep_snapshots":
            try:
                number = int(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{key}={value!r} (from {source}) must be an integer") from exc
            if number < 1:
                raise ConfigError(f"{key}={value!r} (from {source}) must be at least 1")
            return number
        case "memory_limit":
            if not re.match(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", str(value)):
                raise ConfigError(
                    f"memory_limit={value!r} (from {source}) must be a size such as 3GB or 512MB"
                )
            return str(value).strip()
    raise ConfigError(f"unknown setting {key!r} (from {source})")  # pragma: no cover


MIN_KEY_BYTES = 16


def _check_key_text(value: str, source: str) -> str:
    if len(value.strip().encode()) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the pseudonym key from {source} is {len(value.strip().encode())} bytes; use at "
            f"least {MIN_KEY_BYTES} random bytes (e.g. `openssl rand -hex 32`)"
        )
    return value.strip()


def _non_negative(key: str, value: Any, source: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}={value!r} (from {source}) must be a whole number") from exc
    if number < 0:
        raise ConfigError(f"{key}={value!r} (from {source}) must be 0 or more")
    return number


_SCALAR_KEYS = tuple(f.name for f in fields(Settings) if f.name != "platforms")


def _platforms_from_toml(table: Any, source: str) -> dict[str, PlatformSettings]:
    if not isinstance(table, dict):
        raise ConfigError(f"[platforms] in {source} must be a table of platform tables")
    platforms = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"[platforms.{name}] in {source} must be a table")
        unknown = set(entry) - {"label", "colour", "color", "t0", "signups"}
        if unknown:
            raise ConfigError(
                f"[platforms.{name}] in {source} has unknown keys {sorted(unknown)}; "
                "valid keys: label, colour, t0, signups"
            )
        t0 = _parse_t0(name, entry["t0"], source) if "t0" in entry else None
        platforms[name] = PlatformSettings(
            name=name,
            label=entry.get("label"),
            colour=entry.get("colour", entry.get("color")),
            t0=t0,
            signups=check_signup_source(
                entry.get("signups"), f"[platforms.{name}] signups in {source}"
            ),
        )
    return platforms


def check_signup_source(value: Any, where: str) -> str | None:
    """None, "first-seen" or "first-seen:<column>" (see PlatformSettings.signups)."""
    if value is None:
        return None
    text = str(value).strip()
    if text == FIRST_SEEN or (text.startswith(FIRST_SEEN + ":") and text[len(FIRST_SEEN) + 1 :]):
        return text
    raise ConfigError(
        f"{where} = {value!r}: expected 'first-seen' (each user's signup is their first "
        "event) or 'first-seen:COLUMN' (the time in that column of the events, e.g. "
        "first-seen:user_creation_time)"
    )


def _read_settings_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix the file or remove it") from exc
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "platforms":
            values["platforms"] = _platforms_from_toml(value, str(path))
        elif key == "pseudonym_key":
            raise ConfigError(
                f"pseudonym_key in {path}: a secret does not belong in the settings file; "
                "set UPTAKE_PSEUDONYM_KEY or point pseudonym_key_file at a file only you can read"
            )
        elif key in _SCALAR_KEYS and key != "home":
            values[key] = _coerce(key, value, str(path))
        else:
            valid = ", ".join(k for k in _SCALAR_KEYS if k not in ("home", "pseudonym_key"))
            raise ConfigError(f"unknown key {key!r} in {path}; valid keys: {valid}, platforms")
    return values


def load_settings(
    home: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: defaults < HOME/uptake.toml < UPTAKE_* variables < `overrides`.

    `home` (a flag) wins over UPTAKE_HOME, which wins over ./data."""
    env = os.environ if env is None else env
    home_path = Path(home) if home is not None else Path(env.get("UPTAKE_HOME", "data"))
    values: dict[str, Any] = {"home": home_path}
    settings_file = home_path / SETTINGS_FILE
    if settings_file.exists():
        values.update(_read_settings_file(settings_file))
    for key in _SCALAR_KEYS:
        env_key = f"UPTAKE_{key.upper()}"
        if key != "home" and env_key in env:
            values[key] = _coerce(key, env[env_key], f"environment variable {env_key}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _SCALAR_KEYS:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return replace(Settings(), **values)
