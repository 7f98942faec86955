"""Global sensitivity indices (SALib) of run summaries to the model's parameters.

A sensitivity spec is a sweep spec (:mod:`.spec`) with ``design.kind = "saltelli"`` (Sobol'
indices, ``SALib.analyze.sobol``) or ``"morris"`` (elementary effects,
``SALib.analyze.morris``); ranges with ``log = true`` are sampled, and the indices computed,
in log10 of the parameter. The sweep runs the design in ``point`` order, which is SALib's
sample order, so the outputs ``Y`` are the runs' summaries averaged over replicates per point.

Indices, per output:

* Sobol': first order ``S1`` (share of the output's variance explained by the parameter
  alone), total order ``ST`` (alone and in every interaction) and their bootstrap confidence
  half-widths (``*_conf``, 95 %). Parameters are ranked by ``ST``. ``ST ~ 0`` means the
  parameter can be fixed anywhere in its range; ``ST - S1`` large means interactions.
* Morris: ``mu_star`` (mean absolute elementary effect, ranked on), ``sigma`` (their spread:
  non-linearity or interactions) and ``mu_star_conf``.

The model is stochastic. With a fresh seed per run the run-to-run noise is an extra input that
no parameter owns: it inflates every Sobol' ``ST`` and, when large, makes ``S1`` noisy (small
negative values are estimation noise). Spec ``common_seeds = true`` holds the random streams
fixed, so indices are those of the model at one seed. With ``replicates > 1`` the within-point
share of the variance is reported as ``noise_share`` (0 = deterministic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

OUTPUTS = ("messages_per_user", "senders", "peak_backlog")
TRANSFORMS = ("none", "log1p")


def problem_of(spec: Any) -> dict[str, Any]:
    """Return the SALib problem of a saltelli/morris spec (bounds in log10 for log axes)."""
    return {k: v for k, v in spec.salib_problem().items() if k != "log10"}


def analyse(problem: dict[str, Any], x: np.ndarray, y: np.ndarray, *, method: str,
            second_order: bool = True, levels: int = 4, seed: int = 0,
            resamples: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sensitivity indices of one output ``y`` (one value per row of the sample ``x``).

    Returns one row per parameter (ranked, rank 1 = most influential) and, for Sobol' with
    second order, one row per parameter pair (``S2``, ``S2_conf``).
    """
    names = list(problem["names"])
    y = np.asarray(y, dtype=float)
    if method == "sobol":
        from SALib.analyze import sobol

        si = sobol.analyze(problem, y, calc_second_order=second_order,
                           num_resamples=resamples, seed=seed)
        table = pd.DataFrame({"parameter": names, "S1": si["S1"], "S1_conf": si["S1_conf"],
                              "ST": si["ST"], "ST_conf": si["ST_conf"]})
        key = "ST"
        pairs = pd.DataFrame([
            {"a": names[i], "b": names[j], "S2": si["S2"][i, j], "S2_conf": si["S2_conf"][i, j]}
            for i in range(len(names)) for j in range(i + 1, len(names))
        ]) if second_order else pd.DataFrame()
    elif method == "morris":
        from SALib.analyze import morris

        si = morris.analyze(problem, np.asarray(x, dtype=float), y, num_levels=levels,
                            num_resamples=resamples, seed=seed)
        table = pd.DataFrame({"parameter": names, "mu_star": si["mu_star"],
                              "mu_star_conf": si["mu_star_conf"], "sigma": si["sigma"],
                              "mu": si["mu"]})
        key, pairs = "mu_star", pd.DataFrame()
    else:
        raise ValueError(f"method must be sobol or morris, not {method!r}")
    table["rank"] = table[key].rank(ascending=False, method="min").astype(int)
    return table.sort_values("rank", kind="stable").reset_index(drop=True), pairs


def transform(y: np.ndarray, how: str) -> np.ndarray:
    """Apply the output transform ``how`` (``none`` or ``log1p``)."""
    if how == "log1p":
        return np.log1p(np.maximum(np.asarray(y, dtype=float), 0.0))
    return np.asarray(y, dtype=float)


def outputs_by_point(runs: pd.DataFrame, n_points: int,
                     outputs: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mean of each output over replicates, one row per design point in point order.

    Returns the table (NaN where every replicate failed) and each output's ``noise_share``
    (within-point variance / total variance; NaN without replicates).
    """
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    means = ok.groupby("point")[list(outputs)].mean().reindex(range(n_points))
    noise = {}
    for out in outputs:
        total = float(ok[out].var())
        within = ok.groupby("point")[out].var().mean() if ok["point"].duplicated().any() \
            else np.nan
        noise[out] = float(within / total) if total > 0 else np.nan
    return means, noise


def indices_table(problem: dict[str, Any], x: np.ndarray | None, ys: pd.DataFrame, *,
                  method: str, second_order: bool = True, levels: int = 4, seed: int = 0,
                  resamples: int = 200, how: str = "none",
                  noise: dict[str, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute indices for every output column of ``ys`` (outputs with failed runs flagged).

    Returns the long table (``output``, ``status``, ``noise_share``, the method's indices,
    ``rank``) and the second-order pairs (Sobol' only).
    """
    tables, pairs = [], []
    for out in ys.columns:
        y = ys[out].to_numpy(dtype=float)
        base = {"output": out, "transform": how,
                "noise_share": (noise or {}).get(out, np.nan)}
        missing = int(np.isnan(y).sum())
        if missing:
            tables.append(pd.DataFrame([{**base, "parameter": p, "status":
                                         f"{missing} design points failed: no indices"}
                                        for p in problem["names"]]))
            continue
        if np.ptp(y) == 0:
            tables.append(pd.DataFrame([{**base, "parameter": p, "status": "constant output"}
                                        for p in problem["names"]]))
            continue
        t, s2 = analyse(problem, x if x is not None else np.empty(0), transform(y, how),
                        method=method, second_order=second_order, levels=levels, seed=seed,
                        resamples=resamples)
        tables.append(t.assign(**base, status="ok"))
        if len(s2):
            pairs.append(s2.assign(output=out))
    table = pd.concat(tables, ignore_index=True)
    front = ["output", "rank", "parameter", "status"]
    table = table[[c for c in front if c in table] + [c for c in table if c not in front]]
    return table, (pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame())


def sobol_of_function(func: Callable[[np.ndarray], np.ndarray], problem: dict[str, Any],
                      n: int, *, seed: int = 0, second_order: bool = True
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Saltelli-sample ``problem`` (``n`` base points), evaluate ``func`` row-wise, analyse.

    For checking the wrapper on analytic functions (e.g. Ishigami, whose indices are known).
    """
    from SALib.sample import sobol as sobol_sample

    x = sobol_sample.sample(problem, n, calc_second_order=second_order, seed=seed)
    return analyse(problem, x, func(x), method="sobol", second_order=second_order, seed=seed)


def format_ranking(table: pd.DataFrame, method: str) -> str:
    """Aligned text: for each output, its parameters from most to least influential."""
    cols = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
    lines = []
    for out, g in table.groupby("output", sort=False):
        noise = g["noise_share"].iloc[0]
        extra = "" if pd.isna(noise) else f"  (run-to-run noise: {noise:.0%} of variance)"
        lines.append(f"{out}{extra}")
        if (g["status"] != "ok").all():
            lines.append(f"  {g['status'].iloc[0]}")
            continue
        lines.append(f"  {'rank':>4}  {'parameter':<22}" + "".join(f"{c:>18}" for c in cols))
        for _, r in g.iterrows():
            vals = "".join(f"{r[c]:>10.3g} ± {r[c + '_conf']:<5.2g}" if c + "_conf" in r
                           else f"{r[c]:>18.3g}" for c in cols)
            lines.append(f"  {int(r['rank']):>4}  {r['parameter']:<22}{vals}")
    return "\n".join(lines)
