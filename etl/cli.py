"""`uptake`: one command, each subcommand a thin shell over a library function.

Each subcommand is a pair, side by side: `add_<name>` declares its options, `cmd_<name>`
parses them, calls one library function and prints what it returns.

Commands that show data (serve, export, report, demo) live in the dashboard package and
join this parser through the `uptake.commands` entry point, so the ETL never imports them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from etl.config import Settings, load_settings
from etl.errors import UptakeError, UsageError

Handler = Callable[[argparse.Namespace, Settings], int]
log = logging.getLogger("uptake")


def now_utc() -> datetime:
    """The run clock: read once, at the edge, and passed down (UTC, naive)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise UsageError(f"--map {pair!r} is not of the form column=source_column")
        mapping[target.strip()] = source.strip()
    return mapping


def add_ingest(sub: Any) -> None:
    """`uptake ingest`: its options, handled by cmd_ingest below."""
    ingest = sub.add_parser("ingest", help="load files or folders now, then refresh and publish")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders")
    ingest.add_argument("--platform", help="platform name for files without a platform column")
    ingest.add_argument(
        "--format",
        choices=["csv", "parquet", "ndjson"],
        help="input format (default: detected from the name and content)",
    )
    ingest.add_argument(
        "--map",
        action="append",
        metavar="COL=SRC",
        help="read column COL from the file's column SRC (repeatable), e.g. user_id=distinct_id",
    )
    ingest.add_argument("--tz", help="timezone of naive timestamps (default: source_timezone)")
    ingest.add_argument(
        "--adapter",
        help="read an export of another shape: amplitude, mixpanel, posthog, segment or "
        "stackexchange (see --list-adapters)",
    )
    ingest.add_argument(
        "--mapping",
        metavar="FILE",
        help="mapping file (TOML): columns, constants, signup/deletion events, timezone, adapter",
    )
    ingest.add_argument(
        "--replace",
        action="store_true",
        help="load the files again even if loaded before: their earlier rows are removed first "
        "(to correct a load made with the wrong --tz, --platform, --map or adapter)",
    )
    ingest.add_argument(
        "--signups",
        metavar="first-seen[:COLUMN]",
        help="no signup events in these files: each user's signup is their first event "
        "(first-seen), or the time in COLUMN of the events (first-seen:user_creation_time); "
        "recorded for the files' platforms, so later runs derive new users the same way",
    )
    ingest.add_argument("--list-adapters", action="store_true", help="list adapters and exit")
    ingest.add_argument("--no-refresh", action="store_true", help="load only; do not publish")
    ingest.add_argument("--json", action="store_true", help="print a JSON summary")
    ingest.set_defaults(handler=cmd_ingest)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from etl.adapters import adapters
    from etl.ingest import IngestOptions
    from etl.mapping import load_mapping, timezone_mapping
    from etl.pipeline import ingest_and_publish, ingest_only

    if args.list_adapters:
        for name, (_, description) in adapters().items():
            print(f"{name:<16} {description}")
        return 0
    if not args.paths:
        raise UsageError("ingest needs at least one PATH (a file or a folder)")
    spec = load_mapping(Path(args.mapping)) if args.mapping else None
    if spec is not None and args.map:
        spec = replace(spec, columns={**spec.columns, **_parse_mapping(args.map)})
    if spec is None and args.adapter and args.tz:
        spec = timezone_mapping(args.tz)
    options = IngestOptions(
        platform=args.platform,
        format=args.format,
        mapping=_parse_mapping(args.map or []),
        source_timezone=args.tz or (spec.timezone if spec else settings.source_timezone),
        adapter=args.adapter,
        replace=args.replace,
        signups=args.signups,
    )
    ingest = ingest_only if args.no_refresh else ingest_and_publish
    paths = [Path(p) for p in args.paths]
    result = ingest(settings, paths, options, now_utc(), mapping=spec)
    return _report(args, result.summary(), result.exit_code)


def report_writer(path: str | None) -> Callable[[Settings], None] | None:
    """`--report PATH`: the one-file report, written by the dashboard package (found through
    the `uptake.reporters` entry point, so the ETL does not import it)."""
    if not path:
        return None
    found = list(entry_points(group="uptake.reporters"))
    if not found:
        raise UsageError("--report needs the dashboard package (pip install -e .)")
    build = found[0].load()
    target = Path(path)
    if target.suffix.lower() not in (".html", ".pdf"):
        raise UsageError(f"--report {path!r} must end in .html or .pdf")

    def write(settings: Settings) -> None:
        build(settings, target)

    return write


def add_run(sub: Any) -> None:
    """`uptake run`: its options, handled by cmd_run below."""
    run = sub.add_parser("run", help="one ETL pass: ingest the inbox, refresh, publish")
    run.add_argument("--json", action="store_true", help="print a JSON summary")
    run.add_argument("--report", metavar="FILE", help="then write the report (.html or .pdf)")
    run.add_argument(
        "--keep-raw-days",
        type=int,
        metavar="N",
        help="compact raw events older than N days once aggregated (metrics are kept)",
    )
    run.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="what computes the models: duckdb (default; incremental, in the warehouse) or "
        "spark (ingest into the warehouse, export it to the lake, rebuild every model from "
        "the lake with Apache Spark; needs pip install -e '.[spark]' and Java 17)",
    )
    run.add_argument(
        "--master",
        metavar="URL",
        help="Spark master with --engine spark (default local[2]): local[N], "
        "spark://HOST:7077, yarn, k8s://...",
    )
    run.add_argument(
        "--lake",
        metavar="PATH",
        help="the Parquet data lake with --engine spark (default HOME/lake); a local path is "
        "rewritten from the warehouse on each pass, a URI (s3a://, hdfs://, ...) is only read",
    )
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    write_report = report_writer(args.report)
    if args.engine == "spark":
        return _run_spark(args, settings, write_report)
    from etl.pipeline import run_pass

    if args.master or args.lake:
        raise UsageError("--master and --lake need --engine spark")
    result = run_pass(settings, now=now_utc(), trigger="run")
    if write_report is not None:
        write_report(settings)  # also after rejected input: the report says what loaded
    return _report(args, result.summary(), result.exit_code)


def _run_spark(
    args: argparse.Namespace, settings: Settings, write_report: Callable[[Settings], None] | None
) -> int:
    """`run --engine spark` (docs/SPARK.md)."""
    from etl.spark_pass import SPARK_MASTER, run_spark, spark_summary

    if args.keep_raw_days is not None:
        raise UsageError("--keep-raw-days applies to the DuckDB engine's pass, not --engine spark")
    master = args.master or SPARK_MASTER
    result = run_spark(settings, now_utc(), master=master, lake=args.lake)
    if write_report is not None and result.snapshot is not None:
        write_report(settings)
    return _report(args, spark_summary(result, master), result.exit_code)


def add_schedule(sub: Any) -> None:
    """`uptake schedule`: its options, handled by cmd_schedule below."""
    schedule = sub.add_parser("schedule", help="run ETL passes on a schedule until stopped")
    cadence = schedule.add_mutually_exclusive_group(required=True)
    cadence.add_argument("--every", help="interval between passes, e.g. 30s, 5m, 1h")
    cadence.add_argument("--cron", help="cron expression in UTC, e.g. '*/15 * * * *'")
    schedule.add_argument("--max-runs", type=int, help="stop after this many passes")
    schedule.add_argument("--log-json", action="store_true", help="log one JSON object a line")
    schedule.add_argument(
        "--report", metavar="FILE", help="rewrite this report (.html or .pdf) after each pass"
    )
    schedule.set_defaults(handler=cmd_schedule)


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from etl.pipeline import run_pass
    from etl.schedule import Cadence, Scheduler, configure_logging, install_signal_handlers

    cadence = Cadence.parse(args.every, args.cron)
    configure_logging(json_lines=args.log_json)
    write_report = report_writer(args.report)

    def one_pass(s: Settings, now: datetime) -> Any:
        result = run_pass(s, now=now, trigger="schedule")
        if write_report is not None and result.status != "noop":
            write_report(s)
        return result

    scheduler = Scheduler(
        settings,
        cadence,
        run_pass=one_pass,
        clock=now_utc,
        max_passes=args.max_runs,
    )
    install_signal_handlers(scheduler.stop)
    return scheduler.loop()


def add_forget(sub: Any) -> None:
    """`uptake forget`: its options, handled by cmd_forget below."""
    forget = sub.add_parser(
        "forget", help="erase users everywhere (warehouse, quarantine, archive) and restate"
    )
    forget.add_argument("--platform", required=True, help="the platform the users belong to")
    forget.add_argument("--user", action="append", metavar="U", help="a user id (repeatable)")
    forget.add_argument("--users-file", metavar="FILE", help="a file of user ids, one a line")
    forget.add_argument("--json", action="store_true", help="print a JSON summary")
    forget.set_defaults(handler=cmd_forget)


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from etl.forget import forget_users, read_users_file

    users = list(args.user or [])
    if args.users_file:
        users += read_users_file(Path(args.users_file))
    if not users:
        raise UsageError("forget needs --user U (repeatable) or --users-file FILE")
    result = forget_users(settings, args.platform, users, now=now_utc())
    return _report(args, result.summary(), 0)


def add_forecast(sub: Any) -> None:
    """`uptake forecast`: its options, handled by cmd_forecast below."""
    forecast = sub.add_parser("forecast", help="growth-model forecasts of the next milestones")
    forecast.add_argument("--platform", help="one platform (default: all)")
    forecast.add_argument("--json", action="store_true", help="print JSON")
    forecast.set_defaults(handler=cmd_forecast)


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    from etl.fits import format_forecasts
    from etl.snapshot import current_snapshot, read_table

    snapshot = current_snapshot(settings)
    if snapshot is None:
        raise UsageError(f"no snapshot published under {settings.serving}; run `uptake run` first")
    fits, forecasts = read_table(snapshot, "fits"), read_table(snapshot, "forecasts")
    if args.json:
        rows = forecasts.to_pylist()
        if args.platform:
            rows = [r for r in rows if r["platform"] == args.platform]
        print(json.dumps({"snapshot": snapshot.id, "forecasts": rows}, default=str))
    else:
        print(format_forecasts(fits, forecasts, args.platform))
    return 0


def add_status(sub: Any) -> None:
    """`uptake status`: its options, handled by cmd_status below."""
    status = sub.add_parser("status", help="warehouse size, platforms, last runs, freshness")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from etl.status import format_status, warehouse_status

    status = warehouse_status(settings, now=now_utc())
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        print(format_status(status))
    return 0


def add_simulate(sub: Any) -> None:
    """`uptake simulate`: its options, handled by cmd_simulate below."""
    simulate = sub.add_parser("simulate", help="write realistic event files into the inbox")
    simulate.add_argument("--preset", required=True, choices=["viral", "steady", "incumbent"])
    simulate.add_argument("--scale", type=float, default=1.0, help="multiplies users and events")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (same seed, same files)")
    simulate.add_argument("--days", type=float, default=30.0, help="days observed after launch")
    simulate.add_argument("--platform", help="platform name (default: the preset's name)")
    simulate.add_argument(
        "--from", dest="from_platform", help="draw part of the signups from this platform's users"
    )
    simulate.add_argument(
        "--dirty", type=float, default=0.0, help="share of faulty rows to mix in (e.g. 0.01)"
    )
    simulate.add_argument(
        "--compact",
        action="store_true",
        help="zstd-compress the id columns: files about half the size, ~15-20%% more CPU",
    )
    simulate.add_argument("--quiet", action="store_true", help="no progress bars")
    simulate.add_argument("--json", action="store_true", help="print a JSON summary")
    simulate.set_defaults(handler=cmd_simulate)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from etl.simulate import SimulationOptions, simulate

    options = SimulationOptions(
        preset=args.preset,
        scale=args.scale,
        seed=args.seed,
        days=args.days,
        platform=args.platform,
        from_platform=args.from_platform,
        dirty=args.dirty,
        compact=args.compact,
    )
    result = simulate(options, settings.inbox, progress=not args.quiet)
    return _report(args, result.summary(), 0)


def _report(args: argparse.Namespace, summary: dict[str, Any], code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps(summary, default=str))
    else:
        print(summary.get("line") or json.dumps(summary, default=str))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uptake",
        description="Growth and adoption analytics: ingest events, compute metrics, "
        "publish snapshots, serve a dashboard.",
    )
    parser.add_argument(
        "--home",
        help="working folder (inbox/, archive/, warehouse.duckdb, serving/); "
        "default $UPTAKE_HOME or ./data",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log each step and file (to stderr)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for add in (
        add_ingest,
        add_run,
        add_schedule,
        add_forget,
        add_forecast,
        add_status,
        add_simulate,
    ):
        add(sub)
    for plugin in entry_points(group="uptake.commands"):
        plugin.load()(sub)
    return parser


# Flags that override a setting of the same name (defaults < file < env < flags).
SETTING_FLAGS = ("keep_raw_days",)


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key, None) for key in SETTING_FLAGS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings(args.home, overrides=_setting_flags(args))
        handler: Handler = args.handler
        return handler(args, settings)
    except UptakeError as exc:
        if args.debug:
            raise
        print(f"uptake: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("uptake: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the edge turns any bug into exit code 4
        if args.debug:
            raise
        print(
            f"uptake: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
            "traceback)",
            file=sys.stderr,
        )
        return 4


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
