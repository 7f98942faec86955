"""Run many independent tasks: in this process, on a local process pool, or on Dask.

The executor knows nothing about storms: it calls a module-level function ``fn(task)`` for
each task (a picklable value: a sweep's :class:`~.tasks.RunTask`, a fit's series) and hands
every :class:`Outcome` to a callback in the calling process, in completion order (outcomes
that complete together in submission order). A task that raises does not stop the
others; its outcome carries the error type and message instead of a value.

* ``workers=1``: runs in this process (no start-up cost; debuggers work).
* ``workers=N``: a ``ProcessPoolExecutor`` with the ``spawn`` context (what ``import mesa``
  selects anyway); once started, each worker leaves the command's session, so a Ctrl-C or a
  batch system's SIGTERM to the process group reaches only this process (a worker still
  starting, in the first second or two, dies of it and prints its traceback: the pool is
  stopped anyway).
* ``scheduler=ADDRESS``: a running Dask scheduler (``tcp://host:port`` or a scheduler JSON
  file); its workers must have ``replyall-storm`` installed (:mod:`.cluster`).

Tasks are submitted in bounded batches (a few per worker in flight) so a sweep of a million
runs does not hold a million futures. Ctrl-C (or the command line's SIGTERM) cancels what is
queued, stops the workers and returns with ``interrupted=True``: outcomes already handed
over are kept, and so are those already back from the workers; runs still in flight are
lost (and run again when the caller resumes). The signal never interrupts the hand-over of
an outcome, nor the pool's own bookkeeping: it is a request the loop honours at its next
poll (:mod:`.interrupts`).

A task's own exception is data (its outcome's ``error``); the infrastructure failing is not:
a local worker process killed (out of memory, kill -9), a Dask scheduler or worker lost. The
tasks it held are never handed over, and once every completed outcome has been, an
:class:`InfrastructureError` says what happened (:class:`WorkerLostError` for the local pool,
:class:`ClusterLostError` for Dask). Local workers are stopped by the parent (or by the
pool's own clean-up, which sends them SIGTERM and waits) and exit when the parent dies.
The local pool's mechanics (its workers, what it does when one dies) are in
:mod:`.local_pool`, the cluster's in :mod:`.cluster`.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import connect, run_on_dask, worker_wait_s
from .interrupts import StopRequest
from .local_pool import run_on_pool


class InfrastructureError(RuntimeError):
    """Tasks were lost to the infrastructure, not to their own errors.

    Raised once every outcome that did complete has been handed over. The lost tasks were
    never handed over (a sweep leaves those runs incomplete, and resuming runs them again);
    ``lost`` is how many.
    """

    def __init__(self, message: str, lost: int = 0) -> None:
        super().__init__(message)
        self.lost = lost


class WorkerLostError(InfrastructureError):
    """A local worker process died (killed, out of memory): the pool cannot go on."""


class ClusterLostError(InfrastructureError):
    """The Dask scheduler was lost, its workers were, or tasks were cancelled or killed."""


@dataclass
class Outcome:
    """What one task yielded: ``value``, or ``error_type`` and ``error``."""

    value: Any = None
    error_type: str | None = None
    error: str | None = None
    wall_s: float = 0.0
    worker: str = ""
    lost: str | None = None  # the machine failed the task (out of memory): never handed over

    @property
    def ok(self) -> bool:
        """Whether the task returned normally."""
        return self.error_type is None


def call(fn: Callable[[Any], Any], task: Any) -> Outcome:
    """Run ``fn(task)`` and wrap its value or its exception (runs in the worker)."""
    t0 = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        value = fn(task)
    except MemoryError:  # the machine's failure, not the task's: it may well fit elsewhere
        return Outcome(lost="MemoryError", wall_s=time.perf_counter() - t0, worker=where)
    except Exception as err:  # noqa: BLE001 - a failing task is data, not a crash
        last = traceback.extract_tb(err.__traceback__)[-1:]
        at = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        message = " ".join(str(err).split()) or repr(err)
        return Outcome(error_type=type(err).__name__, error=message + at,
                       wall_s=time.perf_counter() - t0, worker=where)
    return Outcome(value=value, wall_s=time.perf_counter() - t0, worker=where)


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def local_workers(asked: int | None, n_tasks: int,
                  warn: Callable[[str], None] | None = None) -> int:
    """Local worker processes for ``n_tasks``: ``asked`` (default: every CPU available).

    Never more than the CPUs available (more processes would only compete for them, and each
    holds a run's organisation in memory: a warning says so) nor than the tasks.
    """
    cpus = available_cpus()
    if asked is not None and asked > cpus and warn is not None:
        warn(f"warning: --workers={asked} is more than the {cpus} CPUs this process may use: "
             f"running {cpus} (more processes would only compete for them)")
    return max(1, min(asked or cpus, cpus, n_tasks))


def execute(fn: Callable[[Any], Any], tasks: Iterable[Any],
            handle: Callable[[Any, Outcome], None], *, workers: int = 1,
            scheduler: Any = None, in_flight: int | None = None,
            task_key: Callable[[Any], str] | None = None) -> bool:
    """Run ``fn(task)`` for every task; call ``handle(task, outcome)`` as each completes.

    Args:
        fn: a module-level function (it is pickled by reference).
        tasks: the tasks, submitted lazily in this order.
        handle: called in this process for every outcome, in completion order.
        workers: local processes (1 = this process); ignored with ``scheduler``.
        scheduler: a Dask scheduler's address or scheduler file, or a connected
            ``distributed.Client`` (left open).
        in_flight: most tasks submitted but not handled (default: 4 per worker).
        task_key: names a task for the Dask dashboard.

    Returns:
        True if interrupted by Ctrl-C, False when every task was handled.

    Raises:
        InfrastructureError: tasks were lost to the machine or the cluster (a worker killed,
            the scheduler lost, a task out of memory), after every other outcome was handled.
    """
    it = iter(tasks)
    short = [0]  # tasks that ran out of memory

    def keep(task: Any, outcome: Outcome) -> None:
        if outcome.lost is not None:
            short[0] += 1
            return
        with stop.handing_over():
            handle(task, outcome)

    with StopRequest() as stop:
        try:
            if scheduler is not None:
                interrupted = run_on_dask(call, fn, it, keep, scheduler, in_flight, task_key,
                                          stop)
            elif workers <= 1:
                for task in it:
                    keep(task, call(fn, task))
                interrupted = False
            else:
                interrupted = run_on_pool(call, fn, it, keep, workers,
                                          in_flight or 4 * workers, stop)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        return True
    if short[0]:
        raise InfrastructureError(f"{short[0]} runs ran out of memory (MemoryError) and were "
                                  "left incomplete, the others completed; fewer --workers "
                                  "leave each more memory", lost=short[0])
    return False


__all__ = ["ClusterLostError", "InfrastructureError", "Outcome", "WorkerLostError", "call",
           "available_cpus", "connect", "execute", "local_workers", "worker_wait_s"]
