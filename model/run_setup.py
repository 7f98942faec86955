"""The one place that sets up a run: random streams, the organisation, the initial world.

Every caller (``simulate``, the Mesa :class:`~.engines.mesa_engine.StormModel`, the benchmark,
the notebooks and the app) starts a run with :func:`prepare_run`::

    run = prepare_run(get_scenario("small").params(), seed=1)
    run.org, run.world.members, run.rng

Random streams: a run's seed (an int or a ``numpy.random.SeedSequence``) spawns two child
sequences (:func:`streams`), one for the organisation graph and one for everything the
simulation draws, so the same seed gives the same run bit for bit, and the graph can be held
fixed across runs (``org_seed`` or ``org``) for common random numbers. The simulation's
generator first draws the shared initial world (:func:`~.world.set_up`); the engine then goes
on drawing from the same generator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError
from .graph_cache import cached_organisation
from .org import Organisation, OrgSpec
from .org_generator import build_organisation
from .parameters import StormParams
from .world import StormSetup, set_up


def streams(seed: int | np.random.SeedSequence) -> tuple[int, np.random.SeedSequence]:
    """(organisation seed, simulation seed sequence) derived from a run's seed."""
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    else:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ParameterError("seed", seed, "must be a non-negative integer")
        root = np.random.SeedSequence(int(seed))
    org = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 0))
    sim = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1))
    return int(org.generate_state(1, np.uint64)[0]), sim


def organisation(
    params: StormParams, org_seed: int, spec: OrgSpec | None = None, cache: bool = True
) -> tuple[Organisation, bool]:
    """The organisation for a run, from the on-disk cache when ``cache`` (and whether it was)."""
    spec = spec or OrgSpec()
    if cache:
        return cached_organisation(params.n_users, spec, org_seed)
    return build_organisation(params.n_users, spec, np.random.default_rng(org_seed)), False


@dataclass(frozen=True)
class RunSetup:
    """Everything a run starts from, handed to an engine.

    Attributes:
        params: the validated scenario.
        org: the organisation (its graph and hierarchy).
        world: the shared initial world drawn from ``rng`` (list, expansion order, habits).
        rng: the simulation's generator, already past the world's draws; the engine goes on
            drawing from it.
        sim_seed: the simulation's ``SeedSequence`` (its entropy reproduces the run).
        org_seed: the seed the organisation was built from (derived or given).
        graph_s: wall seconds spent building or loading the organisation.
        graph_cached: whether the organisation came from the on-disk cache.
    """

    params: StormParams
    org: Organisation
    world: StormSetup
    rng: np.random.Generator
    sim_seed: np.random.SeedSequence
    org_seed: int | None
    graph_s: float
    graph_cached: bool

    @property
    def seed_entropy(self) -> str:
        """Entropy of the run's root seed sequence, as stored with results."""
        return str(self.sim_seed.entropy)


def prepare_run(
    params: StormParams,
    seed: int | np.random.SeedSequence = 0,
    *,
    org: Organisation | None = None,
    org_seed: int | None = None,
    org_spec: OrgSpec | None = None,
    cache: bool = True,
) -> RunSetup:
    """Validate ``params``, derive the random streams, get the organisation, draw the world.

    Args:
        params: scenario parameters; validated here.
        seed: root of every random draw of the run.
        org: an organisation already built (must have ``params.n_users`` users); skips building.
        org_seed: seed of the organisation graph (default: derived from ``seed``).
        org_spec: organisation shape (default ``OrgSpec()``).
        cache: keep organisations on disk between runs (``REPLYALL_CACHE``).
    """
    params = params.validate()
    derived_org_seed, sim_seed = streams(seed)
    t0 = time.perf_counter()
    cached = False
    used_org_seed: int | None = None
    if org is None:
        used_org_seed = derived_org_seed if org_seed is None else org_seed
        org, cached = organisation(params, used_org_seed, org_spec, cache)
    graph_s = time.perf_counter() - t0
    rng = np.random.default_rng(sim_seed)
    world = set_up(params, org, rng)
    return RunSetup(
        params=params,
        org=org,
        world=world,
        rng=rng,
        sim_seed=sim_seed,
        org_seed=used_org_seed,
        graph_s=graph_s,
        graph_cached=cached,
    )
