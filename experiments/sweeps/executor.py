"""Run many independent tasks: in this process, on a local process pool, or on Dask.

The executor knows nothing about storms: it calls a module-level function ``fn(task)`` for
each task (a picklable value: a sweep's :class:`~.tasks.RunTask`, a fit's series) and hands
every :class:`Outcome` to a callback in the calling process, in completion order (outcomes
that complete together in submission order). A task that raises does not stop the
others; its outcome carries the error type and message instead of a value.

* ``workers=1``: runs in this process (no start-up cost; debuggers work).
* ``workers=N``: a ``ProcessPoolExecutor`` with the ``spawn`` context (what ``import mesa``
  selects anyway); workers ignore SIGINT so Ctrl-C reaches only this process.
* ``scheduler=ADDRESS``: a running Dask scheduler (``tcp://host:port`` or a scheduler JSON
  file); its workers must have ``replyall-storm`` installed.

Tasks are submitted in bounded batches (a few per worker in flight) so a sweep of a million
runs does not hold a million futures. Ctrl-C cancels what is queued, stops the workers and
returns with ``interrupted=True``: outcomes already handed over are kept, runs in flight are
lost (and run again when the caller resumes).
"""

from __future__ import annotations

import asyncio
import json
import math
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
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replyall_storm.model.errors import ParameterError

CONNECT_TIMEOUT_S = 10
WAIT_VAR = "REPLYALL_WORKER_WAIT"
DEFAULT_WAIT_S = 30.0


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
    except Exception as err:  # noqa: BLE001 - a failing task is data, not a crash
        last = traceback.extract_tb(err.__traceback__)[-1:]
        at = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        message = " ".join(str(err).split()) or repr(err)
        return Outcome(error_type=type(err).__name__, error=message + at,
                       wall_s=time.perf_counter() - t0, worker=where)
    return Outcome(value=value, wall_s=time.perf_counter() - t0, worker=where)


def worker_wait_s() -> float:
    """Seconds to wait for a Dask worker: ``$REPLYALL_WORKER_WAIT``, default 30."""
    text = os.environ.get(WAIT_VAR, "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ParameterError(WAIT_VAR, text, "must be a number of seconds > 0")
    return seconds


def _init_worker(parent: int) -> None:
    """Ignore Ctrl-C (the parent handles it) and exit if the parent dies (kill -9, OOM)."""
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
    """
    it = iter(tasks)
    try:
        if scheduler is not None:
            return _dask(fn, it, handle, scheduler, in_flight, task_key)
        if workers <= 1:
            for task in it:
                handle(task, call(fn, task))
            return False
        return _pool(fn, it, handle, workers, in_flight or 4 * workers)
    except KeyboardInterrupt:
        return True


def _pool(fn: Callable[[Any], Any], it: Iterator[Any],
          handle: Callable[[Any, Outcome], None], workers: int, limit: int) -> bool:
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
    submitted = 0
    try:
        while True:
            while len(pending) < limit and (task := next(it, None)) is not None:
                pending[pool.submit(call, fn, task)] = (submitted, task)
                submitted += 1
            if not pending:
                return False
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f][0]):
                _, task = pending.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as err:  # BrokenProcessPool: a worker was killed (OOM?)
                    raise WorkerLostError(
                        f"a worker process died while running a task ({type(err).__name__}); "
                        "completed runs are kept: re-run to resume") from None
                handle(task, outcome)
    except BaseException:
        for fut in pending:
            fut.cancel()
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers now (runs in flight are abandoned)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def connect(scheduler: str) -> Any:
    """Connect to ``scheduler``; ParameterError if no scheduler answers within 10 s."""
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError("--scheduler", scheduler, "needs Dask: pip install "
                             "'replyall-storm[dask]' (dask[distributed])") from None
    address = scheduler
    if scheduler.endswith(".json") and not Path(scheduler).is_file():
        raise ParameterError("--scheduler", scheduler, "no such scheduler file")
    if Path(scheduler).is_file():  # a scheduler file (dask scheduler --scheduler-file F)
        try:
            address = json.loads(Path(scheduler).read_text())["address"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ParameterError("--scheduler", scheduler, f"is not a Dask scheduler file "
                                 f"({type(err).__name__}: {err})") from None
    # Handshake in a thread of our own first: whatever answers (nothing, a web server, the
    # dashboard port) fails here, fast and without a half-made Client to clean up.
    with ThreadPoolExecutor(1) as pool:
        probe = pool.submit(asyncio.run, _probe(address))
        try:
            probe.result(timeout=CONNECT_TIMEOUT_S + 2)
            return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as err:  # noqa: BLE001 - any failure means: no scheduler there
            why = " ".join(f"{type(err).__name__}: {err}".split())[:160]
            what = (f"no Dask scheduler answered within {CONNECT_TIMEOUT_S} s"
                    if isinstance(err, OSError | TimeoutError) else
                    "what answers there is not a Dask scheduler")
            raise ParameterError("--scheduler", scheduler,
                                 f"{what} (start one with `dask scheduler`, check the address "
                                 f"and port; {why})") from None


async def _probe(address: str) -> None:
    from distributed.comm import connect as comm_connect

    comm = await asyncio.wait_for(comm_connect(address, timeout=CONNECT_TIMEOUT_S),
                                  CONNECT_TIMEOUT_S + 1)
    await comm.close()


def _dask(fn: Callable[[Any], Any], it: Iterator[Any],
          handle: Callable[[Any, Outcome], None], scheduler: Any,
          in_flight: int | None, task_key: Callable[[Any], str] | None) -> bool:
    from distributed import as_completed

    own = isinstance(scheduler, str | Path)
    client = connect(str(scheduler)) if own else scheduler
    pending: dict[Any, Any] = {}
    checked = [0.0, 16]  # when the limit was last computed, and the limit

    def limit() -> int:
        if in_flight:
            return in_flight
        if time.monotonic() - checked[0] > 2.0:  # clusters grow: ask now and then
            threads = sum(client.nthreads().values())
            checked[:] = [time.monotonic(), max(16, 4 * threads)]
        return int(checked[1])

    def submit(ac: Any) -> None:
        while len(pending) < limit() and (task := next(it, None)) is not None:
            key = task_key(task) if task_key else None
            fut = client.submit(call, fn, task, key=key, pure=False, retries=0)
            pending[fut] = task
            if ac is not None:
                ac.add(fut)

    try:
        submit(None)
        if not pending:
            return False
        ac = as_completed(list(pending), loop=client.loop)
        for fut in ac:
            task = pending.pop(fut)
            if fut.status == "finished":
                outcome = fut.result()
            else:  # the task never returned: its worker died repeatedly (KilledWorker)
                try:
                    err = fut.exception()
                except BaseException as exc:  # noqa: BLE001 - cancelled by the scheduler
                    err = exc
                outcome = Outcome(error_type=type(err).__name__,
                                  error=" ".join(str(err).split()))
            fut.release()
            handle(task, outcome)
            submit(ac)
        return False
    except BaseException:
        client.cancel(list(pending))
        raise
    finally:
        if own:
            client.close(timeout=10)
