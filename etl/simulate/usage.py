"""What users do: usage events of each launch day, drawn user chunk by user chunk.

A user is alive from signup until their churn time. On each day alive they are active
with a chance that fades with age (on their signup day, most try the product); an active
day has one event plus a geometric number more, placed in time along the daily cycle.
A user who deletes the account does so at their churn time, so nothing follows it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from etl.simulate.population import DAY_US, HISTORY_DAYS, MICROS, Population, Purpose, RandomStreams
from etl.simulate.presets import DAY_S, Preset, diurnal_clock

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
CodeArray = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]
CHUNK_USERS = 1 << 20
CYCLE_STEPS = 1 << 13  # steps of the inverse daily-cycle table (about 10 s each)
DELETION = "account_deleted"


@dataclass(frozen=True)
class UsageBatch:
    """Usage events without ids: who, when (µs since launch), which type (code)."""

    user: IntArray
    ts_us: IntArray
    kind: CodeArray

    def __len__(self) -> int:
        return len(self.user)

    @staticmethod
    def concat(parts: list[UsageBatch]) -> UsageBatch:
        return UsageBatch(
            user=np.concatenate([p.user for p in parts]),
            ts_us=np.concatenate([p.ts_us for p in parts]),
            kind=np.concatenate([p.kind for p in parts]),
        )


def event_types(preset: Preset) -> tuple[str, ...]:
    """The event_type dictionary: the preset's usage types, then deletions."""
    return (*preset.event_types, DELETION)


@dataclass(frozen=True)
class DailyCycle:
    """Places events along the daily cycle: uniform in 'activity seconds' (the integral
    of the cycle), mapped back to clock time through a one-day table of the inverse,
    evenly spaced in activity seconds so a lookup needs no search."""

    preset: Preset
    inverse_us: FloatArray  # clock µs of the day at each step of activity seconds
    inverse_slope_us: FloatArray
    forward_s: FloatArray  # activity seconds of the day at each step of clock seconds
    forward_slope: FloatArray
    type_table: CodeArray  # 1024 slots filled in proportion to the event mix
    fading: npt.NDArray[np.float32]  # activity factor by age in whole days

    @staticmethod
    def of(preset: Preset, days: int) -> DailyCycle:
        fine_s = np.linspace(0.0, DAY_S, 4 * CYCLE_STEPS + 1)
        steps_clock = np.linspace(0.0, DAY_S, CYCLE_STEPS + 1)
        inverse = np.interp(steps_clock, diurnal_clock(preset.diurnal, preset.t0, fine_s), fine_s)
        forward = diurnal_clock(preset.diurnal, preset.t0, steps_clock)
        cumulative = np.cumsum(preset.event_mix) / sum(preset.event_mix)
        slots = (np.arange(1024) + 0.5) / 1024
        type_table = np.minimum(np.searchsorted(cumulative, slots), len(preset.event_mix) - 1)
        # Age in whole days at the middle of a day: day - signup day - 0.5 on average.
        ages = np.maximum(np.arange(days + 1 + HISTORY_DAYS) - 0.5, 0.0)
        return DailyCycle(
            preset=preset,
            inverse_us=inverse * MICROS,
            inverse_slope_us=np.append(np.diff(inverse), 0.0) * MICROS,
            forward_s=forward,
            forward_slope=np.append(np.diff(forward), 0.0),
            type_table=type_table.astype(np.int8),
            fading=((1.0 + ages) ** -preset.activity_ageing).astype(np.float32),
        )

    def clock(self, elapsed_us: IntArray, day: int) -> FloatArray:
        """Activity seconds since launch at each elapsed µs (all within `day`)."""
        position = (elapsed_us - day * DAY_US) * np.float64(CYCLE_STEPS / DAY_US)
        return _table_lookup(self.forward_s, self.forward_slope, position) + day * DAY_S

    def steps(self, clock_s: FloatArray, day: int) -> FloatArray:
        """Activity seconds since launch as steps of the inverse table within `day`."""
        result: FloatArray = (clock_s - day * DAY_S) * (CYCLE_STEPS / DAY_S)
        return result

    def times_us(self, uniform: FloatArray, since: Any, span: Any, day: int) -> IntArray:
        """Elapsed µs of events placed uniformly in activity seconds: `uniform` in [0, 1)
        (overwritten), `since` and `span` in steps of the inverse table (scalars, or one
        per event). In place, to spare the temporaries of ~10 passes per event."""
        position = uniform
        position *= span
        position += since
        step = position.astype(np.int32)
        position -= step
        position *= _at(self.inverse_slope_us, step)
        position += _at(self.inverse_us, step)
        ts_us = position.astype(np.int64)
        ts_us += day * DAY_US
        return ts_us


def _table_lookup(values: FloatArray, slopes: FloatArray, position: FloatArray) -> FloatArray:
    """Linear interpolation in a table of evenly spaced steps (no search needed)."""
    step = position.astype(np.int32)
    result: FloatArray = (position - step) * _at(slopes, step)
    result += _at(values, step)
    return result


def _at(values: npt.NDArray[Any], index: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """values[index] for valid indices (past the end: the last value), by np.take, which
    is ~40% cheaper than fancy indexing; mode="clip" also skips the bounds check."""
    return np.take(values, index, mode="clip")


@dataclass
class ActiveDays:
    """Who may be active on which day, drawn ahead (skip-ahead sampling).

    A user is active on a day after their signup day with chance activity x fading(age) x
    the share of the day they are around. Rather than a draw per user and day alive, each
    user's next *candidate* day is drawn at once as a geometric gap with chance `activity`
    per day, and a candidate day is kept with chance fading x share (at most 1): this
    thinning gives every day exactly its chance, and costs a draw per candidate day
    instead of one per day alive. Deletions are filed under the day of the churn time."""

    days: int
    candidates: list[list[Int32Array]]
    deletions: list[list[Int32Array]]

    @staticmethod
    def of(days: int) -> ActiveDays:
        return ActiveDays(days, [[] for _ in range(days)], [[] for _ in range(days)])

    def schedule(
        self, population: Population, users: Int32Array, day: int, rng: np.random.Generator
    ) -> None:
        """File each of `users` under their next candidate day after `day` (or from day 0
        when `day` is -1), unless they churn by its start or it is beyond the horizon."""
        draws = rng.standard_exponential(len(users), dtype=np.float32)
        gap = np.floor(draws * _at(population.day_gap, users))
        nearest = np.minimum(gap, np.float32(self.days)).astype(np.int32) + (day + 1)
        # Around at the candidate day's start: its first µs is before the churn time.
        stays = (nearest < self.days) & (nearest <= _at(population.last_day, users))
        _file_by_day(self.candidates, users[stays], nearest[stays])

    def add_deletions(self, population: Population, first: int, last: int) -> None:
        """File the users first..last-1 who delete their account under its day."""
        users = np.arange(first, last, dtype=np.int32)
        deleting = users[population.deletes[first:last]]
        end_us = population.end_us[deleting]
        within = end_us < population.horizon_us
        _file_by_day(self.deletions, deleting[within], (end_us[within] // DAY_US).astype(np.int32))

    def due(self, day: int) -> tuple[Int32Array, Int32Array]:
        """The candidates and the deletions of `day` (each handed out once)."""
        candidates, self.candidates[day] = self.candidates[day], []
        deletions, self.deletions[day] = self.deletions[day], []
        return _joined(candidates), _joined(deletions)


def _file_by_day(buckets: list[list[Int32Array]], users: Int32Array, days: Int32Array) -> None:
    """Append users to the bucket of their day (a stable radix sort on 16-bit days)."""
    if not len(users):
        return
    order = np.argsort(days.astype(np.int16), kind="stable")
    counts = np.bincount(days, minlength=len(buckets))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for day in np.flatnonzero(counts):
        buckets[day].append(users[order[bounds[day] : bounds[day + 1]]])


def _joined(parts: list[Int32Array]) -> Int32Array:
    if not parts:
        return np.zeros(0, dtype=np.int32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def schedule_history(
    population: Population, active_days: ActiveDays, streams: RandomStreams
) -> None:
    """Users from before t0 (an incumbent's base): candidate days from day 0 on."""
    count = int(population.day_first_user[0])
    rng = streams.generator(Purpose.ACTIVE_DAYS)
    for first in range(0, count, CHUNK_USERS):
        users = np.arange(first, min(first + CHUNK_USERS, count), dtype=np.int32)
        active_days.schedule(population, users, -1, rng)
    active_days.add_deletions(population, 0, count)


def day_usage(
    population: Population,
    day: int,
    cycle: DailyCycle,
    streams: RandomStreams,
    active_days: ActiveDays,
) -> Iterator[UsageBatch]:
    """The usage events and deletions of launch day `day`, in batches per chunk of users:
    the users who sign up today (most try the product on their first day), then the
    day's candidates (users around all day share one time window, so their events need no
    per-user window; those leaving today do), then the day's deletions."""
    first, last = (int(i) for i in population.day_first_user[day : day + 2])
    active_days.add_deletions(population, first, last)
    for chunk, start in enumerate(range(first, last, CHUNK_USERS)):
        users = np.arange(start, min(start + CHUNK_USERS, last), dtype=np.int32)
        rng = streams.generator(Purpose.EVENTS, day, 0, chunk)
        joining = users[
            rng.random(len(users), dtype=np.float32) < population.preset.first_day_activity
        ]
        yield _part_day_events(population, day, joining, cycle, rng)
        active_days.schedule(population, users, day, rng)
    candidates, deletions = active_days.due(day)
    for chunk, start in enumerate(range(0, len(candidates), CHUNK_USERS)):
        users = candidates[start : start + CHUNK_USERS]
        rng = streams.generator(Purpose.EVENTS, day, 1, chunk)
        leaving = _leaving(population, users, day)
        yield _whole_day_events(population, day, users[~leaving], cycle, rng)
        yield _leaving_day_events(population, day, users[leaving], cycle, rng)
        active_days.schedule(population, users, day, rng)
    yield _deletions(population, deletions, cycle)


def _leaving(population: Population, users: Int32Array, day: int) -> npt.NDArray[np.bool_]:
    """Which of `users` churn before the end of `day` (or of the horizon)."""
    day_start, day_end = population.day_window_us(day)
    if day_end - day_start < DAY_US:
        leaving: npt.NDArray[np.bool_] = _at(population.end_us, users) < day_end
        return leaving
    return _at(population.last_day, users) <= day


def _whole_day_events(
    population: Population,
    day: int,
    users: Int32Array,
    cycle: DailyCycle,
    rng: np.random.Generator,
) -> UsageBatch:
    day_start, day_end = population.day_window_us(day)
    clock_since, clock_until = cycle.clock(np.array([day_start, day_end], dtype=np.int64), day)
    share_of_day = np.float32((clock_until - clock_since) / DAY_S)
    chance = _at(cycle.fading, day - _at(population.signup_day, users)) * share_of_day
    who = users[rng.random(len(users), dtype=np.float32) < chance]
    counts = _events_per_active_day(_at(population.extra_scale, who), rng)
    total = int(counts.sum())
    since, until = cycle.steps(np.array([clock_since, clock_until]), day)
    ts_us = cycle.times_us(rng.random(total), since, until - since, day)
    # Rounding must never move an event out of its day.
    np.clip(ts_us, day_start, day_end - 1, out=ts_us)
    return UsageBatch(
        user=np.repeat(who.astype(np.int64), counts),
        ts_us=ts_us,
        kind=_event_kinds(cycle, rng, total),
    )


def _leaving_day_events(
    population: Population,
    day: int,
    users: Int32Array,
    cycle: DailyCycle,
    rng: np.random.Generator,
) -> UsageBatch:
    """Candidates who churn today: kept in proportion to the part of the day left."""
    window = _Window.of(population, day, users, cycle)
    share_of_day = (window.clock_span * (1 / DAY_S)).astype(np.float32)
    chance = _at(cycle.fading, day - _at(population.signup_day, users)) * share_of_day
    return _part_day_events(
        population, day, users[rng.random(len(users), dtype=np.float32) < chance], cycle, rng
    )


def _part_day_events(
    population: Population,
    day: int,
    who: Int32Array,
    cycle: DailyCycle,
    rng: np.random.Generator,
) -> UsageBatch:
    """Events of active users each around for their own part of the day."""
    window = _Window.of(population, day, who, cycle)
    counts = _events_per_active_day(_at(population.extra_scale, who), rng)
    total = int(counts.sum())
    since = np.repeat(cycle.steps(window.clock_since, day), counts)
    span = np.repeat(window.clock_span * (CYCLE_STEPS / DAY_S), counts)
    ts_us = cycle.times_us(rng.random(total), since, span, day)
    # Rounding must never move an event before its signup or after its churn or day.
    lowest = np.repeat(window.since_us, counts)
    highest = np.repeat(window.until_us, counts) - 1
    ts_us = np.minimum(np.maximum(ts_us, lowest, out=ts_us), highest, out=ts_us)
    return UsageBatch(
        user=np.repeat(who.astype(np.int64), counts),
        ts_us=ts_us,
        kind=_event_kinds(cycle, rng, total),
    )


def _events_per_active_day(
    scale: npt.NDArray[np.float32], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """One event plus a geometric number more (an exponential draw times the user's
    `scale`, floored): over-dispersed like real sessions, and far cheaper to draw than a
    Poisson number."""
    more = rng.standard_exponential(len(scale), dtype=np.float32)
    more *= scale
    counts = more.astype(np.int64)
    counts += 1
    return counts


def _event_kinds(cycle: DailyCycle, rng: np.random.Generator, count: int) -> CodeArray:
    return _at(cycle.type_table, rng.integers(0, len(cycle.type_table), count, dtype=np.int16))


@dataclass(frozen=True)
class _Window:
    """The part of a day each user is around: from signup (or the day's start) until
    churn (or the day's end), in µs and in activity seconds of the daily cycle."""

    since_us: IntArray
    until_us: IntArray
    clock_since: FloatArray
    clock_span: FloatArray

    @staticmethod
    def of(population: Population, day: int, users: Int32Array, cycle: DailyCycle) -> _Window:
        day_start, day_end = population.day_window_us(day)
        since = np.maximum(_at(population.signup_us, users), day_start)
        until = np.minimum(_at(population.end_us, users), day_end)
        clock_since = cycle.clock(since, day)
        return _Window(since, until, clock_since, cycle.clock(until, day) - clock_since)


def _deletions(population: Population, users: Int32Array, cycle: DailyCycle) -> UsageBatch:
    """Users who delete their account today, at their churn time."""
    deletion_code = len(cycle.preset.event_types)
    return UsageBatch(
        user=users.astype(np.int64),
        ts_us=population.end_us[users],
        kind=np.full(len(users), deletion_code, dtype=np.int8),
    )
