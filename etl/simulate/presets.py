"""Launch presets: the signup curve, the user mix and the event mix of each simulated launch.

Every curve is calibrated so that its milestone (e.g. the 10,000,000th signup at 7 h) is
met exactly in expectation at scale 1; the expected signups per minute are multiplied by
the scale, so the scaled milestone (scale x users) falls at the same elapsed time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from etl.errors import UsageError

MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86_400
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Segment:
    """A kind of user: how long they stay and how active they are while they stay."""

    name: str
    share: float
    lifetime_days: float  # mean of an exponential lifetime, after which the user churns
    daily_activity: float  # chance of being active on a day (before ageing)
    extra_events: float  # mean events beyond the first on an active day
    deletion_share: float  # share of this segment that deletes the account on churning


@dataclass(frozen=True)
class Diurnal:
    """A daily cycle of activity: 1 + amplitude * cos(2 pi (hour - peak_hour) / 24)."""

    amplitude: float
    peak_hour_utc: float


@dataclass(frozen=True)
class Preset:
    """One launch pattern at scale 1."""

    name: str
    t0: datetime  # launch (for the incumbent: the start of the observed window), UTC naive
    milestone_users: int  # new signups ...
    milestone_elapsed_s: int  # ... reached this long after t0, in expectation
    curve: str  # "burst" (launch spike, decay), "bass" (word of mouth) or "flat" (inflow)
    curve_params: tuple[float, ...]
    diurnal: Diurnal
    segments: tuple[Segment, ...]
    first_day_activity: float  # chance that a new user is active on their signup day
    activity_ageing: float  # activity x (1 + age in days) ** -ageing
    event_types: tuple[str, ...]
    event_mix: tuple[float, ...]
    channels: tuple[str, ...]
    channel_mix: tuple[float, ...]
    countries: tuple[str, ...]
    country_mix: tuple[float, ...]
    # People already signed up before t0 (back-dated to history_start .. t0, recent ones
    # more likely), as an established platform has.
    base_users: int = 0
    history_start: datetime | None = None
    # Share of signups who already use the platform named by --from (same person_id).
    migrating_share: float = 0.0
    # Of those migrants, the share who then use the --from platform less: from the
    # instant they sign up here, each of their active days there is kept with chance
    # switching_activity (all that day's activity events, or none); the other migrants
    # keep using both platforms as before. Their expected active days on the --from
    # platform after joining are (1 - share + share * activity) of what they would be.
    switching_share: float = 0.0
    switching_activity: float = 1.0


def preset(
    name: str,
    *,
    segments: dict[str, tuple[float, float, float, float, float]],
    event_mix: dict[str, float],
    channel_mix: dict[str, float],
    country_mix: dict[str, float],
    **shape: Any,
) -> Preset:
    """One builder for every preset: segments as name -> (share, lifetime_days,
    daily_activity, extra_events, deletion_share) and each mix as value -> share, in code
    order; `shape` holds the remaining Preset fields."""
    return Preset(
        name=name,
        segments=tuple(Segment(segment, *traits) for segment, traits in segments.items()),
        event_types=tuple(event_mix),
        event_mix=tuple(event_mix.values()),
        channels=tuple(channel_mix),
        channel_mix=tuple(channel_mix.values()),
        countries=tuple(country_mix),
        country_mix=tuple(country_mix.values()),
        **shape,
    )


def _mix(values: str, shares: tuple[float, ...]) -> dict[str, float]:
    """A mix from space-separated values and their shares, in order."""
    names = values.split()
    if len(names) != len(shares):
        raise ValueError(f"{len(names)} values for {len(shares)} shares: {values!r}")
    return dict(zip(names, shares, strict=True))


VIRAL = preset(
    "viral",
    t0=datetime(2023, 7, 5, 23, 0),
    milestone_users=10_000_000,
    milestone_elapsed_s=7 * HOUR_S,
    curve="burst",
    # launch ramp (h), burst decay (h), tail share of the burst, tail decay (h)
    curve_params=(0.3, 3.2, 0.08, 96.0),
    diurnal=Diurnal(amplitude=0.3, peak_hour_utc=15.0),
    segments={
        "tourist": (0.62, 1.2, 0.18, 0.5, 0.03),
        "casual": (0.30, 6.0, 0.22, 0.9, 0.02),
        "core": (0.08, 150.0, 0.45, 1.5, 0.003),
    },
    first_day_activity=0.8,
    activity_ageing=0.35,
    event_mix=_mix("session post reply like follow", (0.40, 0.07, 0.09, 0.32, 0.12)),
    channel_mix=_mix("instagram_import organic invite ads", (0.72, 0.18, 0.07, 0.03)),
    # Threads launched outside the EU: no EU countries in its first month.
    country_mix=_mix(
        "US IN BR MX GB ID JP CA TR PH AR KR",
        (0.24, 0.22, 0.12, 0.07, 0.06, 0.06, 0.05, 0.04, 0.04, 0.04, 0.03, 0.03),
    ),
    migrating_share=0.4,  # Threads signed people up from their Instagram accounts
    switching_share=0.5,
    switching_activity=0.2,
)

STEADY = preset(
    "steady",
    t0=datetime(2022, 11, 30, 16, 0),
    milestone_users=1_000_000,
    milestone_elapsed_s=6 * DAY_S,
    curve="bass",
    # Bass innovation p and imitation q, per day; the ceiling is far away in 30 days
    curve_params=(0.004, 0.028),
    diurnal=Diurnal(amplitude=0.45, peak_hour_utc=17.0),
    segments={
        "tourist": (0.35, 1.5, 0.20, 0.6, 0.01),
        "casual": (0.40, 14.0, 0.20, 0.9, 0.008),
        "core": (0.25, 300.0, 0.38, 1.4, 0.002),
    },
    first_day_activity=0.9,
    activity_ageing=0.15,
    event_mix=_mix("session post reply like follow", (0.50, 0.20, 0.15, 0.10, 0.05)),
    channel_mix=_mix("organic invite ads", (0.70, 0.18, 0.12)),
    country_mix=_mix(
        "US IN GB DE FR BR CA JP ES AU NL KR",
        (0.30, 0.12, 0.08, 0.08, 0.07, 0.07, 0.06, 0.05, 0.05, 0.05, 0.04, 0.03),
    ),
    migrating_share=0.15,
    switching_share=0.3,
    switching_activity=0.5,
)

INCUMBENT = preset(
    "incumbent",
    # Observed from about two weeks before the viral launch to two weeks after it, so that
    # migrants' activity here is seen on both sides of their signup on the launch.
    t0=datetime(2023, 6, 20, 0, 0),
    milestone_users=20_000,  # a steady inflow of 20,000 new signups a day
    milestone_elapsed_s=DAY_S,
    curve="flat",
    curve_params=(),
    diurnal=Diurnal(amplitude=0.4, peak_hour_utc=16.0),
    segments={
        "dormant": (0.45, 3.0, 0.05, 0.3, 0.01),
        "casual": (0.35, 90.0, 0.15, 0.8, 0.004),
        "core": (0.20, 1000.0, 0.45, 1.6, 0.001),
    },
    first_day_activity=0.85,
    activity_ageing=0.05,
    event_mix=_mix("session post reply like follow", (0.35, 0.08, 0.12, 0.33, 0.12)),
    channel_mix=_mix("organic invite ads", (0.60, 0.25, 0.15)),
    country_mix=_mix(
        "US IN BR ID GB MX TR JP DE FR CA KR",
        (0.18, 0.18, 0.10, 0.09, 0.07, 0.07, 0.06, 0.06, 0.05, 0.05, 0.05, 0.04),
    ),
    base_users=2_000_000,
    history_start=datetime(2012, 10, 6),
)

PRESETS = {p.name: p for p in (VIRAL, STEADY, INCUMBENT)}
PRESET_NAMES = tuple(PRESETS)


def preset_named(name: str) -> Preset:
    """The preset called `name`."""
    if name not in PRESETS:
        raise UsageError(f"--preset {name!r} is unknown; expected one of {', '.join(PRESET_NAMES)}")
    return PRESETS[name]


def diurnal_factor(diurnal: Diurnal, t0: datetime, elapsed_s: FloatArray) -> FloatArray:
    """The daily cycle at each elapsed second since launch (mean 1 over a day)."""
    phase = _phase(diurnal, t0)
    return 1.0 + diurnal.amplitude * np.cos(2 * math.pi * (elapsed_s / DAY_S + phase))


def diurnal_clock(diurnal: Diurnal, t0: datetime, elapsed_s: FloatArray) -> FloatArray:
    """The integral of the daily cycle: 'activity seconds' since launch. It gains exactly
    one day per day, so time within a launch day maps onto the same day."""
    phase = _phase(diurnal, t0)
    wave = np.sin(2 * math.pi * (elapsed_s / DAY_S + phase)) - math.sin(2 * math.pi * phase)
    return elapsed_s + diurnal.amplitude * DAY_S / (2 * math.pi) * wave


def _phase(diurnal: Diurnal, t0: datetime) -> float:
    hour = t0.hour + t0.minute / 60 + t0.second / 3600
    return (hour - diurnal.peak_hour_utc) / 24


def _burst_shape(params: tuple[float, ...], hours: FloatArray) -> FloatArray:
    """A launch spike: a fast ramp, then a decaying burst plus a slower decaying tail."""
    ramp_h, decay_h, tail_share, tail_h = params
    ramp = 1.0 - np.exp(-hours / ramp_h)
    burst = np.exp(-hours / decay_h) / decay_h
    tail = tail_share * np.exp(-hours / tail_h) / tail_h
    return np.asarray(ramp * (burst + tail), dtype=np.float64)


def _bass_shape(params: tuple[float, ...], hours: FloatArray) -> FloatArray:
    """The Bass diffusion density: outside influence p plus word of mouth q."""
    p, q = params
    days = hours / 24
    growth = np.exp(-(p + q) * days)
    return np.asarray((p + q) ** 2 / p * growth / (1 + q / p * growth) ** 2, dtype=np.float64)


def _flat_shape(params: tuple[float, ...], hours: FloatArray) -> FloatArray:
    """A steady inflow: an established platform's everyday signups."""
    return np.ones_like(hours)


def expected_signups_per_minute(preset: Preset, minutes: int, scale: float) -> FloatArray:
    """Expected signups in each minute after launch, calibrated on the milestone."""
    mid_s = (np.arange(minutes, dtype=np.float64) + 0.5) * MINUTE_S
    calibration_s = (
        np.arange(preset.milestone_elapsed_s // MINUTE_S, dtype=np.float64) + 0.5
    ) * MINUTE_S
    shape = _signup_shape(preset, mid_s)
    milestone_mass = float(_signup_shape(preset, calibration_s).sum())
    return np.asarray(shape * (preset.milestone_users * scale / milestone_mass), np.float64)


def _signup_shape(preset: Preset, elapsed_s: FloatArray) -> FloatArray:
    hours: FloatArray = elapsed_s / HOUR_S
    curve = {"burst": _burst_shape, "bass": _bass_shape, "flat": _flat_shape}[preset.curve]
    cycle = diurnal_factor(preset.diurnal, preset.t0, elapsed_s)
    return np.asarray(curve(preset.curve_params, hours) * cycle, dtype=np.float64)
