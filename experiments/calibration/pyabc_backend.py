"""The pyabc backend of ``replyall calibrate`` (optional extra: ``replyall-storm[abc]``).

Same priors (uniform in the spec's sampling space, log10 for log axes), same distance
(:func:`.observations.distance`) and the same stopping rules as the built-in APMC
(:mod:`.apmc`): ``pyabc.ABCSMC`` with ``population_size = alpha n``, a
``QuantileEpsilon(alpha)`` schedule, at most ``generations`` populations and
``min_acceptance_rate``, which also caps the simulations of one population at
``population_size / min_acceptance``. Differences: pyabc proposes with its own multivariate
normal kernel and simulates until a population is full, so it runs the model itself (one
:class:`~..sweeps.tasks.RunTask` per particle, on pyabc's sampler: this process for
``workers=1``, ``MulticoreEvalParallelSampler`` otherwise, ``DaskDistributedSampler`` with a
scheduler) rather than through :func:`~..sweeps.sweep.run_sweep`; it does not resume, and it
is reproducible bit for bit only with ``workers=1`` (each run's seed is derived from its
parameter values, pyabc's proposals from ``root_seed``). One run per particle:
``replicates`` is ignored.
The database is ``OUT/pyabc.db``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError

from .. import seeds
from ..sweeps.tasks import RunTask, run_task
from .apmc import Prior
from .observations import distance
from .settings import CalibrationSpec


def import_pyabc() -> Any:
    """Import pyabc, or explain in one line how to install it."""
    try:
        import pyabc
    except ImportError as err:
        raise ParameterError("--backend", "pyabc", "needs pyabc: pip install "
                             f"'replyall-storm[abc]' ({err})") from None
    return pyabc


class PyabcSimulator:
    """A picklable pyabc model: sampling-space parameters -> the target summaries."""

    def __init__(self, cal: CalibrationSpec) -> None:
        spec = cal.spec
        self.prior = Prior.from_spec(spec)
        self.scenario, self.engine, self.fixed = spec.scenario, spec.engine, dict(spec.fixed)
        self.root_seed, self.org_seed, self.cache = spec.root_seed, spec.org_seed(), spec.common_org
        self.keys = list(dict.fromkeys(c for o in cal.targets for c in o.columns))
        self.observe = cal.abc.storm
        self.users_after_cutoff = spec.outputs.users_after_cutoff

    def natural(self, par: dict[str, float]) -> dict[str, Any]:
        """Sampling-space values (log10 for log axes) -> parameter values."""
        u = [(par[n] - lo) / (hi - lo)
             for n, lo, hi in zip(self.prior.names, self.prior.lo, self.prior.hi, strict=True)]
        return self.prior.from_unit(np.array([u]))[0]

    def __call__(self, par: dict[str, float]) -> dict[str, float]:
        """Simulate one storm at ``par``; NaN summaries if the run fails."""
        point = self.natural(par)
        task = RunTask(run_id=0, point=0, replicate=0, scenario=self.scenario,
                       changes={**self.fixed, **point}, entropy=self.root_seed,
                       spawn_key=seeds.pyabc_spawn_key(point), engine=self.engine,
                       series=False, org_seed=self.org_seed, cache=self.cache,
                       observe=self.observe, users_after_cutoff=self.users_after_cutoff)
        try:
            out = run_task(task)
        except ParameterError:
            return {k: float("nan") for k in self.keys}
        return {k: float(out["summary"].get(k, float("nan"))) for k in self.keys}


def _distance(cal: CalibrationSpec) -> Callable[[dict, dict], float]:
    targets = cal.targets

    def dist(x: dict[str, float], _x0: dict[str, float]) -> float:
        return float(distance(pd.DataFrame([x]), targets)[0])

    return dist


def _floats(stats: dict[str, Any]) -> dict[str, float]:
    """Summary statistics as floats (pyabc's database returns a NaN as a 0-d array)."""
    return {k: float(np.asarray(v, dtype=float).reshape(-1)[0]) for k, v in stats.items()}


def run_pyabc(cal: CalibrationSpec, out_dir: Path, *, n: int, alpha: float, generations: int,
              min_acceptance: float, workers: int = 1, scheduler: str | None = None,
              log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Calibrate with pyabc; the same result layout as :func:`.apmc.apmc`."""
    pyabc = import_pyabc()
    logging.getLogger("ABC").setLevel(logging.WARNING)
    model = PyabcSimulator(cal)
    prior = pyabc.Distribution(**{
        name: pyabc.RV("uniform", float(lo), float(hi - lo))
        for name, lo, hi in zip(model.prior.names, model.prior.lo, model.prior.hi,
                                strict=True)})
    if scheduler is not None:
        from ..sweeps.executor import connect
        sampler = pyabc.sampler.DaskDistributedSampler(dask_client=connect(scheduler))
    elif workers > 1:
        sampler = pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    else:
        sampler = pyabc.sampler.SingleCoreSampler()
    n_keep = round(alpha * n)
    np.random.seed(cal.spec.root_seed % 2**32)  # pyabc draws from numpy's global generator
    abc = pyabc.ABCSMC(model, prior, _distance(cal), population_size=n_keep,
                       eps=pyabc.epsilon.QuantileEpsilon(alpha=alpha), sampler=sampler)
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "pyabc.db"
    db.unlink(missing_ok=True)
    observed = {c: o.value for o in cal.targets for c in o.columns}
    history = abc.new(f"sqlite:///{db.resolve()}", observed)
    history = abc.run(max_nr_populations=generations, min_acceptance_rate=min_acceptance,
                      minimum_epsilon=0.0)
    frames, gens = [], []
    pops = history.get_all_populations()
    for t in range(history.max_t + 1):
        pop = history.get_population(t).get_for_keys(["weight", "distance", "parameter",
                                                      "sum_stat"])
        rows = [{**model.natural(dict(p)), **_floats(s), "distance": d, "weight": w,
                 "generation": t}
                for p, s, d, w in zip(pop["parameter"], pop["sum_stat"], pop["distance"],
                                      pop["weight"], strict=True)]
        frames.append(pd.DataFrame(rows))
        row = pops[pops["t"] == t].iloc[0]
        gens.append({"generation": t, "epsilon": float(row["epsilon"]),
                     "p_acc": n_keep / max(float(row["samples"]), 1.0),
                     "runs": int(row["samples"])})
        log(f"pyabc population {t}: {int(row['samples'])} runs, eps = {row['epsilon']:.3g}")
    particles = frames[-1].reset_index(drop=True)
    particles["weight"] = particles["weight"] / particles["weight"].sum()
    final_p_acc = gens[-1]["p_acc"]
    stopped_by = ("acceptance" if final_p_acc < min_acceptance
                  else "cap" if len(gens) >= generations else "pyabc")
    return {"particles": particles, "history": pd.concat(frames, ignore_index=True),
            "generations": pd.DataFrame(gens), "stopped_by": stopped_by}
