"""The order of events in a minute (model/minute_loop.py), pinned through the fast engine."""

from __future__ import annotations

import numpy as np
import pytest

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


class Scripted:
    """A Scheduler whose users send the reply-alls of a script: {minute: (remove, complain)}."""

    def __init__(self, n_users: int, script: dict[int, tuple[list[int], list[int]]]):
        self.n_users, self.script = n_users, script
        self.reached: list[int] = []
        self.unable: dict[int, np.ndarray] = {}

    def check_mail(self, minute, unable):
        from replyall_storm.model.minute_loop import MinuteChecks

        self.unable[minute] = unable.copy()
        remove, complain = self.script.get(minute, ([], []))
        both = np.array(remove + complain, dtype=np.int64)
        return MinuteChecks(np.array(remove, dtype=np.int64), np.array(complain, dtype=np.int64),
                            both, checks=len(both), failed=0)

    def reveal_senders(self, users):
        pass

    def note_reached(self, users):
        self.reached.extend(int(u) for u in users)

    def state_counts(self):
        return np.array([self.n_users, 0, 0, 0])

    def read_total(self):
        return 0


def scripted_loop(organisation, script, **changes):
    from replyall_storm.model.minute_loop import MinuteLoop

    params = get_scenario("small").params(**{**STORMY, **changes})
    world = build_engine("fast", params, seed=1, org=organisation(2_000), cache=False).loop.world
    loop, users = MinuteLoop(world, np.random.default_rng(7)), Scripted(params.n_users, script)
    for _ in script:
        loop.step(users)
    return loop, users


def test_each_reply_all_reaches_the_list_with_its_own_kind_in_random_order(organisation):
    from replyall_storm.model.states import Action

    remove, complain = list(range(10, 30)), list(range(100, 120))
    loop, users = scripted_loop(organisation, {0: (remove, complain)})
    tr = loop.transport
    kinds = dict(zip(tr.senders[1:], tr.kinds[1:], strict=True))
    assert sorted(kinds) == remove + complain
    assert {kinds[u] for u in remove} == {Action.REMOVE_ME}
    assert {kinds[u] for u in complain} == {Action.COMPLAIN}
    assert tr.senders[1:21] != remove  # shuffled, not all "remove me" first
    assert sorted(users.reached) == remove + complain


def test_only_the_reply_alls_the_list_accepted_count_as_reaching_it(organisation):
    """Storm protection blocks the thread after 5 reply-alls: in the same minute some new
    senders get through and others bounce; later, the list is disabled."""
    script = {0: (list(range(10, 20)), [20, 21]), 1: ([30], []), 2: ([40], [])}
    loop, users = scripted_loop(organisation, script, cutoff_min=2.0, storm_protection=True,
                                sp_min_recipients=1_000, sp_threshold=5)
    tr = loop.transport
    assert 0 < len(users.reached) < 12 and sorted(users.reached) == sorted(tr.senders[1:])
    assert tr.refused["storm_protection"] >= 1 and tr.refused["list_disabled"] == 1


def test_the_recorded_unable_share_is_the_members_mean_of_the_databases(organisation):
    script = {m: ([10 + m], []) for m in range(25)}  # 2,000 deliveries a minute
    loop, users = scripted_loop(organisation, script, n_databases=4, capacity_spread=1.5,
                                capacity_per_min=2_000.0, degrade_backlog=20_000.0)
    series = loop.recorder.frame()
    uneven = 0
    for minute, unable in users.unable.items():
        assert series["unable_fraction"].iloc[minute] == pytest.approx(
            loop.transport.members_mean(unable))
        uneven += unable.max() > loop.transport.members_mean(unable) + 1e-9
    assert uneven, "no minute with unequal databases: the test would prove nothing"
