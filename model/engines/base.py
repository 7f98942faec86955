"""What every engine offers ``simulate``, how a run is driven to its horizon, what it returns.

An engine is a scheduler of mail checks over the shared world (``model/world.py``); the
minute loop it runs (``model/minute_loop.py``) is the same for all of them. Both engines
(:class:`~.fast.FastEngine` and the Mesa :class:`~.mesa_engine.StormModel`) satisfy
:class:`Engine`: ``step()`` simulates one minute, ``loop`` is the run's minute loop (transport
and recorder), ``run_setup`` the set-up it started from, ``final_arrays()`` each user's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..drain import can_drain, drain
from ..inboxes import TransportRecord
from ..minute_loop import MinuteLoop
from ..observables import summarise
from ..run_setup import RunSetup
from ..world import StormSetup


@dataclass
class RunResult:
    """Everything one run yields."""

    series: pd.DataFrame  # one row per minute (see observables.COLUMNS)
    summary: dict[str, Any]  # one row of headline numbers
    setup: StormSetup  # the initial world
    final_state: np.ndarray  # int8 State of each user at the end
    read: np.ndarray  # messages read by each user at the end
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # minute -> State per user
    transport: TransportRecord | None = None  # every database's stream, minute by minute


class Engine(Protocol):
    """A scheduler ``simulate`` can run (see module docstring)."""

    loop: MinuteLoop
    run_setup: RunSetup

    def step(self) -> None:
        """Simulate one minute."""
        ...

    def final_arrays(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(state per user, read per user, senders reached, senders attempted)."""
        ...


def result_of(engine: Engine, snapshots: dict[int, np.ndarray] | None = None) -> RunResult:
    """The series and summary of the minutes ``engine`` has simulated."""
    state, read, reached, attempted = engine.final_arrays()
    loop = engine.loop
    series = loop.recorder.frame()
    read_by_members = read[loop.world.members]
    summary = summarise(series, loop.transport, read_by_members, reached, attempted)
    return RunResult(
        series=series,
        summary=summary,
        setup=loop.world,
        final_state=state.copy(),
        read=read.copy(),
        snapshots=snapshots or {},
        transport=TransportRecord.of(loop.transport, loop.recorder.streams[: loop.minute]),
    )


def run_to_horizon(
    engine: Engine,
    *,
    progress: bool = False,
    snapshot_minutes: tuple[int, ...] = (),
    desc: str = "simulating",
    bulk_drain: bool = True,
) -> RunResult:
    """Step ``engine`` up to ``horizon_min`` and return the series and the summary.

    Args:
        engine: a freshly built engine (or one part-way through its run).
        progress: show a progress bar (minutes simulated, rate, ETA).
        snapshot_minutes: minutes at whose end each user's state is kept.
        desc: the progress bar's label.
        bulk_drain: once only the transport is left (:func:`~..drain.can_drain`), run the
            remaining minutes in bulk (:func:`~..drain.drain`: the same results, bit for
            bit) if the engine allows it (``drains_in_bulk``: the fast engine does; the Mesa
            model collects its DataCollector's row every step, so it steps every minute).
    """
    loop = engine.loop
    wanted = set(snapshot_minutes)
    snapshots: dict[int, np.ndarray] = {}
    horizon = loop.params.horizon_min
    bulk = bulk_drain and bool(getattr(engine, "drains_in_bulk", False))
    with tqdm(
        total=horizon,
        initial=loop.minute,
        desc=desc,
        unit="min",
        disable=not progress,
        leave=False,
    ) as bar:
        while not loop.finished:
            minute = loop.minute
            engine.step()
            if minute in wanted:
                snapshots[minute] = engine.final_arrays()[0].copy()
            bar.update(1)
            if bulk and can_drain(loop):
                first = loop.minute
                bar.update(drain(loop, engine))
                state = engine.final_arrays()[0]  # nobody's state changes while draining
                snapshots.update({m: state.copy() for m in wanted
                                  if first <= m < horizon})
    return result_of(engine, snapshots)
