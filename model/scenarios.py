"""Named scenarios: a starting set of parameters with a one-line story.

``nhs2016`` is the storm of 14 November 2016 at full scale with the model's default
parameters (see ``StormParams`` for each default's source). The others are smaller worlds for
exploration and tests; every field can still be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError
from .parameters import StormParams


@dataclass(frozen=True)
class Scenario:
    """A named set of parameter overrides on the defaults."""

    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def params(self, **changes: Any) -> StormParams:
        """The scenario's parameters with ``changes`` applied, validated."""
        return StormParams().replace(**{**self.overrides, **changes})


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "nhs2016",
            "NHSmail, 14 Nov 2016: a blank 'test' to a list that reached all "
            "840,000 accounts; list disabled after about an hour.",
            {"n_databases": 100},
        ),
        Scenario(
            "small",
            "A 2,000-user organisation whose directory-wide list is misused; "
            "for exploration and tests.",
            {
                "n_users": 2_000,
                "capacity_per_min": 2_000.0,
                "degrade_backlog": 200_000.0,
                "remove_rate": 2e-3,
                "complain_rate": 2e-3,
                "horizon_min": 720,
            },
        ),
        Scenario(
            "trust",
            "One hospital trust of 10,000 users replying on its all-staff list.",
            {
                "n_users": 10_000,
                "capacity_per_min": 5_000.0,
                "degrade_backlog": 1_000_000.0,
                "remove_rate": 4e-4,
                "complain_rate": 4e-4,
                "horizon_min": 1440,
            },
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ParameterError listing the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ParameterError("scenario", name, f"must be one of {', '.join(SCENARIOS)}") from None
