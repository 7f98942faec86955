"""``replyall sensitivity SPEC``: which parameters move messages per user, senders, backlog.

Runs the spec's Saltelli or Morris design through the sweep machinery (:func:`.sweep.run_sweep`:
local pool or Dask, resumable, progress bar) into ``OUT/runs``, then computes the indices
(:mod:`.sensitivity`) of each output and writes to ``OUT`` (default
``results/sensitivity-NAME``): ``indices.parquet`` (one row per output and parameter, ranked),
``indices_s2.parquet`` (Sobol' second order), ``sensitivity.json`` (settings) and prints the
ranking.
"""

from __future__ import annotations

from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from .io import write_json, write_parquet
from .sensitivity import (
    OUTPUTS,
    TRANSFORMS,
    format_ranking,
    indices_table,
    outputs_by_point,
    problem_of,
)
from .spec import SpecError, load_spec


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default results/sensitivity-NAME); the "
              "sweep in OUT/runs resumes if interrupted.")
@click.option("--outputs", "outputs", default=",".join(OUTPUTS), show_default=True,
              help="Comma-separated run summary keys to analyse.")
@click.option("--transform", type=click.Choice(TRANSFORMS), default="none", show_default=True,
              help="Analyse log1p(output) instead of the output (heavy-tailed storms).")
@click.option("--resamples", type=int, default=200, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@click.option("--workers", type=int, default=None, help="Local processes (default: all CPUs).")
@click.option("--scheduler", default=None, help="Dask scheduler address or file.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def sensitivity(spec_path: Path, out_dir: Path | None, outputs: str, transform: str,
                resamples: int, workers: int | None, scheduler: str | None,
                no_progress: bool) -> None:
    """Sobol' (Saltelli design) or Morris indices of run summaries to the spec's parameters."""
    spec = load_spec(spec_path)
    kind = spec.design.kind
    if kind not in ("saltelli", "morris"):
        raise SpecError("design.kind", kind, "must be saltelli (Sobol' indices) or morris for "
                        "a sensitivity analysis")
    names = tuple(o.strip() for o in outputs.split(",") if o.strip())
    if not names:
        raise ParameterError("--outputs", outputs, "name at least one run summary key")
    if resamples < 10:
        raise ParameterError("--resamples", resamples, "must be >= 10")
    out_dir = out_dir or Path("results") / f"sensitivity-{spec.name}"
    method = "sobol" if kind == "saltelli" else "morris"
    problem = problem_of(spec)
    points = spec.points()
    click.echo(f"{spec.name}: {method} indices of {', '.join(names)} to "
               f"{', '.join(problem['names'])}; {len(points)} points x {spec.replicates} "
               f"replicates, {spec.scenario} scenario")
    from .sweep import run_sweep

    res = run_sweep(spec, out_dir / "runs", scheduler=scheduler, workers=workers,
                    progress=not no_progress, log=click.echo)
    if res.interrupted:
        click.echo(f"interrupted: completed runs are kept in {out_dir}/runs; re-run to resume",
                   err=True)
        raise SystemExit(130)
    unknown = [n for n in names if n not in res.runs.columns]
    if unknown:
        raise ParameterError("--outputs", ",".join(unknown), "not a run summary key (see "
                             "runs.parquet columns)")
    ys, noise = outputs_by_point(res.runs, len(points), names)
    x = spec._sample() if method == "morris" else None  # Morris needs the exact trajectories
    table, pairs = indices_table(problem, x, ys, method=method,
                                 second_order=spec.design.second_order,
                                 levels=spec.design.levels, seed=spec.root_seed % 2**32,
                                 resamples=resamples, how=transform, noise=noise)
    write_parquet(table, out_dir / "indices.parquet")
    if len(pairs):
        write_parquet(pairs, out_dir / "indices_s2.parquet")
    write_json({"spec": spec.name, "method": method, "outputs": ",".join(names),
                "transform": transform, "resamples": resamples, "n_points": len(points),
                "replicates": spec.replicates, "failed_runs": len(res.failed),
                "sweep": str(out_dir / "runs")}, out_dir / "sensitivity.json")
    click.echo(format_ranking(table, method))
    if len(res.failed):
        click.echo(f"warning: {len(res.failed)} runs failed (see {out_dir}/runs/runs.parquet)")
    click.echo(f"wrote {out_dir}/indices.parquet" + (", indices_s2.parquet" if len(pairs)
                                                     else "") + ", sensitivity.json")
