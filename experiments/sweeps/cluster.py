"""Tasks on a Dask cluster: connecting, waiting for workers, telling its failures from tasks'.

A task's own exception never reaches Dask: :func:`.executor.call` wraps it into an
:class:`~.executor.Outcome`. So a future that does not finish with a value was lost to the
infrastructure: the scheduler went away (every future is cancelled), a worker died each time
it ran the task (``KilledWorker``), the connection closed, or someone cancelled it. Such tasks
are never handed over (a sweep leaves those runs incomplete, and resuming runs them again);
once the others are handled, :class:`~.executor.ClusterLostError` says what happened, in one
line. A cluster without workers is waited for ``$REPLYALL_WORKER_WAIT`` seconds (default 30),
at the start and whenever it loses them all, then refused the same way.

While tasks run, distributed's own error logs (tracebacks of lost connections) are hushed,
and those of a client made here (:func:`connect`) for good: its reconnection attempts outlive
the sweep by seconds, and the sweep has already said what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from replyall_storm.model.errors import ParameterError

from .interrupts import POLL_S as STOP_POLL_S
from .interrupts import StopRequest

CONNECT_TIMEOUT_S = 10
WAIT_VAR = "REPLYALL_WORKER_WAIT"
DEFAULT_WAIT_S = 30.0
POLL_S = 1.0  # how often the cluster's state is looked at while tasks run
TERMINAL = ("finished", "error", "cancelled")  # a future in any other state may yet finish
QUIET = ("distributed", "distributed.client", "distributed.core", "distributed.batched",
         "distributed.comm", "distributed.utils", "tornado.application")


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


def connect(scheduler: str, *, wait_for_workers: bool = True) -> Any:
    """A client of ``scheduler`` (address or scheduler file) with at least one worker.

    Raises:
        ParameterError: no Dask installed, no scheduler answering within 10 s, or something
            else answering there.
        ClusterLostError: the scheduler has no worker within ``$REPLYALL_WORKER_WAIT`` s.
    """
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
            with quiet():
                client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            logging.getLogger("distributed.client").setLevel(logging.CRITICAL + 1)
            _ignore_lost_tasks(client)
        except Exception as err:  # noqa: BLE001 - any failure means: no scheduler there
            if isinstance(err, OSError | TimeoutError):
                why = " ".join(f"{type(err).__name__}: {err}".split())[:160]
                what = (f"no Dask scheduler answered within {CONNECT_TIMEOUT_S} s (start one "
                        f"with `dask scheduler`, check the address and port; {why})")
            else:  # garbage read as Dask's framing: the error says nothing useful
                what = ("what answers there is not a Dask scheduler (it does not speak "
                        "Dask's protocol: a web server, or the dashboard's port?)")
            raise ParameterError("--scheduler", scheduler, what) from None
    if wait_for_workers:
        await_workers(client, scheduler)
    return client


def _ignore_lost_tasks(client: Any) -> None:
    """Let the client's event loop drop the errors of tasks cut short by a lost cluster.

    (``AllExit``, closed comms: asyncio would print them as "never retrieved".)
    """
    loop = getattr(client.loop, "asyncio_loop", None)
    if loop is None:
        return
    previous = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        err = context.get("exception")
        if err is not None and type(err).__name__ in ("AllExit", "CommClosedError",
                                                       "CancelledError"):
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def _probe(address: str) -> None:
    from distributed.comm import connect as comm_connect

    comm = await asyncio.wait_for(comm_connect(address, timeout=CONNECT_TIMEOUT_S),
                                  CONNECT_TIMEOUT_S + 1)
    await comm.close()


def await_workers(client: Any, scheduler: str) -> None:
    """Return once the cluster has a worker; ClusterLostError after the bounded wait."""
    from .executor import ClusterLostError

    wait_s = worker_wait_s()
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (TimeoutError, OSError):
        client.close(timeout=10)
        raise ClusterLostError(f"the Dask scheduler {scheduler} has no workers: none joined "
                               f"within {wait_s:g} s (start `dask worker`, or wait longer with "
                               f"{WAIT_VAR}=SECONDS); nothing was run") from None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hush distributed's own error logs (tracebacks): the failures are reported in one line."""
    loggers = [logging.getLogger(name) for name in QUIET]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def run_on_dask(call: Callable[..., Any], fn: Callable[[Any], Any], it: Iterator[Any],
                handle: Callable[[Any, Any], None], scheduler: Any, in_flight: int | None,
                task_key: Callable[[Any], str] | None, stop: StopRequest) -> bool:
    """Submit ``call(fn, task)`` for each task to Dask; hand over each outcome as it arrives.

    Returns False when every task was handed over (outcomes marked ``lost``, out of memory,
    included: :func:`.executor.execute` counts those), True when ``stop`` was requested (the
    tasks still pending are cancelled; outcomes already back are handed over first); raises
    ClusterLostError (after handing over what did complete) when tasks were lost or the
    cluster went away. While it waits for the workers, Ctrl-C raises KeyboardInterrupt.
    """
    from .executor import ClusterLostError

    own = isinstance(scheduler, str | Path)
    client = connect(str(scheduler)) if own else scheduler
    wait_s = worker_wait_s()
    pending: dict[Any, tuple[int, Any]] = {}  # future -> (submission number, task)
    arrived: queue.SimpleQueue = queue.SimpleQueue()  # futures done (finished, lost, ...)
    lost: Counter[str] = Counter()
    again: set[Any] = set()  # futures done, then lost with their worker's memory
    state = {"threads": 1, "looked": 0.0, "empty_since": None}
    submitted, trouble = 0, None
    try:
        with quiet(), stop.polled():
            while not stop.requested:
                limit = in_flight or max(16, 4 * state["threads"])
                while trouble is None and not stop.requested and len(pending) < limit and \
                        (task := next(it, None)) is not None:
                    key = task_key(task) if task_key else None
                    fut = client.submit(call, fn, task, key=key, pure=False, retries=0)
                    pending[fut] = (submitted, task)
                    submitted += 1
                    fut.add_done_callback(arrived.put)
                if not pending or trouble is not None:
                    break
                done = _arrivals(arrived, pending) | {f for f in again if f.status in TERMINAL}
                again -= done
                for fut in sorted(done, key=lambda f: pending[f][0]):
                    outcome, why = _collect(fut)
                    if outcome is None and not why:  # its result died with a worker: the
                        again.add(fut)  # scheduler computes it again; wait for it
                        continue
                    _, task = pending.pop(fut)
                    with contextlib.suppress(Exception):
                        fut.release()
                    if outcome is None:
                        lost[why] += 1
                    else:
                        handle(task, outcome)
                trouble = trouble or _trouble(client, state, wait_s)
        if stop.requested:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))
            return True
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(pending))
        raise
    finally:
        if own:
            with contextlib.suppress(Exception), quiet():
                client.close(timeout=10)
    n_lost = sum(lost.values()) + len(pending)
    if trouble is None and not lost:
        return False
    kinds = "; ".join(f"{n} x {why}" for why, n in lost.most_common(3))
    what = trouble or "tasks were lost to the Dask cluster"
    raise ClusterLostError(f"{what}: {n_lost} runs in flight were left incomplete"
                           + (f" ({kinds})" if kinds and trouble is None else ""), lost=n_lost)


def _collect(fut: Any) -> tuple[Any, str]:
    """(the outcome, "") of a finished future, or (None, why it was lost).

    (None, "") when it is not done after all: the worker holding its result died, and the
    scheduler computes it again.
    """
    try:
        if fut.status == "finished":
            return fut.result(timeout=CONNECT_TIMEOUT_S), ""
        if fut.status == "error":
            err = fut.exception(timeout=CONNECT_TIMEOUT_S)
            name = type(err).__name__ if err is not None else "error"
            return None, (f"{name} (its worker died each time it ran it: out of memory?)"
                          if name == "KilledWorker" else name)
        if fut.status not in TERMINAL:
            return None, ""
        return None, f"{fut.status} by the scheduler"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - the result could not be fetched
        if fut.status not in TERMINAL:
            return None, ""
        return None, f"result lost ({type(err).__name__})"


def _trouble(client: Any, state: dict[str, Any], wait_s: float) -> str | None:
    """Why the cluster cannot go on (scheduler lost, no workers for too long), or None."""
    if client.status not in ("running", "newly-created"):
        return "the Dask scheduler was lost"
    now = time.monotonic()
    if now - state["looked"] < POLL_S:
        return None
    state["looked"] = now
    try:
        threads = sum(client.nthreads().values())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - no answer: the scheduler is gone
        return "the Dask scheduler was lost"
    state["threads"] = max(threads, 1)
    if threads:
        state["empty_since"] = None
        return None
    state["empty_since"] = state["empty_since"] or now
    if now - state["empty_since"] >= wait_s:
        return f"the Dask cluster has had no workers for {wait_s:g} s"
    return None


def _arrivals(arrived: queue.SimpleQueue, pending: dict[Any, Any]) -> set[Any]:
    """The pending futures done within a poll (at least one, unless none is done by then)."""
    done = set()
    with contextlib.suppress(queue.Empty):
        done.add(arrived.get(timeout=STOP_POLL_S))
        while True:
            done.add(arrived.get_nowait())
    return {f for f in done if f in pending}
