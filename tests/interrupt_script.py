"""A process that runs tasks with the executor, for tests/test_interrupts.py to Ctrl-C.

``python tests/interrupt_script.py LOG N_TASKS TASK_S HANDLE_S WORKERS [SIGNAL_AT]``: runs
``N_TASKS`` tasks of ``TASK_S`` seconds each; the outcome handler writes ``start i`` and
``end i`` lines to ``LOG`` with ``HANDLE_S`` seconds between them (a slow part being
written). With ``SIGNAL_AT`` = k, the handler sends this process SIGINT itself while it hands
over the k-th outcome. Prints ``ready`` once its imports are done (the workers start next)
and ``interrupted=<bool> handled=<n>`` at the end.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def nap(seconds: float) -> float:
    """The task: sleep (a run of the model, as far as the executor can tell)."""
    time.sleep(seconds)
    return seconds


def main() -> None:
    from replyall_storm.experiments.sweeps.executor import execute

    log, n_tasks, task_s, handle_s, workers = Path(sys.argv[1]), *map(float, sys.argv[2:6])
    signal_at = int(sys.argv[6]) if len(sys.argv) > 6 else -1
    handled = [0]

    with log.open("w", buffering=1) as out:
        def handle(task: float, outcome) -> None:
            out.write(f"start {handled[0]}\n")
            if handled[0] == signal_at:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(handle_s)
            out.write(f"end {handled[0]}\n")
            handled[0] += 1

        print("ready", flush=True)  # imports done: the workers start next
        try:
            interrupted = execute(nap, [task_s] * int(n_tasks), handle, workers=int(workers))
        except KeyboardInterrupt:  # before execute took the signal over (as the CLI would)
            interrupted = True
    print(f"interrupted={interrupted} handled={handled[0]}", flush=True)


if __name__ == "__main__":
    main()
