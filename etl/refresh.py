"""Refresh the metric models: fold newly loaded raw rows into the derived activity tables,
update the additive count tables, and rebuild the small serving tables (m_*).

Incremental by users: a batch (raw rows with file_id above the last refresh's watermark)
touches some users; their old contribution to every count table is subtracted and their
new one added, so a refresh reads the batch and those users' history, never everything.
Late events and late signups are handled the same way, and the result equals a full
rebuild. A full rebuild runs the same SQL over everyone (after erasure, or when the metric
definitions change). Runs inside the caller's transaction: no BEGIN/COMMIT here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

import duckdb

from etl.config import Settings
from etl.progress import StepTimer
from etl.snapshot import MODEL_TABLES
from etl.warehouse import scalar

# Retention periods kept per cohort grain, and how long after t0 hour cohorts are served.
PERIOD_CAPS = {"hour": 47, "day": 90, "week": 52}
HOUR_COHORT_DAYS = 7
# Bump when a model's SQL changes meaning: stored models are then rebuilt in full.
MODELS_VERSION = 5  # 2: channels, overlap, migration, migrant_activity; 3: user keys;
# 4: dense integer user keys from ingest (migration 006); 5: no user_hours (migration 008)

# The serving models, in refresh order (later ones read earlier ones): the contract's.
SERVING_MODELS = MODEL_TABLES
# Temporary tables a serving model needs first: (model file, section), run before its serve.
SERVE_PREPARATION = {
    "overlap": (("overlap", "people"),),
    "migration": (("migration", "migrants"),),
}
# Temporary tables made from a serving table, right after it: (model file, section).
SERVE_FOLLOW_UP = {"platforms": (("platforms", "clock"),)}
DERIVED_TABLES = ("user_days", "c_platform", "platform_ids")
_SECTION = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CountTable:
    """An additive count table: rows are summed by key; all-zero rows are dropped."""

    name: str
    model: str  # the etl/models/<model>.sql file holding the contribution
    section: str
    keys: tuple[str, ...]
    values: tuple[str, ...]


COUNT_TABLES = (
    CountTable("c_signups", "signups", "contribution", ("platform", "grain", "bucket_start"),
               ("signups",)),
    CountTable("c_cohorts", "retention", "cohorts",
               ("platform", "cohort_grain", "cohort_start"), ("users",)),
    CountTable("c_active", "active", "contribution", ("platform", "day"),
               ("dau", "wau_delta", "mau_delta")),
    CountTable("c_retention", "retention", "contribution",
               ("platform", "cohort_grain", "cohort_start", "period"),
               ("retained", "last_here")),
    CountTable("c_lifecycle", "lifecycle", "contribution", ("platform", "grain", "bucket"),
               ("new", "returning", "resurrected", "dormant")),
    CountTable("c_activation", "activation", "contribution", ("platform", "cohort_day"),
               ("activated_24h", "activated_7d")),
    CountTable("c_channels", "channels", "contribution", ("platform", "cohort_day", "channel"),
               ("signups", "retained_d1", "retained_d7", "retained_d30", "activated_24h",
                "activated_7d")),
)  # fmt: skip


@dataclass
class RefreshResult:
    """What a refresh did: full or incremental (and why), the file watermarks it moved
    between, how many users the batch touched, and seconds per step."""

    full: bool
    reason: str
    watermark_before: int
    watermark_after: int
    touched_users: int = 0
    recomputed: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "reason": self.reason,
            "watermark": [self.watermark_before, self.watermark_after],
            "touched_users": self.touched_users,
            "recomputed": list(self.recomputed),
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@cache
def model_sql(model: str) -> dict[str, str]:
    """The named sections (`-- name: x`) of etl/models/<model>.sql."""
    text = resources.files("etl.models").joinpath(f"{model}.sql").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


@dataclass(frozen=True)
class SectionHeader:
    """What a model section declares at its top: the grain of what it makes, the relations
    it reads (made before it runs) and writes, and the session variables it uses.
    tests/test_model_headers.py checks each header against its SQL; the refresh derives
    its order from them."""

    grain: str
    reads: frozenset[str]
    writes: frozenset[str]
    params: frozenset[str]


_HEADER_KEYS = ("grain", "reads", "writes", "params")
_HEADER_LINE = re.compile(r"^-- (grain|reads|writes|params): (.*)$")


@cache
def section_header(model: str, section: str) -> SectionHeader:
    """The `-- grain:`, `-- reads:`, `-- writes:` and `-- params:` lines opening a section
    (a value continues on lines starting `--   `; `-` is none)."""
    values: dict[str, str] = {}
    key = ""
    for line in model_sql(model)[section].splitlines():
        match = _HEADER_LINE.match(line)
        if match:
            key = match.group(1)
            values[key] = match.group(2)
        elif key and line.startswith("--   "):
            values[key] += " " + line[5:]
        else:
            break
    missing = [k for k in _HEADER_KEYS if not values.get(k, "").strip()]
    if missing:
        raise ValueError(f"etl/models/{model}.sql, section {section}: no header line {missing}")

    def names(key: str) -> frozenset[str]:
        return frozenset(n.strip() for n in values[key].split(",") if n.strip() not in ("", "-"))

    return SectionHeader(values["grain"].strip(), names("reads"), names("writes"), names("params"))


def model_sections() -> list[tuple[str, str]]:
    """Every (model, section) of etl/models."""
    files = resources.files("etl.models").iterdir()
    models = sorted(f.name.removesuffix(".sql") for f in files if f.name.endswith(".sql"))
    return [(m, s) for m in models for s in model_sql(m)]


def section_sql(con: duckdb.DuckDBPyConnection, model: str, section: str) -> str:
    """A section's SQL, once every variable it declares is set: DuckDB reads an unset
    variable as NULL, which would compute wrong numbers instead of failing."""
    needed = section_header(model, section).params
    if needed:
        have = {str(r[0]) for r in con.execute("SELECT name FROM duckdb_variables()").fetchall()}
        if needed - have:
            raise RuntimeError(
                f"model {model}.{section} runs before its variables {sorted(needed - have)} "
                "are set (etl/refresh.py)"
            )
    return model_sql(model)[section]


def run_sql(con: duckdb.DuckDBPyConnection, model: str, section: str) -> None:
    """Run every statement of a section (sections hold no bound values: only variables)."""
    con.execute(section_sql(con, model, section)).fetchall()


def definitions_key(settings: Settings) -> str:
    """The metric definitions the stored models depend on, as canonical JSON."""
    return json.dumps(
        {
            "settings": settings.definitions(),
            "period_caps": PERIOD_CAPS,
            "hour_cohort_days": HOUR_COHORT_DAYS,
            "models_version": MODELS_VERSION,
        },
        sort_keys=True,
    )


def read_state(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {str(k): str(v) for k, v in con.execute("SELECT key, value FROM model_state").fetchall()}


def write_state(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    for key, value in values.items():
        con.execute(
            "INSERT OR REPLACE INTO model_state (key, value) VALUES (?, ?)", [key, value]
        ).fetchall()


def file_watermark(con: duckdb.DuckDBPyConnection) -> int:
    """The newest file id among the raw rows (file ids grow monotonically across runs)."""
    return int(
        scalar(
            con,
            "SELECT greatest((SELECT max(file_id) FROM signups), (SELECT max(file_id) FROM events),"
            " (SELECT max(file_id) FROM deletions), 0)",
        )
    )


def choose_mode(full: bool, state: dict[str, str], definitions: str) -> tuple[bool, str]:
    if full:
        return True, "requested"
    if "file_watermark" not in state:
        return True, "first refresh"
    if state.get("definitions") != definitions:
        return True, "metric definitions changed"
    return False, "new data"


def refresh_steps(full: bool) -> int:
    """Steps of a refresh: those before the merge (full: clear, platform_stats, user_days,
    contributions; incremental: platform_stats, touched, user_days, contributions_old,
    contributions_new), the merge, one per serving model."""
    return (4 if full else 5) + 1 + len(SERVING_MODELS)


def set_variables(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, list):
            kind = "VARCHAR[]" if all(isinstance(v, str) for v in value) else "BIGINT[]"
            con.execute(f"SET VARIABLE {name} = CAST(? AS {kind})", [value]).fetchall()
        else:
            con.execute(f"SET VARIABLE {name} = ?", [value]).fetchall()


def model_variables(settings: Settings, wm_old: int, wm_new: int) -> dict[str, Any]:
    return {
        "tz": settings.timezone,
        "week_start": settings.week_start_index,
        "activity_types": list(settings.activity_event_types),
        "inactive_types": list(settings.inactive_event_types),
        "milestones": list(settings.milestones),
        "wm_old": wm_old,
        "wm_new": wm_new,
        "scope_wm": wm_new,
        "sign": 1,
        "cap_hour": PERIOD_CAPS["hour"],
        "cap_day": PERIOD_CAPS["day"],
        "cap_week": PERIOD_CAPS["week"],
        "hour_cohort_days": HOUR_COHORT_DAYS,
        "parts": 1,
        "part": 0,
    }


def declare_t0(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE declared_t0 (platform VARCHAR, t0 TIMESTAMP)"
    ).fetchall()
    for name, platform in settings.platforms.items():
        if platform.t0 is not None:
            con.execute("INSERT INTO declared_t0 VALUES (?, ?)", [name, platform.t0]).fetchall()


def clear_models(con: duckdb.DuckDBPyConnection) -> None:
    for table in (*DERIVED_TABLES, *(t.name for t in COUNT_TABLES)):
        con.execute(f"DELETE FROM {table}").fetchall()


def build_tz_hours(con: duckdb.DuckDBPyConnection) -> None:
    """Offsets for every UTC hour between the earliest and the latest raw timestamp."""
    con.execute(
        "SET VARIABLE range_start = (SELECT date_trunc('hour', coalesce(least(min(first_signup),"
        " min(first_event)), TIMESTAMP '1970-01-01')) FROM c_platform)"
    ).fetchall()
    con.execute(
        "SET VARIABLE range_end = (SELECT coalesce(greatest(max(last_signup), max(last_event)),"
        " TIMESTAMP '1970-01-01') FROM c_platform)"
    ).fetchall()
    run_sql(con, "calendar", "tz_hours")


def create_delta_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in COUNT_TABLES:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE d_{table.name} AS SELECT * FROM {table.name} LIMIT 0"
        ).fetchall()


def add_contributions(con: duckdb.DuckDBPyConnection, sign: int, scope_wm: int) -> None:
    """Add (sign=+1) or remove (sign=-1) the scoped users' share of every count table."""
    set_variables(con, {"sign": sign, "scope_wm": scope_wm})
    deltas = {(t.model, t.section): f"d_{t.name}" for t in COUNT_TABLES}
    steps = [("scope", "sequence"), ("signup_hours", "counts"), *deltas]
    for model, section in in_dependency_order(steps, deltas):
        if (model, section) in deltas:
            sql = section_sql(con, model, section)
            con.execute(f"INSERT INTO {deltas[model, section]} {sql}").fetchall()
        elif (model, section) == ("signup_hours", "counts"):
            hour_counts(con)
        else:
            run_sql(con, model, section)


# The signups x events join of signup_hours.counts runs for a part of the users at a time,
# each part about this many signups: at the full demo's scale (19.8M signups, 67M events)
# one join and grouping of everyone overflowed the memory limit (it spilled, and once ran
# out of memory inside a transaction); three parts fit.
HOUR_PART_SIGNUPS = 7_000_000


def hour_counts(con: duckdb.DuckDBPyConnection) -> None:
    """scope_hour_counts, one part of the users at a time (signup_hours.sql)."""
    run_sql(con, "signup_hours", "table")
    signups = int(scalar(con, "SELECT count(*) FROM scope_signups"))
    parts = max(1, -(-signups // HOUR_PART_SIGNUPS))
    for part in range(parts):
        set_variables(con, {"parts": parts, "part": part})
        run_sql(con, "signup_hours", "counts")


def merge_counts(con: duckdb.DuckDBPyConnection, table: CountTable) -> None:
    """Fold d_<table> into <table>: sum by key, drop rows that netted to zero."""
    keys = ", ".join(f'"{k}"' for k in table.keys)
    joined = " AND ".join(f'c."{k}" = d."{k}"' for k in table.keys)
    sums = ", ".join(f'sum("{v}") AS "{v}"' for v in table.values)
    nonzero = " OR ".join(f'"{v}" <> 0' for v in table.values)
    delta = f"d_{table.name}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE merged AS SELECT {keys}, {sums} FROM ("
        f"SELECT c.* FROM {table.name} AS c SEMI JOIN {delta} AS d ON {joined} "
        f"UNION ALL SELECT * FROM {delta}) GROUP BY {keys}"
    ).fetchall()
    con.execute(
        f"DELETE FROM {table.name} AS c USING (SELECT DISTINCT {keys} FROM {delta}) AS d "
        f"WHERE {joined}"
    ).fetchall()
    con.execute(f"INSERT INTO {table.name} SELECT * FROM merged WHERE {nonzero}").fetchall()


def serve_models(con: duckdb.DuckDBPyConnection, timer: StepTimer) -> None:
    """Rebuild the serving tables m_* from the count tables (cost ~ their output size);
    each model's time (its preparation included) is step `serve:<model>`."""
    for model in serving_order():
        with timer.step(f"serve:{model}"):
            for source, section in SERVE_PREPARATION.get(model, ()):
                run_sql(con, source, section)
            con.execute(f"DELETE FROM m_{model}").fetchall()
            con.execute(f"INSERT INTO m_{model} {section_sql(con, model, 'serve')}").fetchall()
            for source, section in SERVE_FOLLOW_UP.get(model, ()):
                run_sql(con, source, section)


def _serve_group(model: str) -> list[tuple[str, str]]:
    """The sections serving a model runs: its preparation, its serve, its follow-up."""
    return [
        *SERVE_PREPARATION.get(model, ()),
        (model, "serve"),
        *SERVE_FOLLOW_UP.get(model, ()),
    ]


@cache
def serving_order() -> tuple[str, ...]:
    """The serving models in an order their headers allow: a model after the models whose
    sections write what its sections read (m_<model> is what a serve section fills); ties
    keep the contract's order."""
    groups = {m: _serve_group(m) for m in SERVING_MODELS}
    writes = {
        m: {n for s in g for n in section_header(*s).writes} | {f"m_{m}"} for m, g in groups.items()
    }
    reads = {
        m: {n for s in g for n in section_header(*s).reads} - writes[m] for m, g in groups.items()
    }
    return tuple(_topological(list(SERVING_MODELS), reads, writes))


def in_dependency_order(
    sections: Sequence[tuple[str, str]], outputs: Mapping[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """The sections in an order their headers allow: each after the sections that write
    what it reads (`outputs`: the relation refresh.py fills with a query section's rows);
    ties keep the given order."""
    writes = {s: set(section_header(*s).writes) for s in sections}
    for s, relation in outputs.items():
        writes[s].add(relation)
    reads = {s: set(section_header(*s).reads) for s in sections}
    return _topological(list(sections), reads, writes)


def _topological(
    items: list[Any], reads: Mapping[Any, set[str]], writes: Mapping[Any, set[str]]
) -> list[Any]:
    """A stable topological order of items by what they read and write."""
    ordered: list[Any] = []
    remaining = list(items)
    while remaining:
        for item in remaining:
            pending = {w for other in remaining if other != item for w in writes[other]}
            if not reads[item] & pending:
                ordered.append(item)
                remaining.remove(item)
                break
        else:
            raise ValueError(f"models read each other's output in a cycle: {remaining}")
    return ordered


# Temporary relations refresh.py makes itself; the models' own are in their headers.
REFRESH_TEMP = ("touched", "merged", "declared_t0", *(f"d_{t.name}" for t in COUNT_TABLES))


@cache
def temp_names() -> frozenset[str]:
    """Every relation a refresh may leave on its connection (persistent tables among the
    models' writes are not temporary, and drop_temp_objects leaves them alone)."""
    written = {n for m, s in model_sections() for n in section_header(m, s).writes}
    return frozenset(written | set(REFRESH_TEMP))


def drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary tables outlive the refresh on a connection; drop them so the next
    refresh (or a caller) starts clean. Views and tables share names, so try both."""
    existing = {
        (str(kind), str(name))
        for kind, name in con.execute(
            "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary"
        ).fetchall()
    }
    for kind, name in sorted(existing):
        if name in temp_names():
            con.execute(f"DROP {kind} temp.main.{name}").fetchall()


def refresh_models(
    con: duckdb.DuckDBPyConnection, settings: Settings, now: datetime, full: bool = False
) -> RefreshResult:
    """Bring every model up to the raw tables' newest file; see the module docstring."""
    state = read_state(con)
    definitions = definitions_key(settings)
    full, reason = choose_mode(full, state, definitions)
    wm_old = 0 if full else int(state["file_watermark"])
    wm_new = file_watermark(con)
    result = RefreshResult(
        full=full, reason=reason, watermark_before=wm_old, watermark_after=wm_new
    )
    if not full and wm_new <= wm_old:
        result.reason = "no new data"
        return result
    timer = StepTimer("metrics", refresh_steps(full))
    drop_temp_objects(con)
    try:
        set_variables(con, model_variables(settings, wm_old, wm_new))
        run_sql(con, "calendar", "macros")
        declare_t0(con, settings)
        if full:
            rebuild_all(con, timer)
        else:
            result.touched_users = refresh_touched(con, timer, wm_old, wm_new)
        with timer.step("merge"):
            for table in COUNT_TABLES:
                merge_counts(con, table)
        serve_models(con, timer)
        write_state(
            con,
            {
                "file_watermark": str(wm_new),
                "definitions": definitions,
                "refreshed_at": now.isoformat(),
            },
        )
    finally:
        drop_temp_objects(con)
    result.recomputed = (*(t.name for t in COUNT_TABLES), *(f"m_{m}" for m in SERVING_MODELS))
    result.timings = timer.timings
    return result


# Whether every hour of tz_hours is whole (variable whole_hours; signup_hours.sql): asked by
# the DuckDB refresh and the Spark engine alike.
WHOLE_HOURS_SQL = "SELECT coalesce(bool_and(whole), true) AS whole FROM tz_hours"


def fold_batch_stats(con: duckdb.DuckDBPyConnection) -> None:
    run_sql(con, "platforms", "batch_stats")
    run_sql(con, "platforms", "merge_stats")
    run_sql(con, "platforms", "ids")
    build_tz_hours(con)
    set_variables(con, {"whole_hours": bool(scalar(con, WHOLE_HOURS_SQL))})


# The batch's events are grouped into user-days a span of whole local days at a time, each
# span holding about this many events: one hash table of the whole batch at the full
# demo's scale overflowed the memory limit and spilled, where spans of consecutive days fit
# in memory. Events are stored about in time order (files arrive in it), so each span
# reads only its own row groups.
DAY_SPAN_EVENTS = 8_000_000
# The bounds of the first and the last span: every stored timestamp lies between them.
EARLIEST = datetime(1, 1, 1)
LATEST = datetime(9999, 12, 31)


def append_days(con: duckdb.DuckDBPyConnection) -> None:
    """user_days of the batch (wm_old < file_id <= wm_new), one span of local days at a
    time (the batch's users are in `touched`; empty for a full rebuild)."""
    days = con.execute(section_sql(con, "user_activity", "day_events")).fetchall()
    for start, end in day_spans(days, DAY_SPAN_EVENTS):
        set_variables(con, {"span_from": start, "span_to": end})
        run_sql(con, "user_activity", "append_days")


def day_spans(
    days: Sequence[tuple[datetime | None, int]], limit: int
) -> Iterator[tuple[datetime, datetime]]:
    """[from, to) spans of consecutive local days (each given by the instant it starts,
    None for the first, and its events, in order) holding at most `limit` events each (a
    single larger day is a span of its own). The first span starts at EARLIEST and the last
    ends at LATEST, so together they hold every event."""
    if not days:
        return
    bounds = [EARLIEST]
    events = 0
    for start, count in days:
        if start is not None and events and events + count > limit:
            bounds.append(start)
            events = 0
        events += count
    bounds.append(LATEST)
    yield from pairwise(bounds)


def rebuild_all(con: duckdb.DuckDBPyConnection, timer: StepTimer) -> None:
    """Everything from the raw tables: derived tables, then everyone's contribution."""
    with timer.step("clear"):
        clear_models(con)
    with timer.step("platform_stats"):
        fold_batch_stats(con)
    with timer.step("user_days"):
        # user_days is empty: no stored day of any user needs checking.
        con.execute("CREATE OR REPLACE TEMP TABLE touched (uid INTEGER)").fetchall()
        append_days(con)
    with timer.step("contributions"):
        create_delta_tables(con)
        run_sql(con, "scope", "everyone")
        add_contributions(con, sign=1, scope_wm=int(scalar(con, "SELECT getvariable('wm_new')")))


def refresh_touched(
    con: duckdb.DuckDBPyConnection, timer: StepTimer, wm_old: int, wm_new: int
) -> int:
    """The batch's users: subtract their old contribution, fold the batch in, add the new."""
    with timer.step("platform_stats"):
        fold_batch_stats(con)
    with timer.step("touched"):
        run_sql(con, "user_activity", "touched")
    with timer.step("user_days"):
        append_days(con)
    create_delta_tables(con)
    with timer.step("contributions_old"):
        # The touched users' rows are read once; rows of this batch (batch / file_id above
        # wm_old) are left out of the old state by scope_wm.
        run_sql(con, "scope", "touched")
        add_contributions(con, sign=-1, scope_wm=wm_old)
    with timer.step("contributions_new"):
        add_contributions(con, sign=1, scope_wm=wm_new)
    return int(scalar(con, "SELECT count(*) FROM touched"))
