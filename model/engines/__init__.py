"""Engines: schedulers that apply the one decision rule (``model/decision.py``) over time.

``fast`` visits only the users who check mail in a minute, as NumPy arrays
(:class:`.fast.FastEngine`); ``mesa`` steps a Mesa agent per user on a
``mesa.discrete_space.Network`` (:class:`.mesa_engine.StormModel`, an ordinary
``mesa.Model``). Both start from the same set-up (``model/run_setup.py``) and run the same
minute loop (``model/minute_loop.py``), which owns the transport and the recorder, so they
differ only in scheduling. :mod:`.base` drives either to its horizon. Importing this package
does not import Mesa.
"""

from ..errors import ParameterError
from .base import Engine, RunResult

ENGINES = ("fast", "mesa")

MAX_MESA_USERS = 200_000
"""Largest organisation the Mesa engine accepts (a simulated day there takes about 40 min)."""


def check_size(n_users: int, horizon_min: int) -> None:
    """Refuse Mesa runs that would take hours (one Python agent per user); imports no Mesa."""
    if n_users > MAX_MESA_USERS:
        raise ParameterError(
            "n_users",
            n_users,
            f"the mesa engine takes at most {MAX_MESA_USERS:,} users (about "
            "2 h per simulated day at 840,000); use --engine fast",
        )


__all__ = ["ENGINES", "MAX_MESA_USERS", "Engine", "RunResult", "check_size"]
