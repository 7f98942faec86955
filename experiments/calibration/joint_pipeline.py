"""``replyall storms``: fit every candidate mechanism to every storm, compare, and keep the best.

For each mechanism of :data:`.joint.MECHANISMS` the common prior sample runs on every storm
(:func:`.joint.simulate_joint`); :mod:`.joint_analysis` then gives each mechanism's
leave-one-storm-out predictions, the two baselines', the posterior model probabilities and,
for each mechanism, its posterior on all storms (with how well it still reproduces each 2016
observation). Writes to ``OUT`` (default ``results/storms``):

* ``sample.parquet`` (the prior sample), ``<mechanism>/table.parquet`` (distances, M and
  misses of every point on every storm) and ``<mechanism>/<storm>/`` (the sweeps);
* ``loo.parquet`` / ``loo.csv``: one row per mechanism or baseline and storm;
* ``models.parquet``: model probabilities; ``<mechanism>/posterior.parquet``: its accepted
  points on all storms;
* ``posterior.parquet``: the chosen mechanism's posterior, a file ``replyall predict
  --posterior`` reads (the package ships the sequential fit's, ``replyall storms-abc``);
* ``summary.json``: settings, criteria, the choice and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import plain, write_json, write_parquet
from . import joint_analysis as ja
from .joint import MECHANISMS, SHARED, JointPrior, shared_values, simulate_joint
from .observations import storm_observations


def run_storms(out_dir: Path, *, mechanisms: list[str] | None = None, samples: int = 3000,
               root_seed: int = 20161114, accept: float = ja.ACCEPT,
               workers: int | None = None, scheduler: str | None = None,
               progress: bool = True, log: Callable[[str], None] = lambda _m: None
               ) -> dict[str, Any]:
    """Simulate, analyse and write everything (module docstring); return the summary."""
    t0 = time.perf_counter()
    chosen = mechanisms or list(MECHANISMS)
    chosen = sorted(chosen, key=lambda m: m != "none")  # today's rule first: others reuse it
    prior = JointPrior.build()
    sample = prior.sample(samples, root_seed)
    write_parquet(sample, out_dir / "sample.parquet")
    tables = {}
    for name in chosen:
        log(f"mechanism {name}: {samples} points x {len(prior.storms)} storms")
        tables[name] = simulate_joint(prior, sample, name, out_dir, root_seed=root_seed,
                                      workers=workers, scheduler=scheduler,
                                      progress=progress, log=log, today=tables.get("none"))
        write_parquet(tables[name], out_dir / name / "table.parquet")
    loo_rows = []
    for name, table in tables.items():
        loo_rows.append(ja.leave_one_out(table, accept).assign(model=name))
    for name, frame in ja.baselines().items():
        loo_rows.append(frame.assign(model=f"baseline: {name}"))
    loo = pd.concat(loo_rows, ignore_index=True)
    loo = loo[["model", *[c for c in loo.columns if c != "model"]]]
    write_parquet(loo, out_dir / "loo.parquet")
    loo.to_csv(out_dir / "loo.csv", index=False)
    models = ja.model_probabilities(tables, accept)
    write_parquet(models, out_dir / "models.parquet")
    criteria = {m: ja.summary_of(g) for m, g in loo.groupby("model", sort=False)}
    storms = [s.id for s in prior.storms]
    fits = {}
    for name, table in tables.items():
        post = posterior_table(table, sample, name, storms, accept)
        write_parquet(post, out_dir / name / "posterior.parquet")
        fits[name] = nhs_check(table, storms, accept)
    best = min(tables, key=lambda m: criteria[m]["mean_abs_log_error"])
    write_parquet(posterior_table(tables[best], sample, best, storms, accept),
                  out_dir / "posterior.parquet")
    summary = plain({
        "samples": samples, "root_seed": root_seed, "accept": accept,
        "mechanisms": chosen, "storms": storms, "criteria": criteria,
        "models": models.to_dict(orient="records"), "chosen": best,
        "chosen_by": "smallest mean |log(predicted / observed M)| over the storms left out",
        "beats_baselines": {m: all(criteria[m]["mean_abs_log_error"] <
                                   criteria[b]["mean_abs_log_error"]
                                   for b in criteria if b.startswith("baseline"))
                            for m in tables},
        "nhs2016_reproduced": fits, "wall_s": time.perf_counter() - t0,
    }, finite=True)
    write_json(summary, out_dir / "summary.json")
    return summary


def posterior_table(table: pd.DataFrame, sample: pd.DataFrame, mechanism: str,
                    storms: list[str], accept: float) -> pd.DataFrame:
    """The points accepted on every storm: the mechanism's parameters and each storm's own.

    Columns: ``mechanism``, ``weight`` (equal), ``distance``, the shared parameters, the
    mechanism's parameter, and every storm's nuisance parameters (``<storm>:<name>``).
    """
    idx = ja.accepted(table, storms, accept)
    own = list(MECHANISMS[mechanism])
    keep = [*SHARED, *own, *[c for c in sample.columns if ":" in c]]
    values = sample.copy()
    values[list(SHARED)] = shared_values(sample, mechanism)
    post = values.iloc[idx][keep].reset_index(drop=True)
    post.insert(0, "distance", ja.combined(table, storms)[idx])
    post.insert(0, "weight", 1.0 / len(idx))
    post.insert(0, "mechanism", mechanism)
    return post


def nhs_check(table: pd.DataFrame, storms: list[str], accept: float) -> dict[str, float]:
    """Share of the all-storm posterior that meets each 2016 observation (a run's range)."""
    idx = ja.accepted(table, storms, accept)
    out = {}
    for o in storm_observations("nhs2016", target=True):
        col = f"nhs2016:{o.key}"
        if col in table:
            out[o.key] = float(np.mean(table[col].to_numpy(float)[idx] == 0.0))
    return out
