"""``replyall calibrate SPEC``: the parameter sets that reproduce the 2016 observations.

The work is :func:`..calibration.pipeline.run_calibration` (ABC, posterior, predictive storms,
SIR fit, every file); this module reads the options and prints the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from replyall_storm.model.errors import ParameterError

from ..io import writable_folder
from .options import WHOLE, say


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
@click.argument("spec_path", metavar="SPEC")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=None, help="Output folder (default results/calibrate-NAME in the "
              "working directory); an interrupted calibration resumes there.")
@click.option("--backend", type=click.Choice(["builtin", "pyabc"]), default=None,
              help="ABC engine (default: the spec's, else builtin APMC through the sweeps).")
@click.option("--particles", type=WHOLE, default=None, help="Particles (replaces design.n).")
@click.option("--generations", type=WHOLE, default=None, help="Most ABC generations.")
@click.option("--predictive", type=WHOLE, default=None,
              help="Accepted sets re-simulated for the predictive check and the SIR fit.")
@click.option("--final-draws", type=click.IntRange(min=0), default=None,
              help="Fresh draws at the last tolerance for the posterior (0: APMC's last "
              "population; default: the spec's abc.final_draws).")
@click.option("--final-ess", type=click.FloatRange(min=0), default=None,
              help="More batches of final draws until the posterior's ESS reaches this "
              "(0: one batch; default: the spec's abc.final_ess).")
@click.option("--quick", is_flag=True, help="Smoke test: 12 particles (16 for a sobol "
              "design), 2 generations, 2 predictive runs, 24 final draws (one batch) if the "
              "spec has any. Not a calibration.")
@click.option("--workers", type=WHOLE, default=None,
              help="Local processes (default: all CPUs; pyabc backend: 1).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def calibrate(spec_path: str, out_dir: Path | None, backend: str | None,
              particles: int | None, generations: int | None, predictive: int | None,
              final_draws: int | None, final_ess: float | None, quick: bool,
              workers: int | None,
              scheduler: str | None, no_progress: bool) -> None:
    """Find the parameter sets that reproduce the 2016 NHSmail storm (ABC).

    SPEC is a calibration spec: a TOML file, or the name of a ready one (calibrate_nhs:
    full scale, about an hour on 2 cores).
    """
    # imported here: the calibration reads the storms data file, which may be broken
    from ..calibration.pipeline import run_calibration
    from ..calibration.settings import load_calibration

    if workers is not None and workers < 1:
        raise ParameterError("--workers", workers, "must be a whole number >= 1")
    if quick:
        full = load_calibration(spec_path)
        sobol = full.spec.design.kind == "sobol"  # n: a power of 2
        particles, generations = particles or (16 if sobol else 12), generations or 2
        predictive = 2 if predictive is None else predictive
        if final_draws is None and full.abc.final_draws:
            final_draws = 24
        final_ess = 0.0 if final_ess is None else final_ess
    cal = load_calibration(spec_path, particles=particles, generations=generations,
                           predictive=predictive, backend=backend, final_draws=final_draws,
                           final_ess=final_ess)
    out_dir = writable_folder(out_dir or Path("results") / f"calibrate-{cal.spec.name}")
    p = cal.spec.base_params()
    click.echo(f"calibrating {cal.spec.scenario} ({p.n_users:,} users): "
               f"{', '.join(cal.spec.varied)} against {', '.join(o.key for o in cal.targets)}; "
               f"{cal.abc.backend} ABC, {cal.spec.design.n} particles, "
               f"<= {cal.abc.generations} generations")
    try:
        s = run_calibration(cal, out_dir, workers=workers, scheduler=scheduler,
                            progress=not no_progress, log=say)
    except KeyboardInterrupt:
        click.echo(f"interrupted: completed runs are kept in {out_dir}; re-run to resume",
                   err=True)
        raise SystemExit(130) from None
    click.echo(f"accepted region: {s['accepted']} parameter sets from {s['runs']} runs "
               f"({s['generations']} generations), eps = {s['epsilon']:.3g}, "
               f"ESS = {s['ess']:.1f}")
    if s["converged"]:
        click.echo(f"  converged: stopped by {s['stopped_by'].replace('_', ' ')} (last "
                   f"acceptance rate {s['final_p_acc']:.3f}, criterion < "
                   f"{s['min_acceptance']:g})")
    else:
        click.echo(f"  NOT converged: stopped by the generation cap (last acceptance rate "
                   f"{s['final_p_acc']:.3f}, criterion < {s['min_acceptance']:g}); "
                   "--generations raises the cap")
    final = s.get("final_sample")
    if final:
        click.echo(f"  final sample: {final['draws']} fresh draws in {final['batches']} "
                   f"batch(es), {final['accepted']} within eps (acceptance "
                   f"{final['p_acc']:.3f}), ESS {final['ess']:.1f}")
        if final["ess_target"]:
            click.echo(f"  ESS target {final['ess_target']:g}: "
                       + ("met" if final["met"] else "NOT met (abc.final_max_draws reached)"))
    click.echo(format_posterior(s["posterior"]))
    for rg in s["ridges"]:
        click.echo(f"  ridge: {rg['a']} ~ {rg['b']} (r = {rg['r']:+.2f})")
    f = s["sir_ensemble"]
    if f is not None and f.get("R0") is not None:
        click.echo(f"  queued-SIR fit of the calibrated storm ({f['status']}): R0 = "
                   f"{_g(f['R0'])} (95% CI {_g(f['R0_lo'])}-{_g(f['R0_hi'])}), mute "
                   f"{_g(f['mu'])} per message read, reading lag 1/kappa = "
                   f"{_g(1.0 / f['kappa'] if f.get('kappa') else None)} min, peak at "
                   f"{_g(f['peak_min'])} min, R^2 {_g(f['r2_incidence'])} / "
                   f"{_g(f['r2_received'])}")
        if s["sir_runs_R0"]:
            r = s["sir_runs_R0"]
            click.echo(f"    single re-simulated storms: R0 median {_g(r['median'])}, range "
                       f"{_g(r['min'])}-{_g(r['max'])} over {r['n']} runs")
    elif f is not None:
        click.echo(f"  SIR fit of the calibrated storm: {f['status']} ({f['message']})")
    click.echo(f"  time: {s['wall_s'] / 60:.1f} min")
    click.echo(f"wrote {out_dir}/accepted.parquet, posterior.parquet, correlation.parquet, "
               "sir_fit.parquet, predictive.png, summary.json")
