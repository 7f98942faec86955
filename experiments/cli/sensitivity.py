"""``replyall sensitivity SPEC``: which parameters move messages per user, senders, backlog.

The work is :func:`..analysis.sensitivity_run.run_sensitivity` (the design as a sweep into
``OUT/runs``, then the indices); this module reads the options and prints the ranking.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..analysis.sensitivity import OUTPUTS, TRANSFORMS, format_ranking, problem_of
from ..analysis.sensitivity_run import check_design, check_options, run_sensitivity
from ..io import writable_folder
from .options import WHOLE, say


@click.command()
@click.argument("spec_path", metavar="SPEC")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=None, help="Output folder (default results/sensitivity-NAME in the "
              "working directory); the sweep in OUT/runs resumes if interrupted.")
@click.option("--outputs", "outputs", default=",".join(OUTPUTS), show_default=True,
              help="Comma-separated run summary keys to analyse.")
@click.option("--transform", type=click.Choice(TRANSFORMS), default="none", show_default=True,
              help="Analyse log1p(output) instead of the output (heavy-tailed storms).")
@click.option("--resamples", type=WHOLE, default=200, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@click.option("--workers", type=WHOLE, default=None, help="Local processes (default: all CPUs).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def sensitivity(spec_path: str, out_dir: Path | None, outputs: str, transform: str,
                resamples: int, workers: int | None, scheduler: str | None,
                no_progress: bool) -> None:
    """Sobol' (Saltelli design) or Morris indices of run summaries to the spec's parameters.

    SPEC is a TOML file or the name of a ready spec (sensitivity: 3,584 runs, ~22 min).
    """
    spec, method = check_design(spec_path)
    names = tuple(o.strip() for o in outputs.split(",") if o.strip())
    check_options(names, transform, resamples)
    out_dir = writable_folder(out_dir or Path("results") / f"sensitivity-{spec.name}")
    problem = problem_of(spec)
    click.echo(f"{spec.name}: {method} indices of {', '.join(names)} to "
               f"{', '.join(problem['names'])}; {len(spec.points())} points x "
               f"{spec.replicates} replicates, {spec.scenario} scenario")
    res = run_sensitivity(spec, out_dir, outputs=names, transform=transform,
                          resamples=resamples, workers=workers, scheduler=scheduler,
                          progress=not no_progress, log=say)
    if res is None:
        click.echo(f"interrupted: completed runs are kept in {out_dir}/runs; re-run to resume",
                   err=True)
        raise SystemExit(130)
    click.echo(format_ranking(res.table, method))
    if len(res.sweep.failed):
        click.echo(f"warning: {len(res.sweep.failed)} runs failed (see "
                   f"{out_dir}/runs/runs.parquet)")
    click.echo(f"wrote {out_dir}/indices.parquet" + (", indices_s2.parquet" if len(res.pairs)
                                                     else "") + ", sensitivity.json")
