"""The fits' hot kernels (deviance, model curves, residuals) are rewritten for speed in
place; they must give the very same bits as the plain formulas they replace: the fits are
sensitive to the last bit (an exact tie between logistic and Bass, flat directions of a
fading tail), so "close" is not enough."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, getcontext

import numpy as np
import pytest
from scipy.special import expit, xlogy

from etl.fits.backtest import model_rows
from etl.fits.bootstrap import _jacobian
from etl.fits.fitting import expected_counts, fit_model, fit_residuals
from etl.fits.likelihood import MIN_MEAN, deviance_residuals, residual_slope, unit_deviance
from etl.fits.models import (
    BASS,
    BURST_INFLOW,
    BURST_TAIL,
    EXPONENTIAL,
    GOMPERTZ,
    LOGISTIC,
    MODELS,
    GrowthModel,
)
from etl.fits.series import build_series

Array = np.ndarray


def reference_unit_deviance(mu: Array, y: Array, dispersion: float) -> Array:
    mu = np.maximum(mu, MIN_MEAN)
    a = dispersion
    shrink = (y + 1.0 / a) * np.log1p(a * (y - mu) / (1.0 + a * mu))
    return np.asarray(np.maximum(2.0 * (xlogy(y, y / mu) - shrink), 0.0))


def reference_deviance_residuals(mu: Array, y: Array, dispersion: float) -> Array:
    return np.asarray(np.sign(y - mu) * np.sqrt(reference_unit_deviance(mu, y, dispersion)))


def _exp(x: Array) -> Array:
    return np.exp(np.minimum(x, 700.0))


def _fading(inflow: Array, fade: Array, elapsed: Array) -> Array:
    steady = fade <= 0
    rate = np.where(steady, 1.0, fade)
    return np.asarray(inflow * np.where(steady, elapsed, -np.expm1(-rate * elapsed) / rate))


REFERENCE_CURVES: dict[str, Callable[[Array, Array], Array]] = {
    "logistic": lambda t, p: p[..., 0:1] * expit(p[..., 1:2] * (t - p[..., 2:3])),
    "gompertz": lambda t, p: p[..., 0:1] * np.exp(-_exp(-p[..., 1:2] * (t - p[..., 2:3]))),
    "bass": lambda t, p: (
        p[..., 0:1]
        * (1.0 - _exp(-(p[..., 1:2] + p[..., 2:3]) * np.maximum(t, 0.0)))
        / (
            1.0
            + p[..., 2:3] / p[..., 1:2] * _exp(-(p[..., 1:2] + p[..., 2:3]) * np.maximum(t, 0.0))
        )
    ),
    "exponential": lambda t, p: p[..., 0:1] * _exp(p[..., 1:2] * np.maximum(t, 0.0)),
    "burst_inflow": lambda t, p: _ramped(
        p[..., 0:1] * -np.expm1(-p[..., 1:2] * np.maximum(t, 0.0))
        + p[..., 2:3] * np.maximum(t, 0.0),
        p[..., 0:1] * p[..., 1:2] * np.exp(-p[..., 1:2] * np.maximum(t, 0.0)) + p[..., 2:3],
        p[..., 3:4],
        np.maximum(t, 0.0),
    ),
    "burst_tail": lambda t, p: _ramped(
        p[..., 0:1] * -np.expm1(-p[..., 1:2] * np.maximum(t, 0.0))
        + _fading(p[..., 2:3], p[..., 3:4], np.maximum(t, 0.0)),
        p[..., 0:1] * p[..., 1:2] * np.exp(-p[..., 1:2] * np.maximum(t, 0.0))
        + p[..., 2:3] * np.exp(-p[..., 3:4] * np.maximum(t, 0.0)),
        p[..., 4:5],
        np.maximum(t, 0.0),
    ),
}


def _ramped(curve: Array, rate: Array, ramp: Array, elapsed: Array) -> Array:
    """The launch ramp: C(t) - (1 - e^{-rt}) f(t) / r."""
    return np.asarray(curve + np.expm1(-ramp * elapsed) * rate / ramp)


def _counts_and_means(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Array, Array]:
    y = np.round(rng.gamma(0.5, 40.0, shape))
    y[..., ::5] = 0.0
    mu = y * rng.uniform(0.3, 3.0, shape) + rng.uniform(-0.01, 2.0, shape)
    mu[..., ::7] = rng.uniform(0.0, 2e-3, mu[..., ::7].shape)  # around the floor
    return y, mu


def test_unit_deviance_is_the_reference_formula_to_the_bit() -> None:
    rng = np.random.default_rng(1)
    y, mu = _counts_and_means(rng, (40, 300))
    # The odd corners a solver's trial points reach: nan, inf, 0, negative, tiny means.
    odd = np.array([np.nan, np.inf, 0.0, -1.0, 1e-300, 1e300])
    mu[0, : odd.size], y[0, : odd.size] = odd, 0.0
    mu[1, : odd.size], y[1, : odd.size] = odd, 3.0
    for a in (1e-6, 3e-3, 0.05, 1.0, 50.0):
        with np.errstate(all="ignore"):
            expected = reference_unit_deviance(mu, y, a)
            residuals = reference_deviance_residuals(mu, y, a)
        assert np.array_equal(unit_deviance(mu, y, a), expected, equal_nan=True)
        assert np.array_equal(deviance_residuals(mu, y, a), residuals, equal_nan=True)


@pytest.mark.parametrize("shapes", [((300,), (300,)), ((300,), (40, 300)), ((40, 300), (300,))])
def test_unit_deviance_broadcasts_like_the_reference(
    shapes: tuple[tuple[int, ...], tuple[int, ...]],
) -> None:
    rng = np.random.default_rng(2)
    y, _ = _counts_and_means(rng, shapes[0])
    _, mu = _counts_and_means(rng, shapes[1])
    mu_before, y_before = mu.copy(), y.copy()
    expected = reference_deviance_residuals(mu, y, 0.02)
    assert np.array_equal(deviance_residuals(mu, y, 0.02), expected)
    # In place on its own buffers, never on the caller's arrays.
    assert np.array_equal(mu, mu_before) and np.array_equal(y, y_before)


def _params(model: GrowthModel, rng: np.random.Generator, draws: int) -> Array:
    params = {
        "logistic": [1e6, 0.4, 12.0],
        "gompertz": [1e6, 0.3, 10.0],
        "bass": [1e6, 0.002, 0.4],
        "exponential": [50.0, 0.2],
        "burst_inflow": [5e5, 3.0, 2e4, 40.0],
        "burst_tail": [5e5, 3.0, 2e4, 0.05, 40.0],
    }[model.name]
    spread = rng.uniform(0.2, 5.0, (draws, len(params)))
    if model.name in ("logistic", "gompertz"):
        spread[:, 2] = rng.uniform(-1.0, 3.0, draws)
    batch = np.array(params) * spread
    if model.name == "burst_tail":
        batch[::3, 3] = 0.0  # a tail that does not fade: burst_inflow
    return batch


@pytest.mark.parametrize(
    "model", [LOGISTIC, GOMPERTZ, BASS, EXPONENTIAL, BURST_INFLOW, BURST_TAIL], ids=lambda m: m.name
)
def test_model_curves_are_the_reference_formulas_to_the_bit(model: GrowthModel) -> None:
    rng = np.random.default_rng(3)
    t = np.r_[-0.5, 0.0, np.sort(rng.uniform(0.0, 60.0, 200)), 1e4]
    batch = _params(model, rng, 25)
    reference = REFERENCE_CURVES[model.name]
    with np.errstate(all="ignore"):
        assert np.array_equal(model.cumulative(t, batch), reference(t, batch), equal_nan=True)
        for one in batch[:4]:  # one parameter vector, and one time at a time
            assert np.array_equal(model.cumulative(t, one), reference(t, one), equal_nan=True)
            assert np.array_equal(
                model.cumulative(t[3:4], one), reference(t[3:4], one), equal_nan=True
            )
        # Times to reach a level (burst_tail bisects on its curve), one vector and batched.
        target = np.float64(0.5 * float(np.nanmax(reference(t, batch[0]))))
        assert np.isfinite(model.time_to_reach(target, batch[0]))
        assert model.time_to_reach(np.full(batch.shape[0], target), batch).shape == (25,)


@pytest.mark.parametrize("model", [BURST_INFLOW, BURST_TAIL], ids=lambda m: m.name)
def test_a_launch_ramp_delays_signups_and_loses_none(model: GrowthModel) -> None:
    """The ramped curve starts at pace 0, rises, and ends 1/r days of its constant inflow
    behind the unramped one (the first draw's tail does not fade); r -> inf is no ramp,
    to the bit."""
    params = np.array(_params(model, np.random.default_rng(0), 1)[0])
    t = np.r_[0.0, np.geomspace(1e-6, 1e3, 400)]
    ramped = model.cumulative(t, params)
    plain = params.copy()
    plain[-1] = 1e300
    unramped = model.cumulative(t, plain)
    rate = np.diff(ramped) / np.diff(t)
    assert rate[0] < 1e-3 * np.max(rate) and np.all(rate >= 0)
    assert np.all(ramped <= unramped)
    assert unramped[-1] - ramped[-1] == pytest.approx(params[2] / params[-1], rel=1e-6)
    with np.errstate(invalid="ignore"):
        reference = REFERENCE_CURVES[model.name](t, np.r_[params[:-1], np.inf])
    assert np.array_equal(unramped[1:], reference[1:])


# -- the bootstrap's Jacobian: the chain rule through the expected counts ---------------------


def exact_slope(mu: float, y: float, dispersion: float) -> float:
    """d r / d mu of the deviance residual by central differences in 60-digit decimals."""
    getcontext().prec = 60

    def residual(m: Decimal) -> Decimal:
        count, a = Decimal(y), Decimal(dispersion)
        own = count * (count / m).ln() if count > 0 else Decimal(0)
        deviance = 2 * (own - (count + 1 / a) * ((1 + a * count) / (1 + a * m)).ln())
        root = max(deviance, Decimal(0)).sqrt()
        return root if count > m else -root

    step = Decimal(mu) * Decimal("1e-20")
    return float((residual(Decimal(mu) + step) - residual(Decimal(mu) - step)) / (2 * step))


def test_residual_slope_is_the_derivative_of_the_deviance_residual() -> None:
    rng = np.random.default_rng(4)
    mu = np.exp(rng.uniform(np.log(0.01), np.log(1e6), 300))
    # Counts off their mean by 0.1% to 2x, and none.
    off = rng.choice([-1.0, 1.0], 200) * np.exp(rng.uniform(np.log(1e-3), np.log(2.0), 200))
    y = np.concatenate([np.maximum(mu[:200] * (1 + off), 0.0), np.zeros(100)])
    for dispersion in (1e-6, 0.05, 3.0):
        residuals = deviance_residuals(mu, y, dispersion)
        slope = residual_slope(mu, y, residuals, dispersion)
        exact = [exact_slope(m, c, dispersion) for m, c in zip(mu, y, strict=True)]
        np.testing.assert_allclose(slope, exact, rtol=1e-6)
        # At y = mu the residual is 0 and its slope -1 / sqrt(V), also for large counts,
        # where the fit's deviance of y close to mu is rounding noise.
        at_mean = residual_slope(mu, mu, np.zeros_like(mu), dispersion)
        close = residual_slope(mu, mu * (1 + 1e-9), np.zeros_like(mu), dispersion)
        limit = -1.0 / np.sqrt(mu * (1 + dispersion * mu))
        np.testing.assert_allclose(at_mean, limit, rtol=1e-12)
        np.testing.assert_allclose(close, limit, rtol=1e-4)
    floored = np.array([MIN_MEAN / 2])
    assert residual_slope(floored, np.array([3.0]), np.array([1.0]), 0.1)[0] == 0.0


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_the_bootstrap_jacobian_is_that_of_the_residuals(model: GrowthModel) -> None:
    rows = model_rows(
        "p",
        BURST_TAIL,
        [5e6, 2.0, 4e4, 0.1, 48.0],
        start=datetime(2025, 3, 1),
        days=20,
        seed=2,
        diurnal=0.3,
    )
    series = build_series("p", rows)
    assert series is not None
    fit = fit_model(model, series)
    draws = 4
    noise = np.random.default_rng(1).normal(1.0, 0.05, (draws, series.counts.size))
    observed = np.maximum(series.counts * noise, 0.0)
    x = fit.x + np.random.default_rng(2).normal(0.0, 0.01, (draws, fit.x.size))
    base = fit_residuals(model, series, x, observed, fit.dispersion)
    mu = expected_counts(model, series, model.to_natural(x))
    chain = _jacobian(fit, series, x, mu=mu, observed=observed, base=base)
    plain = np.empty_like(chain)  # forward differences of the residuals themselves
    for j in range(x.shape[1]):
        step = 1e-6 * (1.0 + np.abs(x[:, j : j + 1]))
        shifted = x.copy()
        shifted[:, j : j + 1] += step
        plain[j] = (fit_residuals(model, series, shifted, observed, fit.dispersion) - base) / step
    # Forward differences of the float residuals carry their rounding noise: compare each
    # parameter's column as a whole.
    for j in range(x.shape[1]):
        gap = np.linalg.norm(chain[j] - plain[j]) / np.linalg.norm(plain[j])
        assert gap < 1e-3, (model.name, j, gap)
