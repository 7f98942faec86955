"""Sweeps on a real Dask cluster (scheduler and worker processes, as users start them)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import run_sweep
from replyall_storm.model.errors import ParameterError

pytest.importorskip("distributed")

SMOKE = Path(__file__).resolve().parents[1] / "experiments" / "specs" / "smoke.toml"


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` + `dask worker --nworkers 2` on 127.0.0.1; their scheduler file."""
    tmp = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "REPLYALL_CACHE": str(tmp / "cache")}
    bin_dir = Path(sys.executable).parent
    scheduler_file = tmp / "scheduler.json"
    procs = [_start([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                     str(scheduler_file)], tmp / "scheduler.log", env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, \
                (tmp / "scheduler.log").read_text()
            time.sleep(0.1)
        procs.append(_start([str(bin_dir / "dask"), "worker", "--scheduler-file",
                             str(scheduler_file), "--nworkers", "2", "--nthreads", "1",
                             "--no-dashboard", "--local-directory", str(tmp / "work")],
                            tmp / "worker.log", env))
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield scheduler_file, env
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.mark.slow
def test_smoke_sweep_on_dask_matches_local_bit_for_bit(cluster, tmp_path, monkeypatch):
    scheduler_file, env = cluster
    monkeypatch.setenv("REPLYALL_CACHE", env["REPLYALL_CACHE"])
    local = run_sweep(SMOKE, tmp_path / "local", workers=1, progress=False)
    address = json.loads(scheduler_file.read_text())["address"]
    on_dask = run_sweep(SMOKE, tmp_path / "dask", scheduler=address, progress=False)
    assert on_dask.ran == local.ran == 48 and (on_dask.runs["status"] == "ok").all()
    for name in ("runs.parquet", "series.parquet"):
        assert sha(tmp_path / "dask" / name) == sha(tmp_path / "local" / name), name
    timings = pd.read_parquet(on_dask.paths["timings"])
    assert timings["worker"].nunique() == 2  # both Dask worker processes took part
    # resuming through the scheduler file finds everything done
    again = run_sweep(SMOKE, tmp_path / "dask", scheduler=str(scheduler_file), progress=False)
    assert (again.ran, again.skipped) == (0, 48)


@pytest.mark.slow
def test_unreachable_scheduler_fails_fast_with_exit_2(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import distributed  # noqa: F401  (time the refusal, not the import)

    t0 = time.monotonic()
    with pytest.raises(ParameterError, match="no Dask scheduler answered within 10 s"):
        run_sweep(SMOKE, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}",
                  progress=False)
    assert time.monotonic() - t0 < 25  # its own 10 s time-out, not Dask's default 30 s
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, ["sweep", str(SMOKE), "--out", str(tmp_path / "out"),
                                       "--scheduler", str(tmp_path / "nothing.json"),
                                       "--no-progress"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--scheduler=" in result.stderr
