"""Privacy by design: keyed pseudonyms of user ids, the pseudonymisation state of a
warehouse, erasure tombstones and the raw-event retention policy.

Pseudonyms are HMAC-SHA256(key, id) in lower-case hex, computed inside DuckDB: it has no
HMAC function, but HMAC is two SHA-256 calls over the key's inner and outer pads
(RFC 2104), which DuckDB's `sha256(BLOB)` computes vectorised (about 4-6 s per million
distinct ids on 2 cores, several times faster than a Python UDF). The pads live only in
session variables of the connection: the key is never written to the warehouse; only a
fingerprint is, so a run with another key fails instead of mixing pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from etl.config import MIN_KEY_BYTES, Settings
from etl.errors import ConfigError
from etl.warehouse import scalar

_BLOCK = 64  # SHA-256 block size: HMAC pads the key to it
_FINGERPRINT_MESSAGE = b"uptake pseudonym key fingerprint v1"
PSEUDONYM_MACRO = "uptake_pseudonym"
RAW_TABLES = ("signups", "events", "deletions", "quarantine")


@dataclass(frozen=True)
class PseudonymKey:
    """The secret of the keyed hash; repr never shows it."""

    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it (an HMAC of a fixed message)."""
        return hmac.new(self.secret, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]

    def pseudonym(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()

    def pads(self) -> tuple[bytes, bytes]:
        """The inner and outer pads of RFC 2104 (key xor 0x36 / 0x5c, one block long)."""
        block = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        block = block.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def load_key(settings: Settings) -> PseudonymKey | None:
    """The key from UPTAKE_PSEUDONYM_KEY, else from `pseudonym_key_file`; None: off."""
    if settings.pseudonym_key:
        return PseudonymKey(settings.pseudonym_key.encode())
    path = settings.pseudonym_key_file
    if path is None:
        return None
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"pseudonym_key_file={str(path)!r}: cannot read the key ({exc.strerror}); "
            "create it (e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`) or unset the setting"
        ) from exc
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(
            f"pseudonym_key_file={str(path)!r} holds {len(secret)} bytes; use at least "
            f"{MIN_KEY_BYTES} random bytes (e.g. `openssl rand -hex 32`)"
        )
    return PseudonymKey(secret)


def install_pseudonym_macro(con: duckdb.DuckDBPyConnection, key: PseudonymKey) -> None:
    """`uptake_pseudonym(text)` on this connection: HMAC-SHA256 hex, NULL stays NULL."""
    inner, outer = key.pads()
    con.execute("SET VARIABLE uptake_ipad = ?::BLOB", [inner]).fetchall()
    con.execute("SET VARIABLE uptake_opad = ?::BLOB", [outer]).fetchall()
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO {PSEUDONYM_MACRO}(x) AS "
        "sha256(getvariable('uptake_opad') || unhex(sha256(getvariable('uptake_ipad') "
        "|| encode(CAST(x AS VARCHAR)))))"
    ).fetchall()


def tombstone_digest(platform: str, stored_user_id: str) -> str:
    """SHA-256 of platform, 0x1f and the user id as stored (the pseudonym when on)."""
    return hashlib.sha256(f"{platform}\x1f{stored_user_id}".encode()).hexdigest()


TOMBSTONE_SQL = "sha256({platform} || chr(31) || {user_id})"


# --- the warehouse's pseudonymisation state ---------------------------------------------------


def read_state(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("SELECT key, value FROM privacy_state").fetchall()
    return {str(k): str(v) for k, v in rows}


def _write_state(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    for name, value in values.items():
        con.execute(
            "INSERT OR REPLACE INTO privacy_state (key, value) VALUES (?, ?)", [name, value]
        ).fetchall()


def holds_rows(con: duckdb.DuckDBPyConnection) -> bool:
    return any(scalar(con, f"SELECT count(*) > 0 FROM {table}") for table in RAW_TABLES)


def resolve_key(con: duckdb.DuckDBPyConnection, settings: Settings) -> PseudonymKey | None:
    """The key to load with, checked against what the warehouse already holds: a
    pseudonymised warehouse needs the same key; a plain one refuses a key (mixing raw ids
    and pseudonyms would make both useless). An empty warehouse takes what it is given."""
    key = load_key(settings)
    mode = read_state(con).get("pseudonymise")
    if mode is None and holds_rows(con):
        mode = "off"  # loaded before pseudonymisation existed
    if mode == "on":
        fingerprint = read_state(con).get("key_fingerprint", "")
        if key is None:
            raise ConfigError(
                f"{settings.warehouse_path} stores pseudonymised user ids (key fingerprint "
                f"{fingerprint}); set UPTAKE_PSEUDONYM_KEY or pseudonym_key_file to that key"
            )
        if key.fingerprint != fingerprint:
            raise ConfigError(
                f"the pseudonym key has fingerprint {key.fingerprint}, but "
                f"{settings.warehouse_path} was pseudonymised with key {fingerprint}; use the "
                "same key (another key would mix pseudonyms that can never be matched)"
            )
    elif mode == "off" and key is not None:
        raise ConfigError(
            f"{settings.warehouse_path} already holds raw (not pseudonymised) user ids, so a "
            "pseudonym key cannot be used with it; unset UPTAKE_PSEUDONYM_KEY and "
            "pseudonym_key_file, or start a new home and load the archive into it with the key"
        )
    return key


def record_mode(con: duckdb.DuckDBPyConnection, key: PseudonymKey | None) -> None:
    """Fix the warehouse's mode at its first load (inside the loading transaction)."""
    if "pseudonymise" in read_state(con):
        return
    values = {"pseudonymise": "on" if key else "off"}
    if key is not None:
        values["key_fingerprint"] = key.fingerprint
    _write_state(con, values)


def privacy_summary(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What `uptake status` shows: the mode, fingerprint, tombstones, erasures, retention."""
    state = read_state(con)
    mode = state.get("pseudonymise") or ("off" if holds_rows(con) else "not decided yet")
    last = con.execute(
        "SELECT erased_at, users, signups + events + deletions + quarantine FROM erasures "
        "ORDER BY erasure_id DESC LIMIT 1"
    ).fetchall()
    return {
        "pseudonymisation": mode,
        "key_fingerprint": state.get("key_fingerprint"),
        "tombstones": int(scalar(con, "SELECT count(*) FROM tombstones")),
        "erasures": int(scalar(con, "SELECT count(*) FROM erasures")),
        "last_erasure": {"at": last[0][0], "users": last[0][1], "rows": last[0][2]}
        if last
        else None,
        "raw_events_compacted_before": state.get("raw_events_compacted_before"),
    }


# --- retention ------------------------------------------------------------------------------


def compact_raw_events(
    con: duckdb.DuckDBPyConnection, settings: Settings, now: datetime, run_id: int
) -> int:
    """Drop raw events older than `keep_raw_days` (by event time, against the run clock),
    keeping per user, UTC hour and event type only the first and the last event.

    Every model needs no more of the raw events than that: the local days and local hours a
    user was active in, the first activity at or after the signup (exact to the hour, which
    is all the 24-hour and 7-day windows need), activity in the 30 days before a migrant's
    signup, and c_platform's first and last event (etl/models/signup_hours.sql says why).
    The count of events is never served. So the published metrics stay identical, and so
    does any full rebuild (forget, a changed definition, a late earlier signup) for any
    choice of activity event types. Runs inside the caller's transaction, after the refresh
    folded the events in."""
    if not settings.keep_raw_days:
        return 0
    horizon = now - timedelta(days=settings.keep_raw_days)
    state = read_state(con)
    previous = state.get("raw_events_compacted_before")
    # Only rows that became old since the last pass, or arrived since (late files), can
    # change a group; a scheduled pass does not re-read every old event.
    since = datetime.fromisoformat(previous) if previous else datetime(1, 1, 1)
    params = {
        "horizon": horizon,
        "previous": since,
        "seen_file": int(state.get("raw_events_compacted_file", "0")),
    }
    removed = con.execute(
        """
        WITH groups AS (
            SELECT DISTINCT ukey, date_trunc('hour', event_ts) AS hour, event_type
            FROM events
            WHERE event_ts < $horizon AND (event_ts >= $previous OR file_id > $seen_file)
        ), rows AS (
            SELECT e.rowid AS id, e.event_ts, g.*
            FROM events AS e
            JOIN groups AS g ON g.ukey = e.ukey
                AND g.hour = date_trunc('hour', e.event_ts) AND g.event_type = e.event_type
            WHERE e.event_ts < $horizon
        ), kept AS (
            SELECT unnest([arg_min(id, event_ts), arg_max(id, event_ts)]) AS id
            FROM rows GROUP BY ukey, hour, event_type
        )
        DELETE FROM events WHERE rowid IN (SELECT id FROM rows ANTI JOIN kept USING (id))
        """,
        params,
    ).fetchall()[0][0]
    newest_file = scalar(con, "SELECT coalesce(max(file_id), 0) FROM events")
    _write_state(
        con,
        {
            "raw_events_compacted_before": max(horizon, since).isoformat(),
            "raw_events_compacted_file": str(newest_file),
        },
    )
    con.execute(
        "INSERT INTO raw_retention (run_id, ran_at, horizon, events_removed) VALUES (?, ?, ?, ?)",
        [run_id, now, horizon, int(removed)],
    ).fetchall()
    return int(removed)
