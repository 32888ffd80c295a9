"""Pure figure builders on the fixture snapshot: titles, axes, captions, markers, headline."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest
from dashboard_fixtures import (
    STEADY_1M_HOURS,
    VIRAL_10M_HOURS,
    publish_demo_shaped_snapshot,
    publish_fixture_snapshot,
)

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.data import REFERENCE_MILESTONES, load_reported_milestones
from dashboard.figures import engagement, forecasts, launch_race, milestones, retention, velocity
from dashboard.figures.common import (
    Definitions,
    caption_of,
    format_duration,
    log_time_ticks,
    platform_colours,
    top_margin,
)
from etl.contract import format_users
from etl.snapshot import SnapshotReader


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> ChartInputs:
    home = tmp_path_factory.mktemp("home")
    publish_fixture_snapshot(home)
    snapshot = SnapshotReader(home / "serving").current()
    assert snapshot is not None
    return ChartInputs(snapshot, reported=load_reported_milestones(REFERENCE_MILESTONES))


@pytest.fixture(scope="module")
def definitions(inputs: ChartInputs) -> Definitions:
    return inputs.definitions


def race(inputs: ChartInputs, **options: object) -> go.Figure:
    return build_chart("launch-race", inputs, ViewOptions(**options))  # type: ignore[arg-type]


def test_every_chart_has_title_axis_labels_and_definition_caption(inputs: ChartInputs) -> None:
    for name in CHARTS:
        fig = build_chart(name, inputs, ViewOptions())
        assert fig.layout.title.text, name
        text = caption_of(fig)
        for part in ("reporting timezone UTC", "weeks start Monday", "data watermark 2026-10-15"):
            assert part in text, (name, text)
        if name != "retention-heatmap":
            assert fig.layout.xaxis.title.text, name
        assert fig.layout.yaxis.title.text, name


def test_launch_race_draws_both_platforms_aligned_at_t0(inputs: ChartInputs) -> None:
    fig = race(inputs)
    names = {t.name for t in fig.data}
    assert {"viral (measured)", "steady (measured)"} <= names
    curve = next(t for t in fig.data if t.name == "viral (measured)")
    assert min(curve.x) > 0 and min(curve.x) <= 1 / 60 + 1e-9  # first minute after t0
    assert max(curve.y) > 10_000_000
    assert "Time since launch t0" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text == "Cumulative signups (users)"


def test_launch_race_markers_sit_at_the_exact_milestone_times(inputs: ChartInputs) -> None:
    fig = race(inputs)
    table = inputs.table("milestones")
    for platform in ("viral", "steady"):
        marker = next(t for t in fig.data if t.name == f"{platform} crossed")
        for x, y in zip(marker.x, marker.y, strict=True):
            row = table.filter((pl.col("platform") == platform) & (pl.col("users") == y))
            assert x == pytest.approx(row["elapsed_s"].item() / 3600)
    viral = next(t for t in fig.data if t.name == "viral crossed")
    assert dict(zip(viral.y, viral.x, strict=True))[10_000_000] == pytest.approx(
        VIRAL_10M_HOURS, abs=1e-3
    )
    steady = next(t for t in fig.data if t.name == "steady crossed")
    assert dict(zip(steady.y, steady.x, strict=True))[1_000_000] == pytest.approx(
        STEADY_1M_HOURS, abs=1e-3
    )


def test_launch_race_headline_states_the_comparison(inputs: ChartInputs) -> None:
    subtitle = race(inputs).layout.title.subtitle.text
    # two different milestones: no ratio between them; the like-for-like one follows
    assert subtitle.startswith("viral reached 10M in 7.0 h; steady reached 1M in 6.1 days<br>")
    assert "Same milestone, 1M: viral in 25 min, steady in 6.1 days" in subtitle


def test_launch_race_log_axes_have_readable_time_ticks(inputs: ChartInputs) -> None:
    fig = race(inputs, log=True)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert {"1 h", "6 h", "1 d", "7 d"} <= set(fig.layout.xaxis.ticktext)
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals, strict=True))
    assert ticks["1 h"] == 1 and ticks["6 h"] == 6 and ticks["1 d"] == 24 and ticks["7 d"] == 168
    linear = race(inputs, log=False)
    assert linear.layout.xaxis.type == "linear" and linear.layout.yaxis.type == "linear"


def test_launch_race_milestone_lines_are_powers_of_ten(inputs: ChartInputs) -> None:
    lines = sorted(s.y0 for s in race(inputs).layout.shapes)
    assert lines == [100_000, 1_000_000, 10_000_000]


def test_reported_overlay_is_labelled_reported_never_measured(inputs: ChartInputs) -> None:
    fig = race(inputs, reported=("Threads", "ChatGPT"))
    reported = [t for t in fig.data if t.name.endswith("(reported)")]
    assert {t.name for t in reported} == {"Threads (reported)", "ChatGPT (reported)"}
    threads = next(t for t in reported if t.name == "Threads (reported)")
    assert 10_000_000 in threads.y and "reported, not measured" in threads.hovertemplate
    assert all(t.line.dash == "dash" for t in reported)
    assert "reported: public figures" in caption_of(fig)
    plain = race(inputs)
    assert not [t for t in plain.data if "reported" in (t.name or "")]


def test_reported_milestones_file_keeps_sources_and_confidence() -> None:
    table = load_reported_milestones(REFERENCE_MILESTONES)
    for column in ("platform", "metric", "kind", "users", "source_title", "source_url"):
        assert column in table.columns
    assert {"confidence", "elapsed_hours", "note", "launch_utc"} <= set(table.columns)
    threads = table.filter((pl.col("platform") == "Threads") & (pl.col("users") == 10_000_000))
    assert threads["elapsed_hours"].item() == 7 and threads["confidence"].item() == "high"
    assert table.filter(pl.col("note").str.contains("CONFLICT")).height >= 3


def test_milestone_table_and_dots_show_ratios_and_not_reached(inputs: ChartInputs) -> None:
    table = milestones.milestone_table(inputs.table("milestones"), ["viral", "steady"])
    by_label = {row["milestone"]: row for row in table}
    assert by_label["1M"]["steady"] == "6.1 days" and by_label["10M"]["viral"] == "7.0 h"
    assert by_label["10M"]["steady"] == milestones.NOT_REACHED
    assert (
        by_label["1M"]["ratio"].startswith("viral ")
        and "faster than steady" in (by_label["1M"]["ratio"])
    )
    fig = build_chart("milestones", inputs, ViewOptions())
    pending = next(t for t in fig.data if t.name == "steady: not reached yet")
    assert "10M" in pending.y and "not reached yet" in pending.text[0]


def test_velocity_stats_peak_and_half_life(inputs: ChartInputs) -> None:
    stats = velocity.velocity_stats(inputs.table("signups"), "viral", "hour")
    assert stats is not None
    assert stats.peak_hours == 0 and stats.peak > 2_000_000
    assert stats.half_life_hours is not None and 3 <= stats.half_life_hours <= 5
    fig = build_chart("velocity", inputs, ViewOptions(grain="minute", log=False))
    assert fig.layout.yaxis.title.text == "Signups per minute (users)"
    assert "half-life" in fig.layout.title.subtitle.text


def test_hour_of_day_uses_the_reporting_timezone(inputs: ChartInputs) -> None:
    shares = velocity.hour_of_day_shares(inputs.table("signups"), "steady", "UTC")
    assert shares.height == 24 and shares["share"].sum() == pytest.approx(1)
    berlin = velocity.hour_of_day_shares(inputs.table("signups"), "steady", "Europe/Berlin")
    peak_utc = shares.sort("share")["hour"][-1]
    assert berlin.sort("share")["hour"][-1] in {(peak_utc + 1) % 24, (peak_utc + 2) % 24}


def test_lifecycle_draws_dormant_below_zero_and_quick_ratio(inputs: ChartInputs) -> None:
    fig = build_chart("lifecycle", inputs, ViewOptions())
    dormant = [t for t in fig.data if t.name == "dormant"]
    assert dormant and all(v <= 0 for t in dormant for v in t.y)
    assert any(t.name == "quick ratio" for t in fig.data)
    frame = pl.DataFrame({"new": [5, 1], "resurrected": [1, 1], "dormant": [3, 0]})
    assert engagement.quick_ratio(frame).to_list() == [2.0, None]


def test_retention_modes_and_unobservable_cells(inputs: ChartInputs) -> None:
    on = retention.average_curve(inputs.table("retention"), "steady", "day", "on")
    after = retention.average_curve(inputs.table("retention"), "steady", "day", "on_or_after")
    assert (after["share"] >= on["share"]).all()
    fig = build_chart("retention-heatmap", inputs, ViewOptions(heatmap_platform="viral"))
    z = fig.data[0].z
    assert z[-1][-1] is None and z[0][0] == pytest.approx(1.0)  # newest cohort: not yet
    curves = build_chart("retention-curves", inputs, ViewOptions(retention_mode="on_or_after"))
    assert "retention mode: on or after" in caption_of(curves)
    assert "(on or after)" in curves.layout.title.text


def test_forecast_draws_fit_band_and_ceiling_note(inputs: ChartInputs) -> None:
    fig = build_chart("forecast", inputs, ViewOptions(log=False))
    names = {t.name for t in fig.data}
    assert {"steady fit: logistic", "viral fit: burst_inflow", "steady forecast ETA"} <= names
    assert forecasts.CEILING_NOTE in fig.layout.title.subtitle.text
    fitted = next(t for t in fig.data if t.name == "viral fit: burst_inflow")
    at_7h = forecasts.evaluate_model("burst_inflow", _params(inputs, "viral"), [7.0])
    assert at_7h is not None and at_7h[0] == pytest.approx(10_000_000, rel=1e-6)
    assert len(fitted.x) == len(fitted.y)
    rows = forecasts.model_table(inputs.table("fits"), ["steady"])
    assert [r["model"] for r in rows] == ["logistic", "exponential"]
    assert rows[0]["akaike_weight"] == "82%"


def _params(inputs: ChartInputs, platform: str) -> str:
    fits = inputs.table("fits").filter(
        (pl.col("platform") == platform) & (pl.col("model") == "burst_inflow")
    )
    return str(fits["params"].item())


def test_platform_colours_are_stable_and_honour_settings() -> None:
    colours = platform_colours(["viral", "steady"])
    assert colours == platform_colours(["steady", "viral"])
    assert platform_colours(["viral", "steady"], {"viral": "#000000"})["viral"] == "#000000"
    assert len(set(colours.values())) == 2


def test_a_platform_keeps_its_colour_across_charts(inputs: ChartInputs) -> None:
    colours = inputs.colours
    race_line = next(t for t in race(inputs).data if t.name == "viral (measured)")
    dots = next(
        t for t in build_chart("milestones", inputs, ViewOptions()).data if t.name == "viral"
    )
    assert race_line.line.color == dots.marker.color == colours["viral"]


def test_formatting_and_ticks() -> None:
    assert format_users(1_000) == "1k" and format_users(2_500_000) == "2.5M"
    # Three significant digits, one function for the CLI and every chart: a milestone of
    # 1.25M reads as such, and a count just under a unit rounds into it, not "1e+03k".
    assert format_users(1_250_000) == "1.25M" and format_users(999_999) == "1M"
    assert format_users(999) == "999" and format_users(12.34) == "12.3"
    assert format_duration(7.0) == "7.0 h" and format_duration(146.4) == "6.1 days"
    assert format_duration(0.5) == "30 min"
    values, labels = log_time_ticks(1, 24 * 30)
    assert labels == ["1 h", "3 h", "6 h", "12 h", "1 d", "3 d", "7 d", "14 d", "30 d"]
    assert values == sorted(values)
    _, long_span = log_time_ticks(1 / 60, 24 * 365)
    assert long_span == ["1 min", "15 min", "1 h", "6 h", "1 d", "7 d", "30 d", "90 d", "1 y"]


def test_headline_without_milestones_says_so() -> None:
    empty = pl.DataFrame(schema={"platform": pl.String, "users": pl.Int64, "elapsed_s": pl.Float64})
    assert launch_race.headline(empty, ["viral"]) == "No platform has reached a milestone yet."
    same = pl.DataFrame(
        {"platform": ["viral", "incumbent"], "users": [1000, 1000], "elapsed_s": [3600.0, 7200.0]}
    )
    line = launch_race.headline(same, ["viral", "incumbent"])
    assert line.endswith("(viral 2.0x faster)"), line


def test_reader_follows_current_and_reports_no_snapshot(tmp_path: Path) -> None:
    reader = SnapshotReader(tmp_path / "serving")
    assert reader.current() is None
    publish_fixture_snapshot(tmp_path, "first")
    first = reader.current()
    assert first is not None and first.id == "first"
    assert reader.current() is first  # cached while CURRENT is unchanged
    (tmp_path / "serving" / "CURRENT").write_text("second\n")
    (tmp_path / "serving" / "second").mkdir()
    (tmp_path / "serving" / "second" / "manifest.json").write_text('{"id": "second"}')
    second = reader.current()
    assert second is not None and second.id == "second"


def test_migration_page_charts_draw_channels_flows_and_activity(inputs: ChartInputs) -> None:
    from dashboard.figures import migration

    mix = build_chart("channel-mix", inputs, ViewOptions())
    bars = [t for t in mix.data if t.type == "bar"]
    assert {t.name for t in bars} >= {"instagram_import", "organic", "unknown", "ads"}
    unknown = next(t for t in bars if t.name == "unknown")
    assert unknown.marker.color == migration.UNKNOWN_COLOUR
    assert mix.layout.barmode == "stack"
    assert "no channel: 'unknown'" in caption_of(mix)

    overlap = build_chart("overlap", inputs, ViewOptions())
    counts = {t.name: list(t.y) for t in overlap.data}
    assert counts["first on the left platform"] == [100_000]  # steady & viral: steady first
    assert counts["first on the right"] == [20_000]
    assert "median 11.0 days" in overlap.data[0].customdata[0]

    share = build_chart("migration-share", inputs, ViewOptions())
    solid = next(t for t in share.data if t.name == "steady → viral: migrants")
    assert solid.y[0] == pytest.approx(0.4, abs=1e-3)
    assert "person_id" in caption_of(share)

    activity = build_chart("migrant-activity", inputs, ViewOptions())
    stacked = [t for t in activity.data if t.stackgroup]
    assert len(stacked) == 4
    assert {t.name for t in stacked} >= {"only on steady", "only on viral", "on both"}
    by_day = [sum(t.y[i] for t in stacked) for i in range(44)]  # observable days -30..13
    assert by_day == pytest.approx([1.0] * 44)
    assert all(max(t.x) == 13 for t in stacked)  # later days not observable: not drawn

    alone = build_chart("migrant-activity", inputs, ViewOptions(platforms=("viral",)))
    assert "No migrants" in alone.layout.annotations[0].text


def test_time_range_restricts_every_windowed_chart_and_says_so(inputs: ChartInputs) -> None:
    week = ViewOptions(window_hours=168.0)
    signups = inputs.table("signups", week)
    assert signups["elapsed_s"].max() < 168 * 3600 <= inputs.table("signups")["elapsed_s"].max()
    reached = inputs.table("milestones", week).filter(pl.col("elapsed_s").is_not_null())
    assert reached["elapsed_s"].max() <= 168 * 3600
    assert inputs.table("milestones", week).height == inputs.table("milestones").height
    active = inputs.table("active", week).join(inputs.table("platforms"), on="platform")
    assert (
        active.height
        and active.select(
            (pl.col("day").cast(pl.Datetime("us")) < pl.col("t0") + pl.duration(days=7)).all()
        ).item()
    )
    for name in ("launch-race", "velocity", "active-users", "lifecycle", "channel-mix"):
        assert "time range: first 7 days after each platform's t0" in caption_of(
            build_chart(name, inputs, week)
        ), name
    assert "time range" not in caption_of(build_chart("launch-race", inputs, ViewOptions()))
    day = race(inputs, window_hours=24.0)
    viral = next(t for t in day.data if t.name == "viral (measured)")
    assert max(viral.x) <= 24 + 1e-9
    steady_marks = [t for t in day.data if t.name == "steady crossed"]
    assert not steady_marks or 1_000_000 not in steady_marks[0].y  # 1M came after 6.1 days


def test_milestone_labels_never_sit_on_data_markers() -> None:
    from dashboard.figures.common import add_milestone_lines

    fig = go.Figure()
    axis = [0.0, 3.0]  # log10 hours: 1 h .. 1000 h
    add_milestone_lines(
        fig, [1000, 1_000_000], log=True, axis_range=axis, markers=[(1.2, 1_100_000)]
    )
    labels = {a.text: a for a in fig.layout.annotations}
    assert labels["1k users"].x == 0 and labels["1k users"].xanchor == "left"
    assert labels["1M users"].x == 1 and labels["1M users"].xanchor == "right"


def test_launch_race_labels_avoid_the_curve_ends_and_crossings(inputs: ChartInputs) -> None:
    from dashboard.figures.common import paper_x

    for log in (True, False):
        fig = race(inputs, log=log)
        axis = fig.layout.xaxis.range
        points = [
            (x, y)
            for t in fig.data
            if t.mode and "markers" in t.mode
            for x, y in zip(t.x, t.y, strict=True)
        ]
        points += [(t.x[-1], t.y[-1]) for t in fig.data if t.name.endswith("(measured)")]
        for label in (a for a in fig.layout.annotations if (a.name or "").startswith("mile")):
            users = int(label.name.split()[-1])
            top = users * 10**0.25 if log else users * 1.06
            for x, y in points:
                if users <= y <= top:
                    side = paper_x(x, axis, log)
                    assert (side > 0.12) if label.x == 0 else (side < 0.88), (log, label.text)


def test_channel_mix_share_mode_stacks_to_one(inputs: ChartInputs) -> None:
    fig = build_chart("channel-mix", inputs, ViewOptions(channel_mode="share"))
    bars = [t for t in fig.data if t.type == "bar" and t.xaxis in ("x", None)]
    assert fig.layout.yaxis.tickformat == ".0%"
    totals: dict[object, float] = {}
    for bar in bars:
        for x, y in zip(bar.x, bar.y, strict=True):
            totals[x] = totals.get(x, 0.0) + (y or 0.0)
    assert all(v == pytest.approx(1.0) for v in totals.values() if v)
    assert "100% of the day's signups" in caption_of(fig)
    counts = build_chart("channel-mix", inputs, ViewOptions(channel_mode="count"))
    assert counts.layout.yaxis.tickformat == "~s"


def test_url_query_round_trips_every_control() -> None:
    from dashboard.controls import CONTROLS, from_query, to_query, view_options

    values = [
        ["viral"],
        "7d",
        "linear",
        ["on"],
        ["Threads"],
        "on_or_after",
        "day",
        "week",
        "week",
        "viral",
        "count",
    ]
    assert [c.id for c in CONTROLS][:2] == ["platforms", "range"]
    query = to_query(values)
    assert from_query(query) == values
    options = view_options(*values)
    assert options.window_hours == 168.0 and options.channel_mode == "count"
    assert from_query("?range=bogus&grain=fortnight")[1] == "all"  # unknown: the default
    assert from_query("") == [c.default for c in CONTROLS]


@pytest.mark.parametrize(
    "options",
    [
        ViewOptions(),
        ViewOptions(log=False, grain="minute", window_hours=24.0, channel_mode="share"),
        ViewOptions(platforms=("viral",), reported=("Threads",), lifecycle_grain="week"),
    ],
)
def test_every_chart_is_a_valid_plotly_figure(inputs: ChartInputs, options: ViewOptions) -> None:
    """The builders skip plotly's validation for speed; here every property is checked."""
    for name in CHARTS:
        fig = build_chart(name, inputs, options)
        go.Figure(fig.to_dict())  # raises on an unknown property or a bad value


def test_long_minute_series_are_thinned_to_the_screen_keeping_the_peak() -> None:
    from dashboard.figures.common import thin_series

    hours = [i / 60 for i in range(1, 43_201)]  # 30 days of minutes
    signups = [(i * 7919) % 1000 for i in range(43_200)]
    signups[12_345] = 50_000
    frame = pl.DataFrame({"hours": hours, "signups": signups})
    for log in (True, False):
        thin = thin_series(frame, "hours", "signups", log=log)
        assert thin.height <= 2 * 1200 + 2 < frame.height
        assert thin["signups"].max() == 50_000 and thin["signups"].min() == 0
        assert thin["hours"][0] == hours[0] and thin["hours"][-1] == hours[-1]
        assert thin["hours"].is_sorted()
    assert thin_series(frame.head(100), "hours", "signups", log=True).height == 100


def test_forecast_curves_start_at_one_user_and_etas_sit_on_the_forecast_line(
    inputs: ChartInputs,
) -> None:
    fig = build_chart("forecast", inputs, ViewOptions(log=True))
    fitted = [t for t in fig.data if " fit: " in str(t.name)]
    assert fitted and all(min(t.y) >= 1.0 for t in fitted)
    assert fig.layout.yaxis.range[0] >= 0  # log10(1 user): no milli-user ticks
    markers = next(t for t in fig.data if t.name == "steady forecast ETA")
    line = next(t for t in fig.data if t.name == "steady forecast (median)")
    for x, y in zip(markers.x, markers.y, strict=True):
        assert (x, y) in set(zip(line.x, line.y, strict=True))


def test_milestone_labels_keep_a_label_height_apart() -> None:
    assert forecasts.labelled_milestones([10_000_000, 12_000_000, 50_000_000], log=True) == [
        10_000_000,
        50_000_000,
    ]
    linear = forecasts.labelled_milestones([1_000_000, 5_000_000, 50_000_000, 51_000_000], False)
    assert linear == [1_000_000, 5_000_000, 50_000_000]
    # The full demo's three platforms span 8 decades: labels of lines 0.3 decades apart
    # (500k and 1M, 5M and 10M, 50M and 100M) overlapped; a few decades apart they fit.
    demo = [500_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000]
    assert forecasts.labelled_milestones(demo, log=True, decades=8.2) == [
        500_000,
        5_000_000,
        50_000_000,
    ]
    assert forecasts.labelled_milestones(demo, log=True, decades=3.0) == demo


def test_forecast_subtitle_says_too_early_and_past_the_peak() -> None:
    empty = pl.DataFrame(
        schema={"users": pl.Int64, "p_never": pl.Float64, "eta_h": pl.Float64}
        | {"eta_low_h": pl.Float64, "eta_high_h": pl.Float64}
    )
    withheld = {"too_early": True, "too_early_reason": "the models fit poorly"}
    text = forecasts.describe_forecast("owid", empty, False, withheld)
    assert text == "owid: too early to forecast (the models fit poorly)"
    past = forecasts.describe_forecast("viral", empty, False, {"past_peak": True})
    assert "past its peak" in past and "before the inflection" not in past
    long = "viral: " + "; ".join(f"{n}M in ~3.0 days after t0 (1 h to 9 days)" for n in (1, 2, 3))
    lines = forecasts.wrap_subtitle(long + " · " + forecasts.CEILING_NOTE).split("<br>")
    assert len(lines) > 1 and all(len(line) <= forecasts.SUBTITLE_WIDTH for line in lines)
    wrapped = forecasts.wrap_subtitle("a" * 100 + " · " + "b" * 50, width=110)
    assert wrapped == "a" * 100 + "<br>" + "b" * 50  # no separator left at a break


# --- a demo-shaped snapshot: two month-old launches beside a ten-year incumbent ---------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ChartInputs:
    home = tmp_path_factory.mktemp("demo-home")
    publish_demo_shaped_snapshot(home)
    snapshot = SnapshotReader(home / "serving").current()
    assert snapshot is not None
    return ChartInputs(snapshot)


def test_the_default_view_compares_the_launches_and_says_what_it_left_out(
    demo: ChartInputs,
) -> None:
    view = ViewOptions()
    assert demo.hidden_platforms(view) == ["incumbent"]
    assert demo.platforms(view) == ["steady", "viral"]
    for name in ("launch-race", "velocity", "active-users", "stickiness", "lifecycle"):
        fig = build_chart(name, demo, view)
        assert not any("incumbent" in str(t.name or "") for t in fig.data), name
        text = caption_of(fig)
        assert "incumbent (10.8 years of history) not shown" in text, (name, text)
        assert "choose it under Platforms" in text
    # the x axes span the launches' month, not ten years
    active = build_chart("active-users", demo, view)
    days = [x for t in active.data for x in (t.x or ())]
    assert max(days) < 40


def test_choosing_the_long_history_opts_in(demo: ChartInputs) -> None:
    view = ViewOptions(platforms=("incumbent", "viral"))
    assert demo.hidden_platforms(view) == []
    fig = build_chart("launch-race", demo, view)
    assert "incumbent (measured)" in {t.name for t in fig.data}
    assert "not shown" not in caption_of(fig)


def test_migration_charts_keep_the_long_history_as_a_side_of_each_pair(demo: ChartInputs) -> None:
    assert demo.pair_platforms(ViewOptions()) == ["incumbent", "steady", "viral"]
    assert demo.pair_platforms(ViewOptions(platforms=("viral",))) == ["viral"]


def test_the_heatmap_of_a_long_history_is_bounded(demo: ChartInputs) -> None:
    """3,937 daily cohorts once drew a 72,000 px heatmap: now the latest 40 week cohorts,
    a readable height, and a subtitle that says so."""
    view = ViewOptions(heatmap_platform="incumbent")
    assert demo.heatmap_platform(view) == "incumbent"  # pickable though hidden by default
    fig = build_chart("retention-heatmap", demo, view)
    [heat] = fig.data
    assert len(heat.y) == retention.MAX_HEATMAP_ROWS
    assert fig.layout.height <= 1000
    subtitle = fig.layout.title.subtitle.text
    assert "3,937 day cohorts drawn as week cohorts" in subtitle
    assert "the latest 40 of 563 week cohorts" in subtitle
    assert heat.y[-1] == "2026-10-12"  # the latest week cohort is drawn
    assert "week" in fig.layout.yaxis.title.text


def test_the_time_range_limits_the_heatmap_rows(demo: ChartInputs) -> None:
    view = ViewOptions(heatmap_platform="incumbent", window_hours=30 * 24)
    fig = build_chart("retention-heatmap", demo, view)
    [heat] = fig.data
    assert 0 < len(heat.y) <= 31 and heat.y[0] == "2016-01-04"  # day cohorts from t0 on
    assert not fig.layout.title.subtitle.text
    # a launch's 25 daily cohorts stay daily
    fig = build_chart("retention-heatmap", demo, ViewOptions())
    assert len(fig.data[0].y) == 25 and fig.layout.height < 1000


def test_default_heatmap_is_a_launch_not_the_long_history(demo: ChartInputs) -> None:
    assert demo.heatmap_platform(ViewOptions()) == "steady"


def test_ratios_are_readable_and_bounded() -> None:
    assert launch_race.format_ratio(2.14) == "2.1x"
    assert launch_race.format_ratio(21.4) == "21x"
    assert launch_race.format_ratio(999.6) == "1,000x"
    assert launch_race.format_ratio(552_898.0) == "over 1,000x"


def test_not_reached_is_censored_at_each_platforms_own_data(demo: ChartInputs) -> None:
    """A platform whose data ended earlier is censored where its own data ends."""
    from datetime import timedelta

    platforms = demo.table("platforms").with_columns(
        last_event=pl.when(pl.col("platform") == "steady")
        .then(pl.col("t0") + timedelta(days=10))
        .otherwise(pl.col("last_event"))
    )
    observed = milestones.observed_hours(platforms, demo.definitions.watermark)
    assert observed["steady"] == pytest.approx(240.0)
    fig = milestones.build_milestone_dots(
        demo.table("milestones"),
        platforms,
        ["steady", "viral"],
        demo.definitions,
        demo.colours,
    )
    pending = next(t for t in fig.data if t.name == "steady: not reached yet")
    assert pending.x[0] == pytest.approx(240.0)
    assert pending.text[0] == "not reached yet (> 10.0 days)"


def test_half_life_is_one_number_per_platform_whatever_the_grain(inputs: ChartInputs) -> None:
    signups = inputs.table("signups")
    for platform in ("viral", "steady"):
        lives = {
            velocity.velocity_stats(signups, platform, g).half_life_hours for g in velocity.GRAINS
        }  # type: ignore[union-attr]
        assert len(lives) == 1, (platform, lives)


def test_the_launch_day_is_drawn_from_t0_not_dropped(inputs: ChartInputs) -> None:
    """viral's t0 is 12:00: its first day bucket starts 12 h before t0 and holds most of its
    launch; the day grain draws it at t0 (linear) or inside its time after t0 (log)."""
    first_day = (
        inputs.table("signups")
        .filter((pl.col("platform") == "viral") & (pl.col("grain") == "day"))
        .sort("bucket_start")["signups"][0]
    )
    for log, x0 in ((False, 0.0), (True, 6.0)):
        fig = build_chart("velocity", inputs, ViewOptions(grain="day", log=log))
        viral = next(t for t in fig.data if t.name == "viral")
        assert viral.x[0] == pytest.approx(x0) and viral.y[0] == first_day > 9_000_000


def test_a_partial_last_day_is_flagged_not_drawn_as_a_drop(demo: ChartInputs) -> None:
    """steady's data ending at 16:00 on its last day: that day is an open diamond, out of
    the DAU/WAU/MAU lines, and faded with no quick ratio in growth accounting."""
    from datetime import timedelta

    last_day = demo.table("active").filter(pl.col("platform") == "steady")["day"].max()
    cut = pl.datetime(last_day.year, last_day.month, last_day.day, 16)  # type: ignore[union-attr]
    platforms = demo.table("platforms").with_columns(
        last_event=pl.when(pl.col("platform") == "steady").then(cut).otherwise("last_event")
    )
    fig = engagement.build_active_users(
        demo.table("active"), platforms, ["steady"], demo.definitions, demo.colours
    )
    dau = next(t for t in fig.data if t.name == "steady DAU")
    partial = next(t for t in fig.data if t.name == "steady partial day")
    assert list(partial.x) == [max(dau.x) + 1]
    assert "partial day" in caption_of(fig)
    ends = {"steady": datetime_of(cut) + timedelta(hours=1)}
    fig = engagement.build_lifecycle(
        demo.table("lifecycle"), ["steady"], demo.definitions, ends=ends
    )
    new = next(t for t in fig.data if t.name == "new")
    ratio = next(t for t in fig.data if t.name == "quick ratio")
    assert new.marker.opacity[-1] < 1 and set(new.marker.opacity[:-1]) == {1.0}
    assert ratio.y[-1] is None


def datetime_of(expr: pl.Expr) -> Any:
    return pl.select(expr).item()


def test_growth_accounting_keeps_the_launch_day_from_flattening_the_rest() -> None:
    """A launch day of 10M new users beside days of 100k: it runs off the top, labelled;
    the quick ratio's zero is level with the bars' zero."""
    from datetime import datetime, timedelta

    days = [datetime(2026, 10, 1) + timedelta(days=d) for d in range(10)]
    rows = pl.DataFrame(
        {
            "bucket_start": days,
            "new": [10_000_000] + [50_000] * 9,
            "returning": [0] + [40_000] * 9,
            "resurrected": [0] + [10_000] * 9,
            "dormant": [0, 6_000_000] + [80_000] * 8,
        }
    )
    low, high, off = engagement.bar_range(rows)
    assert high == pytest.approx(100_000 * 1.15) and low == pytest.approx(-80_000 * 1.08)
    assert [b["text"] for b in off] == [
        "10,000,000 active, off the scale",
        "6,000,000 dormant, off the scale",
    ]
    r_low, r_high = engagement.ratio_range([None, 0.01, 1.2, 0.9], low, high)
    assert r_low / r_high == pytest.approx(low / high)
    assert r_high == pytest.approx(1.32)


def test_a_time_range_draws_the_race_to_its_end_not_the_last_whole_day(
    inputs: ChartInputs,
) -> None:
    """'First 7 days' once stopped at 6.0-6.3 days (the last day bucket ending inside)."""
    fig = race(inputs, window_hours=168.0, log=False)
    for name in ("viral (measured)", "steady (measured)"):
        curve = next(t for t in fig.data if t.name == name)
        assert 167.0 <= max(curve.x) <= 168.0, (name, max(curve.x))
        assert list(curve.x) == sorted(curve.x)


def test_a_chosen_platform_without_data_in_the_range_is_named(demo: ChartInputs) -> None:
    """'First 30 days' with the incumbent chosen: its usage data starts years later, so
    Engagement cannot draw it, and says so instead of dropping it silently."""
    view = ViewOptions(platforms=("incumbent", "viral"), window_hours=720.0)
    for name in ("active-users", "stickiness", "lifecycle"):
        text = caption_of(build_chart(name, demo, view))
        assert "Not drawn: incumbent: no data in this time range" in text, name
    text = caption_of(build_chart("channel-mix", demo, view))
    assert "incumbent: no data" in text
    assert "Not drawn" not in caption_of(build_chart("active-users", demo, ViewOptions()))


def test_a_ten_year_linear_axis_ticks_in_years_without_crowding() -> None:
    from dashboard.figures.common import linear_time_ticks

    _, labels = linear_time_ticks(3938 * 24.0)
    assert labels == ["t0", "2 y", "4 y", "6 y", "8 y", "10 y", "12 y"][: len(labels)]
    assert len(labels) <= 9


def test_log_users_axes_start_at_one_user(demo: ChartInputs) -> None:
    """Data down to one signup: the axis stops at 1 user; data in the hundreds keeps
    plotly's own range (a floor at 1 would waste half the chart)."""
    from dashboard.figures.common import log_users_floor, users_axis

    assert users_axis(True, "Users", lowest=1)["autorangeoptions"] == {"minallowed": 0}
    assert log_users_floor(400.0) is None and users_axis(False, "Users", 1)["type"] == "linear"
    view = ViewOptions(log=True, grain="minute")
    lowest = demo.table("signups").filter(pl.col("grain") == "minute")["signups"]
    fig = build_chart("velocity", demo, view)
    if lowest.filter(lowest > 0).min() < 10:  # type: ignore[operator]
        assert fig.layout.yaxis.autorangeoptions.minallowed == 0
    axis = build_chart("active-users", demo, view).layout.yaxis
    assert axis.type == "log" and axis.autorangeoptions.minallowed is None


def test_titles_sit_at_the_top_with_room_for_their_subtitles(inputs: ChartInputs) -> None:
    """No blank band above a title (plotly centres it in the top margin by default), and a
    top margin that still holds every subtitle line above the plot."""
    for name in CHARTS:
        layout = build_chart(name, inputs, ViewOptions()).layout
        title = layout.title
        assert (title.yref, title.y, title.yanchor) == ("container", 1, "top"), name
        assert title.pad.t <= 16, name
        lines = title.subtitle.text.count("<br>") + 1 if title.subtitle.text else 0
        assert layout.margin.t >= top_margin(lines), name
        assert layout.margin.t <= top_margin(lines) + 4, name


def test_crossing_labels_turn_inward_at_the_plot_edges(demo: ChartInputs) -> None:
    """A marker label ('8.0 y') at the right edge sits to the marker's left, one at the
    bottom of a linear axis above it, and neither is clipped by the plot area."""
    from dashboard.figures.common import label_position, paper_x

    assert label_position(0.5, 0.5) == "bottom right"
    assert label_position(0.95, 0.5) == "top left"
    assert label_position(0.95, 0.01) == "top left"
    assert label_position(0.3, 0.01) == "top right"
    every = tuple(demo.snapshot.table("platforms")["platform"].to_list())
    for log in (True, False):
        fig = build_chart("launch-race", demo, ViewOptions(platforms=every, log=log))
        crossed = [t for t in fig.data if t.name.endswith(" crossed")]
        assert crossed
        for t in crossed:
            assert t.cliponaxis is False
            for x, position in zip(t.x, t.textposition, strict=True):
                right_edge = paper_x(x, fig.layout.xaxis.range, log) > 0.88
                assert position.endswith("left") == right_edge, (log, x, position)


def test_linear_milestone_labels_keep_a_label_height_apart(inputs: ChartInputs) -> None:
    """'1M users' and '100k users' overlapped on a linear axis (under a 100M reported
    figure, both sit at the bottom): a line too close below the next is left out."""
    from dashboard.figures.common import LINEAR_LABEL_SHARE, spaced_lines

    assert spaced_lines([1_000, 10_000, 100_000], 260_000) == [10_000, 100_000]
    assert spaced_lines([100_000, 1_000_000, 10_000_000], 20_000_000) == [1_000_000, 10_000_000]
    assert spaced_lines([100_000, 1_000_000], 100_000_000) == [1_000_000]
    reported = ("ChatGPT", "Threads")
    for options in (ViewOptions(log=False), ViewOptions(log=False, reported=reported)):
        fig = race(inputs, log=options.log, reported=options.reported)
        top = max(y for t in fig.data for y in t.y if y is not None)
        levels = sorted(a.y for a in fig.layout.annotations if (a.name or "").startswith("mile"))
        assert levels
        for low, high in pairwise(levels):
            assert (high - low) / top >= LINEAR_LABEL_SHARE, (options, levels)
    logged = race(inputs, log=True)
    assert len([a for a in logged.layout.annotations if (a.name or "").startswith("mile")]) >= 2


def test_warming_up_is_one_shaded_span_not_a_marker_on_every_day(inputs: ChartInputs) -> None:
    """With a month of data nearly every day's 30-day window reaches before t0: the
    warming-up days are one labelled span, the lines carry no per-day markers."""
    sticky = build_chart("stickiness", inputs, ViewOptions())
    warming = [
        x for t in sticky.data if t.customdata for x, w in zip(t.x, t.customdata, strict=True) if w
    ]
    assert warming and min(warming) == 0
    for name in ("stickiness", "active-users"):
        fig = build_chart(name, inputs, ViewOptions())
        spans = [s for s in fig.layout.shapes if s.type == "rect"]
        assert len(spans) == 1, name
        assert (spans[0].x0, spans[0].x1) == (-0.5, max(warming) + 0.5), name
        assert any(a.name == "warming up" for a in fig.layout.annotations), name
        assert "shaded: warming up" in caption_of(fig), name
        lines = [t for t in fig.data if "partial" not in t.name]
        assert all(t.mode == "lines" for t in lines), name


def test_a_caption_part_longer_than_a_line_wraps_between_words_and_reads_back_whole() -> None:
    from dashboard.figures.common import wrap_caption

    long = " ".join(f"word{i}" for i in range(60))
    text = f"{long} · short part"
    wrapped = wrap_caption(text, width=80)
    assert all(len(line) <= 80 for line in wrapped.replace("<br> ", "<br>").split("<br>"))
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(name="caption", text=wrapped, showarrow=False)
    assert caption_of(fig) == text


def test_the_forecast_shows_the_whole_history_and_says_the_range_does_not_apply(
    inputs: ChartInputs,
) -> None:
    """Fits are made on the whole history: a measured curve cut to the range would
    contradict the fitted one."""
    whole = build_chart("forecast", inputs, ViewOptions(log=True))
    week = build_chart("forecast", inputs, ViewOptions(log=True, window_hours=24.0))
    measured = [t for t in week.data if "(measured)" in str(t.name)]
    assert measured
    for trace in measured:
        same = next(t for t in whole.data if t.name == trace.name)
        assert max(trace.x) == max(same.x) > 1.0  # days: past the 24-hour range
    assert "not restricted" in caption_of(week) and "not restricted" not in caption_of(whole)


def test_no_fitted_curve_is_drawn_for_a_platform_too_early_to_forecast(
    inputs: ChartInputs,
) -> None:
    """A fit that ends its window far from the measured total is not drawn over the data."""
    fits = inputs.table("fits")
    platform = str(fits.filter(pl.col("model") == "ensemble")["platform"][0])

    def too_early(params: str) -> str:
        return json.dumps({**json.loads(params), "too_early": True, "too_early_reason": "x"})

    marked = fits.with_columns(
        pl.when((pl.col("platform") == platform) & (pl.col("model") == "ensemble"))
        .then(pl.col("params").map_elements(too_early, return_dtype=pl.String))
        .otherwise(pl.col("params"))
        .alias("params")
    )
    args = (inputs.table("signups"), inputs.table("forecasts"), inputs.table("platforms"))
    names = inputs.snapshot.platform_names

    def fitted(fits_table: pl.DataFrame) -> set[str]:
        fig = forecasts.build_forecast(
            args[0], fits_table, args[1], args[2], names,
            definitions=inputs.definitions, colours=inputs.colours, log=True,
        )  # fmt: skip
        return {str(t.name).split(" fit: ")[0] for t in fig.data if " fit: " in str(t.name)}

    assert platform in fitted(fits)
    assert platform not in fitted(marked)


def test_a_narrow_ceiling_interval_gets_the_digits_that_tell_its_ends_apart() -> None:
    wide = {"ceiling": 13_050_000.0, "ceiling_low": 12_900_000.0, "ceiling_high": 13_300_000.0}
    assert forecasts.identified_ceiling(wide) == "ceiling ~13.05M (12.9M to 13.3M)"
    narrow = {"ceiling": 13_050_400.0, "ceiling_low": 13_049_000.0, "ceiling_high": 13_052_000.0}
    assert forecasts.identified_ceiling(narrow) == "ceiling ~13.05M (13.049M to 13.052M)"
    point = {"ceiling": 13_050_000.0, "ceiling_low": 13_050_000.0, "ceiling_high": 13_050_000.0}
    assert forecasts.identified_ceiling(point) == (
        "ceiling ~13.05M (80% interval under 0.001% wide)"
    )
    assert forecasts.identified_ceiling({"ceiling": 13_050_000.0}) == "ceiling ~13.05M"
    assert forecasts.identified_ceiling({}) == ""
