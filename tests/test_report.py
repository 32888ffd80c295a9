"""`uptake report`: one file with every chart and the key numbers, HTML (self-contained,
opens offline with every chart drawn) and PDF (printed by headless Chromium, one bookmark
per section and every chart present)."""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import publish_fixture_snapshot

from dashboard.charts import CHARTS, ChartInputs, ViewOptions, build_chart
from dashboard.errors import ChromiumMissingError, ExportError
from dashboard.export import StaticRenderer, chart_inputs
from dashboard.export_cli import register_export
from dashboard.report import (
    NOT_OBSERVABLE,
    SECTIONS,
    build_report,
    key_numbers,
    retention_rows,
)
from etl.config import Settings, load_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HEADINGS = [heading for _, heading, _ in SECTIONS]


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    publish_fixture_snapshot(home)
    return load_settings(home, env={})


@pytest.fixture(scope="module")
def inputs(module_settings: Settings) -> ChartInputs:
    return chart_inputs(module_settings)


@pytest.fixture(scope="module")
def html_report(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(module_settings, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def renderer() -> Iterator[StaticRenderer]:
    """One Chromium for the module; build_report's own renderer reuses the running one."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    with StaticRenderer(timeout_s=60) as shared:
        shared.start()
        yield shared


def test_every_section_has_its_key_numbers(inputs: ChartInputs) -> None:
    numbers = key_numbers(inputs, ViewOptions())
    assert list(numbers) == [section for section, _, _ in SECTIONS]
    milestones = numbers["milestones"][0].rows
    ten_million = next(row for row in milestones if row["users"] == 10_000_000)
    assert ten_million["viral"] == "7.0 h" and ten_million["steady"] == "not reached yet"
    velocity = {(r["platform"], r["grain"]) for r in numbers["velocity"][0].rows}
    assert ("viral", "minute") in velocity and ("steady", "day") in velocity
    engagement = {r["platform"]: r for r in numbers["engagement"][0].rows}
    assert set(engagement) == {"viral", "steady"} and engagement["viral"]["mau"] > 0
    forecasts = numbers["forecasts"][0].rows
    assert {r["model"] for r in forecasts} == {"ensemble"}  # the ensemble wins where present


def test_retention_at_day_30_is_censored_not_zero(inputs: ChartInputs) -> None:
    rows = {
        r["platform"]: r for r in retention_rows(inputs, ViewOptions(), ["viral", "steady"]).rows
    }
    assert rows["viral"]["day_30"] == NOT_OBSERVABLE  # viral is 13.5 days old
    assert rows["steady"]["day_1"].endswith("cohorts)")
    assert rows["steady"]["day_7"] != NOT_OBSERVABLE


def test_html_report_has_every_section_chart_and_definition(
    html_report: Path, inputs: ChartInputs
) -> None:
    source = html_report.read_text()
    for section, heading, _ in SECTIONS:
        assert f'<section id="{section}"><h2>{heading}</h2>' in source
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in source, chart
    assert source.count('data-chart="retention-heatmap"') == 2  # one per platform
    assert source.count("* plotly.js v") == 1, "plotly.js inlined once, not per chart"
    assert not re.search(r"<script[^>]*\bsrc=", source)
    for text in ("Data watermark 2026-10-15 00:00 UTC", "reporting timezone UTC", "Monday"):
        assert text in source


@pytest.mark.browser
def test_html_report_draws_every_chart_offline(html_report: Path, inputs: ChartInputs) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(offline=True)
        page = context.new_page()
        remote: list[str] = []
        page.on("request", lambda r: None if r.url.startswith("file:") else remote.append(r.url))
        page.goto(html_report.resolve().as_uri())
        page.wait_for_selector("#chart-runs .main-svg", timeout=20_000)
        drawn = page.locator("figure.chart .main-svg").count()
        text = page.inner_text("body")
        browser.close()
    assert remote == []
    assert drawn >= len(CHARTS) + 1  # each figure draws at least one .main-svg
    for chart in CHARTS:
        title = build_chart(chart, inputs, ViewOptions()).layout.title.text
        if chart != "retention-heatmap":
            assert str(title) in text, chart
    for heading in HEADINGS:
        assert heading in text


@pytest.mark.browser
def test_pdf_report_has_every_section_and_chart(
    module_settings: Settings, renderer: StaticRenderer, tmp_path: Path, inputs: ChartInputs
) -> None:
    pdf = build_report(module_settings, tmp_path / "weekly.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 5
    # Chromium writes one bookmark per heading and each chart image's alt text (its title)
    for heading in HEADINGS:
        assert f"/Title ({heading})".encode() in pdf, heading
    alts = b"".join(re.findall(rb"/Alt\s*\(([^)]*)", pdf))
    for chart in ("launch-race", "milestones", "forecast", "runs", "lifecycle"):
        title = str(build_chart(chart, inputs, ViewOptions()).layout.title.text)
        assert title.split(":", maxsplit=1)[0].encode() in alts, chart
    assert len(re.findall(rb"/Alt\s*\(", pdf)) >= len(CHARTS) + 1


def test_pdf_report_without_chromium_names_the_install_command(
    module_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ChromiumMissingError, match=r"apt-get install -y chromium"):
        build_report(module_settings, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    assert build_report(module_settings, tmp_path / "r.html").stat().st_size > 1_000_000


def test_report_rejects_other_suffixes_and_unknown_platforms(
    module_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ExportError, match=r"\.html or \.pdf"):
        build_report(module_settings, tmp_path / "r.docx")
    with pytest.raises(ExportError, match="unknown platform"):
        build_report(module_settings, tmp_path / "r.html", ["nope"])


def test_report_command_defaults_to_home_exports(
    module_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    register_export(parser.add_subparsers())
    args: Any = parser.parse_args(["report", "--platform", "viral"])
    assert args.handler(args, module_settings) == 0
    written = module_settings.exports / "report.html"
    assert capsys.readouterr().out.strip() == str(written)
    source = written.read_text()
    assert "Uptake report: viral" in source and "steady reached" not in source


def test_report_honours_the_view_options(
    module_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`uptake report` with the dashboard's view: range, scale, grain and mode reach the
    charts and the key numbers."""
    parser = argparse.ArgumentParser()
    register_export(parser.add_subparsers())
    out = module_settings.exports / "first-day.html"
    argv = ["report", "--out", str(out), "--range", "1d", "--axis-scale", "linear"]
    args: Any = parser.parse_args([*argv, "--grain", "minute", "--mode", "on_or_after"])
    assert args.handler(args, module_settings) == 0
    capsys.readouterr()
    source = out.read_text()
    assert "first 24 h after each platform" in source
    assert "signups per minute" in source
    assert source.count('"type":"log"') < 3  # the linear scale reached the charts
    assert "on or after" in source
    # the milestone table stops at the range: steady's 1M (6.1 days) is not reached in 24 h
    assert "6.1 days" not in source
