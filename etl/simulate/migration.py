"""`--from`: people of an incumbent who sign up to a launch, and some of them then use the
incumbent less.

The incumbent is simulated first, into the same home. A launch with `--from` picks its
migrants among the incumbent's users who signed up before the launch's t0 (each person at
most once, in a seeded order) and gives them the incumbent's person_id. A share of the
migrants (the preset's `switching_share`) are switchers: from the instant they sign up on
the launch, each of their active UTC days on the incumbent is kept with chance
`switching_activity` (all of that day's activity events, or none; deletions stay). That
is written into the incumbent's event files, which must still wait in the inbox: after the
launch's own days, those files are rewritten without the dropped days, and the
incumbent's summary is updated to the rows that remain."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.errors import UsageError
from etl.simulate.population import DAY_US, Purpose, RandomStreams
from etl.simulate.presets import Preset
from etl.simulate.usage import DELETION
from etl.simulate.writer import id_codec_of, write_json_atomically, write_parquet_atomically

IntArray = npt.NDArray[np.int64]
NEVER = np.iinfo(np.int64).max
EPOCH = datetime(1970, 1, 1)
_HEX_VALUES = np.zeros(256, dtype=np.int64)
_HEX_VALUES[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUES[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)


@dataclass
class Migrants:
    """The incumbent's people who can sign up to the launch, and who of them switched."""

    platform: str
    folder: Path  # the incumbent's inbox folder
    record: Path  # the incumbent's summary
    order: IntArray  # candidate user numbers of the incumbent, shuffled
    join_us: IntArray  # per incumbent user: when a switcher joined the launch (epoch µs)
    switching_share: float
    switching_activity: float
    used: int = 0
    switchers: int = 0

    def take(self, count: int) -> IntArray:
        """Up to `count` incumbent user numbers not taken yet."""
        taken = self.order[self.used : self.used + count]
        self.used += len(taken)
        return taken

    def choose_switchers(
        self, rng: np.random.Generator, people: IntArray, joined_us: IntArray
    ) -> None:
        """Make a share of the migrants `people` (who joined at `joined_us`) switchers."""
        switching = rng.random(len(people)) < self.switching_share
        self.join_us[people[switching]] = joined_us[switching]
        self.switchers += int(switching.sum())


def migrants_from(
    source: str | None, launch: Preset, streams: RandomStreams, records: Path
) -> Migrants | None:
    """Who can migrate with --from: the people of an incumbent simulated earlier in the
    same home (its summary in `records` says where its files are)."""
    if source is None:
        return None
    if launch.base_users:
        raise UsageError(
            "--from applies to a launch (--preset viral or steady), not to an incumbent"
        )
    record = records / f"{source}.json"
    summary = _incumbent_summary(source, record)
    folder = Path(summary["folder"])
    if launch.switching_share > 0 and not list(folder.glob("events-*.parquet")):
        raise UsageError(
            f"--from {source}: its event files are no longer waiting in {folder} (loaded "
            "by a run?); migrants' lower activity there is written into those files, so "
            f"simulate the launch before `uptake run`, or simulate {source} again"
        )
    candidates = np.sort(_users_signed_up_before(folder, launch.t0))
    order = candidates[streams.generator(Purpose.MIGRANT_ORDER).permutation(len(candidates))]
    return Migrants(
        platform=source,
        folder=folder,
        record=record,
        order=order,
        join_us=np.full(int(summary["signups"]), NEVER, dtype=np.int64),
        switching_share=launch.switching_share,
        switching_activity=launch.switching_activity,
    )


def _incumbent_summary(source: str, record: Path) -> dict[str, Any]:
    if not record.exists():
        raise UsageError(
            f"--from {source}: no simulated platform {source!r} (looked for {record}); "
            f"run `uptake simulate --preset incumbent --platform {source}` first"
        )
    summary: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    if summary.get("preset") != "incumbent":
        raise UsageError(
            f"--from {source}: {source} was simulated with --preset {summary.get('preset')}; "
            "people can only come from an incumbent (--preset incumbent)"
        )
    if summary.get("dirty"):
        raise UsageError(
            f"--from {source}: {source} was simulated with --dirty {summary['dirty']}; its "
            "files are rewritten for the migrants, which would spoil its fault counts; "
            f"simulate {source} without --dirty"
        )
    return summary


def _users_signed_up_before(folder: Path, t0: datetime) -> IntArray:
    """The incumbent's user numbers with a signup before `t0`, from its signup files."""
    parts = [np.zeros(0, dtype=np.int64)]
    for path in sorted(folder.glob("signups-*.parquet")):
        table = pq.read_table(path, columns=["user_id", "signup_ts"])
        before = pc.less(table["signup_ts"], pa.scalar(t0, pa.timestamp("us")))
        parts.append(user_numbers(table["user_id"].filter(before)))
    return np.concatenate(parts)


def user_numbers(user_ids: pa.ChunkedArray | pa.Array) -> IntArray:
    """The numbers of simulated user ids (`<platform>-u<8 hex digits>`), from the last
    eight bytes of each id, without Python loops."""
    column = user_ids.combine_chunks() if isinstance(user_ids, pa.ChunkedArray) else user_ids
    if len(column) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
    ends = offsets[column.offset + 1 : column.offset + len(column) + 1].astype(np.int64)
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)
    digits = _HEX_VALUES[data[ends[:, None] - 8 + np.arange(8)]]
    return np.asarray(digits @ (16 ** np.arange(7, -1, -1, dtype=np.int64)), dtype=np.int64)


def thin_incumbent(migrants: Migrants, streams: RandomStreams) -> int:
    """Rewrite the incumbent's waiting event files without the switchers' dropped days
    after joining; update its summary. Returns the number of events dropped."""
    if not migrants.switchers:
        return 0
    first_join = int(migrants.join_us.min())
    keep_days = _KeptDays(streams, len(migrants.join_us), migrants.switching_activity)
    dropped = 0
    for path in sorted(migrants.folder.glob("events-*.parquet")):
        if _last_event_us(path) < first_join:
            continue
        table = pq.read_table(path)
        drop = _dropped_rows(table, migrants.join_us, keep_days)
        if drop.any():
            dropped += int(drop.sum())
            write_parquet_atomically(table.filter(_mask(~drop)), path, id_codec_of(path))
    _update_summary(migrants.record, dropped)
    return dropped


def _mask(keep: npt.NDArray[np.bool_]) -> pa.BooleanArray:
    """A boolean Arrow array from buffers (`pa.array` would import pandas)."""
    bits = pa.py_buffer(np.packbits(keep, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(keep), [None, bits])


@dataclass
class _KeptDays:
    """Per UTC day, which users keep their activity that day (drawn once per day, so a
    day split over several files gets one decision per user)."""

    streams: RandomStreams
    users: int
    chance: float
    memo: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def of(self, day: int) -> npt.NDArray[np.bool_]:
        if day not in self.memo:
            rng = self.streams.generator(Purpose.SWITCHING_DAYS, day)
            self.memo[day] = rng.random(self.users, dtype=np.float32) < self.chance
        return self.memo[day]


def _dropped_rows(table: pa.Table, join_us: IntArray, keep_days: _KeptDays) -> npt.NDArray[Any]:
    users = user_numbers(table["user_id"])
    ts_us = table["event_ts"].combine_chunks().cast(pa.int64()).to_numpy()
    activity = pc.not_equal(table["event_type"], DELETION).to_numpy(zero_copy_only=False)
    affected = np.flatnonzero(activity & (ts_us >= join_us[users]))
    drop = np.zeros(len(users), dtype=np.bool_)
    days = ts_us[affected] // DAY_US
    for day in np.unique(days):
        rows = affected[days == day]
        drop[rows] = ~keep_days.of(int(day))[users[rows]]
    return drop


def _last_event_us(path: Path) -> int:
    """The latest event time in a file, from its statistics (no statistics: unknown)."""
    metadata = pq.read_metadata(path)
    column = metadata.schema.names.index("event_ts")
    latest = -NEVER
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return NEVER
        latest = max(latest, (stats.max - EPOCH) // timedelta(microseconds=1))
    return latest


def _update_summary(record: Path, dropped: int) -> None:
    """The incumbent's summary after its files lost `dropped` events."""
    summary = json.loads(record.read_text(encoding="utf-8"))
    summary["events"] -= dropped
    summary["rows_written"] -= dropped
    ledger = summary["expected_ledger"]
    ledger["rows_read"] -= dropped
    ledger["rows_loaded"] -= dropped
    summary["switching_dropped_events"] = summary.get("switching_dropped_events", 0) + dropped
    write_json_atomically(summary, record)
