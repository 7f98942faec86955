"""Queued-SIR fits of every storm in a results folder: a ``replyall run`` folder or a sweep's.

A run folder (``series.parquet`` + ``summary.json``) gives one fit; a sweep folder
(``manifest.json`` + ``series.parquet``) one fit per run, one per design point's ensemble mean
when the sweep has replicates, and one to the mean of all runs. A fit that cannot be made is
a row with its ``status`` (``no_storm``, ``flat``, ...), never an error. The fits run through
the executor (:mod:`..sweeps.executor`), in this process or a local pool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from replyall_storm.model.errors import ParameterError

from ..sweeps.executor import Outcome, execute, local_workers
from .series_check import InputError, check_series, read_table
from .sir_fit import ensemble_mean, fit_series

Curves = list[tuple[dict[str, Any], pd.DataFrame]]
"""(label columns, series) of each storm to fit."""


@dataclass(frozen=True)
class FitTask:
    """One fit: the series, the columns that label its row, the fit's options."""

    series: pd.DataFrame
    label: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)


def fit_task(task: FitTask) -> dict[str, Any]:
    """Executor entry point: one fit (module level, so worker processes can run it)."""
    return fit_series(task.series, **task.options, **task.label)


def load_curves(path: Path) -> tuple[str, Curves]:
    """The series to fit in a run or sweep folder (``"run"`` or ``"sweep"``), with labels.

    Every table is checked as it is read (:mod:`.series_check`): a file that is not Parquet,
    a sweep without ``runs.parquet``, a series with negative or non-finite counts or minutes
    out of order is one line naming the file (and the column and row).
    """
    makes = (f"`replyall run --out {path}` or `replyall sweep SPEC --out {path}` makes one")
    if not path.is_dir():
        raise ParameterError("PATH", str(path), f"must be a `replyall run` or sweep folder; "
                             f"{makes}")
    series_path = path / "series.parquet"
    if (path / "manifest.json").exists():
        remake = f"replyall sweep SPEC --out {path}"
        if not series_path.exists():
            raise ParameterError("PATH", str(path), "holds no series.parquet: the sweep kept "
                                 "no series (outputs.series = false) or is unfinished")
        if not (path / "runs.parquet").exists():
            raise ParameterError("PATH", str(path), f"holds no runs.parquet: the sweep is "
                                 f"unfinished (`{remake}` finishes it)")
        try:
            varied = json.loads((path / "manifest.json").read_text()).get("varied", [])
        except (OSError, ValueError, AttributeError):
            raise InputError(path / "manifest.json", f" is unreadable: `{remake}` rebuilds "
                             "it") from None
        runs = read_table(path / "runs.parquet", remake)
        series = read_table(series_path, remake)
        check_series(series, series_path)
        missing = sorted(set(series["run_id"]) - set(runs["run_id"]))
        if missing:
            raise InputError(series_path, f"column run_id: run {missing[0]} is not in "
                             f"runs.parquet (`{remake}` rebuilds both)")
        runs = runs.set_index("run_id")
        curves = []
        for rid, g in series.groupby("run_id", sort=True):
            r = runs.loc[rid]
            label = {"source": f"run {rid}", "run_id": int(rid), "point": int(r["point"]),
                     **{k: r[k] for k in varied}}
            curves.append((label, g.reset_index(drop=True)))
        return "sweep", curves
    if series_path.exists():
        series = read_table(series_path, f"replyall run --out {path}")
        check_series(series, series_path)
        return "run", [({"source": path.name}, series)]
    raise ParameterError("PATH", str(path), f"holds neither series.parquet nor manifest.json; "
                         f"{makes}")


def ensembles(curves: Curves) -> Curves:
    """Mean curves: per design point (when it has replicates) and over all runs."""
    out = []
    by_point: dict[int, Curves] = {}
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


def fit_folder(path: Path, *, runs: bool = True, workers: int = 1, progress: bool = False,
               log: Callable[[str], None] | None = None, **options: Any) -> pd.DataFrame:
    """Fit every storm of the folder ``path``; one row per fit, in a stable order.

    Args:
        path: a ``replyall run`` or sweep folder.
        runs: for a sweep, fit each run too (not only the ensemble means).
        workers: local processes.
        progress: show a progress bar.
        log: receives one-line warnings (more workers than CPUs).
        options: :func:`fit_series` options (``bin_min``, ``level``, ``until_min``,
            ``intervals``).
    """
    kind, curves = load_curves(path)
    todo = ([] if not runs and kind == "sweep" else curves) + (
        ensembles(curves) if kind == "sweep" else [])
    tasks = [FitTask(s, {**label, "order": i}, options) for i, (label, s) in enumerate(todo)]
    rows: list[dict[str, Any]] = []

    with tqdm(total=len(tasks), desc="SIR fits", unit="fit", disable=not progress) as bar:
        def handle(task: FitTask, outcome: Outcome) -> None:
            rows.append(outcome.value if outcome.ok else {
                **task.label, "status": "error", "message": outcome.error})
            bar.update(1)

        execute(fit_task, tasks, handle, workers=local_workers(workers, len(tasks), log))
    table = pd.DataFrame(rows).sort_values("order").drop(columns="order")
    front = [c for c in ("source", "run_id", "point") if c in table]
    return table[front + [c for c in table if c not in front]].reset_index(drop=True)
