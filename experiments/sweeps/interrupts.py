"""Ctrl-C and SIGTERM while tasks run: asked for at any moment, honoured at a safe one.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when the signal
arrives. Inside ``concurrent.futures`` that can be half-way through taking a future's locks,
and the pool's shutdown then waits forever for a thread blocked on one of them (a sweep
stopped with Ctrl-C hung so, once, in CI); inside the outcome handler it can be half-way
through writing a run's record. :class:`StopRequest` turns the signal into a request:

* inside :meth:`StopRequest.polled` (the loops that wait on a local pool or on Dask, and
  check :attr:`~StopRequest.requested` at every poll of at most a quarter of a second), the
  signal only records the request;
* elsewhere (a task running in this process, with ``workers=1``) it raises
  ``KeyboardInterrupt`` at once, which ends the run in progress;
* inside :meth:`StopRequest.handing_over` it waits: the outcome is handed over whole, then
  ``KeyboardInterrupt`` is raised (or, when polled, the loop stops at its next check).

A worker process still starting (its imports come before the initializer that makes it
leave the session) dies of a Ctrl-C sent to the whole group and prints a traceback; with a stop
requested, the broken pool that leaves is part of the stop, not a lost worker. (Starting
workers with SIGINT ignored, which they would inherit, means ignoring it here meanwhile:
a Ctrl-C in those milliseconds was lost, and the sweep went on. Noise is the better fault.)

Only signals that would have raised ``KeyboardInterrupt`` are taken over: SIGINT with
Python's default handler, and SIGINT or SIGTERM with a Python handler (the command line's
SIGTERM handler is one). A signal ignored (a background job's SIGINT) or left to the OS
(a library caller's SIGTERM) keeps doing what it did. Handlers are restored on exit. Off the
main thread (where Python delivers no signal) nothing is installed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

POLL_S = 0.25  # seconds between two checks for a stop request, at most


class StopRequest:
    """Ctrl-C or SIGTERM asked for a stop; see the module docstring for when it acts."""

    def __init__(self) -> None:
        self.requested = False
        self._polled = False
        self._holding = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):  # Python code, not SIG_IGN or SIG_DFL
                self._saved[signum] = handler
                signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if not (self._polled or self._holding):
            raise KeyboardInterrupt

    @contextmanager
    def polled(self) -> Iterator[None]:
        """A loop that checks :attr:`requested` at least every :data:`POLL_S` seconds."""
        self._polled = True
        try:
            yield
        finally:
            self._polled = False

    @contextmanager
    def handing_over(self) -> Iterator[None]:
        """An outcome being handed over: a signal waits until it is, whole."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self.requested and not self._polled:
            raise KeyboardInterrupt


__all__ = ["POLL_S", "StopRequest"]
