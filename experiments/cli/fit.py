"""``replyall fit PATH``: the forced SIR fitted to storms already simulated.

``PATH`` is a ``replyall run`` folder (one fit) or a sweep folder (one fit per run, per design
point's mean, and for the mean of all runs): :func:`..analysis.fit_folder.fit_folder`. A fit
that cannot be made is a row with its ``status`` (``no_storm``, ``flat``, ...), never an
error. Writes ``PATH/sir_fit.parquet`` and ``.csv`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError

from ..analysis.fit_folder import fit_folder
from ..analysis.sir_fit import CURVES, FORMS
from ..io import atomic_write, writable_file, write_parquet
from .options import NUMBER, WHOLE, say


def format_fits(table: pd.DataFrame, limit: int = 20) -> str:
    """Aligned text: R0 with its interval, 1/gamma, S0, peak, final size, R^2 per row."""
    show = table if len(table) <= limit else table[~table["source"].str.startswith("run ")]
    lines = [f"  {'source':<28} {'status':<14} {'R0 [95% CI]':<24} {'1/gamma':>8} "
             f"{'S0':>9} {'peak':>6} {'final':>7} {'R^2':>5}"]
    for _, r in show.iterrows():
        ci = f"{r['R0']:.3g} [{r['R0_lo']:.3g}, {r['R0_hi']:.3g}]" if np.isfinite(r["R0"]) \
            else "-"
        lines.append(f"  {str(r['source'])[:28]:<28} {r['status']:<14} {ci:<24} "
                     f"{r['infectious_period_min']:>8.3g} {r['S0']:>9.3g} "
                     f"{r['peak_min']:>6.0f} {r['final_size']:>7.0f} {r['r2']:>5.2f}")
    if len(show) < len(table):
        runs = table[table["source"].str.startswith("run ")]
        ok = runs[runs["status"].isin(("ok", "unidentified", "boundary"))]["R0"]
        counts = ", ".join(f"{k} {v}" for k, v in Counter(runs["status"]).most_common())
        lines.append(f"  {len(runs)} single runs ({counts})" + (
            f"; R0 median {ok.median():.3g}, 5-95% of runs {ok.quantile(0.05):.3g}-"
            f"{ok.quantile(0.95):.3g}" if len(ok) else ""))
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--curve", type=click.Choice(CURVES), default="sent", show_default=True,
              help="sent: every reply-all (bounced ones too); accepted: those the list took.")
@click.option("--form", type=click.Choice(FORMS), default="incidence", show_default=True,
              help="Fit reply-alls per bin (Poisson) or the cumulative curve.")
@click.option("--bin", "bin_min", type=WHOLE, default=5, show_default=True,
              help="Bin width of the incidence (minutes).")
@click.option("--until", "until_min", type=NUMBER, default=None,
              help="Fit only the first MIN minutes.")
@click.option("--level", type=NUMBER, default=0.95, show_default=True,
              help="Confidence level of the intervals.")
@click.option("--no-runs", is_flag=True, help="Sweep: fit only the ensemble means.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Table path (default PATH/sir_fit.parquet; a .csv beside it).")
@click.option("--workers", type=WHOLE, default=1, show_default=True, help="Local processes.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def fit(path: Path, curve: str, form: str, bin_min: int, until_min: float | None, level: float,
        no_runs: bool, out_path: Path | None, workers: int, no_progress: bool) -> None:
    """Fit an SIR with the admin cut-off as forcing to a run's or a sweep's storms."""
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
                       curve=curve, form=form, bin_min=bin_min, level=level,
                       until_min=until_min, log=say)
    out_path = out_path or path / "sir_fit.parquet"
    write_parquet(table, out_path)
    csv = out_path.with_suffix(".csv")
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    click.echo(f"SIR fit ({curve} reply-alls, {form}, {bin_min}-min bins, cut-off as forcing) "
               f"of {path}:")
    click.echo(format_fits(table))
    click.echo(f"wrote {out_path} and {csv.name}")
