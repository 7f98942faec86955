"""From the joint sample's distances to posteriors, predictions and a choice of mechanism.

Rejection ABC on one common prior sample (:mod:`.joint`), so that every question below is
answered from the same simulations:

* **Fit to a set of storms**: the combined distance of a sample point is the root mean square
  over those storms of each storm's distance (every storm weighs the same, however many
  observations it has); the posterior is the ``accept`` share of points with the smallest
  combined distance (equal weights; ABC rejection, Pritchard et al. 1999).
* **Leave one storm out**: for each storm, the points accepted on the *other* storms predict
  it: their simulated ``M`` on that storm (its nuisance parameters drawn from their prior, as
  for a storm nobody has seen) gives the predicted median and 90 % interval. The error of a
  prediction is ``log(predicted median / observed)``, the observed ``M`` being the middle of
  its reported range.
* **Baselines**, predicted the same way from the other storms: a constant ``M`` (the other
  storms' geometric mean) and a log-linear regression of ``log M`` on ``log N`` (with its t
  prediction interval).
* **Model choice**: at a common tolerance (the ``accept`` quantile of the pooled combined
  distances of every mechanism), the share of each mechanism's points accepted estimates its
  posterior probability (equal prior probabilities and equal sample sizes; ABC model choice,
  Grelaud et al. 2009).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .storms import load_storms

ACCEPT = 0.03
"""Share of the sample accepted (the ABC tolerance as a quantile of the distances)."""
FACTOR = 3.0
"""A prediction within this factor of the observed M counts as a hit."""


@dataclass(frozen=True)
class ObservedM:
    """A storm's reply-alls that reached its list: the reported range and its middle."""

    storm: str
    list_size: int
    lo: float
    hi: float

    @property
    def middle(self) -> float:
        """The middle of the range (arithmetic: the issue's convention for a range of M)."""
        return 0.5 * (self.lo + self.hi)


def observed_m() -> dict[str, ObservedM]:
    """Each storm's M from the data file (``reply_alls_accepted``)."""
    out = {}
    for storm in load_storms().storms:
        o = storm.observation("reply_alls_accepted")
        out[storm.id] = ObservedM(storm.id, storm.list_size, o.lo, o.hi)
    return out


def combined(table: pd.DataFrame, storms: list[str]) -> np.ndarray:
    """Combined distance of each point over ``storms``: the RMS of their distances."""
    d = np.column_stack([table[f"{s}:distance"].to_numpy(float) for s in storms])
    d = np.where(np.isfinite(d), d, 1e6)
    return np.sqrt(np.mean(d**2, axis=1))


def accepted(table: pd.DataFrame, storms: list[str], share: float = ACCEPT) -> np.ndarray:
    """Indices of the ``share`` of points closest to ``storms`` (at least one)."""
    d = combined(table, storms)
    k = max(1, int(round(share * len(d))))
    return np.argsort(d, kind="stable")[:k]


def leave_one_out(table: pd.DataFrame, share: float = ACCEPT) -> pd.DataFrame:
    """One row per storm: its M predicted from the points accepted on the other storms."""
    obs = observed_m()
    storms = [s for s in obs if f"{s}:distance" in table]
    rows = []
    for held in storms:
        others = [s for s in storms if s != held]
        idx = accepted(table, others, share)
        m = table[f"{held}:M"].to_numpy(float)[idx]
        m = m[np.isfinite(m)]
        med, p05, p95 = (np.percentile(m, [50, 5, 95]) if m.size else (math.nan,) * 3)
        rows.append(score(obs[held], med, p05, p95, len(idx), combined(table, others)[idx]))
    return pd.DataFrame(rows)


def score(o: ObservedM, med: float, p05: float, p95: float, n: int | None = None,
          tolerance: np.ndarray | None = None) -> dict:
    """One prediction of ``o``'s M (median and 90 % interval) scored against the report."""
    ratio = med / o.middle if o.middle > 0 else math.nan
    log_error = abs(math.log(max(med, 0.5) / o.middle))
    return {"storm": o.storm, "list_size": o.list_size, "observed_lo": o.lo, "observed_hi": o.hi,
            "observed": o.middle, "predicted": med, "predicted_p05": p05,
            "predicted_p95": p95, "ratio": ratio, "abs_log_error": log_error,
            "within_factor": bool(log_error <= math.log(FACTOR)),
            "observed_in_interval": bool(p05 <= o.middle <= p95),
            "accepted": n, "tolerance": float(tolerance.max()) if tolerance is not None
            and tolerance.size else math.nan}


def baselines() -> dict[str, pd.DataFrame]:
    """Leave-one-out predictions of the two baselines (constant M; log M linear in log N)."""
    obs = list(observed_m().values())
    out: dict[str, list[dict]] = {"constant": [], "loglinear": []}
    for i, held in enumerate(obs):
        rest = [o for j, o in enumerate(obs) if j != i]
        logs = np.log([o.middle for o in rest])
        # constant: the others' geometric mean; 90 % t interval of a new value
        m, s, k = logs.mean(), logs.std(ddof=1), len(logs)
        t = stats.t.ppf(0.95, k - 1)
        half = t * s * math.sqrt(1 + 1 / k)
        out["constant"].append(score(held, math.exp(m), math.exp(m - half), math.exp(m + half)))
        # log-linear in log N: least squares through the others, t prediction interval
        x = np.log([o.list_size for o in rest])
        slope, intercept = np.polyfit(x, logs, 1)
        resid = logs - (intercept + slope * x)
        dof = k - 2
        x0 = math.log(held.list_size)
        if dof > 0:
            se = math.sqrt(np.sum(resid**2) / dof) * math.sqrt(
                1 + 1 / k + (x0 - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
            half = stats.t.ppf(0.95, dof) * se
        else:
            half = math.inf
        pred = intercept + slope * x0
        out["loglinear"].append(score(held, math.exp(pred), math.exp(pred - half),
                                     math.exp(pred + half)))
    return {k: pd.DataFrame(v) for k, v in out.items()}


def model_probabilities(tables: dict[str, pd.DataFrame], share: float = ACCEPT
                        ) -> pd.DataFrame:
    """Each mechanism's share of the points accepted at the common tolerance (all storms)."""
    storms = [s for s in observed_m() if all(f"{s}:distance" in t for t in tables.values())]
    pooled = np.concatenate([combined(t, storms) for t in tables.values()])
    eps = float(np.quantile(pooled, share))
    counts = {name: int(np.sum(combined(t, storms) <= eps)) for name, t in tables.items()}
    total = max(sum(counts.values()), 1)
    return pd.DataFrame([{"mechanism": name, "accepted": n, "probability": n / total,
                          "tolerance": eps, "samples": len(tables[name])}
                         for name, n in counts.items()])


def summary_of(loo: pd.DataFrame) -> dict[str, float]:
    """The criteria of a leave-one-out table: mean |log error|, hits within the factor."""
    return {"mean_abs_log_error": float(loo["abs_log_error"].mean()),
            "within_factor": int(loo["within_factor"].sum()), "storms": len(loo),
            "observed_in_interval": int(loo["observed_in_interval"].sum())}
