"""What a run reports: a per-minute series and a one-row summary.

Both engines fill a :class:`Recorder` once per simulated minute with the same columns, so
their outputs can be compared column by column. Units: counts are messages or users, times
are minutes after the first send, ``received_per_user`` and ``read_per_user`` are cumulative
means over the list's members (messages per user).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .states import STATE_NAMES
from .transport import Transport

COLUMNS = [
    "sent_remove",
    "sent_complain",
    "accepted",
    "bounced",
    "delivered",
    "backlog",
    "delay_min",
    "normal_delay_min",
    "received_per_user",
    "read_per_user",
    *STATE_NAMES,
    "checks",
    "failed_checks",
    "unable_fraction",
    "list_active",
    "transport_events",
]

FLOAT_COLUMNS = (
    "delay_min",
    "normal_delay_min",
    "received_per_user",
    "read_per_user",
    "unable_fraction",
)
"""Columns of float values (the others count messages or users, and ``list_active``)."""


class Recorder:
    """Per-minute observables, preallocated for ``horizon`` minutes.

    Besides the series it keeps each mailbox database's stream counter at the end of every
    minute (``streams``, ``(horizon, databases)``), from which :mod:`.inboxes` tells what
    every inbox held at any minute. ``transport_events`` counts what the transport handled in
    the minute: the list's expansion of each accepted message into one copy per member, the
    deliveries, and a non-delivery report to the sender of each bounced reply-all.
    """

    def __init__(self, horizon: int, list_size: int, start_clock_h: float,
                 n_databases: int = 1) -> None:
        self.horizon = horizon
        self.list_size = list_size
        self.start_clock_h = start_clock_h
        self.data = {c: np.zeros(horizon, dtype=np.float64) for c in COLUMNS}
        self.streams = np.zeros((horizon, n_databases), dtype=np.int64)
        self._expanded = 0  # messages the list had expanded by the previous minute

    def record(
        self,
        minute: int,
        *,
        sent_remove: int,
        sent_complain: int,
        accepted: int,
        bounced: int,
        delivered: int,
        transport: Transport,
        read_total: int,
        counts: np.ndarray,
        checks: int,
        failed_checks: int,
        unable_fraction: float,
    ) -> None:
        """Store minute ``minute``'s values (``counts``: users per state, in State order)."""
        d = self.data
        d["sent_remove"][minute] = sent_remove
        d["sent_complain"][minute] = sent_complain
        d["accepted"][minute] = accepted
        d["bounced"][minute] = bounced
        d["delivered"][minute] = delivered
        d["backlog"][minute] = transport.backlog
        d["delay_min"][minute] = transport.delay(minute)
        d["normal_delay_min"][minute] = transport.normal_delay(minute)
        d["received_per_user"][minute] = transport.delivered / self.list_size
        d["read_per_user"][minute] = read_total / self.list_size
        for name, value in zip(STATE_NAMES, counts, strict=True):
            d[name][minute] = value
        d["checks"][minute] = checks
        d["failed_checks"][minute] = failed_checks
        d["unable_fraction"][minute] = unable_fraction
        d["list_active"][minute] = transport.list_active
        expanded = (transport.accepted - self._expanded) * self.list_size
        self._expanded = transport.accepted
        d["transport_events"][minute] = expanded + delivered + bounced
        self.streams[minute] = transport.streams

    def value(self, column: str, minute: int) -> float | int | bool:
        """One observable at the end of ``minute``, typed as in :meth:`frame`."""
        value = self.data[column][minute]
        if column == "list_active":
            return bool(value)
        return float(value) if column in FLOAT_COLUMNS else int(value)

    def frame(self) -> pd.DataFrame:
        """The series as a DataFrame, one row per minute, with the clock time in hours."""
        df = pd.DataFrame({"minute": np.arange(self.horizon, dtype=np.int64)})
        df["clock_h"] = (self.start_clock_h + df["minute"] / 60.0) % 24.0
        for c in COLUMNS:
            df[c] = self.data[c]
        ints = [c for c in COLUMNS if c not in FLOAT_COLUMNS]
        df[ints] = df[ints].astype(np.int64)
        df["list_active"] = df["list_active"].astype(bool)
        return df


NORMAL_DELAY_MIN = 15.0
"""Ordinary mail delayed by more than this (minutes) counts as a disrupted service."""


def service_restored_minute(series: pd.DataFrame) -> float:
    """When ordinary service came back (minutes after the first send).

    The first minute from which, to the end of the run, no check fails and ordinary mail is
    delayed by at most ``NORMAL_DELAY_MIN``; 0 if the service was never disrupted, NaN if it
    was not restored within the run.
    """
    disrupted = (
        (series["unable_fraction"] > 0) | (series["normal_delay_min"] > NORMAL_DELAY_MIN)
    ).to_numpy()
    if not disrupted.any():
        return 0.0
    last = int(np.flatnonzero(disrupted)[-1])
    return float(last + 1) if last + 1 < len(series) else math.nan


def summarise(
    series: pd.DataFrame,
    transport: Transport,
    read: np.ndarray,
    senders_reached: int,
    senders_attempted: int,
) -> dict[str, Any]:
    """One row of headline numbers for a run.

    Args:
        series: the per-minute frame from :meth:`Recorder.frame`.
        transport: the transport at the end of the run.
        read: messages read by each list member at the end (messages).
        senders_reached: users with at least one reply-all accepted by the list.
        senders_attempted: users who tried to reply all (bounced ones included).
    """
    L = transport.list_size
    accepted = series["accepted"].to_numpy()
    backlog = series["backlog"].to_numpy()
    minutes = series["minute"].to_numpy()
    sent = series["sent_remove"].to_numpy() + series["sent_complain"].to_numpy()
    replies_accepted = int(accepted.sum())
    last_accept = int(minutes[accepted > 0].max()) if replies_accepted else 0
    after = (minutes >= last_accept) & (backlog == 0)
    cleared = float(minutes[after].min()) if after.any() else math.nan
    return {
        "list_size": L,
        "messages_per_user": transport.delivered / L,
        "messages_per_user_eventual": (transport.accepted * L - transport.purged) / L,
        "messages_read_per_user": float(read.mean()) if read.size else 0.0,
        "read_p50": float(np.percentile(read, 50)) if read.size else 0.0,
        "read_p95": float(np.percentile(read, 95)) if read.size else 0.0,
        "reply_alls_sent": int(sent.sum()),
        "reply_alls_accepted": replies_accepted,
        "remove_me_sent": int(series["sent_remove"].sum()),
        "complaints_sent": int(series["sent_complain"].sum()),
        "bounced": int(transport.bounced),
        **{f"bounced_{reason}": int(n) for reason, n in transport.refused.items()},
        "protection_blocks": len(transport.admission.blocks),
        "senders": int(senders_reached),
        "senders_attempted": int(senders_attempted),
        "deliveries": int(transport.delivered),
        "purged": int(transport.purged),
        "peak_backlog": int(backlog.max()),
        "peak_backlog_minute": int(minutes[backlog.argmax()]),
        "max_delay_min": float(series["delay_min"].max()),
        "peak_unable_fraction": float(series["unable_fraction"].max()),
        "service_restored_minute": service_restored_minute(series),
        "cutoff_minute": transport.cut_minute,
        "last_accepted_minute": last_accept,
        "backlog_cleared_minute": cleared,
        **{f"final_{s}": int(series[s].iloc[-1]) for s in STATE_NAMES},
    }
