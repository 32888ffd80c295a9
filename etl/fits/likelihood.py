"""The negative-binomial likelihood every model is fitted with and compared on.

Per-period signups are counts whose variance grows faster than their mean (a launch's
hours differ by more than Poisson noise: news, outages, a diurnal cycle that is not a
perfect sine), so each bucket is NB2: mean mu (the model's increment times the seasonal
factor), variance mu + a mu^2, with the over-dispersion a estimated per model. The fit
minimises the deviance (twice the negative log-likelihood above that of a perfect fit) by
least squares on deviance residuals, and AICc is computed from the full log-likelihood
at the fitted mu and a: the criterion is the likelihood the fit optimises, on the same
counts for every model, so AICc compares them.

Where it matters: the error of a bucket is weighed relative to its size (a^-1/2 is the
relative spread at large counts), so a model that misses the launch burst by a factor of
ten cannot win by fitting the quiet tail, and the drawn curve follows the measured one.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln, xlogy

from etl.fits.models import Array

# Means below this are floored: a model predicting 0 where signups happened is very wrong,
# not infinitely wrong.
MIN_MEAN = 1e-3
MIN_DISPERSION, MAX_DISPERSION = 1e-6, 50.0


def unit_deviance(mu: Array, y: Array, dispersion: float) -> Array:
    """2 (log L(y; y) - log L(y; mu)) per point, for NB2 with variance mu + a mu^2:
    2 (xlogy(y, y / mu) - (y + 1/a) log1p(a (y - mu) / (1 + a mu))).

    Every step of every fit and bootstrap evaluates this on whole batches: the operations
    are those of the formula, in its order (the fits are sensitive to the last bit), done
    in place on two buffers."""
    a = dispersion
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu = np.maximum(mu, MIN_MEAN)
        gain = np.divide(y, mu)
        xlogy(y, gain, out=gain)
        shrink = np.subtract(y, mu)
        shrink *= a
        np.multiply(mu, a, out=mu)
        mu += 1.0
        shrink /= mu
        np.log1p(shrink, out=shrink)
        shrink *= y + 1.0 / a
        gain -= shrink
        gain *= 2.0
        return np.maximum(gain, 0.0, out=gain)


def deviance_residuals(mu: Array, y: Array, dispersion: float) -> Array:
    """sign(y - mu) sqrt(unit deviance): their sum of squares is the deviance."""
    residuals = np.sqrt(unit_deviance(mu, y, dispersion))
    with np.errstate(invalid="ignore"):
        residuals *= np.sign(np.subtract(y, mu))
    return residuals


def residual_slope(mu: Array, observed: Array, residuals: Array, dispersion: float) -> Array:
    """d r / d mu of the deviance residuals r = sign(y - mu) sqrt(d(y, mu)) of NB2:
    -|y - mu| / (V |r|) with V = mu (1 + a mu). |y - mu| / |r| is taken from the deviance
    written with log1p (exact to rounding where y is close to mu, where the fit's own
    deviance is the difference of two nearly equal terms), and is sqrt(V), its limit, at
    y = mu. 0 where the mean is floored at MIN_MEAN or the residual clipped."""
    a = dispersion
    floored = np.maximum(mu, MIN_MEAN)
    variance = floored * (1.0 + a * floored)
    gap = observed - floored
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(observed > 0, observed * np.log1p(gap / floored), 0.0)
        deviance = 2.0 * (own - (observed + 1.0 / a) * np.log1p(a * gap / (1.0 + a * floored)))
        ratio = np.abs(gap) / np.sqrt(deviance)
    # Within 1e-5 of the mean the limit is exact to 1e-5, and the difference in the
    # deviance is still rounding-sized.
    usable = np.isfinite(ratio) & (deviance > 0) & (np.abs(gap) > 1e-5 * floored)
    ratio = np.where(usable, ratio, np.sqrt(variance))
    slope = -ratio / variance
    return np.asarray(np.where((mu >= MIN_MEAN) & (np.abs(residuals) < 1e150), slope, 0.0))


def pearson_residuals(mu: Array, y: Array, dispersion: float) -> Array:
    mu = np.maximum(mu, MIN_MEAN)
    return np.asarray((y - mu) / np.sqrt(mu + dispersion * mu**2))


def log_likelihood(mu: Array, y: Array, dispersion: float) -> float:
    """Full NB2 log-likelihood (y need not be an integer: gamma functions throughout)."""
    mu = np.maximum(mu, MIN_MEAN)
    r = 1.0 / dispersion
    terms = (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * np.log(r / (r + mu))
        + xlogy(y, mu / (r + mu))
    )
    return float(terms.sum())


def fit_dispersion(mu: Array, y: Array) -> float:
    """The maximum-likelihood over-dispersion for given means."""
    result = minimize_scalar(
        lambda log_a: -log_likelihood(mu, y, float(np.exp(log_a))),
        bounds=(np.log(MIN_DISPERSION), np.log(MAX_DISPERSION)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(np.exp(result.x))
