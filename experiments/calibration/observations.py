"""A storm's reports as calibration targets: ranges, where and when they were made.

The numbers are the project's data (``experiments/data/storms.toml``, read by :mod:`.storms`
with their sources and tags: ``R`` reported, ``C`` anecdotal, ``D`` derived, ``A`` assumed).
Each observation is a *range* of reported values ``[lo, hi]`` of one quantity, some at a clock
time or within a clock window. A run shows each quantity as a range of its own
(:mod:`.observe`): a summary value is a point; one inbox is the central 90 % of the per-member
counts at that minute (a report of one inbox is one draw from that distribution, not the
mean); a clock window is the values the run takes within it. The run reproduces the
observation when the two ranges overlap. Otherwise the miss is the gap between them in log
units, divided by the observation's uncertainty ``sigma`` (natural-log units; from the data
file, else from the tag: firm reported numbers are tighter than anecdotes), so a distance of
1 means "one uncertainty outside the reported range".

``TARGETS`` are the observations the 2016 calibration fits (``target = true`` in the data
file); the others (``CONTEXT``) are kept for plots and for checking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .storms import Storm, StormObservation, load_storms

SIGMA = {"R": 0.10, "D": 0.15, "C": 0.30, "A": 0.50}  # log-scale uncertainty by source tag
STORM = "nhs2016"
"""The storm the 2016 calibration fits."""
LO, HI, MID = "obs_lo:", "obs_hi:", "obs_mid:"
"""Prefixes of the summary columns in which a run shows an observed quantity (:mod:`.observe`):
the low and high ends of its range and, for one inbox, the members' median."""


@dataclass(frozen=True)
class Observation:
    """One observed quantity of a storm, as a range, and where a run shows it.

    Attributes:
        key: the observation's label, unique in its storm: the quantity, ``quantity@HH:MM``
            or ``quantity@HH:MM-HH:MM`` (:attr:`.storms.StormObservation.label`).
        quantity: what was observed (:data:`.storms.QUANTITIES`); ``kind`` says how a run
            shows it.
        lo, hi: reported range (``hi`` may be inf for a lower bound).
        value: headline value quoted (for plots; inside ``[lo, hi]``).
        tag: source tag, R / C / D / A (``sigma`` follows from it unless given).
        unit: unit of the quantity.
        source: what was reported, and by whom.
        sigma: uncertainty outside the range (natural-log units).
        minute: minutes after the storm's first send of the clock time (the window's middle);
            NaN without a clock.
        window: the clock window in minutes after the first send, or None.
    """

    key: str
    quantity: str
    kind: str
    lo: float
    hi: float
    value: float
    tag: str
    unit: str
    source: str
    sigma: float = math.nan
    minute: float = math.nan
    window: tuple[float, float] | None = None

    @property
    def scale(self) -> float:
        """Uncertainty used by the distance (``sigma`` or the tag's default)."""
        return self.sigma if math.isfinite(self.sigma) else SIGMA[self.tag[0]]

    @property
    def columns(self) -> tuple[str, str]:
        """The run summary columns holding the low and high ends of the run's range."""
        if self.kind == "summary":
            return self.key, self.key
        return LO + self.key, HI + self.key

    def miss(self, low: float | np.ndarray, high: float | np.ndarray | None = None
             ) -> np.ndarray:
        """Gap between the run's range ``[low, high]`` and ``[lo, hi]``, in units of ``scale``.

        0 when they overlap; NaN (a backlog never cleared, a clock past the run) is ``inf``.
        """
        low = np.asarray(low, dtype=float)
        high = low if high is None else np.asarray(high, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            below = (np.log(self.lo / np.maximum(high, 1e-12)) if self.lo > 0
                     else np.zeros_like(high))
            above = np.log(np.maximum(low, 1e-12) / self.hi)
        z = np.maximum(np.maximum(below, above), 0.0) / self.scale
        return np.where(np.isfinite(low) & np.isfinite(high), z, np.inf)


def from_storm(o: StormObservation, storm: Storm) -> Observation:
    """The calibration's view of one observation of ``storm`` (minutes from its first send)."""
    data = load_storms()
    window = None
    if o.clock_h is not None:
        window = (storm.minutes_after_start(o.clock_h[0]), storm.minutes_after_start(o.clock_h[1]))
    return Observation(o.label, o.quantity, o.kind, o.lo, o.hi, o.value, o.tag, o.unit,
                       f"{o.provenance.note} ({data.cite(o.provenance)})",
                       sigma=o.sigma if o.sigma is not None else math.nan,
                       minute=math.nan if window is None else 0.5 * (window[0] + window[1]),
                       window=window)


def storm_observations(storm_id: str = STORM, *, target: bool | None = None
                       ) -> tuple[Observation, ...]:
    """The observations of ``storm_id``: its targets (``True``), the others, or all (None)."""
    storm = load_storms().storm(storm_id)
    return tuple(from_storm(o, storm) for o in storm.observations
                 if (target is None or o.target is target) and o.kind != "context")


_LAZY = {"TARGETS": True, "CONTEXT": False}
"""``TARGETS``: what the 2016 calibration fits (``target = true`` for nhs2016 in the data
file); ``CONTEXT``: the other 2016 observations a run can show, for plots and checks. Both
are read from the data file on first use (importing this module reads nothing)."""


def __getattr__(name: str) -> tuple[Observation, ...]:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return storm_observations(target=_LAZY[name])


def minutes_after_start(clock_h: float, storm_id: str = STORM) -> float:
    """Minutes after the first send (08:29 in 2016) of a clock time (hours; > 24: next day)."""
    return load_storms().storm(storm_id).minutes_after_start(clock_h)


def get(key: str, storm_id: str = STORM) -> Observation:
    """The observation called ``key`` (label or quantity) of ``storm_id``, target or not."""
    found = [o for o in storm_observations(storm_id) if key in (o.key, o.quantity)]
    if not found:
        raise KeyError(f"no {storm_id} observation {key!r}")
    return found[0]


def observation_table(obs: tuple[Observation, ...] | None = None) -> pd.DataFrame:
    """Return the observations (default: the 2016 ones) as a table, with their targeting."""
    targets = storm_observations(target=True)
    obs = targets + storm_observations(target=False) if obs is None else obs
    keys = {o.key for o in targets}
    return pd.DataFrame([{**{k: v for k, v in o.__dict__.items() if k != "window"},
                          "window_lo": o.window[0] if o.window else math.nan,
                          "window_hi": o.window[1] if o.window else math.nan,
                          "scale": o.scale, "target": o.key in keys} for o in obs])


def misses(summaries: pd.DataFrame, targets: tuple[Observation, ...] | None = None,
           cap: float = 10.0) -> pd.DataFrame:
    """Per-target misses (``Observation.miss``, capped at ``cap``) of each summary row.

    ``targets`` defaults to the 2016 calibration's.
    """
    targets = storm_observations(target=True) if targets is None else targets
    out = {}
    nothing = pd.Series(np.nan, summaries.index)
    for o in targets:
        lo_col, hi_col = o.columns
        low = summaries[lo_col] if lo_col in summaries else nothing
        high = summaries[hi_col] if hi_col in summaries else nothing
        out[o.key] = np.minimum(o.miss(low.to_numpy(dtype=float), high.to_numpy(dtype=float)),
                                cap)
    return pd.DataFrame(out, index=summaries.index)


def distance(summaries: pd.DataFrame, targets: tuple[Observation, ...] | None = None,
             cap: float = 10.0) -> np.ndarray:
    """ABC distance of each row: root mean square of the capped misses (0 = all inside).

    ``targets`` defaults to the 2016 calibration's.
    """
    m = misses(summaries, targets, cap).to_numpy()
    return np.sqrt(np.mean(m ** 2, axis=1))


def synthetic_targets(summary: dict[str, float], keys: tuple[str, ...],
                      rel: float = 0.25, sigma: float = 0.1) -> tuple[Observation, ...]:
    """Observations made from a known run's summary (ranges ``value * [1/(1+rel), 1+rel]``)."""
    return tuple(Observation(k, k, "summary", summary[k] / (1 + rel), summary[k] * (1 + rel),
                             summary[k], "D", "", "synthetic", sigma=sigma) for k in keys)
