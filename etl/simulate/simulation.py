"""`uptake simulate`: a launch's signup and usage files, day by day, into the inbox.

Files are `inbox/<platform>/signups-dNNN-pNN.parquet` and `events-dNNN-pNN.parquet`
(launch day NNN, part NN), plus `signups-history-pNN.parquet` for an incumbent's users
from before t0: a scheduler can load them as they appear, and each is written to a .tmp
name and renamed, so it never sees half a file. With --from, a share of a launch's
signups carry the person_id of an incumbent's user (`<incumbent>-p<hex>`). Generation streams:
only the users' traits stay in memory; events exist one file at a time, and two writer
threads compress files while the next ones are drawn."""

from __future__ import annotations

import functools
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from etl.errors import UsageError
from etl.simulate.faults import (
    EVENT_FAULTS,
    FLAWS,
    SIGNUP_FAULTS,
    Columns,
    FaultPlan,
    LaterRows,
    NewIds,
    concat_rows,
    inject_event_faults,
    inject_signup_faults,
    row_count,
)
from etl.simulate.migration import Migrants, migrants_from, thin_incumbent
from etl.simulate.population import (
    MICROS,
    USER_DIGITS,
    NewSignups,
    Population,
    Purpose,
    RandomStreams,
    plan_population,
    sign_up_day,
    sign_up_history,
)
from etl.simulate.presets import PRESET_NAMES, Preset, preset_named
from etl.simulate.usage import (
    ActiveDays,
    DailyCycle,
    UsageBatch,
    day_usage,
    event_types,
    schedule_history,
)
from etl.simulate.writer import (
    COMPACT_ID_CODEC,
    FAST_ID_CODEC,
    TextArray,
    coded_strings,
    constant_strings,
    hex_ids,
    hex_text,
    nullable_string_column,
    string_column,
    timestamps,
    write_json_atomically,
    write_parquet_atomically,
)

ROWS_PER_FILE = 3_000_000
ROW_DIGITS = 6  # hex row number within a file: up to 16.7M rows
FILE_DIGITS = 5  # hex file number: up to a million files per platform
WRITERS = 2
MAX_PENDING_WRITES = 3  # bounds memory: at most this many finished tables wait
MAX_DIRTY = 0.5
_PLATFORM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PRESET_KEYS = {"viral": 1, "steady": 2, "incumbent": 3}


@dataclass(frozen=True)
class SimulationOptions:
    """What to simulate; `scale` multiplies users and events, `dirty` is the share of
    faulty rows mixed in; `compact` compresses the id columns with zstd rather than
    snappy (files about half the size, ~15-20% more CPU to simulate them)."""

    preset: str
    scale: float = 1.0
    seed: int = 1
    days: float = 30.0
    platform: str | None = None
    from_platform: str | None = None
    dirty: float = 0.0
    compact: bool = False

    @property
    def id_codec(self) -> str:
        return COMPACT_ID_CODEC if self.compact else FAST_ID_CODEC

    @property
    def platform_name(self) -> str:
        return self.platform or self.preset


@dataclass
class SimulationResult:
    """What was written, and what the ingestion ledger should show for it."""

    platform: str
    preset: str
    seed: int
    scale: float
    days: float
    dirty: float
    t0: datetime
    folder: Path
    id_codec: str = FAST_ID_CODEC  # of the id columns; the other strings are zstd
    files: list[Path] = field(default_factory=list)
    bytes_written: int = 0
    signups: int = 0  # distinct users (clean signup rows)
    events: int = 0  # clean usage events, deletions included
    deletions: int = 0
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    milestone_users: int = 0
    milestone_elapsed_s: float | None = None
    from_platform: str | None = None
    migrated: int = 0  # signups who are people of the --from platform (same person_id)
    switching_share: float = 0.0  # of the migrants, the share drawn to use --from less ...
    switching_activity: float = 1.0  # ... keeping each active day there with this chance
    switchers: int = 0  # migrants who use the --from platform less after joining
    switching_dropped_events: int = 0  # events taken out of the --from platform's files
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        added = sum(n for faults in self.faults.values() for k, n in faults.items() if k != "late")
        return self.signups + self.events + added

    def expected_ledger(self) -> dict[str, int]:
        """Rows read = loaded + duplicate + quarantined, as ingestion should count them."""
        duplicate = sum(f.get("duplicate", 0) for f in self.faults.values())
        quarantined = sum(f.get("malformed", 0) + f.get("future", 0) for f in self.faults.values())
        read = self.rows_written
        return {
            "rows_read": read,
            "rows_loaded": read - duplicate - quarantined,
            "rows_duplicate": duplicate,
            "rows_quarantined": quarantined,
        }

    def summary(self) -> dict[str, Any]:
        rate = self.rows_written / self.seconds if self.seconds else 0.0
        milestone = (
            f"{self.milestone_users:,}th signup at {self.milestone_elapsed_s / 3600:.2f} h"
            if self.milestone_elapsed_s is not None
            else f"{self.milestone_users:,}th signup not reached"
        )
        dirty = sum(n for faults in self.faults.values() for n in faults.values())
        migrated = (
            f"{self.migrated:,} people from {self.from_platform}; " if self.from_platform else ""
        )
        line = (
            f"{self.platform}: {self.signups:,} signups, {self.events - self.deletions:,} "
            f"events and {self.deletions:,} deletions in {len(self.files)} files under "
            f"{self.folder}; "
            f"{milestone}; {dirty:,} injected faults; {migrated}"
            f"{self.seconds:.1f} s ({rate / 1e6:.1f}M rows/s)"
        )
        return {
            "line": line,
            "platform": self.platform,
            "preset": self.preset,
            "seed": self.seed,
            "scale": self.scale,
            "days": self.days,
            "dirty": self.dirty,
            "id_codec": self.id_codec,
            "t0": self.t0.isoformat(),
            "folder": str(self.folder),
            "files": len(self.files),
            "bytes": self.bytes_written,
            "signups": self.signups,
            "events": self.events,
            "deletions": self.deletions,
            "rows_written": self.rows_written,
            "faults": self.faults,
            "expected_ledger": self.expected_ledger(),
            "milestone": {"users": self.milestone_users, "elapsed_s": self.milestone_elapsed_s},
            "from_platform": self.from_platform,
            "migrated": self.migrated,
            "switching": {
                "share": self.switching_share,
                "activity": self.switching_activity,
                "switchers": self.switchers,
                "dropped_events": self.switching_dropped_events,
            },
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rate),
        }


def simulate(options: SimulationOptions, inbox: Path, progress: bool = False) -> SimulationResult:
    """Write the simulated launch into `inbox/<platform>/`; a JSON copy of the summary goes
    to `<inbox>/../simulations/<platform>.json` (outside the inbox, so it is not loaded)."""
    preset = _checked(options)
    streams = RandomStreams(options.seed, _PRESET_KEYS[preset.name])
    records = inbox.parent / "simulations"
    migrants = migrants_from(options.from_platform, preset, streams, records)
    folder = _fresh_folder(inbox, options.platform_name)
    started = time.perf_counter()
    run = _Run.start(options, preset, folder)
    run.migrants = migrants
    with (
        ThreadPoolExecutor(WRITERS, thread_name_prefix="simulate-writer") as pool,
        _progress_bar(progress) as bar,
    ):
        run.pool = pool
        task = bar.add_task(f"simulate {run.platform}", total=run.population.days, rows="")
        run.simulate_history()
        for day in range(run.population.days):
            run.simulate_day(day)
            bar.update(task, advance=1, rows=f"{run.result.events:,} events")
        run.finish_writes()
    if migrants is not None:
        run.result.switchers = migrants.switchers
        run.result.switching_dropped_events = thin_incumbent(migrants, run.streams)
    run.result.milestone_elapsed_s = _time_of_signup(run.population, run.result.milestone_users)
    run.result.seconds = time.perf_counter() - started
    _record_summary(inbox.parent / "simulations", run.result)
    return run.result


def _checked(options: SimulationOptions) -> Preset:
    if options.preset not in PRESET_NAMES:
        raise UsageError(
            f"--preset {options.preset!r} is unknown; expected one of {', '.join(PRESET_NAMES)}"
        )
    preset = preset_named(options.preset)
    if not options.scale > 0 or options.scale > 100:
        raise UsageError(f"--scale {options.scale} must be above 0 and at most 100")
    if not options.days > 0 or options.days > 3650:
        raise UsageError(f"--days {options.days} must be above 0 and at most 3650")
    if options.seed < 0:
        raise UsageError(f"--seed {options.seed} must be 0 or more")
    if not 0 <= options.dirty <= MAX_DIRTY:
        raise UsageError(f"--dirty {options.dirty} must be a share between 0 and {MAX_DIRTY}")
    if not _PLATFORM_NAME.match(options.platform_name):
        raise UsageError(
            f"--platform {options.platform_name!r} is not a usable name; use letters, digits, "
            "'.', '_' or '-' (starting with a letter or digit)"
        )
    return preset


def _fresh_folder(inbox: Path, platform: str) -> Path:
    """The platform's inbox folder, refusing to mix a new simulation into waiting files."""
    folder = inbox / platform
    waiting = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if waiting:
        raise UsageError(
            f"{folder} already holds {len(waiting)} Parquet files waiting to be loaded; "
            "run `uptake run` to load them, remove them, or choose another --platform"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def _record_summary(folder: Path, result: SimulationResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomically(result.summary(), folder / f"{result.platform}.json")


@dataclass
class _FileIds:
    """Event ids of one file: <platform>-e<file number><row number>, unique per platform."""

    prefix: str
    used: int = 0

    def next(self, count: int) -> TextArray:
        text = hex_ids(self.prefix, self.used, count, ROW_DIGITS)
        self.used += count
        return text


@dataclass
class _Run:
    """The state of one simulation while it runs (not shared, not global)."""

    options: SimulationOptions
    preset: Preset
    folder: Path
    streams: RandomStreams
    population: Population
    cycle: DailyCycle
    active_days: ActiveDays
    result: SimulationResult
    t0_us: int
    late_events: LaterRows = field(default_factory=LaterRows)
    late_signups: LaterRows = field(default_factory=LaterRows)
    event_files: int = 0
    signup_files: int = 0
    signup_fault_ids: int = 0
    pool: ThreadPoolExecutor | None = None
    migrants: Migrants | None = None
    writes: deque[Future[int]] = field(default_factory=deque)

    @property
    def platform(self) -> str:
        return self.options.platform_name

    @staticmethod
    def start(options: SimulationOptions, preset: Preset, folder: Path) -> _Run:
        streams = RandomStreams(options.seed, _PRESET_KEYS[preset.name])
        population = plan_population(
            preset, options.scale, options.days, streams, options.platform_name
        )
        result = SimulationResult(
            platform=options.platform_name,
            preset=preset.name,
            seed=options.seed,
            scale=options.scale,
            days=options.days,
            dirty=options.dirty,
            t0=preset.t0,
            folder=folder,
            id_codec=options.id_codec,
            faults=_no_faults() if options.dirty else {},
            milestone_users=max(1, round(preset.milestone_users * options.scale)),
            from_platform=options.from_platform,
            switching_share=preset.switching_share if options.from_platform else 0.0,
            switching_activity=preset.switching_activity if options.from_platform else 1.0,
        )
        return _Run(
            options=options,
            preset=preset,
            folder=folder,
            streams=streams,
            population=population,
            cycle=DailyCycle.of(preset, population.days),
            active_days=ActiveDays.of(population.days),
            result=result,
            t0_us=int((preset.t0 - datetime(1970, 1, 1)) / timedelta(microseconds=1)),
        )

    def simulate_history(self) -> None:
        """An incumbent's users from before t0, in signups-history-pNN files."""
        if self.population.day_first_user[0]:
            self._write_signups(0, sign_up_history(self.population, self.streams), "history")
            schedule_history(self.population, self.active_days, self.streams)

    def simulate_day(self, day: int) -> None:
        new = sign_up_day(self.population, day, self.streams)
        self._write_signups(day, new)
        pending: list[UsageBatch] = []
        part = 0
        for batch in day_usage(self.population, day, self.cycle, self.streams, self.active_days):
            pending.append(batch)
            if sum(len(b) for b in pending) >= ROWS_PER_FILE:
                self._write_events(day, part, pending)
                pending, part = [], part + 1
        if pending or part == 0:
            self._write_events(day, part, pending)

    # -- signups -------------------------------------------------------------------------

    def _write_signups(self, day: int, new: NewSignups, label: str | None = None) -> None:
        count = len(new.signup_us)
        for part, start in enumerate(range(0, max(count, 1), ROWS_PER_FILE)):
            stop = min(start + ROWS_PER_FILE, count)
            users = np.arange(new.first_user + start, new.first_user + stop, dtype=np.int64)
            rows: Columns = {
                "user": users,
                "ts_us": new.signup_us[start:stop],
                "channel": new.channel[start:stop],
                "country": new.country[start:stop],
                "person": self._persons(day, part, users),
            }
            if self.options.dirty:  # faults copy ids; clean ids are made by the writer
                rows["event_id"] = self._signup_ids(users)
            self.result.signups += len(users)
            self._write_signup_file(day, part, rows, label or f"d{day:03d}")

    def _signup_ids(self, users: np.ndarray[Any, np.dtype[np.int64]]) -> TextArray:
        """Signup event ids of consecutive users: <platform>-s<user number>."""
        first = int(users[0]) if len(users) else 0
        return hex_ids(f"{self.platform}-s", first, len(users), USER_DIGITS)

    def _persons(self, day: int, part: int, users: np.ndarray[Any, np.dtype[np.int64]]) -> Any:
        """Person numbers (-1: none): an incumbent's own users, or, with --from, a share
        of the launch's signups who already use the incumbent."""
        if self.preset.base_users:
            return users
        persons = np.full(len(users), -1, dtype=np.int64)
        if self.migrants is not None:
            rng = self.streams.generator(Purpose.MIGRATING, day, part)
            migrating = np.flatnonzero(rng.random(len(users)) < self.preset.migrating_share)
            taken = self.migrants.take(len(migrating))
            joining = users[migrating[: len(taken)]]
            persons[migrating[: len(taken)]] = taken
            joined_us = self.t0_us + self.population.signup_us[joining]
            self.migrants.choose_switchers(rng, taken, joined_us)
            self.result.migrated += len(taken)
        return persons

    def _user_text(self, users: np.ndarray[Any, np.dtype[np.int64]]) -> TextArray:
        """The users' ids; a run of consecutive users (clean signups) is a slice, no copy."""
        text = self.population.user_text
        count = len(users)
        if (
            count
            and int(users[-1]) - int(users[0]) == count - 1
            and bool(np.all(np.diff(users) == 1))
        ):
            return text[int(users[0]) : int(users[0]) + count]
        gathered: TextArray = text[users]
        return gathered

    def _person_column(self, persons: np.ndarray[Any, np.dtype[np.int64]]) -> pa.Array:
        known = persons >= 0
        if not known.any():
            return pa.nulls(len(persons), pa.string())
        source = self.migrants.platform if self.migrants else self.platform
        text = hex_text(f"{source}-p", persons[known], USER_DIGITS)
        return nullable_string_column(text, known)

    def _write_signup_file(self, day: int, part: int, rows: Columns, label: str) -> None:
        malformed = _empty_like(rows)
        if self.options.dirty:
            rng = self.streams.generator(Purpose.SIGNUP_FAULTS, self.signup_files)
            plan = self._fault_plan(rng, day, self._new_signup_ids, self.late_signups)
            faults = inject_signup_faults(rows, plan)
            rows, malformed = faults.rows, faults.malformed
            _add_counts(self.result.faults["signups"], faults.counts)
        if part == 0 and label != "history":
            rows = _with_held_rows(rows, self.late_signups.release(day))
        self.signup_files += 1
        if row_count(rows) or row_count(malformed):
            build = functools.partial(self._signups_table, rows, malformed)
            self._submit(build, self.folder / f"signups-{label}-p{part:02d}.parquet")

    def _new_signup_ids(self, count: int) -> TextArray:
        """Ids for added faulty signup rows, after every real user's number."""
        first = self.population.users + self.signup_fault_ids
        self.signup_fault_ids += count
        return hex_ids(f"{self.platform}-s", first, count, USER_DIGITS)

    def _signups_table(self, rows: Columns, malformed: Columns) -> pa.Table:
        count = row_count(rows)
        table = pa.table(
            {
                "platform": constant_strings(self.platform, count),
                "user_id": string_column(self._user_text(rows["user"])),
                "signup_ts": timestamps(self.t0_us + rows["ts_us"]),
                "channel": coded_strings(rows["channel"], self.preset.channels),
                "country": coded_strings(rows["country"], self.preset.countries),
                "event_id": string_column(
                    rows["event_id"] if "event_id" in rows else self._signup_ids(rows["user"])
                ),
                "person_id": self._person_column(rows["person"]),
            }
        )
        if not row_count(malformed):
            return table
        broken = self._malformed_columns(malformed, "signup_ts")
        broken["channel"] = coded_strings(malformed["channel"], self.preset.channels)
        broken["country"] = coded_strings(malformed["country"], self.preset.countries)
        broken["event_id"] = string_column(malformed["event_id"])
        broken["person_id"] = self._person_column(malformed["person"])
        return pa.concat_tables([table, pa.table(broken).select(table.column_names)])

    # -- usage events --------------------------------------------------------------------

    def _write_events(self, day: int, part: int, batches: list[UsageBatch]) -> None:
        deletion_code = len(self.preset.event_types)
        self.result.events += sum(len(b) for b in batches)
        self.result.deletions += sum(
            int(np.count_nonzero(b.kind == deletion_code)) for b in batches
        )
        if not self.options.dirty:
            self._write_clean_events(day, part, batches)
            return
        ids = _FileIds(self._event_id_prefix())
        rows = _event_columns(UsageBatch.concat(batches) if batches else None, ids)
        rng = self.streams.generator(Purpose.EVENT_FAULTS, self.event_files)
        eligible = np.flatnonzero(rows["kind"] != deletion_code)
        plan = self._fault_plan(rng, day, ids.next, self.late_events)
        faults = inject_event_faults(rows, eligible, self.population.signup_us, plan)
        rows, malformed = faults.rows, faults.malformed
        _add_counts(self.result.faults["events"], faults.counts)
        if part == 0:
            rows = _with_held_rows(rows, self.late_events.release(day))
        self.event_files += 1
        if row_count(rows) or row_count(malformed):
            build = functools.partial(self._events_table, rows, malformed, ids.prefix)
            self._submit(build, self.folder / f"events-d{day:03d}-p{part:02d}.parquet")

    def _write_clean_events(self, day: int, part: int, batches: list[UsageBatch]) -> None:
        """Without faults, the batches go to the writer thread as they are: it joins them
        while building the file's columns (no copy of the rows on the main thread)."""
        prefix = self._event_id_prefix()
        self.event_files += 1
        if sum(len(b) for b in batches):
            build = functools.partial(self._clean_events_table, batches, prefix)
            self._submit(build, self.folder / f"events-d{day:03d}-p{part:02d}.parquet")

    def _event_id_prefix(self) -> str:
        return f"{self.platform}-e{self.event_files:0{FILE_DIGITS}x}"

    def _clean_events_table(self, batches: list[UsageBatch], id_prefix: str) -> pa.Table:
        """The file's table of clean events (built in a writer thread): user ids and
        times written straight into one array each; ids <id_prefix><row number>."""
        count = sum(len(b) for b in batches)
        user_text = np.empty(count, dtype=self.population.user_text.dtype)
        micros = np.empty(count, dtype=np.int64)
        at = 0
        for batch in batches:
            rows = slice(at, at + len(batch))
            # mode="clip": users are valid indices, and "raise" would buffer `out`.
            np.take(self.population.user_text, batch.user, out=user_text[rows], mode="clip")
            np.add(batch.ts_us, self.t0_us, out=micros[rows])
            at = rows.stop
        return pa.table(
            {
                "platform": constant_strings(self.platform, count),
                "user_id": string_column(user_text),
                "event_ts": timestamps(micros),
                "event_type": coded_strings(
                    np.concatenate([b.kind for b in batches]), event_types(self.preset)
                ),
                "event_id": string_column(hex_ids(id_prefix, 0, count, ROW_DIGITS)),
            }
        )

    def _events_table(self, rows: Columns, malformed: Columns, id_prefix: str) -> pa.Table:
        """The file's table with --dirty (built in a writer thread): rows and malformed
        rows, every one with its id."""
        types = event_types(self.preset)
        table = pa.table(
            {
                "platform": constant_strings(self.platform, row_count(rows)),
                "user_id": string_column(np.take(self.population.user_text, rows["user"])),
                "event_ts": timestamps(self.t0_us + rows["ts_us"]),
                "event_type": coded_strings(rows["kind"], types),
                "event_id": string_column(rows["event_id"]),
            }
        )
        if not row_count(malformed):
            return table
        broken = self._malformed_columns(malformed, "event_ts")
        broken["event_type"] = coded_strings(malformed["kind"], types)
        broken["event_id"] = string_column(malformed["event_id"])
        return pa.concat_tables([table, pa.table(broken).select(table.column_names)])

    def _malformed_columns(self, malformed: Columns, ts_column: str) -> dict[str, pa.Array]:
        """platform, user_id and the timestamp of malformed rows, each with its flaw."""
        flaw = malformed["flaw"]
        has_user = flaw != FLAWS.index("null_user_id")
        filled = has_user & (flaw != FLAWS.index("empty_user_id"))
        has_time = flaw != FLAWS.index("null_timestamp")
        user_text = self.population.user_text[malformed["user"][filled]]
        return {
            "platform": constant_strings(self.platform, len(flaw)),
            "user_id": nullable_string_column(user_text, has_user, filled),
            ts_column: timestamps(self.t0_us + malformed["ts_us"], has_time),
        }

    def _fault_plan(
        self, rng: np.random.Generator, day: int, new_ids: NewIds, later: LaterRows
    ) -> FaultPlan:
        last_day = self.population.days - 1
        return FaultPlan(self.options.dirty, rng, day, last_day, self.preset.t0, new_ids, later)

    # -- writing -------------------------------------------------------------------------

    def _submit(self, build: Callable[[], pa.Table], path: Path) -> None:
        """Build the file's table and write it in a writer thread (Arrow and most of numpy
        release the GIL, so this overlaps with drawing the next rows)."""
        assert self.pool is not None
        self.result.files.append(path)
        codec = self.options.id_codec
        self.writes.append(self.pool.submit(_build_and_write, build, path, codec))
        while len(self.writes) > MAX_PENDING_WRITES:
            self.result.bytes_written += self.writes.popleft().result()

    def finish_writes(self) -> None:
        while self.writes:
            self.result.bytes_written += self.writes.popleft().result()


def _build_and_write(build: Callable[[], pa.Table], path: Path, id_codec: str) -> int:
    return write_parquet_atomically(build(), path, id_codec)


def _event_columns(batch: UsageBatch | None, ids: _FileIds) -> Columns:
    """A file's rows with their ids (faults copy them)."""
    if batch is None:
        batch = UsageBatch(
            user=np.zeros(0, np.int64), ts_us=np.zeros(0, np.int64), kind=np.zeros(0, np.int8)
        )
    return {
        "user": batch.user,
        "ts_us": batch.ts_us,
        "kind": batch.kind,
        "event_id": ids.next(len(batch)),
    }


def _with_held_rows(rows: Columns, held: list[Columns]) -> Columns:
    return concat_rows([rows, *held]) if held else rows


def _empty_like(rows: Columns) -> Columns:
    return {name: values[:0] for name, values in rows.items()}


def _no_faults() -> dict[str, dict[str, int]]:
    return {
        "signups": dict.fromkeys(SIGNUP_FAULTS, 0),
        "events": dict.fromkeys(EVENT_FAULTS, 0),
    }


def _add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        total[kind] += count


def _time_of_signup(population: Population, nth: int) -> float | None:
    """Elapsed seconds of the `nth` signup after t0. Users are numbered by signup minute
    (after any users from before t0), so only that minute's users need sorting. Call
    after every day is simulated."""
    cumulative = np.cumsum(population.minute_counts)
    if nth > int(cumulative[-1]):
        return None
    minute = int(np.searchsorted(cumulative, nth))
    first = int(cumulative[minute - 1]) if minute else 0
    base = int(population.day_first_user[0])
    in_minute = np.sort(population.signup_us[base + first : base + int(cumulative[minute])])
    return float(in_minute[nth - first - 1]) / MICROS
