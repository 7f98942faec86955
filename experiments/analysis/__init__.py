"""What the runs say: SIR fits, sensitivity indices, mitigations compared, graph snapshots.

* :mod:`.sir_fit` the SIR with the administrators' cut-off as forcing, fitted to one storm;
  :mod:`.fit_folder` the fits of every storm in a run or sweep folder;
* :mod:`.sensitivity` Sobol' and Morris indices (SALib); :mod:`.sensitivity_run` a spec's
  design run as a sweep, then its indices;
* :mod:`.mitigations` the policies, the comparison sweep and its table;
* :mod:`.snapshots` a sample of the organisation graph with users' states at a few moments.
"""

from .sir_fit import fit_series

__all__ = ["fit_series"]
