"""The ``replyall`` command line: one command per job, one thin module per command.

Each command module parses options, calls the library (``sweeps``, ``calibration``,
``analysis``, ``figures``, ``benchmark``) and prints; it holds no method of its own, and
nothing outside ``cli/`` imports from here (the entry points aside: ``replyall``,
``python -m replyall_storm`` and ``python -m replyall_storm.experiments``). Bad input of any kind
(an out-of-range parameter, an unknown scenario or engine, a malformed spec) is a
:class:`~replyall_storm.model.errors.ParameterError`; the group turns it into one line on
stderr and exit code 2, before anything is simulated or written.
"""

from __future__ import annotations

import sys

import click

from replyall_storm.model.errors import ParameterError


class StormGroup(click.Group):
    """A click group that reports bad input as one line and exit code 2."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        try:
            return super().invoke(ctx)
        except ParameterError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=StormGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="replyall-storm", message="replyall-storm %(version)s")
def main() -> None:
    """Model reply-all email storms as epidemics (NHSmail, 14 November 2016)."""


def _register() -> None:
    from .bench import bench
    from .calibrate import calibrate
    from .compare import compare
    from .figures import figures
    from .fit import fit
    from .params import params
    from .predict import predict_command
    from .run import run
    from .sbc import sbc
    from .sensitivity import sensitivity
    from .storms import storms
    from .sweep import sweep

    for command in (run, bench, params, sweep, compare, fit, calibrate, sensitivity,
                    figures, storms, sbc):
        main.add_command(command)
    main.add_command(predict_command, name="predict")


_register()
