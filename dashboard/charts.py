"""Every chart of the dashboard by name: picks the snapshot tables a chart needs and calls its
pure builder. The app's callbacks, `uptake export` and `uptake report` share this list, so a
chart looks the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import plotly.graph_objects as go
import polars as pl

from dashboard.figures import (
    engagement,
    forecasts,
    health,
    launch_race,
    migration,
    milestones,
    retention,
    velocity,
)
from dashboard.figures.common import Definitions, data_ends, platform_colours, selected
from etl.snapshot import Snapshot


@dataclass(frozen=True)
class ViewOptions:
    """What the user chose to see; the same options drive the app, export and report."""

    platforms: tuple[str, ...] = ()  # empty: every platform of the snapshot
    log: bool = True
    reported: tuple[str, ...] = ()  # reported platforms to overlay on the launch race
    retention_mode: str | None = None  # None: the snapshot's definition
    grain: str = "hour"  # velocity bucket
    cohort_grain: str = "day"
    lifecycle_grain: str = "day"
    heatmap_platform: str | None = None  # None: the first chosen platform
    window_hours: float | None = None  # only the first N hours after each platform's t0
    channel_mode: str = "count"  # channel mix: "count" (signups) or "share" (of the day)


@dataclass(frozen=True)
class ChartInputs:
    """A snapshot plus what does not live in it: colour settings and reported milestones."""

    snapshot: Snapshot
    colour_overrides: Mapping[str, str | None] = field(default_factory=dict)
    reported: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def definitions(self) -> Definitions:
        return self.snapshot.memo(("definitions",), self._definitions)

    def _definitions(self) -> Definitions:
        definitions, manifest_id = self.snapshot.definitions, self.snapshot.manifest.get("id")
        return Definitions(
            timezone=str(definitions.get("timezone") or "UTC"),
            week_start=str(definitions.get("week_start") or "monday"),
            retention_mode=str(definitions.get("retention_mode") or "on"),
            watermark=self.snapshot.watermark,
            snapshot_id=str(manifest_id) if manifest_id else None,
        )

    def definitions_for(self, options: ViewOptions) -> Definitions:
        """The definitions with the view's time range, for the caption of a windowed chart,
        and which long histories the default view leaves out."""
        hidden = self.hidden_platforms(options)
        if options.window_hours is None and not hidden:
            return self.definitions
        span = window_label(options.window_hours) if options.window_hours else "all data"
        if hidden:
            span += "; " + hidden_note(hidden, self.history_days)
        return replace(self.definitions, time_range=span)

    @property
    def history_days(self) -> dict[str, float]:
        """Platform -> days from its t0 to its last event."""
        return self.snapshot.memo(("history_days",), self._history_days)

    def _history_days(self) -> dict[str, float]:
        table = self.snapshot.table("platforms")
        if table.is_empty():
            return {}
        spans = table.select(
            "platform",
            days=(pl.col("last_event") - pl.col("t0")).dt.total_seconds() / 86400.0,
        )
        return {str(p): float(d or 0.0) for p, d in spans.iter_rows()}

    def hidden_platforms(self, options: ViewOptions) -> list[str]:
        """The long histories the default view ("all platforms") leaves out, so that the
        launches are compared over a span they share; none once platforms are chosen."""
        if options.platforms:
            return []
        return long_histories(self.history_days)

    @property
    def colours(self) -> dict[str, str]:
        overrides = tuple(sorted((k, v) for k, v in self.colour_overrides.items() if v))
        return self.snapshot.memo(("colours", overrides), lambda: self._colours(dict(overrides)))

    def _colours(self, overrides: dict[str, str]) -> dict[str, str]:
        manifest_colours = self.snapshot.manifest.get("colours") or {}
        return platform_colours(self.snapshot.platform_names, {**manifest_colours, **overrides})

    def platforms(self, options: ViewOptions) -> list[str]:
        """The chosen platforms; with none chosen, every platform but the long histories."""
        hidden = set(self.hidden_platforms(options))
        return [
            p for p in selected(options.platforms, self.snapshot.platform_names) if p not in hidden
        ]

    def pair_platforms(self, options: ViewOptions) -> list[str]:
        """The platforms of the migration charts: the ones shown and the long histories
        (people move from an incumbent to a launch; no time axis there to crush)."""
        hidden = set(self.hidden_platforms(options))
        return [
            p for p in self.snapshot.platform_names if p in hidden or p in self.platforms(options)
        ]

    def platforms_in(self, name: str, options: ViewOptions) -> frozenset[str]:
        """The platforms with rows in table `name` inside the view's time range."""
        key = ("platforms_in", name, options.window_hours)
        return self.snapshot.memo(
            key, lambda: frozenset(self.table(name, options)["platform"].unique().to_list())
        )

    def heatmap_platform(self, options: ViewOptions) -> str:
        """The heatmap's platform: the one picked for it (a long history too), else the first
        platform shown."""
        chosen = self.platforms(options)
        if options.heatmap_platform in (*chosen, *self.hidden_platforms(options)):
            return str(options.heatmap_platform)
        return chosen[0] if chosen else ""

    def mode(self, options: ViewOptions) -> str:
        return options.retention_mode or self.definitions.retention_mode

    def table(self, name: str, options: ViewOptions | None = None) -> pl.DataFrame:
        """A snapshot table; with `options`, only its rows inside the view's time range."""
        hours = options.window_hours if options is not None else None
        if hours is None or name not in WINDOW_COLUMNS:
            return self.snapshot.table(name)
        return self.snapshot.memo(
            ("window", name, hours),
            lambda: within_window(
                self.snapshot.table(name), self.snapshot.table("platforms"), name, hours
            ),
        )


# The time column of each table that the time range restricts, and how it is measured:
# "elapsed" is seconds since t0; a datetime or date column is compared with t0 + window.
# Other tables (overlap, fits, forecasts, runs, migrant activity) are not restricted.
WINDOW_COLUMNS = {
    "signups": "elapsed_s",
    "milestones": "elapsed_s",
    "active": "day",
    "lifecycle": "bucket_start",
    "retention": "cohort_start",
    "activation": "cohort_day",
    "channels": "bucket_start",
    "migration": "day",
}


# A platform whose history is over a year and over LONG_HISTORY_RATIO times the shortest
# one (a ten-year incumbent beside month-old launches) would crush the launches on every
# time axis: the default view leaves it out, and choosing it under Platforms opts in.
LONG_HISTORY_DAYS = 365.0
LONG_HISTORY_RATIO = 10.0


def long_histories(history_days: Mapping[str, float]) -> list[str]:
    """The platforms of `history_days` (platform -> days of history) that are long
    histories beside the others, in sorted order."""
    if len(history_days) < 2:
        return []
    shortest = min(history_days.values())
    return sorted(
        p
        for p, days in history_days.items()
        if days > LONG_HISTORY_DAYS and days > LONG_HISTORY_RATIO * max(shortest, 1.0)
    )


def hidden_note(hidden: Sequence[str], history_days: Mapping[str, float]) -> str:
    """'incumbent (10.8 years of history) not shown: choose it under Platforms'."""
    names = ", ".join(
        f"{p} ({history_days.get(p, 0.0) / 365.25:.1f} years of history)" for p in hidden
    )
    return f"{names} not shown beside the launches: choose it under Platforms to compare"


BUCKET_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}


def window_label(hours: float) -> str:
    """72 -> 'first 3 days after each platform's t0'."""
    span = f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
    return f"first {span} after each platform's t0"


def within_window(
    frame: pl.DataFrame, platforms: pl.DataFrame, name: str, hours: float
) -> pl.DataFrame:
    """Rows of table `name` in the first `hours` after their platform's t0. A milestone
    reached later stays listed but as not reached (within the window)."""
    column = WINDOW_COLUMNS[name]
    if name == "milestones":
        late = pl.col("elapsed_s") > hours * 3600
        return frame.with_columns(
            reached_at=pl.when(late).then(None).otherwise(pl.col("reached_at")),
            elapsed_s=pl.when(late).then(None).otherwise(pl.col("elapsed_s")),
        )
    if column == "elapsed_s":  # buckets that end inside the window
        length = pl.col("grain").replace_strict(BUCKET_SECONDS, default=0.0)
        return frame.filter(pl.col("elapsed_s") + length <= hours * 3600)
    ends = platforms.select(
        "platform", _window_end=pl.col("t0") + pl.duration(microseconds=int(hours * 3.6e9))
    )
    return (
        frame.join(ends, on="platform", how="left")
        .filter(pl.col(column).cast(pl.Datetime("us")) < pl.col("_window_end"))
        .drop("_window_end")
    )


def _launch_race(i: ChartInputs, o: ViewOptions) -> go.Figure:
    reported = (
        i.reported.filter(pl.col("platform").is_in(list(o.reported)))
        if o.reported and not i.reported.is_empty()
        else None
    )
    return launch_race.build_launch_race(
        i.table("signups", o),
        i.table("milestones", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
        log=o.log,
        reported=reported,
    )


def _milestones(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return milestones.build_milestone_dots(
        i.table("milestones", o),
        i.table("platforms", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
        log=o.log,
    )


def _velocity(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return velocity.build_velocity(
        i.table("signups", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
        grain=o.grain,
        log=o.log,
    )


def _hour_of_day(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return velocity.build_hour_of_day(
        i.table("signups", o), i.platforms(o), i.definitions_for(o), i.colours
    )


def _active_users(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_active_users(
        i.table("active", o),
        i.table("platforms", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
        log=o.log,
    )


def _stickiness(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_stickiness(
        i.table("active", o),
        i.table("platforms", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
    )


def _lifecycle(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_lifecycle(
        i.table("lifecycle", o),
        i.platforms(o),
        i.definitions_for(o),
        grain=o.lifecycle_grain,
        ends=data_ends(i.table("platforms"), i.definitions.watermark),
    )


def _retention_heatmap(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return retention.build_retention_heatmap(
        i.table("retention", o),
        i.heatmap_platform(o),
        i.definitions_for(o),
        grain=o.cohort_grain,
        mode=i.mode(o),
    )


def _retention_curves(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return retention.build_retention_curves(
        i.table("retention", o),
        i.platforms(o),
        i.definitions_for(o),
        i.colours,
        grain=o.cohort_grain,
        mode=i.mode(o),
    )


def _forecast(i: ChartInputs, o: ViewOptions) -> go.Figure:
    # The fits are made on each platform's whole history when the snapshot is published: a
    # measured curve cut to the time range would contradict the fitted one. The chart shows
    # all the data and its caption says the range does not apply.
    return forecasts.build_forecast(
        i.table("signups"),
        i.table("fits"),
        i.table("forecasts"),
        i.table("platforms"),
        i.platforms(o),
        definitions=_range_not_applied(i, o),
        colours=i.colours,
        log=o.log,
    )


def _channel_mix(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_channel_mix(
        i.table("channels", o), i.platforms(o), i.definitions_for(o), mode=o.channel_mode
    )


def _overlap(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_overlap(
        i.table("overlap"), i.pair_platforms(o), _range_not_applied(i, o), i.colours
    )


def _migration_share(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_migration_share(
        i.table("migration", o), i.pair_platforms(o), i.definitions_for(o), i.colours
    )


def _migrant_activity(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_migrant_activity(
        i.table("migrant_activity"), i.pair_platforms(o), _range_not_applied(i, o)
    )


def _range_not_applied(i: ChartInputs, o: ViewOptions) -> Definitions:
    """The definitions of a chart the time range does not restrict (totals per pair of
    platforms; days around each migrant's own move; fits of the whole history), saying so
    when a range is chosen."""
    if o.window_hours is None:
        return i.definitions_for(o)
    return replace(i.definitions, time_range="all data (this chart is not restricted by it)")


def _runs(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return health.build_runs(i.table("runs"), i.definitions)


CHARTS: dict[str, Callable[[ChartInputs, ViewOptions], go.Figure]] = {
    "launch-race": _launch_race,
    "milestones": _milestones,
    "velocity": _velocity,
    "hour-of-day": _hour_of_day,
    "active-users": _active_users,
    "stickiness": _stickiness,
    "lifecycle": _lifecycle,
    "retention-heatmap": _retention_heatmap,
    "retention-curves": _retention_curves,
    "forecast": _forecast,
    "channel-mix": _channel_mix,
    "overlap": _overlap,
    "migration-share": _migration_share,
    "migrant-activity": _migrant_activity,
    "runs": _runs,
}


def build_chart(name: str, inputs: ChartInputs, options: ViewOptions) -> go.Figure:
    """The named chart for this snapshot and view; KeyError names the valid charts."""
    if name not in CHARTS:
        raise KeyError(f"unknown chart {name!r}; charts: {', '.join(CHARTS)}")
    fig = CHARTS[name](inputs, options)
    missing = missing_platforms(name, inputs, options)
    if missing:
        note_missing(fig, missing)
    return fig


# The table each per-platform chart draws, to say which chosen platforms it cannot show.
CHART_TABLES = {
    "launch-race": "signups",
    "velocity": "signups",
    "hour-of-day": "signups",
    "active-users": "active",
    "stickiness": "active",
    "lifecycle": "lifecycle",
    "retention-curves": "retention",
    "channel-mix": "channels",
}


def missing_platforms(name: str, inputs: ChartInputs, options: ViewOptions) -> dict[str, str]:
    """Chosen platforms a chart has no rows for -> why: none in the time range (the data
    starts later), or none at all."""
    table = CHART_TABLES.get(name)
    if table is None:
        return {}
    shown = inputs.platforms_in(table, options)
    every = inputs.platforms_in(table, ViewOptions())
    return {
        p: "no data in this time range" if p in every else "no data"
        for p in inputs.platforms(options)
        if p not in shown
    }


def note_missing(fig: go.Figure, missing: Mapping[str, str]) -> None:
    """Say under the chart which chosen platforms it leaves out, and why."""
    text = "; ".join(f"{p}: {why}" for p, why in missing.items())
    for annotation in fig.layout.annotations:
        if annotation.name == "caption":
            annotation.text = f"{annotation.text}<br>Not drawn: {text}"
            return
