"""The order of events in a minute (model/minute_loop.py), pinned through the fast engine."""

from __future__ import annotations

import numpy as np

from replyall_storm.model.engines.base import run_to_horizon
from replyall_storm.model.run import build_engine
from replyall_storm.model.scenarios import get_scenario

STORMY = dict(n_users=2_000, horizon_min=200, remove_rate=2e-3, complain_rate=2e-3,
              capacity_per_min=300.0, degrade_backlog=3_000.0, cutoff_min=90.0)


def test_checks_fail_with_the_share_of_their_own_database(organisation):
    params = get_scenario("small").params(**STORMY, n_databases=4, capacity_spread=1.5)
    engine = build_engine("fast", params, seed=2, org=organisation(2_000), cache=False)
    loop = engine.loop
    world = loop.world
    members = world.members
    np.testing.assert_array_equal(loop.database[members],
                                  loop.transport.database_of(world.position[members]))
    unable = np.array([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(loop.failure_chance(members, unable),
                                  unable[loop.transport.database_of(world.position[members])])
    assert float(loop.failure_chance(members[:1], np.array([0.25]))) == 0.25


def test_a_purging_cutoff_empties_the_queue_before_the_minutes_checks(run_storm):
    params = get_scenario("small").params(**STORMY, purge_at_cutoff=True)
    s = run_storm(params, seed=5).series
    cut = int(params.cutoff_min)
    assert s["unable_fraction"].iloc[cut - 1] > 0 and s["failed_checks"].iloc[cut - 1] > 0
    assert s["unable_fraction"].iloc[cut] == 0 and s["failed_checks"].iloc[cut] == 0
    assert s["backlog"].iloc[cut] == 0


def test_checks_see_only_what_was_delivered_by_the_previous_minute(run_storm):
    """The original is delivered at the end of minute 0: minute 0's checks read nothing."""
    params = get_scenario("small").params(horizon_min=30)
    s = run_storm(params, seed=1).series
    assert s["checks"].iloc[0] > 0 and s["read_per_user"].iloc[0] == 0.0
    assert s["unaware"].iloc[0] == params.n_users and s["received_per_user"].iloc[0] == 1.0
    assert s["unaware"].iloc[1] < params.n_users


def test_from_users_until_only_the_transport_runs(organisation):
    params = get_scenario("small").params(**{**STORMY, "cutoff_min": 40.0})
    full = run_to_horizon(build_engine("fast", params, seed=3, org=organisation(2_000),
                                       cache=False))
    tail = run_to_horizon(build_engine("fast", params, seed=3, org=organisation(2_000),
                                       cache=False, users_until=60))
    a, b = full.series, tail.series
    assert (b["checks"].iloc[60:] == 0).all() and (a["checks"].iloc[:60] > 0).all()
    for column in ("checks", "accepted", "sent_remove", "read_per_user"):
        np.testing.assert_array_equal(a[column].iloc[:60], b[column].iloc[:60])
    # the list is off from minute 40, so what the transport does is the full run's
    for column in ("delivered", "backlog", "received_per_user", "delay_min"):
        np.testing.assert_array_equal(a[column], b[column])
