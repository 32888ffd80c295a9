"""`uptake run --engine duckdb|spark`: argument parsing and dispatch, without Spark (the
Spark pass itself is stubbed here; tests/test_spark.py runs it for real with -m spark)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import etl.spark
from etl.cli import main
from etl.config import load_settings
from etl.publish import publish_tables, serving_tables
from etl.snapshot import current_snapshot
from etl.warehouse import connect

NOW = datetime(2026, 11, 1, 12, 0, 0)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home folder with two small input files waiting in the inbox."""
    folder = tmp_path / "home"
    (folder / "inbox").mkdir(parents=True)
    (folder / "uptake.toml").write_text('settle_seconds = "0s"\n')
    (folder / "inbox" / "signups.csv").write_text(
        "platform,user_id,signup_ts\na,u1,2026-10-01T10:00:00Z\na,u2,2026-10-02T11:00:00Z\n"
    )
    (folder / "inbox" / "events.csv").write_text(
        "platform,user_id,event_ts,event_type\na,u1,2026-10-03T08:00:00Z,post\n"
    )
    return folder


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("etl.cli.now_utc", lambda: NOW)
    for name in ("UPTAKE_HOME", "UPTAKE_TIMEZONE", "UPTAKE_WEEK_START"):
        monkeypatch.delenv(name, raising=False)


def test_run_help_documents_the_engine_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--engine {duckdb,spark}", "--master URL", "--lake PATH"):
        assert option in text
    assert "pip install -e '.[spark]'" in text and "Java 17" in text
    assert "default local[2]" in text and "default HOME/lake" in text


def test_spark_engine_without_pyspark_says_how_to_install_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` -> ImportError
    with pytest.raises(ImportError):
        import pyspark  # noqa: F401
    assert main(["--home", str(home), "run", "--engine", "spark"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "pip install -e '.[spark]'" in err and "Java 17" in err
    # Nothing was ingested: the files still wait in the inbox.
    assert sorted(p.name for p in (home / "inbox").iterdir()) == ["events.csv", "signups.csv"]
    assert not (home / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--master", "local[1]"],
        ["run", "--lake", "/tmp/lake"],
        ["run", "--engine", "spark", "--keep-raw-days", "30"],
        ["run", "--engine", "flink"],
    ],
)
def test_engine_options_are_checked(
    home: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["--home", str(home), *args])
    except SystemExit as exc:  # argparse's own usage error
        code = int(exc.code or 0)
    assert code == 2
    assert "error" in capsys.readouterr().err


class FakeSparkPass:
    """Stands in for etl.spark.run_spark_pass: records the call, checks the lake was
    exported, and publishes the (unrefreshed) warehouse tables as the Spark engine would."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        settings: Any,
        now: datetime,
        master: str,
        *,
        lake: str,
        signup_sources: dict[str, str] | None = None,
    ) -> Path:
        assert signup_sources == {}  # read from the warehouse: no first-seen platform here
        self.calls.append({"now": now, "master": master, "lake": lake})
        assert (Path(lake) / "signups" / "platform=a").is_dir()
        assert (Path(lake) / "runs" / "runs.parquet").is_file()
        con = connect(settings, read_only=True)
        try:
            tables = serving_tables(con)
        finally:
            con.close()
        return publish_tables(settings, 1, now, tables, engine="spark")


def test_spark_engine_ingests_exports_the_lake_and_runs_the_spark_pass(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSparkPass()
    monkeypatch.setattr(etl.spark, "require_spark", lambda: None)
    monkeypatch.setattr(etl.spark, "run_spark_pass", fake)
    assert main(["--home", str(home), "run", "--engine", "spark"]) == 0
    assert fake.calls == [{"now": NOW, "master": "local[2]", "lake": str(home / "lake")}]
    out = capsys.readouterr().out
    assert "run 1 ok: 2 file(s)" in out and "(spark, local[2])" in out
    assert not list((home / "inbox").iterdir())  # loaded and archived as usual
    snapshot = current_snapshot(load_settings(home, env={}))
    assert snapshot is not None and snapshot.manifest["engine"] == "spark"

    # Nothing new since the Spark snapshot: a fast no-op, no Spark pass.
    assert main(["--home", str(home), "run", "--engine", "spark", "--json"]) == 0
    assert len(fake.calls) == 1
    assert '"status": "noop"' in capsys.readouterr().out

    # The DuckDB engine is still the default; with nothing new it keeps the live snapshot.
    assert main(["--home", str(home), "run"]) == 0
    assert "noop" in capsys.readouterr().out

    # A lake elsewhere and another master are passed through.
    (home / "inbox" / "more.csv").write_text("platform,user_id,signup_ts\na,u3,2026-10-04T00:00Z\n")
    lake = home.parent / "elsewhere"
    args = ["--home", str(home), "run", "--engine", "spark", "--master", "local[1]"]
    assert main([*args, "--lake", str(lake)]) == 0
    assert fake.calls[-1] == {"now": NOW, "master": "local[1]", "lake": str(lake)}


def test_publish_tables_needs_every_contract_table(home: Path) -> None:
    settings = load_settings(home, env={})
    con = connect(settings)
    try:
        tables = serving_tables(con)
    finally:
        con.close()
    del tables["runs"]
    with pytest.raises(ValueError, match=r"spark snapshot lacks the contract tables \['runs'\]"):
        publish_tables(settings, 1, NOW, tables, engine="spark")
