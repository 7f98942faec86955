"""Run one storm: build (or load) the organisation, set up the world, run an engine.

This is the single entry point the CLI, the experiments and the notebooks use::

    from replyall_storm.model.run import simulate
    result = simulate(get_scenario("small").params(), seed=1)
    result.summary["messages_per_user"], result.series.head()

Random streams: a run's seed (an int or a ``numpy.random.SeedSequence``) spawns two child
sequences, one for the organisation graph and one for everything the simulation draws, so the
same seed gives the same run bit for bit, and the graph can be held fixed across runs
(``org_seed``) for common random numbers.
"""

from __future__ import annotations

import time

import numpy as np

from .engines import ENGINES, check_size
from .engines.base import Engine, RunResult
from .errors import ParameterError
from .graph_cache import cached_organisation
from .org import Organisation, OrgSpec
from .org_generator import build_organisation
from .parameters import StormParams
from .world import set_up


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


def make_engine(name: str, setup, rng: np.random.Generator) -> Engine:
    """The engine called ``name`` over ``setup``."""
    if name == "fast":
        from .engines.fast import FastEngine

        return FastEngine(setup, rng)
    if name == "mesa":
        from .engines.mesa_engine import MesaEngine

        return MesaEngine(setup, rng)
    raise ParameterError("engine", name, f"must be one of {', '.join(ENGINES)}")


def organisation(
    params: StormParams, org_seed: int, spec: OrgSpec | None = None, cache: bool = True
) -> tuple[Organisation, bool]:
    """The organisation for a run, from the on-disk cache when ``cache`` (and whether it was)."""
    spec = spec or OrgSpec()
    if cache:
        return cached_organisation(params.n_users, spec, org_seed)
    return build_organisation(params.n_users, spec, np.random.default_rng(org_seed)), False


def simulate(
    params: StormParams | None = None,
    *,
    seed: int | np.random.SeedSequence = 0,
    engine: str = "fast",
    org_seed: int | None = None,
    org_spec: OrgSpec | None = None,
    org: Organisation | None = None,
    cache: bool = True,
    progress: bool = False,
    snapshot_minutes: tuple[int, ...] = (),
) -> RunResult:
    """Simulate one storm.

    Args:
        params: scenario parameters (default: the NHS 2016 defaults); validated first.
        seed: root of every random draw of the run.
        engine: ``"fast"`` (NumPy, any size) or ``"mesa"`` (one Mesa agent per user).
        org_seed: seed of the organisation graph (default: derived from ``seed``).
        org_spec: organisation shape (default ``OrgSpec()``).
        org: an organisation already built (skips building; must have ``params.n_users``).
        cache: keep organisations on disk between runs (``REPLYALL_CACHE``).
        progress: show a progress bar.
        snapshot_minutes: minutes at whose end every user's state is kept.

    The summary gains ``engine``, ``seed`` (entropy of the root sequence), ``graph_s`` and
    ``sim_s`` (wall seconds) and ``graph_cached``.
    """
    params = (params or StormParams()).validate()
    if engine not in ENGINES:
        raise ParameterError("engine", engine, f"must be one of {', '.join(ENGINES)}")
    if engine == "mesa":
        check_size(params.n_users, params.horizon_min)
    derived_org_seed, sim_seq = streams(seed)
    t0 = time.perf_counter()
    cached = False
    if org is None:
        org, cached = organisation(
            params, derived_org_seed if org_seed is None else org_seed, org_spec, cache
        )
    t1 = time.perf_counter()
    rng = np.random.default_rng(sim_seq)
    setup = set_up(params, org, rng)
    result = make_engine(engine, setup, rng).run(
        progress=progress, snapshot_minutes=snapshot_minutes
    )
    t2 = time.perf_counter()
    result.summary.update(
        engine=engine,
        seed=str(sim_seq.entropy),
        graph_s=t1 - t0,
        sim_s=t2 - t1,
        graph_cached=cached,
    )
    return result
