"""Sweeps (experiments/sweep.py): same bits whatever the workers, resume, failures, kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sweep_specs import interruptible

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import run_sweep
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import get_scenario

TINY = {
    "name": "tiny", "scenario": "small", "root_seed": 11, "replicates": 3,
    "fixed": {"n_users": 500, "horizon_min": 240},
    "design": {"kind": "grid", "parameters": {
        "remove_rate": {"values": [1e-3, 4e-3]}, "cutoff_min": {"values": [30.0, float("inf")]}}},
    "outputs": {"series": True, "series_every_min": 10},
}

KILL_TOML = interruptible("killme")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_same_bits_with_one_or_two_workers_and_seeds_reproduce_runs(tmp_path):
    one = run_sweep(TINY, tmp_path / "one", workers=1, progress=False)
    two = run_sweep(TINY, tmp_path / "two", workers=2, progress=False)
    assert (one.ran, two.ran, len(one.runs)) == (12, 12, 12)
    assert (one.runs["status"] == "ok").all()
    for name in ("runs.parquet", "series.parquet", "design.parquet"):
        assert sha(tmp_path / "one" / name) == sha(tmp_path / "two" / name), name
    runs = one.runs
    assert runs["run_id"].tolist() == list(range(12))
    assert set(runs.columns) >= {"point", "replicate", "seed_entropy", "seed_spawn_key",
                                 "remove_rate", "cutoff_min", "messages_per_user", "error"}
    assert np.isinf(runs["cutoff_min"]).sum() == 6
    series = one.series
    assert series.groupby("run_id").size().tolist() == [24] * 12
    # the stored seed reproduces a run on its own
    row = runs.iloc[7]
    p, r = (int(k) for k in row["seed_spawn_key"].split(","))
    params = get_scenario("small").params(n_users=500, horizon_min=240,
                                          remove_rate=row["remove_rate"],
                                          cutoff_min=row["cutoff_min"])
    alone = simulate(params, seed=np.random.SeedSequence(int(row["seed_entropy"]),
                                                         spawn_key=(p, r)), cache=False)
    assert alone.summary["deliveries"] == row["deliveries"]
    assert alone.summary["messages_read_per_user"] == row["messages_read_per_user"]


def test_resume_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "out"
    first = run_sweep(TINY, out, workers=1, progress=False)
    runs_sha, series_sha = sha(out / "runs.parquet"), sha(out / "series.parquet")
    parts = sorted((out / "parts").rglob("run-*.json"))
    assert len(parts) == first.n_runs == 12
    for rid in (2, 9):
        (out / "parts" / "0000" / f"run-{rid:06d}.json").unlink()
    (out / "parts" / "0000" / "run-000005.series.parquet").unlink()
    untouched = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("run-*.json")
                 if p.name != "run-000005.json"}
    again = run_sweep(TINY, out, workers=1, progress=False)
    assert (again.ran, again.skipped) == (3, 9)
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched
    assert sha(out / "runs.parquet") == runs_sha
    assert sha(out / "series.parquet") == series_sha
    third = run_sweep(TINY, out, workers=1, progress=False)
    assert (third.ran, third.skipped) == (0, 12)


def test_other_spec_in_same_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    small = {**TINY, "replicates": 1}
    run_sweep(small, out, workers=1, progress=False)
    with pytest.raises(ParameterError, match="holds a different spec"):
        run_sweep({**small, "root_seed": 12}, out, workers=1, progress=False)
    (tmp_path / "stranger").mkdir()
    (tmp_path / "stranger" / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="no manifest.json"):
        run_sweep(small, tmp_path / "stranger", workers=1, progress=False)


def test_failing_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    # working hours from 12:00 to 10:00 break a constraint between two parameters that each
    # pass alone: those runs fail when they build their parameters, the others complete
    spec = tmp_path / "fails.toml"
    spec.write_text("""
name = "fails"
scenario = "small"
root_seed = 1
replicates = 2
[fixed]
n_users = 300
horizon_min = 60
[design]
kind = "grid"
[design.parameters.workday_start_h]
values = [8.0, 12.0]
[design.parameters.workday_end_h]
values = [18.0, 10.0]
""")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(out), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "8 runs, 8 run now, 0 already done, 2 failed" in result.stdout
    assert "2 x ParameterError: workday_end_h=10.0: must be after workday_start_h=12.0" \
        in result.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    failed = runs[runs["status"] == "failed"]
    assert failed["run_id"].tolist() == [6, 7]
    assert (failed["error_type"] == "ParameterError").all()
    assert failed["messages_per_user"].isna().all()
    assert runs.loc[runs["status"] == "ok", "messages_per_user"].notna().all()
    assert pd.read_parquet(out / "series.parquet")["run_id"].nunique() == 6


def _sweep_cmd(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "replyall_storm.experiments", "sweep", str(spec), "--out",
            str(out), "--no-progress", *extra]


def _wait_for_parts(out: Path, proc: subprocess.Popen, at_least: int) -> int:
    deadline = time.monotonic() + 180  # generous: a loaded machine starts workers slowly
    while time.monotonic() < deadline and proc.poll() is None:
        n = len(list((out / "parts").rglob("run-*.json"))) if (out / "parts").exists() else 0
        if n >= at_least:
            return n
        time.sleep(0.02)
    raise AssertionError("the sweep ended or stalled before it could be stopped mid-way")


@pytest.mark.slow
def test_kill_9_loses_only_runs_in_flight(tmp_path):
    spec = tmp_path / "killme.toml"
    spec.write_text(KILL_TOML)
    ref = run_sweep(spec, tmp_path / "ref", workers=1, progress=False)
    out = tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec, out, "--workers", "2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_parts(out, proc, 6)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, like the OOM killer
        proc.wait()
    done = len(list((out / "parts").rglob("run-*.json")))
    assert 6 <= done < ref.n_runs and not (out / "runs.parquet").exists()
    # what a kill during a write leaves behind: temporary files, never final names
    (out / "parts" / "0000" / ".run-000039.json.x1.tmp").write_text('{"run_id": 39, "sta')
    (out / "parts" / "0000" / ".run-000039.series.parquet.x2.tmp").write_bytes(b"PAR1\0")
    (out / ".runs.parquet.x3.tmp").write_bytes(b"PAR1")
    rerun = subprocess.run(_sweep_cmd(spec, out), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{ref.n_runs - done} run now, {done} already done, 0 failed" in rerun.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["run_id"].is_unique and len(runs) == ref.n_runs
    assert sha(out / "runs.parquet") == sha(tmp_path / "ref" / "runs.parquet")
    assert sha(out / "series.parquet") == sha(tmp_path / "ref" / "series.parquet")
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_keeps_completed_runs(tmp_path):
    spec = tmp_path / "killme.toml"
    spec.write_text(KILL_TOML)
    out = tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec, out, "--workers", "2"), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        at_signal = _wait_for_parts(out, proc, 4)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends the whole group
        _, err = proc.communicate(timeout=180)  # a condition, not a clock: loaded machines
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err and "Traceback" not in err
    done = len(list((out / "parts").rglob("run-*.json")))
    # promptly: the runs in flight (at most 4 per worker) are abandoned, no new one starts
    assert at_signal <= done <= at_signal + 8 < 40
    resumed = run_sweep(spec, out, workers=1, progress=False)
    assert (resumed.skipped, resumed.ran) == (done, 40 - done)
