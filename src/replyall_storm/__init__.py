"""replyall-storm: reply-all email storms modelled as epidemics.

The Python API, in a few names (each imported on first use, so ``import replyall_storm`` is
cheap and ``replyall_storm.model`` needs none of the experiments' packages)::

    from replyall_storm import get_scenario, simulate
    result = simulate(get_scenario("small").params(), seed=0)
    result.summary["messages_per_user"], result.series      # one row per simulated minute

* :func:`simulate`, :class:`StormParams`, :func:`get_scenario`: one storm (``model/``);
* :class:`StormModel`: the same storm as a ``mesa.Model``, stepped one minute at a time
  (Mesa is imported only when it is asked for); :func:`prepare_run`: the one run set-up;
* :func:`run_sweep`, :func:`load_spec`: many storms from a spec, locally or on Dask;
* :func:`fit_series`: the queued SIR (the transport as latent stage, the cut-off as forcing),
  fitted to a storm;
* :func:`calibrate`: ABC calibration to the 2016 observations; :func:`load_storms`: the
  project's facts about real storms, with their sources;
* :func:`predict`: a storm's forecast for any list, from the all-storm posterior that ships.

``__version__`` is the installed distribution's version (``importlib.metadata``, looked up on
first use: the ``replyall`` command imports this package before it can catch a Ctrl-C, so the
package itself imports nothing slow).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "simulate": "replyall_storm.model.run",
    "StormParams": "replyall_storm.model.parameters",
    "get_scenario": "replyall_storm.model.scenarios",
    "SCENARIOS": "replyall_storm.model.scenarios",
    "ParameterError": "replyall_storm.model.errors",
    "StormModel": "replyall_storm.model.engines.mesa_engine",
    "prepare_run": "replyall_storm.model.run_setup",
    "run_sweep": "replyall_storm.experiments.sweeps",
    "load_spec": "replyall_storm.experiments.sweeps",
    "fit_series": "replyall_storm.experiments.analysis.sir_fit",
    "calibrate": "replyall_storm.experiments.calibration.pipeline",
    "load_storms": "replyall_storm.experiments.calibration.storms",
    "predict": "replyall_storm.experiments.analysis.predict",
}

__all__ = ["__version__", *_EXPORTS]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("replyall-storm")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Import an exported name (or look up ``__version__``) on first use (PEP 562)."""
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name not in _EXPORTS:
        raise AttributeError(f"module 'replyall_storm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
