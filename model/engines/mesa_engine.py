"""The Mesa engine: one ``User`` agent per user, stepped agent by agent each minute.

This is the reference implementation a modeller reads and watches in Jupyter
(:class:`StormModel` is an ordinary ``mesa.Model``: ``model.step()`` simulates one minute).
It costs a Python call per user per minute, so it suits organisations up to a few tens of
thousands of users; :func:`check_size` refuses sizes where a run would take hours.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network

from ..agents import User
from ..org import Organisation
from ..parameters import StormParams
from ..states import Action
from ..world import StormSetup
from . import check_size
from .base import Engine, MinuteChecks


class StormModel(mesa.Model):
    """The storm as a Mesa model: users on the organisation network, one step per minute."""

    def __init__(self, engine: MesaEngine) -> None:
        super().__init__(rng=engine.rng)
        setup = engine.setup
        self.engine = engine
        self.params = setup.params
        self.transport = engine.transport
        self.minute = 0
        self.unable_fraction = 0.0
        self.read_total = 0
        self.checks = 0
        self.failed_checks = 0
        self.counts = np.zeros(4, dtype=np.int64)
        self.counts[0] = setup.org.n_users
        self.outbox: dict[int, list[int]] = {Action.REMOVE_ME: [], Action.COMPLAIN: []}
        self.first_senders: list[int] = []
        self.grid = Network(setup.org.to_networkx(), random=self.random)
        org = setup.org
        self.users: list[User] = [
            User(
                self,
                self.grid._cells[i],
                user_id=i,
                manager=bool(org.is_manager[i]),
                position=int(setup.position[i]),
                scale=float(setup.scales[i]),
                first_check=int(setup.first_check[i]),
            )
            for i in range(org.n_users)
        ]
        self.engine.start()

    @classmethod
    def from_params(cls, params: StormParams | None = None, *, seed: int = 0,
                    org: Organisation | None = None) -> StormModel:
        """A ready-to-step model from parameters and a seed, as ``simulate`` would build it.

        For Jupyter and SolaraViz: ``model = StormModel.from_params(params, seed=1)`` then
        ``model.step()`` (one minute) until ``model.running`` is False; the per-minute
        observables so far are ``model.series()``.
        """
        from ..run import organisation, streams
        from ..world import set_up

        params = (params or StormParams()).validate()
        check_size(params.n_users, params.horizon_min)
        org_seed, sim_seq = streams(seed)
        if org is None:
            org, _ = organisation(params, org_seed, cache=False)
        rng = np.random.default_rng(sim_seq)
        return MesaEngine(set_up(params, org, rng), rng).model

    def step(self) -> None:
        """Simulate one minute; ``running`` turns False at the horizon."""
        if self.minute >= self.params.horizon_min:
            self.running = False
            return
        self.engine.advance(self.minute)
        self.minute += 1
        self.running = self.minute < self.params.horizon_min

    def series(self) -> pd.DataFrame:
        """The per-minute observables of the minutes simulated so far."""
        return self.engine.recorder.frame().iloc[: self.minute]

    def release(self) -> None:
        """Free what Mesa keeps per model (agent ids, cell caches) once the run is over."""
        mesa.Agent._ids.pop(self, None)
        for cell in self.grid.all_cells:
            cell._clear_cache()


class MesaEngine(Engine):
    """Engine interface around :class:`StormModel`."""

    name = "mesa"

    def __init__(self, setup: StormSetup, rng: np.random.Generator) -> None:
        check_size(setup.org.n_users, setup.params.horizon_min)
        super().__init__(setup, rng)
        self.model = StormModel(self)

    def start(self) -> None:
        """The original message goes out once, when the model is built."""
        if self.transport.accepted == 0:
            super().start()

    def check_mail(self, minute: int, unable_fraction: float) -> MinuteChecks:
        """Step every agent in random order; due agents check mail."""
        m = self.model
        m.minute, m.unable_fraction = minute, unable_fraction
        m.checks = m.failed_checks = 0
        for box in m.outbox.values():
            box.clear()
        m.first_senders.clear()
        m.agents.shuffle_do("step")
        as_array = lambda ids: np.asarray(ids, dtype=np.int64)  # noqa: E731
        return MinuteChecks(
            remove=as_array(m.outbox[Action.REMOVE_ME]),
            complain=as_array(m.outbox[Action.COMPLAIN]),
            first_senders=as_array(m.first_senders),
            checks=m.checks,
            failed=m.failed_checks,
        )

    def reveal_senders(self, users: np.ndarray) -> None:
        """First-time senders become visible to their colleagues."""
        for u in users:
            self.model.users[u].visible_sender = True

    def note_reached(self, users: np.ndarray) -> None:
        """Flag users whose reply-all reached the list."""
        for u in users:
            self.model.users[u].reached = True

    def state_counts(self) -> np.ndarray:
        """Users per State."""
        return self.model.counts.copy()

    def read_total(self) -> int:
        """Messages read so far, summed over users."""
        return self.model.read_total

    def final_arrays(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(state, read, senders reached, senders attempted) gathered from the agents."""
        users = self.model.users
        state = np.fromiter((u.state for u in users), dtype=np.int8, count=len(users))
        read = np.fromiter((u.read for u in users), dtype=np.int64, count=len(users))
        return (state, read, sum(u.reached for u in users), sum(u.replied for u in users))

    def run(self, progress: bool = False, snapshot_minutes: tuple[int, ...] = ()):
        """Simulate, then release Mesa's per-model caches."""
        try:
            return super().run(progress, snapshot_minutes)
        finally:
            self.model.release()
