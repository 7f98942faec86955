"""The `replyall run` command: outputs, and bad input as one line with exit code 2."""

import json
import os

import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main


@pytest.mark.parametrize("args, fragment", [
    (["--set", "mute_rate=1.5"], "mute_rate=1.5: must be in [0, 1]"),
    (["--set", "remove_rate=-1e-5"], "remove_rate=-1e-05: must be in [0, 1]"),
    (["--set", "capacity_per_min=0"], "capacity_per_min=0.0: must be in (0,"),
    (["--set", "nonsense=3"], "nonsense='3': unknown parameter"),
    (["--set", "oops"], "--set='oops': must look like NAME=VALUE"),
    (["--scenario", "atlantis"], "scenario='atlantis': must be one of nhs2016, dhs2007, cisco2013, "
     "nyu2012, small, trust"),
    (["--engine", "gpu"], "engine='gpu': must be one of fast, mesa"),
    (["--engine", "mesa"], "n_users=840000: the mesa engine takes at most 200,000 users"),
    (["--users", "1"], "n_users=1: must be in [2, 1,000,000]"),
    (["--hours", "0"], "--hours=0.0: must be > 0"),
    (["--set", "sp_threshold=30"], "sp_threshold=30: must be in [5, 20]"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, fragment):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--out", str(out), "--no-progress", *args])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not out.exists()


def test_run_writes_series_summary_figure_and_graph_sample(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--scenario", "small", "--hours", "4", "--seed",
                                       "2", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    series = pd.read_parquet(out / "series.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert len(series) == 240 and summary["n_users"] == 2_000 and summary["seed"] == "2"
    assert summary["messages_per_user"] == series["received_per_user"].iloc[-1]
    assert (out / "storm.png").stat().st_size > 10_000
    states = pd.read_parquet(out / "snapshots.parquet")
    assert set(states["minute"]) == {15, 30, 60, 120} and states["user"].nunique() == 300
    assert len(pd.read_parquet(out / "graph_sample.parquet")) > 0
    assert "messages received per user" in result.output


def test_bench_runs_every_measurement_and_writes_its_figures(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--users", "2000", "--hours", "2",
                                       "--speed-users", "1000", "--mesa-minutes", "2",
                                       "--fast-minutes", "10", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ("nhs_cold", "nhs_cached"):
        assert figures[key]["peak_mb"] > 0 and figures[key]["sim_s"] > 0
    assert figures["nhs_cold"]["graph_cached"] is False
    assert figures["nhs_cached"]["graph_cached"] is True
    assert figures["speedup"] > 0 and "speed-up of the fast engine" in result.output
    calib = figures["calibration_run"]
    assert calib["users"] == 2000 and calib["horizon_min"] == 4320 and calib["run_s"] > 0
    assert calib["users_until"] is not None and calib["users_until"] < calib["horizon_min"]
    assert calib["runs_per_core_hour"] == pytest.approx(3600 / calib["run_s"])
    assert "runs per core-hour" in result.output
    assert calib["stepped_s"] > 0 and "tail in bulk is" in result.output


def test_bench_refuses_bad_sizes():
    result = CliRunner().invoke(main, ["bench", "--users", "10"])
    assert result.exit_code == 2 and "--users=10: must be at least 100" in result.output


def test_compare_prints_the_parameters_it_ran_with_after_set(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))
    calibrated = tmp_path / "calibrated.json"
    calibrated.write_text(json.dumps({"remove_rate": 0.00132, "complain_rate": 0.0021}))
    out = tmp_path / "compare"
    result = CliRunner().invoke(main, [
        "compare", "--scenario", "small", "--users", "500", "--replicates", "1",
        "--policy", "2016 response", "--calibrated", str(calibrated),
        "--set", "remove_rate=1.26e-3", "--set", "horizon_min=120", "--out", str(out),
        "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    header = result.output.split("compare-small:")[0]
    assert f"calibrated parameters from {calibrated}; then --set remove_rate, horizon_min" \
        in header
    assert "running with: remove_rate=0.00126, complain_rate=0.0021, horizon_min=120" in header
    assert "0.00132" not in result.output
    runs = pd.read_parquet(out / "runs.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["base_params"]["remove_rate"] == 1.26e-3
    assert manifest["base_params"]["complain_rate"] == 0.0021
    assert len(runs) == 1 and (runs["status"] == "ok").all()


def test_python_dash_m_replyall_storm_runs_the_command_line(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "REPLYALL_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    version = subprocess.run([sys.executable, "-m", "replyall_storm", "--version"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("replyall-storm ")
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "replyall_storm", "run", "--scenario", "small",
                          "--hours", "1", "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert len(pd.read_parquet(out / "series.parquet")) == 60
    bad = subprocess.run([sys.executable, "-m", "replyall_storm", "fit", str(tmp_path / "no")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert f"replyall run --out {tmp_path / 'no'}" in bad.stderr
