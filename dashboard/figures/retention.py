"""Retention by signup cohort: a cohort heatmap for one platform and average retention
curves compared across platforms, in "on" or "on or after" mode. Cells not observable yet
are blank, never 0; averages include only cohorts that reached the period."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.common import (
    RETENTION_MODE_LABELS,
    Definitions,
    caption,
    colour_of,
    empty_figure,
    new_figure,
    style_figure,
    trace,
)

HEATMAP_TITLE = "Retention by signup cohort"
MAX_HEATMAP_ROWS = 40  # rows a reader can take in: the heatmap is at most about 960 px tall
HEATMAP_ROW_PX = 18
CURVES_TITLE = "Retention curves"
MODE_COLUMNS = {"on": "retained", "on_or_after": "retained_or_after"}


def _definition(grain: str, mode: str) -> str:
    label = RETENTION_MODE_LABELS.get(mode, mode)
    what = (
        f"active in {grain} N after signup"
        if mode == "on"
        else f"active in {grain} N or any later {grain}"
    )
    return (
        f"Retention {label}: share of a signup cohort ({grain} cohorts) {what}; "
        "blank: not observable yet"
    )


def cohort_shares(retention: pl.DataFrame, platform: str, grain: str, mode: str) -> pl.DataFrame:
    """cohort_start, period, cohort_size, share (null when not observable)."""
    column = MODE_COLUMNS[mode]
    return (
        retention.filter((pl.col("platform") == platform) & (pl.col("cohort_grain") == grain))
        .with_columns(
            share=pl.when(pl.col("observable") & (pl.col("cohort_size") > 0))
            .then(pl.col(column) / pl.col("cohort_size"))
            .otherwise(None)
        )
        .sort("cohort_start", "period")
    )


def average_curve(retention: pl.DataFrame, platform: str, grain: str, mode: str) -> pl.DataFrame:
    """Per period: retained users / cohort users over the cohorts that reached the period."""
    column = MODE_COLUMNS[mode]
    return (
        cohort_shares(retention, platform, grain, mode)
        .filter(pl.col("observable"))
        .group_by("period")
        .agg(
            share=pl.col(column).sum() / pl.col("cohort_size").sum(),
            cohorts=pl.len(),
        )
        .sort("period")
    )


@dataclass(frozen=True)
class HeatmapRows:
    """Which cohorts a heatmap draws: a readable number of rows, whatever the history."""

    grain: str  # the cohort grain drawn (weeks when the asked grain has too many cohorts)
    cohorts: list[datetime]  # the cohort starts drawn, oldest first
    total: int  # cohorts of that grain in the view
    note: str  # what was coarsened or left out, for the subtitle ("" when nothing)


def heatmap_rows(
    retention: pl.DataFrame, platform: str, grain: str, max_rows: int = MAX_HEATMAP_ROWS
) -> HeatmapRows:
    """At most `max_rows` cohorts: a long history of hour or day cohorts is drawn in week
    cohorts (when the snapshot has them), and only the latest `max_rows` of those."""
    own = retention.filter(pl.col("platform") == platform)
    starts = _cohort_starts(own, grain)
    notes = []
    if len(starts) > max_rows and grain != "week":
        weekly = _cohort_starts(own, "week")
        if weekly:
            notes.append(f"{len(starts):,} {grain} cohorts drawn as week cohorts")
            grain, starts = "week", weekly
    total = len(starts)
    if total > max_rows:
        starts = starts[-max_rows:]
        notes.append(
            f"the latest {max_rows} of {total:,} {grain} cohorts "
            "(choose a time range for the earlier ones)"
        )
    return HeatmapRows(grain, starts, total, "; ".join(notes))


def _cohort_starts(retention: pl.DataFrame, grain: str) -> list[datetime]:
    column = retention.filter(pl.col("cohort_grain") == grain)["cohort_start"]
    return list(column.unique().sort().to_list())


def build_retention_heatmap(
    retention: pl.DataFrame,
    platform: str,
    definitions: Definitions,
    *,
    grain: str = "day",
    mode: str = "on",
    max_periods: int = 30,
    max_rows: int = MAX_HEATMAP_ROWS,
) -> go.Figure:
    """Cohorts (rows) by periods since signup (columns), coloured by share retained; at
    most `max_rows` rows (see `heatmap_rows`), so the chart keeps a readable height."""
    rows = heatmap_rows(retention, platform, grain, max_rows)
    grain = rows.grain
    frame = cohort_shares(retention, platform, grain, mode).filter(
        (pl.col("period") <= max_periods) & pl.col("cohort_start").is_in(rows.cohorts)
    )
    title = f"{HEATMAP_TITLE}: {platform} ({RETENTION_MODE_LABELS.get(mode, mode)})"
    text = caption(_definition(grain, mode), _with_mode(definitions, mode), mode=True)
    if frame.is_empty():
        return empty_figure(f"No {grain} cohorts for {platform}", title=title, caption_text=text)
    cohorts = frame["cohort_start"].unique().sort().to_list()
    periods = list(range(max(frame["period"].to_list()) + 1))
    lookup = {(r["cohort_start"], r["period"]): r["share"] for r in frame.iter_rows(named=True)}
    sizes = dict(zip(frame["cohort_start"].to_list(), frame["cohort_size"].to_list(), strict=False))
    z = [[lookup.get((c, p)) for p in periods] for c in cohorts]
    labels = [f"{c:%Y-%m-%d %H:%M}" if grain == "hour" else f"{c:%Y-%m-%d}" for c in cohorts]
    fig = new_figure()
    fig.add_trace(
        trace(
            "heatmap",
            z=z,
            x=periods,
            y=labels,
            customdata=[[sizes[c]] * len(periods) for c in cohorts],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "Retained"}, "tickformat": ".0%"},
            hovertemplate="cohort %{y} (%{customdata:,} signups)<br>"
            + f"{grain} %{{x}}: %{{z:.1%}}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(
        title={"text": f"{grain.capitalize()}s since signup"}, dtick=1 if len(periods) <= 15 else 5
    )
    fig.update_yaxes(
        title={"text": f"Signup cohort ({grain}, {definitions.timezone})"}, autorange="reversed"
    )
    height = max(420, HEATMAP_ROW_PX * len(cohorts) + 220 + (24 if rows.note else 0))
    subtitle = rows.note[0].upper() + rows.note[1:] if rows.note else None
    return style_figure(fig, title=title, caption_text=text, subtitle=subtitle, height=height)


def build_retention_curves(
    retention: pl.DataFrame,
    platforms: Sequence[str],
    definitions: Definitions,
    colours: Mapping[str, str],
    *,
    grain: str = "day",
    mode: str = "on",
) -> go.Figure:
    """Average retention by period since signup, one line per platform."""
    fig = new_figure()
    for platform in platforms:
        curve = average_curve(retention, platform, grain, mode)
        fig.add_trace(
            trace(
                "scatter",
                x=curve["period"].to_list(),
                y=curve["share"].to_list(),
                customdata=curve["cohorts"].to_list(),
                mode="lines+markers",
                name=platform,
                line={"color": colour_of(platform, colours), "width": 2},
                hovertemplate=f"{platform}: %{{y:.1%}} retained in {grain} %{{x}}"
                "<br>over %{customdata} cohorts<extra></extra>",
            )
        )
    fig.update_xaxes(title={"text": f"{grain.capitalize()}s since signup"})
    fig.update_yaxes(
        title={"text": "Retained users (% of cohort)"}, tickformat=".0%", range=[0, 1.02]
    )
    label = RETENTION_MODE_LABELS.get(mode, mode)
    return style_figure(
        fig,
        title=f"{CURVES_TITLE} ({label})",
        caption_text=caption(
            _definition(grain, mode)
            + "; average weighted by cohort size, over cohorts that reached the period",
            _with_mode(definitions, mode),
            mode=True,
        ),
        height=420,
    )


def _with_mode(definitions: Definitions, mode: str) -> Definitions:
    """The caption states the mode the chart shows (a view option may differ from the default)."""
    return replace(definitions, retention_mode=mode)
