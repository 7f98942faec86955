"""Relevance through the organisation: how much the messages a reader reads concern them.

With ``relevance_boost`` above 1 (:func:`.decision.relevance_weights`), a message weighs more
the closer its sender sits to the reader in the hierarchy: same team, department,
organisation, region, or only the directory. :class:`SenderIndex` keeps, for each of the four
levels, the sorted keys ``unit of sender * STRIDE + message index`` of the messages accepted
so far, so that for any readers and any range of messages ``[first, last)`` the number of
messages from each reader's own unit is two binary searches, vectorised over readers::

    weighted = w_dir * (last - first) + sum_l (w_l - w_{l+1}) * count_l

(sharing a team implies sharing the department, organisation and region). Cost per check
O(4 log M) for M accepted messages; the index grows by the messages the list accepts. A
member's ``j``-th message is message ``j`` of the list (the transport delivers in acceptance
order); after a purge, which comes with the cut-off, no message arrives any more, so this
holds for every message read. A reader's own messages count as coming from the same team.
"""

from __future__ import annotations

import numpy as np

from .decision import LEVELS, relevance_weights
from .org import Organisation
from .parameters import StormParams

STRIDE = np.int64(1) << np.int64(32)
"""Key stride: message indices stay below 2**32."""


class SenderIndex:
    """Messages of the thread by the units of their senders (see the module docstring).

    Args:
        org: the organisation (units of every user).
        params: the scenario (``relevance_boost``).
    """

    def __init__(self, org: Organisation, params: StormParams) -> None:
        self.weights = relevance_weights(params)
        self.active = bool(params.relevance_boost != 1.0)
        self.units = [np.asarray(u, dtype=np.int64) for u in
                      (org.team, org.department, org.organisation, org.region)]
        self.keys = [np.zeros(0, dtype=np.int64) for _ in range(LEVELS - 1)]
        self.size = 0  # messages indexed

    def add(self, senders: list[int] | np.ndarray) -> None:
        """Index the next messages of the thread, sent by ``senders`` (user ids, in order)."""
        senders = np.asarray(senders, dtype=np.int64)
        if senders.size == 0:
            return
        index = self.size + np.arange(senders.size, dtype=np.int64)
        known = senders >= 0
        for level, unit in enumerate(self.units):
            new = unit[senders[known]] * STRIDE + index[known]
            self.keys[level] = np.sort(np.concatenate((self.keys[level], new)))
        self.size += senders.size

    def sync(self, senders: list[int]) -> None:
        """Index whatever of the transport's ``senders`` list is not indexed yet."""
        if len(senders) > self.size:
            self.add(senders[self.size:])

    def counts(self, readers: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """``(4, readers)``: messages in ``[first, last)`` from each reader's own unit per level."""
        out = np.empty((LEVELS - 1, len(readers)), dtype=np.int64)
        first = np.asarray(first, dtype=np.int64)
        last = np.asarray(last, dtype=np.int64)
        for level, unit in enumerate(self.units):
            base = unit[readers] * STRIDE
            keys = self.keys[level]
            out[level] = np.searchsorted(keys, base + last) - np.searchsorted(keys, base + first)
        return out

    def weighted(self, readers: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Relevance-weighted number of messages ``[first, last)`` read by each reader.

        Equals ``last - first`` when the mechanism is off.
        """
        n = (np.asarray(last) - np.asarray(first)).astype(np.float64)
        if not self.active:
            return n
        w = self.weights
        counts = self.counts(np.asarray(readers, dtype=np.int64), first, last)
        steps = (w[:-1] - w[1:])[:, None]  # w_l - w_{l+1} for l = team .. region
        return w[-1] * n + (steps * counts).sum(axis=0)


def mean_relevance(org: Organisation, members: np.ndarray, params: StormParams) -> float:
    """Mean weight of a message from a random member read by a random member (the ODE's).

    ``sum_l P(closest shared level = l) * w_l`` over ordered pairs of members (a member and
    itself included, as the index counts one's own messages as from one's team).
    """
    w = relevance_weights(params)
    members = np.asarray(members)
    n = float(members.size)
    share = []
    for unit in (org.team, org.department, org.organisation, org.region):
        sizes = np.bincount(np.asarray(unit)[members]).astype(np.float64)
        share.append(float(np.sum(sizes**2)) / n**2)  # P(same unit at this level)
    p_same = np.array([*share, 1.0])  # P(share at least level l); the directory always
    exact = np.diff(np.concatenate(([0.0], p_same)))  # P(closest shared level = l)
    return float(exact @ w)
