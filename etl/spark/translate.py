"""DuckDB model SQL -> Spark SQL: the sections of etl/models/*.sql are written once, for
DuckDB, and translated here with sqlglot, statement by statement, when Spark runs them.

What the translation does, in order (docs/SPARK.md explains each choice):
1. expands the macros of calendar.sql into each call; three get Spark bodies (SPARK_MACROS):
   `local_of` and `utc_start` use DuckDB's ICU time zone functions (-> `from_utc_timestamp`
   / `to_utc_timestamp`), and `user_key` is the platform and user id string itself instead
   of DuckDB's MD5 number (a key is only joined and sorted on, never served);
2. turns `getvariable('x')` into a bound Spark parameter `:x`, cast to the value's type;
3. types every expression (sqlglot's qualify + annotate_types, with the schema of the Spark
   views read so far), so that DuckDB-only semantics can be fixed by type:
   DATE - DATE is a day count in DuckDB but an interval in Spark (-> datediff);
   len(list) -> size (sqlglot writes LENGTH); isodow -> weekday + 1 (sqlglot's
   `dayofweek % 7 + 1` is off by one day); epoch_us -> unix_micros; to_hours / to_days ->
   make_dt_interval; CAST(unnest(x) AS T) -> explode(CAST(x AS ARRAY<T>)) (Spark does not
   nest a generator in an expression); TIMESTAMP -> TIMESTAMP_LTZ (Spark runs with the
   session time zone UTC, so an LTZ value behaves as DuckDB's naive UTC TIMESTAMP);
4. writes Spark SQL; the statement's target (CREATE ... AS / INSERT INTO) is returned
   separately, because the Spark engine registers each result as a cached temporary view.

This module needs sqlglot only, not Spark.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.transforms import eliminate_qualify

from etl.refresh import model_sql

# Column types per view, as Spark type strings ("date", "timestamp", "bigint", ...).
ViewSchemas = Mapping[str, Mapping[str, str]]

_MACRO = re.compile(
    r"CREATE OR REPLACE TEMP MACRO (\w+)\(([^)]*)\) AS\s+(.*?);", re.DOTALL | re.IGNORECASE
)
# Macros whose DuckDB bodies use ICU time zone functions, which sqlglot cannot translate
# exactly (DuckDB's timezone() flips between TIMESTAMP and TIMESTAMPTZ). Same meaning:
# local_of(ts) is the wall-clock time of the UTC instant ts in the reporting time zone;
# utc_start(local) is the UTC instant of a local wall-clock time.
SPARK_MACROS = {
    "local_of": (("ts",), "from_utc_timestamp(ts, getvariable('tz'))"),
    "utc_start": (("local_start",), "to_utc_timestamp(local_start, getvariable('tz'))"),
    # Spark joins and sorts the string itself: no MD5 to compute, no collision to argue.
    "user_key": (("platform", "user_id"), "platform || chr(31) || user_id"),
}


@dataclass(frozen=True)
class SparkStatement:
    """One translated statement: register the query's result as `target` (None: the query
    is a result to keep, e.g. a serving table), binding `params` by name."""

    target: str | None
    sql: str
    params: tuple[str, ...]


@cache
def macros() -> dict[str, tuple[tuple[str, ...], Any]]:
    """calendar.sql's macros (name -> parameters, body), Spark bodies where DuckDB's differ."""
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for name, params, body in _MACRO.findall(model_sql("calendar")["macros"]):
        found[name.lower()] = (tuple(p.strip() for p in params.split(",") if p.strip()), body)
    found.update(SPARK_MACROS)
    return {
        name: (params, sqlglot.parse_one(body, read="duckdb"))
        for name, (params, body) in found.items()
    }


def expand_macros(tree: exp.Expression) -> exp.Expression:
    """Replace every macro call by its body with the arguments substituted (nested too)."""
    known = macros()
    for _ in range(10):  # macros call macros; three levels deep at most today
        calls = [node for node in tree.find_all(exp.Anonymous) if str(node.this).lower() in known]
        if not calls:
            return tree
        for call in calls:
            params, body = known[str(call.this).lower()]
            args = dict(zip(params, call.expressions, strict=True))
            expanded = body.copy().transform(
                lambda node, args=args: (
                    args[node.name].copy()
                    if isinstance(node, exp.Column) and not node.table and node.name in args
                    else node
                )
            )
            call.replace(exp.Paren(this=expanded))
    raise ValueError("macro expansion did not terminate")


def value_type(value: Any) -> exp.DataType:
    """The SQL type a bound parameter is cast to, so expressions over it can be typed."""
    if isinstance(value, bool):
        return exp.DataType.build("BOOLEAN")
    if isinstance(value, int):
        return exp.DataType.build("BIGINT")
    if isinstance(value, dt.datetime):
        return exp.DataType.build("TIMESTAMP")
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return exp.DataType.build("ARRAY<VARCHAR>", dialect="duckdb")
        return exp.DataType.build("ARRAY<BIGINT>", dialect="duckdb")
    return exp.DataType.build("VARCHAR")


def bind_variables(tree: exp.Expression, variables: Mapping[str, Any]) -> set[str]:
    """getvariable('x') -> CAST(:x AS type); returns the names used."""
    used: set[str] = set()
    for node in list(tree.find_all(exp.Anonymous)):
        if str(node.this).lower() != "getvariable":
            continue
        name = node.expressions[0].name
        if name not in variables:
            raise KeyError(f"model SQL reads variable {name!r}, which the Spark engine lacks")
        used.add(name)
        node.replace(exp.Cast(this=exp.Placeholder(this=name), to=value_type(variables[name])))
    return used


def _type_is(node: Any, *kinds: Any) -> bool:
    kind = node.type
    return kind is not None and kind.this in kinds


def _fix_node(node: exp.Expression) -> exp.Expression:
    """One DuckDB-ism -> its Spark equivalent (see the module docstring)."""
    date = exp.DataType.Type.DATE
    if isinstance(node, exp.Sub) and _type_is(node.left, date) and _type_is(node.right, date):
        return exp.Anonymous(this="DATEDIFF", expressions=[node.left, node.right])
    if isinstance(node, exp.Length) and _type_is(node.this, exp.DataType.Type.ARRAY):
        return exp.ArraySize(this=node.this)
    if isinstance(node, exp.DayOfWeekIso):
        weekday = exp.Anonymous(this="WEEKDAY", expressions=[node.this])
        return exp.Paren(this=exp.Add(this=weekday, expression=exp.Literal.number(1)))
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        # DuckDB quantile_cont(x, q): exact, linear interpolation = Spark's percentile(x, q).
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])
    if isinstance(node, exp.ToDays):
        return exp.Anonymous(this="MAKE_DT_INTERVAL", expressions=[node.this])
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name == "epoch_us":
            return exp.Anonymous(this="UNIX_MICROS", expressions=node.expressions)
        if name == "to_hours":
            zero = exp.Literal.number(0)
            return exp.Anonymous(this="MAKE_DT_INTERVAL", expressions=[zero, *node.expressions])
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Unnest | exp.Explode):
        inner = node.this.expressions[0] if isinstance(node.this, exp.Unnest) else node.this.this
        array = exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[node.to], nested=True)
        return exp.Explode(this=exp.Cast(this=inner, to=array))
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.Count)
        and isinstance(node.this.this, exp.Distinct)
    ):
        # Spark has no DISTINCT window aggregates: count the window's set instead.
        values = node.this.this.expressions
        window = node.copy()
        window.set("this", exp.Anonymous(this="COLLECT_SET", expressions=values))
        return exp.ArraySize(this=window)
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMP:
        return exp.DataType.build("TIMESTAMPLTZ")
    return node


def unqualify_qualify(tree: exp.Expression) -> exp.Expression:
    """Drop table names from the columns a QUALIFY condition reads outside its window
    functions: sqlglot's eliminate_qualify moves them into a subquery (`_t`) but leaves
    `o.nth` pointing at the inner table."""
    for clause in tree.find_all(exp.Qualify):
        for column in list(clause.find_all(exp.Column)):
            if column.table and column.find_ancestor(exp.Window) is None:
                column.set("table", None)
    return tree


def _spark_type(spark_type: str) -> str:
    """A Spark type string as sqlglot reads it (intervals are only compared, never typed)."""
    return "INTERVAL" if spark_type.startswith("interval") else spark_type


def typed(query: Any, schemas: ViewSchemas) -> Any:
    """The query qualified and annotated with types, for the type-directed fixes."""
    schema: dict[str, object] = {
        view: {col: _spark_type(kind) for col, kind in cols.items()}
        for view, cols in schemas.items()
    }
    qualified = qualify(
        query,
        schema=schema,
        dialect="spark",
        validate_qualify_columns=False,
        quote_identifiers=True,
        identify=True,
    )
    return annotate_types(qualified, schema=schema, dialect="spark")


def translate_query(
    query: Any, variables: Mapping[str, Any], schemas: ViewSchemas
) -> tuple[str, tuple[str, ...]]:
    """One DuckDB query -> (Spark SQL, names of the parameters it binds)."""
    query = expand_macros(query)
    used = bind_variables(query, variables)
    # Spark has no QUALIFY: rewrite it as a subquery before columns are qualified.
    query = typed(unqualify_qualify(query).transform(eliminate_qualify), schemas)
    for _ in range(5):  # a replacement's own arguments may need fixing too
        before = query.sql(dialect="spark")
        query = query.transform(_fix_node)
        if query.sql(dialect="spark") == before:
            break
    return query.sql(dialect="spark"), tuple(sorted(used))


def statement_parts(statement: exp.Expression) -> tuple[str | None, exp.Expression | None]:
    """(target, query) of a statement; (None, None) for statements Spark skips (macros)."""
    if isinstance(statement, exp.Create):
        if str(statement.args.get("kind", "")).upper() == "MACRO":
            return None, None
        return statement.this.name, statement.expression
    if isinstance(statement, exp.Insert):
        return statement.this.name, statement.expression
    if isinstance(statement, exp.Query):
        return None, statement
    raise ValueError(f"the Spark engine cannot run {statement.key.upper()} statements")


def parse_section(model: str, section: str) -> list[Any]:
    """The statements of one section of etl/models/<model>.sql, as DuckDB ASTs."""
    return [s for s in sqlglot.parse(model_sql(model)[section], read="duckdb") if s is not None]


def translate_statement(
    statement: exp.Expression, variables: Mapping[str, Any], schemas: ViewSchemas
) -> SparkStatement | None:
    target, query = statement_parts(statement)
    if query is None:
        return None
    sql, params = translate_query(query, variables, schemas)
    return SparkStatement(target=target, sql=sql, params=params)


def translate_section(
    model: str, section: str, variables: Mapping[str, Any], schemas: ViewSchemas
) -> Sequence[SparkStatement]:
    """Every statement of a section, translated with the schemas known now (statements
    that read views made by earlier statements of the same section need them first:
    use parse_section + translate_statement then)."""
    translated = (translate_statement(s, variables, schemas) for s in parse_section(model, section))
    return [s for s in translated if s is not None]
