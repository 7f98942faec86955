"""Profile-likelihood intervals for a least-squares fit whose objective is a deviance.

``objective(x) = sum(residuals(x) ** 2)`` is ``-2 log L`` up to a constant (the residuals are
scaled so; :mod:`.sir_fit` does it). The ``level`` interval of parameter ``k`` is the set of
values ``v`` whose profile ``min_{x: x_k = v} objective(x)`` is within the chi-square quantile
``chi2_1(level)`` of the minimum (Wilks). Each side is walked outwards from the optimum in
steps scaled by the Wald standard error, re-fitting the other parameters from the previous
step's solution, until the profile crosses the threshold or the parameter reaches its bound
(the interval is then open on that side: ``closed = False``). The crossing is interpolated on
the scale of ``sqrt(profile - minimum)``, which is linear in the parameter where the likelihood
is regular: a step of any size then finds the exact end of a quadratic profile. Unlike Wald
intervals these follow the likelihood where it is skewed or flat, which is where a storm's
parameters often are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

STEPS = (0.5, 1.0, 1.6, 2.4, 3.5, 5.0, 7.5, 11.0, 16.0)
"""Steps from the optimum, in Wald standard errors (at least 0.05 in fitted units)."""


@dataclass(frozen=True)
class Side:
    """One end of a profile interval (in fitted units) and whether the profile crossed."""

    value: float
    closed: bool


@dataclass(frozen=True)
class Profile:
    """A profile-likelihood interval and the parameter vectors visited inside it."""

    lo: Side
    hi: Side
    inside: np.ndarray  # (n, k) fitted-unit vectors whose profile is below the threshold


def threshold(level: float) -> float:
    """Chi-square(1) quantile: how far the profile may rise above the minimum."""
    return float(stats.chi2.ppf(level, 1))


def profile(residuals: Callable[[np.ndarray], np.ndarray], best: np.ndarray, k: int,
            se: float, lo: np.ndarray, hi: np.ndarray, level: float = 0.95,
            jacobian: Callable[[np.ndarray], np.ndarray] | None = None) -> Profile:
    """Profile interval of parameter ``k`` around the optimum ``best`` (fitted units).

    Args:
        residuals: scaled residuals of the fit (``sum r**2`` is the deviance).
        best: the fitted parameters.
        k: which parameter.
        se: its Wald standard error (sets the step; any positive number works).
        lo: the lower bound of every parameter.
        hi: the upper bound of every parameter.
        level: confidence level.
        jacobian: the Jacobian of ``residuals`` (finite differences when None).
    """
    q_min = float(np.sum(residuals(best) ** 2))
    limit = q_min + threshold(level)
    free = [j for j in range(best.size) if j != k]
    step = max(float(se), 0.05) if np.isfinite(se) else 0.25
    inside = [best.copy()]
    ends = []
    for sign, bound in ((-1.0, lo[k]), (1.0, hi[k])):
        x = best.copy()
        prev_v, prev_q = best[k], q_min
        end = Side(float(bound), closed=False)
        for s in STEPS:
            v = float(np.clip(best[k] + sign * s * step, lo[k], hi[k]))
            x = _refit(residuals, x, k, v, free, lo, hi, jacobian)
            q = float(np.sum(residuals(x) ** 2))
            if q > limit:
                # interpolate the signed root of the rise, linear in v where the profile is
                # quadratic (a chord of q itself cuts a step's interval short)
                r, r_prev = math.sqrt(q - q_min), math.sqrt(max(prev_q - q_min, 0.0))
                frac = (math.sqrt(limit - q_min) - r_prev) / (r - r_prev) if r > r_prev else 1.0
                end = Side(float(prev_v + frac * (v - prev_v)), closed=True)
                break
            inside.append(x.copy())
            prev_v, prev_q = v, q
            if v in (lo[k], hi[k]):
                break
        ends.append(end)
    return Profile(lo=ends[0], hi=ends[1], inside=np.array(inside))


def _refit(residuals: Callable[[np.ndarray], np.ndarray], start: np.ndarray, k: int,
           value: float, free: list[int], lo: np.ndarray, hi: np.ndarray,
           jacobian: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """Minimise over the parameters other than ``k``, which is held at ``value``."""
    x = start.copy()
    x[k] = value
    if not free:
        return x

    def sub(z: np.ndarray) -> np.ndarray:
        y = x.copy()
        y[free] = z
        return residuals(y)

    def sub_jac(z: np.ndarray) -> np.ndarray:
        y = x.copy()
        y[free] = z
        return jacobian(y)[:, free]

    z0 = np.clip(x[free], lo[free] + 1e-9, hi[free] - 1e-9)
    res = least_squares(sub, z0, jac=sub_jac if jacobian is not None else "2-point",
                        bounds=(lo[free], hi[free]), diff_step=1e-3, max_nfev=100)
    x[free] = res.x
    return x
