"""The fast engine: the decision rule applied to every user who checks mail this minute at once.

Users live in NumPy arrays (state, messages read, neighbours who replied, next check). A
calendar maps each minute to the users due to check then, so a minute costs time in
proportion to the checks made, not to the population: at 840,000 users a simulated day holds
about 20 million checks. Peer counts change only when a user replies for the first time, by
walking that user's row of the CSR adjacency (a few hundred senders per storm), instead of a
sparse product over the whole graph each minute.

The engine is a :class:`~..minute_loop.Scheduler`: the minute loop (``model/minute_loop.py``)
owns the transport and the order of events in a minute, and calls :meth:`FastEngine.check_mail`
for the checks. ``engine.step()`` simulates one minute.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..checking import draw_intervals
from ..decision import RuleInputs, decide_for
from ..minute_loop import MinuteChecks, MinuteLoop
from ..run_setup import RunSetup
from ..states import Action, State

_EMPTY = np.empty(0, dtype=np.int64)


class FastEngine:
    """Vectorised scheduler over the shared world (see module docstring).

    Args:
        run: the run's set-up (:func:`~..run_setup.prepare_run`); the engine draws from its
            generator.
        users_until: from this minute on nobody checks mail (see ``MinuteLoop``).
    """

    name = "fast"
    drains_in_bulk = True  # run_to_horizon may run the transport-only tail in bulk

    def __init__(self, run: RunSetup, users_until: int | None = None) -> None:
        self.run_setup = run
        self.world = run.world
        self.params = run.params
        self.rng = run.rng
        self.loop = MinuteLoop(run.world, run.rng, users_until)
        n = run.org.n_users
        self.state = np.full(n, State.UNAWARE, dtype=np.int8)
        self.read = np.zeros(n, dtype=np.int64)
        self.peers = np.zeros(n, dtype=np.int32)
        self.replied = np.zeros(n, dtype=bool)
        self.reached = np.zeros(n, dtype=bool)
        self._read_total = 0
        self._counts = np.zeros(len(State), dtype=np.int64)
        self._counts[State.UNAWARE] = n
        self.calendar: defaultdict[int, list[np.ndarray]] = defaultdict(list)
        self._schedule(np.arange(n, dtype=np.int64), run.world.first_check)

    def step(self) -> None:
        """Simulate one minute."""
        self.loop.step(self)

    def _schedule(self, users: np.ndarray, minutes: np.ndarray) -> None:
        """File ``users`` under the minutes of their next checks, in a stable order.

        A stable sort by minute (a radix sort on 16-bit offsets when the minutes span less
        than 65,536: several times faster than a comparison sort) groups the users; each
        minute's group is appended to that minute's list of chunks.
        """
        keep = minutes < self.params.horizon_min
        users, minutes = users[keep], minutes[keep]
        if users.size == 0:
            return
        first = minutes.min()
        offset = minutes - first
        if offset.max() < 65_536:
            order = np.argsort(offset.astype(np.uint16), kind="stable")
        else:
            order = np.argsort(minutes, kind="stable")
        users, minutes = users[order], minutes[order]
        starts = np.flatnonzero(np.r_[True, minutes[1:] != minutes[:-1]])
        ends = np.r_[starts[1:], users.size]
        calendar = self.calendar
        for a, b, m in zip(starts.tolist(), ends.tolist(), minutes[starts].tolist(),
                           strict=True):
            calendar[m].append(users[a:b])

    def check_mail(self, minute: int, unable: np.ndarray) -> MinuteChecks:
        """Checks of every user due at ``minute`` (see the module docstring)."""
        chunks = self.calendar.pop(minute, None)
        if not chunks:
            return MinuteChecks(_EMPTY, _EMPTY, _EMPTY, 0, 0)
        due = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        rng, world = self.rng, self.world
        ok = due
        if unable.max() > 0.0:
            ok = due[rng.random(due.size) >= self.loop.failure_chance(due, unable)]
        received = self.loop.received(ok)
        new = received - self.read[ok]
        fresh = new > 0
        readers, new, seen = ok[fresh], new[fresh], received[fresh]
        inputs = self.rule_inputs(readers, new, seen)
        self.read[readers] = seen
        self._read_total += int(new.sum())
        state = self.state[readers]
        was = state.copy()
        state[state == State.UNAWARE] = State.READING
        action = decide_for(inputs, rng.random(readers.size), self.params)
        sending = (action == Action.REMOVE_ME) | (action == Action.COMPLAIN)
        state[sending] = State.REPLIED
        state[action == Action.MUTE] = State.MUTED
        self.state[readers] = state
        np.add.at(self._counts, was, -1)
        np.add.at(self._counts, state, 1)
        first = readers[sending & ~self.replied[readers]]
        self.replied[readers[sending]] = True
        again = due[self.state[due] != State.MUTED]
        self._schedule(
            again, minute + draw_intervals(rng, world.scales[again], minute, self.params)
        )
        return MinuteChecks(
            remove=readers[action == Action.REMOVE_ME],
            complain=readers[action == Action.COMPLAIN],
            first_senders=first,
            checks=int(due.size),
            failed=int(due.size - ok.size),
        )

    def rule_inputs(self, readers: np.ndarray, new: np.ndarray, seen: np.ndarray) -> RuleInputs:
        """What the rule sees of ``readers``, reading ``new`` messages (``seen`` in all)."""
        return RuleInputs(
            new=new,
            seen=seen,
            peers=self.peers[readers],
            replied=self.replied[readers],
            manager=self.world.org.is_manager[readers],
            audience_visible=self.world.audience_visible,
            list_size=self.world.list_size,
            weighted=self.loop.relevance(readers, seen - new, seen),
        )

    def reveal_senders(self, users: np.ndarray) -> None:
        """Add one to the peer count of every neighbour of each first-time sender."""
        org = self.world.org
        for u in users:
            self.peers[org.indices[org.indptr[u] : org.indptr[u + 1]]] += 1

    def note_reached(self, users: np.ndarray) -> None:
        """Flag users whose reply-all reached the list."""
        self.reached[users] = True

    def state_counts(self) -> np.ndarray:
        """Users per State, kept up to date incrementally."""
        return self._counts.copy()

    def read_total(self) -> int:
        """Messages read so far, summed over users."""
        return self._read_total

    def final_arrays(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(state per user, read per user, senders reached, senders attempted)."""
        return self.state, self.read, int(self.reached.sum()), int(self.replied.sum())
