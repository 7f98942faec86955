"""The observation model: what a run shows of each reported quantity, where and when.

For every observation of a storm (:mod:`.observations`) :func:`observed_values` computes the
range of values the run shows, into summary columns ``obs_lo:<label>`` and
``obs_hi:<label>`` (and ``obs_mid:<label>`` for one inbox: the members' median):

* ``inbox`` / ``inbox_remove_me``: the central 90 % (``INBOX_QUANTILES``) of the per-member
  counts (all messages, or only "remove me") at the clock, exactly, from the transport's
  record (:mod:`replyall_storm.model.inboxes`): a report of one person's inbox is one draw
  from that distribution;
* ``mean_received``: the members' mean count at the clock;
* ``transport_events``: expansions of the list, deliveries and non-delivery reports by the
  end of the clock's minute (cumulative);
* ``delay``: the longest delay of ordinary mail at the clock (its database's delay).

A clock window gives the range the value takes within it (the lowest low end, the highest
high end). Clock times become minutes from the run's own first send
(``params.start_clock_h``), so a storm whose start is a calibrated nuisance is read at the
right minutes; a clock before the first send or past the run's horizon gives NaN (a miss).
Summary quantities (``kind = "summary"``) are read from the summary as they are.
"""

from __future__ import annotations

import math

import numpy as np

from replyall_storm.model.engines.base import RunResult
from replyall_storm.model.states import Action

from .observations import HI, LO, MID, Observation
from .storms import Storm, load_storms

INBOX_QUANTILES = (0.05, 0.95)
"""The per-member range a single reported inbox is compared with: its central 90 %."""
USERS_NEEDED = ("transport_events",)
"""Kinds whose value depends on what users do after the cut-off (non-delivery reports of
bounced reply-alls): a run must simulate users up to their clock (:func:`users_until`)."""


def clock_minutes(o: Observation, storm: Storm, start_clock_h: float) -> tuple[int, int] | None:
    """The observation's clock window as minutes after a first send at ``start_clock_h``."""
    if o.window is None:
        return None
    # o.window counts from the storm's earliest start; shift to this run's start
    shift = (storm.start_clock_h[0] - start_clock_h) * 60.0
    return (int(math.floor(o.window[0] + shift)), int(math.floor(o.window[1] + shift)))


def users_until(storm_id: str, params) -> int | None:
    """The minute from which users need not be simulated for ``storm_id``'s observations.

    The list accepts nothing from its cut-off on, so every observation but the ones in
    :data:`USERS_NEEDED` is decided by the transport alone after it; None when the list is
    never disabled.
    """
    if not math.isfinite(params.cutoff_min):
        return None
    storm = load_storms().storm(storm_id)
    needed = math.ceil(params.cutoff_min)
    from .observations import storm_observations

    for o in storm_observations(storm_id):
        window = clock_minutes(o, storm, params.start_clock_h)
        if o.kind in USERS_NEEDED and window is not None:
            needed = max(needed, window[1] + 1)
    return min(needed, params.horizon_min)


def observed_values(result: RunResult, storm_id: str) -> dict[str, float]:
    """Summary columns with what ``result`` shows of each observation of ``storm_id``."""
    from .observations import storm_observations

    storm = load_storms().storm(storm_id)
    params = result.setup.params
    series, record = result.series, result.transport
    horizon = len(series)
    cumulative_events = series["transport_events"].cumsum().to_numpy(dtype=float)
    out: dict[str, float] = {}
    for o in storm_observations(storm_id):
        if o.kind == "summary":
            continue
        window = clock_minutes(o, storm, params.start_clock_h)
        low = high = mid = math.nan
        if window is not None and 0 <= window[0] and window[1] < horizon:
            minutes = range(window[0], window[1] + 1)
            if o.kind in ("inbox", "inbox_remove_me"):
                kind = Action.REMOVE_ME if o.kind == "inbox_remove_me" else None
                qs = [record.quantiles(m, (INBOX_QUANTILES[0], 0.5, INBOX_QUANTILES[1]), kind)
                      for m in _sample(minutes)]
                low = float(min(q[0] for q in qs))
                high = float(max(q[2] for q in qs))
                mid = float(np.median([q[1] for q in qs]))
            else:
                column = {"mean_received": series["received_per_user"].to_numpy(float),
                          "transport_events": cumulative_events,
                          "delay": series["normal_delay_min"].to_numpy(float)}[o.kind]
                values = column[list(minutes)]
                low, high = float(values.min()), float(values.max())
        out[LO + o.key], out[HI + o.key] = low, high
        if o.kind in ("inbox", "inbox_remove_me"):
            out[MID + o.key] = mid
    return out


def _sample(minutes: range) -> list[int]:
    """The minutes of a window to look at: its ends and its middle.

    Per-member counts never fall, so the lowest low end is at the start and the highest high
    end at the end.
    """
    return sorted({minutes.start, (minutes.start + minutes.stop - 1) // 2, minutes.stop - 1})
