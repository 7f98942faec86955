"""A whole calibration: ABC, the accepted region, the posterior-predictive storm, its SIR fit.

:func:`calibrate` (``replyall calibrate SPEC`` and ``replyall_storm.calibrate``) runs ABC
(:mod:`.apmc`, built-in APMC through the sweep machinery by default; pyabc with ``backend =
"pyabc"``), then re-simulates a few accepted sets (the posterior-predictive storm) and fits the
forced SIR (:mod:`..analysis.sir_fit`) to them. Writes to ``OUT`` (default
``results/calibrate-NAME`` in the working directory):

* ``accepted.parquet``: the accepted parameter sets (weights, distances, target summaries):
  the final importance sample when ``abc.final_draws`` > 0 (then ``population.parquet`` is
  APMC's last population); ``particles.parquet``: every simulated set;
  ``generations.parquet``: eps and p_acc of each APMC generation;
* ``posterior.parquet`` (median and 90 % interval per parameter) and ``correlation.parquet``;
  ``observations.parquet``: the 2016 observations (ranges, tags, which ones are targets);
* ``predictive/`` (the sweep), ``predictive_series.parquet`` and ``predictive.png`` with the
  2016 observations; ``sir_fit.parquet`` (per run and for the ensemble mean);
* ``summary.json``: settings, calibrated values, R0, wall time.

Cost: a calibration run of the NHS storm at full scale takes ~0.5 s (``replyall bench``:
about 7,000 runs per core-hour), so ``calibrate_nhs.toml`` (400 particles, 200 new runs a
generation, then the final sample) takes about an hour on 2 free cores. The model is never
run at reduced N: its hazards are per message read and the storm depends on the list size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import seeds
from ..analysis.fit_folder import fit_folder
from ..io import plain, write_json, write_parquet
from ..sweeps.sweep import run_sweep
from .apmc import Prior, apmc, central, posterior_summary, ridges
from .generations import generation_spec, sweep_simulator
from .observations import observation_table, storm_observations
from .settings import CalibrationSpec, load_calibration


def run_calibration(cal: CalibrationSpec, out_dir: Path, *, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True,
                    log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Calibrate, re-simulate, fit and write every output; return the summary dict."""
    t0 = time.perf_counter()
    spec, abc = cal.spec, cal.abc
    prior = Prior.from_spec(spec)
    n = int(spec.design.n or 0)
    if abc.backend == "pyabc":
        from .pyabc_backend import run_pyabc
        res = run_pyabc(cal, out_dir, n=n, alpha=abc.alpha, generations=abc.generations,
                        min_acceptance=abc.min_acceptance, workers=workers or 1,
                        scheduler=scheduler, log=log)
    else:
        sim = sweep_simulator(spec, out_dir, workers=workers, scheduler=scheduler,
                              progress=progress)
        res = apmc(prior, sim, cal.targets, n=n, alpha=abc.alpha, generations=abc.generations,
                   min_acceptance=abc.min_acceptance, final_draws=abc.final_draws,
                   final_ess=abc.final_ess, final_max_draws=abc.final_max_draws or None,
                   defensive=abc.final_defensive, final_scale=abc.final_kernel_scale,
                   batched=abc.weights == "balance",
                   seed=spec.root_seed, log=log)
    particles = res["particles"]
    post, corr = posterior_summary(particles, prior)
    i = central(particles, prior)  # the accepted set other commands run with
    write_parquet(particles, out_dir / "accepted.parquet")
    if res.get("final") is not None:
        write_parquet(res["population"], out_dir / "population.parquet")
    write_parquet(res["history"], out_dir / "particles.parquet")
    write_parquet(res["generations"], out_dir / "generations.parquet")
    write_parquet(post, out_dir / "posterior.parquet")
    write_parquet(corr.reset_index(names="parameter"), out_dir / "correlation.parquet")
    write_parquet(observation_table(storm_observations(abc.storm)),
                  out_dir / "observations.parquet")
    series, fits, checks = predictive(cal, particles, out_dir, workers=workers,
                                      scheduler=scheduler, progress=progress)
    summary = {
        "spec": spec.name, "scenario": spec.scenario, "backend": abc.backend,
        "n_users": spec.base_params().n_users, "particles": n,
        "accepted": len(particles),
        "runs": int(res["generations"]["runs"].sum()) + int((res.get("final") or {}).get(
            "draws", 0)),
        "final_sample": res.get("final"),
        "generations": len(res["generations"]),
        "stopped_by": res.get("stopped_by", "pyabc"),
        "converged": res.get("stopped_by") in ("acceptance", "zero_tolerance"),
        "min_acceptance": abc.min_acceptance,
        "final_p_acc": float(res["generations"]["p_acc"].iloc[-1]),
        "storm": abc.storm,
        "unidentified": [r["parameter"] for r in post.to_dict(orient="records")
                         if not r["identified"]],
        "epsilon": float(res["generations"]["epsilon"].iloc[-1]),
        "ess": float(post["ess"].iloc[0]), "targets": [o.key for o in cal.targets],
        "posterior": post.to_dict(orient="records"),
        "central": {**{name: particles[name].iloc[i] for name in prior.names},
                    "distance": particles["distance"].iloc[i],
                    "weight": particles["weight"].iloc[i]},
        "ridges": [{"a": a, "b": b, "r": r} for a, b, r in ridges(corr)],
        "sir_ensemble": fits.iloc[-1].to_dict() if len(fits) else None,
        "sir_runs_R0": _spread(fits),
        "wall_s": time.perf_counter() - t0,
    }
    summary = plain(summary)
    write_json(summary, out_dir / "summary.json")
    if checks is not None:
        from ..figures.predictive import plot_predictive  # matplotlib: only when needed

        plot_predictive(checks, storm_observations(abc.storm), {o.key for o in cal.targets},
                        out_dir / "predictive.png",
                        title=f"{abc.storm}: posterior predictive ({spec.name})")
    return summary


def _spread(fits: pd.DataFrame) -> dict[str, float] | None:
    """Median and range of R0 over the single predictive runs that gave an estimate."""
    if not len(fits):
        return None
    r0 = fits[fits["source"].str.startswith("run ") & fits["R0"].notna()]["R0"]
    return {"n": int(r0.size), "median": float(r0.median()), "min": float(r0.min()),
            "max": float(r0.max())} if r0.size else None


def predictive(cal: CalibrationSpec, particles: pd.DataFrame, out_dir: Path, **kw: Any
               ) -> tuple[pd.DataFrame | None, pd.DataFrame, pd.DataFrame | None]:
    """Re-simulate ``abc.predictive`` accepted sets (drawn by weight, new seeds); SIR-fit them.

    Returns their series, their fits, and their runs table (with what each shows of every
    observation: the posterior-predictive check, also written as
    ``predictive_runs.parquet``).
    """
    k = min(cal.abc.predictive, len(particles))
    if k == 0:
        return None, pd.DataFrame(), None
    rng = seeds.abc_rng(cal.spec.root_seed, seeds.PREDICTIVE_GEN)
    w = particles["weight"].to_numpy()
    pick = np.sort(rng.choice(len(particles), size=k, replace=False, p=w / w.sum()))
    points = [plain({name: particles[name].iloc[i] for name in cal.spec.varied}, finite=False)
              for i in pick]
    res = run_sweep(generation_spec(cal.spec, seeds.PREDICTIVE_GEN, points, series=True,
                                    label="predictive"), out_dir / "predictive",
                    progress=kw.get("progress", True), workers=kw.get("workers"),
                    scheduler=kw.get("scheduler"))
    series = res.series
    checks = res.runs[res.runs["status"] == "ok"].reset_index(drop=True)
    write_parquet(checks, out_dir / "predictive_runs.parquet")
    if series is None or series.empty:
        return None, pd.DataFrame(), checks
    write_parquet(series, out_dir / "predictive_series.parquet")
    # each run's fit and the ensemble mean's (last), on the same workers as the runs
    fits = fit_folder(out_dir / "predictive", runs=True, workers=kw.get("workers") or 1,
                      progress=kw.get("progress", True))
    write_parquet(fits, out_dir / "sir_fit.parquet")
    return series, fits, checks



@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` found and where it wrote it (``out_dir``).

    ``summary`` is ``summary.json`` (settings, ESS, posterior rows, ridges, SIR fit);
    ``accepted`` the accepted parameter sets with their weights; ``posterior`` the weighted
    median and 90 % interval of each parameter against its prior.
    """

    out_dir: Path
    summary: dict[str, Any]
    accepted: pd.DataFrame
    posterior: pd.DataFrame


def calibrate(spec: str | Path | dict[str, Any], out_dir: str | Path | None = None, *,
              particles: int | None = None, generations: int | None = None,
              predictive: int | None = None, backend: str | None = None,
              workers: int | None = None, scheduler: str | None = None,
              progress: bool = True,
              log: Callable[[str], None] = lambda _m: None) -> CalibrationResult:
    """Find the parameter sets that reproduce the 2016 observations (ABC), and write them.

    Args:
        spec: a calibration spec: a TOML path, a packaged spec's name (``"calibrate_nhs"``),
            or a dict (:mod:`.settings`).
        out_dir: results folder (default ``results/calibrate-NAME``); resumed if it exists.
        particles: replaces the spec's ``design.n``.
        generations: replaces ``abc.generations`` (most ABC generations).
        predictive: replaces ``abc.predictive`` (accepted sets simulated again).
        backend: replaces ``abc.backend`` (``"builtin"`` or ``"pyabc"``).
        workers: local processes (default: all CPUs).
        scheduler: a Dask scheduler's address or scheduler file (default: local).
        progress: show progress bars.
        log: receives one line per generation.

    Raises:
        SpecError: a bad spec or override (one line naming the key).
    """
    cal = load_calibration(spec, particles=particles, generations=generations,
                           predictive=predictive, backend=backend)
    out = Path(out_dir) if out_dir is not None else Path("results") / f"calibrate-{cal.spec.name}"
    summary = run_calibration(cal, out, workers=workers, scheduler=scheduler,
                              progress=progress, log=log)
    return CalibrationResult(out, summary, pd.read_parquet(out / "accepted.parquet"),
                             pd.read_parquet(out / "posterior.parquet"))
