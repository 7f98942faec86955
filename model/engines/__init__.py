"""Engines: schedulers that apply the one decision rule (``model/decision.py``) over time.

``fast`` visits only the users who check mail in a minute, as NumPy arrays; ``mesa`` steps a
Mesa agent per user on a ``mesa.discrete_space.Network``. Both share the minute loop in
:mod:`.base`, the transport, the recorder and the set-up, so they differ only in scheduling.
"""

from .base import Engine, RunResult

ENGINES = ("fast", "mesa")

__all__ = ["ENGINES", "Engine", "RunResult"]
