"""Small-cell suppression for exports and reports: counts of fewer than k users (default 10)
are hidden, so a shared chart or CSV cannot single out a handful of people.

A hidden cell is left out (a bucket or cohort row) or blank (one count of a row); the
chart's caption says so. Zero stays zero: it reveals no one. Differences between published
cells (e.g. two cumulative totals) are not protected; see docs/PRIVACY.md."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import ChartInputs, ViewOptions
from dashboard.figures.common import wrap_caption

DEFAULT_K = 10


def suppression_note(k: int) -> str:
    return f"cells under {k} users hidden"


def _small(column: str, k: int) -> pl.Expr:
    value = pl.col(column).abs()
    return (value > 0) & (value < k)


def _blank_small(df: pl.DataFrame, columns: tuple[str, ...], k: int) -> pl.DataFrame:
    present = [c for c in columns if c in df.columns]
    return df.with_columns(
        pl.when(_small(c, k)).then(None).otherwise(pl.col(c)).alias(c) for c in present
    )


def suppress_table(name: str, df: pl.DataFrame, k: int) -> pl.DataFrame:
    """The snapshot table `name` with cells of fewer than `k` users hidden."""
    if k <= 1 or df.is_empty():
        return df
    if name == "signups":
        return df.filter(~_small("signups", k) & (pl.col("cumulative") >= k))
    if name == "active":
        return df.filter(~(_small("dau", k) | _small("wau", k) | _small("mau", k)))
    if name == "lifecycle":
        counts = ("new", "returning", "resurrected", "dormant", "active")
        return _blank_small(df, counts, k)
    if name == "retention":
        kept = df.filter(pl.col("cohort_size") >= k)
        return _blank_small(kept, ("retained", "retained_or_after"), k)
    if name == "activation":
        kept = df.filter(pl.col("signups") >= k)
        return _blank_small(kept, ("activated_24h", "activated_7d"), k)
    if name == "channels" and "signups" in df.columns:
        return df.filter(~_small("signups", k))
    return df


@dataclass(frozen=True)
class SuppressedInputs(ChartInputs):
    """Chart inputs whose tables hide cells of fewer than `suppress_below` users."""

    suppress_below: int = DEFAULT_K

    def table(self, name: str, options: ViewOptions | None = None) -> pl.DataFrame:
        """The table as ChartInputs gives it (with the view's time range), then suppressed."""
        shown = super().table(name) if options is None else super().table(name, options)
        return suppress_table(name, shown, self.suppress_below)


def suppressed_by(inputs: ChartInputs) -> int:
    """k when the inputs suppress small cells, else 0."""
    return inputs.suppress_below if isinstance(inputs, SuppressedInputs) else 0


def note_suppression(fig: go.Figure, k: int) -> go.Figure:
    """Add "cells under k users hidden" to the figure's caption (when k > 0)."""
    if k <= 0:
        return fig
    note = suppression_note(k)
    for annotation in fig.layout.annotations:
        if annotation.name == "caption":
            text = str(annotation.text or "").replace("<br>", " · ")
            annotation.text = wrap_caption(f"{text} · {note}" if text else note)
            return fig
    fig.add_annotation(
        text=note,
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-80,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        name="caption",
    )
    return fig
