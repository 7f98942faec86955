"""What every run starts from: the list, its members' delivery order, users' mail habits.

:func:`set_up` draws, in a fixed order from the run's generator, everything both engines share
before the first minute: who sends the original message, the order in which the list expands
its members, each user's habitual interval between checks and the minute of their first
check. Given the same generator state both engines therefore start from the same world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checking import NEVER, first_checks, user_scales
from .errors import ParameterError
from .org import Level, Organisation
from .parameters import StormParams

LEVELS = {
    "team": Level.TEAM,
    "department": Level.DEPARTMENT,
    "organisation": Level.ORGANISATION,
    "region": Level.REGION,
    "directory": Level.DIRECTORY,
}


@dataclass
class StormSetup:
    """The world at minute 0 (arrays indexed by user id, length ``n_users``)."""

    params: StormParams
    org: Organisation
    originator: int  # user who sends the original message at minute 0
    members: np.ndarray  # sorted user ids on the list
    position: (
        np.ndarray
    )  # int64 place of each user in the list's expansion order; -1 if not a member
    scales: np.ndarray  # float64 median minutes between checks in working hours
    first_check: np.ndarray  # int64 minute of first check; NEVER for non-members
    audience_visible: bool  # readers can tell how many people the list reaches

    @property
    def list_size(self) -> int:
        """Members of the list (users)."""
        return int(self.members.size)


def set_up(params: StormParams, org: Organisation, rng: np.random.Generator) -> StormSetup:
    """Draw the shared initial world for one run (see module docstring for the order)."""
    if org.n_users != params.n_users:
        raise ParameterError(
            "n_users", params.n_users, f"must equal the organisation's size {org.n_users}"
        )
    n = org.n_users
    originator = int(rng.integers(n))
    level = LEVELS[params.list_level]
    unit = int(org.unit_of(level)[originator])
    members = org.members(level, unit)
    position = np.full(n, -1, dtype=np.int64)
    position[members] = rng.permutation(members.size)
    scales = user_scales(rng, n, params)
    first = first_checks(rng, scales, params)
    first[position < 0] = NEVER
    visible = params.audience_visible or (
        params.audience_warning and members.size > params.warning_threshold
    )
    return StormSetup(
        params=params,
        org=org,
        originator=originator,
        members=members,
        position=position,
        scales=scales,
        first_check=first,
        audience_visible=bool(visible),
    )
