"""Local sweeps under fire: a worker process killed, SIGTERM to any command, too many workers."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_specs import interruptible

from replyall_storm.experiments.sweeps.executor import available_cpus
from replyall_storm.experiments.sweeps.interrupts import StopRequest
from replyall_storm.experiments.sweeps.sweep import run_sweep

SPEC = interruptible("local")


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "local.toml"
    path.write_text(SPEC)
    return path


def wait_until(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "replyall_storm", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def parts(out: Path) -> int:
    return len(list((out / "parts").rglob("run-*.json"))) if (out / "parts").exists() else 0


def workers_of(pid: int) -> list[int]:
    """The pool's worker processes (multiprocessing's resource tracker does no work)."""
    found = []
    for line in subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)],
                               capture_output=True, text=True).stdout.splitlines():
        child, args = line.split(None, 1)
        if "spawn_main" in args:
            found.append(int(child))
    return found


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (neither reaped nor a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the OS for the process itself
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


def same_as_uninterrupted(spec: Path, out: Path, tmp_path: Path) -> None:
    ref = run_sweep(spec, tmp_path / "ref", workers=1, progress=False)
    resumed = run_sweep(spec, out, workers=1, progress=False)
    assert resumed.ran > 0 and resumed.skipped + resumed.ran == ref.n_runs
    for name in ("runs.parquet", "series.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name),
                                      pd.read_parquet(tmp_path / "ref" / name))


@pytest.mark.slow
def test_a_killed_local_worker_is_not_a_failed_run(spec, tmp_path):
    out = tmp_path / "out"
    proc = start("sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress")
    wait_until(lambda: parts(out) >= 4 or proc.poll() is not None, what="4 runs")
    pids = workers_of(proc.pid)
    assert pids, "no worker process found"
    os.kill(pids[0], signal.SIGKILL)  # what the out-of-memory killer does
    code, _, err = finish(proc)
    assert code == 75, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a local worker process died ("), err
    assert "out of memory, or kill -9" in lines[0]  # the exit code, where Python keeps it
    assert "run the same command to resume" in lines[0]
    records = [pd.read_json(p, typ="series") for p in (out / "parts").rglob("run-*.json")]
    assert records and all(r["status"] == "ok" for r in records)
    same_as_uninterrupted(spec, out, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_sigterm_to_the_process_group_stops_any_command_cleanly(spec, tmp_path, command):
    out = tmp_path / "out"
    args = (["sweep", str(spec)] if command == "sweep" else
            ["compare", "--scenario", "small", "--users", "600", "--uncalibrated",
             "--replicates", "6", "--set", "horizon_min=240"])
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = start(*args, "--out", str(out), "--workers", "2", "--no-progress", env=env)
    wait_until(lambda: parts(out) >= 4 or proc.poll() is not None, what="4 runs")
    os.killpg(proc.pid, signal.SIGTERM)  # a batch system's stop reaches the whole group
    code, _, err = finish(proc, timeout=30)
    assert code == 130, err
    assert "run the same command to resume" in err and "Traceback" not in err
    if command == "sweep":
        same_as_uninterrupted(spec, out, tmp_path)


@pytest.mark.slow
def test_more_workers_than_cpus_is_a_warning_and_capped(spec, tmp_path):
    cpus = available_cpus()
    asked = cpus + 10
    out = tmp_path / "out"
    proc = start("sweep", str(spec), "--out", str(out), "--workers", str(asked), "--no-progress")
    most = 0
    while proc.poll() is None:
        most = max(most, len(workers_of(proc.pid)))
        time.sleep(0.05)
    code, stdout, err = finish(proc)
    assert code == 0, err
    assert f"warning: --workers={asked} is more than the {cpus} CPUs this process may use: " \
        f"running {cpus}" in err
    assert 1 <= most <= cpus
    assert f"40 to run on {cpus} local worker(s)" in stdout


def test_a_worker_dying_between_two_submissions_is_lost_infrastructure(monkeypatch):
    """The pool can break while the sweep submits (not only while it waits): the same one-line
    infrastructure error, never a traceback (found under load by the suite itself)."""
    from concurrent.futures.process import BrokenProcessPool

    from replyall_storm.experiments.sweeps import executor, local_pool

    class Breaking(local_pool.ProcessPoolExecutor):
        calls = 0

        def submit(self, *args, **kwargs):
            Breaking.calls += 1
            if Breaking.calls == 3:
                raise BrokenProcessPool("A child process terminated abruptly")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(local_pool, "ProcessPoolExecutor", Breaking)
    done = []
    with pytest.raises(executor.WorkerLostError, match="a local worker process died") as err:
        local_pool.run_on_pool(executor.call, abs, iter(range(10)),
                               lambda task, outcome: done.append(task), 1, 5,
                               StopRequest())
    assert err.value.lost == 3 and done == []  # two in flight and the one refused


def test_the_pool_can_stop_a_busy_worker_after_another_was_killed():
    """Python 3.13's broken-pool clean-up SIGTERMs the workers left and waits for them while
    it holds the pool's lock. Workers that ignored SIGTERM made that wait (and the parent's
    next ``submit``, which takes the lock) last as long as their run: the CI hang after a
    kill -9. Now ``submit`` fails at once, the survivor has exited, and the workers are out
    of the command's process group, so its killpg does not reach them."""
    import multiprocessing as mp
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from replyall_storm.experiments.sweeps import local_pool

    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"),
                               initializer=local_pool._init_worker, initargs=(os.getpid(),))
    try:
        busy = [pool.submit(time.sleep, 60) for _ in range(2)]  # one run on each worker
        wait_until(lambda: len(pool._processes) == 2 and all(f.running() for f in busy),
                   timeout=60, what="two busy workers")
        procs = list(pool._processes.values())
        # once their initializers have run, the workers are out of this process group
        wait_until(lambda: all(os.getpgid(p.pid) != os.getpgid(0) for p in procs),
                   timeout=60, what="the workers to leave the process group")
        time.sleep(0.5)  # and into their runs
        os.kill(procs[0].pid, signal.SIGKILL)
        outcome: list[str] = []

        def submit_until_broken() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    pool.submit(time.sleep, 0)
                except BrokenProcessPool:
                    outcome.append("broken")
                    return
                time.sleep(0.01)
            outcome.append("never broken")

        t0 = time.monotonic()
        thread = threading.Thread(target=submit_until_broken, daemon=True)
        thread.start()
        thread.join(timeout=40)
        assert outcome == ["broken"], "submit blocked on the broken pool's lock"
        assert time.monotonic() - t0 < 20
        # The pool's manager thread reaps the worker itself: this process may never see its
        # exit code (a race between two waitpid calls), so ask the OS whether it still runs.
        wait_until(lambda: procs[1].exitcode is not None or not running(procs[1].pid),
                   timeout=10, what="the busy worker to be stopped by the pool's clean-up")
    finally:
        for p in list(pool._processes.values()):
            if p.is_alive():
                p.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_stopped_pool_leaves_cancelling_to_the_pool_s_own_thread(monkeypatch):
    """After a stop the pool's workers are killed. A future cancelled from this thread but
    still among the pool's work items made Python 3.11's manager thread raise
    InvalidStateError when the killed workers broke the pool: a thread's traceback after
    Ctrl-C (found by the CI's run of the Ctrl-C test). Cancelling is left to
    ``shutdown(cancel_futures=True)``, which does it in that thread."""
    import threading
    from concurrent.futures import Future

    from replyall_storm.experiments.sweeps import executor, local_pool

    main = threading.current_thread()
    cancelled_here = []
    cancel = Future.cancel

    def watched(self):
        if threading.current_thread() is main:
            cancelled_here.append(self)
        return cancel(self)

    monkeypatch.setattr(Future, "cancel", watched)
    raised = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_type))
    stop = StopRequest()

    def handle(task, outcome):  # the first outcome back: a Ctrl-C, as the signal handler does
        stop._on_signal(signal.SIGINT, None)

    tasks = iter([0.0, *[30.0] * 12])  # one quick run, then runs still in flight or queued
    t0 = time.perf_counter()
    assert local_pool.run_on_pool(executor.call, time.sleep, tasks, handle, 2, 8,
                                  stop) is True
    assert time.perf_counter() - t0 < 60  # the 30 s runs were killed, not waited for
    assert cancelled_here == [] and raised == []


CUT_SHORT = """
import sys, time
from replyall_storm.experiments.sweeps import executor, local_pool
from replyall_storm.experiments.sweeps.interrupts import StopRequest
import dying_worker

if __name__ == "__main__":
    done = []
    try:
        local_pool.run_on_pool(executor.call, dying_worker.result_cut_short, iter(range(12)),
                               lambda task, outcome: done.append(outcome.value), 2, 4,
                               StopRequest())
    except executor.WorkerLostError as err:
        print(f"lost {err.lost}; handed over {sorted(done)}; {err}")
"""


def test_a_worker_killed_while_sending_its_result_is_lost_not_a_hang(tmp_path):
    """A worker killed half-way through sending a result (kill -9 or the OOM killer during a
    large run's series) left the pool's thread waiting for the rest of the message for ever:
    no error, no exit (the CI's ``local-worker-loss`` fault, 300 s and killed). Now the
    executor notices the dead worker itself and releases that wait: the usual one-line loss,
    the completed outcomes handed over. Deterministic: the task cuts its own result short."""
    script = tmp_path / "cut_short.py"
    script.write_text(CUT_SHORT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 90
    line = proc.stdout.strip()
    assert "killed by SIGKILL" in line, line
    # tasks 0 and 1 came back before task 3 was sent (2 may have): 3 never was
    lost, handed = line.split(";")[:2]
    handed_over = set(ast.literal_eval(handed.strip().removeprefix("handed over ")))
    assert {0, 1} <= handed_over and 3 not in handed_over, line
    assert int(lost.split()[1]) >= 1
    assert "Traceback" not in proc.stderr, proc.stderr
