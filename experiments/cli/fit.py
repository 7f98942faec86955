"""``replyall fit PATH``: the forced SIR (:mod:`.sir_fit`) fitted to storms already simulated.

``PATH`` is a ``replyall run`` folder (``series.parquet`` + ``summary.json``: one fit) or a
sweep folder (``manifest.json`` + ``series.parquet``: one fit per run, one per design point's
ensemble mean when the sweep has replicates, and one to the mean of all runs). A fit that
cannot be made is a row with its ``status`` (``no_storm``, ``flat``, ...), never an error.
Writes ``PATH/sir_fit.parquet`` and ``.csv`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from replyall_storm.model.errors import ParameterError

from .executor import Outcome, execute
from .io import atomic_write, write_parquet
from .sir_fit import CURVES, FORMS, ensemble_mean, fit_series


def _fit_task(series: pd.DataFrame, label: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """Executor entry point: one fit (module level, so worker processes can run it)."""
    return fit_series(series, **kw, **label)


def load_curves(path: Path) -> tuple[str, list[tuple[dict[str, Any], pd.DataFrame]]]:
    """The series to fit in a run or sweep folder, each with its label columns."""
    if not path.is_dir():
        raise ParameterError("PATH", str(path), "must be a `replyall run` or sweep folder")
    series_path = path / "series.parquet"
    if (path / "manifest.json").exists():
        if not series_path.exists():
            raise ParameterError("PATH", str(path), "holds no series.parquet: the sweep kept "
                                 "no series (outputs.series = false) or is unfinished")
        varied = json.loads((path / "manifest.json").read_text()).get("varied", [])
        runs = pd.read_parquet(path / "runs.parquet").set_index("run_id")
        series = pd.read_parquet(series_path)
        curves = []
        for rid, g in series.groupby("run_id", sort=True):
            r = runs.loc[rid]
            label = {"source": f"run {rid}", "run_id": int(rid), "point": int(r["point"]),
                     **{k: r[k] for k in varied}}
            curves.append((label, g.reset_index(drop=True)))
        return "sweep", curves
    if series_path.exists():
        return "run", [({"source": path.name}, pd.read_parquet(series_path))]
    raise ParameterError("PATH", str(path), "holds neither series.parquet nor manifest.json")


def ensembles(curves: list[tuple[dict[str, Any], pd.DataFrame]]
              ) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Mean curves: per design point (when it has replicates) and over all runs."""
    out = []
    by_point: dict[int, list[tuple[dict[str, Any], pd.DataFrame]]] = {}
    for label, s in curves:
        by_point.setdefault(label["point"], []).append((label, s))
    for point, members in by_point.items():
        if len(members) > 1:
            label = {k: v for k, v in members[0][0].items() if k not in ("run_id", "source")}
            out.append(({**label, "source": f"point {point} mean ({len(members)} runs)"},
                        ensemble_mean([s for _, s in members])))
    if len(curves) > 1:
        out.append(({"source": f"ensemble mean ({len(curves)} runs)"},
                    ensemble_mean([s for _, s in curves])))
    return out


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
@click.option("--bin", "bin_min", type=int, default=5, show_default=True,
              help="Bin width of the incidence (minutes).")
@click.option("--until", "until_min", type=float, default=None,
              help="Fit only the first MIN minutes.")
@click.option("--level", type=float, default=0.95, show_default=True,
              help="Confidence level of the intervals.")
@click.option("--no-runs", is_flag=True, help="Sweep: fit only the ensemble means.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Table path (default PATH/sir_fit.parquet; a .csv beside it).")
@click.option("--workers", type=int, default=1, show_default=True, help="Local processes.")
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
    kind, curves = load_curves(path)
    todo = ([] if no_runs and kind == "sweep" else curves) + (
        ensembles(curves) if kind == "sweep" else [])
    kw = {"curve": curve, "form": form, "bin_min": bin_min, "level": level,
          "until_min": until_min}
    tasks = [{"series": s, "label": {**label, "order": i}, **kw}
             for i, (label, s) in enumerate(todo)]
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(tasks), desc="SIR fits", unit="fit", disable=no_progress) as bar:
        def handle(task: dict[str, Any], outcome: Outcome) -> None:
            rows.append(outcome.value if outcome.ok else {
                **task["label"], "status": "error", "message": outcome.error})
            bar.update(1)

        execute(_fit_task, tasks, handle, workers=min(workers, max(len(tasks), 1)))
    table = pd.DataFrame(rows).sort_values("order").drop(columns="order")
    front = [c for c in ("source", "run_id", "point") if c in table]
    table = table[front + [c for c in table if c not in front]].reset_index(drop=True)
    out_path = out_path or path / "sir_fit.parquet"
    write_parquet(table, out_path)
    csv = out_path.with_suffix(".csv")
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    click.echo(f"SIR fit ({curve} reply-alls, {form}, {bin_min}-min bins, cut-off as forcing) "
               f"of {path}:")
    click.echo(format_fits(table))
    click.echo(f"wrote {out_path} and {csv.name}")
