"""Command-line options shared by the commands: typed numbers, scenario options.

Numbers on the command line are read by :data:`WHOLE` (integers) and :data:`NUMBER` (finite
floats), whose refusals are :class:`BadValue` errors that the group prints as one line,
``error: --users='abc': must be a whole number`` (:mod:`.errors`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams, coerce
from replyall_storm.model.scenarios import SCENARIOS, get_scenario


class BadValue(click.BadParameter):
    """An option value refused while parsing: the value as given and what is allowed."""

    def __init__(self, value: object, allowed: str, param: click.Parameter | None = None,
                 ctx: click.Context | None = None) -> None:
        super().__init__(allowed, ctx=ctx, param=param)
        self.value, self.allowed = value, allowed


class WholeNumber(click.ParamType):
    """An integer option (``1e3`` is 1000; ``1.5``, ``abc`` and ``inf`` are refused)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        """``value`` as an int, or BadValue."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number.is_integer():
            return int(number)
        raise BadValue(value, "must be a whole number", param, ctx)


class FiniteNumber(click.ParamType):
    """A float option that must be finite (``inf``, ``nan`` and ``1e999`` are refused)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        """``value`` as a finite float, or BadValue."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise BadValue(value, "must be a finite number", param, ctx)
        return number


WHOLE = WholeNumber()
NUMBER = FiniteNumber()


def say(message: str) -> None:
    """A command's notes to stdout, its warnings (``warning: ...``) to stderr."""
    click.echo(message, err=message.startswith("warning: "))


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
        type=NUMBER,
        default=None,
        help="Simulated hours after the first send (default: the scenario's).",
    )(f)
    f = click.option(
        "--users",
        type=WHOLE,
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
        changes["horizon_min"] = horizon_minutes(hours)
    return get_scenario(scenario).params(**changes)


def horizon_minutes(hours: float, option: str = "--hours") -> int:
    """``hours`` as a whole number of simulated minutes within the model's horizon."""
    longest = StormParams.__dataclass_fields__["horizon_min"].metadata["hi"]
    if not (math.isfinite(hours) and hours > 0):
        raise ParameterError(option, hours, "must be > 0 (hours)")
    if hours * 60 > longest + 0.5:
        raise ParameterError(option, hours, f"must be in (0, {longest / 60:g}] (hours; the "
                             f"model simulates at most {longest:,} minutes)")
    return int(round(hours * 60))
