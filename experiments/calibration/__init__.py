"""Calibration to real storms: the project's facts, the observations, ABC, and its outputs.

* :mod:`.storms` (+ :mod:`.storms_schema`) the typed facts of ``experiments/data/storms.toml``:
  sources, and for each storm its list, audience, start, end and observations;
* :mod:`.observations` the 2016 calibration targets built from them, and the ABC distance;
* :mod:`.settings` a calibration spec (a sweep spec + ``[abc]``); :mod:`.apmc` the built-in
  adaptive population Monte Carlo ABC; :mod:`.generations` its generations as sweeps;
  :mod:`.pyabc_backend` the pyabc alternative;
* :mod:`.pipeline` :func:`calibrate`: ABC, posterior, predictive storms, SIR fit, files;
  :mod:`.accepted` the calibrated parameters that other commands start from.
"""

from .pipeline import CalibrationResult, calibrate
from .settings import CalibrationSpec, load_calibration
from .storms import load_storms

__all__ = ["CalibrationResult", "CalibrationSpec", "calibrate", "load_calibration",
           "load_storms"]
