"""A sample of the organisation graph with each user's state at a few moments of a run.

A directory of 840,000 users cannot be drawn; a few hundred users around the first people who
replied can. :func:`graph_sample` grows a breadth-first sample from the earliest repliers (or
the originator when nobody replied), and :func:`snapshot_tables` pairs it with the states the
run kept at ``snapshot_minutes``. ``replyall run`` stores both so that ``replyall figures``
draws the graph without simulating again.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from replyall_storm.model.engines.base import RunResult
from replyall_storm.model.org import Organisation
from replyall_storm.model.states import STATE_NAMES, State

SNAPSHOT_MINUTES = (15, 30, 60, 120, 240)
"""Default moments (minutes after the first send) at which users' states are kept."""


def graph_sample(org: Organisation, start: list[int], size: int = 300,
                 per_user: int = 12) -> np.ndarray:
    """Up to ``size`` users reached breadth-first from ``start`` (sorted user ids).

    All starting users are taken first, then their neighbours layer by layer; each user
    contributes at most ``per_user`` neighbours (its own teammates first, as users are
    numbered by team), so one well-connected manager cannot fill the sample alone.
    """
    seen: set[int] = set()
    queue: deque[int] = deque()
    for s in start[:size]:
        if s not in seen:
            seen.add(s)
            queue.append(s)
    while queue and len(seen) < size:
        u = queue.popleft()
        added = 0
        for v in org.indices[org.indptr[u]:org.indptr[u + 1]]:
            v = int(v)
            if v not in seen:
                seen.add(v)
                queue.append(v)
                added += 1
                if len(seen) >= size or added >= per_user:
                    break
    return np.array(sorted(seen), dtype=np.int64)


def earliest_repliers(result: RunResult, limit: int = 5) -> list[int]:
    """Users in the REPLIED state at the earliest snapshot showing any, then later ones."""
    order: list[int] = []
    for _, states in sorted(result.snapshots.items()):
        for u in np.flatnonzero(states == State.REPLIED):
            if int(u) not in order:
                order.append(int(u))
        if len(order) >= limit:
            break
    return order[:limit]


def snapshot_tables(result: RunResult, size: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(states, edges) of a graph sample around the first repliers.

    ``states`` has user, team, manager, minute, state; ``edges`` has source and target (user
    ids); both are empty if the run kept no snapshots.
    """
    org = result.setup.org
    if not result.snapshots:
        empty = pd.DataFrame(columns=["user", "team", "manager", "minute", "state"])
        return empty, pd.DataFrame(columns=["source", "target"])
    start = earliest_repliers(result) or [result.setup.originator]
    nodes = graph_sample(org, start, size)
    frames = []
    for minute, states in sorted(result.snapshots.items()):
        frames.append(pd.DataFrame({
            "user": nodes, "team": org.team[nodes], "manager": org.is_manager[nodes],
            "minute": np.int64(minute),
            "state": pd.Categorical.from_codes(states[nodes], STATE_NAMES)}))
    inside = np.zeros(org.n_users, dtype=bool)
    inside[nodes] = True
    src, dst = [], []
    for u in nodes:
        nbrs = org.indices[org.indptr[u]:org.indptr[u + 1]]
        nbrs = nbrs[(nbrs > u) & inside[nbrs]]
        src.extend([u] * len(nbrs))
        dst.extend(nbrs.tolist())
    edges = pd.DataFrame({"source": np.array(src, dtype=np.int64),
                          "target": np.array(dst, dtype=np.int64)})
    return pd.concat(frames, ignore_index=True), edges
