"""The transport-only tail of a run in bulk (model/drain.py) is the stepped tail, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from replyall_storm.model.drain import can_drain, drain
from replyall_storm.model.engines.base import run_to_horizon
from replyall_storm.model.run import build_engine, simulate
from replyall_storm.model.scenarios import get_scenario

STORMY = dict(n_users=2_000, horizon_min=600, remove_rate=5e-3, complain_rate=5e-3,
              capacity_per_min=300.0, degrade_backlog=3_000.0, cutoff_min=60.0)

CASES = {
    "one database": dict(n_databases=1),
    "many databases, spread": dict(n_databases=7, capacity_spread=1.2),
    "purge at the cut-off": dict(n_databases=3, purge_at_cutoff=True),
    "low-priority queue": dict(n_databases=4, low_priority_queue=True),
    # under one delivery a minute on each database: the carried fraction decides
    "slow databases": dict(n_databases=300, capacity_per_min=200.0, capacity_spread=0.8),
    "queues clear early": dict(n_databases=5, capacity_per_min=50_000.0),
}


def _pair(organisation, extra: dict, users_until: int, seed: int = 4,
          snapshot_minutes: tuple[int, ...] = ()):
    params = get_scenario("small").params(**{**STORMY, **extra})
    runs, engines = [], []
    for bulk in (True, False):
        engine = build_engine("fast", params, seed=seed, org=organisation(2_000), cache=False,
                              users_until=users_until)
        runs.append(run_to_horizon(engine, bulk_drain=bulk, snapshot_minutes=snapshot_minutes))
        engines.append(engine)
    return runs, engines, params


def _same_summary(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), key
        else:
            assert x == y and type(x) is type(y), key


@pytest.mark.parametrize("case", list(CASES))
def test_the_tail_in_bulk_is_the_stepped_tail_bit_for_bit(organisation, case):
    (bulk, stepped), (eb, es), params = _pair(organisation, CASES[case], users_until=70,
                                              snapshot_minutes=(50, 80, 599, 900))
    assert bulk.series["accepted"].sum() > 5  # a storm, so the tail has work to do
    pd.testing.assert_frame_equal(bulk.series, stepped.series, check_exact=True)
    _same_summary(bulk.summary, stepped.summary)
    np.testing.assert_array_equal(bulk.transport.streams, stepped.transport.streams)
    assert len(bulk.transport.purges) == len(stepped.transport.purges)
    np.testing.assert_array_equal(bulk.final_state, stepped.final_state)
    np.testing.assert_array_equal(bulk.read, stepped.read)
    assert bulk.snapshots.keys() == stepped.snapshots.keys() == {50, 80, 599}
    for m in bulk.snapshots:
        np.testing.assert_array_equal(bulk.snapshots[m], stepped.snapshots[m])
    # nothing drawn in the tail: the generators end where the stepped run's end
    assert eb.loop.rng.bit_generator.state == es.loop.rng.bit_generator.state
    # what each inbox held, minute by minute, follows from the streams: the same
    minutes = [0, 65, 200, 599]
    for m in minutes:
        np.testing.assert_array_equal(bulk.transport.quantiles(m, (0.1, 0.5, 0.9)),
                                      stepped.transport.quantiles(m, (0.1, 0.5, 0.9)))


def test_the_drain_waits_for_the_cut_off_when_users_stop_first(organisation):
    """Users stop at 30 while the list is on until 60: minutes 30-59 are stepped."""
    (bulk, stepped), _, params = _pair(organisation, {"n_databases": 3}, users_until=30)
    pd.testing.assert_frame_equal(bulk.series, stepped.series, check_exact=True)
    s = bulk.series
    assert (s["checks"].iloc[30:] == 0).all() and s["list_active"].iloc[59]
    assert not s["list_active"].iloc[60:].any()


def test_a_drained_run_still_conserves_every_delivery(organisation):
    (bulk, _), (engine, _), _ = _pair(organisation, CASES["purge at the cut-off"], 70)
    tr = engine.loop.transport
    np.testing.assert_array_equal(tr.accepted * tr.sizes,
                                  tr.streams + tr.backlogs())
    s = bulk.series
    total = s["delivered"].sum() + s["backlog"].iloc[-1] + bulk.summary["purged"]
    assert total == tr.accepted * tr.list_size
    assert bulk.summary["messages_per_user"] == s["received_per_user"].iloc[-1]


def test_only_the_transport_alone_is_drained(organisation):
    params = get_scenario("small").params(**STORMY)
    engine = build_engine("fast", params, seed=1, org=organisation(2_000), cache=False,
                          users_until=70)
    for _ in range(65):  # users stopped? no: minute 65 < 70
        engine.step()
    assert not can_drain(engine.loop)
    with pytest.raises(RuntimeError, match="drain"):
        drain(engine.loop, engine)
    for _ in range(5):
        engine.step()
    assert can_drain(engine.loop)
    assert drain(engine.loop, engine) == params.horizon_min - 70
    assert engine.loop.finished and not can_drain(engine.loop)


def test_without_users_until_every_minute_is_stepped(organisation):
    """A full run (users read to the horizon) never drains: its users are still deciding."""
    params = get_scenario("small").params(**{**STORMY, "horizon_min": 200})
    engine = build_engine("fast", params, seed=1, org=organisation(2_000), cache=False)
    while not engine.loop.finished:
        engine.step()
        assert not can_drain(engine.loop)


def test_the_mesa_model_steps_every_minute_for_its_datacollector(organisation):
    params = get_scenario("small").params(**{**STORMY, "n_users": 300, "horizon_min": 150})
    fast = simulate(params, seed=2, engine="fast", users_until=70)
    mesa_run = build_engine("mesa", params, seed=2, users_until=70)
    try:
        result = run_to_horizon(mesa_run)
        frame = mesa_run.datacollector.get_model_vars_dataframe()
    finally:
        mesa_run.release()
    assert len(frame) == params.horizon_min
    assert len(result.series) == len(fast.series) == params.horizon_min
