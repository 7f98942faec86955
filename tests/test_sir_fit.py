"""The forced SIR fit (experiments/analysis/sir_fit.py) and `replyall fit`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.analysis.sir_fit import fit_counts, fit_series, sir_cumulative
from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import run_sweep, thin
from replyall_storm.model.scenarios import get_scenario

TRUE = {"beta": 0.08 / 500, "gamma": 1 / 25, "S0": 500.0}
CUT = 120.0


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def _synthetic(seed: int) -> np.ndarray:
    c = sir_cumulative(np.arange(0, 301.0), TRUE["beta"], TRUE["gamma"], TRUE["S0"], CUT)
    return np.random.default_rng(seed).poisson(np.diff(c)).astype(float)


def test_recovers_known_parameters_inside_intervals():
    truth = {**TRUE, "R0": TRUE["beta"] * TRUE["S0"] / TRUE["gamma"]}
    rows = [fit_counts(_synthetic(seed), CUT) for seed in range(8)]
    assert sum(r["status"] == "ok" for r in rows) >= 7
    for name, value in truth.items():
        covered = sum(r[f"{name}_lo"] <= value <= r[f"{name}_hi"] for r in rows)
        assert covered >= 6, (name, covered)  # 95 % Wald intervals: ~7.6 of 8 expected
        median = np.median([r[name] for r in rows])
        assert abs(np.log(median / value)) < np.log(1.3), (name, median)
    r = rows[0]
    assert r["R0_lo"] < r["R0"] < r["R0_hi"] and r["r2"] > 0.8
    assert r["final_size_lo"] < _synthetic(0).sum() < r["final_size_hi"] + 15


def test_no_cutoff_curve_peaks_where_the_model_does():
    c = sir_cumulative(np.arange(0, 401.0), 3 / (40 * 300), 1 / 40, 300.0)
    r = fit_counts(np.random.default_rng(1).poisson(np.diff(c)).astype(float))
    true_peak = np.argmax(np.diff(c)) + 0.5
    assert r["status"] == "ok"
    assert r["peak_min_lo"] - 5 <= true_peak <= r["peak_min_hi"] + 5


@pytest.mark.parametrize("counts, status", [
    (np.zeros(300), "no_storm"),
    (np.r_[np.zeros(10), 3.0, np.zeros(289)], "no_storm"),
    (np.full(300, 2.0), "flat"),
    (np.r_[np.zeros(10), 20.0, 20.0, np.zeros(288)], "too_few_points"),
    (np.r_[np.full(20, np.nan), np.zeros(5)], "no_storm"),
])
def test_degenerate_inputs_are_flagged_not_raised(counts, status):
    r = fit_counts(counts, 60.0)
    assert r["status"] == status
    assert np.isnan(r["R0"]) and r["message"]


def test_bad_series_is_a_row_not_an_error():
    r = fit_series(pd.DataFrame({"minute": [0, 1]}), source="x")
    assert r["status"] == "bad_input" and r["source"] == "x"


def test_fits_a_real_small_run(run_storm):
    res = run_storm(get_scenario("small").params(horizon_min=360), seed=3)
    r = fit_series(res.series)
    sent = res.summary["reply_alls_sent"]
    assert sent >= 10
    assert r["status"] in ("ok", "unidentified", "boundary", "poor_fit")
    assert np.isfinite(r["R0"]) and r["R0"] > 0 and r["R0_lo"] <= r["R0"] <= r["R0_hi"]
    assert r["cutoff_min"] == res.summary["cutoff_minute"]
    assert abs(r["final_size"] - sent) < 0.3 * sent
    assert np.isfinite(r["aic"]) and np.isfinite(r["rmse"])


def test_thinned_series_give_the_same_fit(run_storm):
    s = run_storm(get_scenario("small").params(horizon_min=300), seed=4).series
    a, b = fit_series(s, bin_min=5), fit_series(thin(s, 5), bin_min=5)
    assert a["status"] == b["status"] and a["bin_min"] == b["bin_min"] == 5
    assert a["cutoff_min"] == b["cutoff_min"] == 60.0 and a["n_events"] >= 10
    assert np.isclose(a["R0"], b["R0"], rtol=1e-9)


def test_fit_command_run_and_sweep_folders(tmp_path, run_storm):
    res = run_storm(get_scenario("small").params(horizon_min=240), seed=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    res.series.to_parquet(run_dir / "series.parquet")
    (run_dir / "summary.json").write_text(json.dumps({"seed": 2}))
    out = CliRunner().invoke(main, ["fit", str(run_dir), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "R0" in out.output
    table = pd.read_parquet(run_dir / "sir_fit.parquet")
    assert len(table) == 1 and (run_dir / "sir_fit.csv").exists()

    spec = {"name": "fitme", "scenario": "small", "root_seed": 5, "replicates": 2,
            "common_org": True, "fixed": {"n_users": 500, "horizon_min": 240},
            "design": {"kind": "grid", "parameters": {"cutoff_min": {"values": [30.0, 60.0]}}},
            "outputs": {"series": True, "series_every_min": 5}}
    run_sweep(spec, tmp_path / "sweep", workers=1, progress=False)
    out = CliRunner().invoke(main, ["fit", str(tmp_path / "sweep"), "--no-progress",
                                    "--curve", "accepted"])
    assert out.exit_code == 0, out.output
    table = pd.read_parquet(tmp_path / "sweep" / "sir_fit.parquet")
    assert table["source"].str.startswith("run ").sum() == 4
    assert table["source"].str.startswith("point ").sum() == 2
    assert table["source"].str.startswith("ensemble mean").sum() == 1
    assert {"cutoff_min", "status", "R0_lo", "R0_hi"} <= set(table.columns)


def test_fit_command_bad_path_exits_2(tmp_path):
    out = CliRunner().invoke(main, ["fit", str(tmp_path / "missing")])
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "PATH" in out.output
