"""The minute loop both engines run, written once; it owns the list's transport and recorder.

One simulated minute (:meth:`MinuteLoop.step`), in this order:

1. If the cut-off time has come, administrators disable the list (and purge its queue if the
   scenario says so).
2. Users due to check mail do so (the engine's job, :meth:`Scheduler.check_mail`): each check
   fails with the transport's current ``unable_fraction``; otherwise the user reads what has
   been delivered and applies the decision rule. Decisions use the world as it was at the
   start of the minute.
3. This minute's reply-alls are offered to the list in random order: accepted while it is
   active and every mitigation policy admits them (``model/policies.py``), else bounced.
4. Users who replied for the first time become visible to their graph neighbours (peers).
5. The transport makes up to ``capacity_per_min`` deliveries.
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
from .transport import Transport
from .world import StormSetup


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

    def check_mail(self, minute: int, unable_fraction: float) -> MinuteChecks:
        """Let the users due at ``minute`` check mail and decide."""
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

    The original message is on the list when the loop is made (minute 0 has not run yet).
    """

    def __init__(self, world: StormSetup, rng: np.random.Generator) -> None:
        params = world.params
        self.world = world
        self.params = params
        self.rng = rng
        self.transport = Transport(world.list_size, params)
        self.recorder = Recorder(params.horizon_min, world.list_size, params.start_clock_h)
        self.minute = 0  # the next minute to simulate
        self.transport.submit(1, 0)

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
        unable = tr.unable_fraction()
        mc = users.check_mail(minute, unable)
        senders = np.concatenate([mc.remove, mc.complain])
        if senders.size > 1:  # replies of one minute reach the list in random order
            senders = self.rng.permutation(senders)
        ok = tr.offer(senders, minute)
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
            unable_fraction=unable,
        )
        self.minute = minute + 1

    def series(self) -> pd.DataFrame:
        """The per-minute observables of the minutes simulated so far (one row per minute)."""
        return self.recorder.frame().iloc[: self.minute]
