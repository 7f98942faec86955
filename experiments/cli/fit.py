"""``replyall fit PATH``: the queued SIR fitted to storms already simulated.

``PATH`` is a ``replyall run`` folder (one fit) or a sweep folder (one fit per run, per design
point's mean, and for the mean of all runs): :func:`..analysis.fit_folder.fit_folder`. Each
fit takes both curves of a storm, reply-alls sent per bin and messages received per member
(:mod:`..analysis.sir_fit`). A fit that cannot be made, or does not fit, is a row with its
``status`` (``no_storm``, ``poor_fit``, ``unidentified``, ...), never an error. Writes
``PATH/sir_fit.parquet`` and ``.csv`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError

from ..analysis.fit_folder import fit_folder
from ..io import atomic_write, writable_file, write_parquet
from .options import NUMBER, WHOLE, say


def _ci(r: pd.Series, name: str) -> str:
    if not np.isfinite(r[name]):
        return "-"
    return f"{r[name]:.3g} [{r[name + '_lo']:.3g}, {r[name + '_hi']:.3g}]"


def format_fits(table: pd.DataFrame, limit: int = 20) -> str:
    """Aligned text per row: status, R0 and mu with intervals, reading lag, R^2 of both curves."""
    show = table if len(table) <= limit else table[~table["source"].str.startswith("run ")]
    lines = [f"  {'source':<26} {'status':<13} {'R0 [95% CI]':<24} {'mu [95% CI]':<27} "
             f"{'1/kappa':>7} {'spread':>6} {'peak':>5} {'sent':>6} {'R^2 inc':>7} "
             f"{'R^2 rec':>7}"]
    for _, r in show.iterrows():
        lag = f"{1.0 / r['kappa']:.0f}" if np.isfinite(r["kappa"]) else "-"
        lines.append(f"  {str(r['source'])[:26]:<26} {r['status']:<13} {_ci(r, 'R0'):<24} "
                     f"{_ci(r, 'mu'):<27} {lag:>7} {r['spread']:>6.2f} {r['peak_min']:>5.0f} "
                     f"{r['final_size']:>6.0f} {r['r2_incidence']:>7.3f} "
                     f"{r['r2_received']:>7.3f}")
    if len(show) < len(table):
        runs = table[table["source"].str.startswith("run ")]
        ok = runs[runs["status"] == "ok"]["R0"]
        counts = ", ".join(f"{k} {v}" for k, v in Counter(runs["status"]).most_common())
        lines.append(f"  {len(runs)} single runs ({counts})" + (
            f"; R0 of the ok fits: median {ok.median():.3g}, 5-95% {ok.quantile(0.05):.3g}-"
            f"{ok.quantile(0.95):.3g}" if len(ok) else ""))
    flagged = table[table["status"] != "ok"]
    if len(flagged):
        lines.append(f"  flagged: {len(flagged)} of {len(table)} fits are not ok (see the "
                     "status and message columns); do not report their R0 as a result")
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--bin", "bin_min", type=WHOLE, default=30, show_default=True,
              help="Bin width of the reply-all incidence (minutes).")
@click.option("--until", "until_min", type=NUMBER, default=None,
              help="Fit only the first MIN minutes.")
@click.option("--level", type=NUMBER, default=0.95, show_default=True,
              help="Confidence level of the intervals.")
@click.option("--intervals", type=click.Choice(["profile", "wald"]), default="profile",
              show_default=True, help="Profile-likelihood intervals, or Wald (faster).")
@click.option("--no-runs", is_flag=True, help="Sweep: fit only the ensemble means.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Table path (default PATH/sir_fit.parquet; a .csv beside it).")
@click.option("--workers", type=WHOLE, default=1, show_default=True, help="Local processes.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def fit(path: Path, bin_min: int, until_min: float | None, level: float, intervals: str,
        no_runs: bool, out_path: Path | None, workers: int, no_progress: bool) -> None:
    """Fit the queued SIR (delivery queue, cut-off, muting) to a run's or a sweep's storms."""
    if bin_min < 1:
        raise ParameterError("--bin", bin_min, "must be >= 1 (minutes)")
    if not 0 < level < 1:
        raise ParameterError("--level", level, "must be in (0, 1)")
    if workers < 1:
        raise ParameterError("--workers", workers, "must be >= 1")
    if until_min is not None and not until_min > 0:
        raise ParameterError("--until", until_min, "must be > 0 (minutes)")
    if out_path is not None or path.is_dir():  # else fit_folder names PATH as the problem
        out_path = writable_file(out_path or path / "sir_fit.parquet", "--out")
    table = fit_folder(path, runs=not no_runs, workers=workers, progress=not no_progress,
                       bin_min=bin_min, level=level, until_min=until_min, intervals=intervals,
                       log=say)
    out_path = out_path or path / "sir_fit.parquet"
    write_parquet(table, out_path)
    csv = out_path.with_suffix(".csv")
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    click.echo(f"queued-SIR fit (reply-alls per {bin_min} min and messages received per "
               f"member, cut-off as forcing, {intervals} intervals) of {path}:")
    click.echo(format_fits(table))
    click.echo(f"wrote {out_path} and {csv.name}")
