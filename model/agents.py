"""A user of the mail system as a Mesa agent: the readable, agent-by-agent reference.

Each :class:`User` sits on its own cell of a ``mesa.discrete_space.Network`` built from the
organisation graph, so its colleagues are ``self.cell.neighborhood.agents``. Every minute the
model steps all users in random order; a user whose check is due reads its new mail and
applies the shared decision rule (``model/decision.py``) to its own situation. Replies are
collected by the model and sent at the end of the minute, exactly as the fast engine does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import Cell, FixedAgent

from .checking import NEVER, draw_intervals
from .decision import decide
from .states import Action, State

if TYPE_CHECKING:
    from .engines.mesa_engine import StormModel


class User(FixedAgent):
    """One mail user (see module docstring).

    Attributes:
        state: the user's compartment.
        read: thread messages read so far (messages).
        replied: has sent at least one reply-all.
        visible_sender: colleagues can see that this user replied (set at the end of the
            minute of the first reply).
        next_check: minute of the next mail check (``NEVER`` once muted or off the list).
    """

    model: StormModel

    def __init__(
        self,
        model: StormModel,
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

    def peers(self) -> int:
        """Colleagues (graph neighbours) known to have sent a reply-all."""
        return sum(1 for other in self.cell.neighborhood.agents if other.visible_sender)

    def step(self) -> None:
        """Check mail if due this minute: read, decide, and schedule the next check."""
        model = self.model
        minute = model.minute
        if self.next_check != minute:
            return
        model.checks += 1
        if model.unable_fraction > 0.0 and model.rng.random() < model.unable_fraction:
            model.failed_checks += 1
        else:
            self.read_and_decide(minute)
        if self.state == State.MUTED:
            self.next_check = NEVER
        else:
            gap = draw_intervals(model.rng, np.array([self.scale]), minute, model.params)
            self.next_check = minute + int(gap[0])

    def read_and_decide(self, minute: int) -> None:
        """Read what has been delivered since the last check and apply the decision rule."""
        model = self.model
        received = int(model.transport.received(self.position))
        new = received - self.read
        if new <= 0:
            return
        self.read = received
        model.read_total += new
        before = self.state
        if self.state == State.UNAWARE:
            self.state = State.READING
        action = int(
            decide(
                np.array([new]),
                np.array([received]),
                np.array([self.peers()]),
                np.array([self.replied]),
                np.array([self.manager]),
                np.array([model.rng.random()]),
                model.params,
                model.engine.setup.audience_visible,
            )[0]
        )
        if action in (Action.REMOVE_ME, Action.COMPLAIN):
            if not self.replied:
                model.first_senders.append(self.user_id)
            self.replied = True
            self.state = State.REPLIED
            model.outbox[action].append(self.user_id)
        elif action == Action.MUTE:
            self.state = State.MUTED
        model.counts[before] -= 1
        model.counts[self.state] += 1
