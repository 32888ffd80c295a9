"""The serving snapshot's tables that are not SQL models: their Arrow schemas, defined once
(the fits engine builds them, publish writes them empty when the fits are absent, and the
Spark engine publishes them). The SQL models' tables take their schemas from the m_*
tables of the migrations. Also how a count of users is written wherever the snapshot is
shown (`uptake forecast`, the dashboard, exports, the report)."""

from __future__ import annotations

import pyarrow as pa

UTC_TIME = pa.timestamp("us", tz="UTC")
# The `model` of the headline row of `fits` and `forecasts`: the Akaike-weighted mixture
# of the models, beside one row per model.
ENSEMBLE = "ensemble"
FITS_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("model", pa.string()),
        ("params", pa.string()),
        ("aic", pa.float64()),
        ("rmse", pa.float64()),
        ("n_points", pa.int64()),
        ("fitted_until", UTC_TIME),
        ("ceiling_identified", pa.bool_()),
        # Cumulative users at `fitted_until`: observed, and per the fitted curve (ensemble:
        # the weighted mean of the usable models), so a drawn curve can be checked.
        ("measured_at_end", pa.float64()),
        ("fitted_at_end", pa.float64()),
    ]
)
FORECASTS_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("model", pa.string()),
        ("users", pa.int64()),
        ("eta", UTC_TIME),
        ("eta_low", UTC_TIME),
        ("eta_high", UTC_TIME),
        ("p_never", pa.float64()),
    ]
)
# Tables the fits provide; written empty with these columns when absent.
EXTRA_SCHEMAS = {"fits": FITS_SCHEMA, "forecasts": FORECASTS_SCHEMA}


_USER_UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def format_users(users: float) -> str:
    """A count of users in three significant digits: 1000 -> '1k', 1_250_000 -> '1.25M',
    999_999 -> '1M' (rounded before the unit is chosen), 12.34 -> '12.3'."""
    value = float(f"{users:.3g}")
    for size, suffix in _USER_UNITS:
        if abs(value) >= size:
            return _significant(value / size) + suffix
    return _significant(value)


def _significant(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"  # 1000B and more
