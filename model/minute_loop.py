"""The minute loop both engines run, written once; it owns the list's transport and recorder.

One simulated minute (:meth:`MinuteLoop.step`), in this order:

1. If the cut-off time has come, administrators disable the list (and purge its queue if the
   scenario says so).
2. Users due to check mail do so (the engine's job, :meth:`Scheduler.check_mail`): each check
   fails with its mailbox database's current unable fraction; otherwise the user reads what
   has been delivered and applies the decision rule. Decisions use the world as it was at
   the start of the minute. From ``users_until`` on (if set) nobody checks any more: the rest
   of the run is the transport alone (see :class:`MinuteLoop`).
3. This minute's reply-alls are offered to the list in random order: accepted while it is
   active and every mitigation policy admits them (``model/policies.py``), else bounced.
4. Users who replied for the first time become visible to their graph neighbours (peers).
5. The transport makes up to ``capacity_per_min`` deliveries (each database its share).
6. The recorder stores the minute's observables.

An engine is a :class:`Scheduler`: it decides who checks mail when and keeps the users' state;
everything else in a minute happens here, with draws from the run's one generator in a fixed
order (the checks' draws, then one permutation of the minute's senders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from .observables import Recorder
from .relevance import SenderIndex
from .states import Action
from .transport import Transport
from .world import StormSetup

_NONE = np.empty(0, dtype=np.int64)


@dataclass
class MinuteChecks:
    """What the users who checked mail in one minute did (user ids as int64 arrays)."""

    remove: np.ndarray  # users sending "remove me"
    complain: np.ndarray  # users sending a complaint
    first_senders: np.ndarray  # users replying for the first time
    checks: int  # checks attempted
    failed: int  # checks that failed (service degraded)


class Scheduler(Protocol):
    """What an engine does for the minute loop: the users' checks and their state."""

    def check_mail(self, minute: int, unable: np.ndarray) -> MinuteChecks:
        """Let the users due at ``minute`` check mail and decide.

        ``unable[k]`` is the share of checks that fail on mailbox database ``k``
        (:meth:`MinuteLoop.failure_chance` gives each user's).
        """
        ...

    def reveal_senders(self, users: np.ndarray) -> None:
        """Make first-time senders ``users`` visible to their graph neighbours."""
        ...

    def note_reached(self, users: np.ndarray) -> None:
        """Remember that ``users``' reply-alls reached the list."""
        ...

    def state_counts(self) -> np.ndarray:
        """Users per State (length 4, sums to n_users)."""
        ...

    def read_total(self) -> int:
        """Messages read so far, summed over users."""
        ...


class MinuteLoop:
    """The minutes of one run over ``world``: the transport, the recorder, the clock.

    Args:
        world: the shared initial world (the list, its expansion order, users' habits).
        rng: the run's generator (the same one the engine draws the checks from).
        users_until: from this minute on nobody checks mail (default: never stop). The
            transport goes on to the horizon, so everything it decides (deliveries, every
            inbox, delays, the backlog) is exactly what the full run gives once no reply-all
            can be accepted any more (the list disabled for good); what users do later
            (bounced reply-alls, reading, muting) is then not simulated. Calibrations use it
            to skip the hours of reading after the cut-off.

    The original message is on the list when the loop is made (minute 0 has not run yet).
    """

    def __init__(self, world: StormSetup, rng: np.random.Generator,
                 users_until: int | None = None) -> None:
        params = world.params
        self.world = world
        self.params = params
        self.rng = rng
        self.transport = Transport(world.list_size, params)
        self.recorder = Recorder(params.horizon_min, world.list_size, params.start_clock_h,
                                 self.transport.n_databases)
        self.minute = 0  # the next minute to simulate
        self.users_until = params.horizon_min if users_until is None else int(users_until)
        self.database = np.where(world.position >= 0,
                                 self.transport.database_of(np.maximum(world.position, 0)), -1)
        self.senders = SenderIndex(world.org, params)
        self.transport.submit(1, 0, sender=world.originator)

    @property
    def finished(self) -> bool:
        """Whether every minute up to the horizon has been simulated."""
        return self.minute >= self.params.horizon_min

    def step(self, users: Scheduler) -> None:
        """Simulate minute ``self.minute`` (steps 1-6 of the module docstring)."""
        if self.finished:
            raise RuntimeError(f"the run ended at its horizon ({self.params.horizon_min} min)")
        minute, params, tr = self.minute, self.params, self.transport
        if tr.list_active and minute >= params.cutoff_min:
            tr.disable(minute, purge=params.purge_at_cutoff)
        unable = tr.unable_fractions()
        if minute < self.users_until:
            mc = users.check_mail(minute, unable)
        else:
            mc = MinuteChecks(_NONE, _NONE, _NONE, 0, 0)
        senders = np.concatenate([mc.remove, mc.complain])
        kinds = np.repeat(np.array([Action.REMOVE_ME, Action.COMPLAIN], dtype=np.int64),
                          [mc.remove.size, mc.complain.size])
        if senders.size > 1:  # replies of one minute reach the list in random order
            order = self.rng.permutation(senders.size)
            senders, kinds = senders[order], kinds[order]
        ok = tr.offer(senders, minute, kinds)
        accepted = int(ok.sum())
        if accepted:
            users.note_reached(senders[ok])
        if mc.first_senders.size:
            users.reveal_senders(mc.first_senders)
        delivered = tr.deliver()
        self.recorder.record(
            minute,
            sent_remove=mc.remove.size,
            sent_complain=mc.complain.size,
            accepted=accepted,
            bounced=senders.size - accepted,
            delivered=delivered,
            transport=tr,
            read_total=users.read_total(),
            counts=users.state_counts(),
            checks=mc.checks,
            failed_checks=mc.failed,
            unable_fraction=tr.members_mean(unable),
        )
        self.minute = minute + 1

    def failure_chance(self, users: np.ndarray | int, unable: np.ndarray) -> np.ndarray:
        """The chance that a check by each of ``users`` fails (its database's ``unable``)."""
        return unable[self.database[users]] if unable.size > 1 else unable[0]

    def relevance(self, readers: np.ndarray, first: np.ndarray, last: np.ndarray
                  ) -> np.ndarray | None:
        """Relevance-weighted count of the messages ``[first, last)`` each reader reads.

        None when relevance through the organisation is off (every message weighs 1).
        """
        if not self.senders.active:
            return None
        self.senders.sync(self.transport.senders)
        return self.senders.weighted(readers, first, last)

    def series(self) -> pd.DataFrame:
        """The per-minute observables of the minutes simulated so far (one row per minute)."""
        return self.recorder.frame().iloc[: self.minute]

