"""A synthetic organisation: users in teams, departments, organisations and regions.

The directory is held as flat NumPy arrays (one entry per user) plus the CSR adjacency of
the undirected "who writes to whom" graph, so a national directory the size of NHSmail in
2016 (840,000 accounts) builds in a fraction of a second. A NetworkX graph is built only on
request (:meth:`Organisation.to_networkx`), because it is two orders of magnitude bigger.
The generator is :func:`replyall_storm.model.org_generator.build_organisation`.

Users are numbered so that every unit is a contiguous block: sorted by region, then
organisation, department and team. The first user of each team is its manager; the first
user of a department, organisation or region is its head (the manager of its first team).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from dataclasses import dataclass
from enum import IntEnum
from typing import BinaryIO

import networkx as nx
import numpy as np

from .errors import ParameterError

MIN_USERS = 2
MAX_USERS = 1_000_000
_FILE_FORMAT = 1
_ARRAYS = ("team", "department", "organisation", "region", "is_manager", "indptr", "indices")


class Level(IntEnum):
    """A level of the hierarchy, from the smallest unit to the whole directory."""

    TEAM = 0
    DEPARTMENT = 1
    ORGANISATION = 2
    REGION = 3
    DIRECTORY = 4


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _check_int(name: str, value: object, lo: int, hi: int, unit: str) -> None:
    if not (_is_int(value) and lo <= value <= hi):  # type: ignore[operator]
        raise ParameterError(name, value, f"must be an integer from {lo:,} to {hi:,} ({unit})")


def _check_real(name: str, value: object, lo: float, hi: float, unit: str) -> None:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    if not (ok and math.isfinite(value) and lo <= value <= hi):  # type: ignore[arg-type,operator]
        raise ParameterError(name, value, f"must be a number from {lo:g} to {hi:g} ({unit})")


@dataclass(frozen=True)
class OrgSpec:
    """Shape of the organisation. Defaults are assumptions unless a source is named."""

    team_size_median: float = 8.0
    """Median team size (users). Assumption: a ward, GP practice team or office of ~8."""
    team_size_sigma: float = 0.8
    """Log-space standard deviation of team size (dimensionless); heavy tail. Assumption."""
    team_size_max: int = 250
    """Largest team (users); the log-normal draw is clipped here. Assumption."""
    teams_per_department_median: float = 6.0
    """Median department size (teams). Assumption."""
    teams_per_department_sigma: float = 0.6
    """Log-space standard deviation of department size (dimensionless). Assumption."""
    departments_per_organisation_median: float = 8.0
    """Median organisation size (departments). Assumption."""
    departments_per_organisation_sigma: float = 1.0
    """Log-space sd of organisation size: GP practices are tiny, hospital trusts huge."""
    n_regions: int = 7
    """Number of regions: NHS England had 7 regional teams in 2016."""
    team_degree: float = 6.0
    """Mean colleague ties per user inside the team (ties), capped at team size - 1.

    Assumption. The tie to the team manager comes on top of these when it is not one of them.
    """
    cross_ties_per_user: float = 0.3
    """Mean random ties per user to anyone in the directory (ties). Assumption."""

    def validate(self) -> None:
        """Raise :class:`ParameterError` naming the first field outside its allowed range."""
        _check_int("team_size_max", self.team_size_max, 1, 100_000, "users")
        _check_real("team_size_median", self.team_size_median, 1, self.team_size_max, "users")
        _check_real("team_size_sigma", self.team_size_sigma, 0, 3, "log-space sd")
        m, s = self.teams_per_department_median, self.teams_per_department_sigma
        _check_real("teams_per_department_median", m, 1, 10_000, "teams")
        _check_real("teams_per_department_sigma", s, 0, 3, "log-space sd")
        m, s = self.departments_per_organisation_median, self.departments_per_organisation_sigma
        _check_real("departments_per_organisation_median", m, 1, 10_000, "departments")
        _check_real("departments_per_organisation_sigma", s, 0, 3, "log-space sd")
        _check_int("n_regions", self.n_regions, 1, 1_000, "regions")
        _check_real("team_degree", self.team_degree, 0, 100, "ties per user")
        _check_real("cross_ties_per_user", self.cross_ties_per_user, 0, 100, "ties per user")


DEFAULT_SPEC = OrgSpec()


@dataclass(eq=False)
class Organisation:
    """Users, their units and the undirected simple graph of ties between them.

    Per-user arrays have length ``n_users`` and are int32 unit ids, except ``is_manager``
    (bool). ``indptr`` (int64, ``n_users + 1``) and ``indices`` (int32) are the CSR adjacency;
    each row is sorted, has no self loop and no duplicate, and the matrix is symmetric.
    ``seed`` is the integer entropy the generator was seeded with, ``None`` when it was given
    an already-built ``numpy.random.Generator``.
    """

    n_users: int
    team: np.ndarray
    department: np.ndarray
    organisation: np.ndarray
    region: np.ndarray
    is_manager: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    spec: OrgSpec
    seed: int | None

    def __repr__(self) -> str:
        return (
            f"Organisation(n_users={self.n_users:,}, teams={int(self.team[-1]) + 1:,}, "
            f"regions={int(self.region[-1]) + 1}, edges={self.n_edges:,}, seed={self.seed})"
        )

    @property
    def n_edges(self) -> int:
        """Number of undirected ties (edges)."""
        return len(self.indices) // 2

    def degree(self) -> np.ndarray:
        """Ties per user (int64 array, length ``n_users``)."""
        return np.diff(self.indptr)

    def neighbours(self, user: int) -> np.ndarray:
        """Sorted ids of the users tied to ``user`` (a read-only view into ``indices``)."""
        _check_int("user", user, 0, self.n_users - 1, "user id")
        view = self.indices[self.indptr[user] : self.indptr[user + 1]]
        view.flags.writeable = False
        return view

    def unit_of(self, level: Level) -> np.ndarray:
        """Return the int32 unit id of every user at ``level`` (all zeros for the directory)."""
        try:
            level = Level(level)
        except ValueError:
            raise ParameterError("level", level, "must be a Level from 0 (TEAM) to 4") from None
        if level is Level.DIRECTORY:
            return np.zeros(self.n_users, dtype=np.int32)
        return getattr(self, level.name.lower())

    def members(self, level: Level, unit: int) -> np.ndarray:
        """Sorted ids of the users in unit ``unit`` of ``level`` (int64); O(n_users)."""
        ids = self.unit_of(level)
        found = np.flatnonzero(ids == unit) if _is_int(unit) else np.empty(0, np.int64)
        if found.size == 0:
            n_units = int(ids.max()) + 1
            name = Level(level).name.lower()
            raise ParameterError("unit", unit, f"must be a {name} id from 0 to {n_units - 1}")
        return found

    def unit_sizes(self, level: Level) -> np.ndarray:
        """Users per unit at ``level`` (int64 array indexed by unit id)."""
        return np.bincount(self.unit_of(level))

    def edge_array(self) -> np.ndarray:
        """Every undirected tie once, as an ``(n_edges, 2)`` int32 array with ``u < v``."""
        rows = np.repeat(np.arange(self.n_users, dtype=np.int32), self.degree())
        upper = rows < self.indices
        return np.stack((rows[upper], self.indices[upper]), axis=1)

    def to_networkx(self) -> nx.Graph:
        """Build an ``nx.Graph`` with nodes ``0..n-1`` and the unit ids as node attributes.

        Node attributes: ``team``, ``department``, ``organisation``, ``region`` (int) and
        ``manager`` (bool). Built only on request: Python objects for every node and edge
        cost 10-25 s and 1-2 GB at 840,000 users (measured: 11 s, +0.9 GB RSS on a 2-core
        VM), against ~0.35 s and 43 MB for the arrays.
        """
        g = nx.Graph(spec=dataclasses.asdict(self.spec), seed=self.seed)
        cols = [getattr(self, a).tolist() for a in _ARRAYS[:5]]
        keys = ("team", "department", "organisation", "region", "manager")
        g.add_nodes_from(
            (i, dict(zip(keys, row, strict=True))) for i, row in enumerate(zip(*cols, strict=True))
        )
        e = self.edge_array()
        g.add_edges_from(zip(e[:, 0].tolist(), e[:, 1].tolist(), strict=True))
        return g

    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Write an uncompressed ``.npz`` to ``path`` (used as given: no suffix is added)."""
        meta = {"format": _FILE_FORMAT, "spec": dataclasses.asdict(self.spec), "seed": self.seed}
        arrays = {a: getattr(self, a) for a in _ARRAYS}
        is_path = isinstance(path, str | os.PathLike)
        with open(path, "wb") if is_path else contextlib.nullcontext(path) as f:  # type: ignore[arg-type]
            np.savez(f, n_users=np.int64(self.n_users), meta=json.dumps(meta), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | BinaryIO) -> Organisation:
        """Read a file written by :meth:`save`; ParameterError if its contents do not fit."""

        def bad(why: str) -> ParameterError:
            return ParameterError("path", str(path), f"must be an organisation .npz: {why}")

        with np.load(path, allow_pickle=False) as z:
            missing = {"n_users", "meta", *_ARRAYS} - set(z.files)
            if missing:
                raise bad(f"missing {sorted(missing)}")
            data = {a: z[a] for a in _ARRAYS}
            n, meta = int(z["n_users"]), json.loads(str(z["meta"]))
        if meta.get("format") != _FILE_FORMAT:
            raise bad(f"format {meta.get('format')!r}, expected {_FILE_FORMAT}")
        try:
            spec = OrgSpec(**meta["spec"])
        except TypeError as exc:
            raise bad(str(exc)) from None
        spec.validate()
        kinds = dict.fromkeys(_ARRAYS[:4], np.int32) | {"is_manager": np.bool_}
        for a, dtype in (kinds | {"indptr": np.int64, "indices": np.int32}).items():
            if data[a].dtype != dtype or data[a].ndim != 1:
                raise bad(f"{a} must be a 1-d {np.dtype(dtype)} array")
        lengths = dict.fromkeys(_ARRAYS[:5], n) | {"indptr": n + 1}
        for a, length in lengths.items():
            if len(data[a]) != length:
                raise bad(f"{a} has length {len(data[a])}, expected {length}")
        ip, ix = data["indptr"], data["indices"]
        if ip[0] != 0 or ip[-1] != len(ix) or np.any(np.diff(ip) < 0):
            raise bad("indptr is not a valid CSR row pointer")
        if len(ix) and (ix.min() < 0 or ix.max() >= n):
            raise bad("indices out of range")
        return cls(n_users=n, spec=spec, seed=meta["seed"], **data)
