"""The mail transport: the list's messages queued on mailbox databases, delivered at finite rates.

A reply-all accepted by the list is expanded into one delivery to each of its ``L`` members
(``L`` *expansion* events of the transport). The members' mailboxes live on ``K`` mailbox
databases (``n_databases``); each database works through its own FIFO queue, completing at most
its capacity of deliveries per minute. The list expands members in a fixed order (a random
permutation of the members, drawn once): the member at list position ``r`` lives on database
``k`` with ``starts[k] <= r < starts[k] + sizes[k]`` (contiguous, near-equal blocks of the
permutation, so each database holds a random sample of the members) at position
``j = r - starts[k]`` of that database's order. Delivery ``i`` of database ``k``'s stream goes
to message ``i // L_k`` and to its member ``i % L_k``, so one counter per database (``T_k``,
deliveries made or purged) tells how many messages each of its members has received::

    received(k, j) = #{m : m L_k + j < T_k} - purged = ceil((T_k - j) / L_k) - purged(k, j)

which costs O(1) per member and no per-member state. With one database this is the single
FIFO of the list. Capacities differ between databases (``capacity_spread``, see
:func:`database_capacities`), which is what lets some inboxes be hours behind others.

Conservation, checked by the tests at every minute, for every database and in total::

    accepted * L_k == delivered_k + backlog_k + purged_k

A database whose queue grows past its share of ``degrade_backlog`` degrades: a fraction of its
members' mail checks fails (clients cannot connect), rising linearly to ``unable_max`` at twice
that backlog. Reply-alls refused by the list bounce back to their senders as non-delivery
reports (one transport event each). Admission of every offered reply-all is decided by the
mitigation policies of :mod:`.policies`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from .parameters import StormParams
from .policies import REASONS, Admission

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def database_capacities(sizes: np.ndarray, params: StormParams) -> np.ndarray:
    """Deliveries per minute of each mailbox database, summing to ``capacity_per_min``.

    Database ``k`` gets capacity in proportion to ``sizes[k] * exp(s * z_k)``, ``s =
    capacity_spread``, with ``z_k`` the standard normal quantiles at the golden-ratio sequence
    ``frac((k + 1/2) * 0.618...)``: a fixed, evenly spread sample of a log-normal spread of
    delivery speed per member (no random draws, so the run's random streams do not depend on
    it). ``capacity_spread = 0`` gives every member the same delivery speed.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    k = np.arange(sizes.size, dtype=np.float64)
    z = ndtri(((k + 0.5) * GOLDEN) % 1.0)
    weight = sizes * np.exp(params.capacity_spread * z)
    return float(params.capacity_per_min) * (weight / weight.sum())


class Transport:
    """Queues and delivery state of one distribution list (one thread) on its databases.

    Args:
        list_size: members of the list, ``L`` (users).
        params: the scenario (capacity, databases, cut-off, purge, degradation).
    """

    def __init__(self, list_size: int, params: StormParams) -> None:
        self.list_size = L = int(list_size)
        self.params = params
        k = max(1, min(int(params.n_databases), L))
        edges = (np.arange(k + 1, dtype=np.int64) * L) // k
        self.sizes = np.diff(edges)  # L_k: members per database
        self.starts = edges[:-1]  # first list position of each database
        self.capacities = database_capacities(self.sizes, params)  # deliveries / min
        self.streams = np.zeros(k, dtype=np.int64)  # T_k: deliveries made or purged
        self.purged_k = np.zeros(k, dtype=np.int64)  # deliveries dropped by purges
        self.purge_log: list[tuple[int, np.ndarray, np.ndarray]] = []  # (minute, a_k, b_k)
        self._carry = np.zeros(k)  # fractional capacity carried to the next minute
        self._thresholds = params.degrade_backlog * (self.sizes / L)  # per-database degrade
        self.list_active = True
        self.accepted = 0  # messages accepted onto the list (the original included)
        self.bounced = 0  # reply-alls refused (list disabled or blocked by a policy)
        self.refused = dict.fromkeys(REASONS, 0)  # bounced reply-alls by reason
        self.admission = Admission(params, L)
        self.send_minutes: list[int] = []  # minute each accepted message was sent
        self.kinds: list[int] = []  # Action code of each accepted message (0: the original)
        self.senders: list[int] = []  # user who sent each accepted message (-1: unknown)
        self.cut_minute: float = math.nan
        self._sent = np.zeros(0)  # send_minutes as an array (refreshed when it grows)

    # --- state ---------------------------------------------------------------------------
    @property
    def n_databases(self) -> int:
        """Mailbox databases of the list's members."""
        return int(self.sizes.size)

    @property
    def capacity(self) -> float:
        """Deliveries per minute, all databases together."""
        return float(self.capacities.sum())

    @capacity.setter
    def capacity(self, value: float) -> None:
        self.capacities = self.capacities * (float(value) / self.capacities.sum())

    @property
    def purged(self) -> int:
        """Deliveries dropped by purges."""
        return int(self.purged_k.sum())

    @property
    def delivered(self) -> int:
        """Deliveries completed so far (messages placed in inboxes)."""
        return int(self.streams.sum()) - self.purged

    @property
    def backlog(self) -> int:
        """Deliveries queued and not yet made, all databases together."""
        return self.accepted * self.list_size - int(self.streams.sum())

    def backlogs(self) -> np.ndarray:
        """Deliveries queued on each database (int64, length ``n_databases``)."""
        return self.accepted * self.sizes - self.streams

    def database_of(self, position: np.ndarray | int) -> np.ndarray | int:
        """Database of the members at list ``position`` (0 <= position < L)."""
        return np.searchsorted(self.starts, position, side="right") - 1

    def unable_fractions(self, backlogs: np.ndarray | None = None) -> np.ndarray:
        """Fraction of mail checks that fail on each database at its current backlog.

        ``backlogs``: the deliveries queued on each database (default: now's), or an array
        ``(minutes, databases)`` of them (:mod:`.drain`). Zero when storm traffic sits on a
        low-priority queue (``low_priority_queue``).
        """
        p = self.params
        backlogs = self.backlogs() if backlogs is None else backlogs
        if p.low_priority_queue:
            return np.zeros(np.shape(backlogs))
        excess = (backlogs - self._thresholds) / self._thresholds
        return p.unable_max * np.clip(excess, 0.0, 1.0)

    def unable_fraction(self) -> float:
        """Fraction of the members' mail checks that fail now (members' mean over databases)."""
        return self.members_mean(self.unable_fractions())

    def members_mean(self, per_database: np.ndarray) -> float:
        """Mean over the list's members of a value per database (the value, for one)."""
        if per_database.size == 1:
            return float(per_database[0])
        return float(per_database @ self.sizes) / self.list_size

    def delays(self, minute: int | np.ndarray, streams: np.ndarray | None = None
               ) -> np.ndarray:
        """Age of the oldest message each database has not delivered to all its members.

        At ``minute`` with the stream counters ``streams`` (default: now's); or at many
        minutes at once (:mod:`.drain`): ``minute`` of shape ``(minutes, 1)``, ``streams``
        ``(minutes, databases)``.
        """
        streams = self.streams if streams is None else streams
        backlog = self.accepted * self.sizes - streams
        if not self.send_minutes or not backlog.any():
            return np.zeros(backlog.shape)
        if len(self._sent) != len(self.send_minutes):
            self._sent = np.asarray(self.send_minutes, dtype=np.float64)
        head = np.minimum(streams // self.sizes, len(self._sent) - 1)
        return np.where(backlog > 0, minute - self._sent[head], 0.0)

    def delay(self, minute: int) -> float:
        """Age of the oldest message not yet delivered to every member (minutes; 0 if none)."""
        return float(self.delays(minute).max())

    def normal_delay(self, minute: int) -> float:
        """Longest delay of ordinary mail (minutes): the storm's, unless it is queued apart."""
        return 0.0 if self.params.low_priority_queue else self.delay(minute)

    def received(self, position: np.ndarray | int) -> np.ndarray | int:
        """Messages received so far by the members at list ``position`` (0 <= position < L)."""
        k = self.database_of(position)
        return self.received_on(k, position - self.starts[k])

    def received_on(self, k: np.ndarray | int, j: np.ndarray | int) -> np.ndarray | int:
        """Messages received so far by member ``j`` of database ``k``'s order (O(1) each)."""
        size = self.sizes[k]
        count = (self.streams[k] - j + size - 1) // size
        for _, a, b in self.purge_log:
            count = count - ((b[k] - j + size - 1) // size - (a[k] - j + size - 1) // size)
        return count

    # --- events --------------------------------------------------------------------------
    def disable(self, minute: int, purge: bool) -> None:
        """Administrators disable the list at ``minute``; optionally purge its queue."""
        self.list_active = False
        self.cut_minute = float(minute)
        if purge:
            self.purge(minute)

    def purge(self, minute: int = -1) -> int:
        """Drop every queued delivery on every database at ``minute``; how many were dropped.

        Each database's purged stream interval ``[a_k, b_k)`` is logged with the minute, so
        that members' counts (and :mod:`.inboxes`) exclude it from then on.
        """
        end = self.accepted * self.sizes
        dropped = end - self.streams
        if dropped.sum() > 0:
            self.purge_log.append((int(minute), self.streams.copy(), end))
            self.purged_k += dropped
            self.streams = end.copy()
        return int(dropped.sum())

    def submit(self, n_messages: int, minute: int, kind: int = 0, sender: int = -1) -> int:
        """Offer ``n_messages`` messages of ``kind`` from ``sender`` sent at ``minute``.

        Returns how many were accepted; refused ones (the list is disabled) bounce back to
        their senders. The original message is ``submit(1, 0, sender=originator)``.
        """
        if not self.list_active:
            self.bounced += n_messages
            return 0
        self.accepted += n_messages
        self.send_minutes.extend([minute] * n_messages)
        self.kinds.extend([kind] * n_messages)
        self.senders.extend([sender] * n_messages)
        return n_messages

    def offer(self, senders: np.ndarray, minute: int, kinds: np.ndarray | None = None
              ) -> np.ndarray:
        """Offer the reply-alls of ``senders`` (in order) at ``minute``; mask of accepted ones.

        The list must be active and every policy of :class:`~.policies.Admission` must admit
        the message; refused ones bounce and are counted by reason in ``refused``. ``kinds``
        (the Action code of each reply-all) are kept in acceptance order for the observation
        model (which messages an inbox holds).
        """
        if not self.list_active:
            accepted = np.zeros(len(senders), dtype=bool)
            self.refused["list_disabled"] += len(senders)
        elif not self.admission.active:
            accepted = np.ones(len(senders), dtype=bool)
        else:
            accepted = np.zeros(len(senders), dtype=bool)
            for i, sender in enumerate(senders):
                reason = self.admission.admit(int(sender), minute)
                if reason is None:
                    accepted[i] = True
                else:
                    self.refused[reason] += 1
        n = int(accepted.sum())
        if n:
            self.accepted += n
            self.send_minutes.extend([minute] * n)
            self.kinds.extend((np.zeros(n, np.int64) if kinds is None
                               else np.asarray(kinds)[accepted]).tolist())
            self.senders.extend(np.asarray(senders)[accepted].tolist())
        self.bounced += len(senders) - n
        return accepted

    def deliver(self) -> int:
        """Make one minute's deliveries on every database; returns how many were made."""
        budget = self.capacities + self._carry
        whole = np.floor(budget).astype(np.int64)
        made = np.minimum(whole, self.backlogs())
        self._carry = np.where(made == whole, budget - whole, 0.0)
        self.streams += made
        return int(made.sum())
