"""The 2016 NHSmail storm as calibration targets: what was observed, as ranges with uncertainty.

The numbers are the project's data (``experiments/data/storms.toml``, read by :mod:`.storms`
with their sources and tags: ``R`` reported, ``C`` anecdotal, ``D`` derived, ``A`` assumed).
Each observation is a *range* of reported values on one summary of a run
(``model/observables.summarise``), not a measurement with a known error: a run reproduces an
observation when its summary lies inside ``[lo, hi]``. Outside, the miss is measured in log
units and divided by the observation's uncertainty ``sigma`` (natural-log units; from the data
file, else from the tag: firm reported numbers are tighter than anecdotes), so a distance of 1
means "one uncertainty outside the reported range".

``TARGETS`` are the observations calibration uses (``target = true`` in the data file); the
others (``CONTEXT``) are kept for plots and for checking, because they repeat what a target
says (reply-alls accepted is messages per user minus one once the backlog has cleared), are
single inboxes, or bound quantities the summary does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .storms import Storm, StormObservation, load_storms

SIGMA = {"R": 0.10, "D": 0.15, "C": 0.30, "A": 0.50}  # log-scale uncertainty by source tag
STORM = "nhs2016"
"""The storm the calibration fits."""


@dataclass(frozen=True)
class Observation:
    """One observed quantity of a storm, as a range on one run summary key.

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


def from_storm(o: StormObservation, storm: Storm) -> Observation:
    """The calibration's view of one observation of ``storm`` (minutes from its first send)."""
    data = load_storms()
    return Observation(o.quantity, o.lo, o.hi, o.value, o.tag, o.unit,
                       f"{o.provenance.note} ({data.cite(o.provenance)})",
                       sigma=o.sigma if o.sigma is not None else math.nan,
                       minute=(storm.minutes_after_start(o.clock_h) if o.clock_h is not None
                               else math.nan))


def storm_observations(storm_id: str = STORM, *, target: bool) -> tuple[Observation, ...]:
    """The observations of ``storm_id`` that are (``target=True``) or are not targets."""
    storm = load_storms().storm(storm_id)
    return tuple(from_storm(o, storm) for o in storm.observations if o.target is target)


TARGETS: tuple[Observation, ...] = storm_observations(target=True)
"""What the 2016 calibration fits (``target = true`` for nhs2016 in the data file)."""

CONTEXT: tuple[Observation, ...] = storm_observations(target=False)
"""The other 2016 observations: for plots and checks."""


def minutes_after_start(clock_h: float, storm_id: str = STORM) -> float:
    """Minutes after the first send (08:29 in 2016) of a clock time (hours; > 24: next day)."""
    return load_storms().storm(storm_id).minutes_after_start(clock_h)


def get(key: str) -> Observation:
    """The 2016 observation of ``key`` (a target or a context one)."""
    for o in TARGETS + CONTEXT:
        if o.key == key:
            return o
    raise KeyError(f"no 2016 observation of {key!r}")


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
