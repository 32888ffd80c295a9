"""`--dirty`: the faults a real feed has, injected into a file's rows and counted exactly.

Each kind maps to one outcome in the ingestion ledger:
- duplicate: an exact re-send (same event_id) in the same or a later file -> duplicate
- malformed: null or empty user_id, or null timestamp -> quarantined
- future: a timestamp decades ahead -> quarantined
- late (events only): moved to a later day's file, otherwise intact -> loaded
- before_signup (events only): an event shortly before its user's signup -> loaded

Duplicates and late rows are drawn from distinct clean rows, and every added row gets a
fresh id, so no row carries two faults and the counts add up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from etl.simulate.population import DAY_US, MICROS
from etl.simulate.writer import TextArray

Columns = dict[str, npt.NDArray[Any]]
NewIds = Callable[[int], TextArray]
EVENT_FAULTS = {
    "duplicate": 0.3,
    "late": 0.2,
    "malformed": 0.2,
    "future": 0.1,
    "before_signup": 0.2,
}
SIGNUP_FAULTS = {"duplicate": 0.5, "malformed": 0.3, "future": 0.2}
FLAWS = ("null_user_id", "empty_user_id", "null_timestamp")
FUTURE_FROM = datetime(2090, 1, 1)
FUTURE_SPAN_US = 9 * 365 * DAY_US
MAX_LATE_DAYS = 2


def take_rows(columns: Columns, index: npt.NDArray[np.int64]) -> Columns:
    return {name: values[index] for name, values in columns.items()}


def concat_rows(parts: list[Columns]) -> Columns:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values())))


@dataclass
class LaterRows:
    """Rows held back for the first file of a later day (late events, delayed re-sends)."""

    by_day: dict[int, list[Columns]] = field(default_factory=dict)

    def hold(self, day: int, rows: Columns) -> None:
        if row_count(rows):
            self.by_day.setdefault(day, []).append(rows)

    def release(self, day: int) -> list[Columns]:
        """Everything due on or before `day`."""
        due = sorted(d for d in self.by_day if d <= day)
        return [rows for d in due for rows in self.by_day.pop(d)]


@dataclass(frozen=True)
class FaultPlan:
    """How to spoil one file: the fault rate, its random stream, where the file sits in
    the launch, and where fresh ids and held-back rows come from."""

    rate: float
    rng: np.random.Generator
    day: int
    last_day: int
    t0: datetime
    new_ids: NewIds
    later: LaterRows

    @property
    def can_delay(self) -> bool:
        return self.day < self.last_day


@dataclass
class FileFaults:
    """What one file gets: the rows to write, malformed rows, and the counts injected."""

    rows: Columns
    malformed: Columns
    counts: dict[str, int]


def inject_event_faults(
    rows: Columns,
    eligible: npt.NDArray[np.int64],
    signup_us: npt.NDArray[np.int64],
    plan: FaultPlan,
) -> FileFaults:
    """Faults for one usage-event file; `eligible` are the clean rows that may serve as
    originals (not deletions); `signup_us` are every user's signup times."""
    rng = plan.rng
    counts = _fault_counts(plan, EVENT_FAULTS, len(eligible))
    picked = rng.choice(eligible, counts["duplicate"] + counts["late"], replace=False)
    late, resent = picked[: counts["late"]], picked[counts["late"] :]
    _hold_for_later_days(take_rows(rows, late), plan)
    keep = np.ones(row_count(rows), dtype=np.bool_)
    keep[late] = False
    now_resent, later_resent = _split_resends(resent, plan)
    _hold_for_later_days(take_rows(rows, later_resent), plan)
    added = [
        take_rows(rows, now_resent),
        _future_rows(rows, eligible, counts["future"], plan),
        _before_signup_rows(rows, eligible, counts["before_signup"], plan, signup_us),
    ]
    return FileFaults(
        rows=concat_rows([take_rows(rows, np.flatnonzero(keep)), *added]),
        malformed=_malformed_rows(rows, eligible, counts["malformed"], plan),
        counts=counts,
    )


def inject_signup_faults(rows: Columns, plan: FaultPlan) -> FileFaults:
    """Faults for one signups file: repeated signups, malformed and far-future rows."""
    eligible = np.arange(row_count(rows), dtype=np.int64)
    counts = _fault_counts(plan, SIGNUP_FAULTS, len(eligible))
    resent = plan.rng.choice(eligible, counts["duplicate"], replace=False)
    now_resent, later_resent = _split_resends(resent, plan)
    _hold_for_later_days(take_rows(rows, later_resent), plan)
    added = [
        take_rows(rows, now_resent),
        _future_rows(rows, eligible, counts["future"], plan),
    ]
    return FileFaults(
        rows=concat_rows([rows, *added]),
        malformed=_malformed_rows(rows, eligible, counts["malformed"], plan),
        counts=counts,
    )


def _fault_counts(plan: FaultPlan, shares: dict[str, float], eligible: int) -> dict[str, int]:
    counts = {
        kind: int(plan.rng.binomial(eligible, plan.rate * share)) for kind, share in shares.items()
    }
    if "late" in counts and not plan.can_delay:
        counts["late"] = 0  # the last day has no later file
    # Duplicates and late rows need distinct originals.
    counts["duplicate"] = min(counts["duplicate"], eligible - counts.get("late", 0))
    return counts


def _split_resends(
    resent: npt.NDArray[np.int64], plan: FaultPlan
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """About half the re-sends arrive in the same file, the rest in a later day's file."""
    delayed = plan.rng.random(len(resent)) < 0.5
    if not plan.can_delay:
        delayed[:] = False
    return resent[~delayed], resent[delayed]


def _hold_for_later_days(rows: Columns, plan: FaultPlan) -> None:
    if not row_count(rows):
        return
    delay = plan.rng.integers(1, MAX_LATE_DAYS + 1, row_count(rows))
    target = np.minimum(plan.day + delay, plan.last_day)
    for target_day in np.unique(target):
        plan.later.hold(int(target_day), take_rows(rows, np.flatnonzero(target == target_day)))


def _templates(
    rows: Columns, eligible: npt.NDArray[np.int64], count: int, plan: FaultPlan
) -> Columns:
    if count == 0 or len(eligible) == 0:
        return take_rows(rows, np.zeros(0, dtype=np.int64))
    return take_rows(rows, eligible[plan.rng.integers(0, len(eligible), count)])


def _future_rows(
    rows: Columns, eligible: npt.NDArray[np.int64], count: int, plan: FaultPlan
) -> Columns:
    """Rows stamped decades ahead (a device clock gone wrong): beyond any run's clock."""
    future = _templates(rows, eligible, count, plan)
    ahead_us = int((FUTURE_FROM - plan.t0).total_seconds()) * MICROS
    future["ts_us"] = ahead_us + plan.rng.integers(0, FUTURE_SPAN_US, count)
    future["event_id"] = plan.new_ids(count)
    return future


def _before_signup_rows(
    rows: Columns,
    eligible: npt.NDArray[np.int64],
    count: int,
    plan: FaultPlan,
    signup_us: npt.NDArray[np.int64],
) -> Columns:
    """Events of real users a few seconds to six hours before their signup (client clocks
    that run behind, or activity logged before the account was created)."""
    early = _templates(rows, eligible, count, plan)
    early["ts_us"] = signup_us[early["user"]] - plan.rng.integers(MICROS, 6 * 3600 * MICROS, count)
    early["event_id"] = plan.new_ids(count)
    return early


def _malformed_rows(
    rows: Columns, eligible: npt.NDArray[np.int64], count: int, plan: FaultPlan
) -> Columns:
    """Rows with a null or empty user_id or a null timestamp; `flaw` indexes FLAWS."""
    broken = _templates(rows, eligible, count, plan)
    broken["flaw"] = plan.rng.integers(0, len(FLAWS), count).astype(np.int8)
    broken["event_id"] = plan.new_ids(count)
    return broken
