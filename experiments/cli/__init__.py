"""The ``replyall`` command line: one command per job, one thin module per command.

Each command module parses options, calls the library (``sweeps``, ``calibration``,
``analysis``, ``figures``, ``benchmark``) and prints; it holds no method of its own, and
nothing outside ``cli/`` imports from here (the entry points aside: ``replyall``,
``python -m replyall_storm`` and ``python -m replyall_storm.experiments``). Bad input of any kind
(an out-of-range parameter, an unknown scenario or engine, a malformed spec, a malformed
number or an unknown option) is one line on stderr and exit code 2, before anything is
simulated or written; the other exit codes are in :mod:`.errors`. SIGTERM (a batch system's
stop) is handled like Ctrl-C by every command.
"""

from __future__ import annotations

import os
import sys


def _interrupted_while_starting() -> None:
    """Ctrl-C while the command line loads: one line, exit 130.

    ``os._exit``: nothing ran and nothing is open; a SystemExit raised inside an import still
    ends in -2 on Python 3.13.
    """
    sys.stderr.write("interrupted while starting: nothing was run\n")
    sys.stderr.flush()
    os._exit(130)


# The commands' imports take a second or two (several on a loaded machine): a Ctrl-C in them
# is caught from the first one on. Before this point only the interpreter's start-up and
# the packages' near-empty __init__ modules have run (tests/test_interrupts.py).
try:
    import signal
    import threading
    from types import FrameType

    import click

    from .errors import explain
except KeyboardInterrupt:
    _interrupted_while_starting()


class StormGroup(click.Group):
    """A click group that reports every failure as one line with a documented exit code."""

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: D102
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:  # options of the group itself: replyall --bogus
            _exit(err)

    def invoke(self, ctx: click.Context):  # noqa: D102
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
        try:
            from replyall_storm.experiments.env import check_environment

            check_environment()
            return super().invoke(ctx)
        except (click.UsageError, Exception, KeyboardInterrupt) as err:
            _exit(err)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _exit(err: BaseException) -> None:
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        err.show()  # `replyall` or `replyall cache` alone: the help, as click prints it
        sys.exit(err.exit_code)
    said = explain(err)
    if said is None:
        raise err
    line, code = said
    click.echo(line, err=True)
    sys.exit(code)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.group(cls=StormGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="replyall-storm", message="replyall-storm %(version)s")
def main() -> None:
    """Model reply-all email storms as epidemics (NHSmail, 14 November 2016)."""


def _register() -> None:
    from .bench import bench
    from .cache import cache
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
    from .storms_abc import storms_abc
    from .sweep import sweep

    for command in (run, bench, params, sweep, compare, fit, calibrate, sensitivity,
                    figures, storms, storms_abc, sbc, cache):
        main.add_command(command)
    main.add_command(predict_command, name="predict")


try:
    _register()
except KeyboardInterrupt:  # the same, while the commands load
    _interrupted_while_starting()
