"""The Mesa engine: :class:`StormModel`, one ``User`` agent per user, one step per minute.

This is the reference implementation a modeller reads and watches in Jupyter or the app
(``notebooks/app.py``), and what ``simulate(..., engine="mesa")`` runs::

    model = StormModel(n_users=300, seed=1)       # the "small" scenario at 300 users
    model.run_for(60)                              # or: for _ in range(60): model.step()
    model.datacollector.get_model_vars_dataframe() # one row per minute simulated
    model.run_model()                              # on to the horizon (running turns False)

The model sets itself up with :func:`~..run_setup.prepare_run` (the organisation, the initial
world and the random streams, exactly as the fast engine's runs), places a ``User`` on each
cell of a ``mesa.discrete_space.Network`` of the organisation graph, and each ``step()`` runs
the shared minute loop (``model/minute_loop.py``), which calls :meth:`StormModel.check_mail`
to step every agent in random order. It costs a Python call per user per minute, so it suits
organisations up to a few tens of thousands of users; :func:`~.check_size` refuses sizes where
a run would take hours.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network

from ..agents import MailTally, User
from ..errors import ParameterError
from ..minute_loop import MinuteChecks, MinuteLoop
from ..observables import COLUMNS
from ..org import Organisation, OrgSpec
from ..parameters import StormParams
from ..run_setup import prepare_run
from ..scenarios import Scenario, get_scenario
from . import check_size

# Mesa >= 3.5 gives a Network a spring layout unless told otherwise: O(n^2) work the model
# never uses (the app caches its own layout). Mesa 3.3 has no such argument.
_NO_LAYOUT = {"layout": None} if "layout" in inspect.signature(Network).parameters else {}


def _reporter(column: str):
    """A DataCollector model reporter: ``column`` at the end of the minute just simulated."""

    def report(model: StormModel) -> float | int | bool:
        return model.loop.recorder.value(column, model.loop.minute - 1)

    report.__name__ = column
    return report


def _root_seed(seed: Any, rng: Any) -> int | np.random.SeedSequence:
    """The run's root seed from Mesa's ``rng`` or this model's ``seed`` (one of the two)."""
    if rng is not None:
        if seed not in (None, 0) and seed != rng:
            raise ParameterError("rng", rng, f"pass either seed or rng, not both (seed={seed})")
        seed = rng
    if seed is None:
        return np.random.SeedSequence()  # fresh entropy, kept in model.run_setup.sim_seed
    if isinstance(seed, np.random.Generator | np.random.BitGenerator):
        raise ParameterError(
            "seed",
            type(seed).__name__,
            "must be a non-negative integer or a numpy SeedSequence (the run's streams are "
            "derived from it)",
        )
    return seed


class StormModel(mesa.Model):
    """The storm as a Mesa model: users on the organisation network, one step per minute.

    Args:
        n_users: users in the organisation (100 to 200,000 for this engine).
        scenario: the named scenario the other parameters start from (``small``, ``trust``,
            ``nhs2016``), or a :class:`~..scenarios.Scenario`.
        seed: root of every random draw (an int or a ``numpy.random.SeedSequence``; None for
            fresh entropy); the same seed gives the same run as ``simulate(seed=...)``.
        rng: Mesa's name for ``seed`` (pass one of the two).
        org: an organisation already built (must have ``n_users`` users).
        org_seed: seed of the organisation graph (default: derived from the seed).
        org_spec: organisation shape (default ``OrgSpec()``).
        cache: keep organisations on disk between runs (``REPLYALL_CACHE``).
        **kwargs: any other field of :class:`~..parameters.StormParams`, e.g.
            ``remove_rate=1.2e-2, cutoff_min=60``.

    Attributes:
        params: the validated parameters; ``run_setup`` the run's set-up; ``world`` its initial
            world; ``loop`` the minute loop (``loop.transport``: the list's queue);
            ``users`` the agents by user id; ``grid`` the Mesa network; ``datacollector`` the
            per-minute observables (one row per minute simulated, the columns of
            ``observables.COLUMNS``, equal to :meth:`series`).
    """

    def __init__(
        self,
        n_users: int = 300,
        scenario: str | Scenario = "small",
        seed: int | np.random.SeedSequence | None = 0,
        *,
        rng: int | np.random.SeedSequence | None = None,
        org: Organisation | None = None,
        org_seed: int | None = None,
        org_spec: OrgSpec | None = None,
        cache: bool = False,
        users_until: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(scenario, str | Scenario):
            # Mesa >= 3.5's SolaraViz passes its own (empty) mesa Scenario on Reset: take its
            # entries as keyword parameters and its rng as the seed.
            entries = dict(scenario)
            rng = rng if rng is not None else entries.pop("rng", None)
            entries.pop("rng", None)
            kwargs = {**entries, **kwargs}
            scenario = "small"
        base = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        params = base.params(n_users=n_users, **kwargs)
        check_size(params.n_users, params.horizon_min)
        run = prepare_run(
            params,
            _root_seed(seed, rng),
            org=org,
            org_seed=org_seed,
            org_spec=org_spec,
            cache=cache,
        )
        super().__init__(rng=run.rng)
        self.run_setup = run
        self.params = run.params
        self.world = run.world
        self.loop = MinuteLoop(run.world, run.rng, users_until)
        self.tally = MailTally(run.org.n_users)
        self.unable = np.zeros(1)  # share of checks failing on each mailbox database
        self.grid = Network(run.org.to_networkx(), random=self.random, **_NO_LAYOUT)
        world, is_manager = run.world, run.org.is_manager
        self.users: list[User] = [
            User(
                self,
                self.grid[i],
                user_id=i,
                manager=bool(is_manager[i]),
                position=int(world.position[i]),
                scale=float(world.scales[i]),
                first_check=int(world.first_check[i]),
            )
            for i in range(run.org.n_users)
        ]
        self.datacollector = mesa.DataCollector(
            model_reporters={column: _reporter(column) for column in COLUMNS}
        )

    @classmethod
    def from_params(
        cls,
        params: StormParams | None = None,
        *,
        seed: int | np.random.SeedSequence | None = 0,
        org: Organisation | None = None,
        org_seed: int | None = None,
        org_spec: OrgSpec | None = None,
        cache: bool = False,
        users_until: int | None = None,
    ) -> StormModel:
        """The model for a full set of parameters (what ``simulate(engine="mesa")`` runs)."""
        params = (params or StormParams()).validate()
        fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
        return cls(seed=seed, org=org, org_seed=org_seed, org_spec=org_spec, cache=cache,
                   users_until=users_until, **fields)

    # --- what Mesa users call -------------------------------------------------------------
    @property
    def minute(self) -> int:
        """The minute being (or next to be) simulated; equals the minutes simulated so far."""
        return self.loop.minute

    def step(self) -> None:
        """Simulate one minute; ``running`` turns False at the horizon."""
        if self.loop.finished:
            self.running = False
            return
        self.loop.step(self)
        self.datacollector.collect(self)
        self.running = not self.loop.finished

    def run_for(self, minutes: int) -> None:
        """Simulate the next ``minutes`` minutes (fewer if the horizon comes first)."""
        for _ in range(int(minutes)):
            if not self.running:
                break
            self.step()

    def series(self) -> pd.DataFrame:
        """The per-minute observables of the minutes simulated so far (``observables.COLUMNS``)."""
        return self.loop.series()

    def release(self) -> None:
        """Remove every agent and the network once the run is over (it cannot go on).

        Mesa 3.3 keeps each model alive through ``Agent``'s class-level id counter, so a
        process running many models (a sweep, the test suite) frees their agents here.
        """
        self.remove_all_agents()
        self.users = []
        self.grid = None
        self.running = False

    # --- what the minute loop calls (model/minute_loop.py: Scheduler) ---------------------
    def check_mail(self, minute: int, unable: np.ndarray) -> MinuteChecks:
        """Step every agent in random order; the agents due at ``minute`` check mail."""
        self.unable = unable
        self.tally.new_minute()
        self.agents.shuffle_do("step")
        return self.tally.minute_checks()

    def reveal_senders(self, users: np.ndarray) -> None:
        """First-time senders become visible to their colleagues."""
        for u in users:
            self.users[u].visible_sender = True

    def note_reached(self, users: np.ndarray) -> None:
        """Flag users whose reply-all reached the list."""
        for u in users:
            self.users[u].reached = True

    def state_counts(self) -> np.ndarray:
        """Users per State."""
        return self.tally.counts.copy()

    def read_total(self) -> int:
        """Messages read so far, summed over users."""
        return self.tally.read_total

    def final_arrays(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(state, read, senders reached, senders attempted) gathered from the agents."""
        users = self.users
        state = np.fromiter((u.state for u in users), dtype=np.int8, count=len(users))
        read = np.fromiter((u.read for u in users), dtype=np.int64, count=len(users))
        return (state, read, sum(u.reached for u in users), sum(u.replied for u in users))
