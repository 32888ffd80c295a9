"""The run's load, set-wise: the valid rows of every file of one ingest run, already staged
and checked one file at a time (etl/ingest.py), are deduplicated and inserted with one
statement per stream, keyed by the user dictionary as they are inserted.

Exact dedupe, as if the files had loaded one after another in file-id order:
- signups: each user keeps their earliest signup (ties: the earlier file, then the earlier
  row); a row is a duplicate unless it is its file's earliest for the user and earlier
  than every row of the earlier files and the stored one; a stored signup is replaced (and
  history restated) by an earlier one. A signup replaced later in the same run stays
  counted as loaded, as it was when its file loaded;
- events and deletions: `event_id` when given, else the natural key (platform, user_id,
  timestamp, event type). A 64-bit hash of that identity (`k`) finds candidate duplicates
  in one narrow pass; candidates are confirmed on the full identity, so a hash collision
  never drops an event. The first row of each event (stored first, then file order, then
  row order) stays.

Users get their dense integer key (`user_keys`, the dictionary) before their rows go in:
the run's signups name its new users (one row per user once deduplicated), and the events
join the dictionary as they are inserted; the few users with events and no signup get
theirs afterwards, by an update of their rows only. An event row stores its user id only
until then: the ids live in the dictionary (`events_with_ids` joins them back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from etl.warehouse import scalar

if TYPE_CHECKING:
    from etl.ingest import FileOutcome

DELETION_EVENT_TYPE = "account_deleted"

_SAME_EVENT = """
    a.platform = b.platform AND (
        (a.event_id IS NOT NULL AND a.event_id = b.event_id)
        OR (a.event_id IS NULL AND b.event_id IS NULL AND a.user_id = b.user_id
            AND a.ts = b.ts AND a.event_type = b.event_type))
"""

# The run's temp objects, dropped when the load is done.
_RUN_VIEWS = ("_run_signups", "_run_events", "_run_deletions")
_RUN_TABLES = (
    "_sx_keys",
    "_sx",
    "_s_drop",
    "_x_keys",
    "_x_rows",
    "_run_keys",
    "_run_hkeys",
    "_first_seen",
    "_first_seen_new",
)


@dataclass
class StagedFile:
    """A file checked and staged for the run's load: its rows in Uptake's columns, with the
    reason a row is bad (NULL for a valid row), in the temp view `<prefix>_canon`."""

    outcome: FileOutcome
    prefix: str
    valid: int = 0  # rows without a reason
    deletions: int = 0  # valid rows that are account deletions

    @property
    def file_id(self) -> int:
        assert self.outcome.file_id is not None
        return self.outcome.file_id

    @property
    def canon(self) -> str:
        return f"{self.prefix}_canon"


@dataclass(frozen=True)
class FirstSeenRule:
    """Which events derive signups (see etl.ingest.FirstSeen)."""

    every_row: bool
    platforms: tuple[str, ...]
    inactive_types: tuple[str, ...]
    recorded_as: str | None  # `--signups` of this run, recorded for its platforms


def load_run(
    con: duckdb.DuckDBPyConnection,
    staged: Sequence[StagedFile],
    first_seen: FirstSeenRule | None,
) -> None:
    """Insert the valid rows of the staged files, deduplicated and keyed; set each file's
    loaded, duplicate and replaced counts. Inside the caller's transaction."""
    if not staged:
        return
    for file in staged:
        file.outcome.rows_loaded = file.valid
    signups = [f for f in staged if f.outcome.stream == "signups" and f.valid]
    events = [f for f in staged if f.outcome.stream != "signups" and f.valid]
    if signups:
        _load_signups(con, signups)
    if events:
        _union_view(con, "_run_events", events, _EVENT_COLUMNS)
        if first_seen is not None:
            _derive_first_seen_signups(con, events, first_seen)
    _key_unkeyed(con, "signups", min(f.file_id for f in staged))
    if events:
        _load_events(con, events)
    for file in staged:
        outcome = file.outcome
        outcome.rows_duplicate = outcome.rows_read - outcome.rows_quarantined - outcome.rows_loaded
    for view in _RUN_VIEWS:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in _RUN_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


_SIGNUP_COLUMNS = "_row, platform, user_id, ts, channel, country, person_id, event_id"
_EVENT_COLUMNS = (
    f"_row, platform, user_id, ts, CASE WHEN is_deletion THEN '{DELETION_EVENT_TYPE}' "
    "ELSE event_type END AS event_type, event_id, k, is_deletion, first_seen_ts"
)


def _union_view(
    con: duckdb.DuckDBPyConnection, name: str, files: Sequence[StagedFile], columns: str
) -> None:
    """`name`: the valid rows of the files, with their file id. A file without bad rows is
    read without computing each row's reason."""
    parts = [
        f"SELECT {f.file_id}::BIGINT AS file_id, {columns} FROM {f.canon}"
        + (" WHERE reason IS NULL" if f.outcome.rows_quarantined else "")
        for f in files
    ]
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS " + " UNION ALL ".join(parts))


def _without(rows: str, dropped: str, any_dropped: bool) -> str:
    """SQL of the rows less those listed (by file id and row) in `dropped`."""
    if not any_dropped:
        return rows
    return f"(SELECT * FROM {rows} ANTI JOIN {dropped} USING (file_id, _row))"


def _repeated(key: str, rows: str) -> str:
    """SQL of the values of the column `key` found more than once in `rows`. One sort and a
    comparison with the previous value: a grouping of every value (almost all of them
    unique) held a hash table of all of them, which spilled at the full demo's 70M events
    and cost a third more CPU than the sort at any size."""
    return (
        f"SELECT DISTINCT {key} FROM (SELECT {key}, lag({key}) OVER (ORDER BY {key}) AS previous "
        f"FROM {rows}) WHERE {key} = previous"
    )


def _by_file(files: Sequence[StagedFile]) -> dict[int, FileOutcome]:
    return {f.file_id: f.outcome for f in files}


# -- signups ----------------------------------------------------------------------------


def _load_signups(con: duckdb.DuckDBPyConnection, files: Sequence[StagedFile]) -> None:
    _union_view(con, "_run_signups", files, _SIGNUP_COLUMNS)
    kept = _without("_run_signups", "_s_drop", _dedupe_signups(con, files))
    # One row per user is left: the new ones are numbered without a DISTINCT.
    _add_new_users(con, f"SELECT platform, user_id FROM {kept}")
    keys = _hashed_keys(con, kept, sum(f.valid for f in files))
    _insert_keyed(
        con,
        f"""
        INSERT INTO signups (platform, user_id, signup_ts, channel, country, person_id,
                             event_id, file_id, ukey)
        SELECT v.platform, v.user_id, v.ts, v.channel, v.country, v.person_id, v.event_id,
               v.file_id, u.ukey
        FROM {kept} AS v
        LEFT JOIN {keys} AS u ON {_same_user("u", "v")}
        """,
    )


def _dedupe_signups(con: duckdb.DuckDBPyConnection, files: Sequence[StagedFile]) -> bool:
    """The run's signup rows that do not go in (`_s_drop`), the stored signups an earlier
    one replaces (deleted), and each file's duplicate and replaced counts. Returns whether
    any run row is dropped. A 64-bit hash of the user finds the users seen more than once
    in one narrow pass; only their rows are read and compared on the user itself."""
    run = "SELECT hash(platform, user_id) AS h FROM _run_signups"
    stored = bool(scalar(con, "SELECT count(*) FROM signups"))
    if stored:
        con.execute(
            f"""
            CREATE TEMP TABLE _sx_keys AS
            WITH run AS MATERIALIZED ({run})
            {_repeated("h", "run")}
            UNION SELECT hash(platform, user_id) FROM signups
            WHERE hash(platform, user_id) IN (SELECT h FROM run)
            """
        )
    else:
        con.execute(f"CREATE TEMP TABLE _sx_keys AS {_repeated('h', f'({run})')}")
    if not scalar(con, "SELECT count(*) FROM _sx_keys"):
        return False
    stored_rows = (
        """
        UNION ALL
        SELECT file_id, 0, rowid, platform, user_id, signup_ts FROM signups
        WHERE hash(platform, user_id) IN (SELECT h FROM _sx_keys)
        """
        if stored
        else ""
    )
    con.execute(
        f"""
        CREATE TEMP TABLE _sx AS
        WITH cand AS (
            SELECT file_id, _row, NULL::BIGINT AS rid, platform, user_id, ts
            FROM _run_signups WHERE hash(platform, user_id) IN (SELECT h FROM _sx_keys)
            {stored_rows}
        ), ranked AS (
            SELECT *,
                   row_number() OVER (PARTITION BY platform, user_id, file_id
                                      ORDER BY ts, _row) = 1 AS file_first,
                   min(ts) OVER (PARTITION BY platform, user_id ORDER BY file_id
                                 RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier,
                   row_number() OVER (PARTITION BY platform, user_id
                                      ORDER BY ts, file_id, _row) = 1 AS kept,
                   bool_or(rid IS NOT NULL) OVER (PARTITION BY platform, user_id) AS had_stored
            FROM cand
        )
        SELECT file_id, _row, rid, kept,
               rid IS NULL AND NOT (file_first AND (earlier IS NULL OR ts < earlier))
                   AS duplicate,
               kept AND rid IS NULL AND had_stored AS replaces
        FROM ranked
        """
    )
    con.execute("DELETE FROM signups WHERE rowid IN (SELECT rid FROM _sx WHERE NOT kept)")
    con.execute(
        "CREATE TEMP TABLE _s_drop AS SELECT file_id, _row FROM _sx WHERE rid IS NULL AND NOT kept"
    )
    counts = con.execute(
        "SELECT file_id, count(*) FILTER (WHERE duplicate), count(*) FILTER (WHERE replaces) "
        "FROM _sx WHERE rid IS NULL GROUP BY file_id"
    ).fetchall()
    by_id = _by_file(files)
    for file_id, duplicates, replaced in counts:
        by_id[int(file_id)].rows_loaded -= int(duplicates)
        by_id[int(file_id)].signups_replaced += int(replaced)
    return bool(scalar(con, "SELECT count(*) FROM _s_drop"))


def _derive_first_seen_signups(
    con: duckdb.DuckDBPyConnection, files: Sequence[StagedFile], rule: FirstSeenRule
) -> None:
    """Signups for the run's users of first-seen platforms: each user's earliest time over
    the run's events (their creation time when a file has it, else their first event;
    deletions and inactive event types do not count) becomes their signup, unless a stored
    signup is as early (the earliest signup wins, as for signup rows; a later stored one is
    replaced, which restates history). A derived signup belongs to the file of that
    earliest event. `--signups` is recorded for the run's platforms, so later passes
    derive their new users the same way."""
    con.execute(
        """
        CREATE TEMP TABLE _first_seen AS
        SELECT platform, user_id, min(coalesce(first_seen_ts, ts)) AS ts,
               arg_min(file_id, (coalesce(first_seen_ts, ts), file_id)) AS file_id
        FROM _run_events
        WHERE NOT is_deletion AND NOT list_contains(?, event_type)
          AND (? OR list_contains(?, platform))
        GROUP BY platform, user_id
        """,
        [list(rule.inactive_types), rule.every_row, list(rule.platforms)],
    )
    replaced = con.execute(
        "DELETE FROM signups AS s USING _first_seen AS f "
        "WHERE s.platform = f.platform AND s.user_id = f.user_id AND f.ts < s.signup_ts"
    ).fetchall()[0][0]
    con.execute(
        "CREATE TEMP TABLE _first_seen_new AS "
        "SELECT * FROM _first_seen ANTI JOIN signups USING (platform, user_id)"
    )
    con.execute(
        "INSERT INTO signups (platform, user_id, signup_ts, file_id) "
        "SELECT platform, user_id, ts, file_id FROM _first_seen_new"
    )
    counts = con.execute("SELECT file_id, count(*) FROM _first_seen_new GROUP BY file_id")
    by_id = _by_file(files)
    for file_id, derived in counts.fetchall():
        by_id[int(file_id)].signups_derived += int(derived)
    if replaced:
        files[0].outcome.signups_replaced += int(replaced)  # the refresh restates in full
    if rule.recorded_as:
        con.execute(
            "INSERT OR REPLACE INTO signup_sources SELECT DISTINCT platform, ? FROM _first_seen",
            [rule.recorded_as],
        )


# -- events -----------------------------------------------------------------------------


def _load_events(con: duckdb.DuckDBPyConnection, files: Sequence[StagedFile]) -> None:
    dropped = _dedupe_events(con, files)
    rows = _without("_run_events", "_x_rows", dropped)
    keys = _hashed_keys(con, rows, sum(f.valid for f in files))
    _insert_keyed(
        con,
        f"""
        INSERT INTO events (platform, user_id, event_ts, event_type, event_id, dedupe_key,
                            file_id, ukey)
        SELECT v.platform, CASE WHEN u.ukey IS NULL THEN v.user_id END, v.ts, v.event_type,
               v.event_id, v.k, v.file_id, u.ukey
        FROM {rows} AS v
        LEFT JOIN {keys} AS u ON {_same_user("u", "v")}
        WHERE NOT v.is_deletion
        """,
    )
    with_deletions = [f for f in files if f.deletions]
    if with_deletions:
        _union_view(con, "_run_deletions", with_deletions, _EVENT_COLUMNS)
        con.execute(
            f"""
            INSERT INTO deletions (platform, user_id, deleted_ts, event_id, dedupe_key, file_id)
            SELECT platform, user_id, ts, event_id, k, file_id
            FROM {_without("_run_deletions", "_x_rows", dropped)}
            WHERE is_deletion
            """
        )
    _key_unkeyed(con, "events", min(f.file_id for f in files))


def _dedupe_events(con: duckdb.DuckDBPyConnection, files: Sequence[StagedFile]) -> bool:
    """The run's event rows (deletions included) that repeat an earlier row, stored or of
    the run (`_x_rows`); each file's loaded count loses them. Returns whether any."""
    con.execute(f"CREATE TEMP TABLE _x_keys AS {_repeated('k', '_run_events')}")
    stored = scalar(con, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM deletions)")
    stored_rows = ""
    if stored:
        con.execute(
            """
            INSERT INTO _x_keys
            SELECT DISTINCT dedupe_key FROM (
                SELECT dedupe_key FROM events UNION ALL SELECT dedupe_key FROM deletions)
            WHERE dedupe_key IN (SELECT k FROM _run_events)
            """
        )
        stored_rows = f"""
            UNION ALL
            SELECT file_id, 0, platform, user_id, event_ts, event_type, event_id, dedupe_key
            FROM events_with_ids WHERE dedupe_key IN (SELECT k FROM _x_keys)
            UNION ALL
            SELECT file_id, 0, platform, user_id, deleted_ts, '{DELETION_EVENT_TYPE}',
                   event_id, dedupe_key
            FROM deletions WHERE dedupe_key IN (SELECT k FROM _x_keys)
        """
    if not scalar(con, "SELECT count(*) FROM _x_keys"):
        return False
    first = min(f.file_id for f in files)
    con.execute(
        f"""
        CREATE TEMP TABLE _x_rows AS
        WITH cand AS (
            SELECT file_id, _row, platform, user_id, ts, event_type, event_id, k
            FROM _run_events WHERE k IN (SELECT k FROM _x_keys)
            {stored_rows}
        )
        SELECT DISTINCT b.file_id, b._row FROM cand AS a JOIN cand AS b
            ON a.k = b.k AND {_SAME_EVENT}
            AND (a.file_id < b.file_id OR (a.file_id = b.file_id AND a._row < b._row))
        WHERE b.file_id >= {first}
        """
    )
    counts = con.execute("SELECT file_id, count(*) FROM _x_rows GROUP BY file_id").fetchall()
    by_id = _by_file(files)
    for file_id, duplicates in counts:
        by_id[int(file_id)].rows_loaded -= int(duplicates)
    return bool(counts)


def _insert_keyed(con: duckdb.DuckDBPyConnection, insert: str) -> None:
    """Run an INSERT whose rows LEFT JOIN the dictionary, with the dictionary as the join's
    hash table. The optimizer would otherwise build it on the run's rows (it estimates
    a union of filtered file views far below its size), holding every column of tens of
    millions of rows in memory."""
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        con.execute(insert)
    finally:
        con.execute("RESET disabled_optimizers")


# -- user keys --------------------------------------------------------------------------


def _user_hashes(alias: str) -> tuple[str, str]:
    """Two 64-bit hashes of a row's user, of different strings, so they collide apart."""
    return (
        f"hash({alias}.platform, {alias}.user_id)",
        f"hash({alias}.user_id || chr(31) || {alias}.platform)",
    )


def _same_user(keys: str, rows: str) -> str:
    """Join condition of the run's rows with _hashed_keys' table."""
    h1, h2 = _user_hashes(rows)
    return f"{keys}.h1 = {h1} AND {keys}.h2 = {h2}"


def _hashed_keys(con: duckdb.DuckDBPyConnection, rows: str, run_rows: int) -> str:
    """The dictionary (of the run's users, see _keys_for) as (h1, h2, ukey): the bulk
    inserts join it on the user's two 64-bit hashes, a 128-bit identity, instead of the id
    strings. Its hash table is then a third of the size and compares integers; a table of
    millions of id strings beside an insert of tens of millions of rows overflowed the
    memory limit and spilled. Two users would share a key only if both hashes collided
    (about 1e-24 for 20M users), the chance the refresh's 128-bit keys took before."""
    keys = _keys_for(con, rows, run_rows)
    h1, h2 = _user_hashes("k")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _run_hkeys AS SELECT {h1} AS h1, {h2} AS h2, ukey "
        f"FROM {keys} AS k"
    )
    return "_run_hkeys"


def _keys_for(con: duckdb.DuckDBPyConnection, rows: str, run_rows: int) -> str:
    """The dictionary to join the run's rows with: all of it, or, for a small run beside a
    large dictionary, its own users' rows (the run's users are then the hash table and the
    dictionary is only scanned, instead of hashing all of it)."""
    if 4 * run_rows >= int(scalar(con, "SELECT count(*) FROM user_keys")):
        return "user_keys"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _run_keys AS SELECT k.* FROM user_keys AS k "
        f"SEMI JOIN (SELECT platform, user_id FROM {rows}) AS r USING (platform, user_id)"
    )
    return "_run_keys"


def _key_unkeyed(con: duckdb.DuckDBPyConnection, table: str, first_file: int) -> None:
    """Key the table's rows from `first_file` on that have no key yet (users with events
    and no signup, signups derived from events), adding their users to the dictionary."""
    con.execute("SET VARIABLE key_first_file = ?", [first_file])
    unkeyed = f"{table} WHERE file_id >= getvariable('key_first_file') AND ukey IS NULL"
    if not scalar(con, f"SELECT count(*) FROM {unkeyed}"):
        return  # the common case: every row was keyed as it went in
    _add_new_users(con, f"SELECT DISTINCT platform, user_id FROM {unkeyed}")
    _key_rows(con, table, only_unkeyed=True)


def assign_user_keys(con: duckdb.DuckDBPyConnection, first_file: int) -> None:
    """Give the signups and events of files from `first_file` on the key of their user,
    adding users not seen before to the dictionary. For rows inserted without keys (tests,
    benchmarks and migrations write raw rows); ingest keys rows as it inserts them."""
    _key_unkeyed(con, "signups", first_file)
    _key_rows(con, "events", only_unkeyed=False)
    _key_unkeyed(con, "events", first_file)


def _add_new_users(con: duckdb.DuckDBPyConnection, users: str) -> None:
    """Append the users (distinct (platform, user_id) rows) missing from the dictionary,
    numbered after the largest key."""
    con.execute(
        f"""
        INSERT INTO user_keys (platform, user_id, ukey)
        SELECT platform, user_id,
               CAST((SELECT coalesce(max(ukey), 0) FROM user_keys) + row_number() OVER ()
                    AS INTEGER)
        FROM ({users}) AS candidates
        ANTI JOIN user_keys AS k USING (platform, user_id)
        """
    )


def _key_rows(con: duckdb.DuckDBPyConnection, table: str, only_unkeyed: bool) -> None:
    """Set the key of the table's rows from `key_first_file` on (only those still without
    one, if `only_unkeyed`)."""
    rows = f"{table} WHERE file_id >= getvariable('key_first_file')"
    if only_unkeyed:
        rows += " AND ukey IS NULL"
    run_rows = int(scalar(con, f"SELECT count(*) FROM {rows}"))
    if not run_rows:
        return
    keys = _keys_for(con, f"(SELECT platform, user_id FROM {rows})", run_rows)
    unkeyed = f" AND {table}.ukey IS NULL" if only_unkeyed else ""
    # An event's user id lives in the dictionary once the event has its key.
    cleared = ", user_id = NULL" if table == "events" else ""
    con.execute(
        f"""
        UPDATE {table} SET ukey = k.ukey{cleared}
        FROM {keys} AS k
        WHERE {table}.file_id >= getvariable('key_first_file'){unkeyed}
          AND k.platform = {table}.platform AND k.user_id = {table}.user_id
        """
    )
    con.execute("DROP TABLE IF EXISTS _run_keys")
