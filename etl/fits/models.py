"""The growth models: cumulative curves C(t), their inverses and their ceilings.

Time is in days since the platform's t0 everywhere in this package. Every curve is
monotone in t, so "when does C reach N" has one answer; where a closed form exists
(logistic, Gompertz, Bass, exponential) it is used, which keeps thousands of bootstrap
forecasts cheap; the burst models (with their launch ramp) are solved by bisection,
vectorised over the draws.

Functions take parameters as arrays that broadcast against t, so one call evaluates a
whole batch of bootstrap draws (params of shape (draws, 1) against t of shape (n,)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

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
    # params -> the same curve's parameters in canonical order (terms that can swap roles)
    in_order: Callable[[Array], Array] | None = None
    # params -> (index, natural value) of the one parameter to pin so that, the others as
    # fitted, the ceiling doubles: the profile check's alternative. None: the ceiling is
    # parameter 0 itself.
    doubled_ceiling: Callable[[Array], tuple[int, float]] | None = None
    # Models without a ceiling: (t, params) -> the part of C(t) that never levels off
    # (burst + inflow: the inflow). None: all of it.
    open_ended: Callable[[Array, Array], Array] | None = None

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
    # ceiling * expit(rate * (t - t_mid)), in place on one buffer: curves are evaluated
    # on whole bootstrap batches many times per fit.
    curve = np.asarray(np.subtract(t, t_mid))
    curve *= rate
    expit(curve, out=curve)
    curve *= ceiling
    return curve


def _logistic_time(target: Array, p: Array) -> Array:
    ceiling, rate, t_mid = p[..., 0], p[..., 1], p[..., 2]
    share = np.clip(target / ceiling, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        t = t_mid + np.log(share / (1.0 - share)) / rate
    return np.where(target < ceiling, t, np.inf)


def _gompertz(t: Array, p: Array) -> Array:
    # Parametrised by its inflection time: C(t_mid) = K / e.
    ceiling, rate, t_mid = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    # ceiling * exp(-_exp(-rate * (t - t_mid))), in place on one buffer.
    curve = np.asarray(np.subtract(t, t_mid))
    curve *= -rate
    np.minimum(curve, _EXP_CAP, out=curve)
    np.exp(curve, out=curve)
    np.negative(curve, out=curve)
    np.exp(curve, out=curve)
    curve *= ceiling
    return curve


def _gompertz_time(target: Array, p: Array) -> Array:
    ceiling, rate, t_mid = p[..., 0], p[..., 1], p[..., 2]
    share = np.clip(target / ceiling, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        t = t_mid - np.log(-np.log(share)) / rate
    return np.where(target < ceiling, t, np.inf)


def _bass(t: Array, p: Array) -> Array:
    market, innovation, imitation = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    # market (1 - decay) / (1 + (q / p) decay), on two buffers.
    decay = np.asarray(np.multiply(-(innovation + imitation), np.maximum(t, 0.0)))
    np.minimum(decay, _EXP_CAP, out=decay)
    np.exp(decay, out=decay)
    curve = np.asarray(np.subtract(1.0, decay))
    curve *= market
    decay *= imitation / innovation
    decay += 1.0
    curve /= decay
    return curve


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
    burst, decay, inflow, ramp = p[..., 0:1], p[..., 1:2], p[..., 2:3], p[..., 3:4]
    elapsed = np.maximum(t, 0.0)
    curve = _burst(burst, decay, elapsed) + inflow * elapsed
    rate = burst * decay * np.exp(-decay * elapsed) + inflow
    return _held_back(curve, rate, ramp, elapsed)


def _held_back(curve: Array, rate: Array, ramp: Array, elapsed: Array) -> Array:
    """A launch's ramp: signups that reach the platform over about 1/r days rather than at
    once. For a sum of decaying terms of rate f(t), the ramped curve, whose rate is
    (1 - e^{-rt})(f - f'/r), is C(t) - (1 - e^{-rt}) f(t) / r: the users of the last 1/r
    days are still on their way, none is lost (the ceiling is C's). r = inf is no ramp."""
    held = np.asarray(np.multiply(-ramp, elapsed))
    np.expm1(held, out=held)
    held *= rate
    held /= ramp
    curve += held
    return curve


def _burst(burst: Array, decay: Array, elapsed: Array) -> Array:
    """burst * -expm1(-decay * elapsed), in place on one buffer."""
    curve = np.asarray(np.multiply(-decay, elapsed))
    np.expm1(curve, out=curve)
    np.negative(curve, out=curve)
    curve *= burst
    return curve


def _fading_inflow(inflow: Array, fade: Array, elapsed: Array) -> Array:
    """Users from an inflow of `inflow` per day at t0 that fades at `fade` per day:
    inflow (1 - e^{-jt}) / j, which is inflow * t at j = 0 (expm1 keeps it exact near 0)."""
    steady = fade <= 0
    rate = np.where(steady, 1.0, fade)
    # inflow * where(steady, elapsed, -expm1(-rate * elapsed) / rate), in place.
    curve = np.asarray(np.multiply(-rate, elapsed))
    np.expm1(curve, out=curve)
    np.negative(curve, out=curve)
    curve /= rate
    if steady.any():
        curve = np.where(steady, elapsed, curve)
    curve *= inflow
    return curve


def _burst_tail(t: Array, p: Array) -> Array:
    burst, decay, tail, fade = p[..., 0:1], p[..., 1:2], p[..., 2:3], p[..., 3:4]
    elapsed = np.maximum(t, 0.0)
    curve = _burst(burst, decay, elapsed)
    curve += _fading_inflow(tail, fade, elapsed)
    rate = burst * decay * np.exp(-decay * elapsed) + tail * np.exp(-fade * elapsed)
    return _held_back(curve, rate, p[..., 4:5], elapsed)


def _burst_tail_total(p: Array) -> Array:
    """C(inf) = A + b/j: the users a fading tail levels off at (inf for j = 0)."""
    burst, tail, fade = p[..., 0], p[..., 2], p[..., 3]
    with np.errstate(divide="ignore"):
        return np.asarray(burst + np.where(fade > 0, tail / np.maximum(fade, 1e-300), np.inf))


# Bisection steps on log time for the burst models (no closed form): 64 halvings of a
# range of e^40 days pin the time to ~1e-18 of itself.
_BISECTIONS = 64
_LOG_DAYS = (-20.0, 20.0)


def _bisected_time(curve: Callable[[Array, Array], Array], target: Array, p: Array) -> Array:
    """When the increasing `curve` reaches `target`: bisection on log time, vectorised over
    a batch of parameters; inf past the last bracket."""
    goal = np.asarray(target, dtype=float)
    low = np.full(np.broadcast_shapes(goal.shape, p.shape[:-1]), _LOG_DAYS[0])
    high = np.full_like(low, _LOG_DAYS[1])
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        below = curve(np.exp(middle)[..., None], p)[..., 0] < goal
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.asarray(np.where(goal <= 0, 0.0, np.where(high < _LOG_DAYS[1], np.exp(high), np.inf)))


def _burst_inflow_time(target: Array, p: Array) -> Array:
    return _bisected_time(_burst_inflow, target, p)


def _burst_tail_time(target: Array, p: Array) -> Array:
    """inf at or above C(inf)."""
    days = _bisected_time(_burst_tail, target, p)
    return np.asarray(np.where(np.asarray(target) < _burst_tail_total(p), days, np.inf))


def _burst_tail_doubled(p: Array) -> tuple[int, float]:
    """The fade j' at which A + b/j' is twice A + b/j: a tail that lasts longer."""
    burst, tail, fade = float(p[0]), float(p[2]), float(p[3])
    return 3, tail / (burst + 2.0 * tail / fade) if fade > 0 else 0.0


def _burst_tail_in_order(p: Array) -> Array:
    """The faster of the two decays is the burst: A(1 - e^{-kt}) and (b/j)(1 - e^{-jt})
    are the same kind of term, so a fit may return them either way round."""
    burst, decay, tail, fade = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    swap = fade > decay
    return np.stack(
        [
            np.where(swap, tail / np.maximum(fade, 1e-300), burst),
            np.where(swap, fade, decay),
            np.where(swap, burst * decay, tail),
            np.where(swap, decay, fade),
            p[..., 4],
        ],
        axis=-1,
    )


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
# The launch ramp of the burst models (see _held_back); at its upper bound (a ramp within
# a fraction of a bucket) the burst starts at full pace, as it did before the ramp.
RAMP = "launch_ramp_per_day"

BURST_INFLOW = GrowthModel(
    name="burst_inflow",
    param_names=("burst_users", "burst_decay_per_day", "inflow_per_day", RAMP),
    log_space=(True, True, True, True),
    cumulative=_burst_inflow,
    time_to_reach=_burst_inflow_time,
    open_ended=lambda t, p: p[..., 2:3] * np.maximum(t, 0.0),
)

BURST_TAIL = GrowthModel(
    name="burst_tail",
    param_names=(
        "burst_users",
        "burst_decay_per_day",
        "tail_per_day",
        "tail_fade_per_day",
        RAMP,
    ),
    # The tail's fade is 0 for a constant inflow (burst_inflow): fitted as it is, not as a
    # log, so the fit and its bootstrap can reach 0.
    log_space=(True, True, True, False, True),
    cumulative=_burst_tail,
    time_to_reach=_burst_tail_time,
    # A tail that fades levels off at A + b/j: a ceiling, checked like an S-curve's. Both
    # terms decay, so the signup rate peaks at t0.
    ceiling=_burst_tail_total,
    inflection=lambda p: np.zeros(np.shape(p)[:-1]),
    in_order=_burst_tail_in_order,
    doubled_ceiling=_burst_tail_doubled,
)

MODELS: tuple[GrowthModel, ...] = (
    LOGISTIC,
    GOMPERTZ,
    BASS,
    EXPONENTIAL,
    BURST_INFLOW,
    BURST_TAIL,
)
