"""The minute loop every engine shares, and what a run returns.

One simulated minute, in this order:

1. If the cut-off time has come, administrators disable the list (and purge its queue if the
   scenario says so).
2. Users due to check mail do so (the engine's job): each check fails with the transport's
   current ``unable_fraction``; otherwise the user reads what has been delivered and applies
   the decision rule. Decisions use the world as it was at the start of the minute.
3. This minute's reply-alls are offered to the list: accepted while it is active and every
   mitigation policy admits them (``model/policies.py``), else bounced.
4. Users who replied for the first time become visible to their graph neighbours (peers).
5. The transport makes up to ``capacity_per_min`` deliveries.
6. The recorder stores the minute's observables.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..observables import Recorder, summarise
from ..transport import Transport
from ..world import StormSetup


@dataclass
class MinuteChecks:
    """What the users who checked mail in one minute did."""

    remove: np.ndarray  # user ids sending "remove me"
    complain: np.ndarray  # user ids sending a complaint
    first_senders: np.ndarray  # user ids replying for the first time
    checks: int  # checks attempted
    failed: int  # checks that failed (service degraded)


@dataclass
class RunResult:
    """Everything one run yields."""

    series: pd.DataFrame  # one row per minute (see observables.COLUMNS)
    summary: dict[str, Any]  # one row of headline numbers
    setup: StormSetup
    final_state: np.ndarray  # int8 State of each user at the end
    read: np.ndarray  # messages read by each user at the end
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # minute -> State per user


class Engine(ABC):
    """A scheduler of mail checks over the shared world; subclasses implement the checks."""

    name = "base"

    def __init__(self, setup: StormSetup, rng: np.random.Generator) -> None:
        self.setup = setup
        self.params = setup.params
        self.rng = rng
        self.transport = Transport(setup.list_size, setup.params)
        self.recorder = Recorder(
            setup.params.horizon_min, setup.list_size, setup.params.start_clock_h
        )

    @abstractmethod
    def check_mail(self, minute: int, unable_fraction: float) -> MinuteChecks:
        """Let the users due at ``minute`` check mail and decide."""

    @abstractmethod
    def reveal_senders(self, users: np.ndarray) -> None:
        """Make first-time senders ``users`` visible to their graph neighbours."""

    @abstractmethod
    def note_reached(self, users: np.ndarray) -> None:
        """Remember that ``users``' reply-alls reached the list."""

    @abstractmethod
    def state_counts(self) -> np.ndarray:
        """Users per State (length 4, sums to n_users)."""

    @abstractmethod
    def read_total(self) -> int:
        """Messages read so far, summed over users."""

    @abstractmethod
    def final_arrays(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(state per user, read per user, senders reached, senders attempted)."""

    def start(self) -> None:
        """Minute 0 begins with the original message on the list."""
        self.transport.submit(1, 0)

    def advance(self, minute: int) -> None:
        """Simulate one minute (steps 1-6 of the module docstring)."""
        params, tr = self.params, self.transport
        if tr.list_active and minute >= params.cutoff_min:
            tr.disable(minute, purge=params.purge_at_cutoff)
        unable = tr.unable_fraction()
        mc = self.check_mail(minute, unable)
        senders = np.concatenate([mc.remove, mc.complain])
        if senders.size > 1:  # replies of one minute reach the list in random order
            senders = self.rng.permutation(senders)
        ok = tr.offer(senders, minute)
        accepted = int(ok.sum())
        if accepted:
            self.note_reached(senders[ok])
        if mc.first_senders.size:
            self.reveal_senders(mc.first_senders)
        delivered = tr.deliver()
        self.recorder.record(
            minute,
            sent_remove=mc.remove.size,
            sent_complain=mc.complain.size,
            accepted=accepted,
            bounced=senders.size - accepted,
            delivered=delivered,
            transport=tr,
            read_total=self.read_total(),
            counts=self.state_counts(),
            checks=mc.checks,
            failed_checks=mc.failed,
            unable_fraction=unable,
        )

    def result(self, snapshots: dict[int, np.ndarray] | None = None) -> RunResult:
        """The series and summary of the minutes simulated."""
        state, read, reached, attempted = self.final_arrays()
        series = self.recorder.frame()
        summary = summarise(series, self.transport, read[self.setup.members], reached, attempted)
        return RunResult(
            series=series,
            summary=summary,
            setup=self.setup,
            final_state=state.copy(),
            read=read.copy(),
            snapshots=snapshots or {},
        )

    def run(self, progress: bool = False, snapshot_minutes: tuple[int, ...] = ()) -> RunResult:
        """Simulate ``horizon_min`` minutes and return the series and the summary.

        Args:
            progress: show a progress bar (minutes simulated, rate, ETA).
            snapshot_minutes: minutes at whose end each user's state is kept.
        """
        snapshots: dict[int, np.ndarray] = {}
        wanted = set(snapshot_minutes)
        self.start()
        with tqdm(
            total=self.params.horizon_min,
            desc=f"{self.name} engine",
            unit="min",
            disable=not progress,
            leave=False,
        ) as bar:
            for minute in range(self.params.horizon_min):
                self.advance(minute)
                if minute in wanted:
                    snapshots[minute] = self.final_arrays()[0].copy()
                bar.update(1)
        return self.result(snapshots)
