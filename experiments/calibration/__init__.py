"""Calibration to real storms: the project's facts, the observations, ABC, and its outputs.

* :mod:`.storms` (+ :mod:`.storms_schema`) the typed facts of ``experiments/data/storms.toml``:
  sources, and for each storm its list, audience, start, end and observations;
* :mod:`.observations` the 2016 calibration targets built from them, and the ABC distance;
* :mod:`.settings` a calibration spec (a sweep spec + ``[abc]``); :mod:`.apmc` the built-in
  adaptive population Monte Carlo ABC; :mod:`.generations` its generations as sweeps;
  :mod:`.pyabc_backend` the pyabc alternative;
* :mod:`.pipeline` :func:`calibrate`: ABC, posterior, predictive storms, SIR fit, files;
  :mod:`.accepted` the calibrated parameters that other commands start from.

Importing the package reads nothing: its names load their module on first use, so a command
that never reads the facts (``replyall run --scenario small``) is not stopped by a broken data
file.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {"CalibrationResult": ".pipeline", "calibrate": ".pipeline",
         "CalibrationSpec": ".settings", "load_calibration": ".settings",
         "load_storms": ".storms"}

__all__ = ["CalibrationResult", "CalibrationSpec", "calibrate", "load_calibration",
           "load_storms"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name], __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
