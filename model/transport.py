"""The mail transport: a FIFO queue of list messages delivered at a finite rate.

A reply-all accepted by the list is one message to each of its ``L`` members: ``L``
deliveries. The transport works through its queue in order, completing at most
``capacity_per_min`` deliveries per minute; the list expands members in a fixed order (a
random permutation of the members, drawn once), so delivery ``j`` of the whole stream goes to
message ``j // L`` and to the member at position ``j % L``. A single counter ``T`` (deliveries
made, purged ones included) therefore tells how many messages each member has received:

    received(position r) = #{m : m*L + r < T} - purged = ceil((T - r) / L) - purged(r)

which costs O(1) per user and no per-user state. A purge drops every queued delivery (the
interval ``[T, accepted * L)`` of the stream) and is recorded so that each member's count
excludes it.

Conservation, checked by the tests at every minute::

    accepted * L == delivered + backlog + purged

Once the backlog grows past ``degrade_backlog`` the service degrades: a fraction of mail checks
fails (users cannot connect), rising linearly to ``unable_max`` at twice that backlog.
"""

from __future__ import annotations

import math

import numpy as np

from .parameters import StormParams
from .policies import REASONS, Admission


class Transport:
    """Queue and delivery state of one distribution list (one thread).

    Args:
        list_size: members of the list, ``L`` (users).
        params: the scenario (capacity, cut-off, purge, degradation).
    """

    def __init__(self, list_size: int, params: StormParams) -> None:
        self.list_size = int(list_size)
        self.params = params
        self.capacity = float(params.capacity_per_min)
        self.list_active = True
        self.accepted = 0  # messages accepted onto the list (the original included)
        self.stream = 0  # T: deliveries made or purged, in stream order
        self.purged = 0  # deliveries dropped by purges
        self.bounced = 0  # reply-alls refused (list disabled or blocked by a policy)
        self.refused = dict.fromkeys(REASONS, 0)  # bounced reply-alls by reason
        self.admission = Admission(params, self.list_size)
        self.send_minutes: list[int] = []  # minute each accepted message was sent
        self._purges: list[tuple[int, int]] = []  # purged stream intervals [a, b)
        self._carry = 0.0  # fractional delivery capacity carried to the next minute
        self.cut_minute: float = math.nan

    # --- state ---------------------------------------------------------------------------
    @property
    def delivered(self) -> int:
        """Deliveries completed so far (messages placed in inboxes)."""
        return self.stream - self.purged

    @property
    def backlog(self) -> int:
        """Deliveries queued and not yet made."""
        return self.accepted * self.list_size - self.stream

    def unable_fraction(self) -> float:
        """Fraction of mail checks that fail at the current backlog.

        Zero when storm traffic sits on a low-priority queue (``low_priority_queue``).
        """
        p = self.params
        if p.low_priority_queue:
            return 0.0
        excess = (self.backlog - p.degrade_backlog) / p.degrade_backlog
        return p.unable_max * min(1.0, max(0.0, excess))

    def delay(self, minute: int) -> float:
        """Age of the oldest message not yet delivered to every member (minutes; 0 if none)."""
        if self.backlog == 0:
            return 0.0
        head = self.stream // self.list_size
        return float(minute - self.send_minutes[head])

    def normal_delay(self, minute: int) -> float:
        """Delay of ordinary mail (minutes): the storm's delay, unless it is queued apart."""
        return 0.0 if self.params.low_priority_queue else self.delay(minute)

    def received(self, position: np.ndarray | int) -> np.ndarray | int:
        """Messages received so far by the members at list ``position`` (0 <= position < L)."""
        L = self.list_size
        count = (self.stream - position + L - 1) // L
        for a, b in self._purges:
            count = count - ((b - position + L - 1) // L - (a - position + L - 1) // L)
        return count

    # --- events --------------------------------------------------------------------------
    def disable(self, minute: int, purge: bool) -> None:
        """Administrators disable the list at ``minute``; optionally purge its queue."""
        self.list_active = False
        self.cut_minute = float(minute)
        if purge:
            self.purge()

    def purge(self) -> int:
        """Drop every queued delivery; returns how many were dropped."""
        end = self.accepted * self.list_size
        dropped = end - self.stream
        if dropped > 0:
            self._purges.append((self.stream, end))
            self.purged += dropped
            self.stream = end
        return dropped

    def submit(self, n_messages: int, minute: int) -> int:
        """Offer ``n_messages`` reply-alls sent at ``minute``; returns how many were accepted.

        Refused ones (the list is disabled) bounce back to their senders.
        """
        if not self.list_active:
            self.bounced += n_messages
            return 0
        self.accepted += n_messages
        self.send_minutes.extend([minute] * n_messages)
        return n_messages

    def offer(self, senders: np.ndarray, minute: int) -> np.ndarray:
        """Offer the reply-alls of ``senders`` (in order) at ``minute``; mask of accepted ones.

        The list must be active and every policy of :class:`~.policies.Admission` must admit
        the message; refused ones bounce and are counted by reason in ``refused``.
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
            self.submit(n, minute)
        self.bounced += len(senders) - n
        return accepted

    def deliver(self) -> int:
        """Make one minute's deliveries; returns how many were made."""
        budget = self.capacity + self._carry
        whole = math.floor(budget)
        made = min(whole, self.backlog)
        self._carry = budget - whole if made == whole else 0.0
        self.stream += made
        return made
