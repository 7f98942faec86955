"""A sensitivity study: a spec's Saltelli or Morris design run as a sweep, then its indices.

``replyall sensitivity SPEC`` runs :func:`run_sensitivity`: the design goes through the sweep
machinery (local pool or Dask, resumable, progress bar) into ``OUT/runs``, the indices of
each output are computed (:mod:`.sensitivity`) and written to ``OUT`` (default
``results/sensitivity-NAME`` in the working directory): ``indices.parquet`` (one row per
output and parameter, ranked), ``indices_s2.parquet`` (Sobol' second order) and
``sensitivity.json`` (the settings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from replyall_storm.model.errors import ParameterError

from ..io import write_json, write_parquet
from ..sweeps.spec import Spec, SpecError
from ..sweeps.sweep import SweepResult, run_sweep
from ..sweeps.tasks import result_keys
from ..sweeps.validate import load_spec
from .sensitivity import OUTPUTS, TRANSFORMS, indices_table, outputs_by_point, problem_of


@dataclass
class SensitivityResult:
    """The indices (one row per output and parameter), second-order pairs, and the sweep."""

    spec: Spec
    method: str  # "sobol" or "morris"
    table: pd.DataFrame
    pairs: pd.DataFrame
    sweep: SweepResult
    out_dir: Path


def check_design(source: Spec | dict[str, Any] | str | Path) -> tuple[Spec, str]:
    """The checked spec and its method; SpecError unless its design is saltelli or morris."""
    spec = load_spec(source)
    kind = spec.design.kind
    if kind not in ("saltelli", "morris"):
        raise SpecError("design.kind", kind, "must be saltelli (Sobol' indices) or morris for "
                        "a sensitivity analysis")
    return spec, "sobol" if kind == "saltelli" else "morris"


def check_options(outputs: tuple[str, ...], transform: str, resamples: int) -> None:
    """ParameterError (one line) for bad options; checked before any run.

    No output, one that is not a run summary key, a bad transform, too few resamples.
    """
    if not outputs:
        raise ParameterError("--outputs", "", "name at least one run summary key")
    if transform not in TRANSFORMS:
        raise ParameterError("--transform", transform, f"must be one of {', '.join(TRANSFORMS)}")
    if resamples < 10:
        raise ParameterError("--resamples", resamples, "must be >= 10")
    known = result_keys()
    unknown = [o for o in outputs if o not in known]
    if unknown:
        raise ParameterError("--outputs", ",".join(unknown), "not a run summary key (one of "
                             f"{', '.join(known)})")


def run_sensitivity(source: Spec | dict[str, Any] | str | Path,
                    out_dir: str | Path | None = None, *,
                    outputs: tuple[str, ...] = OUTPUTS, transform: str = "none",
                    resamples: int = 200, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True,
                    log: Callable[[str], None] | None = None) -> SensitivityResult | None:
    """Run the design and compute the indices; None if interrupted (the sweep resumes).

    Raises:
        ParameterError: a bad spec, option or output name (one line naming it).
    """
    spec, method = check_design(source)
    check_options(outputs, transform, resamples)
    out = Path(out_dir) if out_dir is not None else Path("results") / f"sensitivity-{spec.name}"
    problem = problem_of(spec)
    points = spec.points()
    res = run_sweep(spec, out / "runs", scheduler=scheduler, workers=workers,
                    progress=progress, log=log)
    if res.interrupted:
        return None
    unknown = [n for n in outputs if n not in res.runs.columns]
    if unknown:
        raise ParameterError("--outputs", ",".join(unknown), "not a run summary key (see "
                             "runs.parquet columns)")
    ys, noise = outputs_by_point(res.runs, len(points), outputs)
    x = spec.sample() if method == "morris" else None  # Morris needs the exact trajectories
    table, pairs = indices_table(problem, x, ys, method=method,
                                 second_order=spec.design.second_order,
                                 levels=spec.design.levels, seed=spec.root_seed % 2**32,
                                 resamples=resamples, how=transform, noise=noise)
    write_parquet(table, out / "indices.parquet")
    if len(pairs):
        write_parquet(pairs, out / "indices_s2.parquet")
    write_json({"spec": spec.name, "method": method, "outputs": ",".join(outputs),
                "transform": transform, "resamples": resamples, "n_points": len(points),
                "replicates": spec.replicates, "failed_runs": len(res.failed),
                "sweep": str(out / "runs")}, out / "sensitivity.json")
    return SensitivityResult(spec, method, table, pairs, res, out)
