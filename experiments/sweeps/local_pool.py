"""The local process pool: its workers, and what happens when one of them dies.

A ``ProcessPoolExecutor`` with the ``spawn`` context (what ``import mesa`` selects anyway).
Once started, each worker leaves the command's session, so a Ctrl-C or a batch system's
SIGTERM to the process group reaches only the parent (a worker still starting, in the first
second or two, dies of it and prints its traceback: the pool is stopped anyway), and exits
when the parent dies.

A worker killed (out of memory, kill -9) breaks the pool: the runs it and the others held
are never handed over, and once every completed outcome has been, a
:class:`~.executor.WorkerLostError` says how it died. Two ways the standard pool (Python
3.11-3.13) can miss that are handled here:

* a worker killed while it was sending a result leaves half a message in the result pipe,
  and the pool's thread waits for the rest for ever (:func:`_release_reader`);
* while the other workers' results keep arriving, the pool does not look at its workers.

So the parent watches its workers itself: one dead for ``LOST_WORKER_GRACE_S`` seconds is a
loss whether the pool has noticed or not. On a stop or a loss the workers are killed, then
the pool is shut down, so nothing waits on a worker still busy with a run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from .interrupts import POLL_S, StopRequest

if TYPE_CHECKING:
    from .executor import Outcome, WorkerLostError

#: Seconds a dead worker may go unnoticed by the pool before the parent calls it lost.
LOST_WORKER_GRACE_S = 5.0


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


def run_on_pool(call: Callable[[Callable[[Any], Any], Any], Outcome],
                fn: Callable[[Any], Any], it: Iterator[Any],
                handle: Callable[[Any, Outcome], None], workers: int, limit: int,
                stop: StopRequest) -> bool:
    """Run the tasks on a local pool; True when a stop was requested.

    Each task runs as ``call(fn, task)`` in one of ``workers`` processes, at most ``limit``
    in flight, and its outcome is handed to ``handle`` in this process.

    Raises:
        WorkerLostError: a worker died; the outcomes that completed were handed over.
    """
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
            abandon = _feed(pool, call, fn, it, handle, limit, stop, pending, seen)
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


def _feed(pool: ProcessPoolExecutor, call: Callable[[Callable[[Any], Any], Any], Outcome],
          fn: Callable[[Any], Any], it: Iterator[Any],
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
                raise _worker_lost(seen.values(), len(pending) + 1) from None
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
            raise _worker_lost(seen.values(), broken + len(pending))
        if dead_since is None and any(p.exitcode is not None for p in seen.values()):
            dead_since = time.monotonic()
        if dead_since is not None and time.monotonic() - dead_since > LOST_WORKER_GRACE_S:
            # The pool has not noticed (its thread waits for the rest of a result the dead
            # worker was sending, or keeps reading the others' results): a loss all the same.
            raise _worker_lost(seen.values(), len(pending))


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


def _worker_lost(procs: Iterable[Any], lost: int) -> WorkerLostError:
    """The error for a sweep whose local worker died, with ``lost`` runs left incomplete."""
    from .executor import WorkerLostError  # executor imports this module

    return WorkerLostError(f"a local worker process died{_how(procs)}: "
                           f"{lost} runs in flight were left incomplete", lost=lost)


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


__all__ = ["LOST_WORKER_GRACE_S", "run_on_pool"]
