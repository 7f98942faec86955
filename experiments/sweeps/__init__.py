"""Sweeps: a spec (TOML) -> typed run tasks -> local processes or Dask -> a results folder.

* :mod:`.spec` the spec's pydantic models and what a spec derives (design points, tasks);
  :mod:`.validate` reading and checking a spec once, at the edge; :mod:`.catalogue` the
  specs that ship with the package, by name;
* :mod:`.tasks` :class:`RunTask`, the typed hand-off from a spec to a worker, and
  :func:`run_task`;
* :mod:`.executor` runs tasks in this process, a process pool or on Dask (:mod:`.cluster`),
  telling the infrastructure's failures from the tasks' own;
* :mod:`.store` the resumable results folder, :mod:`.parts` its checksummed run files,
  :mod:`.tables` the consolidated tables; :mod:`.manifest` its provenance;
* :mod:`.sweep` :func:`run_sweep`, which puts them together.
"""

from .catalogue import packaged_specs
from .spec import Spec, SpecError
from .sweep import SweepResult, run_sweep
from .tasks import RunTask, run_task, thin
from .validate import load_spec, parse_spec

__all__ = ["RunTask", "Spec", "SpecError", "SweepResult", "load_spec", "packaged_specs",
           "parse_spec", "run_sweep", "run_task", "thin"]
