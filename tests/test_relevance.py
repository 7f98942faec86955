"""Relevance through the organisation (model/relevance.py) against a direct count."""

from __future__ import annotations

import numpy as np
import pytest

from replyall_storm.model.decision import relevance_weights
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.relevance import SenderIndex, mean_relevance


def closest_level(org, a, b):
    """0 same team, 1 department, 2 organisation, 3 region, 4 only the directory."""
    for level, unit in enumerate((org.team, org.department, org.organisation, org.region)):
        if unit[a] == unit[b]:
            return level
    return 4


@pytest.mark.parametrize("boost", [1.0, 2.0, 7.5])
def test_weighted_counts_match_a_message_by_message_sum(organisation, boost):
    org = organisation(2_000)
    params = StormParams().replace(n_users=2_000, relevance_boost=boost)
    w = relevance_weights(params)
    rng = np.random.default_rng(4)
    index = SenderIndex(org, params)
    senders = []
    for batch in range(6):  # messages arrive in batches, as minutes go by
        new = rng.integers(0, 2_000, int(rng.integers(1, 30))).tolist()
        if batch == 2:  # a burst from one team: many messages close to its members
            new += [int(org.team.searchsorted(org.team[new[0]]))] * 25
        index.add(new)
        senders += new
        readers = rng.integers(0, 2_000, 300)
        first = rng.integers(0, len(senders), 300)
        last = np.minimum(first + rng.integers(0, 40, 300), len(senders))
        got = index.weighted(readers, first, last)
        expected = [sum(w[closest_level(org, r, senders[m])] for m in range(f, t))
                    for r, f, t in zip(readers, first, last, strict=True)]
        np.testing.assert_allclose(got, expected)


def test_off_it_is_the_number_of_messages(organisation):
    org = organisation(2_000)
    index = SenderIndex(org, StormParams().replace(n_users=2_000))
    index.add([5, 6, 7])
    assert not index.active
    np.testing.assert_array_equal(index.weighted(np.array([1, 2]), np.array([0, 1]),
                                                 np.array([3, 3])), [3.0, 2.0])


def test_the_index_follows_the_transport_list_and_skips_unknown_senders(organisation):
    org = organisation(2_000)
    index = SenderIndex(org, StormParams().replace(n_users=2_000, relevance_boost=3.0))
    senders = [-1, 10, 11]
    index.sync(senders)
    index.sync(senders)  # nothing new
    assert index.size == 3 and all(len(k) == 2 for k in index.keys)
    counts = index.counts(np.array([10]), np.array([0]), np.array([3]))
    assert counts[0, 0] >= 1  # user 10 is in its own team


def test_mean_relevance_is_the_pair_average(organisation):
    org = organisation(2_000)
    params = StormParams().replace(n_users=2_000, relevance_boost=3.0)
    members = np.arange(0, 2_000, 7)
    w = relevance_weights(params)
    direct = np.mean([w[closest_level(org, a, b)] for a in members for b in members])
    assert mean_relevance(org, members, params) == pytest.approx(direct)
    assert mean_relevance(org, members, params.replace(relevance_boost=1.0)) == 1.0


def test_user_zero_is_a_sender_like_any_other(organisation):
    """-1 marks an unknown sender; user 0 (often the originator's neighbour, or the
    originator) is known, and its message counts in its own team."""
    org = organisation(2_000)
    index = SenderIndex(org, StormParams().replace(n_users=2_000, relevance_boost=3.0))
    index.add([0, -1])
    assert all(len(k) == 1 for k in index.keys)
    counts = index.counts(np.array([0]), np.array([0]), np.array([2]))
    assert counts[0, 0] == 1
