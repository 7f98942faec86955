"""``replyall storms-abc MECHANISM --leave-out all``: every storm predicted from the others.

:func:`leave_each_out` runs the sequential joint fit (:func:`.joint_abc_pipeline.fit_storms`)
once per storm of the data file, on all the other storms, each into ``OUT/without-STORM``
(resumable, like any fit), and scores every left-out prediction beside the two baselines of
:func:`.joint_analysis.baselines` (a constant M; log M linear in log N), from the same reports.
Writes to ``OUT``:

* ``loo.parquet`` / ``loo.csv``: one row per model (``"<mechanism> (sequential ABC)"`` and
  both baselines) and storm, in the columns of ``replyall storms``' ``loo.parquet``
  (observed range and midpoint, predicted median and 90 % interval, ratio, |log error|,
  within a factor of 3, observed inside the interval), plus each fit's convergence;
* ``summary.json``: per model, the mean |log(predicted / observed)|, storms within a factor of
  3, and whether the mechanism beats both baselines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import write_json, write_parquet
from . import joint_analysis as ja
from .joint_abc_pipeline import fit_storms
from .storms import load_storms


def model_name(mechanism: str) -> str:
    """The model column's value for ``mechanism``'s sequential leave-one-out predictions."""
    return f"{mechanism} (sequential ABC)"


def leave_each_out(out_dir: Path, mechanism: str, *, storm_ids: list[str] | None = None,
                   fit: Callable[..., dict[str, Any]] = fit_storms,
                   log: Callable[[str], None] = print, **fit_kw: Any) -> dict[str, Any]:
    """Fit ``mechanism`` on all storms but one, for each storm in turn; score the predictions.

    ``fit_kw`` go to :func:`.joint_abc_pipeline.fit_storms` (particles, generations, seed,
    workers...); every fit uses the same root seed, so a fit is the one ``--leave-out STORM``
    would make into the same folder.
    """
    out_dir = Path(out_dir)
    ids = storm_ids or [s.id for s in load_storms().storms]
    rows = []
    for storm in ids:
        log(f"\n=== {mechanism} without {storm} ===")
        s = fit(out_dir / f"without-{storm}", mechanism, leave_out=storm, storm_ids=tuple(ids),
                log=log, **fit_kw)
        rows.append({**s["prediction"], "converged": bool(s["converged"]),
                     "stopped_by": s["stopped_by"], "generations": int(s["generations"]),
                     "epsilon": float(s["epsilon"]), "ess": float(s["ess"])})
    frames = [pd.DataFrame(rows).assign(model=model_name(mechanism))]
    frames += [f[f["storm"].isin(ids)].assign(model=f"baseline: {name}")
               for name, f in ja.baselines().items()]
    loo = pd.concat(frames, ignore_index=True)
    loo = loo[["model", *[c for c in loo.columns if c != "model"]]]
    loo["accepted"] = pd.to_numeric(loo["accepted"])  # runs behind a prediction; none: NaN
    loo["converged"] = loo["converged"].astype("boolean")  # a baseline has no fit: <NA>
    write_parquet(loo, out_dir / "loo.parquet")
    loo.to_csv(out_dir / "loo.csv", index=False)
    criteria = {m: ja.summary_of(g) for m, g in loo.groupby("model", sort=False)}
    mine = criteria[model_name(mechanism)]["mean_abs_log_error"]
    summary = {"mechanism": mechanism, "storms": ids, "settings": fit_kw_plain(fit_kw),
               "criteria": criteria,
               "converged": {r["storm"]: r["converged"] for r in rows},
               "beats_baselines": all(mine < c["mean_abs_log_error"]
                                      for m, c in criteria.items() if m.startswith("baseline"))}
    write_json(summary, out_dir / "summary.json", finite=False)
    return {"loo": loo, **summary}


def fit_kw_plain(fit_kw: dict[str, Any]) -> dict[str, Any]:
    """The settings worth recording (numbers and strings; not callables or progress flags)."""
    return {k: v for k, v in fit_kw.items()
            if isinstance(v, int | float | str) and k not in ("progress",)}


__all__ = ["leave_each_out", "model_name"]
