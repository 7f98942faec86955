"""``replyall calibrate SPEC``: the parameter sets that reproduce the 2016 observations.

Runs ABC (:mod:`.calibration`, built-in APMC through the sweep machinery by default; pyabc with
``--backend pyabc``), then re-simulates a few accepted sets (the posterior-predictive storm) and
fits the forced SIR (:mod:`.sir_fit`) to them. Writes to ``OUT`` (default
``results/calibrate-NAME``):

* ``accepted.parquet``: the accepted parameter sets (weights, distances, target summaries);
  ``particles.parquet``: every simulated set; ``generations.parquet``: eps and p_acc;
* ``posterior.parquet`` (median and 90 % interval per parameter) and ``correlation.parquet``;
  ``observations.parquet``: the 2016 observations (ranges, tags, which ones are targets);
* ``predictive/`` (the sweep), ``predictive_series.parquet`` and ``predictive.png`` with the
  2016 observations; ``sir_fit.parquet`` (per run and for the ensemble mean);
* ``summary.json``: settings, calibrated values, R0, wall time.

Cost: a full-scale NHS run takes ~6-8 s, so ``calibrate_nhs.toml`` (64 particles, at most 8
generations: <= 288 runs) takes ~15-25 min on 2 free cores. The model is never run at reduced
N: its hazards are per message read and the storm depends on the list size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError

from .calibration import (
    ABC_KEY,
    CalibrationSpec,
    Prior,
    apmc,
    generation_spec,
    load_calibration,
    posterior_summary,
    ridges,
    sweep_simulator,
)
from .io import atomic_write, write_json, write_parquet
from .observed import CONTEXT, TARGETS, observation_table
from .sir_fit import ensemble_mean, fit_series

PREDICTIVE_GEN = 10_000  # seed key of the posterior-predictive runs


def run_calibration(cal: CalibrationSpec, out_dir: Path, *, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True,
                    log: Callable[[str], None] = click.echo) -> dict[str, Any]:
    """Calibrate, re-simulate, fit and write every output; return the summary dict."""
    t0 = time.perf_counter()
    spec, abc = cal.spec, cal.abc
    prior = Prior.from_spec(spec)
    n = int(spec.design.n or 0)
    if abc.backend == "pyabc":
        from .abc_backend import run_pyabc
        res = run_pyabc(cal, out_dir, n=n, alpha=abc.alpha, generations=abc.generations,
                        min_acceptance=abc.min_acceptance, workers=workers or 1,
                        scheduler=scheduler, log=log)
    else:
        sim = sweep_simulator(spec, out_dir, workers=workers, scheduler=scheduler,
                              progress=progress)
        res = apmc(prior, sim, cal.targets, n=n, alpha=abc.alpha, generations=abc.generations,
                   min_acceptance=abc.min_acceptance, seed=spec.root_seed, log=log)
    particles = res["particles"]
    post, corr = posterior_summary(particles, prior)
    write_parquet(particles, out_dir / "accepted.parquet")
    write_parquet(res["history"], out_dir / "particles.parquet")
    write_parquet(res["generations"], out_dir / "generations.parquet")
    write_parquet(post, out_dir / "posterior.parquet")
    write_parquet(corr.reset_index(names="parameter"), out_dir / "correlation.parquet")
    write_parquet(observation_table(), out_dir / "observations.parquet")
    series, fits = predictive(cal, particles, out_dir, workers=workers, scheduler=scheduler,
                              progress=progress)
    summary = {
        "spec": spec.name, "scenario": spec.scenario, "backend": abc.backend,
        "n_users": spec.base_params().n_users, "particles": n,
        "accepted": len(particles), "runs": int(res["generations"]["runs"].sum()),
        "generations": len(res["generations"]),
        "epsilon": float(res["generations"]["epsilon"].iloc[-1]),
        "ess": float(post["ess"].iloc[0]), "targets": [o.key for o in cal.targets],
        "posterior": post.to_dict(orient="records"),
        "ridges": [{"a": a, "b": b, "r": r} for a, b, r in ridges(corr)],
        "sir_ensemble": fits.iloc[-1].to_dict() if len(fits) else None,
        "sir_runs_R0": _spread(fits),
        "wall_s": time.perf_counter() - t0,
    }
    summary = plain(summary)
    write_json(summary, out_dir / "summary.json")
    if series is not None:
        plot_predictive(series, fits, out_dir / "predictive.png",
                        title=f"{spec.scenario}: posterior-predictive storms")
    return summary


def _spread(fits: pd.DataFrame) -> dict[str, float] | None:
    """Median and range of R0 over the single predictive runs that gave an estimate."""
    if not len(fits):
        return None
    r0 = fits[fits["source"].str.startswith("run ") & fits["R0"].notna()]["R0"]
    return {"n": int(r0.size), "median": float(r0.median()), "min": float(r0.min()),
            "max": float(r0.max())} if r0.size else None


def plain(x: Any) -> Any:
    """JSON-ready copy: numpy scalars as Python numbers, NaN and inf as None."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and not np.isfinite(x) else x


def predictive(cal: CalibrationSpec, particles: pd.DataFrame, out_dir: Path, **kw: Any
               ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Re-simulate ``abc.predictive`` accepted sets (drawn by weight, new seeds); SIR-fit them."""
    from .sweep import run_sweep

    k = min(cal.abc.predictive, len(particles))
    if k == 0:
        return None, pd.DataFrame()
    rng = np.random.default_rng(np.random.SeedSequence(cal.spec.root_seed,
                                                       spawn_key=(ABC_KEY, PREDICTIVE_GEN)))
    w = particles["weight"].to_numpy()
    pick = np.sort(rng.choice(len(particles), size=k, replace=False, p=w / w.sum()))
    points = [{name: particles[name].iloc[i] for name in cal.spec.varied} for i in pick]
    points = [{n: (v.item() if isinstance(v, np.generic) else v) for n, v in p.items()}
              for p in points]
    res = run_sweep(generation_spec(cal.spec, PREDICTIVE_GEN, points, series=True,
                                    label="predictive"), out_dir / "predictive",
                    progress=kw.get("progress", True), workers=kw.get("workers"),
                    scheduler=kw.get("scheduler"))
    series = res.series
    if series is None or series.empty:
        return None, pd.DataFrame()
    write_parquet(series, out_dir / "predictive_series.parquet")
    frames = {rid: g.reset_index(drop=True) for rid, g in series.groupby("run_id")}
    rows = [fit_series(f, source=f"run {rid}") for rid, f in frames.items()]
    rows.append(fit_series(ensemble_mean(list(frames.values())), source="ensemble mean"))
    fits = pd.DataFrame(rows)
    write_parquet(fits, out_dir / "sir_fit.parquet")
    return series, fits


def plot_predictive(series: pd.DataFrame, fits: pd.DataFrame, path: Path, title: str) -> Path:
    """Plot each re-simulated storm against the 2016 observations.

    Panels: messages received per user, cumulative reply-alls accepted, delivery delay;
    reported ranges as bars, [C] single inboxes as crosses.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")
    obs = {o.key: o for o in TARGETS + CONTEXT}
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 8.0), sharex=True, layout="constrained")
    for _rid, g in series.groupby("run_id"):
        h = g["minute"] / 60.0
        axes[0].plot(h, g["received_per_user"], color="C0", alpha=0.6, lw=1)
        axes[1].plot(h, g["accepted"].cumsum(), color="C1", alpha=0.6, lw=1)
        axes[2].plot(h, g["delay_min"] / 60.0, color="C2", alpha=0.6, lw=1)
    end = series["minute"].max() / 60.0
    m = obs["messages_per_user"]
    axes[0].errorbar([end], [m.value], yerr=[[0], [m.hi - m.value]], fmt="ks", capsize=4,
                     label="2016: 151-221 per user [C/D]")
    for key in ("received_by_noon", "received_by_1430"):
        axes[0].plot(obs[key].minute / 60.0, obs[key].value, "kx", ms=8)
    axes[0].set_ylabel("messages received\nper user")
    axes[0].legend(loc="lower right")
    c = obs["last_accepted_minute"]
    axes[1].axvspan(c.lo / 60.0, c.hi / 60.0, color="0.85", label="2016: list disabled [R]")
    s = obs["senders"]
    axes[1].errorbar([c.hi / 60.0], [s.value], yerr=[[s.value - s.lo], [s.hi - s.value]],
                     fmt="ks", capsize=4, label="2016: 70-220 senders [R/C]")
    ens = fits[fits["source"] == "ensemble mean"]
    if len(ens) and ens["status"].iloc[0] in ("ok", "unidentified", "boundary"):
        r = ens.iloc[0]
        axes[1].set_title(f"SIR fit (ensemble mean): R0 = {r['R0']:.3g} "
                          f"[{r['R0_lo']:.3g}, {r['R0_hi']:.3g}]", fontsize=9)
    axes[1].set_ylabel("reply-alls accepted\n(cumulative)")
    axes[1].legend(loc="lower right")
    d = obs["max_delay_min"]
    axes[2].axhline(d.lo / 60.0, color="k", ls="--", label="2016: delays >= 3 h [R]")
    b = obs["backlog_cleared_minute"]
    axes[2].axvline(b.hi / 60.0, color="k", ls=":", label="2016: queues cleared [R]")
    axes[2].set_ylabel("oldest undelivered\nmessage (h)")
    axes[2].set_xlabel("hours after the first send")
    axes[2].legend(loc="upper right")
    axes[0].set_title(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def format_posterior(post: list[dict[str, Any]]) -> str:
    """Calibrated values as aligned lines: median, 90 % interval, prior range."""
    lines = [f"  {'parameter':<18} {'median':>10}   {'90% interval':<24} prior"]
    for r in post:
        lines.append(f"  {r['parameter']:<18} {r['median']:>10.3g}   "
                     f"[{r['lo']:.3g}, {r['hi']:.3g}]".ljust(58)
                     + f"[{r['prior_lo']:.3g}, {r['prior_hi']:.3g}]{' log' if r['log'] else ''}")
    return "\n".join(lines)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default results/calibrate-NAME); an "
              "interrupted calibration resumes there.")
@click.option("--backend", type=click.Choice(["builtin", "pyabc"]), default=None,
              help="ABC engine (default: the spec's, else builtin APMC through the sweeps).")
@click.option("--particles", type=int, default=None, help="Particles (replaces design.n).")
@click.option("--generations", type=int, default=None, help="Most ABC generations.")
@click.option("--predictive", type=int, default=None,
              help="Accepted sets re-simulated for the predictive check and the SIR fit.")
@click.option("--quick", is_flag=True, help="Smoke test: 12 particles (16 for a sobol "
              "design), 2 generations, 2 predictive runs. Not a calibration.")
@click.option("--workers", type=int, default=None,
              help="Local processes (default: all CPUs; pyabc backend: 1).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def calibrate(spec_path: Path, out_dir: Path | None, backend: str | None,
              particles: int | None, generations: int | None, predictive: int | None,
              quick: bool, workers: int | None, scheduler: str | None,
              no_progress: bool) -> None:
    """Find the parameter sets that reproduce the 2016 NHSmail storm (ABC)."""
    if workers is not None and workers < 1:
        raise ParameterError("--workers", workers, "must be a whole number >= 1")
    if quick:
        sobol = load_calibration(spec_path).spec.design.kind == "sobol"  # n: a power of 2
        particles, generations = particles or (16 if sobol else 12), generations or 2
        predictive = 2 if predictive is None else predictive
    cal = load_calibration(spec_path, particles=particles, generations=generations,
                           predictive=predictive, backend=backend)
    out_dir = out_dir or Path("results") / f"calibrate-{cal.spec.name}"
    p = cal.spec.base_params()
    click.echo(f"calibrating {cal.spec.scenario} ({p.n_users:,} users): "
               f"{', '.join(cal.spec.varied)} against {', '.join(o.key for o in cal.targets)}; "
               f"{cal.abc.backend} ABC, {cal.spec.design.n} particles, "
               f"<= {cal.abc.generations} generations")
    try:
        s = run_calibration(cal, out_dir, workers=workers, scheduler=scheduler,
                            progress=not no_progress)
    except KeyboardInterrupt:
        click.echo(f"interrupted: completed runs are kept in {out_dir}; re-run to resume",
                   err=True)
        raise SystemExit(130) from None
    click.echo(f"accepted region: {s['accepted']} parameter sets from {s['runs']} runs "
               f"({s['generations']} generations), eps = {s['epsilon']:.3g}, "
               f"ESS = {s['ess']:.1f}")
    click.echo(format_posterior(s["posterior"]))
    for rg in s["ridges"]:
        click.echo(f"  ridge: {rg['a']} ~ {rg['b']} (r = {rg['r']:+.2f})")
    f = s["sir_ensemble"]
    if f is not None and f.get("R0") is not None:
        click.echo(f"  SIR fit of the calibrated storm ({f['status']}): R0 = {_g(f['R0'])} "
                   f"(95% CI {_g(f['R0_lo'])}-{_g(f['R0_hi'])}), 1/gamma = "
                   f"{_g(f['infectious_period_min'])} min, peak at {_g(f['peak_min'])} min")
        if s["sir_runs_R0"]:
            r = s["sir_runs_R0"]
            click.echo(f"    single re-simulated storms: R0 median {_g(r['median'])}, range "
                       f"{_g(r['min'])}-{_g(r['max'])} over {r['n']} runs")
    elif f is not None:
        click.echo(f"  SIR fit of the calibrated storm: {f['status']} ({f['message']})")
    click.echo(f"  time: {s['wall_s'] / 60:.1f} min")
    click.echo(f"wrote {out_dir}/accepted.parquet, posterior.parquet, correlation.parquet, "
               "sir_fit.parquet, predictive.png, summary.json")
