"""Ctrl-C while tasks run: honoured at a safe moment, never mid-hand-over, never a hang.

A signal is a request (experiments/sweeps/interrupts.py): an outcome being handed over (a
run's record being written) is finished first, and the pool's bookkeeping is never cut.
Each case is a real process (tests/interrupt_script.py) sent real signals.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from replyall_storm.experiments.sweeps.interrupts import StopRequest

SCRIPT = Path(__file__).with_name("interrupt_script.py")


def start(log: Path, *args: object) -> subprocess.Popen:
    # SIGINT back to its default: a background job (`bash .ci/run &`) inherits it ignored
    return subprocess.Popen([sys.executable, str(SCRIPT), str(log), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung after the signal (killed after {timeout} s): {err[-2000:]}")
    assert proc.returncode == 0, err[-2000:]
    return out, err


@pytest.mark.parametrize("workers", [1, 2])
def test_a_ctrl_c_during_a_hand_over_waits_for_it_to_finish(tmp_path, workers):
    """The signal lands while the 4th outcome is being handed over (0.3 s of writing): that
    hand-over completes, none starts after the outcomes already back, and the run stops."""
    log = tmp_path / "handled.log"
    out, _ = finish(start(log, 40, 0.05, 0.3, workers, 3))
    assert "interrupted=True" in out
    text = log.read_text().splitlines()
    starts = [line.split()[1] for line in text if line.startswith("start")]
    ends = [line.split()[1] for line in text if line.startswith("end")]
    assert starts == ends  # every hand-over that began was finished
    assert 4 <= len(ends) < 40
    if workers == 1:  # in this process: the interrupt is raised as soon as it is done
        assert len(ends) == 4


def test_ctrl_c_to_the_process_group_at_any_moment_stops_cleanly(tmp_path):
    """SIGINT to the whole group (what the terminal sends) while the workers start, while
    they run and while outcomes arrive fast: every time the run stops within seconds and
    reports itself interrupted; this process prints no traceback."""
    rng = random.Random(20161114)
    moments = [0.0, 0.05, 0.2, 0.5, *(rng.uniform(0.8, 4.0) for _ in range(4))]
    for i, after in enumerate(moments):
        log = tmp_path / f"run{i}.log"
        proc = start(log, 100_000, 0.002, 0.0, 2)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(after)
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.perf_counter()
        out, err = finish(proc)
        assert "interrupted=True" in out, (after, out, err)
        # Exit 0 with that line: this process handled the signal. A traceback on stderr
        # can only be a worker's that was still starting (before its initializer took it
        # out of the session); none from a thread of this process (the pool's manager thread).
        assert "Exception in thread" not in err, (after, err[-2000:])
        assert time.perf_counter() - t0 < 20, after


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers can be set only from the main thread")
@pytest.mark.parametrize("sigterm", ["python", "default"])
def test_only_signals_python_handles_are_taken_over_and_restored(sigterm):
    """SIGINT with Python's handler and the command line's SIGTERM handler become a stop
    request; a library caller's SIGTERM (the OS default) and an ignored SIGINT (a
    background job's) are left as they were. All are restored afterwards."""
    def cli_handler(signum, frame):
        raise KeyboardInterrupt

    cases = {"python": (signal.default_int_handler, cli_handler),
             "default": (signal.SIG_IGN, signal.SIG_DFL)}[sigterm]
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, cases[0])
        signal.signal(signal.SIGTERM, cases[1])
        with StopRequest() as stop:
            inside = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
            with stop.polled():
                if sigterm == "python":
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(0.05)  # the handler runs at the next bytecode
        after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert after == cases
    if sigterm == "python":
        assert inside == (stop._on_signal, stop._on_signal) and stop.requested
    else:
        assert inside == cases and not stop.requested


def test_a_stop_request_raises_only_outside_polling_and_hand_overs():
    stop = StopRequest()
    with stop.polled():
        stop._on_signal(signal.SIGINT, None)  # recorded, not raised
    assert stop.requested
    stop = StopRequest()
    with pytest.raises(KeyboardInterrupt), stop.handing_over():
        stop._on_signal(signal.SIGINT, None)  # waits for the hand-over to finish
        finished = True
    assert finished
    with pytest.raises(KeyboardInterrupt):
        StopRequest()._on_signal(signal.SIGINT, None)


IMPORT_TIME = "import time:"


def imported(line: str) -> str:
    """The module named by one line of ``python -X importtime`` (written once it is imported)."""
    return line.rsplit("|", 1)[-1].strip() if line.startswith(IMPORT_TIME) else ""


@pytest.mark.parametrize("loaded", ["click", "numpy", "pandas"])
def test_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(tmp_path, loaded):
    """The commands' imports take a second or two: a Ctrl-C then is exit 130 with one line
    (the sweep's own Ctrl-C handling is not installed yet), never a traceback.

    It is sent once the command has imported `loaded` (the first of its imports, and two in the
    middle), as ``-X importtime`` reports, not after a fixed delay: on a loaded machine the
    interpreter's own start-up can outlast any delay, and a Ctrl-C there is Python's, not ours.
    """
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "replyall_storm",
                             "sweep", "smoke", "--out", str(tmp_path / "out"), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:  # blocks until the next module is imported, or the end
        seen.append(line)
        if imported(line) == loaded:
            break
    else:
        proc.wait(timeout=60)
        pytest.fail(f"the command never imported {loaded}: {''.join(seen)[-1000:]}")
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, rest = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the command did not stop")
    err = "".join(ln for ln in [*seen, *rest.splitlines(keepends=True)]
                  if not ln.startswith(IMPORT_TIME))
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3, err[-2000:]
    assert not (tmp_path / "out").exists()
