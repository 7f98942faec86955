"""replyall-storm experiments: what we do to the model.

* ``cli/`` the ``replyall`` command line: one thin module per command, and the click group;
* ``sweeps/`` specs, typed run tasks, the executor (local or Dask), the resumable store;
* ``calibration/`` the project's facts about real storms (``data/storms.toml``), the 2016
  observations, ABC (built-in APMC, pyabc) and the whole calibration;
* ``analysis/`` SIR fits, sensitivity indices, mitigations compared, graph snapshots;
* ``figures/`` every plot: the publication figures and the commands' own;
* ``benchmark.py`` the measurements of ``replyall bench``; ``io.py`` atomic writes and
  JSON-ready values; ``seeds.py`` every seed derived from a root seed;
* ``specs/`` ready sweep and calibration specs (found by name: ``replyall sweep smoke``),
  ``data/`` the facts with their sources, ``sample_results/`` a small sample of results.

``sweep.py`` keeps the import path ``replyall_storm.experiments.sweep.run_sweep``.
"""
