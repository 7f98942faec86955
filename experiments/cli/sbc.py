"""``replyall sbc``: simulation-based calibration of the calibration itself."""

from __future__ import annotations

from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from ..io import writable_folder


@click.command()
@click.argument("spec_path", metavar="SPEC", default="calibrate_nhs")
@click.option("--truths", type=int, default=20, show_default=True,
              help="Synthetic storms, each drawn from the prior and calibrated.")
@click.option("--users", type=int, default=15_000, show_default=True,
              help="Members of the smaller world (capacity and degradation per member kept).")
@click.option("--particles", type=int, default=300, show_default=True,
              help="ABC particles of each calibration.")
@click.option("--final-draws", type=int, default=None,
              help="Fresh draws of each calibration's final sample (default: the spec's "
                   "abc.final_draws in proportion to --particles; 0: APMC's population).")
@click.option("--final-ess", type=float, default=None,
              help="Each final sample's ESS target, in more batches of draws (default: the "
                   "spec's abc.final_ess in proportion to --particles; 0: one batch).")
@click.option("--weights", type=click.Choice(["own", "balance"]), default=None,
              help="APMC's weights (default: the spec's abc.weights): each particle's own "
                   "prior / proposal, or the balance heuristic over every generation's.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default results/sbc-NAME); resumed if it "
                                 "exists.")
@click.option("--workers", type=int, default=None, help="Local processes (default: all CPUs).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def sbc(spec_path: str, truths: int, users: int, particles: int, final_draws: int | None,
        final_ess: float | None, weights: str | None, out_dir: Path | None,
        workers: int | None, scheduler: str | None, no_progress: bool) -> None:
    """Check that the calibration SPEC's 90 % intervals cover the truth about 90 % of the time.

    Draws TRUTHS parameter sets from the prior, simulates each once on a smaller world,
    reads that storm's observations as the reports were made (one inbox: a random member),
    calibrates against them with the same ABC, and reports each parameter's coverage with
    its binomial interval. Writes sbc.parquet and summary.json.
    """
    from ..calibration.sbc import run_sbc
    from ..calibration.settings import load_calibration

    if truths < 2:
        raise ParameterError("--truths", truths, "must be at least 2")
    if not 100 <= users <= 1_000_000:
        raise ParameterError("--users", users, "must be from 100 to 1,000,000")
    if particles < 20:
        raise ParameterError("--particles", particles, "must be at least 20")
    if final_draws is not None and final_draws < 0:
        raise ParameterError("--final-draws", final_draws, "must be a whole number >= 0")
    if final_ess is not None and not final_ess >= 0:
        raise ParameterError("--final-ess", final_ess, "must be a number >= 0")
    cal = load_calibration(spec_path, weights=weights)
    out_dir = writable_folder(out_dir or Path("results") / f"sbc-{cal.spec.name}")
    summary = run_sbc(cal, out_dir, truths=truths, users=users, particles=particles,
                      final_draws=final_draws, final_ess=final_ess, workers=workers,
                      scheduler=scheduler, progress=not no_progress, log=click.echo)
    click.echo(f"coverage of the {summary['level']:.0%} intervals over {truths} truths "
               f"({users:,} users, {particles} particles):")
    for name, c in summary["coverage"].items():
        click.echo(f"  {name:<20} {c['covered']:>3}/{c['n']:<3} = {c['share']:.2f} "
                   f"[95% CI {c['lo']:.2f}-{c['hi']:.2f}], ranks uniform: KS p = "
                   f"{c['rank_ks_p']:.2f}")
    click.echo(f"  calibrations converged: {summary['converged']:.0%}; posterior ESS median "
               f"{summary['ess_median']:.0f} ({summary['final_draws']} final draws each)")
    click.echo(f"wrote {out_dir}/sbc.parquet, summary.json")
