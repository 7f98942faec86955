"""The 2016 NHSmail storm as data: what was observed, with its tag, range and uncertainty.

Every number comes from the 2016 reports and keeps its tag: ``R``
reported by an official source or the outlet's own reporting, ``C`` anecdotal, ``D`` derived
from reported numbers. Each observation is a *range* of reported values on one summary of a
run (``model/observables.summarise``), not a measurement with a known error: a run reproduces
an observation when its summary lies inside ``[lo, hi]``. Outside, the miss is measured in
log units and divided by the observation's uncertainty ``sigma`` (natural-log units, from the
tag: firm reported numbers are tighter than anecdotes), so a distance of 1 means "one
uncertainty outside the reported range".

``TARGETS`` are the observations calibration uses; the others (``CONTEXT``) are kept for plots
and for checking, because they repeat what a target says (reply-alls accepted is messages per
user minus one once the backlog has cleared) or are single inboxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

SIGMA = {"R": 0.10, "D": 0.15, "C": 0.30}  # log-scale uncertainty by source tag
START_CLOCK_H = 8 + 29 / 60  # the traffic window opened at 08:29 [R]


def _minutes(clock_h: float) -> float:
    """Minutes after 08:29 on 14 Nov 2016 of a clock time on the same day (hours)."""
    return (clock_h - START_CLOCK_H) * 60.0


@dataclass(frozen=True)
class Observation:
    """One observed quantity of the 2016 storm, as a range on one run summary key.

    Attributes:
        key: run summary key it constrains (``model/observables.summarise``).
        lo, hi: reported range (summary units; ``hi`` may be inf for a lower bound).
        value: headline value quoted (for plots; inside ``[lo, hi]``).
        tag: source tag, R / C / D (``sigma`` follows from it unless given).
        unit: unit of the summary.
        source: where the numbers come from.
        sigma: uncertainty outside the range (natural-log units).
        minute: for plots, the minute after the first send the value refers to (or NaN).
    """

    key: str
    lo: float
    hi: float
    value: float
    tag: str
    unit: str
    source: str
    sigma: float = math.nan
    minute: float = math.nan

    @property
    def scale(self) -> float:
        """Uncertainty used by the distance (``sigma`` or the tag's default)."""
        return self.sigma if math.isfinite(self.sigma) else SIGMA[self.tag[0]]

    def miss(self, x: float | np.ndarray) -> np.ndarray:
        """Distance of summary values ``x`` outside ``[lo, hi]`` in units of ``scale``.

        0 inside the range; NaN (e.g. a backlog never cleared) counts as ``cap``.
        """
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            below = np.log(self.lo / np.maximum(x, 1e-12)) if self.lo > 0 else np.zeros_like(x)
            above = np.log(np.maximum(x, 1e-12) / self.hi)
        z = np.maximum(np.maximum(below, above), 0.0) / self.scale
        return np.where(np.isfinite(x), z, np.inf)


TARGETS: tuple[Observation, ...] = (
    Observation("messages_per_user", 151.0, 221.0, 151.0, "C/D", "messages",
                "'approx 151 emails' each (statistician's tweet, Guardian) [C]; "
                "186 M / 840,000 = 221 [D]", sigma=0.25),
    Observation("senders", 70.0, 220.0, 80.0, "R/C", "users",
                "'70 or 80 people had replied' by 11:30, 'around 80' (anonymous sources) [R]; "
                "80-220 reply-alls [D]", sigma=0.25),
    Observation("last_accepted_minute", 45.0, 91.0, 60.0, "R", "minutes",
                "list removed 'less than an hour after the original' (NHS Digital), disabled "
                "at about 10:00 = 91 min after 08:29 [R]"),
    Observation("max_delay_min", 180.0, 1440.0, 180.0, "R", "minutes",
                "work email 'delayed by at least three hours' [R]; normal service within "
                "24 hours [R]", minute=_minutes(12.0)),
    Observation("backlog_cleared_minute", 180.0, _minutes(24 + 16.5), _minutes(24 + 16.5),
                "R", "minutes", "queues 'cleared down to residual volumes' 15 Nov 16:30 [R]"),
)

CONTEXT: tuple[Observation, ...] = (
    Observation("reply_alls_accepted", 120.0, math.inf, 120.0, "C", "messages",
                "'at least 120 replies' in one employee's inbox [C]"),
    Observation("received_by_noon", 123.0, 123.0, 123.0, "C", "messages",
                "123 deleted by about 12:00 (one inbox) [C]", minute=_minutes(12.0)),
    Observation("received_by_1430", 411.0, 411.0, 411.0, "C", "messages",
                "411 by 14:30 (one inbox) [C]", minute=_minutes(14.5)),
)


def observation_table(obs: tuple[Observation, ...] = TARGETS + CONTEXT) -> pd.DataFrame:
    """Return the observations as a table (one row each; whether calibration targets it)."""
    keys = {o.key for o in TARGETS}
    return pd.DataFrame([{**o.__dict__, "scale": o.scale, "target": o.key in keys}
                         for o in obs])


def misses(summaries: pd.DataFrame, targets: tuple[Observation, ...] = TARGETS,
           cap: float = 10.0) -> pd.DataFrame:
    """Per-target misses (``Observation.miss``, capped at ``cap``) of each row of summaries."""
    out = {}
    for o in targets:
        x = summaries[o.key] if o.key in summaries else pd.Series(np.nan, summaries.index)
        out[o.key] = np.minimum(o.miss(x.to_numpy(dtype=float)), cap)
    return pd.DataFrame(out, index=summaries.index)


def distance(summaries: pd.DataFrame, targets: tuple[Observation, ...] = TARGETS,
             cap: float = 10.0) -> np.ndarray:
    """ABC distance of each row: root mean square of the capped misses (0 = all inside)."""
    m = misses(summaries, targets, cap).to_numpy()
    return np.sqrt(np.mean(m ** 2, axis=1))


def synthetic_targets(summary: dict[str, float], keys: tuple[str, ...],
                      rel: float = 0.25, sigma: float = 0.1) -> tuple[Observation, ...]:
    """Observations made from a known run (ranges ``value * [1/(1+rel), 1+rel]``), for tests."""
    return tuple(Observation(k, summary[k] / (1 + rel), summary[k] * (1 + rel), summary[k],
                             "D", "", "synthetic", sigma=sigma) for k in keys)


def get(key: str) -> Observation:
    """The 2016 observation of ``key`` (a target or a context one)."""
    for o in TARGETS + CONTEXT:
        if o.key == key:
            return o
    raise KeyError(f"no 2016 observation of {key!r}")
