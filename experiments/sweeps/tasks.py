"""One run of a sweep: the typed task a worker receives, and what running it returns.

A :class:`RunTask` is built by :meth:`.spec.Spec.tasks` from a checked spec and carries
everything a run needs and nothing else (picklable plain data, sent to local processes or Dask
workers). Its parameter values were checked one by one at the spec's edge
(:mod:`.validate`); :func:`run_task` builds the run's :class:`StormParams` from them and
:func:`~replyall_storm.model.run.simulate` validates them as a whole, once, in the worker. A
point that breaks a constraint between two parameters (working hours that end before they
start) therefore fails as a run, recorded with its error, and the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from replyall_storm.model.parameters import StormParams
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import get_scenario

from .. import seeds
from ..io import plain

TIMING = ("graph_s", "sim_s", "graph_cached")
NOT_RESULTS = {"engine", "seed", *TIMING}  # summary keys that are not results of the model
FLOWS = ("sent_remove", "sent_complain", "accepted", "bounced", "delivered", "checks",
         "failed_checks", "transport_events")  # per-minute counts: summed when thinned


@dataclass(frozen=True)
class RunTask:
    """One run: which point and replicate, its parameters, its seed, what it keeps.

    Attributes:
        run_id: ``point * replicates + replicate``.
        point, replicate: where the run sits in the design.
        scenario: scenario name; ``changes`` are applied to it (the spec's ``[fixed]`` values
            and the point's).
        entropy, spawn_key: the run's seed is ``SeedSequence(entropy, spawn_key=spawn_key)``.
        engine: ``"fast"`` or ``"mesa"``.
        series, series_every_min: keep the per-minute series, thinned to one row per
            ``series_every_min`` minutes.
        org_seed: seed of an organisation shared by every run (None: from the run's seed).
        cache: keep the organisation in the on-disk cache.
        observe: a storm id of ``experiments/data/storms.toml``: the run's summary gains what
            it shows of each of that storm's observations (:mod:`..calibration.observe`).
        users_after_cutoff: simulate users to the horizon (True), or only while their
            reply-alls can reach the list or an observation of ``observe`` needs them
            (False: the transport alone runs on, several times faster; the summary's
            user-side totals then stop there and say so in ``users_simulated_until``).
    """

    run_id: int
    point: int
    replicate: int
    scenario: str
    changes: Mapping[str, Any]
    entropy: int
    spawn_key: tuple[int, ...]
    engine: str = "fast"
    series: bool = True
    series_every_min: int = 1
    org_seed: int | None = None
    cache: bool = True
    observe: str | None = None
    users_after_cutoff: bool = True

    def params(self) -> StormParams:
        """The run's parameters (not validated here: :func:`simulate` does that, once)."""
        base = get_scenario(self.scenario)
        return dataclasses.replace(StormParams(), **{**base.overrides, **self.changes})

    def seed(self) -> np.random.SeedSequence:
        """The run's seed sequence."""
        return seeds.run_sequence(self.entropy, self.spawn_key)


@functools.lru_cache(maxsize=1)
def result_keys() -> tuple[str, ...]:
    """The summary keys every run reports (its columns in ``runs.parquet``), in order.

    Those of a tiny run (100 users, 2 minutes): which keys a summary has does not depend on
    the parameters, so options naming results can be checked before any run.
    """
    tiny = dataclasses.replace(StormParams(), n_users=100, horizon_min=2)
    summary = simulate(tiny, seed=0, cache=False).summary
    return tuple(k for k in summary if k not in NOT_RESULTS)


def run_task(task: RunTask) -> dict[str, Any]:
    """Simulate one storm and return plain data: ``summary``, ``timing``, ``series``.

    Raises whatever the run raises (a :class:`ParameterError` for parameters that break a
    constraint); the executor records it as the run's error.
    """
    params = task.params()
    until = None
    if not task.users_after_cutoff:
        from ..calibration.observe import users_until

        until = users_until(task.observe, params) if task.observe else (
            math.ceil(params.cutoff_min) if math.isfinite(params.cutoff_min) else None)
    result = simulate(params, seed=task.seed(), engine=task.engine, org_seed=task.org_seed,
                      cache=task.cache, users_until=until)
    s = result.summary
    if task.observe:
        from ..calibration.observe import observed_values

        s.update(observed_values(result, task.observe))
    series = thin(result.series, task.series_every_min) if task.series else None
    return {"summary": {k: plain(v, finite=False) for k, v in s.items()
                        if k not in NOT_RESULTS},
            "timing": {k: plain(s[k], finite=False) for k in TIMING if k in s},
            "series": series}


def thin(series: pd.DataFrame, every: int) -> pd.DataFrame:
    """Keep one row per ``every`` minutes: flows summed over the window, the rest at its end.

    Row ``minute = m`` then holds the levels (backlog, states, delays) at minute ``m`` and
    the counts (sent, accepted, delivered, checks) of the minutes since the previous row.
    The last simulated minute is always kept.
    """
    if every <= 1:
        return series
    n = len(series)
    starts = np.arange(0, n, every)
    ends = np.minimum(starts + every, n) - 1
    out = series.iloc[ends].reset_index(drop=True)
    for col in (c for c in FLOWS if c in series):
        out[col] = np.add.reduceat(series[col].to_numpy(), starts)
    return out
