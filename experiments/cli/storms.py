"""``replyall storms``: one model for every reply-all storm, mechanism against mechanism."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from replyall_storm.model.errors import ParameterError

from .. import seeds
from ..calibration import joint_analysis as ja
from ..calibration.joint import MECHANISMS
from ..io import writable_folder


def format_loo(loo: pd.DataFrame) -> str:
    """The leave-one-storm-out table as aligned text, one block per model."""
    lines = [f"  {'model':<22} {'storm':<10} {'N':>8} {'observed M':>16} {'predicted [90 %]':>24}"
             f" {'ratio':>6} {'|log|':>6}"]
    for _, r in loo.iterrows():
        obs = (f"{r['observed']:.0f} ({r['observed_lo']:.0f}-{r['observed_hi']:.0f})")
        pred = f"{r['predicted']:.0f} [{r['predicted_p05']:.0f}, {r['predicted_p95']:.0f}]"
        lines.append(f"  {r['model']:<22} {r['storm']:<10} {r['list_size']:>8,} {obs:>16} "
                     f"{pred:>24} {r['ratio']:>6.2f} {r['abs_log_error']:>6.2f}")
    return "\n".join(lines)


@click.command()
@click.option("--mechanism", "mechanisms", multiple=True,
              type=click.Choice(list(MECHANISMS)),
              help="Candidate mechanism (repeatable; default: all of them).")
@click.option("--samples", type=int, default=3000, show_default=True,
              help="Points of the common prior sample (each runs on every storm).")
@click.option("--accept", type=float, default=ja.ACCEPT, show_default=True,
              help="Share of the sample accepted (the ABC tolerance as a quantile).")
@click.option("--seed", type=int, default=20161114, show_default=True, help="Root seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default: results/storms); resumed if it "
                                 "exists.")
@click.option("--workers", type=int, default=None, help="Local processes (default: all CPUs).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def storms(mechanisms: tuple[str, ...], samples: int, accept: float, seed: int,
           out_dir: Path | None, workers: int | None, scheduler: str | None,
           no_progress: bool) -> None:
    """Fit each perception mechanism to every storm at once; compare them leave-one-out.

    Every storm of the project's data runs from one common prior sample of shared
    person-level parameters and each storm's own nuisance parameters; each mechanism's
    predictions of a storm from the others are scored against two baselines (a constant
    number of reply-alls, and a log-linear regression on list size). Writes loo.csv,
    models.parquet, the posteriors and summary.json (see `replyall storms --help`).
    """
    from ..calibration.joint_pipeline import run_storms

    if samples < 50:
        raise ParameterError("--samples", samples, "must be at least 50")
    if not 0 < accept < 0.5:
        raise ParameterError("--accept", accept, "must be in (0, 0.5)")
    seeds.check_seed(seed)
    out_dir = writable_folder(out_dir or Path("results") / "storms")
    summary = run_storms(out_dir, mechanisms=list(mechanisms) or None, samples=samples,
                         root_seed=seed, accept=accept, workers=workers, scheduler=scheduler,
                         progress=not no_progress, log=click.echo)
    loo = pd.read_parquet(out_dir / "loo.parquet")
    click.echo("\nleave one storm out: each storm's M predicted from the others")
    click.echo(format_loo(loo))
    click.echo("\ncriteria (mean |log(predicted / observed)|, storms within a factor "
               f"{ja.FACTOR:g}):")
    for model, c in summary["criteria"].items():
        click.echo(f"  {model:<22} {c['mean_abs_log_error']:.2f}   {c['within_factor']} of "
                   f"{c['storms']}")
    click.echo("\nABC model choice (all storms, common tolerance):")
    for m in summary["models"]:
        click.echo(f"  {m['mechanism']:<12} p = {m['probability']:.2f} ({m['accepted']} "
                   "accepted)")
    click.echo(f"\nchosen: {summary['chosen']} ({summary['chosen_by']}); beats both "
               f"baselines: {summary['beats_baselines'][summary['chosen']]}")
    click.echo(f"wrote {out_dir}/loo.csv, models.parquet, posterior.parquet, summary.json "
               f"({summary['wall_s'] / 60:.1f} min)")
