"""The observation model's per-member counts (model/inboxes.py) against direct counts."""

from __future__ import annotations

import numpy as np
import pytest

from replyall_storm.model.inboxes import TransportRecord, weighted_quantiles
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.states import Action
from replyall_storm.model.transport import Transport


def scripted_run(seed, size=40, databases=5, minutes=60, purge_at=None):
    """A transport driven minute by minute; what every inbox held at the end of each minute."""
    rng = np.random.default_rng(seed)
    params = StormParams().replace(capacity_per_min=float(rng.choice([15.0, 33.3, 80.0])),
                                   n_databases=databases, capacity_spread=1.2)
    tr = Transport(size, params)
    tr.submit(1, 0)
    streams, seen, delays = [], [], []
    order = np.arange(size)
    for minute in range(minutes):
        if minute == purge_at:
            tr.disable(minute, purge=True)
        n = int(rng.integers(0, 4)) if minute < 30 else 0
        kinds = rng.choice([Action.REMOVE_ME, Action.COMPLAIN], size=n)
        tr.offer(rng.integers(0, size, n), minute, kinds=kinds)
        tr.deliver()
        streams.append(tr.streams.copy())
        seen.append(np.asarray(tr.received(order)))
        delays.append(tr.delays(minute))
    record = TransportRecord.of(tr, np.array(streams))
    return tr, record, np.array(seen), np.array(delays)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("purge_at", [None, 20])
def test_counts_at_every_minute_are_what_the_transport_delivered(seed, purge_at):
    tr, record, seen, delays = scripted_run(seed, purge_at=purge_at)
    for minute in range(seen.shape[0]):
        np.testing.assert_array_equal(record.received(minute), seen[minute])
        np.testing.assert_array_equal(record.delays(minute), delays[minute])
    assert record.list_size == tr.list_size
    assert record.received(seen.shape[0] - 1).sum() == tr.delivered


def naive_kind_counts(tr, record, minute, kind):
    """Count kind-``kind`` messages in each inbox by walking each database's stream."""
    out = np.zeros(tr.list_size, dtype=np.int64)
    stream = record.streams[minute]
    for k, (start, size) in enumerate(zip(tr.starts, tr.sizes, strict=True)):
        for i in range(int(stream[k])):
            m, j = divmod(i, int(size))
            purged = any(when <= minute and a[k] <= i < b[k] for when, a, b in record.purges)
            if not purged and record.kinds[m] == kind:
                out[start + j] += 1
    return out


@pytest.mark.parametrize("purge_at", [None, 12])
@pytest.mark.parametrize("kind", [Action.REMOVE_ME, Action.COMPLAIN, Action.NONE])
def test_counts_of_one_kind_match_a_walk_through_the_streams(purge_at, kind):
    tr, record, seen, _ = scripted_run(3, size=23, databases=4, minutes=40, purge_at=purge_at)
    for minute in (0, 5, 12, 13, 25, 39):
        np.testing.assert_array_equal(record.received(minute, kind=kind),
                                      naive_kind_counts(tr, record, minute, kind))
    total = sum(record.received(39, kind=k) for k in (Action.NONE, Action.REMOVE_ME,
                                                       Action.COMPLAIN))
    np.testing.assert_array_equal(total, seen[39])


def test_a_minute_outside_the_run_is_refused():
    _, record, _, _ = scripted_run(0, minutes=10)
    with pytest.raises(ValueError, match="outside the run"):
        record.received(10)


@pytest.mark.parametrize("purge_at", [None, 20])
@pytest.mark.parametrize("kind", [None, Action.REMOVE_ME])
def test_quantiles_from_the_databases_are_the_members_quantiles(purge_at, kind):
    _, record, _, _ = scripted_run(5, size=57, databases=6, minutes=45, purge_at=purge_at)
    q = np.array([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    for minute in (0, 3, 10, 19, 20, 21, 44):
        np.testing.assert_array_equal(record.quantiles(minute, q, kind=kind),
                                      weighted_quantiles(record.received(minute, kind=kind), q))


def test_quantiles_are_values_some_member_had():
    values = np.array([5, 1, 3, 3, 9, 7, 2, 8, 4, 6])
    np.testing.assert_array_equal(weighted_quantiles(values, [0.0, 0.1, 0.5, 0.95, 1.0]),
                                  [1, 1, 4, 9, 9])


def test_each_member_has_the_delay_of_its_own_database():
    tr, record, _, delays = scripted_run(2, size=31, databases=5, minutes=40)
    uneven = [m for m in range(40) if len(set(delays[m])) > 1]
    assert uneven, "the databases never differed: the test would prove nothing"
    for minute in uneven:
        per_member = record.member_delays(minute)
        for k, (start, size) in enumerate(zip(tr.starts, tr.sizes, strict=True)):
            assert (per_member[start:start + size] == delays[minute][k]).all()
