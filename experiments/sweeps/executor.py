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
The executor also watches the local workers itself: a worker killed while sending a result
is never noticed by the pool (:func:`_release_reader`), so a worker dead for
``LOST_WORKER_GRACE_S`` is a loss whether the pool has noticed or not.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import connect, run_on_dask, worker_wait_s
from .interrupts import POLL_S, StopRequest

#: Seconds a dead worker may go unnoticed by the pool before the executor calls it lost.
LOST_WORKER_GRACE_S = 5.0


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


def _init_worker(parent: int) -> None:
    """Leave the command's session and exit if the parent dies.

    The command's Ctrl-C and SIGTERM are the parent's to honour. Not by ignoring SIGTERM:
    a broken pool's clean-up (Python 3.13) terminates the workers left with SIGTERM and
    waits for them while it holds the pool's lock, and a ``submit`` from the parent would
    then wait for that lock for ever.
    """
    if hasattr(os, "setsid"):
        os.setsid()  # a new session and process group: killpg and the terminal miss it
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
                interrupted = _pool(fn, it, keep, workers, in_flight or 4 * workers, stop)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        return True
    if short[0]:
        raise InfrastructureError(f"{short[0]} runs ran out of memory (MemoryError) and were "
                                  "left incomplete, the others completed; fewer --workers "
                                  "leave each more memory", lost=short[0])
    return False


def _pool(fn: Callable[[Any], Any], it: Iterator[Any],
          handle: Callable[[Any, Outcome], None], workers: int, limit: int,
          stop: StopRequest) -> bool:
    """Run the tasks on a local process pool; True when a stop was requested."""
    # The resource tracker (started here) would warn of "leaked semaphores" after Ctrl-C
    # terminates the workers: nothing leaks that the OS does not reclaim, so hush it.
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = f"{saved},{quiet}" if saved else quiet
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(os.getpid(),))
    finally:
        if saved is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = saved
    pending: dict[Future, tuple[int, Any]] = {}  # future -> (submission number, task)
    seen: dict[int, Any] = {}  # pid -> Process, to tell how a dead worker died
    results = getattr(pool, "_result_queue", None)  # shutdown(wait=False) forgets it
    abandon = True  # the runs in flight, unless every task was handed over
    try:
        with stop.polled():
            abandon = _feed(pool, fn, it, handle, limit, stop, pending, seen)
        return abandon
    finally:
        if abandon:  # stopped, or failed: kill the workers (the runs in flight are lost)
            # No Future.cancel() from this thread: on Python 3.11, a future cancelled here and
            # still among the pool's work items makes the pool's manager thread raise
            # InvalidStateError when the killed workers break the pool (a thread traceback
            # after Ctrl-C). shutdown(cancel_futures=True) cancels them in that thread itself.
            _stop(pool, seen.values())
            _release_reader(results)
        pool.shutdown(wait=True, cancel_futures=True)


def _feed(pool: ProcessPoolExecutor, fn: Callable[[Any], Any], it: Iterator[Any],
          handle: Callable[[Any, Outcome], None], limit: int,
          stop: StopRequest, pending: dict[Future, tuple[int, Any]],
          seen: dict[int, Any]) -> bool:
    """Keep ``limit`` tasks in flight and hand over outcomes until done or asked to stop.

    Outcomes already back when the stop is asked for are handed over before it returns.
    """
    submitted = 0
    dead_since: float | None = None  # when a dead worker was first seen
    while True:
        while not stop.requested and len(pending) < limit and \
                (task := next(it, None)) is not None:
            try:
                fut = pool.submit(call, fn, task)
            except BrokenProcessPool:  # a worker died between two submissions
                if stop.requested:  # a worker still starting got the group's Ctrl-C
                    return True
                seen.update(getattr(pool, "_processes", None) or {})
                lost = len(pending) + 1
                raise WorkerLostError(f"a local worker process died{_how(seen.values())}: "
                                      f"{lost} runs in flight were left incomplete",
                                      lost=lost) from None
            pending[fut] = (submitted, task)
            submitted += 1
        seen.update(getattr(pool, "_processes", None) or {})
        if not pending:
            return stop.requested
        done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
        broken = 0
        for fut in sorted(done, key=lambda f: pending[f][0]):
            _, task = pending.pop(fut)
            try:
                outcome = fut.result()
            except Exception:  # noqa: BLE001 - BrokenProcessPool: a worker was killed
                broken += 1
                continue
            handle(task, outcome)
        if stop.requested:
            return True
        if broken:
            lost = broken + len(pending)
            raise WorkerLostError(f"a local worker process died{_how(seen.values())}: "
                                  f"{lost} runs in flight were left incomplete", lost=lost)
        if dead_since is None and any(p.exitcode is not None for p in seen.values()):
            dead_since = time.monotonic()
        if dead_since is not None and time.monotonic() - dead_since > LOST_WORKER_GRACE_S:
            # The pool has not noticed (its thread waits for the rest of a result the dead
            # worker was sending, or keeps reading the others' results): a loss all the same.
            raise WorkerLostError(f"a local worker process died{_how(seen.values())}: "
                                  f"{len(pending)} runs in flight were left incomplete",
                                  lost=len(pending))


def _release_reader(results: Any) -> None:
    """Let the pool's thread see the end of its result pipe once every worker is dead.

    A worker killed while it was sending a result leaves half a message in the pipe: the
    pool's thread (Python 3.11-3.13) waits for the rest for ever, never looks at the workers
    again, and ``shutdown(wait=True)``, or the interpreter's exit, waits for that thread. This
    process holds the pipe's last write end; closing it turns the wait into an end of file,
    which the pool handles as a broken pool. Called only after the workers were killed.
    """
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()


def _how(procs: Iterable[Any]) -> str:
    """How worker processes died, from their exit codes (-9: SIGKILL, e.g. out of memory).

    Python 3.13 reaps a broken pool's workers itself, leaving no exit code to read.
    """
    codes = sorted({p.exitcode for p in procs if p.exitcode not in (None, 0)})
    if codes == [-signal.SIGKILL]:
        return " (killed by SIGKILL: out of memory, or kill -9)"
    if codes:
        return f" (exit code {', '.join(str(c) for c in codes)})"
    return " (killed from outside: out of memory, or kill -9?)"


def _stop(pool: ProcessPoolExecutor, seen: Iterable[Any] = ()) -> None:
    """Kill the pool's workers now (runs in flight are abandoned).

    Killed first, then the pool shut down, so that nothing waits on a worker still busy
    with a run.
    """
    procs = {p.pid: p for p in [*seen, *(getattr(pool, "_processes", None) or {}).values()]}
    for p in procs.values():
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs.values():
        p.join(timeout=5)


__all__ = ["ClusterLostError", "InfrastructureError", "Outcome", "WorkerLostError", "call",
           "available_cpus", "connect", "execute", "local_workers", "worker_wait_s"]
