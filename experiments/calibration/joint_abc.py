"""Sequential ABC over several storms at once: one mechanism, shared parameters, nuisances.

The rejection analysis of :mod:`.joint_analysis` keeps the closest share of one prior sample;
in 17-18 dimensions a sample of hundreds of points is too coarse to hold a point that fits
every storm. Here APMC (:func:`.apmc.apmc`, Lenormand et al. 2013) moves its particles
towards the region that does, over the same axes as :class:`.joint.JointPrior`: the shared
person-level parameters (in the mechanism's own units, :data:`.joint.OWN_UNITS`), the
mechanism's parameter and each fitted storm's nuisance parameters (start clock, cut-off,
delivery speed per member; NHSmail's database spread).

A particle's distance is the combined distance of :func:`.joint_analysis.combined`: the root
mean square over the fitted storms of each storm's calibration distance (its observations
read where and when they were made), a failed run counting as far. Each generation runs one
sweep per storm under ``OUT/gen-NN/<storm>`` (local or Dask, resumable run by run); seeds
come from the root seed, the storm's index in the data file and the generation
(:func:`..seeds.joint_root_seed`, :func:`..seeds.generation_root_seed`), so a calibration
gives the same particles bit for bit however it is run. The convergence criteria are APMC's:
the share of new proposals inside the tolerance falls below ``min_acceptance``, or the
tolerance reaches ``target_epsilon`` (``replyall storms-abc`` defaults to 1: every storm, in
root mean square, within one unit of its reports' uncertainty).

Complexity: ``generations x (1 - alpha) x particles`` runs on each fitted storm; a run costs
what that storm's list costs (NHSmail's 840,000 members most).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from .. import seeds
from ..sweeps.sweep import run_sweep
from .apmc import Prior, Simulator, weighted_quantile
from .joint import (
    MECHANISMS,
    OWN_UNITS,
    SHARED,
    Axis,
    column,
    nuisance_axes,
    set_nuisance,
    storm_spec,
)
from .observations import distance, storm_observations
from .storms import Storm, load_storms

FAR = 1e6
"""Distance of a storm whose run failed (as in :func:`.joint_analysis.combined`)."""

RunSweep = Callable[..., Any]
"""``run_sweep(spec, out_dir, *, workers, scheduler, progress, log)``: the sweep runner."""


@dataclass(frozen=True)
class JointAxes:
    """The axes of one mechanism's sequential fit to ``storms``."""

    mechanism: str
    axes: tuple[Axis, ...]
    storms: tuple[Storm, ...]

    @classmethod
    def build(cls, mechanism: str, storm_ids: tuple[str, ...] | None = None) -> JointAxes:
        """Shared axes in ``mechanism``'s units, its own axis, each fitted storm's nuisances."""
        if mechanism not in MECHANISMS:
            raise ValueError(f"mechanism {mechanism!r}: one of {', '.join(MECHANISMS)}")
        storms = tuple(s for s in load_storms().storms if storm_ids is None or s.id in storm_ids)
        units = {**SHARED, **OWN_UNITS.get(mechanism, {})}
        axes = [Axis(n, *units[n]) for n in SHARED]
        axes += [Axis(n, *spec) for n, spec in MECHANISMS[mechanism].items()]
        for storm in storms:
            axes += nuisance_axes(storm)
        return cls(mechanism, tuple(axes), storms)

    def prior(self) -> Prior:
        """The APMC prior box (log10 for log axes)."""
        lo = [math.log10(a.lo) if a.log else a.lo for a in self.axes]
        hi = [math.log10(a.hi) if a.log else a.hi for a in self.axes]
        return Prior(tuple(column(a) for a in self.axes), np.array(lo), np.array(hi),
                     np.array([a.log for a in self.axes], dtype=bool))

    def on_storm(self, points: list[dict[str, Any]], storm: Storm,
                 nuisance: list[dict[str, float]] | None = None) -> list[dict[str, Any]]:
        """Each particle as parameter values for ``storm`` (speed -> capacity per minute).

        ``nuisance`` gives the storm's own values when it is not among the fitted storms (a
        storm predicted from the others), one mapping of axis name to value per particle.
        """
        shared = [a for a in self.axes if a.storm is None]
        own = nuisance_axes(storm)
        out = []
        for i, p in enumerate(points):
            point = {a.name: float(p[a.name]) for a in shared}
            for a in own:
                value = float(nuisance[i][a.name] if nuisance is not None else p[column(a)])
                set_nuisance(point, storm, a.name, value)
            out.append(point)
        return out


def storm_index(storm: Storm) -> int:
    """The storm's place in the data file (what its seeds derive from)."""
    return [s.id for s in load_storms().storms].index(storm.id)


def run_on_storm(space: JointAxes, storm: Storm, points: list[dict[str, Any]], g: int,
                 out_dir: Path, *, root_seed: int, run: RunSweep = run_sweep,
                 **sweep_kw: Any) -> pd.DataFrame:
    """Simulate ``points`` (already in ``storm``'s parameters) as generation ``g``'s sweep.

    Returns one row per point, in order: ``<storm>:distance`` (inf for a failed run) and
    ``<storm>:M`` (reply-alls accepted).
    """
    spec = storm_spec(storm, points, space.mechanism, storm_index(storm), root_seed)
    spec["name"] = f"jointabc-{space.mechanism}-{storm.id}-gen{g:02d}"
    if g:
        spec["root_seed"] = seeds.generation_root_seed(spec["root_seed"], g)
    res = run(spec, Path(out_dir) / f"gen-{g:02d}" / storm.id, **sweep_kw)
    if res.interrupted:
        raise KeyboardInterrupt
    runs = res.runs.sort_values("point").reset_index(drop=True)
    ok = (runs["status"] == "ok").to_numpy()
    d = np.where(ok, distance(runs, storm_observations(storm.id, target=True)), np.inf)
    m = runs["reply_alls_accepted"].where(runs["status"] == "ok").to_numpy(float)
    return pd.DataFrame({f"{storm.id}:distance": d, f"{storm.id}:M": m})


def combined_distance(runs: pd.DataFrame, storm_ids: list[str]) -> np.ndarray:
    """RMS over ``storm_ids`` of each storm's distance (a failed storm run counts :data:`FAR`)."""
    d = np.column_stack([runs[f"{s}:distance"].to_numpy(float) for s in storm_ids])
    d = np.where(np.isfinite(d), d, FAR)
    return np.sqrt(np.mean(d ** 2, axis=1))


def joint_simulator(space: JointAxes, out_dir: Path, *, n: int, root_seed: int,
                    run: RunSweep = run_sweep, **sweep_kw: Any) -> Simulator:
    """An APMC :data:`~.apmc.Simulator` running each generation on every fitted storm.

    Generation 0 is a Latin hypercube of ``n`` points over the prior box.
    """
    prior = space.prior()
    ids = [s.id for s in space.storms]

    def simulate(g: int, points: list[dict[str, Any]] | None) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
        if points is None:
            lhs = qmc.LatinHypercube(len(space.axes), rng=np.random.default_rng(
                seeds.design_sequence(root_seed)))
            points = prior.from_unit(lhs.random(n))
        design = pd.DataFrame(points)
        design.insert(0, "point", np.arange(len(points)))
        runs = pd.concat([run_on_storm(space, s, space.on_storm(points, s), g, out_dir,
                                       root_seed=root_seed, run=run, **sweep_kw)
                          for s in space.storms], axis=1)
        runs.insert(0, "point", design["point"].to_numpy())
        runs["status"] = "ok"  # a failed storm run is already far (FAR)
        runs["distance"] = combined_distance(runs, ids)
        return design, runs

    return simulate


def storm_table(particles: pd.DataFrame, storms: tuple[Storm, ...],
                factor: float = 3.0) -> pd.DataFrame:
    """Each fitted storm under the posterior: M against the report, and how many reproduce it.

    ``reproduced`` is the posterior share (by weight) of particles whose distance to that
    storm is below 1 (every observation within about one unit of its uncertainty).
    """
    w = particles["weight"].to_numpy(float)
    rows = []
    for storm in storms:
        obs = storm.observation("reply_alls_accepted")
        middle = 0.5 * (obs.lo + obs.hi)
        m = particles[f"{storm.id}:M"].to_numpy(float)
        ok = np.isfinite(m)
        p05, med, p95 = (weighted_quantile(m[ok], w[ok], [0.05, 0.5, 0.95]) if ok.any()
                         else (math.nan,) * 3)
        d = particles[f"{storm.id}:distance"].to_numpy(float)
        rows.append({"storm": storm.id, "list_size": storm.list_size, "observed_lo": obs.lo,
                     "observed_hi": obs.hi, "observed": middle, "predicted": float(med),
                     "predicted_p05": float(p05), "predicted_p95": float(p95),
                     "ratio": float(med / middle) if middle > 0 else math.nan,
                     "within_factor": bool(middle > 0 and 1 / factor <= med / middle <= factor),
                     "reproduced": float(w[d < 1.0].sum() / w.sum()),
                     "median_distance": float(weighted_quantile(d, w, 0.5))})
    return pd.DataFrame(rows)
