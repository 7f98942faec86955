"""The finite-capacity mail transport (model/transport.py): conservation, order, capacity."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from replyall_storm.model.parameters import StormParams
from replyall_storm.model.transport import Transport


def make(list_size=7, **changes):
    params = StormParams().replace(**{"capacity_per_min": 10.0, **changes})
    return Transport(list_size, params)


def check_invariants(tr, before, reference=None):
    """Conservation, per-member counts and their monotonicity; returns the new counts."""
    size = tr.list_size
    assert tr.accepted * size == tr.delivered + tr.backlog + tr.purged
    assert tr.backlog >= 0 and tr.delivered >= 0 and tr.purged >= 0
    got = np.asarray(tr.received(np.arange(size)))
    scalar = np.array([int(tr.received(r)) for r in range(size)])
    np.testing.assert_array_equal(got, scalar)
    assert int(got.sum()) == tr.delivered
    assert np.all(got >= 0) and np.all(got <= tr.accepted)
    assert np.all(got >= before)
    assert np.all(np.diff(got) <= 0)  # the list expands members in position order
    if tr.purged == 0:
        assert int(got.max()) - int(got.min()) <= 1
    if reference is not None:
        np.testing.assert_array_equal(got, reference)
    return got


class NaiveQueue:
    """Reference model: an explicit FIFO of (message, position) deliveries."""

    def __init__(self, size):
        self.size = size
        self.queue = deque()
        self.inbox = [set() for _ in range(size)]
        self.messages = 0

    def submit(self, n):
        for _ in range(n):
            self.queue.extend((self.messages, r) for r in range(self.size))
            self.messages += 1

    def deliver(self, made):
        for _ in range(made):
            m, r = self.queue.popleft()
            assert m not in self.inbox[r]  # each member receives each message once
            self.inbox[r].add(m)

    def purge(self):
        self.queue.clear()

    def counts(self):
        return np.array([len(box) for box in self.inbox])


@pytest.mark.parametrize("seed", range(12))
def test_random_operation_sequences_conserve_deliveries(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 40))
    capacity = float(rng.choice([0.5, 1.0, 3.0, 7.25, 50.0, 1000.0]))
    tr = make(size, capacity_per_min=capacity)
    ref = NaiveQueue(size)
    counts = check_invariants(tr, np.zeros(size, dtype=np.int64), ref.counts())
    minute = deliver_calls = made_total = 0
    sent_before_disable = 0
    for _ in range(300):
        op = rng.choice(["submit", "deliver", "purge", "tick", "disable"],
                        p=[0.3, 0.55, 0.05, 0.08, 0.02])
        if op == "submit":
            n = int(rng.integers(0, 6))
            accepted_before, bounced_before = tr.accepted, tr.bounced
            took = tr.submit(n, minute)
            if tr.list_active:
                assert took == n and tr.accepted == accepted_before + n
                sent_before_disable += n
                ref.submit(n)
            else:
                assert took == 0 and tr.accepted == accepted_before
                assert tr.bounced == bounced_before + n
        elif op == "deliver":
            backlog = tr.backlog
            made = tr.deliver()
            deliver_calls += 1
            made_total += made
            assert 0 <= made <= backlog and tr.backlog == backlog - made
            assert made <= math.ceil(capacity)
            assert made_total <= deliver_calls * capacity + 1e-9
            ref.deliver(made)
        elif op == "purge":
            backlog, purged = tr.backlog, tr.purged
            dropped = tr.purge()
            assert dropped == backlog and tr.backlog == 0 and tr.purged == purged + dropped
            ref.purge()
        elif op == "tick":
            minute += 1
        elif op == "disable" and tr.list_active:
            purge = bool(rng.random() < 0.5)
            tr.disable(minute, purge=purge)
            assert tr.cut_minute == minute
            if purge:
                ref.purge()
        counts = check_invariants(tr, counts, ref.counts())
    assert tr.accepted == sent_before_disable == ref.messages
    # draining delivers everything still queued
    while tr.backlog:
        ref.deliver(tr.deliver())
        counts = check_invariants(tr, counts, ref.counts())
    assert not ref.queue
    if tr.purged == 0:
        assert np.all(counts == tr.accepted)


def test_each_member_receives_each_message_exactly_once_in_list_order():
    size = 5
    tr = make(size, capacity_per_min=3.0)
    tr.submit(2, 0)
    history = []
    while tr.backlog:
        tr.deliver()
        history.append(np.asarray(tr.received(np.arange(size))))
    np.testing.assert_array_equal(history, [[1, 1, 1, 0, 0], [2, 1, 1, 1, 1],
                                            [2, 2, 2, 2, 1], [2, 2, 2, 2, 2]])
    assert tr.delivered == 2 * size


def test_integer_capacity_is_never_exceeded():
    tr = make(100, capacity_per_min=37.0)
    tr.submit(20, 0)  # 2,000 deliveries queued
    made = [tr.deliver() for _ in range(60)]
    assert max(made) == 37
    assert sum(made) == 2_000
    assert made[:54] == [37] * 54 and made[54] == 2_000 - 54 * 37


@pytest.mark.parametrize("capacity", [0.5, 0.25, 1.5, 2.75, 1 / 3])
def test_fractional_capacity_accumulates(capacity):
    tr = make(1, capacity_per_min=capacity)
    tr.submit(1_000, 0)
    made = np.array([tr.deliver() for _ in range(240)])
    cumulative = np.cumsum(made)
    minutes = np.arange(1, 241)
    # never ahead of capacity, and never more than one delivery behind it
    assert np.all(cumulative <= minutes * capacity + 1e-9)
    assert np.all(cumulative >= np.floor(minutes * capacity + 1e-9) - 1)
    assert np.all(made <= math.ceil(capacity))


def test_half_a_delivery_per_minute_delivers_one_every_two_minutes():
    tr = make(1, capacity_per_min=0.5)
    tr.submit(5, 0)
    assert [tr.deliver() for _ in range(10)] == [0, 1] * 5
    assert tr.backlog == 0


def test_idle_capacity_is_not_banked():
    tr = make(1, capacity_per_min=2.5)
    for _ in range(50):
        assert tr.deliver() == 0  # nothing queued
    tr.submit(100, 50)
    made = np.cumsum([tr.deliver() for _ in range(20)])
    # a quiet hour allows no burst: at most the fraction of one delivery carried over
    assert np.all(made <= 2.5 * np.arange(1, 21) + 1)


def test_disabled_list_bounces_and_counts():
    tr = make(4)
    assert tr.submit(3, 0) == 3
    tr.disable(5, purge=False)
    assert not tr.list_active and tr.cut_minute == 5
    assert tr.submit(2, 6) == 0
    assert tr.submit(4, 7) == 0
    assert tr.bounced == 6 and tr.accepted == 3
    assert tr.backlog == 12  # the queue is still delivered


def test_purge_drops_only_queued_deliveries():
    size = 4
    tr = make(size, capacity_per_min=6.0)
    tr.submit(3, 0)  # 12 deliveries
    tr.deliver()  # 6 made: message 0 to all, message 1 to positions 0 and 1
    before = np.asarray(tr.received(np.arange(size)))
    np.testing.assert_array_equal(before, [2, 2, 1, 1])
    assert tr.purge() == 6
    assert tr.purged == 6 and tr.backlog == 0 and tr.delivered == 6
    np.testing.assert_array_equal(tr.received(np.arange(size)), before)
    assert tr.purge() == 0  # nothing left to purge
    # later messages arrive on top of the survivors; the purged ones never do
    tr.submit(2, 10)
    tr.deliver()
    tr.deliver()
    np.testing.assert_array_equal(tr.received(np.arange(size)), before + 2)
    assert tr.delivered == 6 + 8 and tr.accepted * size == tr.delivered + tr.backlog + tr.purged
    assert tr.delay(12) == 0.0


def test_disable_with_purge_purges():
    tr = make(10, capacity_per_min=15.0)
    tr.submit(4, 0)
    tr.deliver()
    tr.disable(3, purge=True)
    assert tr.backlog == 0 and tr.purged == 25 and tr.delivered == 15


def test_delay_is_the_age_of_the_oldest_undelivered_message():
    size = 10
    tr = make(size, capacity_per_min=10.0)
    assert tr.delay(0) == 0.0
    tr.submit(1, 0)
    tr.submit(2, 3)
    tr.submit(1, 8)
    assert tr.delay(9) == 9.0  # message 0, sent at 0
    tr.deliver()  # message 0 complete
    assert tr.delay(9) == 6.0  # message 1, sent at 3
    tr.deliver()
    assert tr.delay(12) == 9.0  # message 2, sent at 3
    tr.capacity = 5.0
    tr.deliver()  # message 2 half delivered: still the oldest undelivered
    assert tr.delay(12) == 9.0
    tr.deliver()
    assert tr.delay(20) == 12.0  # message 3, sent at 8
    tr.deliver()
    tr.deliver()
    assert tr.backlog == 0 and tr.delay(30) == 0.0


@pytest.mark.parametrize("unable_max", [0.3, 1.0])
def test_unable_fraction_degrades_linearly_beyond_the_backlog_threshold(unable_max):
    size = 10
    tr = make(size, capacity_per_min=1.0, degrade_backlog=1_000.0, unable_max=unable_max)
    tr.submit(50, 0)  # backlog 500
    assert tr.unable_fraction() == 0.0
    tr.submit(50, 0)  # backlog 1,000: at the threshold
    assert tr.unable_fraction() == 0.0
    tr.submit(50, 0)  # 1,500: half way
    assert tr.unable_fraction() == pytest.approx(unable_max / 2)
    tr.submit(50, 0)  # 2,000: twice the threshold
    assert tr.unable_fraction() == pytest.approx(unable_max)
    tr.submit(500, 0)  # far beyond
    assert tr.unable_fraction() == pytest.approx(unable_max)
    tr.purge()
    assert tr.unable_fraction() == 0.0


# --- several mailbox databases -----------------------------------------------------------------

class NaiveDatabases:
    """Reference model: an explicit FIFO of (message, member) deliveries per database, each
    delivering at most its capacity per minute (fractions carried while the queue is busy)."""

    def __init__(self, sizes, capacities):
        self.queues = [NaiveQueue(int(s)) for s in sizes]
        self.capacities = list(capacities)
        self.carry = [0.0] * len(sizes)

    def submit(self, n):
        for q in self.queues:
            q.submit(n)

    def deliver(self):
        made = 0
        for i, q in enumerate(self.queues):
            budget = self.capacities[i] + self.carry[i]
            whole = math.floor(budget)
            k = min(whole, len(q.queue))
            self.carry[i] = budget - whole if k == whole else 0.0
            q.deliver(k)
            made += k
        return made

    def purge(self):
        for q in self.queues:
            q.purge()

    def counts(self):
        return np.concatenate([q.counts() for q in self.queues])


@pytest.mark.parametrize("seed", range(10))
def test_databases_conserve_deliveries_each_and_match_an_explicit_queue_per_database(seed):
    rng = np.random.default_rng(100 + seed)
    size = int(rng.integers(2, 60))
    k = int(rng.integers(2, 9))
    tr = make(size, capacity_per_min=float(rng.choice([3.0, 7.5, 40.0])), n_databases=k,
              capacity_spread=float(rng.choice([0.0, 0.5, 1.5])))
    assert tr.n_databases == min(k, size) and tr.sizes.sum() == size
    assert tr.capacity == pytest.approx(tr.params.capacity_per_min)
    ref = NaiveDatabases(tr.sizes, tr.capacities)
    minute, active = 0, True
    for _ in range(250):
        op = rng.choice(["submit", "deliver", "purge", "disable"], p=[0.3, 0.62, 0.04, 0.04])
        if op == "submit":
            n = int(rng.integers(0, 4))
            if tr.submit(n, minute) == n and active:
                ref.submit(n)
        elif op == "deliver":
            assert tr.deliver() == ref.deliver()
            minute += 1
        elif op == "purge":
            tr.purge()
            ref.purge()
        elif op == "disable" and active:
            tr.disable(minute, purge=False)
            active = False
        got = np.asarray(tr.received(np.arange(size)))
        np.testing.assert_array_equal(got, ref.counts())
        # conservation on every database and in total
        delivered_k = np.add.reduceat(got, tr.starts)
        np.testing.assert_array_equal(tr.accepted * tr.sizes,
                                      delivered_k + tr.backlogs() + tr.purged_k)
        assert tr.accepted * size == tr.delivered + tr.backlog + tr.purged
        assert int(got.sum()) == tr.delivered


def test_one_database_is_the_single_list_queue():
    one = make(9, capacity_per_min=2.5)
    many = make(9, capacity_per_min=2.5, n_databases=1, capacity_spread=2.0)
    for tr in (one, many):
        tr.submit(4, 0)
    for _ in range(20):
        assert one.deliver() == many.deliver()
        np.testing.assert_array_equal(one.received(np.arange(9)), many.received(np.arange(9)))


def test_databases_are_blocks_of_the_expansion_order_and_share_the_capacity():
    tr = make(10, capacity_per_min=30.0, n_databases=3, capacity_spread=0.0)
    np.testing.assert_array_equal(tr.sizes, [3, 3, 4])
    np.testing.assert_array_equal(tr.database_of(np.arange(10)), [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_allclose(tr.capacities, [9.0, 9.0, 12.0])  # same speed per member
    assert make(5, n_databases=50).n_databases == 5  # never more databases than members


def test_capacity_spread_makes_some_inboxes_fill_faster():
    tr = make(1_000, capacity_per_min=500.0, n_databases=20, capacity_spread=1.0)
    per_member = tr.capacities / tr.sizes
    assert per_member.max() / per_member.min() > 10  # exp(1.0 * (z_max - z_min))
    for minute in range(30):
        tr.submit(4, minute)
        tr.deliver()
    counts = np.asarray(tr.received(np.arange(1_000)))
    fast = tr.database_of(np.arange(1_000)) == int(np.argmax(per_member))
    assert counts[fast].min() > 3 * np.median(counts)
    # each database's delay is the age of its oldest undelivered message
    delays = tr.delays(30)
    assert delays[np.argmax(per_member)] < delays[np.argmin(per_member)]
    assert delays.max() == 30.0  # the slowest database still holds the original
    assert tr.delay(30) == delays.max()


def test_a_database_degrades_on_its_own_backlog():
    tr = make(100, capacity_per_min=1.0, n_databases=4, capacity_spread=2.0,
              degrade_backlog=400.0, unable_max=0.5)  # each database's threshold: 100
    tr.submit(3, 0)  # 75 queued on each database: below the threshold
    assert np.all(tr.unable_fractions() == 0.0)
    tr.submit(3, 0)  # 150 each: half-way to twice the threshold
    np.testing.assert_allclose(tr.unable_fractions(), 0.25)
    for _ in range(60):
        tr.deliver()
    unable = tr.unable_fractions()
    backlog = tr.backlogs()
    np.testing.assert_allclose(unable, 0.5 * np.clip(backlog / 100.0 - 1.0, 0.0, 1.0))
    assert unable.min() < unable.max()  # the fast database recovered first
    assert tr.unable_fraction() == pytest.approx(unable @ tr.sizes / 100)


def test_a_purge_on_several_databases_drops_only_what_each_still_queues():
    tr = make(12, capacity_per_min=12.0, n_databases=3, capacity_spread=1.0)
    tr.submit(3, 0)
    tr.deliver()
    before = np.asarray(tr.received(np.arange(12)))
    queued = tr.backlogs().copy()
    assert tr.purge() == queued.sum() > 0
    np.testing.assert_array_equal(tr.purged_k, queued)
    np.testing.assert_array_equal(tr.received(np.arange(12)), before)
    tr.submit(1, 5)
    for _ in range(5):
        tr.deliver()
    np.testing.assert_array_equal(tr.received(np.arange(12)), before + 1)


def test_accepted_messages_keep_their_kind_in_order():
    tr = make(3)
    tr.submit(1, 0)  # the original
    ok = tr.offer(np.array([5, 6, 7]), 2, kinds=np.array([1, 2, 1]))
    assert ok.all() and tr.kinds == [0, 1, 2, 1] and tr.send_minutes == [0, 2, 2, 2]
    tr.disable(3, purge=False)
    assert not tr.offer(np.array([8]), 4, kinds=np.array([2])).any()
    assert tr.kinds == [0, 1, 2, 1] and tr.bounced == 1


def test_database_capacities_follow_their_formula():
    """``C * L_k exp(s z_k) / sum``, z_k the normal quantile of frac((k + 1/2) * 0.618...)."""
    from statistics import NormalDist

    from replyall_storm.model.transport import database_capacities

    sizes = np.array([3, 3, 4, 5])
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for spread in (0.0, 0.7, 2.0):
        params = StormParams().replace(capacity_per_min=100.0, capacity_spread=spread)
        z = [NormalDist().inv_cdf(((k + 0.5) * golden) % 1.0) for k in range(4)]
        weight = sizes * np.exp(spread * np.array(z))
        got = database_capacities(sizes, params)
        np.testing.assert_allclose(got, 100.0 * weight / weight.sum(), rtol=1e-12)
        assert got.sum() == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_each_databases_delay_is_the_age_of_its_oldest_undelivered_message(seed):
    rng = np.random.default_rng(300 + seed)
    size, k = int(rng.integers(6, 40)), int(rng.integers(2, 6))
    tr = make(size, capacity_per_min=float(rng.choice([4.0, 9.5])), n_databases=k,
              capacity_spread=1.0)
    ref = NaiveDatabases(tr.sizes, tr.capacities)
    sent_at = []
    for minute in range(80):
        n = int(rng.integers(0, 3)) if minute < 40 else 0
        tr.submit(n, minute)
        ref.submit(n)
        sent_at += [minute] * n
        tr.deliver()
        ref.deliver()
        expected = [minute - sent_at[q.queue[0][0]] if q.queue else 0.0 for q in ref.queues]
        np.testing.assert_array_equal(tr.delays(minute), expected)
        assert tr.delay(minute) == max(expected)


def test_refused_reply_alls_leave_no_kind_or_sender_behind():
    tr = make(3, rate_limit_per_hour=1.0)
    tr.submit(1, 0, sender=9)
    # kinds that differ between the accepted and the first offered: each kept is its own
    ok = tr.offer(np.array([5, 5, 6, 5]), 2, kinds=np.array([2, 1, 2, 1]))
    assert ok.tolist() == [True, False, True, False]
    assert tr.kinds == [0, 2, 2] and tr.senders == [9, 5, 6] and tr.send_minutes == [0, 2, 2]
    assert tr.refused["rate_limit"] == 2 and tr.bounced == 2 and tr.accepted == 3


def test_the_members_mean_weighs_databases_by_their_members():
    tr = make(10, n_databases=3)
    np.testing.assert_array_equal(tr.sizes, [3, 3, 4])
    assert tr.members_mean(np.array([0.0, 0.0, 1.0])) == pytest.approx(0.4)
    assert make(10).members_mean(np.array([0.25])) == 0.25


@pytest.mark.parametrize("low_priority", [False, True])
def test_ordinary_mail_waits_behind_the_storm_unless_the_storm_is_queued_apart(low_priority):
    tr = make(7, low_priority_queue=low_priority)
    for minute in range(5):
        tr.submit(3, minute)  # 21 deliveries a minute against a capacity of 10
        tr.deliver()
    assert tr.delay(4) > 0
    assert tr.normal_delay(4) == (0.0 if low_priority else tr.delay(4))
