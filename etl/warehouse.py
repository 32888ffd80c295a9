"""The DuckDB warehouse: connection settings, ordered schema migrations, the writer lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import duckdb

from etl.config import Settings
from etl.errors import LockedError, WarehouseError

LOCK_FILE = ".lock"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("etl.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Any:
    """The single value of a query (fetched completely, so the connection is free again)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'",
    )
    if not exists:
        return 0
    return int(scalar(con, "SELECT coalesce(max(version), 0) FROM schema_migrations"))


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations newer than the warehouse's version, each in its own transaction."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT now())"
    )
    current = schema_version(con)
    known = migrations()
    if known and current > known[-1][0]:
        raise WarehouseError(
            f"the warehouse has schema version {current}, newer than this Uptake knows "
            f"({known[-1][0]}); upgrade Uptake"
        )
    for version, name, sql in known:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
        con.execute("COMMIT")
    return schema_version(con)


def configure(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Memory limit, threads and a spill folder: sized for a 2-core, few-GB machine."""
    settings.temp_directory.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{settings.memory_limit}'")  # validated in config
    con.execute(f"SET threads = {int(settings.threads)}")
    con.execute("SET temp_directory = ?", [str(settings.temp_directory)])
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and when writable, create and migrate) the warehouse."""
    path = settings.warehouse_path
    if read_only and not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}; run `uptake ingest` or `uptake run` first "
            "(or point --home at the right folder)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise LockedError(
                f"{path} is in use by another process; wait for it to finish"
            ) from exc
        raise WarehouseError(f"cannot open {path}: {exc}") from exc
    configure(con, settings)
    if not read_only:
        migrate(con)
    return con


@contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the home folder's writer lock; a second writer gets LockedError (exit 3).

    flock is released by the kernel when the process dies, even on kill -9."""
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"another Uptake run holds {path} ({holder}); wait for it to finish or stop it"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


# A reader (`uptake status`) holds DuckDB's file lock for a moment; a writer waits this long
# for it before giving up with LockedError.
READER_WAIT_S = 15.0


@contextmanager
def open_for_writing(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The writer lock (LockedError at once when another writer holds it), then a migrated,
    configured connection to the warehouse.

    Only short-lived read-only connections (`uptake status`) can hold the DuckDB file while
    we hold the writer lock, so opening it is retried for up to READER_WAIT_S."""
    with writer_lock(settings):
        deadline = time.monotonic() + READER_WAIT_S
        while True:
            try:
                con = connect(settings)
                break
            except LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            yield con
        finally:
            con.close()


def sql_literal(value: str | datetime | None) -> str:
    """A value as a typed SQL literal (text quoted, a time as a naive UTC TIMESTAMP, None as
    NULL), for SQL that cannot take a bound parameter (a view, a COPY target)."""
    if value is None:
        return "NULL::VARCHAR"
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # a naive UTC TIMESTAMP, as the rows' times are
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return "'" + value.replace("'", "''") + "'"
