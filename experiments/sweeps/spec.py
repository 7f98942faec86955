"""Sweep specifications: a TOML file naming a scenario, a design over parameters and seeds.

A spec is a :class:`Spec` (pydantic models, unknown keys refused), read and checked against
the model by :mod:`.validate` (every parameter a :class:`StormParams` field, every value
within that field's range; one-line :class:`SpecError` naming the key path otherwise). A
checked spec derives its design points (:meth:`Spec.points`) and one typed
:class:`~.tasks.RunTask` per run (:meth:`Spec.tasks`), which is all a worker receives.

Seeds (:mod:`..seeds`): run (point p, replicate r) uses ``SeedSequence(root_seed,
spawn_key=(p, r))``, or ``(0, r)`` with ``common_seeds`` (the same random streams at every
point). The design's own randomness and the shared organisation of ``common_org`` have spawn
keys of their own, which design points never reach.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.scenarios import get_scenario

from .. import seeds
from .tasks import RunTask

RANGED = ("lhs", "sobol", "saltelli", "morris")
FIELDS = {f.name: f for f in dataclasses.fields(StormParams)}
Value = bool | int | float | str


class SpecError(ParameterError):
    """A bad spec: one line naming the key path (``text`` overrides the name=value form)."""

    def __init__(self, name: str, value: object, allowed: str, text: str | None = None) -> None:
        super().__init__(name, value, allowed)
        if text is not None:
            self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ParamAxis(_Model):
    """How one parameter varies: listed ``values`` or a ``low``-``high`` range."""

    values: list[Value] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False


class Design(_Model):
    """The design points: a grid, listed points, or a sample of ``n`` over ranges."""

    kind: Literal["grid", "points", "lhs", "sobol", "saltelli", "morris"]
    n: int | None = Field(None, ge=1)
    levels: int = Field(4, ge=2)  # Morris grid levels
    second_order: bool = True  # Saltelli: sample for second-order indices too
    parameters: dict[str, ParamAxis]


class Outputs(_Model):
    """What each run keeps besides its summary row, and what it computes.

    ``observe`` names a storm of ``experiments/data/storms.toml``: each run's summary gains what
    it shows of that storm's observations. ``users_after_cutoff = false`` stops simulating
    users once their reply-alls can no longer reach the list (nor an observation need them);
    the transport runs on to the horizon (see ``RunTask``).
    """

    series: bool = True
    series_every_min: int = Field(1, ge=1)
    observe: str | None = None
    users_after_cutoff: bool = True


class Spec(_Model):
    """A whole sweep: scenario, engine, seeds, fixed overrides, design, outputs."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    scenario: str
    engine: Literal["fast", "mesa"] = "fast"
    root_seed: int  # checked by seeds.check_seed
    replicates: int = Field(1, ge=1)
    common_org: bool = False
    common_seeds: bool = False
    fixed: dict[str, Value] = Field(default_factory=dict)
    design: Design
    outputs: Outputs = Field(default_factory=Outputs)

    # --- derived -----------------------------------------------------------------------
    @property
    def varied(self) -> list[str]:
        """Names of the parameters the design varies, in spec order."""
        return list(self.design.parameters)

    def base_params(self) -> StormParams:
        """Return the scenario with the ``fixed`` overrides (what every point starts from)."""
        return get_scenario(self.scenario).params(**self.fixed)

    def org_seed(self) -> int | None:
        """Seed of the organisation shared by all runs (``common_org``), else None."""
        return seeds.org_seed(self.root_seed) if self.common_org else None

    def salib_problem(self) -> dict[str, Any]:
        """Return the SALib problem of a ranged design (log10 bounds for ``log`` axes)."""
        axes = self.design.parameters
        bounds = [[_fwd(a.low, a.log), _fwd(a.high, a.log)] for a in axes.values()]
        return {"num_vars": len(axes), "names": list(axes), "bounds": bounds,
                "log10": [a.log for a in axes.values()]}

    def points(self) -> list[dict[str, Value]]:
        """Return the design points: a dict of varied values each, in natural units."""
        d = self.design
        axes = d.parameters
        if d.kind == "grid":
            combos = itertools.product(*(a.values or [] for a in axes.values()))
            return [dict(zip(axes, c, strict=True)) for c in combos]
        if d.kind == "points":
            return [dict(zip(axes, c, strict=True))
                    for c in zip(*(a.values or [] for a in axes.values()), strict=True)]
        out = []
        for row in self.sample():
            point: dict[str, Value] = {}
            for (name, axis), v in zip(axes.items(), row, strict=True):
                v = 10.0 ** float(v) if axis.log else float(v)
                point[name] = int(round(v)) if FIELDS[name].type == "int" else v
            out.append(point)
        return out

    def sample(self) -> np.ndarray:
        """Sample matrix (points x parameters) in sampling space (log10 where ``log``).

        Morris analysis needs exactly these trajectories; the others use :meth:`points`.
        """
        d = self.design
        problem = {k: v for k, v in self.salib_problem().items() if k != "log10"}
        assert d.n is not None
        if d.kind == "saltelli":
            from SALib.sample import sobol as salib_sobol
            return salib_sobol.sample(problem, d.n, calc_second_order=d.second_order,
                                      seed=seeds.salib_seed(self.root_seed))
        if d.kind == "morris":
            from SALib.sample import morris as salib_morris
            return salib_morris.sample(problem, d.n, num_levels=d.levels,
                                       seed=seeds.salib_seed(self.root_seed))
        from scipy.stats import qmc
        rng = np.random.default_rng(seeds.design_sequence(self.root_seed))
        k = len(problem["names"])
        sampler = qmc.LatinHypercube(k, rng=rng) if d.kind == "lhs" else qmc.Sobol(k, rng=rng)
        unit = sampler.random(d.n)
        lo, hi = np.array(problem["bounds"]).T
        return lo + unit * (hi - lo)

    @property
    def n_points(self) -> int:
        """How many design points :meth:`points` makes, computed without making them."""
        d = self.design
        sizes = [len(a.values or []) for a in d.parameters.values()]
        k = len(sizes)
        if d.kind == "grid":
            return math.prod(sizes)
        if d.kind == "points":
            return sizes[0] if sizes else 0
        n = d.n or 0
        if d.kind == "saltelli":
            return n * (2 * k + 2 if d.second_order else k + 2)
        if d.kind == "morris":
            return n * (k + 1)
        return n  # lhs, sobol

    def tasks(self, points: list[dict[str, Value]]) -> list[RunTask]:
        """One task per run: run_id = point * replicates + replicate, in that order."""
        return list(self.iter_tasks(points))

    def iter_tasks(self, points: list[dict[str, Value]]) -> Iterator[RunTask]:
        """The tasks of :meth:`tasks`, made one at a time (a sweep holds only those in flight)."""
        org_seed = self.org_seed()
        return (RunTask(run_id=p * self.replicates + r, point=p, replicate=r,
                        scenario=self.scenario, changes={**self.fixed, **point},
                        entropy=self.root_seed,
                        spawn_key=seeds.run_spawn_key(p, r, self.common_seeds),
                        engine=self.engine, series=self.outputs.series,
                        series_every_min=self.outputs.series_every_min,
                        org_seed=org_seed,
                        cache=self.common_org,  # a graph used once: keep it out of the cache
                        observe=self.outputs.observe,
                        users_after_cutoff=self.outputs.users_after_cutoff)
                for p, point in enumerate(points) for r in range(self.replicates))

    def resolved(self) -> dict[str, Any]:
        """Return the spec with every default filled in (the manifest records and hashes it)."""
        return self.model_dump(mode="python")


def digest(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (floats exactly, inf and NaN included)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(blob.encode()).hexdigest()


def _fwd(x: float | None, log: bool) -> float:
    assert x is not None
    return math.log10(x) if log else float(x)
