"""Parametric bootstrap: simulate the series from a fitted model and refit, many times.

The simulated noise has the fitted negative-binomial variance (mu + a mu^2, times the
spread of the Pearson residuals) and their lag-1 autocorrelation (an AR(1) process),
because real signup series have runs of good and bad days and independent noise would
make the intervals too narrow. All draws are refitted together by a vectorised
Levenberg-Marquardt on the same deviance residuals (at the fit's over-dispersion), started
at the original fit: a loop of scipy calls would cost about 100x more, and the ETL fits on
every pass.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from etl.fits.fitting import FitResult, expected_counts, residuals_of_means
from etl.fits.likelihood import MIN_MEAN, residual_slope
from etl.fits.models import Array
from etl.fits.series import FitSeries, robust_sd

ITERATIONS = 15
TOLERANCE = 1e-6  # relative cost decrease at which a draw counts as converged
MAX_AUTOCORRELATION = 0.95


def deviance_cost(residuals: Array) -> Array:
    """The deviance of each draw: the sum of its squared deviance residuals."""
    return np.asarray(np.square(residuals).sum(axis=-1))


def residual_sd(fit: FitResult) -> float:
    return robust_sd(fit.residuals) or 1e-9


def simulated_series(
    fit: FitResult, series: FitSeries, draws: int, rng: np.random.Generator
) -> Array:
    """(draws, n) counts (in steps of the series' resolution): the fit's prediction plus
    AR(1) noise with its variance."""
    rho = float(np.clip(fit.lag1_autocorrelation, 0.0, MAX_AUTOCORRELATION))
    innovation = np.sqrt(1.0 - rho**2)
    shocks = rng.standard_normal((draws, series.counts.size))
    shocks[:, 0] /= innovation  # start the AR(1) in its stationary distribution
    noise: Array = lfilter([innovation], [1.0, -rho], shocks, axis=1)
    expected = np.maximum(expected_counts(fit.model, series, fit.params), MIN_MEAN)
    sd = np.sqrt(expected + fit.dispersion * expected**2)
    simulated: Array = expected + residual_sd(fit) * sd * noise
    return np.maximum(simulated, 0.0)


def _batch_means(fit: FitResult, series: FitSeries, x: Array) -> Array:
    """Expected counts (draws, n) of fit-space parameters x (draws, p)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return expected_counts(fit.model, series, fit.model.to_natural(x))


def _jacobian(
    fit: FitResult, series: FitSeries, x: Array, *, mu: Array, observed: Array, base: Array
) -> Array:
    """d residuals / d x, laid out (p, draws, n) so each column is contiguous: the chain
    rule through the expected counts `mu` (of x; `base` its residuals), d r / d mu in closed
    form (`residual_slope`) and d mu / d x by forward differences, so a column costs one
    evaluation of the curve, not of the deviance."""
    steps = 1e-6 * (1.0 + np.abs(x))
    jac = np.empty((x.shape[1], *base.shape))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        slope = residual_slope(mu, observed, base, fit.dispersion)
        for j in range(x.shape[1]):
            shifted = x.copy()
            shifted[:, j] += steps[:, j]
            column = np.subtract(_batch_means(fit, series, shifted), mu, out=jac[j])
            column *= slope
            column /= steps[:, j : j + 1]
    # A curve that overflows at a trial point says nothing about the direction: no step.
    finite = np.isfinite(jac)
    if not finite.all():
        jac[~finite] = 0.0
    return jac


def _normal_equations(jac: Array, residuals: Array) -> tuple[Array, Array]:
    """J'J and J'r per draw. A loop over the few parameter pairs beats a batched matmul
    of tiny matrices."""
    n_params = jac.shape[0]
    normal = np.empty((residuals.shape[0], n_params, n_params))
    for i in range(n_params):
        for j in range(i, n_params):
            normal[:, i, j] = normal[:, j, i] = np.einsum("bn,bn->b", jac[i], jac[j])
    gradient = np.einsum("pbn,bn->bp", jac, residuals)
    return normal, gradient


def _damped_step(normal: Array, gradient: Array, damping: Array) -> Array:
    identity = np.eye(normal.shape[1])
    diagonal = np.einsum("bii->bi", normal)[:, :, None] * identity
    damped = normal + damping[:, None, None] * diagonal + 1e-12 * identity
    return np.asarray(-np.linalg.solve(damped, gradient[:, :, None])[:, :, 0])


def refit_draws(fit: FitResult, series: FitSeries, observed: Array) -> Array:
    """Fit-space parameters (draws, p) minimising the deviance for every draw. A draw is
    done once a step improves it only marginally, or steps keep failing; the iterations
    go on with the draws not done yet."""
    lower, upper = fit.bounds.lower, fit.bounds.upper
    x = np.tile(fit.x, (observed.shape[0], 1))
    damping = np.full(observed.shape[0], 1e-3)
    means = _batch_means(fit, series, x)
    residuals = residuals_of_means(means, observed, fit.dispersion)
    cost = deviance_cost(residuals)
    active = np.arange(observed.shape[0])
    for _ in range(ITERATIONS):
        x_a, res_a, cost_a, seen = x[active], residuals[active], cost[active], observed[active]
        damp_a = damping[active]
        jac = _jacobian(fit, series, x_a, mu=means[active], observed=seen, base=res_a)
        normal, gradient = _normal_equations(jac, res_a)
        candidate = np.clip(x_a + _damped_step(normal, gradient, damp_a), lower, upper)
        candidate_means = _batch_means(fit, series, candidate)
        candidate_res = residuals_of_means(candidate_means, seen, fit.dispersion)
        candidate_cost = deviance_cost(candidate_res)
        better = np.isfinite(candidate_cost) & (candidate_cost < cost_a)
        gain = np.where(better, (cost_a - candidate_cost) / np.maximum(cost_a, 1e-300), 0.0)
        moved = active[better]
        x[moved], means[moved], residuals[moved], cost[moved] = (
            candidate[better],
            candidate_means[better],
            candidate_res[better],
            candidate_cost[better],
        )
        damp_a = np.where(better, damp_a / 3.0, np.minimum(damp_a * 4.0, 1e8))
        damping[active] = damp_a
        done = (better & (gain < TOLERANCE)) | (damp_a >= 1e6)
        active = active[~done]
        if not active.size:
            break
    return x


def bootstrap_params(
    fit: FitResult, series: FitSeries, draws: int, rng: np.random.Generator
) -> Array:
    """Natural parameters (draws, p) of the model refitted to simulated series."""
    observed = simulated_series(fit, series, draws, rng)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return fit.model.to_natural(refit_draws(fit, series, observed))
