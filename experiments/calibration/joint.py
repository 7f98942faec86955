"""One model for every storm: a common prior sample simulated on each storm, per mechanism.

Every storm of ``experiments/data/storms.toml`` is run from the same *shared* person-level
parameters (the hazards of the decision rule, muting and annoyance, the effect of a visible
audience, and the parameter of one perception mechanism, :data:`MECHANISMS`) and from
*nuisance* parameters of its own, drawn within the storm's reported or assumed ranges: its
start clock and its cut-off (from the data file), its transport's delivery speed per member
(and, for NHSmail, its spread between databases). A :class:`JointPrior` is one Latin
hypercube over all of them; each of its points is simulated on every storm with the sweep
machinery (local or Dask, resumable: one sweep per storm under ``OUT/<mechanism>/<storm>``),
each run showing what the storm's observations observe (``outputs.observe``), with users
simulated only while their reply-alls can reach the list. Every mechanism reuses the same
points, seeds and nuisance values (its own parameter aside): the comparison between
mechanisms is made on common random numbers. :mod:`.joint_analysis` turns the table of
distances into posteriors, leave-one-storm-out predictions and model choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from .. import seeds
from ..sweeps.sweep import run_sweep
from .observations import distance, misses, storm_observations
from .storms import Storm, load_storms

MECHANISMS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "none": {},
    "bystander": {"bystander_exponent": (0.0, 1.0, False)},
    "relevance": {"relevance_boost": (1.0, 1000.0, True)},
    "attention": {"attention_span": (1.0, 1000.0, True)},
}
"""Each candidate mechanism's parameter and its prior (low, high, log-uniform?); "none" is
today's rule."""

SHARED: dict[str, tuple[float, float, bool]] = {
    "remove_rate": (3e-6, 3e-3, True),
    "complain_rate": (3e-6, 3e-3, True),
    "mute_rate": (1e-3, 1e-1, True),
    "annoyance_half": (3.0, 300.0, True),
    "visible_audience_factor": (0.01, 1.0, True),
}
"""Person-level parameters every storm shares, with their priors."""

OWN_UNITS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "relevance": {"remove_rate": (3e-6, 0.3, True), "complain_rate": (3e-6, 0.3, True),
                  "mute_rate": (1e-3, 1.0, True)},
}
"""Priors of shared parameters that a mechanism measures in units of its own. Under relevance
the hazards are per message from one's own team (:func:`replyall_storm.model.decision.
relevance_weights`), which is a far stronger prompt than one message among a list's
thousands: the prior reaches two decades higher. The sample keeps one unit-cube coordinate
per parameter (the Latin hypercube is the same for every mechanism, common random numbers);
only its mapping to natural units differs (:func:`shared_values`)."""

SPEED = (0.03, 30.0)
"""Prior of each storm's delivery speed (messages per member per minute, log-uniform): the
transport's capacity is this times the list size."""
TAIL_MIN = 4320
"""Minutes every joint run lasts (72 h): queues clear within the run. Users are simulated only
to the cut-off, so the transport's long tail costs little."""
SPREAD = (0.0, 1.5)
"""Prior of NHSmail's spread of delivery speed between its mailbox databases (log-sd)."""


@dataclass(frozen=True)
class Axis:
    """One dimension of the joint prior: a parameter of all storms or of one."""

    name: str
    lo: float
    hi: float
    log: bool
    storm: str | None = None  # None: shared by every storm

    def value(self, u: np.ndarray) -> np.ndarray:
        """Unit-cube coordinates -> natural units."""
        if self.log:
            return 10.0 ** (math.log10(self.lo) + u * (math.log10(self.hi) - math.log10(self.lo)))
        return self.lo + u * (self.hi - self.lo)

    def unit(self, x: np.ndarray) -> np.ndarray:
        """Natural units -> unit-cube coordinates (the inverse of :meth:`value`)."""
        x = np.asarray(x, dtype=np.float64)
        if self.log:
            return ((np.log10(x) - math.log10(self.lo))
                    / (math.log10(self.hi) - math.log10(self.lo)))
        return (x - self.lo) / (self.hi - self.lo)


def shared_values(sample: pd.DataFrame, mechanism: str) -> pd.DataFrame:
    """The sample's shared parameters in ``mechanism``'s units (:data:`OWN_UNITS`).

    The sample holds them under the common prior :data:`SHARED`; a mechanism that measures a
    parameter in units of its own maps the same unit-cube coordinate onto its own prior.
    """
    out = sample[list(SHARED)].astype(np.float64).copy()
    for name, spec in OWN_UNITS.get(mechanism, {}).items():
        u = Axis(name, *SHARED[name]).unit(out[name].to_numpy())
        out[name] = Axis(name, *spec).value(np.clip(u, 0.0, 1.0))
    return out


def nuisance_axes(storm: Storm) -> list[Axis]:
    """The parameters of ``storm`` alone: start, cut-off, delivery speed (and spread)."""
    start, cut = storm.start_clock_h, storm.end.cutoff_min
    axes = [Axis("speed", *SPEED, True, storm.id)]
    if start[1] > start[0]:
        axes.append(Axis("start_clock_h", start[0], start[1], False, storm.id))
    if cut[1] > cut[0]:
        axes.append(Axis("cutoff_min", cut[0], cut[1], False, storm.id))
    if storm.id == "nhs2016":
        axes.append(Axis("capacity_spread", *SPREAD, False, storm.id))
    return axes


@dataclass(frozen=True)
class JointPrior:
    """The joint prior: shared axes, every mechanism's axis, every storm's nuisance axes."""

    axes: tuple[Axis, ...]
    storms: tuple[Storm, ...]

    @classmethod
    def build(cls, storm_ids: tuple[str, ...] | None = None) -> JointPrior:
        """The prior over every storm of the data file (or those named)."""
        data = load_storms()
        storms = tuple(s for s in data.storms if storm_ids is None or s.id in storm_ids)
        axes = [Axis(n, *spec) for n, spec in SHARED.items()]
        for params in MECHANISMS.values():
            axes += [Axis(n, *spec) for n, spec in params.items()]
        for storm in storms:
            axes += nuisance_axes(storm)
        return cls(tuple(axes), storms)

    def sample(self, n: int, root_seed: int) -> pd.DataFrame:
        """``n`` points of a Latin hypercube over every axis (columns ``storm:name``)."""
        lhs = qmc.LatinHypercube(len(self.axes), rng=np.random.default_rng(
            seeds.design_sequence(root_seed)))
        u = lhs.random(n)
        return pd.DataFrame({column(a): a.value(u[:, i]) for i, a in enumerate(self.axes)})

    def points(self, sample: pd.DataFrame, storm: Storm, mechanism: str) -> list[dict[str, Any]]:
        """Each sample point as parameter values for ``storm`` under ``mechanism``."""
        own = MECHANISMS[mechanism]
        shared = shared_values(sample, mechanism)
        out = []
        for i, row in sample.iterrows():
            point = {n: float(shared.at[i, n]) for n in SHARED}
            point.update({n: float(row[n]) for n in own})
            for a in self.axes:
                if a.storm == storm.id:
                    set_nuisance(point, storm, a.name, float(row[column(a)]))
            out.append(point)
        return out


def column(a: Axis) -> str:
    """A sample's column for axis ``a``: its name, or ``storm:name`` for a storm's own."""
    return a.name if a.storm is None else f"{a.storm}:{a.name}"


def set_nuisance(point: dict[str, Any], storm: Storm, name: str, value: float) -> None:
    """Put ``storm``'s nuisance parameter ``name`` into ``point`` as a model parameter.

    The delivery speed (messages per member per minute) becomes the transport's capacity,
    speed times the list size; every other nuisance is a model parameter of that name.
    """
    if name == "speed":
        point["capacity_per_min"] = value * storm.list_size
    else:
        point[name] = value


def storm_spec(storm: Storm, points: list[dict[str, Any]], mechanism: str, index: int,
               root_seed: int) -> dict[str, Any]:
    """The sweep spec that runs every point on one storm (a ``points`` design)."""
    names = list(points[0])
    return {
        "name": f"joint-{mechanism}-{storm.id}",
        "description": f"joint calibration: the common prior sample on {storm.id}, "
                       f"mechanism {mechanism}",
        "scenario": storm.id, "engine": "fast", "replicates": 1, "common_org": True,
        "root_seed": seeds.joint_root_seed(root_seed, index),  # the same for every mechanism
        "fixed": {"horizon_min": TAIL_MIN},
        "design": {"kind": "points",
                   "parameters": {k: {"values": [p[k] for p in points]} for k in names}},
        "outputs": {"series": False, "observe": storm.id, "users_after_cutoff": False},
    }


def unaffected(mechanism: str, storm: Storm) -> bool:
    """Whether ``mechanism`` leaves every run on ``storm`` exactly as today's rule does.

    Diffusion of responsibility acts through the audience a reader perceives; where the list
    hides it, the perceived audience is ``hidden_audience_size`` and the factor is exactly 1.
    """
    return mechanism == "bystander" and storm.audience == "hidden"


def simulate_joint(prior: JointPrior, sample: pd.DataFrame, mechanism: str, out_dir: Path, *,
                   root_seed: int, workers: int | None = None, scheduler: str | None = None,
                   progress: bool = True, log: Callable[[str], None] = lambda _m: None,
                   today: pd.DataFrame | None = None) -> pd.DataFrame:
    """Run the sample on every storm under ``mechanism``; one row per sample point.

    Columns: ``sample``, then per storm ``<storm>:distance`` (its observations' RMS miss,
    :func:`.observations.distance` over its targets), ``<storm>:M`` (reply-alls accepted) and
    ``<storm>:<label>`` (each target's miss). ``today`` is the table of mechanism ``"none"``
    on the same sample: a storm the mechanism leaves unchanged (:func:`unaffected`) takes its
    columns from it instead of being simulated again (the runs would be identical, bit for
    bit: same points, seeds and hazards).
    """
    table = pd.DataFrame({"sample": np.arange(len(sample))})
    for index, storm in enumerate(load_storms().storms):
        if storm not in prior.storms:
            continue
        if today is not None and unaffected(mechanism, storm):
            for column in today.columns:
                if column.startswith(f"{storm.id}:"):
                    table[column] = today[column].to_numpy()
            log(f"  {storm.id}: unchanged by {mechanism} (hidden audience): today's runs")
            continue
        points = prior.points(sample, storm, mechanism)
        spec = storm_spec(storm, points, mechanism, index, root_seed)
        res = run_sweep(spec, Path(out_dir) / mechanism / storm.id, workers=workers,
                        scheduler=scheduler, progress=progress, log=log)
        if res.interrupted:
            raise KeyboardInterrupt
        runs = res.runs.sort_values("point").reset_index(drop=True)
        targets = storm_observations(storm.id, target=True)
        ok = runs["status"] == "ok"
        d = np.where(ok, distance(runs, targets), np.inf)
        table[f"{storm.id}:distance"] = d
        table[f"{storm.id}:M"] = runs["reply_alls_accepted"].where(ok).to_numpy(float)
        for label, miss in misses(runs, targets).items():
            table[f"{storm.id}:{label}"] = miss.where(ok).to_numpy(float)
    return table
