"""Calibration to the 2016 storm: the observations, ABC, and its outputs.

* :mod:`.observations` the 2016 calibration targets, and the ABC distance;
* :mod:`.settings` a calibration spec (a sweep spec + ``[abc]``); :mod:`.apmc` the built-in
  adaptive population Monte Carlo ABC; :mod:`.generations` its generations as sweeps;
  :mod:`.pyabc_backend` the pyabc alternative;
* :mod:`.pipeline` :func:`calibrate`: ABC, posterior, predictive storms, SIR fit, files;
  :mod:`.accepted` the calibrated parameters that other commands start from.
"""

from .pipeline import CalibrationResult, calibrate
from .settings import CalibrationSpec, load_calibration

__all__ = ["CalibrationResult", "CalibrationSpec", "calibrate", "load_calibration"]
