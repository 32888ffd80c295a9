"""Helpers for the model tests: raw rows straight into a real warehouse, one refresh."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb

from etl.config import Settings
from etl.load import assign_user_keys
from etl.refresh import SERVING_MODELS, RefreshResult, refresh_models

Signup = tuple[str, str, str]  # platform, user_id, signup_ts (UTC)
Event = tuple[str, str, str]  # platform, user_id, event_ts (UTC); type 'post'

SERVING = SERVING_MODELS


def add_signups(con: duckdb.DuckDBPyConnection, rows: Iterable[Signup], file_id: int) -> None:
    platforms, users, times = _columns(rows)
    con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, file_id) "
        "SELECT unnest(?), unnest(?), unnest(?), ?",
        [platforms, users, times, file_id],
    )
    assign_user_keys(con, file_id)


def add_events(
    con: duckdb.DuckDBPyConnection, rows: Iterable[Event], file_id: int, event_type: str = "post"
) -> None:
    platforms, users, times = _columns(rows)
    con.execute(
        "INSERT INTO events (platform, user_id, event_ts, event_type, dedupe_key, file_id) "
        "SELECT unnest(?), unnest(?), unnest(?), ?, hash(random()), ?",
        [platforms, users, times, event_type, file_id],
    )
    assign_user_keys(con, file_id)


def add_deletions(con: duckdb.DuckDBPyConnection, rows: Iterable[Event], file_id: int) -> None:
    platforms, users, times = _columns(rows)
    con.execute(
        "INSERT INTO deletions (platform, user_id, deleted_ts, dedupe_key, file_id) "
        "SELECT unnest(?), unnest(?), unnest(?), hash(random()), ?",
        [platforms, users, times, file_id],
    )


def _columns(rows: Iterable[Event]) -> tuple[list[str], list[str], list[datetime]]:
    listed = list(rows)
    return (
        [r[0] for r in listed],
        [r[1] for r in listed],
        [datetime.fromisoformat(r[2]) for r in listed],
    )


def refresh(
    con: duckdb.DuckDBPyConnection, settings: Settings, now: datetime, full: bool = False
) -> RefreshResult:
    """One refresh inside its own transaction, as the pipeline runs it."""
    con.execute("BEGIN TRANSACTION")
    result = refresh_models(con, settings, now, full=full)
    con.execute("COMMIT")
    return result


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Any]:
    return con.execute(sql, params or []).fetchall()


def served(con: duckdb.DuckDBPyConnection, model: str) -> list[dict[str, Any]]:
    """A serving table as dicts, in a stable order."""
    cursor = con.execute(f"SELECT * FROM m_{model} ORDER BY ALL")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def snapshot_of_models(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    return {model: served(con, model) for model in SERVING}
