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
