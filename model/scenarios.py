"""Named scenarios: a starting set of parameters with a one-line story.

``nhs2016`` is the storm of 14 November 2016 at full scale: 100 mailbox databases and the
seven parameters of the 2016 calibration (:data:`NHS_CALIBRATED`), the model's defaults
otherwise (see ``StormParams`` for each default's source). ``dhs2007``, ``cisco2013`` and
``nyu2012`` are the other storms of ``experiments/data/storms.toml``: their list sizes and
audiences as reported, their start and cut-off at the middle of the reported or assumed ranges
(the calibration varies them within those ranges), and a transport that delivers one message
per member per minute and degrades at the same backlog per member as NHSmail's (assumed; a
test checks these scenarios against the data file). ``small`` and ``trust`` are smaller worlds
for exploration and tests. Every field can still be overridden.
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
    storm: str | None = None
    """The storm of ``experiments/data/storms.toml`` this scenario reproduces, if any."""

    def params(self, **changes: Any) -> StormParams:
        """The scenario's parameters with ``changes`` applied, validated."""
        return StormParams().replace(**{**self.overrides, **changes})


NHS_CALIBRATED: dict[str, float] = {
    "remove_rate": 1.69e-5, "complain_rate": 1.19e-5, "mute_rate": 0.0104,
    "annoyance_half": 170.0, "capacity_per_min": 709_000.0, "capacity_spread": 0.357,
    "cutoff_min": 85.9,
}
"""The 2016 calibration's most central accepted set (3 significant digits): of the final
importance sample of ``replyall calibrate calibrate_nhs`` (APMC converged at generation 46,
6,757 final draws, 359 accepted, ESS 218; 2026-12-01, see the README), the one nearest the
posterior's weighted median in the prior's unit cube (Mahalanobis distance under the
posterior covariance). An accepted point, not the marginal medians: the region has ridges.
``mute_rate`` is not identified by the reports."""

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "nhs2016",
            "NHSmail, 14 Nov 2016: a blank 'test' to a list that reached all "
            "840,000 accounts; list disabled after about an hour.",
            {"n_databases": 100, **NHS_CALIBRATED},
            storm="nhs2016",
        ),
        Scenario(
            "dhs2007",
            "US Department of Homeland Security, 3 Oct 2007: a mail reflector of ~7,500 "
            "security professionals whose addresses became visible; ran through the day.",
            {"n_users": 7_500, "audience_visible": True, "start_clock_h": 7.5,
             "cutoff_min": 600.0, "horizon_min": 1_440, "capacity_per_min": 7_500.0,
             "degrade_backlog": 180_000.0},
            storm="dhs2007",
        ),
        Scenario(
            "cisco2013",
            "Cisco, 18 Sep 2013: the 23,565-member 'sep_training1' list, until IT pulled "
            "the plug.",
            {"n_users": 23_565, "start_clock_h": 13.0, "cutoff_min": 150.0,
             "horizon_min": 1_440, "capacity_per_min": 23_565.0, "degrade_backlog": 565_560.0},
            storm="cisco2013",
        ),
        Scenario(
            "nyu2012",
            "New York University, 26 Nov 2012: 39,979 students on a discussion list, from the "
            "evening until IT disabled it around midnight.",
            {"n_users": 39_979, "start_clock_h": 18.5, "cutoff_min": 330.0,
             "horizon_min": 2_160, "capacity_per_min": 39_979.0, "degrade_backlog": 959_496.0},
            storm="nyu2012",
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
