"""Moment closures of the mean-field ODE: the expected decision over a spread of unread counts.

The ODE (:mod:`.ode`) tracks each compartment's mean unread count and its variance, not every
user's count. The decision rule acts on a user's exposure at a check, so the ODE needs the
expectation of ``1 - exp(-H x(u))`` over the unread count ``u``: these closures take ``u`` to
be gamma-distributed with the tracked mean and variance (messages) and return the effective
exposure ``n`` (messages) at which the rule gives that expectation. ``H`` is the total hazard
per message read.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, roots_genlaguerre


def unread_closure(
    mean_unread: np.ndarray | float,
    var_unread: np.ndarray | float,
    total_hazard: np.ndarray | float,
) -> np.ndarray:
    """Effective number of messages read at a check, for a gamma-distributed unread count.

    With ``u ~ Gamma`` of mean ``m`` and variance ``v`` (shape ``m^2 / v``, scale ``v / m``),
    ``E[1 - exp(-H u)] = 1 - (1 + H v / m)^(-m^2 / v) = 1 - exp(-H n)`` with
    ``n = (m^2 / v) log(1 + H v / m) / H`` (messages; ``n -> m`` as ``H -> 0`` or ``v -> 0``).
    The decision rule applied to ``n`` gives the expected action probabilities over the whole
    distribution. ``v = m^2`` is the exponential closure ``n = log(1 + H m) / H``.
    """
    m = np.asarray(mean_unread, dtype=np.float64)
    v = np.asarray(var_unread, dtype=np.float64)
    h = np.asarray(total_hazard, dtype=np.float64)
    scale = np.where(m > 0, v / np.where(m > 0, m, 1.0), 0.0)
    x = h * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        n = m * np.log1p(x) / np.where(x > 0, x, 1.0)
    return np.where(x > 1e-12, n, m)


_NODES = 32  # Gauss-Laguerre nodes of the attention closure
_z, _w = np.polynomial.hermite_e.hermegauss(_NODES)
_HERMITE = (_z, _w / _w.sum())


def exposure_closure(
    mean_unread: np.ndarray,
    var_unread: np.ndarray,
    total_hazard: np.ndarray,
    weight: float,
    span: float,
) -> np.ndarray:
    """Effective exposure of a check whose unread count ``u`` is gamma (mean, variance).

    The rule acts with probability ``1 - exp(-H x(u))``, ``x(u) = weight * u / (1 + u / span)``
    (relevance-weighted, skimmed by limited attention; :func:`.decision.exposure`). Returns the
    ``n`` with ``1 - exp(-H n) = E[1 - exp(-H x(u))]``: :func:`unread_closure` when attention is
    unlimited, else a generalised Gauss-Laguerre quadrature over the gamma law.
    """
    m = np.asarray(mean_unread, dtype=np.float64)
    v = np.asarray(var_unread, dtype=np.float64)
    h = np.asarray(total_hazard, dtype=np.float64)
    if not math.isfinite(span):
        return weight * unread_closure(m, v, h * weight)
    out = np.empty_like(m)
    for i, (mi, vi, hi) in enumerate(zip(m.ravel(), v.ravel(), h.ravel(), strict=True)):
        if mi <= 0.0:
            out.flat[i] = 0.0
            continue
        if vi <= 1e-12 * mi * mi or hi <= 0.0:
            out.flat[i] = weight * mi / (1.0 + mi / span)  # no spread (or no hazard)
            continue
        shape, scale = mi * mi / vi, vi / mi
        if shape > 100.0:  # nearly normal (sd under a tenth of the mean): Gauss-Hermite
            z, w = _HERMITE
            u = np.maximum(mi + math.sqrt(vi) * z, 0.0)
        else:
            x, w = roots_genlaguerre(_NODES, shape - 1.0)
            u, w = scale * x, w * math.exp(-gammaln(shape))
        expected = float(np.sum(w * np.exp(-hi * weight * u / (1.0 + u / span))))
        out.flat[i] = -math.log(max(expected, 1e-300)) / hi
    return out
