"""Predictions for any list: the posterior-predictive storm of the model fitted to every storm.

``replyall storms`` compares perception mechanisms across every storm of the project's data
and chooses one (relevance); ``replyall storms-abc relevance`` fits that one set of
person-level parameters to every storm by sequential ABC, and its posterior ships with the
package (``experiments/data/posterior.parquet``: its ``accepted.parquet``, parameter sets with
weights; any file of that layout, from either command, can be passed instead).
:func:`predict` draws ``replicates`` sets from it (by weight, seeded), and simulates each on a
directory-wide list of ``list_size`` members whose list is disabled ``duration_min`` minutes
after the first send:

* the person-level parameters and the mechanism's are the posterior's;
* the transport is the new list's own and unknown: its delivery speed per member is drawn
  from what the fitted storms' transports did (the pooled posterior of their speeds), one
  FIFO queue, degrading at NHSmail's backlog per member (24 messages); ``--set
  capacity_per_min=...`` gives a known capacity instead;
* users are simulated while their reply-alls can reach the list; the transport then runs on
  until the backlog clears (up to ``tail_days``).

It reports, over the replicates, the reply-alls that reached the list, the messages each
member eventually received, and the hours until normal service (no failed checks and ordinary
mail delayed by at most 15 minutes; a run whose service is not back within the simulated time
counts as that time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.org import MAX_USERS, MIN_USERS
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.run import simulate

from .. import seeds

QUANTILES = {"median": 0.5, "p05": 0.05, "p25": 0.25, "p75": 0.75, "p95": 0.95}
OUTPUTS = ("reply_alls_accepted", "messages_per_user", "hours_until_normal_service")
DEGRADE_PER_MEMBER = 24.0  # NHSmail's degrade_backlog (20 M) over its 840,000 members
POSTERIOR = "posterior.parquet"


def default_posterior() -> Path:
    """The posterior that ships with the package (``replyall storms-abc relevance``)."""
    return Path(str(resources.files("replyall_storm.experiments") / "data" / POSTERIOR))


@dataclass(frozen=True)
class Prediction:
    """What :func:`predict` found: quantiles per output, and the runs behind them."""

    quantiles: dict[str, dict[str, float]]
    runs: pd.DataFrame
    mechanism: str
    posterior: Path

    def as_json(self) -> dict[str, dict[str, float]]:
        """The object ``replyall predict --json`` prints."""
        return self.quantiles


def load_posterior(path: Path | None = None) -> pd.DataFrame:
    """The posterior's accepted sets (one-line error naming the file if unusable)."""
    path = Path(path) if path is not None else default_posterior()
    try:
        post = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise ParameterError("--posterior", str(path), f"is not a readable posterior "
                             f"(`replyall storms-abc` writes one: its accepted.parquet; "
                             f"{type(err).__name__})") from None
    needed = {"mechanism", "weight"}
    if not needed <= set(post.columns) or not len(post):
        raise ParameterError("--posterior", str(path), "has no accepted sets with "
                             "mechanism and weight columns (write one with `replyall storms`)")
    return post


def check_inputs(list_size: int, duration_min: float, start_clock_h: float,
                 replicates: int) -> None:
    """One-line errors for what :func:`predict` cannot take."""
    if isinstance(list_size, bool) or not isinstance(list_size, int | np.integer) or not (
            MIN_USERS <= list_size <= MAX_USERS):
        raise ParameterError("--list-size", list_size,
                             f"must be a whole number from {MIN_USERS} to {MAX_USERS:,} (members)")
    if not (math.isfinite(duration_min) and 0 <= duration_min <= 7 * 1440):
        raise ParameterError("--duration", duration_min,
                             "must be from 0 to 10,080 minutes (the list disabled after it)")
    if not (math.isfinite(start_clock_h) and 0 <= start_clock_h < 24):
        raise ParameterError("--start", start_clock_h, "must be a clock time HH:MM")
    if not 1 <= replicates <= 10_000:
        raise ParameterError("--replicates", replicates, "must be from 1 to 10,000")


def predict(list_size: int, duration_min: float, *, start_clock_h: float = 9.0,
            audience: str = "hidden", replicates: int = 40, seed: int = 0,
            posterior: Path | None = None, changes: dict[str, Any] | None = None,
            tail_days: float = 3.0) -> Prediction:
    """The posterior-predictive storm on a list of ``list_size`` members (module docstring).

    Args:
        list_size: members of the directory-wide list (users).
        duration_min: minutes after the first send at which the list is disabled.
        start_clock_h: clock time of the first send (hours).
        audience: ``"hidden"`` or ``"visible"``: whether members see how many it reaches.
        replicates: posterior draws, one run each.
        seed: root seed (the draws and every run's random streams).
        posterior: the posterior file (default: the packaged one).
        changes: parameter overrides for every run (a policy, a known capacity...).
        tail_days: days the transport may run on after the cut-off to clear its queue.
    """
    seeds.check_seed(seed)
    check_inputs(list_size, duration_min, start_clock_h, replicates)
    if audience not in ("hidden", "visible"):
        raise ParameterError("--audience", audience, "must be hidden or visible")
    path = Path(posterior) if posterior is not None else default_posterior()
    post = load_posterior(path)
    fields = set(StormParams.__dataclass_fields__)
    rng = seeds.predict_rng(seed)
    w = post["weight"].to_numpy(float)
    rows = rng.choice(len(post), size=replicates, replace=True, p=w / w.sum())
    speeds = post[[c for c in post.columns if c.endswith(":speed")]].to_numpy(float).ravel()
    speed_draws = rng.choice(speeds, size=replicates) if speeds.size else np.ones(replicates)
    horizon = int(min(math.ceil(duration_min) + tail_days * 1440, 14 * 1440))
    base = StormParams().replace(
        n_users=int(list_size), list_level="directory", start_clock_h=float(start_clock_h),
        cutoff_min=float(duration_min), horizon_min=max(horizon, 1),
        audience_visible=audience == "visible", n_databases=1, capacity_spread=0.0,
        degrade_backlog=DEGRADE_PER_MEMBER * list_size)
    out = []
    for i, (row, speed) in enumerate(zip(rows, speed_draws, strict=True)):
        drawn = {k: _plain(v) for k, v in post.iloc[int(row)].items() if k in fields}
        params = base.replace(**{"capacity_per_min": float(speed) * list_size, **drawn,
                                 **(changes or {})})
        until = math.ceil(params.cutoff_min) if math.isfinite(params.cutoff_min) else None
        result = simulate(params, seed=seeds.run_sequence(seed, (i, 0)), cache=True,
                          users_until=until)
        s = result.summary
        restored = s["service_restored_minute"]
        out.append({"draw": int(row), "capacity_per_min": params.capacity_per_min,
                    "reply_alls_accepted": s["reply_alls_accepted"],
                    "messages_per_user": s["messages_per_user_eventual"],
                    "hours_until_normal_service": (params.horizon_min if math.isnan(restored)
                                                   else restored) / 60.0,
                    "service_restored": not math.isnan(restored)})
    runs = pd.DataFrame(out)
    quantiles = {k: {q: float(np.quantile(runs[k].to_numpy(float), level))
                     for q, level in QUANTILES.items()} for k in OUTPUTS}
    return Prediction(quantiles, runs, str(post["mechanism"].iloc[0]), path)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
