"""The final importance sample: APMC's posterior at its last tolerance, drawn afresh.

APMC's last population mixes particles of every generation, and a particle kept from an early
generation carries the large weight of the wide proposal it was drawn from. In the NHS
calibration of 2026-12-01 (400 particles, 30 generations) one particle of generation 6 held
12 % of the weight, and the 200 kept had an effective sample size (ESS) of 31.

This step draws ``m`` new points from the last population's proposal -- the same mixture of
Gaussian kernels (twice the population's weighted covariance), truncated to the prior box --
simulates them as one more generation, keeps those within the last tolerance ``eps`` and
weights each by prior density / proposal density. The proposal density is exact: a draw
picks kernel ``j`` with probability ``w_j`` and is redrawn until it falls in the box, so
``q(u) = sum_j w_j N(u; u_j, S) / Z_j`` inside the box, with ``Z_j`` the mass of kernel ``j``
inside it (:func:`box_mass`, Monte Carlo). The target is APMC's own (the prior restricted to
distance <= ``eps``); since every point comes from one proposal, the weights vary little and
the ESS is close to the number kept.

Units: the prior's unit cube (log10 for log axes), where the prior density is 1.
"""

from __future__ import annotations

import math

import numpy as np

MASS_DRAWS = 4096
"""Normal draws per kernel estimating its mass inside the box (standard error <= 0.008)."""


def kernel_covariance(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Twice the weighted covariance of the population (APMC's kernel), kept positive."""
    from .apmc import weighted_cov

    return 2.0 * weighted_cov(u, w) + 1e-12 * np.eye(u.shape[1])


def box_mass(centres: np.ndarray, cov: np.ndarray, rng: np.random.Generator,
             draws: int = MASS_DRAWS) -> np.ndarray:
    """Share of each kernel ``N(centre, cov)`` inside the unit box (one per centre).

    The same normal draws serve every centre (common random numbers), so masses of nearby
    centres differ smoothly. Never below ``1 / draws``: a centre is inside the box.
    """
    z = rng.standard_normal((draws, cov.shape[0])) @ np.linalg.cholesky(cov).T
    inside = np.empty(len(centres))
    for j, c in enumerate(centres):
        x = c + z
        inside[j] = np.count_nonzero(np.all((x >= 0.0) & (x <= 1.0), axis=1))
    return np.maximum(inside, 1.0) / draws


def draw(u: np.ndarray, w: np.ndarray, cov: np.ndarray, m: int,
         rng: np.random.Generator) -> np.ndarray:
    """``m`` points of the truncated kernel mixture (kernel by weight, redrawn until inside)."""
    chol = np.linalg.cholesky(cov)
    out = np.empty((m, u.shape[1]))
    for i in range(m):
        j = rng.choice(len(u), p=w)
        while True:
            cand = u[j] + chol @ rng.standard_normal(u.shape[1])
            if np.all((cand >= 0.0) & (cand <= 1.0)):
                out[i] = cand
                break
    return out


def density(x: np.ndarray, u: np.ndarray, w: np.ndarray, cov: np.ndarray,
            mass: np.ndarray) -> np.ndarray:
    """The truncated mixture's density at the rows of ``x`` (all inside the box)."""
    prec = np.linalg.inv(cov)
    norm = math.sqrt((2.0 * math.pi) ** cov.shape[0] * np.linalg.det(cov))
    q = np.zeros(len(x))
    for start in range(0, len(x), 512):  # (chunk x kernels) at a time: bounded memory
        d = x[start:start + 512, None, :] - u[None, :, :]
        k = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", d, prec, d)) / norm
        q[start:start + 512] = k @ (w / mass)
    return q


def propose(u: np.ndarray, w: np.ndarray, m: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` points from the population's truncated proposal, and the proposal's density there.

    ``u``: the population in the unit cube; ``w``: its weights (normalised here).
    """
    w = np.asarray(w, dtype=float) / np.sum(w)
    cov = kernel_covariance(u, w)
    mass = box_mass(u, cov, rng)
    x = draw(u, w, cov, m, rng)
    return x, density(x, u, w, cov, mass)


def ess(weights: np.ndarray) -> float:
    """Effective sample size ``(sum w)^2 / sum w^2`` (0 for no positive weight)."""
    w = np.asarray(weights, dtype=float)
    s2 = float(np.sum(w ** 2))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


__all__ = ["box_mass", "density", "draw", "ess", "kernel_covariance", "propose"]
