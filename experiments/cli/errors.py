"""How the command line reports what stops it: one line on stderr and a documented exit code.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      done
1      the work failed: a file could not be written (disk full?) or read
2      bad input: an option, a spec, a data file or a results folder refused before
       any work (nothing written)
75     the infrastructure failed (a Dask scheduler or worker lost, a local worker
       process killed): completed runs are kept; run the same command to resume
130    interrupted (Ctrl-C, or SIGTERM from a batch system): completed runs are kept
=====  ==========================================================================

:func:`explain` turns an exception into that line and code; click's own usage errors (a
malformed number, an unknown option, a missing argument) get the same one-line form as the
model's ``ParameterError``, e.g. ``error: --users='abc': must be a whole number``.
"""

from __future__ import annotations

import sys

import click

from replyall_storm.model.errors import ParameterError

from ..sweeps.executor import InfrastructureError
from .options import BadValue

OK, FAILED, BAD_INPUT, RESUME, INTERRUPTED = 0, 1, 2, 75, 130


def explain(err: BaseException) -> tuple[str, int] | None:
    """The one line and exit code for ``err``; None for what is not reported here."""
    if isinstance(err, click.UsageError):
        return usage_line(err), BAD_INPUT
    if isinstance(err, ParameterError) or _data_error(err):
        return f"error: {_flat(str(err))}", BAD_INPUT
    if isinstance(err, InfrastructureError):
        return f"error: {_flat(str(err))}", RESUME
    if isinstance(err, KeyboardInterrupt):
        return ("interrupted: completed runs are kept; run the same command to resume",
                INTERRUPTED)
    if isinstance(err, OSError):
        what = err.strerror or str(err) or type(err).__name__
        where = f": {err.filename}" if err.filename else ""
        return f"error: {_flat(what)}{where} (completed results are kept)", FAILED
    return None


def _data_error(err: BaseException) -> bool:
    """Whether ``err`` is a bad storms file (a StormDataError: a ValueError, no ParameterError).

    Looked up, not imported: importing the calibration package reads that file.
    """
    storms = sys.modules.get("replyall_storm.experiments.calibration.storms")
    return storms is not None and isinstance(err, storms.StormDataError)


def usage_line(err: click.UsageError) -> str:
    """Click's usage error as one line naming the option, the value and what is allowed."""
    param = getattr(err, "param", None)
    name = _param_name(param) if param is not None else None
    if isinstance(err, BadValue) and name:
        return f"error: {name}={err.value!r}: {err.allowed}"
    message = _flat(err.format_message())
    if isinstance(err, click.NoSuchOption | click.MissingParameter) or name is None:
        text = message[:1].lower() + message[1:]
    else:
        text = f"{name}: {message.removeprefix(f'Invalid value for {name!r}: ')}"
    if text.endswith("."):
        text = text[:-1]
    ctx = err.ctx
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"error: {text}{hint}"


def _param_name(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    return param.human_readable_name


def _flat(text: str) -> str:
    return " ".join(text.split())
