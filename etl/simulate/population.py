"""Who signs up when: signup times from a non-homogeneous Poisson process, and each new
user's traits (segment, lifetime, activity, deletion).

Users are numbered in order of their signup minute. Every random draw comes from a
generator keyed by (seed, preset, purpose, day), so a day's users are the same whatever
else is simulated, and the same seed gives the same users."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import IntEnum
from statistics import NormalDist

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
SLOT_BITS = 12  # log2(PICK_SLOTS)
TRAIT_CHUNK = 1 << 18  # users whose traits are drawn at once
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
    last_day: npt.NDArray[np.int16]  # the day of the last µs before end_us (capped)
    day_gap: npt.NDArray[np.float32]  # 1 / -log(1 - daily chance of activity)
    # Scale of the geometric number of events beyond the first on an active day (mean
    # extra = 1 / (exp(1 / scale) - 1)), as an exponential draw times the scale, floored.
    extra_scale: npt.NDArray[np.float32]
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
        last_day=np.empty(total, dtype=np.int16),
        day_gap=np.empty(total, dtype=np.float32),
        extra_scale=np.empty(total, dtype=np.float32),
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
    """Segment, lifetime (from signup, or from `alive_from_us`), activity, extra events,
    deletion, channel and country of the users first, first + 1, ... who signed up at
    `signup_us`, a chunk of users at a time (temporaries stay small and in cache)."""
    count = len(signup_us)
    population.signup_us[first : first + count] = signup_us
    population.signup_day[first : first + count] = signup_day
    channel = np.empty(count, dtype=np.int8)
    country = np.empty(count, dtype=np.int8)
    tables = TraitTables.of(population.preset)
    for start in range(0, count, TRAIT_CHUNK):
        stop = min(start + TRAIT_CHUNK, count)
        since_us = signup_us[start:stop] if alive_from_us is None else alive_from_us
        users = slice(first + start, first + stop)
        channel[start:stop], country[start:stop] = _draw_traits(
            population, tables, rng, users, since_us
        )
    return NewSignups(first_user=first, signup_us=signup_us, channel=channel, country=country)


def _draw_traits(
    population: Population,
    tables: TraitTables,
    rng: np.random.Generator,
    users: slice,
    since_us: IntArray | int,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """One chunk's traits, filled into the population; returns its channel and country.

    One 64-bit draw per user gives five 12-bit slots: segment, activity and extra-events
    quantiles, channel, country; each is a lookup in a table of 4,096 entries (per
    segment for the quantiles), much cheaper than a normal draw, exp and log1p per user."""
    count = users.stop - users.start
    raw = rng.bit_generator.random_raw(count)
    segment = tables.segment[_slot(raw, 0)].astype(np.intp)
    by_segment = segment << SLOT_BITS
    population.day_gap[users] = tables.day_gap[by_segment | _slot(raw, 1)]
    population.extra_scale[users] = tables.extra_scale[by_segment | _slot(raw, 2)]
    lifetime_days = rng.standard_exponential(count, dtype=np.float32)
    lifetime_days *= tables.lifetime_days[segment]
    np.minimum(lifetime_days, np.float32(MAX_LIFETIME_DAYS), out=lifetime_days)
    end_us = (lifetime_days * np.float64(DAY_US)).astype(np.int64)
    end_us += since_us
    end_us += 1
    population.end_us[users] = end_us
    end_us -= 1
    end_us //= DAY_US
    population.last_day[users] = np.minimum(end_us, np.iinfo(np.int16).max)
    deleting = rng.random(count, dtype=np.float32)
    population.deletes[users] = deleting < tables.deletion_share[segment]
    return tables.channel[_slot(raw, 3)], tables.country[_slot(raw, 4)]


def _slot(raw: npt.NDArray[np.uint64], field: int) -> npt.NDArray[np.intp]:
    """The `field`-th 12-bit slot of each raw draw."""
    slot = (raw >> np.uint64(SLOT_BITS * field)).astype(np.intp)
    slot &= PICK_SLOTS - 1
    return slot


@dataclass(frozen=True)
class TraitTables:
    """Per preset, lookup tables that turn 12-bit slots of a raw draw into traits."""

    segment: npt.NDArray[np.int8]
    channel: npt.NDArray[np.int8]
    country: npt.NDArray[np.int8]
    day_gap: npt.NDArray[np.float32]  # [segment * 4096 + slot]
    extra_events: npt.NDArray[np.float32]  # [segment * 4096 + slot]: mean extra events
    extra_scale: npt.NDArray[np.float32]  # [segment * 4096 + slot]: their geometric scale
    lifetime_days: npt.NDArray[np.float32]  # [segment]
    deletion_share: npt.NDArray[np.float32]  # [segment]

    @staticmethod
    @functools.cache
    def of(preset: Preset) -> TraitTables:
        segments = preset.segments
        activity = _by_segment(preset, "daily_activity")[:, None] * _spread(0.5)
        # Stored as the mean gap between candidate active days, in days per unit of an
        # exponential draw (see usage.ActiveDays): the only use of the daily chance.
        chance = np.minimum(activity, 0.98)
        extra = _by_segment(preset, "extra_events")[:, None] * _spread(0.7)
        return TraitTables(
            segment=_pick_table([s.share for s in segments]),
            channel=_pick_table(list(preset.channel_mix)),
            country=_pick_table(list(preset.country_mix)),
            day_gap=(-1 / np.log1p(-chance)).astype(np.float32).ravel(),
            extra_events=extra.astype(np.float32).ravel(),
            extra_scale=(1 / np.log1p(1 / np.maximum(extra, 1e-6))).astype(np.float32).ravel(),
            lifetime_days=_by_segment(preset, "lifetime_days").astype(np.float32),
            deletion_share=_by_segment(preset, "deletion_share").astype(np.float32),
        )


def _pick_table(shares: list[float]) -> npt.NDArray[np.int8]:
    """Category codes for the 4,096 slots, in proportion to `shares` (to 1/4096)."""
    cumulative = np.cumsum(shares) / sum(shares)
    slots = (np.arange(PICK_SLOTS) + 0.5) / PICK_SLOTS
    return np.minimum(np.searchsorted(cumulative, slots), len(shares) - 1).astype(np.int8)


def _by_segment(preset: Preset, trait: str) -> npt.NDArray[np.float64]:
    return np.array([getattr(s, trait) for s in preset.segments], dtype=np.float64)


def _spread(sigma: float) -> npt.NDArray[np.float64]:
    """A mean-one lognormal factor, users of a segment not all alike: its quantiles at the
    middles of 4,096 equal slots, scaled to mean one."""
    normal = NormalDist()
    quantiles = [normal.inv_cdf((i + 0.5) / PICK_SLOTS) for i in range(PICK_SLOTS)]
    factor = np.exp(sigma * np.array(quantiles))
    result: npt.NDArray[np.float64] = factor / factor.mean()
    return result
