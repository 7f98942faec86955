"""replyall-storm model: the world (organisation, users, mail transport, engines, ODE).

The entry points can be imported from here::

    from replyall_storm.model import StormModel, simulate

They are imported on first use, so that ``import replyall_storm.model`` stays light and does
not import Mesa (which switches multiprocessing to "spawn" for the whole process) unless the
Mesa model is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "simulate": ".run",
    "build_engine": ".run",
    "prepare_run": ".run_setup",
    "RunSetup": ".run_setup",
    "StormModel": ".engines.mesa_engine",
    "StormParams": ".parameters",
    "get_scenario": ".scenarios",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import an entry point on first use (see module docstring)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
