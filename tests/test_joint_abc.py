"""Sequential ABC over several storms (``replyall storms-abc``): its axes, its combined
distance, convergence on a synthetic target, determinism, resuming, and the left-out storm's
prediction, on a stand-in sweep runner and on real sweeps."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.calibration import joint, joint_abc
from replyall_storm.experiments.calibration.joint import OWN_UNITS, SHARED, SPEED
from replyall_storm.experiments.calibration.joint_abc import (
    FAR,
    JointAxes,
    combined_distance,
)
from replyall_storm.experiments.calibration.joint_abc_pipeline import fit_storms
from replyall_storm.experiments.calibration.proposal import Mixture, balance_weights, perturb
from replyall_storm.experiments.calibration.storms import load_storms
from replyall_storm.experiments.cli import main
from replyall_storm.experiments.cli.storms_abc import STORM_IDS

TRUE_REMOVE = 1e-3  # the synthetic truth: remove_rate 1e-3, every storm's speed 1 per member


def test_the_axes_are_the_shared_ones_in_the_mechanisms_units_and_each_fitted_storms():
    space = JointAxes.build("relevance", ("dhs2007", "nhs2016"))
    names = [joint.column(a) for a in space.axes]
    assert names[:len(SHARED)] == list(SHARED) and "relevance_boost" in names
    by = {joint.column(a): a for a in space.axes}
    assert (by["remove_rate"].lo, by["remove_rate"].hi) == OWN_UNITS["relevance"]["remove_rate"][:2]
    assert {"dhs2007:speed", "nhs2016:speed", "nhs2016:capacity_spread"} <= set(names)
    assert not any(n.startswith(("cisco2013:", "nyu2012:")) for n in names)
    assert "attention_span" not in names
    prior = space.prior()
    i = prior.names.index("dhs2007:speed")
    assert prior.log[i] and (prior.lo[i], prior.hi[i]) == (math.log10(SPEED[0]),
                                                           math.log10(SPEED[1]))
    with pytest.raises(ValueError, match="mechanism 'telepathy'"):
        JointAxes.build("telepathy")


def test_a_particle_on_a_storm_carries_the_shared_values_and_that_storms_own():
    space = JointAxes.build("none", ("dhs2007", "nhs2016"))
    point = {joint.column(a): 0.5 * (a.lo + a.hi) for a in space.axes}
    point["dhs2007:speed"], point["nhs2016:speed"] = 2.0, 0.5
    dhs, nhs = load_storms().storm("dhs2007"), load_storms().storm("nhs2016")
    on_dhs = space.on_storm([point], dhs)[0]
    assert on_dhs["capacity_per_min"] == 2.0 * 7_500 and "capacity_spread" not in on_dhs
    assert on_dhs["remove_rate"] == point["remove_rate"]
    on_nhs = space.on_storm([point], nhs)[0]
    assert on_nhs["capacity_per_min"] == 0.5 * 840_000
    assert on_nhs["capacity_spread"] == point["nhs2016:capacity_spread"]
    cisco = load_storms().storm("cisco2013")  # not fitted: its nuisances come from outside
    own = {"speed": 3.0, "start_clock_h": 10.0, "cutoff_min": 60.0}
    on_cisco = space.on_storm([point], cisco, [own])[0]
    assert on_cisco["capacity_per_min"] == 3.0 * cisco.list_size
    assert (on_cisco["start_clock_h"], on_cisco["cutoff_min"]) == (10.0, 60.0)


def test_the_combined_distance_is_the_rms_over_storms_and_a_failed_run_is_far():
    runs = pd.DataFrame({"a:distance": [0.0, 3.0, np.inf], "b:distance": [4.0, 4.0, 0.0]})
    d = combined_distance(runs, ["a", "b"])
    assert d[0] == pytest.approx(math.sqrt(8.0)) and d[1] == pytest.approx(math.sqrt(12.5))
    assert d[2] == pytest.approx(FAR / math.sqrt(2.0))


def test_the_cli_knows_every_storm_of_the_data_file():
    assert STORM_IDS == tuple(s.id for s in load_storms().storms)


def fake_run(calls: list[str]):
    """A sweep runner whose storm misses its report by how far remove_rate and the storm's
    speed are from the truth (plus seeded noise: the seeds the spec carries matter)."""

    def run(spec, out_dir, **_kw):
        calls.append(spec["name"])
        storm = load_storms().storm(spec["scenario"])
        values = {k: np.asarray(v["values"], float)
                  for k, v in spec["design"]["parameters"].items()}
        noise = np.random.default_rng(spec["root_seed"]).random(len(values["remove_rate"]))
        miss = (2 * np.abs(np.log10(values["remove_rate"] / TRUE_REMOVE))
                + np.abs(np.log10(values["capacity_per_min"] / storm.list_size))
                + 0.3 * noise)
        runs = pd.DataFrame({"point": np.arange(len(miss)), "status": "ok", "miss": miss,
                             "reply_alls_accepted": 100.0 * (1 + noise)})
        return SimpleNamespace(runs=runs, interrupted=False)

    return run


@pytest.fixture()
def synthetic(monkeypatch):
    monkeypatch.setattr(joint_abc, "distance", lambda runs, _targets: runs["miss"].to_numpy())


def test_apmc_converges_on_a_synthetic_target_and_finds_it(tmp_path, synthetic):
    calls: list[str] = []
    s = fit_storms(tmp_path / "a", "none", storm_ids=("dhs2007", "cisco2013"), particles=60,
                   generations=25, min_acceptance=0.2, root_seed=3, progress=False,
                   run=fake_run(calls))
    assert s["stopped_by"] == "acceptance" and s["converged"] and s["p_acc"] < 0.2
    assert s["generations"] < 25 and s["storms"] == ["dhs2007", "cisco2013"]
    assert calls[:2] == ["jointabc-none-dhs2007-gen00", "jointabc-none-cisco2013-gen00"]
    post = pd.read_parquet(tmp_path / "a" / "posterior.parquet").set_index("parameter")
    assert post.loc["remove_rate", "lo"] <= TRUE_REMOVE <= post.loc["remove_rate", "hi"]
    assert post.loc["remove_rate", "identified"]  # narrower than 75 % of its prior
    assert post.loc["dhs2007:speed", "lo"] <= 1.0 <= post.loc["dhs2007:speed", "hi"]
    assert post.loc["cisco2013:speed", "lo"] <= 1.0 <= post.loc["cisco2013:speed", "hi"]
    # the misses do not depend on annoyance_half: its posterior stays most of its prior
    assert post.loc["annoyance_half", "prior_share"] > 0.6
    assert s["ess"] >= 15  # of 30 (APMC's own weights gave ESS 4-10 here)
    gens = pd.read_parquet(tmp_path / "a" / "generations.parquet")
    assert np.all(np.diff(gens["epsilon"]) <= 0)  # the tolerance never widens
    acc = pd.read_parquet(tmp_path / "a" / "accepted.parquet")
    assert acc["weight"].sum() == pytest.approx(1.0) and len(acc) >= 30
    assert np.all(acc["distance"] <= s["epsilon"])
    table = pd.read_parquet(tmp_path / "a" / "storms.parquet")
    assert list(table["storm"]) == ["dhs2007", "cisco2013"]
    assert table["reproduced"].between(0, 1).all()


def test_the_fit_stops_once_its_tolerance_reaches_the_target(tmp_path, synthetic):
    kw = dict(storm_ids=("dhs2007", "cisco2013"), particles=40, generations=25,
              min_acceptance=0.0, root_seed=3, progress=False)
    free = fit_storms(tmp_path / "free", "none", run=fake_run([]), **kw)
    eps = pd.read_parquet(tmp_path / "free" / "generations.parquet")["epsilon"].to_numpy()
    target = float(eps[3])
    s = fit_storms(tmp_path / "t", "none", target_epsilon=target, run=fake_run([]), **kw)
    assert free["stopped_by"] == "cap" and not free["converged"]
    assert s["stopped_by"] == "tolerance" and s["converged"] and s["epsilon"] <= target
    assert s["generations"] == int(np.argmax(eps <= target)) + 1 < free["generations"]
    assert s["target_epsilon"] == target


def test_the_same_seed_gives_the_same_particles_and_another_seed_others(tmp_path, synthetic):
    kw = dict(storm_ids=("dhs2007", "cisco2013", "nyu2012"), leave_out="nyu2012",
              particles=30, generations=4, predictive=7, progress=False)
    a = fit_storms(tmp_path / "a", "none", root_seed=5, run=fake_run([]), **kw)
    b = fit_storms(tmp_path / "b", "none", root_seed=5, run=fake_run([]), **kw)
    c = fit_storms(tmp_path / "c", "none", root_seed=6, run=fake_run([]), **kw)
    for name in ("accepted", "particles", "prediction"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))
    assert not pd.read_parquet(tmp_path / "a" / "accepted.parquet").equals(
        pd.read_parquet(tmp_path / "c" / "accepted.parquet"))
    assert a["stopped_by"] == "cap" and not a["converged"]  # the cap is not convergence
    assert a["prediction"] == b["prediction"] and a["prediction"] != c["prediction"]
    assert a["prediction"]["storm"] == "nyu2012" and a["prediction"]["accepted"] == 7
    assert a["storms"] == ["dhs2007", "cisco2013"]


def test_real_sweeps_fit_one_storm_resume_and_predict_another(tmp_path):
    kw = dict(storm_ids=("dhs2007", "cisco2013"), leave_out="cisco2013", particles=20,
              generations=2, predictive=3, root_seed=11, workers=1, progress=False)
    s = fit_storms(tmp_path / "r", "relevance", **kw)
    acc = pd.read_parquet(tmp_path / "r" / "accepted.parquet")
    assert len(acc) >= 10 and np.isfinite(acc["dhs2007:M"]).all()
    assert (acc["dhs2007:M"] >= 0).all() and np.isfinite(acc["dhs2007:distance"]).all()
    assert s["runs"] == 20 + 10 and s["stopped_by"] == "cap"
    pred = pd.read_parquet(tmp_path / "r" / "prediction.parquet")
    assert len(pred) == 3 and np.isfinite(pred["cisco2013:M"]).all()
    assert (tmp_path / "r" / "gen-01" / "dhs2007").is_dir()
    assert (tmp_path / "r" / f"gen-{10_000:02d}" / "cisco2013").is_dir()
    again = fit_storms(tmp_path / "r", "relevance", **kw)  # resumed: nothing runs again
    pd.testing.assert_frame_equal(acc, pd.read_parquet(tmp_path / "r" / "accepted.parquet"))
    assert again["prediction"] == s["prediction"]
    # the fit's posterior is one `replyall predict --posterior` reads, mechanism and all
    from replyall_storm.experiments.analysis.predict import predict

    assert set(acc["mechanism"]) == {"relevance"}
    p = predict(2_000, 30, replicates=2, seed=1, posterior=tmp_path / "r" / "accepted.parquet")
    assert p.mechanism == "relevance" and p.quantiles["reply_alls_accepted"]["median"] >= 0


@pytest.mark.parametrize("args, expected", [
    (["storms-abc", "relevance", "--particles", "5"], "error: --particles=5: must be at least"),
    (["storms-abc", "relevance", "--generations", "1"], "error: --generations=1: must be"),
    (["storms-abc", "relevance", "--min-acceptance", "1"], "error: --min-acceptance=1.0: "),
    (["storms-abc", "relevance", "--predictive", "0"], "error: --predictive=0: must be"),
    (["storms-abc", "relevance", "--target-epsilon", "-1"], "error: --target-epsilon=-1.0: "),
    (["storms-abc", "relevance", "--target-epsilon", "nan"], "error: --target-epsilon=nan: "),
    (["storms-abc", "relevance", "--leave-out", "enron"], "error: --leave-out"),
    (["storms-abc", "telepathy"], "error: "),
])
def test_bad_input_is_one_line_before_anything_runs(tmp_path, args, expected):
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(expected), res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["storms-abc", "none"], ["storms", "--samples", "50"],
                                     ["sbc", "--truths", "2"]])
def test_an_unwritable_out_is_refused_before_anything_runs(tmp_path, command):
    (tmp_path / "FILE").write_text("a file")
    out = str(tmp_path / "FILE" / "x")  # under a file: cannot be made
    res = CliRunner().invoke(main, [*command, "--out", out])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith(f"error: --out={out!r}: cannot be made"), res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_pooled_proposals_weighted_by_the_balance_heuristic_estimate_the_prior():
    rng = np.random.default_rng(0)
    cov = np.array([[0.01]])
    wide, narrow = rng.random((4000, 1)), None
    centres = np.array([[0.3], [0.35]])
    narrow, mass = perturb(centres, np.array([0.5, 0.5]), cov, 4000, rng, batched=True)
    assert np.all((narrow >= 0) & (narrow <= 1)) and 0.9 < mass <= 1.0
    x = np.vstack([wide, narrow])
    w = balance_weights(x, [None, Mixture(centres, np.array([0.5, 0.5]), cov, mass)],
                        [4000, 4000])
    assert np.average(x[:, 0], weights=w) == pytest.approx(0.5, abs=0.02)  # the prior's mean
    assert np.average(x[:, 0] < 0.3, weights=w) == pytest.approx(0.3, abs=0.02)
    assert np.all(balance_weights(wide, [None], [4000]) == 1.0)


def test_batched_proposals_measure_the_mass_inside_the_box_and_are_reproducible():
    centres, cov = np.array([[0.02, 0.5], [0.98, 0.5]]), 0.05 * np.eye(2)
    a, mass = perturb(centres, np.array([0.5, 0.5]), cov, 500, np.random.default_rng(4), True)
    b, _ = perturb(centres, np.array([0.5, 0.5]), cov, 500, np.random.default_rng(4), True)
    assert a.shape == (500, 2) and np.array_equal(a, b)
    assert np.all((a >= 0) & (a <= 1))
    z = np.random.default_rng(5).standard_normal((200_000, 2)) @ np.linalg.cholesky(cov).T
    inside = np.mean(np.all((centres[0] + z >= 0) & (centres[0] + z <= 1), axis=1))
    assert mass == pytest.approx(inside, abs=0.02)  # both kernels alike: the same mass


def test_leave_each_out_predicts_every_storm_from_the_others_beside_the_baselines(
        tmp_path, synthetic):
    from replyall_storm.experiments.calibration.joint_abc_loo import leave_each_out, model_name

    ids = ["dhs2007", "cisco2013", "nyu2012"]
    calls: list[str] = []
    kw = {"particles": 40, "generations": 6, "min_acceptance": 0.2, "predictive": 8,
          "root_seed": 4, "progress": False, "run": fake_run(calls)}
    s = leave_each_out(tmp_path, "none", storm_ids=ids, log=lambda _m: None, **kw)
    loo = s["loo"]
    assert set(loo["model"]) == {model_name("none"), "baseline: constant",
                                 "baseline: loglinear"}
    mine = loo[loo["model"] == model_name("none")]
    assert list(mine["storm"]) == ids and mine["predicted"].gt(0).all()
    # each fit saw only the other storms, and the storm left out only in its prediction
    for storm in ids:
        fitted = [c for c in calls if c.endswith("-gen00") and f"-{storm}-" in c]
        assert len(fitted) == len(ids) - 1
        assert (tmp_path / f"without-{storm}" / "prediction.parquet").exists()
    for model, c in s["criteria"].items():
        g = loo[loo["model"] == model]
        assert c["mean_abs_log_error"] == pytest.approx(g["abs_log_error"].mean())
    baseline_best = min(c["mean_abs_log_error"] for m, c in s["criteria"].items()
                        if m.startswith("baseline"))
    assert s["beats_baselines"] == (
        s["criteria"][model_name("none")]["mean_abs_log_error"] < baseline_best)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "loo.parquet"), loo)
    # a second call resumes every fit and gives the same table
    again = leave_each_out(tmp_path, "none", storm_ids=ids, log=lambda _m: None,
                           **{**kw, "run": fake_run([])})
    pd.testing.assert_frame_equal(again["loo"], loo)


def test_the_cli_leaves_each_storm_out_and_prints_the_table(tmp_path, synthetic, monkeypatch):
    from replyall_storm.experiments.calibration import joint_abc_loo

    real = joint_abc_loo.leave_each_out

    def on_fake_sweeps(out_dir, mechanism, **kw):
        return real(out_dir, mechanism, storm_ids=["dhs2007", "cisco2013", "nyu2012"],
                    fit=lambda *a, **k: fit_storms(*a, **{**k, "run": fake_run([])}), **kw)

    monkeypatch.setattr(joint_abc_loo, "leave_each_out", on_fake_sweeps)
    out = CliRunner().invoke(main, ["storms-abc", "none", "--leave-out", "all", "--particles",
                                    "20", "--generations", "3", "--predictive", "4",
                                    "--no-progress", "--out", str(tmp_path / "loo")])
    assert out.exit_code == 0, out.output
    assert "none (sequential ABC)" in out.output and "baseline: constant" in out.output
    assert "NOT converged (generation cap)" in out.output  # 3 generations cannot converge
    assert (tmp_path / "loo" / "loo.csv").exists()
    assert (tmp_path / "loo" / "without-nyu2012" / "prediction.parquet").exists()
