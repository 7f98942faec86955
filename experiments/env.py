"""Environment variables the commands read, each checked once when a command starts.

* ``REPLYALL_CACHE``: folder of the organisation-graph cache (default
  ``~/.cache/replyall-storm``); ``REPLYALL_CACHE_MAX_MB``: its size limit in megabytes
  (default 2048; the least recently used files go first; 0 keeps nothing). See
  :mod:`replyall_storm.model.graph_cache` and ``replyall cache``.
* ``REPLYALL_WORKER_WAIT``: seconds a sweep on Dask waits for a worker, at the start and
  whenever the cluster has none (default 30); see :mod:`.sweeps.executor`.
* ``REPLYALL_RESULTS``: the results folder the notebooks read (default ``results``).

A malformed value is a one-line :class:`ParameterError` naming the variable, raised by
:func:`check_environment` before any work rather than inside a worker.
"""

from __future__ import annotations

from replyall_storm.model.graph_cache import cache_limit_bytes

from .sweeps.executor import worker_wait_s


def check_environment() -> None:
    """Parse every variable above once; ParameterError (one line) on a malformed one."""
    cache_limit_bytes()
    worker_wait_s()
