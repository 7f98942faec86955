"""Command-line options shared by the commands that run the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams, coerce
from replyall_storm.model.scenarios import SCENARIOS, get_scenario


def scenario_options(f: Callable) -> Callable:
    """--scenario, --users, --hours and repeated --set NAME=VALUE."""
    f = click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a model parameter (repeatable); `replyall params` "
        "lists them with units and ranges.",
    )(f)
    f = click.option(
        "--hours",
        type=float,
        default=None,
        help="Simulated hours after the first send (default: the scenario's).",
    )(f)
    f = click.option(
        "--users",
        type=int,
        default=None,
        help="Users in the organisation (default: the scenario's).",
    )(f)
    f = click.option(
        "--scenario",
        default="nhs2016",
        show_default=True,
        help=f"Scenario: {', '.join(SCENARIOS)}.",
    )(f)
    return f


def parse_settings(settings: tuple[str, ...]) -> dict[str, Any]:
    """NAME=VALUE strings as typed parameter values (ParameterError on a malformed one)."""
    changes: dict[str, Any] = {}
    for item in settings:
        if "=" not in item:
            raise ParameterError("--set", item, "must look like NAME=VALUE")
        name, text = item.split("=", 1)
        changes[name.strip()] = coerce(name.strip(), text.strip())
    return changes


def resolve_params(
    scenario: str, users: int | None, hours: float | None, settings: tuple[str, ...]
) -> StormParams:
    """The validated parameters a command runs with."""
    changes = parse_settings(settings)
    if users is not None:
        changes["n_users"] = users
    if hours is not None:
        if not hours > 0:
            raise ParameterError("--hours", hours, "must be > 0 (hours)")
        changes["horizon_min"] = int(round(hours * 60))
    return get_scenario(scenario).params(**changes)
