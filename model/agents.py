"""A user of the mail system as a Mesa agent: the readable, agent-by-agent reference.

Each :class:`User` sits on its own cell of a ``mesa.discrete_space.Network`` built from the
organisation graph, so its colleagues are the agents on the cells its cell is connected to
(``self.cell.connections``, read directly rather than through ``cell.neighborhood``, whose
cache keeps every model's cells alive in Mesa 3.3). Every minute the model steps all users in
random order; a user whose check is due reads its new mail and applies the shared decision
rule (``model/decision.py``) to its own situation. Replies are collected in the model's
:class:`MailTally` and sent at the end of the minute by the minute loop
(``model/minute_loop.py``), exactly as the fast engine does.

The agent needs of its model (``model/engines/mesa_engine.py``): ``minute`` (the minute being
simulated), ``unable`` (the share of failing checks per mailbox database), ``rng``, ``params``,
``loop`` (for the transport), ``world`` and ``tally``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from mesa.discrete_space import Cell, FixedAgent

from .checking import NEVER, draw_intervals
from .decision import RuleInputs, decide_for
from .minute_loop import MinuteChecks
from .states import Action, State


class MailTally:
    """What the agents did: this minute's checks and replies, and running totals.

    Args:
        n_users: users in the organisation (all start ``UNAWARE``).
    """

    def __init__(self, n_users: int) -> None:
        self.counts = np.zeros(len(State), dtype=np.int64)  # users per State
        self.counts[State.UNAWARE] = n_users
        self.read_total = 0  # messages read so far, summed over users
        self.new_minute()

    def new_minute(self) -> None:
        """Forget the previous minute's checks and replies."""
        self.checks = 0
        self.failed = 0
        self.outbox: dict[int, list[int]] = {Action.REMOVE_ME: [], Action.COMPLAIN: []}
        self.first_senders: list[int] = []

    def minute_checks(self) -> MinuteChecks:
        """The checks and replies of the current minute, for the minute loop."""
        as_array = lambda ids: np.asarray(ids, dtype=np.int64)  # noqa: E731
        return MinuteChecks(
            remove=as_array(self.outbox[Action.REMOVE_ME]),
            complain=as_array(self.outbox[Action.COMPLAIN]),
            first_senders=as_array(self.first_senders),
            checks=self.checks,
            failed=self.failed,
        )


class User(FixedAgent):
    """One mail user (see module docstring).

    Attributes:
        state: the user's compartment.
        read: thread messages read so far (messages).
        replied: has sent at least one reply-all.
        reached: at least one of the user's reply-alls was accepted by the list.
        visible_sender: colleagues can see that this user replied (set at the end of the
            minute of the first reply).
        next_check: minute of the next mail check (``NEVER`` once muted or off the list).
    """

    def __init__(
        self,
        model,
        cell: Cell,
        *,
        user_id: int,
        manager: bool,
        position: int,
        scale: float,
        first_check: int,
    ) -> None:
        super().__init__(model)
        self.cell = cell
        self.user_id = user_id
        self.manager = manager
        self.position = position
        self.scale = scale
        self.next_check = first_check
        self.state = State.UNAWARE
        self.read = 0
        self.replied = False
        self.reached = False
        self.visible_sender = False

    def colleagues(self) -> Iterator[User]:
        """The users on the cells connected to this user's cell (graph neighbours)."""
        for cell in self.cell.connections.values():
            yield from cell.agents

    def peers(self) -> int:
        """Colleagues known to have sent a reply-all."""
        return sum(1 for other in self.colleagues() if other.visible_sender)

    def step(self) -> None:
        """Check mail if due this minute: read, decide, and schedule the next check."""
        model = self.model
        minute = model.minute
        if self.next_check != minute:
            return
        tally = model.tally
        tally.checks += 1
        fail = float(model.loop.failure_chance(self.user_id, model.unable))
        if fail > 0.0 and model.rng.random() < fail:
            tally.failed += 1
        else:
            self.read_and_decide()
        if self.state == State.MUTED:
            self.next_check = NEVER
        else:
            gap = draw_intervals(model.rng, np.array([self.scale]), minute, model.params)
            self.next_check = minute + int(gap[0])

    def rule_inputs(self, new: int, seen: int) -> RuleInputs:
        """What the decision rule sees of this user, reading ``new`` messages (``seen`` in all)."""
        return RuleInputs(
            new=np.array([new]),
            seen=np.array([seen]),
            peers=np.array([self.peers()]),
            replied=np.array([self.replied]),
            manager=np.array([self.manager]),
            audience_visible=self.model.world.audience_visible,
            list_size=self.model.world.list_size,
            weighted=self.model.loop.relevance(np.array([self.user_id]), np.array([seen - new]),
                                               np.array([seen])),
        )

    def read_and_decide(self) -> None:
        """Read what has been delivered since the last check and apply the decision rule."""
        model = self.model
        tally = model.tally
        received = int(model.loop.transport.received(self.position))
        new = received - self.read
        if new <= 0:
            return
        self.read = received
        tally.read_total += new
        before = self.state
        if self.state == State.UNAWARE:
            self.state = State.READING
        inputs = self.rule_inputs(new, received)
        action = int(decide_for(inputs, np.array([model.rng.random()]), model.params)[0])
        if action in (Action.REMOVE_ME, Action.COMPLAIN):
            if not self.replied:
                tally.first_senders.append(self.user_id)
            self.replied = True
            self.state = State.REPLIED
            tally.outbox[action].append(self.user_id)
        elif action == Action.MUTE:
            self.state = State.MUTED
        tally.counts[before] -= 1
        tally.counts[self.state] += 1
