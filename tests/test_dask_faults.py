"""The cluster fails, the sweep does not: a real Dask scheduler and workers on loopback, killed.

Losing the scheduler, every worker, or a worker each time it runs a task is never recorded as
a run's failure: those runs are left incomplete, the command ends with one line and exit code
75, and a plain resume completes the sweep with the same tables as an uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fault_injection import Cluster, wait_until
from sweep_specs import interruptible

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweeps.executor import ClusterLostError
from replyall_storm.experiments.sweeps.sweep import run_sweep
from replyall_storm.model.errors import ParameterError

pytest.importorskip("distributed")

SPEC = interruptible("lose")


@pytest.fixture
def cluster(tmp_path):
    env = {**os.environ, "REPLYALL_CACHE": str(tmp_path / "cache")}
    c = Cluster(tmp_path, env)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "lose.toml"
    path.write_text(SPEC)
    return path


def sweep(spec: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "replyall_storm", "sweep", str(spec),
                             "--out", str(out), "--no-progress", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def parts(out: Path) -> int:
    return len(list((out / "parts").rglob("run-*.json"))) if (out / "parts").exists() else 0


def assert_resumes_to_the_reference(spec: Path, out: Path, tmp_path: Path) -> None:
    """No run recorded as failed; a plain local resume gives the uninterrupted tables."""
    records = [pd.read_json(p, typ="series") for p in (out / "parts").rglob("run-*.json")]
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    ref = run_sweep(spec, tmp_path / "ref", workers=1, progress=False)
    resumed = run_sweep(spec, out, workers=1, progress=False)
    assert resumed.ran == ref.n_runs - len(records) > 0
    for name in ("runs.parquet", "series.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name),
                                      pd.read_parquet(tmp_path / "ref" / name))


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err


@pytest.mark.slow
def test_losing_the_scheduler_leaves_runs_in_flight_incomplete(cluster, spec, tmp_path):
    scheduler = cluster.scheduler()
    cluster.worker()
    cluster.wait_for_workers(1)
    out = tmp_path / "out"
    proc = sweep(spec, out, cluster.env, "--scheduler", str(cluster.file))
    wait_until(lambda: parts(out) >= 6 or proc.poll() is not None, what="6 runs")
    os.killpg(scheduler.pid, signal.SIGKILL)
    code, err = finish(proc)
    assert code == 75, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the Dask scheduler was lost: "), err
    assert "run the same command to resume" in lines[0] and "NoneType" not in err
    assert_resumes_to_the_reference(spec, out, tmp_path)


@pytest.mark.slow
def test_losing_every_worker_ends_after_the_wait(cluster, spec, tmp_path):
    cluster.scheduler()
    worker = cluster.worker()
    cluster.wait_for_workers(1)
    out = tmp_path / "out"
    proc = sweep(spec, out, {**cluster.env, "REPLYALL_WORKER_WAIT": "3"}, "--scheduler",
                 str(cluster.file))
    wait_until(lambda: parts(out) >= 6 or proc.poll() is not None, what="6 runs")
    os.killpg(worker.pid, signal.SIGKILL)  # the nanny and its worker: no worker is left
    t0 = time.monotonic()
    code, err = finish(proc)
    assert code == 75, err
    assert time.monotonic() - t0 < 60
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: the Dask cluster has had no workers for 3 s: "), err
    assert_resumes_to_the_reference(spec, out, tmp_path)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_sweep_completes(cluster, spec, tmp_path):
    cluster.scheduler()
    cluster.worker()
    cluster.wait_for_workers(1)
    out = tmp_path / "out"
    proc = sweep(spec, out, cluster.env, "--scheduler", str(cluster.file))
    wait_until(lambda: parts(out) >= 6 or proc.poll() is not None, what="6 runs")
    (worker_pid,) = cluster.worker_pids()
    os.kill(worker_pid, signal.SIGKILL)  # the nanny starts another; Dask retries its task
    code, err = finish(proc)
    assert code == 0, err
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 40 and (runs["status"] == "ok").all()
    ref = run_sweep(spec, tmp_path / "ref", workers=1, progress=False)
    pd.testing.assert_frame_equal(runs, ref.runs)


@pytest.mark.slow
def test_a_task_whose_worker_dies_is_lost_not_failed(cluster, spec, tmp_path):
    # allowed-failures = 0: the first worker death while a task runs is KilledWorker
    cluster.env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    cluster.scheduler()
    cluster.worker()
    cluster.wait_for_workers(1)
    out = tmp_path / "out"
    proc = sweep(spec, out, cluster.env, "--scheduler", str(cluster.file))
    wait_until(lambda: parts(out) >= 6 or proc.poll() is not None, what="6 runs")
    (worker_pid,) = cluster.worker_pids()
    os.kill(worker_pid, signal.SIGKILL)
    code, err = finish(proc)
    assert code == 75, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "KilledWorker" in lines[0], err
    assert lines[0].startswith("error: tasks were lost to the Dask cluster: ")
    assert parts(out) < 40
    assert_resumes_to_the_reference(spec, out, tmp_path)


@pytest.mark.slow
def test_a_scheduler_without_workers_is_an_error_after_a_bounded_wait(cluster, spec, tmp_path,
                                                                     monkeypatch):
    cluster.scheduler()
    monkeypatch.setenv("REPLYALL_WORKER_WAIT", "2")
    t0 = time.monotonic()
    with pytest.raises(ClusterLostError, match="has no workers: none joined within 2 s"):
        run_sweep(spec, tmp_path / "out", scheduler=str(cluster.file), progress=False)
    assert time.monotonic() - t0 < 30 and not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["sweep", str(spec), "--scheduler", str(cluster.file),
                                       "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 75 and result.output.count("\n") == 1, result.output
    assert "REPLYALL_WORKER_WAIT" in result.output and not (tmp_path / "out").exists()


def test_something_else_answering_is_named_without_its_garbage(spec, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    def answer() -> None:  # a web server where the scheduler should be
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" * 10)

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(ParameterError) as err:
            run_sweep(spec, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}",
                      progress=False)
    finally:
        server.close()
    text = str(err.value)
    assert "is not a Dask scheduler" in text and "MemoryError" not in text
    assert "EiB" not in text and text.count("\n") == 0
