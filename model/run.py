"""Run one storm: set the run up, build the engine, step it to the horizon.

This is the single entry point the CLI, the experiments and the notebooks use::

    from replyall_storm.model.run import simulate
    result = simulate(get_scenario("small").params(), seed=1)
    result.summary["messages_per_user"], result.series.head()

The set-up (random streams, organisation, initial world) is :func:`~.run_setup.prepare_run`;
the same seed gives the same run bit for bit with either engine's own draws.
"""

from __future__ import annotations

import time

import numpy as np

from .engines import ENGINES, check_size
from .engines.base import Engine, RunResult, run_to_horizon
from .errors import ParameterError
from .org import Organisation, OrgSpec
from .parameters import StormParams
from .run_setup import prepare_run

__all__ = ["build_engine", "simulate"]


def build_engine(
    engine: str,
    params: StormParams,
    seed: int | np.random.SeedSequence = 0,
    *,
    org: Organisation | None = None,
    org_seed: int | None = None,
    org_spec: OrgSpec | None = None,
    cache: bool = True,
    users_until: int | None = None,
) -> Engine:
    """The engine called ``engine``, set up for one run (arguments as :func:`simulate`'s).

    ``"fast"`` is a :class:`~.engines.fast.FastEngine`; ``"mesa"`` is the Mesa
    :class:`~.engines.mesa_engine.StormModel`. Either is stepped one minute at a time with
    ``step()``; its ``run_setup`` is the set-up it started from.
    """
    if engine not in ENGINES:
        raise ParameterError("engine", engine, f"must be one of {', '.join(ENGINES)}")
    params = params.validate()
    if engine == "mesa":
        check_size(params.n_users, params.horizon_min)  # before building anything
        from .engines.mesa_engine import StormModel

        return StormModel.from_params(
            params, seed=seed, org=org, org_seed=org_seed, org_spec=org_spec, cache=cache,
            users_until=users_until,
        )
    from .engines.fast import FastEngine

    run = prepare_run(params, seed, org=org, org_seed=org_seed, org_spec=org_spec, cache=cache)
    return FastEngine(run, users_until=users_until)


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
    users_until: int | None = None,
    bulk_drain: bool = True,
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
        users_until: stop simulating users' checks from this minute on; the transport runs
            to the horizon (see :class:`~.minute_loop.MinuteLoop`). For calibrations whose
            observations depend only on what the transport does once the list is disabled.
        bulk_drain: run the minutes after ``users_until`` in bulk once the list is disabled
            (``model/drain.py``; the same results bit for bit, faster: ``replyall bench``);
            False steps every minute.

    The summary gains ``engine``, ``seed`` (entropy of the root sequence), ``graph_s`` and
    ``sim_s`` (wall seconds) and ``graph_cached``.
    """
    params = (params or StormParams()).validate()
    t0 = time.perf_counter()
    eng = build_engine(
        engine, params, seed, org=org, org_seed=org_seed, org_spec=org_spec, cache=cache,
        users_until=users_until,
    )
    try:
        result = run_to_horizon(
            eng, progress=progress, snapshot_minutes=snapshot_minutes, desc=f"{engine} engine",
            bulk_drain=bulk_drain,
        )
    finally:
        if engine == "mesa":
            eng.release()
    run = eng.run_setup
    result.summary.update(
        engine=engine,
        seed=run.seed_entropy,
        graph_s=run.graph_s,
        sim_s=time.perf_counter() - t0 - run.graph_s,
        graph_cached=run.graph_cached,
    )
    if users_until is not None:
        result.summary["users_simulated_until"] = int(users_until)
    return result
