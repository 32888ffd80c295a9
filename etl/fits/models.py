"""The growth models: cumulative curves C(t), their inverses and their ceilings.

Time is in days since the platform's t0 everywhere in this package. Every curve is
monotone in t, so "when does C reach N" has one answer; where a closed form exists
(logistic, Gompertz, Bass, exponential, and Lambert W for burst + inflow) it is used,
which keeps thousands of bootstrap forecasts cheap.

Functions take parameters as arrays that broadcast against t, so one call evaluates a
whole batch of bootstrap draws (params of shape (draws, 1) against t of shape (n,)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, lambertw

Array = NDArray[np.float64]
# exp() overflows past ~709; curves beyond that are numerically flat anyway.
_EXP_CAP = 700.0


def _exp(x: Array) -> Array:
    return np.exp(np.minimum(x, _EXP_CAP))


@dataclass(frozen=True)
class GrowthModel:
    """One model family: names of its parameters, which ones live in log space, C(t)
    and, for models with a ceiling, the ceiling and the inflection time."""

    name: str
    param_names: tuple[str, ...]
    log_space: tuple[bool, ...]  # positive parameters are fitted as their logarithm
    cumulative: Callable[[Array, Array], Array]  # (t, params[..., p]) -> C(t)
    time_to_reach: Callable[[Array, Array], Array]  # (target C, params) -> t, inf if never
    ceiling: Callable[[Array], Array] | None = None  # params -> C(inf); None: no ceiling
    inflection: Callable[[Array], Array] | None = None  # params -> time of peak increments

    @property
    def has_ceiling(self) -> bool:
        return self.ceiling is not None

    def to_natural(self, x: Array) -> Array:
        """Optimizer space (logs of positive parameters) -> natural parameters."""
        return np.where(np.asarray(self.log_space), np.exp(np.minimum(x, _EXP_CAP)), x)

    def to_fit_space(self, params: Array) -> Array:
        return np.where(np.asarray(self.log_space), np.log(np.maximum(params, 1e-300)), params)


def _logistic(t: Array, p: Array) -> Array:
    ceiling, rate, t_mid = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return np.asarray(ceiling * expit(rate * (t - t_mid)))


def _logistic_time(target: Array, p: Array) -> Array:
    ceiling, rate, t_mid = p[..., 0], p[..., 1], p[..., 2]
    share = np.clip(target / ceiling, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        t = t_mid + np.log(share / (1.0 - share)) / rate
    return np.where(target < ceiling, t, np.inf)


def _gompertz(t: Array, p: Array) -> Array:
    # Parametrised by its inflection time: C(t_mid) = K / e.
    ceiling, rate, t_mid = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return ceiling * np.exp(-_exp(-rate * (t - t_mid)))


def _gompertz_time(target: Array, p: Array) -> Array:
    ceiling, rate, t_mid = p[..., 0], p[..., 1], p[..., 2]
    share = np.clip(target / ceiling, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        t = t_mid - np.log(-np.log(share)) / rate
    return np.where(target < ceiling, t, np.inf)


def _bass(t: Array, p: Array) -> Array:
    market, innovation, imitation = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    decay = _exp(-(innovation + imitation) * np.maximum(t, 0.0))
    return market * (1.0 - decay) / (1.0 + imitation / innovation * decay)


def _bass_time(target: Array, p: Array) -> Array:
    market, innovation, imitation = p[..., 0], p[..., 1], p[..., 2]
    share = np.clip(target / market, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        t = -np.log((1.0 - share) / (1.0 + imitation / innovation * share))
    return np.where(target < market, t / (innovation + imitation), np.inf)


def _bass_inflection(p: Array) -> Array:
    innovation, imitation = p[..., 1], p[..., 2]
    peak = np.log(np.maximum(imitation / innovation, 1.0)) / (innovation + imitation)
    return np.asarray(peak)


def _exponential(t: Array, p: Array) -> Array:
    # C(t0) = scale, not 0: a window that starts with users already there (a survey's
    # first share) is explained by the same curve; the increments, all a launch's fit
    # sees, are those of scale * (e^{gt} - 1).
    scale, growth = p[..., 0:1], p[..., 1:2]
    return scale * _exp(growth * np.maximum(t, 0.0))


def _exponential_time(target: Array, p: Array) -> Array:
    # A target at or below C(t0) was reached at t0.
    scale, growth = p[..., 0], p[..., 1]
    return np.asarray(np.log(np.maximum(target / scale, 1.0)) / growth)


def _burst_inflow(t: Array, p: Array) -> Array:
    burst, decay, inflow = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    elapsed = np.maximum(t, 0.0)
    return burst * -np.expm1(-decay * elapsed) + inflow * elapsed


def _lambert_w_of_exp(log_z: Array) -> Array:
    """W0(exp(log_z)), without overflowing exp for large arguments."""
    small = np.minimum(log_z, 50.0)
    exact = lambertw(np.exp(small)).real
    ln_ln = np.log(np.maximum(log_z, 1.0))
    asymptotic = log_z - ln_ln + ln_ln / np.maximum(log_z, 1.0)
    return np.asarray(np.where(log_z > 50.0, asymptotic, exact))


def _burst_inflow_time(target: Array, p: Array) -> Array:
    # A(1 - e^{-kt}) + bt = T  =>  t = L + W0((kA/b) e^{-kL}) / k  with L = (T - A) / b.
    burst, decay, inflow = p[..., 0], p[..., 1], p[..., 2]
    linear_time = (target - burst) / inflow
    log_z = np.log(decay * burst / inflow) - decay * linear_time
    return np.asarray(linear_time + _lambert_w_of_exp(log_z) / decay)


LOGISTIC = GrowthModel(
    name="logistic",
    param_names=("ceiling", "rate_per_day", "inflection_day"),
    log_space=(True, True, False),
    cumulative=_logistic,
    time_to_reach=_logistic_time,
    ceiling=lambda p: p[..., 0],
    inflection=lambda p: p[..., 2],
)
GOMPERTZ = GrowthModel(
    name="gompertz",
    param_names=("ceiling", "rate_per_day", "inflection_day"),
    log_space=(True, True, False),
    cumulative=_gompertz,
    time_to_reach=_gompertz_time,
    ceiling=lambda p: p[..., 0],
    inflection=lambda p: p[..., 2],
)
BASS = GrowthModel(
    name="bass",
    param_names=("market_m", "innovation_p_per_day", "imitation_q_per_day"),
    log_space=(True, True, True),
    cumulative=_bass,
    time_to_reach=_bass_time,
    ceiling=lambda p: p[..., 0],
    inflection=_bass_inflection,
)
EXPONENTIAL = GrowthModel(
    name="exponential",
    param_names=("scale", "growth_per_day"),
    log_space=(True, True),
    cumulative=_exponential,
    time_to_reach=_exponential_time,
)
BURST_INFLOW = GrowthModel(
    name="burst_inflow",
    param_names=("burst_users", "burst_decay_per_day", "inflow_per_day"),
    log_space=(True, True, True),
    cumulative=_burst_inflow,
    time_to_reach=_burst_inflow_time,
)

MODELS: tuple[GrowthModel, ...] = (LOGISTIC, GOMPERTZ, BASS, EXPONENTIAL, BURST_INFLOW)
