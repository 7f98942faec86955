"""The queued SIR (experiments/analysis/queued_sir.py), its fit (sir_fit.py) and `replyall fit`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.analysis import queued_sir
from replyall_storm.experiments.analysis.sir_fit import STEP_MIN, fit_series, fitted_curves
from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import run_sweep, thin
from replyall_storm.model.scenarios import get_scenario

TRUE = {"R0": 6.0, "mu": 0.02, "c": 0.4, "kappa": 0.05, "spread": 0.5}
THETA = np.array([TRUE[p] for p in queued_sir.PARAMS])
MINUTES, CUT, CLOCK = 600, 90.0, 9.0


def synthetic(seed: int, theta=THETA, minutes=MINUTES, cut=CUT, noise=0.01) -> pd.DataFrame:
    """A series the fitted family itself generates (on its own 5-minute steps): Poisson
    reply-alls per step, on the step's first minute, and a noisy inbox curve."""
    rng = np.random.default_rng(seed)
    dt = STEP_MIN
    c = queued_sir.simulate(theta, minutes, cut,
                            queued_sir.clock_activity(minutes, CLOCK, dt=dt), dt=dt)
    sent = np.zeros(minutes, dtype=np.int64)
    sent[::dt] = rng.poisson(c.incidence)
    received = np.repeat(c.received, dt) * (1.0 + noise * rng.standard_normal(minutes))
    minute = np.arange(minutes)
    return pd.DataFrame({"minute": minute, "clock_h": (CLOCK + minute / 60.0) % 24.0,
                         "sent_remove": sent // 2, "sent_complain": sent - sent // 2,
                         "received_per_user": received, "list_active": minute < cut})


# --- the model ----------------------------------------------------------------------------------

def test_final_size_relation_is_what_an_uncut_unthrottled_storm_reaches():
    r0, mu = 4.0, 0.01
    theta = np.array([r0, mu, 1e4, 1.0, 0.0])  # instant delivery, reading nearly at once
    c = queued_sir.simulate(theta, 3000, math.inf, np.ones(3000))
    expected = queued_sir.final_size_uncut(r0, mu)
    assert c.accepted[-1] == pytest.approx(expected, rel=2e-3)
    assert expected == pytest.approx(1 + (r0 / mu) * -math.expm1(-mu * expected), rel=1e-9)


@pytest.mark.parametrize("r0", [0.2, 0.5, 0.9])
def test_below_threshold_a_storm_stays_a_geometric_series(r0):
    size = queued_sir.final_size_uncut(r0, 1e-4)
    assert 1.0 <= size == pytest.approx(1.0 / (1.0 - r0), rel=0.02)
    assert queued_sir.final_size_uncut(r0, 0.0) == pytest.approx(1.0 / (1.0 - r0))
    assert queued_sir.final_size_uncut(2.0, 0.0) == math.inf


def test_the_cutoff_stops_acceptance_but_not_reading():
    clock = np.ones(400)
    cut = queued_sir.simulate(THETA, 400, 60.0, clock)
    free = queued_sir.simulate(THETA, 400, math.inf, clock)
    # minute 59 still accepts, minute 60 (the cut-off) no longer does
    assert cut.accepted[59] > cut.accepted[58] and np.all(np.diff(cut.accepted[59:]) == 0)
    assert cut.accepted[-1] < free.accepted[-1]
    assert cut.incidence[100:].sum() > 0  # the backlog is still read and replied to
    assert np.all(cut.received <= cut.accepted + 1e-9)  # never more than was accepted
    assert np.all(np.diff(cut.engaged) <= 0) and cut.engaged[-1] < 1.0  # muting is for good


def test_a_batch_of_parameter_vectors_runs_as_each_alone():
    other = THETA * np.array([2.0, 0.5, 1.0, 3.0, 0.0])
    both = queued_sir.simulate(np.vstack([THETA, other]), 300, CUT, np.ones(300), dt=5)
    for i, theta in enumerate((THETA, other)):
        alone = queued_sir.simulate(theta, 300, CUT, np.ones(300), dt=5)
        np.testing.assert_allclose(both.incidence[i], alone.incidence, rtol=1e-12)
        np.testing.assert_allclose(both.received[i], alone.received, rtol=1e-12)


# --- the fit ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recovered():
    return [fit_series(synthetic(seed)) for seed in range(6)]


def test_recovers_its_own_parameters_inside_the_profile_intervals(recovered):
    covered = {p: 0 for p in ("R0", "mu", "c", "kappa")}
    for row in recovered:
        assert row["status"] in ("ok", "unidentified"), row["message"]
        assert row["intervals"] == "profile"
        for p in covered:
            assert row[f"{p}_lo"] <= row[p] <= row[f"{p}_hi"]
            covered[p] += row[f"{p}_lo"] <= TRUE[p] <= row[f"{p}_hi"]
    # 95 % intervals over six fits: at most one miss each (binomial, p < 0.04 if calibrated)
    assert all(n >= 5 for n in covered.values()), covered
    r0 = np.array([row["R0"] for row in recovered])
    assert abs(np.median(r0) / TRUE["R0"] - 1) < 0.15


def test_goodness_of_fit_and_the_final_size(recovered):
    for row in recovered:
        assert row["r2_received"] > 0.99 and row["r2_incidence"] > 0.8
        assert row["final_size_lo"] <= row["final_size"] <= row["final_size_hi"]
        assert row["accepted_final"] < row["final_size"]  # the cut-off bounces the rest
        uncut = queued_sir.final_size_uncut(row["R0"], row["mu"])
        assert row["final_size_uncut"] == pytest.approx(uncut)
        assert 0.0 < row["dispersion"] < 3.0  # Poisson scatter around the right shape


def test_wald_and_profile_intervals_agree_where_the_likelihood_is_regular():
    series = synthetic(11, noise=0.002)
    prof, wald = fit_series(series), fit_series(series, intervals="wald")
    assert prof["R0"] == pytest.approx(wald["R0"])
    for p in ("R0", "mu", "kappa"):
        width_p = math.log(prof[f"{p}_hi"] / prof[f"{p}_lo"])
        width_w = math.log(wald[f"{p}_hi"] / wald[f"{p}_lo"])
        assert 0.5 < width_p / width_w < 2.0, (p, width_p, width_w)


@pytest.mark.parametrize("counts, status", [
    (np.zeros(300), "no_storm"),
    (np.r_[np.zeros(290), np.ones(5)], "no_storm"),
    (np.r_[np.full(30, 5.0), np.zeros(270)], "too_few_points"),
])
def test_degenerate_inputs_are_flagged_not_raised(counts, status):
    s = synthetic(0, minutes=counts.size)
    s["sent_remove"], s["sent_complain"] = counts.astype(int), 0
    row = fit_series(s)
    assert row["status"] == status and np.isnan(row["R0"]) and row["message"]


def test_a_flat_storm_is_flagged():
    s = synthetic(0)
    s["sent_remove"], s["sent_complain"] = 3, 0
    assert fit_series(s)["status"] == "flat"


def test_bad_series_is_a_row_not_an_error():
    r = fit_series(pd.DataFrame({"minute": [0, 1]}), source="x")
    assert r["status"] == "bad_input" and r["source"] == "x"


def test_fits_a_real_small_run_with_its_cutoff(run_storm):
    res = run_storm(get_scenario("small").params(horizon_min=480, capacity_per_min=300.0),
                    seed=3)  # a queue: 0.15 messages per member per minute
    r = fit_series(res.series, intervals="wald")
    sent = res.summary["reply_alls_sent"]
    assert sent >= 10 and np.isfinite(r["R0"]) and r["R0"] > 0
    assert r["R0_lo"] <= r["R0"] <= r["R0_hi"]
    assert r["cutoff_min"] == res.summary["cutoff_minute"]
    assert abs(r["final_size"] - sent) < 0.3 * sent
    assert r["r2_received"] > 0.95
    c_true = res.setup.params.capacity_per_min / res.summary["list_size"]
    assert r["c"] == pytest.approx(c_true, rel=0.1)  # delivery speed read off the inbox curve


def test_fitted_curves_are_the_model_at_the_estimates(recovered):
    row = recovered[0]
    curves = fitted_curves(row, MINUTES, CLOCK)
    assert list(curves.columns) == ["minute", "incidence", "received_per_user", "accepted",
                                    "engaged"]
    assert curves["incidence"].sum() == pytest.approx(row["final_size"], rel=0.05)


def test_thinned_series_give_nearly_the_same_fit(run_storm):
    s = run_storm(get_scenario("small").params(horizon_min=480), seed=4).series
    a = fit_series(s, intervals="wald")
    b = fit_series(thin(s, 5), intervals="wald")
    assert a["bin_min"] == b["bin_min"] == 30
    assert a["cutoff_min"] == b["cutoff_min"] == 60.0 and a["n_events"] == b["n_events"]
    assert b["R0"] == pytest.approx(a["R0"], rel=0.05)


# --- the command --------------------------------------------------------------------------------

def test_fit_command_run_and_sweep_folders(tmp_path, run_storm):
    res = run_storm(get_scenario("small").params(horizon_min=360), seed=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    res.series.to_parquet(run_dir / "series.parquet")
    (run_dir / "summary.json").write_text(json.dumps({"seed": 2}))
    out = CliRunner().invoke(main, ["fit", str(run_dir), "--no-progress"])
    assert out.exit_code == 0, out.output
    table = pd.read_parquet(run_dir / "sir_fit.parquet")
    assert len(table) == 1 and (run_dir / "sir_fit.csv").exists()
    row = table.iloc[0]
    assert f"{row['R0']:.3g} [{row['R0_lo']:.3g}, {row['R0_hi']:.3g}]" in out.output
    assert row["intervals"] == "profile" and row["bin_min"] == 30

    spec = {"name": "fitme", "scenario": "small", "root_seed": 5, "replicates": 2,
            "common_org": True, "fixed": {"n_users": 500, "horizon_min": 240},
            "design": {"kind": "grid", "parameters": {"cutoff_min": {"values": [30.0, 60.0]}}},
            "outputs": {"series": True, "series_every_min": 5}}
    run_sweep(spec, tmp_path / "sweep", workers=1, progress=False)
    out = CliRunner().invoke(main, ["fit", str(tmp_path / "sweep"), "--no-progress",
                                    "--intervals", "wald"])
    assert out.exit_code == 0, out.output
    table = pd.read_parquet(tmp_path / "sweep" / "sir_fit.parquet")
    assert table["source"].str.startswith("run ").sum() == 4
    assert table["source"].str.startswith("point ").sum() == 2
    assert table["source"].str.startswith("ensemble mean").sum() == 1
    assert {"cutoff_min", "status", "R0_lo", "R0_hi", "r2_incidence"} <= set(table.columns)
    if (table["status"] != "ok").any():
        assert "flagged:" in out.output


def test_fit_command_bad_path_exits_2(tmp_path):
    out = CliRunner().invoke(main, ["fit", str(tmp_path / "missing")])
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "PATH" in out.output
