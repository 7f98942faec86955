"""The transport alone, many minutes at once: the rest of a run once nobody can add mail.

From ``users_until`` on (:class:`~.minute_loop.MinuteLoop`) nobody checks mail, and once the
list is disabled nothing more is accepted or offered: every remaining minute is the mailbox
databases working through their queues. Stepping those minutes one by one costs NumPy call
overhead in the recorder, the delays and the unable fractions every minute, which made the
72 simulated hours of a calibration run cost several times its first hour and a half of
storm. :func:`drain` runs the same minutes in bulk:

1. each minute's deliveries, with the operations of :meth:`.transport.Transport.deliver`
   on preallocated arrays (so the fractional capacity carried between minutes is exactly
   the stepped one's), keeping each database's stream counter at the end of every minute
   (``(minutes, databases)``), until every queue is empty;
2. every recorded column from those counters at once, with the transport's own formulas
   (:meth:`~.transport.Transport.delays` and :meth:`~.transport.Transport.unable_fractions`
   take arrays of minutes), element by element as :meth:`.observables.Recorder.record`
   has them; the one reduction whose order could change a last bit (the members' mean of
   the unable fractions, a dot product) runs row by row as the step does.

Nothing in these minutes draws a random number (the senders' permutation is only drawn when
two or more reply-alls are offered), so the run's generators, its series, its summary and
its transport record are identical, bit for bit, to stepping each minute
(``tests/test_drain.py`` checks every column on runs with one and many databases, purges,
the low-priority queue and degraded databases). Cost: O(minutes x databases) in a few
array operations a minute; ``replyall bench`` measures a calibration run both ways.
"""

from __future__ import annotations

import numpy as np

from .minute_loop import MinuteLoop, Scheduler
from .states import STATE_NAMES
from .transport import Transport


def can_drain(loop: MinuteLoop) -> bool:
    """Whether the rest of ``loop``'s run is the transport alone (see module docstring)."""
    return (not loop.finished and loop.minute >= loop.users_until
            and not loop.transport.list_active)


def drain(loop: MinuteLoop, users: Scheduler) -> int:
    """Simulate every remaining minute of ``loop`` in bulk; the minutes simulated.

    Requires :func:`can_drain`. ``users`` gives the (unchanging) read total and state counts.
    """
    if not can_drain(loop):
        raise RuntimeError("drain: users may still check mail or the list is still active")
    tr, rec = loop.transport, loop.recorder
    first, horizon = loop.minute, loop.params.horizon_min
    minutes = np.arange(first, horizon, dtype=np.int64)
    before = tr.streams.copy()  # the counters at the start of the first drained minute
    ends = tr.accepted * tr.sizes  # every database's stream once all is delivered
    streams = _deliveries(tr, ends, minutes.size)
    backlogs = ends - streams  # end of each minute
    backlogs_before = np.vstack([ends - before, backlogs[:-1]])  # start of each minute
    totals = streams.sum(axis=1)
    delivered = np.diff(totals, prepend=int(before.sum()))
    delay = tr.delays(minutes[:, None], streams).max(axis=1)
    unable = _members_mean(tr, tr.unable_fractions(backlogs_before))
    counts = users.state_counts()
    L = rec.list_size
    d = rec.data
    span = slice(first, horizon)
    for column in ("sent_remove", "sent_complain", "accepted", "bounced", "checks",
                   "failed_checks", "list_active"):
        d[column][span] = 0
    d["delivered"][span] = delivered
    d["backlog"][span] = tr.accepted * L - totals
    d["delay_min"][span] = delay
    d["normal_delay_min"][span] = 0.0 if tr.params.low_priority_queue else delay
    d["received_per_user"][span] = (totals - tr.purged) / L
    d["read_per_user"][span] = users.read_total() / L
    for name, value in zip(STATE_NAMES, counts, strict=True):
        d[name][span] = value
    d["unable_fraction"][span] = unable
    # nothing is accepted or bounced any more (the last step's record counted the list's
    # last expansion): the transport's events are its deliveries
    d["transport_events"][span] = delivered
    rec.streams[span] = streams
    loop.minute = horizon
    return int(minutes.size)


def _deliveries(tr: Transport, ends: np.ndarray, n: int) -> np.ndarray:
    """``n`` minutes of :meth:`.transport.Transport.deliver`: the streams after each minute.

    The same operations on the same values, on preallocated arrays; once every queue is
    empty the streams stay as they are (the carried fraction is then never used again, and
    is left where the queues emptied).
    """
    streams = np.empty((n, tr.n_databases), dtype=np.int64)
    current, carry = tr.streams.copy(), tr._carry.copy()
    budget, whole = np.empty_like(carry), np.empty_like(current)
    backlog, made = np.empty_like(current), np.empty_like(current)
    for i in range(n):
        np.subtract(ends, current, out=backlog)
        if not backlog.any():
            streams[i:] = current
            break
        np.add(tr.capacities, carry, out=budget)
        np.floor(budget, out=carry)  # the whole part (as float), reused as scratch
        whole[:] = carry
        np.minimum(whole, backlog, out=made)
        carry = np.where(made == whole, budget - whole, 0.0)
        current += made
        streams[i] = current
    tr.streams, tr._carry = current, carry
    return streams


def _members_mean(tr: Transport, per_database: np.ndarray) -> np.ndarray:
    """:meth:`.transport.Transport.members_mean` of each row (row by row, as the step does)."""
    if tr.n_databases == 1:
        return per_database[:, 0].astype(np.float64)
    return np.array([tr.members_mean(row) for row in per_database])


__all__ = ["can_drain", "drain"]
