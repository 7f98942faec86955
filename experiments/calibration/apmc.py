"""Approximate Bayesian computation of the storm's parameters from the 2016 observations.

A calibration spec (:mod:`.settings`) is a sweep spec with a ranged design (``lhs`` or
``sobol``) whose axes are the priors -- uniform on ``[low, high]``, log-uniform with ``log =
true`` -- plus an optional ``[abc]`` table. Generation 0 *is* the spec's design (a
space-filling sample of the prior, ``design.n`` particles); every generation runs through the
sweeps (:mod:`.generations`: local pool or Dask, resumable, progress bar) into ``OUT/gen-NN``,
with seeds derived from ``root_seed`` and the generation (:mod:`..seeds`), so an interrupted
calibration resumes where it stopped and gives the same particles bit for bit.

The built-in algorithm is adaptive population Monte Carlo ABC (APMC; Lenormand, Jabot and
Deffuant 2013, Comput. Stat. 28:2777), in the prior's unit cube ``u`` (log10 for log axes):

1. Simulate ``N`` prior points; keep the ``N_a = alpha N`` closest (weights 1); ``eps`` is
   the largest kept distance.
2. Draw ``N - N_a`` new points from the kept ones (by weight), each moved by a Gaussian with
   twice their weighted covariance (redrawn until inside the prior box); weight
   ``1 / sum_j w_j K(u - u_j)`` (prior density 1 in the cube). Simulate them. With
   ``batched`` (:mod:`.proposal`), proposals are drawn many at a time and every pooled
   particle is weighted by prior / the mixture of all generations' proposals (the balance
   heuristic); the posterior is then every particle simulated within the last ``eps``.
3. ``p_acc`` = share of new points with distance <= ``eps``; pool old and new, ``eps`` = the
   ``N_a``-th smallest distance, keep the ``N_a`` closest (ties broken at random).
4. Stop once converged: when ``p_acc < min_acceptance`` (new proposals no longer improve on
   the tolerance: Lenormand et al.'s criterion), when ``eps`` falls to ``target_epsilon`` or
   below (the tolerance the observations' own uncertainty asks for; 0: off), or once ``eps``
   has been 0 for two generations (every kept point reproduces every observed range).
   ``generations`` is only a safety cap; reaching it is reported as *not* converged
   (``stopped_by = "cap"``).
5. Optionally (``final_draws``), sample the last proposal afresh at the last ``eps``
   (:mod:`.importance`): the kept population's weights are uneven (old particles keep the
   large weights of wide early proposals), the fresh sample's are not.

Distance: :func:`.observations.distance` -- 0 when every summary lies in its reported range, else
the root mean square of the misses in units of each observation's uncertainty. With
``replicates > 1`` a point's distance is the mean over its replicates. Common random numbers:
with ``common_org`` every run uses the same organisation graph (the one NHS directory), but
each particle gets its own simulation seed, so the accepted region includes the storm's
run-to-run variability instead of conditioning on one draw of it. The accepted region is
the final weighted population; its summaries are weighted medians, 90 % intervals and the
weighted correlation matrix of the parameters (in log10 for log axes): strong correlations
are ridges along which the data cannot tell parameters apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import seeds
from ..sweeps.spec import FIELDS, Spec
from . import importance
from .observations import Observation, distance
from .proposal import Mixture, balance_weights, perturb

IDENTIFIED = 0.75
"""A parameter whose posterior interval spans this share of its prior or more is reported as
not identified by the data (its posterior is mostly its prior)."""


@dataclass(frozen=True)
class Prior:
    """Independent uniform priors on a box, in sampling space (log10 where ``log``)."""

    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    log: np.ndarray

    @classmethod
    def from_spec(cls, spec: Spec) -> Prior:
        """Return the priors of a ranged spec's design axes."""
        p = spec.salib_problem()
        b = np.array(p["bounds"], dtype=float)
        return cls(tuple(p["names"]), b[:, 0], b[:, 1], np.array(p["log10"], dtype=bool))

    def to_unit(self, points: pd.DataFrame) -> np.ndarray:
        """Natural-unit parameter values -> unit cube."""
        x = points[list(self.names)].to_numpy(dtype=float)
        x = np.where(self.log, np.log10(np.where(self.log, x, 1.0)), x)
        return (x - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: np.ndarray) -> list[dict[str, Any]]:
        """Map unit-cube rows to design points in natural units (ints rounded)."""
        x = self.lo + np.asarray(u) * (self.hi - self.lo)
        x = np.where(self.log, 10.0 ** np.where(self.log, x, 0.0), x)
        ints = [n in FIELDS and FIELDS[n].type == "int" for n in self.names]
        return [{n: int(round(v)) if i else float(v)
                 for n, v, i in zip(self.names, row, ints, strict=True)} for row in x]


Simulator = Callable[[int, list[dict[str, Any]] | None], tuple[pd.DataFrame, pd.DataFrame]]
"""``simulate(generation, points | None) -> (design, runs)``: ``design`` has one row per point
(``point`` + parameters), ``runs`` one per run (``point``, ``status``, summaries)."""


def weighted_cov(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted covariance of the rows of ``u`` (weights ``w``, normalised here)."""
    w = w / w.sum()
    m = w @ u
    d = u - m
    return (d * w[:, None]).T @ d / max(1.0 - float(np.sum(w ** 2)), 1e-12)


def apmc(prior: Prior, simulate: Simulator, targets: tuple[Observation, ...], *, n: int,
         alpha: float = 0.5, generations: int = 8, min_acceptance: float = 0.05,
         target_epsilon: float = 0.0, final_draws: int = 0, final_ess: float = 0.0,
         final_max_draws: int | None = None,
         defensive: float = 0.0, final_scale: float = 2.0, seed: int = 0,
         log: Callable[[str], None] = lambda _m: None,
         measure: Callable[[pd.DataFrame], np.ndarray] | None = None,
         batched: bool = False) -> dict[str, Any]:
    """Run APMC (see the module docstring) with ``n`` particles.

    ``measure`` replaces the distance to ``targets`` (then unused) by a distance of its own
    for each run (e.g. one combined over several storms, :mod:`.joint_abc`); every other
    numeric column of the runs is kept with the particles. ``batched`` draws the proposals
    many at a time (:mod:`.proposal`; for many dimensions, another random stream).

    With ``final_draws`` > 0, the last population's proposal is sampled afresh at the last
    tolerance (:func:`.importance.final_sample`), in batches of generations after APMC's
    until the ESS reaches ``final_ess`` or ``final_max_draws`` draws (``final_scale``: its
    kernels' covariance over the population's weighted covariance; ``defensive``: the
    share of equal kernel weights in the proposal): the accepted draws, weighted by prior /
    proposal, are the posterior (``particles``), and APMC's own last population is
    ``population``.

    Returns ``particles`` (the posterior: weighted, weights summing to 1), ``population``
    (APMC's last population), ``history`` (every simulated particle), ``generations`` (eps,
    p_acc and runs of each APMC generation), ``final`` (None, or the final sample's draws,
    accepted, acceptance rate, ESS and generation number) and ``stopped_by``:
    ``"acceptance"`` (p_acc below ``min_acceptance``: converged), ``"tolerance"`` (eps at or
    below ``target_epsilon`` > 0: converged), ``"zero_tolerance"`` (every kept particle
    inside every range: converged) or ``"cap"`` (the generation cap: not
    converged).
    """
    n_keep = round(alpha * n)
    d_dim = len(prior.names)
    everything, gens = [], []

    def evaluate(g: int, points: list[dict[str, Any]] | None) -> pd.DataFrame:
        pts, summ = simulate(g, points)
        raw = distance(summ, targets) if measure is None else measure(summ)
        dist = pd.Series(raw, index=summ.index)
        dist[summ.get("status", pd.Series("ok", summ.index)) != "ok"] = np.inf
        per_point = dist.groupby(summ["point"]).mean()
        if measure is None:
            columns = list(dict.fromkeys(c for o in targets for c in o.columns if c in summ))
        else:
            columns = [c for c in summ.select_dtypes("number").columns
                       if c not in ("point", "distance")]
        mean_summ = summ.groupby("point")[columns].mean()
        frame = pts.join(mean_summ, on="point").assign(
            distance=per_point.reindex(pts["point"]).to_numpy(), generation=g)
        everything.append(frame)
        return frame

    pop = evaluate(0, None)
    pop["weight"] = 1.0
    rng_tie = seeds.abc_rng(seed)
    pop = _keep(pop, n_keep, rng_tie)
    eps = float(pop["distance"].max())
    gens.append({"generation": 0, "epsilon": eps, "p_acc": 1.0, "runs": n})
    log(f"generation 0: {n} prior points, eps = {eps:.3g}")
    zero_streak = int(eps == 0.0)
    stopped_by = "cap"
    proposals: list[Mixture | None] = [None]  # batched: every generation's, for the weights
    counts = [n]
    for g in range(1, generations):
        if _reached(eps, target_epsilon):
            stopped_by = "tolerance"
            break
        if zero_streak >= 2:
            stopped_by = "zero_tolerance"
            break
        rng = seeds.abc_rng(seed, g)
        u = prior.to_unit(pop)
        w = pop["weight"].to_numpy() / pop["weight"].sum()
        cov = 2.0 * weighted_cov(u, w) + 1e-12 * np.eye(d_dim)
        new_u, mass = perturb(u, w, cov, n - n_keep, rng, batched)
        prec = np.linalg.inv(cov)
        diff = new_u[:, None, :] - u[None, :, :]
        kern = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, prec, diff))
        kern /= math.sqrt((2 * math.pi) ** d_dim * np.linalg.det(cov))
        new = evaluate(g, prior.from_unit(new_u))
        new["weight"] = mass / (kern @ w)  # prior / proposal density (mass: 1 if unmeasured)
        p_acc = float(np.mean(new["distance"].to_numpy() <= eps))
        pooled = pd.concat([pop, new], ignore_index=True)
        if batched:  # every generation's proposal in every weight (balance heuristic)
            proposals.append(Mixture(u, w, cov, mass))
            counts.append(n - n_keep)
            pooled["weight"] = balance_weights(prior.to_unit(pooled), proposals, counts)
        pop = _keep(pooled, n_keep, rng_tie)
        eps = float(pop["distance"].max())
        zero_streak = zero_streak + 1 if eps == 0.0 else 0
        gens.append({"generation": g, "epsilon": eps, "p_acc": p_acc, "runs": n - n_keep})
        log(f"generation {g}: {n - n_keep} runs, p_acc = {p_acc:.2f}, eps = {eps:.3g}")
        if p_acc < min_acceptance:
            stopped_by = "acceptance"
            break
    else:
        if _reached(eps, target_epsilon):
            stopped_by = "tolerance"
        elif zero_streak >= 2:
            stopped_by = "zero_tolerance"
    pop["weight"] = pop["weight"] / pop["weight"].sum()
    population = pop.reset_index(drop=True)
    particles, final = population, None
    if batched:  # every simulated particle within the last tolerance, balance-weighted
        hist = pd.concat(everything, ignore_index=True)
        particles = hist[hist["distance"] <= eps].reset_index(drop=True)
        particles["weight"] = balance_weights(prior.to_unit(particles), proposals, counts)
        particles["weight"] /= particles["weight"].sum()
    if final_draws > 0:
        kept, final = importance.final_sample(
            prior.to_unit(population), population["weight"].to_numpy(), eps,
            lambda g, x: evaluate(g, prior.from_unit(x)), len(gens), seed, final_draws,
            ess_target=final_ess, max_draws=final_max_draws, defensive=defensive,
            scale=final_scale, log=log)
        if len(kept):
            particles = kept
        else:
            log("no draw of the final sample is within eps: the APMC population stands")
    return {"particles": particles, "population": population,
            "history": pd.concat(everything, ignore_index=True),
            "generations": pd.DataFrame(gens), "final": final, "stopped_by": stopped_by}


def _reached(eps: float, target_epsilon: float) -> bool:
    """The tolerance criterion: ``eps`` at or below a positive ``target_epsilon``."""
    return target_epsilon > 0.0 and eps <= target_epsilon


def _keep(pop: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Keep the ``k`` particles of smallest distance (ties in random order)."""
    order = np.lexsort((rng.random(len(pop)), pop["distance"].to_numpy()))
    return pop.iloc[order[:k]].reset_index(drop=True)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Quantile ``q`` of ``x`` under weights ``w`` (interpolated weighted CDF)."""
    order = np.argsort(x)
    x, w = np.asarray(x)[order], np.asarray(w)[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cdf, x)


def posterior_summary(particles: pd.DataFrame, prior: Prior,
                      level: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summarise the accepted region.

    Returns one row per parameter (weighted median, ``level`` interval, prior range, the share
    of the prior's width the interval spans, whether the data identify the parameter: an
    interval narrower than ``IDENTIFIED`` of the prior, ESS) and the weighted correlation
    matrix (of log10 values for log axes).
    """
    w = particles["weight"].to_numpy()
    rows = []
    for i, name in enumerate(prior.names):
        x = particles[name].to_numpy(dtype=float)
        lo_q, med, hi_q = weighted_quantile(x, w, [(1 - level) / 2, 0.5, (1 + level) / 2])
        lo_p, hi_p = (10 ** prior.lo[i], 10 ** prior.hi[i]) if prior.log[i] else (
            prior.lo[i], prior.hi[i])
        width = (np.log10(hi_q / lo_q) if prior.log[i] else hi_q - lo_q) / (
            prior.hi[i] - prior.lo[i])
        rows.append({"parameter": name, "median": med, "lo": lo_q, "hi": hi_q,
                     "level": level, "prior_lo": lo_p, "prior_hi": hi_p,
                     "log": bool(prior.log[i]), "prior_share": float(width),
                     "identified": bool(width < IDENTIFIED),
                     "ess": float(w.sum() ** 2 / np.sum(w ** 2))})
    u = prior.to_unit(particles)
    cov = weighted_cov(u, w)
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    corr = pd.DataFrame(cov / np.outer(sd, sd), index=list(prior.names),
                        columns=list(prior.names))
    return pd.DataFrame(rows), corr


def central(particles: pd.DataFrame, prior: Prior) -> int:
    """Row of the accepted set nearest the posterior's centre.

    The centre is the weighted median of each parameter in the prior's unit cube; nearness,
    the Mahalanobis distance under the weighted covariance. An accepted point, unlike the
    vector of marginal medians (which can fall off a ridge), and not the set of largest
    weight, which in an importance sample is where the proposal was thinnest, at the
    region's edge.
    """
    u = prior.to_unit(particles)
    w = particles["weight"].to_numpy(dtype=float)
    med = np.array([weighted_quantile(u[:, j], w, 0.5) for j in range(u.shape[1])])
    prec = np.linalg.pinv(weighted_cov(u, w)) if len(u) > 1 else np.eye(u.shape[1])
    d = u - med
    return int(np.argmin(np.einsum("ij,jk,ik->i", d, prec, d)))


def ridges(corr: pd.DataFrame, threshold: float = 0.5) -> list[tuple[str, str, float]]:
    """Parameter pairs whose posterior correlation exceeds ``threshold`` in magnitude."""
    names = list(corr.index)
    out = [(a, b, float(corr.loc[a, b])) for i, a in enumerate(names) for b in names[i + 1:]
           if abs(corr.loc[a, b]) >= threshold]
    return sorted(out, key=lambda t: -abs(t[2]))
