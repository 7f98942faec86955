"""Simulation-based calibration: how often the ABC's 90 % intervals hold the true parameters.

For ``truths`` parameter sets drawn from the prior (Talts et al. 2018), each one is simulated
once, the storm's observations are read off that synthetic storm the way the reports were made
(:func:`synthetic_observations`: a single inbox is one member drawn at random, a clock window
is a minute drawn within it, a point value is itself, each with the real observation's
uncertainty), and the same ABC (:func:`.apmc.apmc`, through the sweeps) calibrates against
them. Over the truths, each parameter's coverage (the share of truths inside their 90 %
intervals) should be about 0.9: it is reported with its binomial (Clopper-Pearson) 95 %
interval, with the truth's rank among the weighted posterior (uniform if the posterior is
calibrated). Each truth is a whole calibration, so the check runs on a smaller world
(``users``: capacity and degradation scaled per member, the reply hazards by the inverse, so
the storms keep their full-scale shape) with the calibration's own code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from replyall_storm.model.run import simulate
from replyall_storm.model.states import Action

from .. import seeds
from ..io import plain, write_json, write_parquet
from ..sweeps.spec import Spec
from ..sweeps.validate import parse_spec
from .apmc import Prior, apmc, posterior_summary
from .generations import _without_none, sweep_simulator
from .observations import Observation
from .observe import clock_minutes, observed_values, users_until
from .settings import CalibrationSpec
from .storms import load_storms

SBC_KEY = 0x5BC0
LEVEL = 0.9
PER_MEMBER = ("capacity_per_min", "degrade_backlog")
"""Parameters that scale with the list (per member the same on the smaller world)."""
PER_LIST = ("remove_rate", "complain_rate")
"""Hazards per message read that scale inversely with the list: each reply-all's expected
number of further reply-alls (hazard x members) is the same on the smaller world, so its
storms have the full-scale shape (the committed sample's rescaling; not a claim about
smaller lists)."""


def smaller_world(cal: CalibrationSpec, users: int) -> Spec:
    """The calibration's spec on ``users`` members: capacity and degradation per member kept."""
    data = cal.spec.resolved()
    base = cal.spec.base_params()
    scale = users / base.n_users
    fixed = {**data["fixed"], "n_users": users,
             "degrade_backlog": base.degrade_backlog * scale}
    for name in ("capacity_per_min",):
        if name not in cal.spec.varied:
            fixed[name] = getattr(base, name) * scale
    for name in PER_LIST:
        if name not in cal.spec.varied:
            fixed[name] = min(1.0, getattr(base, name) / scale)
    data["fixed"] = fixed
    for name, axis in data["design"]["parameters"].items():
        if name in PER_MEMBER:
            axis["low"], axis["high"] = axis["low"] * scale, axis["high"] * scale
        elif name in PER_LIST:
            axis["low"], axis["high"] = axis["low"] / scale, min(1.0, axis["high"] / scale)
    data["name"] = f"{cal.spec.name}-sbc"
    return parse_spec(_without_none(data))


def synthetic_observations(spec: Spec, truth: dict[str, Any], targets: tuple[Observation, ...],
                           storm_id: str, index: int
                           ) -> tuple[tuple[Observation, ...], dict[str, float]]:
    """What reports of a storm simulated at ``truth`` would have said (module docstring).

    The storm's seed and the draws of the reported members and minutes come from the spec's
    root seed and the truth's ``index``.
    """
    params = spec.base_params().replace(**truth)
    seed = seeds.run_sequence(spec.root_seed, (SBC_KEY, index))
    rng = np.random.default_rng(seeds.run_sequence(spec.root_seed, (SBC_KEY, index, 1)))
    result = simulate(params, seed=seed, org_seed=spec.org_seed(), cache=True,
                      users_until=users_until(storm_id, params))
    shown = {**result.summary, **observed_values(result, storm_id)}
    storm = load_storms().storm(storm_id)
    out = []
    for o in targets:
        if o.kind == "summary":
            value = float(shown[o.key])
        else:
            window = clock_minutes(o, storm, params.start_clock_h)
            minute = int(rng.integers(window[0], window[1] + 1))
            if o.kind in ("inbox", "inbox_remove_me"):
                kind = Action.REMOVE_ME if o.kind == "inbox_remove_me" else None
                value = float(result.transport.quantiles(minute, (rng.random(),), kind)[0])
            else:
                column = {"mean_received": "received_per_user", "delay": "normal_delay_min"}
                if o.kind == "transport_events":
                    value = float(result.series["transport_events"].iloc[: minute + 1].sum())
                else:
                    value = float(result.series[column[o.kind]].iloc[minute])
        out.append(dataclasses.replace(o, lo=value, hi=value, value=value, source="synthetic"))
    return tuple(out), shown


def run_sbc(cal: CalibrationSpec, out_dir: Path, *, truths: int = 20, users: int = 15_000,
            particles: int = 300, generations: int | None = None,
            final_draws: int | None = None, final_ess: float | None = None,
            workers: int | None = None,
            scheduler: str | None = None, progress: bool = True,
            log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Calibrate ``truths`` synthetic storms; write ``sbc.parquet`` and ``summary.json``.

    ``generations`` caps each calibration (default: the calibration spec's cap);
    ``final_draws`` sizes each one's first batch of final draws (default: the spec's
    ``abc.final_draws`` in proportion to ``particles``, as are its ESS target and cap on
    draws; its defensive share is the spec's). The table is rewritten after every
    truth, so an interrupted check keeps the truths it finished and a re-run resumes each
    calibration where it stopped.
    """
    cap = generations if generations is not None else cal.abc.generations
    scale = particles / (cal.spec.design.n or particles)  # the final sample in proportion
    if final_draws is None:
        final_draws = round(cal.abc.final_draws * scale)
    if final_ess is None:
        final_ess = cal.abc.final_ess * scale
    final_ess = final_ess if final_draws else 0.0
    final_max = round(cal.abc.final_max_draws * scale) or None
    spec = smaller_world(cal, users)
    prior = Prior.from_spec(spec)
    root = np.random.SeedSequence(spec.root_seed, spawn_key=(SBC_KEY,))
    draws = np.random.default_rng(root.spawn(1)[0]).random((truths, len(prior.names)))
    rows = []
    for t, truth in enumerate(prior.from_unit(draws)):
        targets, _ = synthetic_observations(spec, truth, cal.targets, cal.abc.storm, t)
        sub = _with_particles(spec, particles, seeds.joint_root_seed(spec.root_seed, 1000 + t))
        log(f"truth {t + 1}/{truths}: {', '.join(f'{k}={v:.3g}' for k, v in truth.items())}")
        res = apmc(prior, sweep_simulator(sub, out_dir / f"truth-{t:03d}", workers=workers,
                                          scheduler=scheduler, progress=progress),
                   targets, n=particles, alpha=cal.abc.alpha, generations=cap,
                   min_acceptance=cal.abc.min_acceptance, final_draws=final_draws,
                   final_ess=final_ess, final_max_draws=final_max,
                   defensive=cal.abc.final_defensive, final_scale=cal.abc.final_kernel_scale,
                   batched=cal.abc.weights == "balance",
                   seed=sub.root_seed)
        post, _ = posterior_summary(res["particles"], prior, LEVEL)
        w = res["particles"]["weight"].to_numpy()
        for _, r in post.iterrows():
            name = r["parameter"]
            x = res["particles"][name].to_numpy(float)
            rows.append({"truth": t, "parameter": name, "value": float(truth[name]),
                         "median": r["median"], "lo": r["lo"], "hi": r["hi"],
                         "covered": bool(r["lo"] <= truth[name] <= r["hi"]),
                         "rank": float(np.sum(w * (x < truth[name])) / w.sum()),
                         "ess": r["ess"], "stopped_by": res["stopped_by"],
                         "generations": len(res["generations"]),
                         "accepted": len(res["particles"]),
                         "draws": int((res["final"] or {}).get("draws", 0))})
        write_parquet(pd.DataFrame(rows), out_dir / "sbc.parquet")
    table = pd.DataFrame(rows)
    per_truth = table.drop_duplicates("truth")
    summary = plain({"truths": truths, "users": users, "particles": particles,
                     "final_draws": final_draws, "final_ess": final_ess,
                     "final_max_draws": final_max, "defensive": cal.abc.final_defensive,
                     "weights": cal.abc.weights,
                     "level": LEVEL, "coverage": coverage(table),
                     "ess_median": float(per_truth["ess"].median()),
                     "converged": float(np.mean(per_truth["stopped_by"] != "cap"))})
    write_json(summary, out_dir / "summary.json")
    return summary


def _with_particles(spec: Spec, particles: int, root_seed: int) -> Spec:
    data = spec.resolved()
    data["design"] = {**data["design"], "n": particles}
    data["root_seed"] = root_seed
    return parse_spec(_without_none(data))


def coverage(table: pd.DataFrame, level: float = 0.95) -> dict[str, dict[str, float]]:
    """Per parameter (and ``all``): share covered and its Clopper-Pearson interval."""
    out = {}
    groups = [*table.groupby("parameter", sort=False), ("all", table)]
    for name, g in groups:
        k, n = int(g["covered"].sum()), len(g)
        lo = stats.beta.ppf((1 - level) / 2, k, n - k + 1) if k > 0 else 0.0
        hi = stats.beta.ppf(1 - (1 - level) / 2, k + 1, n - k) if k < n else 1.0
        out[str(name)] = {"covered": k, "n": n, "share": k / n if n else math.nan,
                          "lo": float(lo), "hi": float(hi),
                          "rank_ks_p": float(stats.kstest(g["rank"], "uniform").pvalue)}
    return out


__all__ = ["coverage", "run_sbc", "smaller_world", "synthetic_observations"]
