"""``replyall storms-abc``: one mechanism fitted to several storms by sequential ABC.

:func:`fit_storms` runs APMC over the joint axes (:mod:`.joint_abc`) on every storm of the
data file, or on all but one (``leave_out``), which it then predicts: posterior particles
drawn by weight, that storm's nuisance parameters from their prior (as for a list nobody
has seen), each simulated once. Writes to ``OUT``:

* ``gen-NN/<storm>/``: the sweeps; ``particles.parquet``: every simulated particle;
  ``accepted.parquet``: the posterior (the final importance sample: weights summing to 1,
  each fitted storm's distance and M, the mechanism: ``replyall predict --posterior`` reads
  it); ``population.parquet``: APMC's last population;
  ``generations.parquet``: eps and acceptance rate of each APMC generation;
* ``posterior.parquet``: median and 90 % interval of every axis, identified or not, ESS;
* ``storms.parquet``: each fitted storm's M under the posterior against the report, and the
  share of the posterior that reproduces it (distance < 1);
* ``prediction.parquet`` (with ``leave_out``): the left-out storm's predicted M;
* ``summary.json``: settings, the convergence criterion met or not, ESS, wall time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import seeds
from ..io import write_json, write_parquet
from ..sweeps.sweep import run_sweep
from .apmc import apmc, posterior_summary
from .joint import nuisance_axes
from .joint_abc import JointAxes, RunSweep, joint_simulator, run_on_storm, storm_table
from .joint_analysis import FACTOR, observed_m, score
from .storms import load_storms


def fit_storms(out_dir: Path, mechanism: str, *, leave_out: str | None = None,
               storm_ids: tuple[str, ...] | None = None,
               particles: int = 200, alpha: float = 0.5, generations: int = 30,
               min_acceptance: float = 0.05, target_epsilon: float = 0.0,
               final_draws: int = 0,
               final_ess: float = 0.0, predictive: int = 50,
               root_seed: int = 20161114, workers: int | None = None,
               scheduler: str | None = None, progress: bool = True,
               log: Callable[[str], None] = lambda _m: None,
               run: RunSweep = run_sweep) -> dict[str, Any]:
    """Fit, summarise, predict the left-out storm and write everything; return the summary.

    The storms fitted are ``storm_ids`` (default: every storm of the data file) but
    ``leave_out``. APMC stops once converged: the acceptance rate below ``min_acceptance``
    or the combined distance's tolerance at ``target_epsilon`` or below (0: off); else at the
    ``generations`` cap. The posterior is every particle simulated within APMC's last tolerance,
    weighted by prior / the mixture of every generation's proposal (the balance heuristic,
    :func:`.proposal.balance_weights`; APMC's own weights let a particle of an early, wide
    proposal outweigh the rest). ``final_draws`` > 0 adds a fresh importance sample of the
    last proposal (:mod:`.importance`) in batches until its ESS reaches ``final_ess`` or
    four times ``final_draws``.
    """
    t0 = time.perf_counter()
    ids = tuple(s.id for s in load_storms().storms
                if s.id != leave_out and (storm_ids is None or s.id in storm_ids))
    if not ids:
        raise ValueError("no storm left to fit")
    space = JointAxes.build(mechanism, ids)
    prior = space.prior()
    sweep_kw = {"workers": workers, "scheduler": scheduler, "progress": progress, "log": log}
    sim = joint_simulator(space, out_dir, n=particles, root_seed=root_seed, run=run,
                          **sweep_kw)
    log(f"{mechanism}: APMC over {len(space.axes)} axes on {', '.join(ids)}; "
        f"{particles} particles")
    res = apmc(prior, sim, (), n=particles, alpha=alpha, generations=generations,
               min_acceptance=min_acceptance, target_epsilon=target_epsilon,
               seed=root_seed, log=log,
               measure=lambda runs: runs["distance"].to_numpy(float), batched=True,
               final_draws=final_draws, final_ess=final_ess, final_max_draws=4 * final_draws)
    accepted = res["particles"].assign(mechanism=mechanism)  # `replyall predict` reads it
    post, _corr = posterior_summary(accepted, prior)
    table = storm_table(accepted, space.storms, FACTOR)
    write_parquet(accepted, out_dir / "accepted.parquet")
    write_parquet(res["population"], out_dir / "population.parquet")
    write_parquet(res["history"], out_dir / "particles.parquet")
    write_parquet(res["generations"], out_dir / "generations.parquet")
    write_parquet(post, out_dir / "posterior.parquet")
    write_parquet(table, out_dir / "storms.parquet")
    w = accepted["weight"].to_numpy(float)
    gens = res["generations"]
    summary: dict[str, Any] = {
        "mechanism": mechanism, "storms": list(ids), "leave_out": leave_out,
        "particles": particles, "alpha": alpha, "generation_cap": generations,
        "min_acceptance": min_acceptance, "target_epsilon": target_epsilon,
        "root_seed": root_seed,
        "stopped_by": res["stopped_by"], "converged": res["stopped_by"] != "cap",
        "generations": int(len(gens)), "runs": int(gens["runs"].sum()) * len(ids),
        "epsilon": float(gens["epsilon"].iloc[-1]), "p_acc": float(gens["p_acc"].iloc[-1]),
        "ess": float(w.sum() ** 2 / np.sum(w ** 2)),
        "unidentified": [r["parameter"] for _, r in post.iterrows() if not r["identified"]],
        "final_sample": res["final"],
        "fitted": table.to_dict("records"),
    }
    if leave_out is not None:
        pred = predict_storm(space, accepted, leave_out, out_dir, k=predictive,
                             root_seed=root_seed, run=run, **sweep_kw)
        write_parquet(pred, out_dir / "prediction.parquet")
        summary["prediction"] = prediction_row(pred, leave_out)
    summary["wall_s"] = time.perf_counter() - t0
    write_json(summary, out_dir / "summary.json", finite=False)
    return summary


def predict_storm(space: JointAxes, accepted: pd.DataFrame, storm_id: str, out_dir: Path, *,
                  k: int, root_seed: int, run: RunSweep = run_sweep,
                  **sweep_kw: Any) -> pd.DataFrame:
    """``k`` posterior particles (by weight) simulated on ``storm_id``, its nuisances drawn.

    One row per run: the particle's row in ``accepted``, the storm's distance and M.
    """
    storm = load_storms().storm(storm_id)
    rng = seeds.abc_rng(root_seed, seeds.PREDICTIVE_GEN)
    w = accepted["weight"].to_numpy(float)
    rows = rng.choice(len(accepted), size=k, p=w / w.sum())
    axes = nuisance_axes(storm)
    u = rng.random((k, len(axes)))
    nuisance = [{a.name: float(a.value(u[i, j])) for j, a in enumerate(axes)} for i in range(k)]
    points = accepted.iloc[rows].to_dict("records")
    out = run_on_storm(space, storm, space.on_storm(points, storm, nuisance),
                       seeds.PREDICTIVE_GEN, out_dir, root_seed=root_seed, run=run, **sweep_kw)
    return out.assign(particle=rows)


def prediction_row(pred: pd.DataFrame, storm_id: str) -> dict[str, Any]:
    """The left-out storm's predicted M (median, 90 % interval) scored against its report."""
    m = pred[f"{storm_id}:M"].to_numpy(float)
    m = m[np.isfinite(m)]
    med, p05, p95 = (np.percentile(m, [50, 5, 95]) if m.size else (math.nan,) * 3)
    return score(observed_m()[storm_id], float(med), float(p05), float(p95), len(m))
