"""Tasks for the local pool that kill their own worker at a chosen moment (spawned workers
import this module by name, so it lives beside the tests rather than inside one)."""

from __future__ import annotations

import os
import signal
import struct
import time


def result_cut_short(task: int) -> int:
    """Return ``task`` after 0.2 s; task 3 dies (SIGKILL) half-way through sending its result.

    The worker's next message to the parent is its result: it goes out through
    ``Connection._send_bytes``, replaced here by one that sends the message's length and
    half of its bytes, as a worker killed in the middle of a large result would.
    """
    time.sleep(0.2)
    if task == 3:
        from multiprocessing import connection

        def half_then_die(self, buf) -> None:
            data = bytes(buf)
            self._send(struct.pack("!i", len(data)) + data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

        connection.Connection._send_bytes = half_then_die
    return task
