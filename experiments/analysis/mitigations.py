"""Mitigation what-ifs: the same storm under each policy, with replicates, compared.

A policy is a set of parameter overrides (``model/policies.py`` and ``StormParams`` hold the
mechanisms and their real settings). :func:`compare_policies` runs the scenario under every
policy through the sweep machinery (:func:`compare_spec` + ``run_sweep``: local or Dask,
resumable, progress), with
the same random streams for every policy (common random numbers: the differences between rows
are the policies', not the dice's), and :func:`policy_table` reduces the runs to one row per
policy with the mean and the 2.5-97.5 % range over replicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams

from ..io import atomic_write, write_parquet


@dataclass(frozen=True)
class Policy:
    """A named mitigation: parameter overrides on top of the scenario.

    ``baseline``: the row without any mitigation. Its overrides also switch off every
    mitigation the scenario or ``--set`` switched on for all rows (:data:`MITIGATIONS_OFF`),
    so that it is what its name says.
    """

    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    baseline: bool = False


MITIGATIONS_OFF: dict[str, Any] = {
    "storm_protection": False, "sender_restriction": False, "audience_warning": False,
    "rate_limit_per_hour": math.inf, "low_priority_queue": False}
"""Each mitigation switch of :class:`StormParams` in its off position."""

POLICIES: tuple[Policy, ...] = (
    Policy("no intervention", "the list is never disabled", {"cutoff_min": math.inf},
           baseline=True),
    Policy("2016 response", "list disabled at the scenario's (calibrated) cut-off, queue "
           "delivered", {}),
    Policy("cut-off at 20 min", "administrators act three times faster", {"cutoff_min": 20.0}),
    Policy("cut-off + purge", "list disabled and its queue purged",
           {"purge_at_cutoff": True}),
    Policy("storm protection 2021", "Exchange Online: 2,500 recipients, 10 reply-alls in "
           "60 min, 6 h block", {"storm_protection": True}),
    Policy("storm protection 2020", "Exchange Online before 2021: 5,000 recipients, 10 "
           "reply-alls, 4 h block",
           {"storm_protection": True, "sp_min_recipients": 5_000, "sp_block_h": 4.0}),
    Policy("sender restriction", "named senders only on lists over 500 (NHSmail today)",
           {"sender_restriction": True}),
    Policy("audience warning", "MailTips large-audience warning above 25 recipients",
           {"audience_warning": True}),
    Policy("rate limit 1/h", "at most one reply-all per sender per hour",
           {"rate_limit_per_hour": 1.0}),
    Policy("low-priority queue", "storm traffic queued apart, other mail unaffected",
           {"low_priority_queue": True}),
    Policy("double capacity", "twice the transport's delivery capacity", {"__capacity_x": 2.0}),
)
"""The policies ``replyall compare`` runs by default; all but the first keep the cut-off."""

METRICS = {
    "messages_per_user_eventual": "messages per user (eventually received)",
    "senders": "reply-all senders",
    "deliveries": "deliveries",
    "peak_backlog": "peak backlog",
    "service_restored_h": "hours until normal service",
}


def get_policies(names: list[str] | None) -> list[Policy]:
    """The policies called ``names`` (all when None); ParameterError naming unknown ones."""
    if not names:
        return list(POLICIES)
    known = {p.name: p for p in POLICIES}
    for n in names:
        if n not in known:
            raise ParameterError("--policy", n, f"must be one of: {', '.join(known)}")
    return [known[n] for n in names]


def switched_on(base: StormParams) -> dict[str, Any]:
    """The mitigations ``base`` switches on, as the changes that switch them off."""
    return {k: off for k, off in MITIGATIONS_OFF.items() if getattr(base, k) != off}


def resolve(policy: Policy, base: StormParams) -> dict[str, Any]:
    """The policy's overrides as concrete parameter values on ``base`` (validated)."""
    changes = {**(switched_on(base) if policy.baseline else {}), **policy.overrides}
    factor = changes.pop("__capacity_x", None)
    if factor is not None:
        changes["capacity_per_min"] = base.capacity_per_min * factor
    base.replace(**changes)  # validate
    return changes


def compare_spec(scenario: str, base_changes: dict[str, Any], policies: list[Policy],
                 replicates: int, root_seed: int, series_every_min: int = 10) -> dict[str, Any]:
    """A sweep spec (a dict) with one design point per policy and common random numbers."""
    from replyall_storm.model.scenarios import get_scenario

    base = get_scenario(scenario).params(**base_changes)
    per_policy = [resolve(p, base) for p in policies]
    varied = sorted({k for changes in per_policy for k in changes})
    values = {k: [changes.get(k, getattr(base, k)) for changes in per_policy] for k in varied}
    if not varied:  # only the baseline: vary nothing visible
        values = {"cutoff_min": [base.cutoff_min] * len(policies)}
    return {
        "name": f"compare-{scenario}",
        "description": "replyall compare: " + "; ".join(p.name for p in policies),
        "scenario": scenario,
        "root_seed": root_seed,
        "replicates": replicates,
        "common_seeds": True,
        "common_org": True,
        "fixed": {k: v for k, v in base_changes.items() if k not in values},
        "design": {"kind": "points",
                   "parameters": {k: {"values": v} for k, v in values.items()}},
        "outputs": {"series": True, "series_every_min": series_every_min},
    }


def policy_table(runs: pd.DataFrame, policies: list[Policy], horizon_min: int) -> pd.DataFrame:
    """One row per policy: mean, 2.5 % and 97.5 % over replicates of each metric.

    ``service_restored_h`` of a run whose service was not restored within the run counts as
    the horizon; the column ``not_restored`` says in how many runs that happened.
    """
    ok = runs[runs["status"] == "ok"].copy()
    restored = ok["service_restored_minute"].astype(float)
    ok["not_restored"] = restored.isna()
    ok["service_restored_h"] = restored.fillna(horizon_min) / 60.0
    rows = []
    for point, policy in enumerate(policies):
        sub = ok[ok["point"] == point]
        row: dict[str, Any] = {"policy": policy.name, "description": policy.description,
                               "runs": len(sub), "not_restored": int(sub["not_restored"].sum())}
        for metric in METRICS:
            values = sub[metric].to_numpy(dtype=float)
            row[metric] = float(values.mean()) if values.size else math.nan
            lo, hi = (np.percentile(values, [2.5, 97.5]) if values.size
                      else (math.nan, math.nan))
            row[f"{metric}_lo"], row[f"{metric}_hi"] = float(lo), float(hi)
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """The comparison as aligned text: mean [2.5 %, 97.5 %] per metric."""

    def cell(row: pd.Series, metric: str) -> str:
        m, lo, hi = row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"]
        if metric in ("deliveries", "peak_backlog"):
            return f"{m / 1e6:6.1f}M [{lo / 1e6:.1f}, {hi / 1e6:.1f}]"
        if metric == "service_restored_h":
            flag = "+" if row["not_restored"] else ""
            return f"{m:5.1f}{flag} [{lo:.1f}, {hi:.1f}]"
        return f"{m:6.1f} [{lo:.0f}, {hi:.0f}]"

    heads = ["policy", "messages/user", "senders", "deliveries", "peak backlog",
             "normal service (h)"]
    lines = [table.apply(lambda r: [r["policy"], *(cell(r, m) for m in METRICS)], axis=1)
             .tolist()]
    body = lines[0]
    widths = [max(len(str(x)) for x in col) for col in zip(heads, *body, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*heads), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*row) for row in body]
    return "\n".join(out)


def write_outputs(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write the table as CSV and Parquet (atomically)."""
    paths = {"csv": out_dir / "comparison.csv", "parquet": out_dir / "comparison.parquet"}
    atomic_write(paths["csv"], lambda tmp: table.to_csv(tmp, index=False))
    write_parquet(table, paths["parquet"])
    return paths


@dataclass
class Comparison:
    """What :func:`compare_policies` ran and found: the parameters, the table, the files."""

    params: StormParams  # the scenario with every override, before any policy's own
    table: pd.DataFrame  # one row per policy (:func:`policy_table`)
    sweep: Any  # the SweepResult of the runs
    paths: dict[str, Path]


def compare_policies(scenario: str, base_changes: dict[str, Any], policies: list[Policy],
                     replicates: int, root_seed: int, out_dir: Path, *,
                     scheduler: str | None = None, workers: int | None = None,
                     progress: bool = True, log: Any = None) -> Comparison | None:
    """Run ``scenario`` (with ``base_changes``) under each policy; write the table and figure.

    Returns None if interrupted (completed runs are kept in ``out_dir``; the same call
    resumes). Writes ``comparison.csv``, ``comparison.parquet``, ``comparison.png`` beside
    the sweep's tables.
    """
    from replyall_storm.model.scenarios import get_scenario

    from ..figures.comparison import plot_comparison
    from ..sweeps.sweep import run_sweep

    base = get_scenario(scenario).params(**base_changes)
    spec = compare_spec(scenario, base_changes, policies, replicates, root_seed)
    result = run_sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                       progress=progress, log=log)
    if result.interrupted:
        return None
    table = policy_table(result.runs, policies, base.horizon_min)
    paths = write_outputs(table, out_dir)
    paths["png"] = plot_comparison(table, out_dir / "comparison.png")
    return Comparison(base, table, result, paths)
