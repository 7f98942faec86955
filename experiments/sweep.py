"""``replyall_storm.experiments.sweep``: the public import path of :func:`run_sweep`.

The sweep machinery lives in :mod:`replyall_storm.experiments.sweeps`; this module keeps the
path that scripts and cluster jobs written for 0.1 use (``from
replyall_storm.experiments.sweep import run_sweep``).
"""

from .sweeps import RunTask, SweepResult, run_sweep, run_task, thin

__all__ = ["RunTask", "SweepResult", "run_sweep", "run_task", "thin"]
