"""``replyall storms-abc``: one mechanism fitted to several storms by sequential ABC."""

from __future__ import annotations

from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from .. import seeds
from ..calibration.joint import MECHANISMS
from ..io import writable_folder

STORM_IDS = ("nhs2016", "dhs2007", "cisco2013", "nyu2012")
"""The storms of the data file (checked against it by the tests)."""


@click.command("storms-abc")
@click.argument("mechanism", type=click.Choice(list(MECHANISMS)))
@click.option("--leave-out", type=click.Choice([*STORM_IDS, "all"]), default=None,
              help="Fit the other storms and predict this one; 'all': each storm in turn, "
                   "scored against the baselines (default: fit every storm).")
@click.option("--particles", type=int, default=200, show_default=True,
              help="APMC particles (half are kept each generation).")
@click.option("--generations", type=int, default=30, show_default=True,
              help="Safety cap on generations (reaching it is reported as not converged).")
@click.option("--min-acceptance", type=float, default=0.05, show_default=True,
              help="Converged once the share of new particles within the tolerance falls "
                   "below this.")
@click.option("--target-epsilon", type=float, default=1.0, show_default=True,
              help="Converged once the tolerance on the combined distance (RMS over the "
                   "storms, in units of each report's uncertainty) is this or less; 0: off.")
@click.option("--predictive", type=int, default=50, show_default=True,
              help="Posterior draws simulated on the left-out storm.")
@click.option("--seed", type=int, default=20161114, show_default=True, help="Root seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default: results/storms-abc-MECHANISM"
                                 "[-without-STORM]); resumed if it exists.")
@click.option("--workers", type=int, default=None, help="Local processes (default: all CPUs).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def storms_abc(mechanism: str, leave_out: str | None, particles: int, generations: int,
               min_acceptance: float, target_epsilon: float, predictive: int, seed: int,
               out_dir: Path | None, workers: int | None, scheduler: str | None,
               no_progress: bool) -> None:
    """Fit MECHANISM to every storm at once by sequential ABC (APMC), or predict one.

    The shared person-level parameters, the mechanism's own and every storm's nuisance
    parameters are calibrated together; a particle's distance is the RMS over the storms of
    each storm's calibration distance. It stops when APMC converges (the acceptance rate
    falls below --min-acceptance, or the tolerance to --target-epsilon: every storm, on
    average, within one unit of its reports' uncertainty). Writes accepted.parquet,
    posterior.parquet, storms.parquet (each storm's M and how much of the posterior reproduces it),
    prediction.parquet (with --leave-out) and summary.json.
    """
    from ..calibration.joint_abc_pipeline import fit_storms

    if particles < 20:
        raise ParameterError("--particles", particles, "must be at least 20")
    if generations < 2:
        raise ParameterError("--generations", generations, "must be at least 2")
    if not 0 <= min_acceptance < 1:
        raise ParameterError("--min-acceptance", min_acceptance, "must be in [0, 1)")
    if not target_epsilon >= 0 or target_epsilon == float("inf"):
        raise ParameterError("--target-epsilon", target_epsilon, "must be a finite number >= 0")
    if predictive < 1:
        raise ParameterError("--predictive", predictive, "must be at least 1")
    seeds.check_seed(seed)
    suffix = {None: "", "all": "-loo"}.get(leave_out, f"-without-{leave_out}")
    out_dir = writable_folder(out_dir or Path("results") / f"storms-abc-{mechanism}{suffix}")
    if leave_out == "all":
        _leave_each_out(out_dir, mechanism, particles=particles, generations=generations,
                        min_acceptance=min_acceptance, target_epsilon=target_epsilon,
                        predictive=predictive, root_seed=seed,
                        workers=workers, scheduler=scheduler, progress=not no_progress)
        return
    s = fit_storms(out_dir, mechanism, leave_out=leave_out, particles=particles,
                   generations=generations, min_acceptance=min_acceptance,
                   target_epsilon=target_epsilon,
                   predictive=predictive, root_seed=seed, workers=workers,
                   scheduler=scheduler, progress=not no_progress, log=click.echo)
    click.echo(f"\n{mechanism} on {', '.join(s['storms'])}: "
               f"{'converged' if s['converged'] else 'NOT converged'} ({s['stopped_by']}) "
               f"after {s['generations']} generations, eps = {s['epsilon']:.3g}, "
               f"p_acc = {s['p_acc']:.2f}, ESS {s['ess']:.0f}")
    if s["unidentified"]:
        click.echo(f"unidentified (90 % interval >= 75 % of the prior): "
                   f"{', '.join(s['unidentified'])}")
    click.echo(f"  {'storm':<10} {'observed M':>16} {'posterior M [90 %]':>26} {'ratio':>6} "
               f"{'reproduced':>10}")
    for r in s["fitted"]:
        obs = f"{r['observed']:.0f} ({r['observed_lo']:.0f}-{r['observed_hi']:.0f})"
        pred = f"{r['predicted']:.0f} [{r['predicted_p05']:.0f}, {r['predicted_p95']:.0f}]"
        click.echo(f"  {r['storm']:<10} {obs:>16} {pred:>26} {r['ratio']:>6.2f} "
                   f"{r['reproduced']:>10.0%}")
    if "prediction" in s:
        r = s["prediction"]
        click.echo(f"left out {r['storm']}: observed {r['observed']:.0f}, predicted "
                   f"{r['predicted']:.0f} [{r['predicted_p05']:.0f}, {r['predicted_p95']:.0f}]"
                   f" from {r['accepted']} runs, ratio {r['ratio']:.2f}")
    click.echo(f"wrote {out_dir}/accepted.parquet, posterior.parquet, storms.parquet, "
               f"summary.json ({s['wall_s'] / 60:.1f} min)")


def _leave_each_out(out_dir: Path, mechanism: str, **fit_kw) -> None:
    """``--leave-out all``: each storm predicted from the others, and the table printed."""
    from ..calibration.joint_abc_loo import leave_each_out

    s = leave_each_out(out_dir, mechanism, log=click.echo, **fit_kw)
    click.echo(f"\nleave one storm out, {mechanism} by sequential ABC against the baselines:")
    click.echo(f"  {'model':<34} {'storm':<10} {'observed':>9} {'predicted [90 %]':>26} "
               f"{'ratio':>7}")
    for _, r in s["loo"].iterrows():
        pred = f"{r['predicted']:.0f} [{r['predicted_p05']:.0f}, {r['predicted_p95']:.0f}]"
        click.echo(f"  {r['model']:<34} {r['storm']:<10} {r['observed']:>9.0f} {pred:>26} "
                   f"{r['ratio']:>7.2f}")
    for model, c in s["criteria"].items():
        click.echo(f"  {model:<34} mean |log error| {c['mean_abs_log_error']:.2f}, "
                   f"{c['within_factor']} of {c['storms']} within x3")
    not_converged = [k for k, v in s["converged"].items() if not v]
    if not_converged:
        click.echo(f"NOT converged (generation cap): the fits without {', '.join(not_converged)}")
    click.echo(f"{mechanism} {'beats' if s['beats_baselines'] else 'does NOT beat'} both "
               f"baselines; wrote {out_dir}/loo.parquet, loo.csv, summary.json")
