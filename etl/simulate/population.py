"""Who signs up when: signup times from a non-homogeneous Poisson process, and each new
user's traits (segment, lifetime, activity, deletion).

Users are numbered in order of their signup minute. Every random draw comes from a
generator keyed by (seed, preset, purpose, day), so a day's users are the same whatever
else is simulated, and the same seed gives the same users."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from etl.simulate.presets import DAY_S, MINUTE_S, Preset, expected_signups_per_minute
from etl.simulate.writer import TextArray, hex_ids

IntArray = npt.NDArray[np.int64]
MICROS = 1_000_000
DAY_US = DAY_S * MICROS
USER_DIGITS = 8  # hex: up to 4.3 billion users per platform
MAX_LIFETIME_DAYS = 10_000.0  # keeps end times far from int64 overflow
PICK_SLOTS = 4096
HISTORY_DAYS = 365  # users who signed up before t0 count as this many days old


class Purpose(IntEnum):
    """What a random stream is for; part of its key, so streams never overlap."""

    SIGNUP_COUNTS = 1
    USERS = 2
    EVENTS = 3
    EVENT_FAULTS = 4
    SIGNUP_FAULTS = 5
    HISTORY = 6
    MIGRATING = 7
    MIGRANT_ORDER = 8
    SWITCHING_DAYS = 9
    ACTIVE_DAYS = 10


@dataclass(frozen=True)
class RandomStreams:
    """Independent, reproducible generators: one per (purpose, index...)."""

    seed: int
    preset_key: int

    def generator(self, purpose: Purpose, *index: int) -> np.random.Generator:
        sequence = np.random.SeedSequence(
            self.seed, spawn_key=(self.preset_key, int(purpose), *index)
        )
        return np.random.Generator(np.random.PCG64(sequence))


@dataclass(frozen=True)
class NewSignups:
    """The users who signed up on one launch day, with the columns of their signup rows."""

    first_user: int
    signup_us: IntArray
    channel: npt.NDArray[np.int8]
    country: npt.NDArray[np.int8]


@dataclass
class Population:
    """Every user's traits, filled day by day (preallocated: the total is drawn first)."""

    preset: Preset
    horizon_us: int
    day_first_user: IntArray  # first user index of each day; last item = total users
    minute_counts: IntArray
    signup_us: IntArray
    end_us: IntArray  # churn (or deletion) time; no activity after it
    day_gap: npt.NDArray[np.float32]  # 1 / -log(1 - daily chance of activity)
    extra_events: npt.NDArray[np.float32]
    deletes: npt.NDArray[np.bool_]
    signup_day: npt.NDArray[np.int16]
    user_text: TextArray  # "<platform>-u<hex>" per user

    @property
    def users(self) -> int:
        return int(self.day_first_user[-1])

    @property
    def days(self) -> int:
        return len(self.day_first_user) - 1

    def day_window_us(self, day: int) -> tuple[int, int]:
        return day * DAY_US, min((day + 1) * DAY_US, self.horizon_us)


def plan_population(
    preset: Preset, scale: float, days: float, streams: RandomStreams, platform: str
) -> Population:
    """Draw how many users sign up in each minute; allocate room for all of them."""
    minutes = max(1, math.floor(days * DAY_S / MINUTE_S))
    expected = expected_signups_per_minute(preset, minutes, scale)
    per_day = DAY_S // MINUTE_S
    counts = np.concatenate(
        [
            streams.generator(Purpose.SIGNUP_COUNTS, day).poisson(expected[start : start + per_day])
            for day, start in enumerate(range(0, minutes, per_day))
        ]
    ).astype(np.int64)
    day_totals = np.add.reduceat(counts, np.arange(0, minutes, per_day))
    base = round(preset.base_users * scale)
    day_first_user = (base + np.concatenate([[0], np.cumsum(day_totals)])).astype(np.int64)
    total = int(day_first_user[-1])
    return Population(
        preset=preset,
        horizon_us=minutes * MINUTE_S * MICROS,
        day_first_user=day_first_user,
        minute_counts=counts,
        signup_us=np.empty(total, dtype=np.int64),
        end_us=np.empty(total, dtype=np.int64),
        day_gap=np.empty(total, dtype=np.float32),
        extra_events=np.empty(total, dtype=np.float32),
        deletes=np.empty(total, dtype=np.bool_),
        signup_day=np.empty(total, dtype=np.int16),
        user_text=hex_ids(f"{platform}-u", 0, total, USER_DIGITS),
    )


def sign_up_history(population: Population, streams: RandomStreams) -> NewSignups:
    """Create the users who signed up before t0 (an established platform's base): signup
    times back to the preset's history start, recent years more likely. Their remaining
    lifetime starts at t0, and they are around when day 0 begins."""
    preset = population.preset
    count = int(population.day_first_user[0])
    rng = streams.generator(Purpose.HISTORY)
    history_us = 0
    if preset.history_start is not None:
        history_us = int((preset.t0 - preset.history_start).total_seconds()) * MICROS
    signup_us = -(history_us * rng.random(count) ** 2).astype(np.int64) - 1
    # Activity fades over a user's first year; older users are all alike.
    return _set_traits(population, rng, 0, signup_us, signup_day=-HISTORY_DAYS, alive_from_us=0)


def sign_up_day(population: Population, day: int, streams: RandomStreams) -> NewSignups:
    """Create the users of launch day `day`: their signup times and traits."""
    rng = streams.generator(Purpose.USERS, day)
    first, last = (int(i) for i in population.day_first_user[day : day + 2])
    per_day = DAY_S // MINUTE_S
    minutes = population.minute_counts[day * per_day : (day + 1) * per_day]
    minute_index = np.repeat(np.arange(day * per_day, day * per_day + len(minutes)), minutes)
    signup_us = ((minute_index + rng.random(last - first)) * (MINUTE_S * MICROS)).astype(np.int64)
    return _set_traits(population, rng, first, signup_us, signup_day=day, alive_from_us=None)


def _set_traits(
    population: Population,
    rng: np.random.Generator,
    first: int,
    signup_us: IntArray,
    *,
    signup_day: int,
    alive_from_us: int | None,
) -> NewSignups:
    """Segment, lifetime (from signup, or from `alive_from_us`), activity, extra events
    and deletion of the users first, first + 1, ... who signed up at `signup_us`."""
    preset = population.preset
    count = len(signup_us)
    segment = _pick(rng, [s.share for s in preset.segments], count)
    lifetime_days = rng.standard_exponential(count, dtype=np.float32) * _by_segment(
        preset, "lifetime_days", segment
    )
    lifetime_us = np.minimum(lifetime_days, MAX_LIFETIME_DAYS).astype(np.float64) * DAY_US
    users = slice(first, first + count)
    population.signup_us[users] = signup_us
    start_us = signup_us if alive_from_us is None else alive_from_us
    population.end_us[users] = start_us + lifetime_us.astype(np.int64) + 1
    population.signup_day[users] = signup_day
    activity = _by_segment(preset, "daily_activity", segment) * _spread(rng, 0.5, count)
    # Stored as the mean gap between candidate active days, in days per unit of an
    # exponential draw (see usage.ActiveDays): the only use of the daily chance.
    chance = np.minimum(activity, np.float32(0.98))
    population.day_gap[users] = np.float32(-1) / np.log1p(-chance)
    extra = _by_segment(preset, "extra_events", segment) * _spread(rng, 0.7, count)
    population.extra_events[users] = extra
    deletion_share = _by_segment(preset, "deletion_share", segment)
    population.deletes[users] = rng.random(count, dtype=np.float32) < deletion_share
    return NewSignups(
        first_user=first,
        signup_us=signup_us,
        channel=_pick(rng, list(preset.channel_mix), count),
        country=_pick(rng, list(preset.country_mix), count),
    )


def _pick(rng: np.random.Generator, shares: list[float], count: int) -> npt.NDArray[np.int8]:
    """Category codes drawn with the given shares (to 1/4096): a table lookup per draw."""
    cumulative = np.cumsum(shares) / sum(shares)
    slots = (np.arange(PICK_SLOTS) + 0.5) / PICK_SLOTS
    table = np.minimum(np.searchsorted(cumulative, slots), len(shares) - 1).astype(np.int8)
    codes: npt.NDArray[np.int8] = table[rng.integers(0, PICK_SLOTS, count, dtype=np.int16)]
    return codes


def _by_segment(
    preset: Preset, trait: str, segment: npt.NDArray[np.int8]
) -> npt.NDArray[np.float32]:
    values = np.array([getattr(s, trait) for s in preset.segments], dtype=np.float32)
    return values[segment]


def _spread(rng: np.random.Generator, sigma: float, count: int) -> npt.NDArray[np.float32]:
    """A mean-one lognormal factor: users of a segment are not all alike."""
    normal = rng.standard_normal(count, dtype=np.float32)
    factor: npt.NDArray[np.float32] = np.exp(np.float32(sigma) * normal - np.float32(sigma**2 / 2))
    return factor
