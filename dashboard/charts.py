"""Every chart of the dashboard by name: picks the snapshot tables a chart needs and calls its
pure builder. The app's callbacks, `uptake export` and `uptake report` share this list, so a
chart looks the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import plotly.graph_objects as go
import polars as pl

from dashboard.data import Snapshot
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
from dashboard.figures.common import Definitions, platform_colours, selected


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


@dataclass(frozen=True)
class ChartInputs:
    """A snapshot plus what does not live in it: colour settings and reported milestones."""

    snapshot: Snapshot
    colour_overrides: Mapping[str, str | None] = field(default_factory=dict)
    reported: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def definitions(self) -> Definitions:
        return Definitions.from_manifest(self.snapshot.manifest)

    @property
    def colours(self) -> dict[str, str]:
        manifest_colours = self.snapshot.manifest.get("colours") or {}
        overrides = {**manifest_colours, **{k: v for k, v in self.colour_overrides.items() if v}}
        return platform_colours(self.snapshot.platform_names, overrides)

    def platforms(self, options: ViewOptions) -> list[str]:
        return selected(options.platforms, self.snapshot.platform_names)

    def mode(self, options: ViewOptions) -> str:
        return options.retention_mode or self.definitions.retention_mode

    def table(self, name: str) -> pl.DataFrame:
        return self.snapshot.table(name)


def _launch_race(i: ChartInputs, o: ViewOptions) -> go.Figure:
    reported = (
        i.reported.filter(pl.col("platform").is_in(list(o.reported)))
        if o.reported and not i.reported.is_empty()
        else None
    )
    return launch_race.build_launch_race(
        i.table("signups"),
        i.table("milestones"),
        i.platforms(o),
        i.definitions,
        i.colours,
        log=o.log,
        reported=reported,
    )


def _milestones(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return milestones.build_milestone_dots(
        i.table("milestones"),
        i.table("platforms"),
        i.platforms(o),
        i.definitions,
        i.colours,
        log=o.log,
    )


def _velocity(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return velocity.build_velocity(
        i.table("signups"), i.platforms(o), i.definitions, i.colours, grain=o.grain, log=o.log
    )


def _hour_of_day(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return velocity.build_hour_of_day(i.table("signups"), i.platforms(o), i.definitions, i.colours)


def _active_users(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_active_users(
        i.table("active"), i.table("platforms"), i.platforms(o), i.definitions, i.colours, log=o.log
    )


def _stickiness(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_stickiness(
        i.table("active"), i.table("platforms"), i.platforms(o), i.definitions, i.colours
    )


def _lifecycle(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return engagement.build_lifecycle(
        i.table("lifecycle"), i.platforms(o), i.definitions, grain=o.lifecycle_grain
    )


def _retention_heatmap(i: ChartInputs, o: ViewOptions) -> go.Figure:
    chosen = i.platforms(o)
    platform = o.heatmap_platform if o.heatmap_platform in chosen else None
    return retention.build_retention_heatmap(
        i.table("retention"),
        platform or (chosen[0] if chosen else ""),
        i.definitions,
        grain=o.cohort_grain,
        mode=i.mode(o),
    )


def _retention_curves(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return retention.build_retention_curves(
        i.table("retention"),
        i.platforms(o),
        i.definitions,
        i.colours,
        grain=o.cohort_grain,
        mode=i.mode(o),
    )


def _forecast(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return forecasts.build_forecast(
        i.table("signups"),
        i.table("fits"),
        i.table("forecasts"),
        i.table("platforms"),
        i.platforms(o),
        definitions=i.definitions,
        colours=i.colours,
        log=o.log,
    )


def _channel_mix(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_channel_mix(i.table("channels"), i.platforms(o), i.definitions)


def _overlap(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_overlap(i.table("overlap"), i.platforms(o), i.definitions, i.colours)


def _migration_share(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_migration_share(
        i.table("migration"), i.platforms(o), i.definitions, i.colours
    )


def _migrant_activity(i: ChartInputs, o: ViewOptions) -> go.Figure:
    return migration.build_migrant_activity(
        i.table("migrant_activity"), i.platforms(o), i.definitions
    )


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
    return CHARTS[name](inputs, options)
