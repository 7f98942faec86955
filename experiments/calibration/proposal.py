"""APMC's proposal: particles moved by a Gaussian kernel, kept inside the prior's unit box.

A proposed particle is one of the kept particles, chosen by weight, moved by a Gaussian with
covariance ``cov``; a candidate outside ``[0, 1]^d`` is dropped and the choice made again,
so the proposal density is the kernel mixture restricted to the box, divided by its mass
inside the box.

Two samplers of that one density:

* **sequential** (the default, what the published NHS calibration ran): one candidate at a
  time. Cheap when most candidates land inside, as in the NHS calibration's 7 dimensions.
* **batched**: candidates drawn many at once, sized by the share that landed inside so far.
  In the joint fit's 17-18 dimensions a wide kernel puts only ~1e-4 of its candidates inside
  the box, and one at a time costs minutes a generation. It also measures the mixture's mass
  inside the box (the share of candidates kept), which the weights of particles pooled from
  generations with different kernels need. Its random stream differs from the sequential
  one, so it is a separate, explicit choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .importance import density

MAX_BATCH = 1_000_000
"""Most candidates drawn at once (18 dimensions: ~150 MB of float64)."""


def perturb(u: np.ndarray, w: np.ndarray, cov: np.ndarray, m: int, rng: np.random.Generator,
            batched: bool = False) -> tuple[np.ndarray, float]:
    """``m`` proposals around the rows of ``u`` (weights ``w``, summing to 1).

    Returns the proposals and the kernel mixture's mass inside the box: the share of
    candidates kept (batched), or 1.0 (sequential: not measured).
    """
    d = u.shape[1]
    chol = np.linalg.cholesky(cov)
    if not batched:
        out = np.empty((m, d))
        for i in range(m):
            while True:
                cand = u[rng.choice(len(u), p=w)] + chol @ rng.standard_normal(d)
                if np.all((cand >= 0) & (cand <= 1)):
                    out[i] = cand
                    break
        return out, 1.0
    kept: list[np.ndarray] = []
    drawn = inside = 0
    while inside < m:
        share = (inside + 1) / (drawn + 2)  # what landed inside so far (a prior of 1/2)
        size = int(min(MAX_BATCH, max(256, math.ceil(1.5 * (m - inside) / share))))
        cand = u[rng.choice(len(u), size=size, p=w)] + rng.standard_normal((size, d)) @ chol.T
        ok = np.all((cand >= 0) & (cand <= 1), axis=1)
        kept.append(cand[ok])
        drawn += size
        inside += int(ok.sum())
    return np.concatenate(kept)[:m], inside / drawn


@dataclass(frozen=True)
class Mixture:
    """One generation's proposal: kernels ``N(centre, cov)`` by ``weights``, inside the box.

    ``mass`` is the mixture's mass inside the box (what :func:`perturb` measured), so the
    proposal's density inside the box is the mixture's divided by it.
    """

    centres: np.ndarray
    weights: np.ndarray
    cov: np.ndarray
    mass: float

    def density(self, x: np.ndarray) -> np.ndarray:
        """The proposal's density at the rows of ``x`` (unit cube)."""
        return density(x, self.centres, self.weights, self.cov,
                       np.full(len(self.centres), self.mass))


def balance_weights(x: np.ndarray, proposals: list[Mixture | None],
                    counts: list[int]) -> np.ndarray:
    """Importance weights of points drawn from several proposals, pooled (balance heuristic).

    A point's weight is prior density / the proposals' mixture density ``sum_g n_g q_g(x) /
    sum_g n_g`` (Veach and Guibas 1995; AMIS, Cornuet et al. 2012, Scand. J. Stat. 39:798),
    ``n_g`` the points drawn from proposal ``g`` (``None``: the prior, density 1 in the unit
    cube). Unlike each point's own ``prior / q_g``, it does not let a point of an early, wide
    proposal outweigh every later one, and it lets every simulated point within the last
    tolerance count.
    """
    total = np.zeros(len(x))
    for q, n_g in zip(proposals, counts, strict=True):
        total += n_g * (np.ones(len(x)) if q is None else q.density(x))
    return sum(counts) / total
