"""Every model section declares its grain, what it reads and writes and which variables it
uses, the declaration matches its SQL, and the refresh runs each section after what it reads."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
from models_helpers import add_events, add_signups, refresh

import etl.refresh
from etl.config import load_settings
from etl.refresh import model_sections, model_sql, section_header
from etl.warehouse import connect

CLOCK = datetime(2026, 11, 1, 12)

_WRITE = re.compile(
    r"(?:create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|view|macro)\s+"
    r"(?:if\s+not\s+exists\s+)?|insert\s+(?:or\s+replace\s+)?into\s+|delete\s+from\s+|update\s+)"
    r"([a-z_][a-z0-9_]*)"
)
_CTE = re.compile(r"(?:with|,)\s*(?:recursive\s+)?([a-z_][a-z0-9_]*)\s+as\s*(?:materialized\s*)?\(")
_READ = re.compile(r"\b(?:from|join|using)\s+([a-z_][a-z0-9_.]*)\s*(\()?")


def used_by(sql: str) -> tuple[set[str], set[str], set[str]]:
    """What a section's SQL reads (relations named after FROM, JOIN or USING that are not
    its CTEs, table functions or relations it made itself), writes, and its variables."""
    code = re.sub(r"--[^\n]*", "", sql).lower()
    reads: set[str] = set()
    writes: set[str] = set()
    for statement in code.split(";"):
        ctes = set(_CTE.findall(statement))
        for name, call in _READ.findall(statement):
            if not call and name not in ctes and name not in writes:
                reads.add(name)
        writes |= set(_WRITE.findall(statement))
    return reads, writes, set(re.findall(r"getvariable\('([a-z_0-9]+)'\)", code))


@pytest.mark.parametrize(("model", "section"), model_sections())
def test_header_declares_what_the_sql_uses(model: str, section: str) -> None:
    header = section_header(model, section)
    assert header.grain  # what one row of its output is
    reads, writes, params = used_by(model_sql(model)[section])
    assert (set(header.reads), set(header.writes), set(header.params)) == (reads, writes, params)


def test_the_analysis_sees_reads_writes_and_variables() -> None:
    sql = (
        "CREATE TEMP TABLE t AS WITH c AS (SELECT * FROM a) SELECT * FROM c "
        "JOIN b USING (k) WHERE x > getvariable('v'); "
        "INSERT INTO u SELECT * FROM t CROSS JOIN range(3)"
    )
    assert used_by(sql) == ({"a", "b"}, {"t", "u"}, {"v"})


def test_refresh_runs_each_section_after_what_it_reads(tmp_path: Path) -> None:
    """A full rebuild and an incremental pass, recorded: each section's reads exist before
    it runs, as warehouse tables or written by an earlier section or by refresh.py."""
    settings = load_settings(tmp_path, env={}, overrides={"milestones": "2,4"})
    con = connect(settings)
    persistent = {
        str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    }
    ran: list[tuple[str, str]] = []
    real = etl.refresh.section_sql

    def recording(con_: object, model: str, section: str) -> str:
        ran.append((model, section))
        return real(con_, model, section)  # type: ignore[arg-type]

    with mock.patch.object(etl.refresh, "section_sql", recording):
        add_signups(con, [("a", "u1", "2024-10-20 10:00:00")], 1)
        add_events(con, [("a", "u1", "2024-10-21 10:00:00")], 2)
        refresh(con, settings, CLOCK)
        add_events(con, [("a", "u1", "2024-10-22 10:00:00")], 3)
        refresh(con, settings, CLOCK)
    con.close()
    assert ("signup_hours", "counts") in ran and ("scope", "touched") in ran
    available = persistent | set(etl.refresh.REFRESH_TEMP)
    for model, section in ran:
        header = section_header(model, section)
        assert header.reads <= available, (model, section, sorted(header.reads - available))
        available |= header.writes
    written = {n for m, s in model_sections() for n in section_header(m, s).writes}
    assert etl.refresh.temp_names() == written | set(etl.refresh.REFRESH_TEMP)


def test_orders_come_from_the_headers_whatever_the_listed_order() -> None:
    deltas = {(t.model, t.section): f"d_{t.name}" for t in etl.refresh.COUNT_TABLES}
    steps = [*deltas, ("signup_hours", "counts"), ("scope", "sequence")]  # readers first
    ordered = etl.refresh.in_dependency_order(steps, deltas)
    assert sorted(ordered) == sorted(steps)
    position = {s: i for i, s in enumerate(ordered)}
    for reader in (("active", "contribution"), ("retention", "contribution")):
        assert position["scope", "sequence"] < position[reader]
    for reader in (("activation", "contribution"), ("retention", "contribution")):
        assert position["signup_hours", "counts"] < position[reader]
    served = etl.refresh.serving_order()
    assert sorted(served) == sorted(etl.refresh.SERVING_MODELS)
    # everything reads the platform clock, which serving `platforms` makes
    assert served[0] == "platforms"
    assert served.index("overlap") < served.index("migration") < served.index("migrant_activity")
    with pytest.raises(ValueError, match="cycle"):
        etl.refresh._topological(["a", "b"], {"a": {"y"}, "b": {"x"}}, {"a": {"x"}, "b": {"y"}})
