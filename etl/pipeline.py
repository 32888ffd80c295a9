"""One ETL pass: plan the files, then in one transaction ingest them, refresh the models
and write the run ledger; after the commit, move the files, fit growth models and publish a
serving snapshot. A kill at any point leaves the warehouse as it was before the pass.

Each step (convert, plan, ingest, refresh, retention, commit, move_files, fit, publish) is
reported to the progress reporter (etl/progress.py) as it starts and as it ends."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from etl.config import Settings
from etl.convert import Conversion, convert_inbox, prepare_inputs
from etl.errors import SnapshotError, UptakeError
from etl.fits import fit_all
from etl.fits.cache import from_ipc, to_ipc
from etl.ingest import (
    FileFailure,
    FileOutcome,
    IngestOptions,
    PlannedFile,
    files_total,
    ingest_files,
    plan_ingest,
    record_file,
    remove_earlier_loads,
)
from etl.mapping import MappingSpec
from etl.privacy import compact_raw_events
from etl.progress import timed_step
from etl.publish import publish_warehouse
from etl.refresh import refresh_models
from etl.snapshot import current_snapshot
from etl.sources import discover, settled
from etl.warehouse import open_for_writing, scalar

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What one pass did; `summary()` is what the CLI prints."""

    run_id: int
    trigger: str
    status: str = "ok"  # ok | rejected_input | noop | failed
    files: list[FileOutcome] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    snapshot: Path | None = None
    error: str | None = None
    fits_reused: list[str] = field(default_factory=list)  # platforms whose input was unchanged

    def total(self, name: str) -> int:
        return files_total(self.files, name)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 finished with rejected input (files or rows), 4 failed."""
        if self.status == "failed":
            return 4
        return 1 if self.status == "rejected_input" else 0

    def summary(self) -> dict[str, Any]:
        counts = {
            name: self.total(name)
            for name in ("rows_read", "rows_loaded", "rows_duplicate", "rows_quarantined")
        }
        rejected = [f for f in self.files if f.outcome == "rejected"]
        line = (
            f"run {self.run_id} {self.status}: {len(self.files)} file(s), "
            f"{counts['rows_read']:,} rows read = {counts['rows_loaded']:,} loaded + "
            f"{counts['rows_duplicate']:,} duplicate + {counts['rows_quarantined']:,} quarantined"
        )
        derived = self.total("signups_derived")
        if derived:
            line += f"; {derived:,} signups derived from the users' first events"
        if rejected:
            line += f"; {len(rejected)} file(s) rejected (see `uptake status`)"
        if self.snapshot:
            line += f"; published {self.snapshot.name}"
        if self.fits_reused:
            line += f" (fits of {', '.join(self.fits_reused)} reused: their input is unchanged)"
        line += f" in {sum(self.steps.values()):.1f}s"
        return {
            "line": "\n".join([line, *self.file_notes()]),
            "run_id": self.run_id,
            "status": self.status,
            "files": [f.as_dict() for f in self.files],
            **counts,
            "files_rejected": len(rejected),
            "signups_derived": derived,
            "steps": {k: round(v, 3) for k, v in self.steps.items()},
            "snapshot": str(self.snapshot) if self.snapshot else None,
            "fits_reused": self.fits_reused,
            "error": self.error,
        }

    def file_notes(self, most: int = 10) -> list[str]:
        """One indented line per rejected file (its reason says what to do) and per file
        that held no rows; past `most`, a count."""
        notes = [f"  rejected {f.path}: {f.reason}" for f in self.files if f.outcome == "rejected"]
        notes += [
            f"  {f.source_path or f.path}: {f.reason}"
            for f in self.files
            if f.outcome == "already_loaded"
        ]
        notes += [
            f"  {f.path}: no rows to load (a header only?); recorded as loaded with 0 rows"
            for f in self.files
            if f.outcome == "loaded" and not f.rows_read
        ]
        if len(notes) > most:
            notes = [*notes[:most], f"  ... and {len(notes) - most} more (see `uptake status`)"]
        return notes


class PassFailed(UptakeError):
    """A pass failed; the message names the first error, not the ones it caused."""


def root_cause(exc: BaseException) -> BaseException:
    """The first error of a chain: once DuckDB aborts a transaction, every later statement
    fails with 'transaction is aborted', which hides the error that mattered."""
    seen = exc
    while seen.__context__ is not None and "transaction is aborted" in str(seen).lower():
        seen = seen.__context__
    return seen


def inbox_files(settings: Settings, now_epoch: float) -> list[Path]:
    """Complete files waiting in the inbox; files still being written wait a pass."""
    if not settings.inbox.exists():
        return []
    return settled(discover([settings.inbox]), now_epoch, settings.settle_seconds)


def run_pass(settings: Settings, now: datetime, trigger: str = "run") -> RunResult:
    """Ingest the inbox, refresh, fit and publish: what `uptake run` does."""
    return _inbox_pass(settings, now, trigger, refresh=True)


def load_inbox(settings: Settings, now: datetime, trigger: str = "run") -> RunResult:
    """Ingest the inbox into the warehouse (archive the files, write the ledger) without
    refreshing the models or publishing: `uptake run --engine spark` rebuilds every model
    from the lake instead."""
    return _inbox_pass(settings, now, trigger, refresh=False)


def ingest_and_publish(
    settings: Settings,
    paths: Sequence[Path],
    options: IngestOptions,
    now: datetime,
    *,
    mapping: MappingSpec | None = None,
) -> RunResult:
    """Load the given files or folders now (the files stay where they are), refresh the
    models and publish: `uptake ingest`. With an adapter or a mapping file, each file is
    first converted into plain input files; one that cannot be converted is recorded as
    rejected and the others load."""
    return _paths_pass(settings, paths, options, now, mapping=mapping, refresh=True)


def ingest_only(
    settings: Settings,
    paths: Sequence[Path],
    options: IngestOptions,
    now: datetime,
    *,
    mapping: MappingSpec | None = None,
) -> RunResult:
    """Load the given files or folders without refreshing or publishing: `uptake ingest
    --no-refresh` (the next pass refreshes and publishes them)."""
    return _paths_pass(settings, paths, options, now, mapping=mapping, refresh=False)


def _scratch(settings: Settings) -> Path:
    return settings.temp_directory / "adapters"


@dataclass
class _Pass:
    """What one pass works with."""

    settings: Settings
    options: IngestOptions
    now: datetime
    result: RunResult
    refresh: bool
    conversion: Conversion | None = None


def _inbox_pass(settings: Settings, now: datetime, trigger: str, *, refresh: bool) -> RunResult:
    """A pass over the inbox, under the writer lock (LockedError, exit 3, when it is held).

    The inbox is listed under the lock: a pass listing it while another pass moves files to
    archive/ would find files gone (or load ones already archived). Folders with a
    _mapping.toml are converted first; after the commit the files move to archive/."""
    options = IngestOptions(source_timezone=settings.source_timezone)
    with open_for_writing(settings) as con:
        waiting = inbox_files(settings, time.time())
        job = _start(con, settings, options, now, trigger=trigger, refresh=refresh)
        with timed_step(job.result.steps, "convert"):
            conversion = convert_inbox(waiting, settings.inbox, _scratch(settings))
        job.conversion = conversion
        _load(con, job, conversion.files)

        def archive() -> None:
            with timed_step(job.result.steps, "move_files"):
                move_processed(settings, conversion.inbox_outcomes(job.result.files))

        _finish(con, job, archive)
    return job.result


def _paths_pass(
    settings: Settings,
    paths: Sequence[Path],
    options: IngestOptions,
    now: datetime,
    *,
    mapping: MappingSpec | None,
    refresh: bool,
) -> RunResult:
    """A pass over files given by name, under the writer lock; the files stay in place."""
    conversion, options = prepare_inputs(paths, options, mapping, _scratch(settings))
    with open_for_writing(settings) as con:
        job = _start(con, settings, options, now, trigger="ingest", refresh=refresh)
        job.conversion = conversion
        _load(con, job, conversion.files)
        _finish(con, job, None)
    return job.result


def _start(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    options: IngestOptions,
    now: datetime,
    *,
    trigger: str,
    refresh: bool,
) -> _Pass:
    run_id = int(scalar(con, "SELECT nextval('run_id_seq')"))
    return _Pass(settings, options, now, RunResult(run_id=run_id, trigger=trigger), refresh)


def _load(con: duckdb.DuckDBPyConnection, job: _Pass, paths: Sequence[Path]) -> None:
    """The transaction (ingest, refresh, ledger); a failure is recorded in the ledger."""
    result = job.result
    try:
        _transaction_with_retries(con, job, paths)
    except Exception as exc:
        cause = root_cause(exc)
        result.status, result.error = "failed", f"{type(cause).__name__}: {cause}"
        _record_failed_run(con, result, job.now)
        if cause is not exc:
            raise PassFailed(f"run {result.run_id} failed: {result.error}") from exc
        raise


def _finish(
    con: duckdb.DuckDBPyConnection, job: _Pass, move_files: Callable[[], None] | None
) -> None:
    """After the commit: move the files, fit and publish, then amend the ledger row."""
    result = job.result
    try:
        if move_files is not None:
            move_files()
        if job.refresh and result.status != "noop":
            _publish(con, job.settings, result, job.now)
    except Exception as exc:
        # The data is committed but the pass did not finish: the ledger says so, and the
        # next pass publishes (a run that loaded rows after the live snapshot).
        result.status = "failed"
        result.error = f"after the commit: {type(exc).__name__}: {exc}"
        _amend_run(con, result, job.now)
        raise
    _amend_run(con, result, job.now)


def _transaction_with_retries(
    con: duckdb.DuckDBPyConnection, job: _Pass, paths: Sequence[Path]
) -> None:
    """Run the transaction; when DuckDB fails on one file mid-load, roll back, mark that
    file rejected and run again without it, so the other files still load."""
    failed: dict[Path, str] = {}
    while True:
        with timed_step(job.result.steps, "plan"):
            plan = plan_ingest(con, [p for p in paths if p not in failed], job.options)
        try:
            con.execute("BEGIN TRANSACTION")
            _transaction(con, job, plan, failed)
            with timed_step(job.result.steps, "commit"):  # DuckDB writes the new rows out
                con.execute("COMMIT")
            return
        except FileFailure as failure:
            con.execute("ROLLBACK")
            log.warning("file %s failed mid-load, retrying without it: %s", failure.path, failure)
            failed[failure.path] = failure.reason
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _transaction(
    con: duckdb.DuckDBPyConnection,
    job: _Pass,
    plan: Sequence[PlannedFile],
    failed: dict[Path, str],
) -> None:
    result, settings, now = job.result, job.settings, job.now
    origins = job.conversion.origins if job.conversion else {}
    with timed_step(result.steps, "ingest"):
        replaced_loads = 0
        if job.options.replace:
            replaced_loads = remove_earlier_loads(con, plan, origins, result.run_id)
        ingested = ingest_files(
            con, settings, plan, job.options, run_id=result.run_id, now=now, origins=origins
        )
        sources = job.conversion.source_outcomes() if job.conversion else []
        result.files = ingested.files + _failed_outcomes(failed) + sources
        _record_failed_files(con, job)
    new_rows = sum(f.rows_loaded for f in result.files)
    if any(f.outcome == "rejected" or f.rows_quarantined for f in result.files):
        result.status = "rejected_input"
    elif not new_rows and not replaced_loads and _snapshot_is_current(settings, con):
        result.status = "noop"
    if job.refresh and result.status != "noop":
        with timed_step(result.steps, "refresh"):
            # A signup replaced in place changes history the incremental refresh does not
            # see; restate everything then (rare: a late file with an earlier signup).
            # Rows removed by --replace too.
            replaced = sum(f.signups_replaced for f in result.files) + replaced_loads
            refresh_models(con, settings, now, full=replaced > 0)
        if settings.keep_raw_days:
            # After the refresh folded them in: the models keep what old events told.
            with timed_step(result.steps, "retention"):
                compact_raw_events(con, settings, now, result.run_id)
    _record_run(con, result, now)


def _failed_outcomes(failed: dict[Path, str]) -> list[FileOutcome]:
    return [
        FileOutcome(path=path, outcome="rejected", reason=reason) for path, reason in failed.items()
    ]


def _record_failed_files(con: duckdb.DuckDBPyConnection, job: _Pass) -> None:
    result, now = job.result, job.now
    for outcome in result.files:
        if outcome.file_id is None:
            record_file(con, outcome, result.run_id, now, job.options)


def _snapshot_is_current(settings: Settings, con: duckdb.DuckDBPyConnection) -> bool:
    """True when a snapshot is live and no run has loaded rows since it was published."""
    try:
        snapshot = current_snapshot(settings)
    except SnapshotError:  # a broken snapshot is replaced by the next publish
        return False
    if snapshot is None:
        return False
    published_run = snapshot.manifest.get("run_id", -1)
    later = scalar(
        con,
        # A failed pass that rolled back loaded nothing (0 rows); one that failed after its
        # commit (moving files, fitting, publishing) loaded rows that are not published yet.
        "SELECT count(*) FROM runs WHERE run_id > ? AND rows_loaded > 0",
        [published_run],
    )
    return not later


def record_run(con: duckdb.DuckDBPyConnection, result: RunResult, now: datetime) -> None:
    """One row of the run ledger (also for passes that are not ingestion, e.g. forget)."""
    _record_run(con, result, now)


def publish(
    con: duckdb.DuckDBPyConnection, settings: Settings, result: RunResult, now: datetime
) -> None:
    """Fit the growth models and publish a serving snapshot of the committed models."""
    _publish(con, settings, result, now)


def _record_run(con: duckdb.DuckDBPyConnection, result: RunResult, now: datetime) -> None:
    con.execute(
        "INSERT INTO runs (run_id, started_at, finished_at, status, trigger, files, rows_read, "
        "rows_loaded, rows_duplicate, rows_quarantined, error, steps) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.run_id,
            now,
            now + timedelta(seconds=sum(result.steps.values())),
            result.status,
            result.trigger,
            len(result.files),
            result.total("rows_read"),
            result.total("rows_loaded"),
            result.total("rows_duplicate"),
            result.total("rows_quarantined"),
            result.error,
            json.dumps({k: round(v, 3) for k, v in result.steps.items()}),
        ],
    )


def _amend_run(con: duckdb.DuckDBPyConnection, result: RunResult, now: datetime) -> None:
    """After the commit: the ledger row gets the whole pass's timings (move, fit, publish),
    and its final status and error."""
    try:
        con.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ?, steps = ? WHERE run_id = ?",
            [
                result.status,
                result.error,
                now + timedelta(seconds=sum(result.steps.values())),
                json.dumps({k: round(v, 3) for k, v in result.steps.items()}),
                result.run_id,
            ],
        )
    except duckdb.Error:
        log.exception("could not amend run %s in the ledger", result.run_id)


def _record_failed_run(con: duckdb.DuckDBPyConnection, result: RunResult, now: datetime) -> None:
    """A failed pass is recorded in its own transaction, after the rollback."""
    try:
        result.files = []
        _record_run(con, result, now)
    except duckdb.Error:
        log.exception("could not record failed run %s", result.run_id)


def move_processed(settings: Settings, files: Sequence[FileOutcome]) -> None:
    """After the commit: loaded and already-loaded inbox files go to archive/, rejected ones
    to rejected/ (with a .reason.txt beside them). A kill before this step is harmless: the
    next pass finds the files loaded (same content hash) and moves them then."""
    for outcome in files:
        if not outcome.path.exists():
            continue
        folder = settings.rejected if outcome.outcome == "rejected" else settings.archive
        target = _target_path(settings, folder, outcome.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(outcome.path), target)
        if outcome.outcome == "rejected":
            target.with_name(target.name + ".reason.txt").write_text(f"{outcome.reason}\n")


def _target_path(settings: Settings, folder: Path, path: Path) -> Path:
    try:
        relative = path.resolve().relative_to(settings.inbox.resolve())
    except ValueError:
        relative = Path(path.name)
    target = folder / relative
    counter = 1
    while target.exists():
        target = target.with_name(f"{path.stem}.{counter}{path.suffix}")
        counter += 1
    return target


def _publish(
    con: duckdb.DuckDBPyConnection, settings: Settings, result: RunResult, now: datetime
) -> None:
    with timed_step(result.steps, "fit"):
        try:
            extra = _fit_tables(con, settings, result)
        except Exception as exc:  # noqa: BLE001 - the metrics are published without fits
            # A model that cannot be fitted must not hold back every other table.
            log.warning("growth-model fits failed; publishing without them: %s", exc)
            result.error = f"fits failed, published without them: {type(exc).__name__}: {exc}"
            extra = {}
    with timed_step(result.steps, "publish"):
        result.snapshot = publish_warehouse(con, settings, result.run_id, now, extra)


def _fit_tables(
    con: duckdb.DuckDBPyConnection, settings: Settings, result: RunResult
) -> dict[str, Any]:
    """Growth-model fits and milestone forecasts from the published signup rollup; a
    platform whose fit input is unchanged since the last pass reuses its stored fits."""
    signups = pl.from_arrow(con.sql("SELECT * FROM m_signups").to_arrow_table())
    assert isinstance(signups, pl.DataFrame)
    stored = StoredFits(con)
    fits, forecasts = fit_all(signups, settings.milestones, cache=stored)
    result.fits_reused = stored.reused
    return {"fits": fits, "forecasts": forecasts}


class StoredFits:
    """The fits cache (etl/fits/cache.py) in the warehouse's `fit_cache` table, one row per
    platform: its last fits, under the key of their input."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.reused: list[str] = []

    def get(self, platform: str, key: str) -> tuple[pa.Table, pa.Table] | None:
        rows = self.con.execute(
            "SELECT fits, forecasts FROM fit_cache WHERE platform = ? AND input_key = ?",
            [platform, key],
        ).fetchall()
        if not rows:
            return None
        self.reused.append(platform)
        return from_ipc(rows[0][0]), from_ipc(rows[0][1])

    def put(self, platform: str, key: str, tables: tuple[pa.Table, pa.Table]) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO fit_cache (platform, input_key, fits, forecasts) "
            "VALUES (?, ?, ?, ?)",
            [platform, key, to_ipc(tables[0]), to_ipc(tables[1])],
        ).fetchall()
