"""``replyall sweep``: run a spec's parameter sweep, locally or on Dask, resumably."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..sweeps.catalogue import packaged_specs
from ..sweeps.sweep import SweepResult, run_sweep
from .options import WHOLE, say

SHOWN_ERRORS = 5

HELP = """Run every run of the sweep described by SPEC: a TOML file, or a ready spec's name.

Writes runs.parquet (one row per run), series.parquet (one row per run and minute),
manifest.json and per-run parts under parts/. Re-running the same command resumes: runs
already complete are skipped. Ctrl-C (or SIGTERM) stops cleanly; completed runs are kept.

Ready specs ship with the package and are named without a path (`replyall sweep smoke`; a
file of that name in the working directory wins): """ + ", ".join(packaged_specs()) + "."


@click.command(help=HELP)
@click.argument("spec", metavar="SPEC")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=None, help="Results folder (default: results/<spec name> in the working "
              "directory). An existing folder of the same spec is resumed.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster: scheduler address (tcp://host:8786) or scheduler "
                   "file. Default: local processes.")
@click.option("--workers", type=WHOLE, default=None,
              help="Local worker processes (default: the CPUs available; 1 = this process).")
@click.option("--retry-failed", is_flag=True, help="Run again the runs recorded as failed.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def sweep(spec: str, out_dir: Path | None, scheduler: str | None, workers: int | None,
          retry_failed: bool, no_progress: bool) -> None:
    """Run a sweep (the help text is ``HELP``).

    Failures are the group's to report (:mod:`.errors`): bad input exit 2, a lost worker or
    scheduler exit 75, an unwritable result exit 1, Ctrl-C or SIGTERM exit 130.
    """
    result = run_sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                       progress=not no_progress, retry_failed=retry_failed, log=say)
    report(result)
    if result.interrupted:
        sys.exit(130)


def report(result: SweepResult) -> None:
    """Print what a sweep did: runs done, skipped and failed, wall time, output paths."""
    runs = result.runs
    failed = int((runs["status"] == "failed").sum()) if len(runs) else 0
    if result.interrupted:
        click.echo(f"interrupted after {result.wall_s:.1f} s: {len(runs)} of {result.n_runs} "
                   f"runs complete in {result.out_dir}; run the same command to resume",
                   err=True)
        return
    click.echo(f"{result.spec.name}: {result.n_runs} runs, {result.ran} run now, "
               f"{result.skipped} already done, {failed} failed; {result.wall_s:.1f} s")
    if failed:
        click.echo(f"{failed} runs failed ({len(result.errors)} distinct errors):", err=True)
        for text, count in result.errors.most_common(SHOWN_ERRORS):
            click.echo(f"  {count} x {text}", err=True)
        if len(result.errors) > SHOWN_ERRORS:
            click.echo(f"  ... see the error column of {result.paths['runs']}", err=True)
    for name in ("runs", "series", "timings", "design", "manifest"):
        if name in result.paths:
            click.echo(f"  {name:<9} {result.paths[name]}")
