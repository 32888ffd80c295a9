"""The early-launch backtest suite: the simulator's launch curves and real public series,
each cut early, fitted, and asked when later user counts were reached.

    cases = simulated_cases("viral", seeds=(1, 2, 3))          # list[BacktestCase]
    rows = run_case(cases[0])                                   # list[BacktestRow]
    print(format_summary(summarise({"viral": rows})))

Simulated cases draw Poisson signups per minute around the simulator's own expected
curve (`expected_signups_per_minute`: the same launch shape, diurnal cycle and scale as
`uptake simulate`), so a case costs milliseconds to build however large the scale, and the
truth (when the N-th user signed up) is known for months after the cut. Real cases read
`../shared/growth-data` (Stack Exchange signups, Bluesky daily totals, OWID adoption
shares); nothing of it is copied into the repository.

Every case forecasts the same relative targets (1.25x, 1.5x, 2x the users at the cut),
so nothing is tuned to one series. A case counts as "confident-wrong" when the headline
forecast gives P(never) >= 0.5 for a target the series reaches within 3x its observed span.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from etl.fits.backtest import (
    BacktestRow,
    backtest,
    count_rows,
    first_crossing,
    nth_signup,
    signup_rows,
)
from etl.fits.forecast import HORIZON_SPANS
from etl.simulate.presets import MINUTE_S, PRESETS, expected_signups_per_minute

SIMULATED_CUTS = {
    "viral": tuple(timedelta(hours=h) for h in (1, 2, 4, 8, 24)),
    "steady": tuple(timedelta(days=d) for d in (1, 2, 4, 7)),
    "incumbent": tuple(timedelta(days=d) for d in (1, 2, 4, 7)),
}
# How long the truth is simulated after launch: long enough for 2x the users at the last
# cut wherever the curve gets there at all.
SIMULATED_DAYS = {"viral": 90, "steady": 120, "incumbent": 120}
GRAIN_WIDTH_S = {"minute": 60, "hour": 3_600, "day": 86_400}
CONFIDENT_NEVER = 0.5
REACHED_WITHIN_SPANS = 3.0
DAY = timedelta(days=1)


@dataclass(frozen=True)
class BacktestCase:
    """One series cut at one point: the rows the fit sees and the truth after the cut."""

    group: str  # "viral", "steady", "incumbent", "stack exchange", "bluesky", "owid"
    name: str
    rows: pl.DataFrame  # snapshot-like `signups` rows up to the cut
    cutoff: datetime
    start: datetime  # first observation (t0 for a launch)
    actual: Callable[[int], datetime | None]
    data_end: datetime


def simulated_minutes(preset_name: str, seed: int, scale: float = 1.0) -> np.ndarray:
    """Signups in each minute after launch, drawn around the simulator's expected curve."""
    preset = PRESETS[preset_name]
    minutes = SIMULATED_DAYS[preset_name] * 24 * 60
    expected = expected_signups_per_minute(preset, minutes, scale)
    return np.random.default_rng(seed).poisson(expected).astype(np.int64)


def minute_rows(
    platform: str, t0: datetime, minutes: np.ndarray, cut_minute: int, base: int = 0
) -> pl.DataFrame:
    """The snapshot's `signups` rows (minute, hour and day buckets, zeros included) of the
    first `cut_minute` minutes; `base` users signed up before t0."""
    t0_s = int((t0 - datetime(1970, 1, 1)).total_seconds())
    moments = t0_s + MINUTE_S * np.arange(cut_minute, dtype=np.int64)
    counts, cut_s = minutes[:cut_minute], t0_s + MINUTE_S * cut_minute
    frames = []
    for grain, width in GRAIN_WIDTH_S.items():
        buckets = moments - moments % width
        starts, first = np.unique(buckets, return_index=True)
        sums = np.add.reduceat(counts, first)
        frames.append(
            pl.DataFrame(
                {
                    "platform": platform,
                    "grain": grain,
                    "bucket_start": (starts * 1_000_000).astype("datetime64[us]"),
                    "elapsed_s": (starts - t0_s).astype(np.float64),
                    "signups": sums.astype(np.int64),
                    "cumulative": (base + np.cumsum(sums)).astype(np.int64),
                    "complete": starts + width <= cut_s,
                }
            )
        )
    return pl.concat(frames)


def minute_crossing(
    t0: datetime, minutes: np.ndarray, base: int = 0
) -> Callable[[int], datetime | None]:
    """When the running total first reached n, interpolated within its minute."""
    running = base + np.cumsum(minutes)

    def crossing(n: int) -> datetime | None:
        index = int(np.searchsorted(running, n, side="left"))
        if index >= running.size:
            return None
        before = running[index - 1] if index > 0 else base
        share = (n - before) / max(running[index] - before, 1)
        return t0 + timedelta(minutes=index + float(share))

    return crossing


def simulated_cases(
    preset_name: str, seeds: Sequence[int] = (1, 2, 3), scale: float = 1.0
) -> list[BacktestCase]:
    """Every cut of SIMULATED_CUTS[preset] for every seed."""
    preset = PRESETS[preset_name]
    base = round(preset.base_users * scale)
    cases = []
    for seed in seeds:
        minutes = simulated_minutes(preset_name, seed, scale)
        actual = minute_crossing(preset.t0, minutes, base)
        end = preset.t0 + timedelta(minutes=int(minutes.size))
        for cut in SIMULATED_CUTS[preset_name]:
            cut_minute = int(cut.total_seconds() // MINUTE_S)
            name = f"{preset_name} s{seed} {_span(cut)}"
            rows = minute_rows(name, preset.t0, minutes, cut_minute, base)
            cases.append(
                BacktestCase(preset_name, name, rows, preset.t0 + cut, preset.t0, actual, end)
            )
    return cases


def _span(cut: timedelta) -> str:
    hours = cut.total_seconds() / 3600
    return f"{hours:g}h" if hours < 24 or hours % 24 else f"{hours / 24:g}d"


# -- real public series (../shared/growth-data) ----------------------------------------------

STACK_EXCHANGE_SITES = ("cardano", "conlang")
STACK_EXCHANGE_CUT_DAYS = (30, 60, 90, 120)
BLUESKY_CSV = Path("bluesky") / "bsky_daily_users_activity_2023-05-08_2025-04-07.csv"
BLUESKY_WINDOW_DAYS = 30
BLUESKY_CUTOFFS = tuple(datetime(2024, 12, 1) + timedelta(days=15 * i) for i in range(6))
OWID_CSV = Path("owid") / "technology-diffusion-comin-hobijn.csv"
OWID_TECHNOLOGIES = ("Colour TV", "Refrigerator", "Radio", "Electric power", "Stove")
OWID_CUT_SHARES = (0.25, 0.5)  # cut where the share first reaches this part of its maximum
OWID_USERS_PER_POINT = 10_000  # a share of 1% as 10,000 "users" per million households


def stack_exchange_signups(growth_data: Path, site: str) -> list[datetime]:
    """Users.CreationDate (UTC) of every account but the Community bot (Id -1)."""
    pattern = re.compile(r'<row Id="(-?\d+)"[^>]*? CreationDate="([^"]+)"')
    path = growth_data / f"stackexchange-{site}" / "Users.xml"
    times = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        match = pattern.search(line)
        if match and match.group(1) != "-1":
            times.append(datetime.fromisoformat(match.group(2)))
    return sorted(times)


def stack_exchange_cases(growth_data: Path) -> list[BacktestCase]:
    cases = []
    for site in STACK_EXCHANGE_SITES:
        signups = stack_exchange_signups(growth_data, site)
        launch = signups[0].replace(hour=0, minute=0, second=0, microsecond=0)
        for days in STACK_EXCHANGE_CUT_DAYS:
            cutoff = launch + timedelta(days=days)
            name = f"{site} {days}d"
            rows = signup_rows(name, signups, cutoff)
            cases.append(
                BacktestCase(
                    "stack exchange",
                    name,
                    rows,
                    cutoff,
                    signups[0],
                    nth_signup(signups),
                    signups[-1],
                )
            )
    return cases


def bluesky_cases(growth_data: Path) -> list[BacktestCase]:
    data = pl.read_csv(growth_data / BLUESKY_CSV).filter(pl.col("users").is_not_null())
    data = data.sort("date")
    times = [datetime.fromisoformat(d) for d in data["date"]]
    totals = [float(u) for u in data["users"]]
    crossing = first_crossing(times, totals)
    cases = []
    for cutoff in BLUESKY_CUTOFFS:
        start = cutoff - timedelta(days=BLUESKY_WINDOW_DAYS)
        window = [(t, u) for t, u in zip(times, totals, strict=True) if start <= t < cutoff]
        name = f"bluesky to {cutoff:%Y-%m-%d}"
        rows = count_rows(name, [t for t, _ in window], [u for _, u in window], "day")
        cases.append(
            BacktestCase("bluesky", name, rows, window[-1][0], window[0][0], crossing, times[-1])
        )
    return cases


def owid_cases(growth_data: Path) -> list[BacktestCase]:
    table = pl.read_csv(growth_data / OWID_CSV)
    table = table.rename({table.columns[2]: "share"}).sort("Entity", "Year")
    cases = []
    for technology in OWID_TECHNOLOGIES:
        rows = table.filter(pl.col("Entity") == technology)
        times = [datetime(year, 1, 1) for year in rows["Year"]]
        totals = [round(s * OWID_USERS_PER_POINT) for s in rows["share"]]
        crossing = first_crossing(times, totals)
        for share in OWID_CUT_SHARES:
            index = next(i for i, v in enumerate(totals) if v >= share * max(totals))
            if index < 8:
                continue
            name = f"{technology} to {times[index].year}"
            fit_rows = count_rows(name, times[: index + 1], totals[: index + 1], "week")
            cases.append(
                BacktestCase("owid", name, fit_rows, times[index], times[0], crossing, times[-1])
            )
    return cases


def real_cases(growth_data: Path) -> list[BacktestCase]:
    return stack_exchange_cases(growth_data) + bluesky_cases(growth_data) + owid_cases(growth_data)


# -- running and summarising ---------------------------------------------------------------


def run_case(case: BacktestCase, seed: int = 0) -> list[BacktestRow]:
    return backtest(case.rows, case.name, case.cutoff, case.actual, case.data_end, seed=seed)


def beyond_horizon(row: BacktestRow, case: BacktestCase) -> bool:
    """Reached later than the fit's "never" horizon (HORIZON_SPANS x the observed span)."""
    span = case.cutoff - case.start
    return row.actual is not None and row.actual - case.cutoff > HORIZON_SPANS * span


def holds_truth(row: BacktestRow, case: BacktestCase) -> bool:
    """The 80% interval holds the real time; beyond the horizon an interval that runs to
    "never" does (the forecast said: not within the horizon)."""
    if beyond_horizon(row, case):
        return row.high is None
    return bool(row.inside)


def confident_wrong(row: BacktestRow, case: BacktestCase) -> bool:
    """P(never) >= 0.5 for a target reached within 3x the observed span."""
    if row.actual is None or row.p_never < CONFIDENT_NEVER:
        return False
    span = case.cutoff - case.start
    return row.actual - case.cutoff <= REACHED_WITHIN_SPANS * span


@dataclass(frozen=True)
class Summary:
    """One group's figures."""

    targets: int  # forecasts asked for
    reached: int  # targets the series reached in the data
    too_early: int  # forecasts withheld ("too early to forecast")
    median_error: float  # median |forecast - actual| / real wait (reached within the horizon)
    median_error_past_peak: float  # the same, of the cases whose rate had passed its peak
    inside: int  # reached targets whose real time lies in the 80% interval
    scored: int  # reached targets with a forecast (the base of coverage)
    confident_wrong: int

    @property
    def coverage(self) -> float:
        return self.inside / self.scored if self.scored else math.nan


def summarise(results: Sequence[tuple[BacktestCase, list[BacktestRow]]]) -> Summary:
    rows = [(case, row) for case, rows in results for row in rows]
    reached = [(c, r) for c, r in rows if r.actual is not None]
    scored = [(c, r) for c, r in reached if not r.too_early]
    errors = _relative_errors(scored)
    past_peak = _relative_errors([(c, r) for c, r in scored if r.past_peak])
    return Summary(
        targets=len(rows),
        reached=len(reached),
        too_early=sum(r.too_early for _, r in rows),
        median_error=float(np.median(errors)) if errors else math.nan,
        median_error_past_peak=float(np.median(past_peak)) if past_peak else math.nan,
        inside=sum(holds_truth(r, c) for c, r in scored),
        scored=len(scored),
        confident_wrong=sum(confident_wrong(r, c) for c, r in rows),
    )


def _relative_errors(scored: Sequence[tuple[BacktestCase, BacktestRow]]) -> list[float]:
    """|error| / real wait of the targets reached within the horizon ("never": inf)."""
    return [
        r.relative_error if r.relative_error is not None else math.inf
        for c, r in scored
        if not beyond_horizon(r, c)
    ]


def format_summary(groups: dict[str, Summary]) -> str:
    """A Markdown table, one row per group and one for all of them."""
    lines = [
        "| cases | targets | reached | too early | median abs error / real wait "
        "| the same, past the peak | 80% interval holds the truth | confident-wrong |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in groups.items():
        coverage = f"{s.inside}/{s.scored} ({s.coverage:.0%})" if s.scored else "-"
        lines.append(
            f"| {name} | {s.targets} | {s.reached} | {s.too_early} | {s.median_error:.2f} "
            f"| {s.median_error_past_peak:.2f} | {coverage} | {s.confident_wrong} |"
        )
    return "\n".join(lines)
