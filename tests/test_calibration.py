"""ABC calibration (experiments/calibration/: observations, apmc, settings, pipeline)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.calibration.apmc import (
    Prior,
    apmc,
    posterior_summary,
    weighted_quantile,
)
from replyall_storm.experiments.calibration.generations import sweep_simulator
from replyall_storm.experiments.calibration.observations import (
    TARGETS,
    Observation,
    distance,
    synthetic_targets,
)
from replyall_storm.experiments.calibration.settings import load_calibration
from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import run_sweep
from replyall_storm.model.scenarios import get_scenario

QUICK_TOML = """
name = "qsmall"
scenario = "small"
root_seed = 5
common_org = true
[fixed]
n_users = 1000
horizon_min = 240
[design]
kind = "lhs"
n = 12
[design.parameters.remove_rate]
low = 5e-4
high = 5e-3
log = true
[design.parameters.cutoff_min]
low = 30.0
high = 90.0
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def test_distance_is_zero_inside_ranges_and_counts_uncertainties_outside():
    o = Observation("x", "x", "summary", 100.0, 200.0, 150.0, "R", "", "test", sigma=0.5)
    assert o.miss(150.0) == 0 and o.miss(100.0) == 0 and o.miss(200.0) == 0
    assert math.isclose(o.miss(200.0 * math.exp(0.5)), 1.0)
    assert math.isclose(o.miss(100.0 * math.exp(-1.0)), 2.0)
    assert np.isinf(o.miss(np.nan))
    summ = pd.DataFrame({o.key: [150.0, 200.0 * math.exp(1.0), np.nan]})
    d = distance(summ, (o,))
    assert d[0] == 0 and math.isclose(d[1], 2.0) and d[2] == 10.0  # NaN capped
    assert {t.tag[0] for t in TARGETS} <= {"R", "C", "D"}
    for t in TARGETS:
        assert t.lo <= t.value <= t.hi and t.scale > 0
    # a run's range: met when it overlaps the report, else the gap to the nearer end
    assert o.miss(120.0, 900.0) == 0 and o.miss(10.0, 100.0) == 0
    assert math.isclose(o.miss(300.0, 400.0), math.log(1.5) / 0.5)
    assert math.isclose(o.miss(20.0, 50.0), math.log(2.0) / 0.5)
    inbox = Observation("inbox@12:00", "inbox_received", "inbox", 123.0, 123.0, 123.0, "C", "",
                        "t")
    assert inbox.columns == ("obs_lo:inbox@12:00", "obs_hi:inbox@12:00")
    ranges = pd.DataFrame({"obs_lo:inbox@12:00": [19.0, 130.0],
                           "obs_hi:inbox@12:00": [250.0, 400.0]})
    np.testing.assert_allclose(distance(ranges, (inbox,)), [0.0, math.log(130 / 123) / 0.30])


def test_prior_round_trip_and_weighted_quantile():
    cal = load_calibration(_dict_spec())
    prior = Prior.from_spec(cal.spec)
    u = np.random.default_rng(0).random((5, 2))
    back = prior.to_unit(pd.DataFrame(prior.from_unit(u)))
    assert np.allclose(back, u)
    x, w = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 1.0, 0.0])
    assert weighted_quantile(x, w + 1e-12, 0.5) == pytest.approx(3.0, abs=1e-6)


def analytic_problem():
    """Two parameters on the unit square whose summaries pin them at a = b = 0.25 (noisy)."""
    prior = Prior(("a", "b"), np.array([0.0, 0.0]), np.array([1.0, 1.0]),
                  np.array([False, False]))
    obs = (Observation("y1", "y1", "summary", 0.95, 1.05, 1.0, "D", "", "t", sigma=0.05),
           Observation("y2", "y2", "summary", 0.28, 0.32, 0.3, "D", "", "t", sigma=0.05))
    rng = np.random.default_rng(1)

    def simulate(g, points):
        pts = pd.DataFrame(points if points is not None else
                           prior.from_unit(rng.random((60, 2))))
        pts.insert(0, "point", range(len(pts)))
        summ = pd.DataFrame({"point": pts["point"], "y1": pts["a"] + pts["b"] + 0.5,
                             "y2": pts["a"] - pts["b"] + 0.3 + rng.normal(0, 0.01, len(pts))})
        return pts, summ

    return prior, obs, simulate


def test_apmc_concentrates_on_an_analytic_problem():
    prior, obs, simulate = analytic_problem()
    res = apmc(prior, simulate, obs, n=60, generations=6, seed=3)
    post, corr = posterior_summary(res["particles"], prior)
    eps = res["generations"]["epsilon"].to_numpy()
    assert np.all(np.diff(eps) <= 1e-12) and eps[-1] < eps[0]
    for name, truth in (("a", 0.25), ("b", 0.25)):
        row = post.set_index("parameter").loc[name]
        assert row["lo"] <= truth <= row["hi"] and row["hi"] - row["lo"] < 0.3
    assert res["particles"]["weight"].sum() == pytest.approx(1.0)


def test_apmc_stops_once_the_tolerance_reaches_its_target():
    def run(**kw):  # a fresh problem each time: its simulator draws its own noise
        prior, obs, simulate = analytic_problem()
        return apmc(prior, simulate, obs, n=60, seed=3, **kw)

    free = run(generations=12, min_acceptance=0.0)
    eps = free["generations"]["epsilon"].to_numpy()
    target = float(eps[6])  # reached at generation 6 without the criterion
    res = run(generations=12, min_acceptance=0.0, target_epsilon=target)
    got = res["generations"]["epsilon"].to_numpy()
    assert res["stopped_by"] == "tolerance" and len(got) == 7
    assert got[-1] <= target < got[-2]  # the first generation at the target, no further
    np.testing.assert_array_equal(got, eps[:7])  # the same run until it stops
    assert run(generations=3, min_acceptance=0.0, target_epsilon=0.0)["stopped_by"] == "cap"
    loose = run(generations=12, target_epsilon=1e9)  # met by the prior sample already
    assert loose["stopped_by"] == "tolerance" and len(loose["generations"]) == 1


def _dict_spec(**design):
    return {"name": "synth", "scenario": "small", "root_seed": 7, "common_org": True,
            "fixed": {"horizon_min": 240},
            "design": {"kind": "lhs", "n": 40, "parameters": {
                "remove_rate": {"low": 2.5e-4, "high": 1.6e-2, "log": True},
                "complain_rate": {"low": 2.5e-4, "high": 1.6e-2, "log": True}}, **design}}


def test_builtin_abc_through_sweeps_contains_the_truth(tmp_path):
    """Known small-scenario parameters as observations: the accepted region holds them."""
    base = get_scenario("small").params()
    truth = {"remove_rate": base.remove_rate, "complain_rate": base.complain_rate}
    cal = load_calibration(_dict_spec())
    twin = {**_dict_spec(), "name": "truth", "replicates": 8, "outputs": {"series": False},
            "design": {"kind": "points", "parameters": {k: {"values": [v]}
                                                        for k, v in truth.items()}}}
    runs = run_sweep(twin, tmp_path / "truth", workers=1, progress=False).runs
    keys = ("messages_per_user", "remove_me_sent", "complaints_sent")
    obs = synthetic_targets(runs[list(keys)].median().to_dict(), keys, rel=0.25, sigma=0.1)
    prior = Prior.from_spec(cal.spec)
    res = apmc(prior, sweep_simulator(cal.spec, tmp_path / "abc", workers=1, progress=False),
               obs, n=40, generations=4, seed=7)
    post = posterior_summary(res["particles"], prior)[0].set_index("parameter")
    for name, value in truth.items():  # inside the 90 % interval, which is narrower than the prior
        lo, hi = post.loc[name, "lo"], post.loc[name, "hi"]
        assert lo <= value <= hi, (name, lo, value, hi)
        assert np.log10(hi / lo) < 0.6 * np.log10(64), (name, lo, hi)
    assert (tmp_path / "abc" / "gen-00" / "runs.parquet").exists()
    assert len(res["generations"]) >= 2


def test_quick_calibration_end_to_end_and_resumes_bit_for_bit(tmp_path):
    spec = tmp_path / "q.toml"
    spec.write_text(QUICK_TOML)
    out = tmp_path / "out"
    args = ["calibrate", str(spec), "--quick", "--out", str(out), "--workers", "1",
            "--no-progress"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    for name in ("accepted.parquet", "particles.parquet", "posterior.parquet",
                 "correlation.parquet", "sir_fit.parquet", "predictive_series.parquet",
                 "predictive.png", "summary.json", "observations.parquet",
                 "predictive_runs.parquet"):
        assert (out / name).exists(), name
    post = pd.read_parquet(out / "posterior.parquet")
    assert list(post["parameter"]) == ["remove_rate", "cutoff_min"]
    assert (post["lo"] <= post["median"]).all() and (post["median"] <= post["hi"]).all()
    assert "remove_rate" in first.output and "time:" in first.output
    accepted = pd.read_parquet(out / "accepted.parquet")
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(accepted, pd.read_parquet(out / "accepted.parquet"))


def test_quick_calibration_with_a_final_sample_resumes_bit_for_bit(tmp_path):
    """The final importance sample runs as one more generation (resumable like the others);
    the posterior is that sample, APMC's population is kept beside it, the summary and the
    command say how many draws were accepted and their ESS, and whether ABC converged."""
    import json

    spec = tmp_path / "q.toml"
    spec.write_text(QUICK_TOML)
    out = tmp_path / "out"
    args = ["calibrate", str(spec), "--quick", "--final-draws", "10", "--out", str(out),
            "--workers", "1", "--no-progress"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final_sample"]
    accepted = pd.read_parquet(out / "accepted.parquet")
    assert final["draws"] == 10 and len(accepted) == final["accepted"] >= 1
    assert (out / "population.parquet").exists()
    assert (out / f"gen-{final['generation']:02d}").is_dir()
    assert summary["runs"] == 12 + 6 + 10
    assert "final sample: 10 fresh draws" in first.output
    assert ("NOT converged" in first.output) != summary["converged"]
    assert summary["ess"] == pytest.approx(final["ess"])
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(accepted, pd.read_parquet(out / "accepted.parquet"))


@pytest.mark.parametrize("edit, where", [
    (('kind = "lhs"', 'kind = "grid"'), "design"),
    (("[design.parameters.cutoff_min]", "[design.parameters.no_such_param]"), "no_such_param"),
    (("n = 12", "n = 12\n[abc]\nalpha = 2.0"), "abc.alpha"),
    (("n = 12", "n = 12\n[abc]\ntargets = ['nope']"), "abc.targets"),
    (("n = 12", "n = 12\n[abc]\nfinal_draws = -5"), "abc.final_draws"),
    (("n = 12", "n = 12\n[abc]\nbackend = 'pyabc'\nfinal_draws = 50"), "abc.final_draws"),
    (("n = 12", "n = 12\n[abc]\nfinal_draws = 50\nfinal_max_draws = 20"),
     "abc.final_max_draws"),
    (("n = 12", "n = 12\n[abc]\nfinal_ess = 100"), "abc.final_ess"),
    (("n = 12", "n = 12\n[abc]\nfinal_draws = 50\nfinal_defensive = 1.0"),
     "abc.final_defensive"),
    (("n = 12", "n = 12\n[abc]\nweights = 'equal'"), "abc.weights"),
    (("n = 12", "n = 12\n[abc]\nfinal_kernel_scale = 0.0"), "abc.final_kernel_scale"),
    (("n = 12", "n = 12\n[abc]\nbackend = 'pyabc'\nweights = 'balance'"), "abc.weights"),
])
def test_bad_spec_exits_2_and_writes_nothing(tmp_path, edit, where):
    spec = tmp_path / "bad.toml"
    spec.write_text(QUICK_TOML.replace(*edit))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["calibrate", str(spec), "--out", str(out)])
    assert res.exit_code == 2
    assert where in res.output and res.output.strip().count("\n") == 0
    assert not out.exists()


def test_pyabc_backend_small(tmp_path):
    pytest.importorskip("pyabc", reason="pyabc (extra `abc`) is not installed")
    from replyall_storm.experiments.calibration.pyabc_backend import run_pyabc

    cal = load_calibration(_dict_spec(n=12), generations=2, backend="pyabc")
    res = run_pyabc(cal, tmp_path, n=12, alpha=0.5, generations=2, min_acceptance=0.05)
    parts = res["particles"]
    assert len(parts) == 6 and parts["weight"].sum() == pytest.approx(1.0)
    for name in ("remove_rate", "complain_rate"):
        assert parts[name].between(2.5e-4, 1.6e-2).all()
    assert (tmp_path / "pyabc.db").exists() and len(res["generations"]) == 2


def test_the_final_proposal_density_is_normalised_on_the_prior_box():
    """The truncated kernel mixture's density integrates to 1 over the box (kernels near its
    edges lose mass outside it, which the truncation restores), and a kernel at a corner of
    the square keeps a quarter of its mass."""
    from replyall_storm.experiments.calibration import importance

    rng = np.random.default_rng(11)
    u = np.array([[0.02, 0.03], [0.5, 0.5], [0.97, 0.1], [0.3, 0.9]])
    w = np.array([0.4, 0.1, 0.3, 0.2])
    cov = np.array([[0.02, 0.005], [0.005, 0.015]])
    mass = importance.box_mass(u, cov, rng, draws=20_000)
    assert mass[1] == pytest.approx(0.998, abs=0.01) and mass[0] < 0.5
    corner = importance.box_mass(np.array([[0.0, 0.0]]), 1e-4 * np.eye(2), rng, 20_000)
    assert corner[0] == pytest.approx(0.25, abs=0.015)
    grid = rng.random((40_000, 2))  # the box has volume 1: the mean density is the integral
    q = importance.density(grid, u, w, cov, mass)
    assert q.mean() == pytest.approx(1.0, abs=0.03)
    untruncated = importance.density(grid, u, w, cov, np.ones(len(u)))
    assert untruncated.mean() < 0.9  # without the correction it would not be a density
    x, qx = importance.propose(u, w, 2000, rng)  # draws land where the density is high
    assert np.all((x >= 0) & (x <= 1)) and np.median(qx) > np.median(q)


def test_a_narrower_final_kernel_is_a_density_and_samples_within_the_tolerance_more_often():
    from replyall_storm.experiments.calibration import importance

    rng = np.random.default_rng(5)
    u = rng.random((30, 2)) * 0.4 + 0.3
    w = np.full(30, 1 / 30)
    wide = importance.Proposal.of(u, w, np.random.default_rng(1))
    narrow = importance.Proposal.of(u, w, np.random.default_rng(1), scale=1.0)
    np.testing.assert_allclose(narrow.cov - 1e-12 * np.eye(2), (wide.cov - 1e-12 * np.eye(2)) / 2)
    grid = rng.random((40_000, 2))
    assert narrow.density(grid).mean() == pytest.approx(1.0, abs=0.03)
    prior, obs, simulate = analytic_problem()
    two = apmc(prior, simulate, obs, n=60, generations=5, seed=3, final_draws=300)
    prior, obs, simulate = analytic_problem()
    one = apmc(prior, simulate, obs, n=60, generations=5, seed=3, final_draws=300,
               final_scale=1.0)
    pd.testing.assert_frame_equal(one["population"], two["population"])  # APMC unchanged
    assert one["final"]["kernel_scale"] == 1.0 and two["final"]["kernel_scale"] == 2.0
    assert one["final"]["p_acc"] > two["final"]["p_acc"]


def test_the_final_sample_has_even_weights_and_covers_the_truth():
    prior, obs, simulate = analytic_problem()
    res = apmc(prior, simulate, obs, n=60, generations=6, seed=3, final_draws=300)
    final, particles = res["final"], res["particles"]
    assert final["draws"] == 300 and final["accepted"] == len(particles) > 30
    assert particles["distance"].max() <= final["epsilon"]
    assert particles["weight"].sum() == pytest.approx(1.0)
    assert particles["generation"].nunique() == 1
    assert final["generation"] == len(res["generations"])  # one generation after APMC's
    w = particles["weight"].to_numpy()
    assert final["ess"] == pytest.approx(1.0 / np.sum(w ** 2))
    assert final["ess"] >= 0.7 * final["accepted"]  # one proposal: weights vary little
    post, _ = posterior_summary(particles, prior)
    for name in ("a", "b"):
        row = post.set_index("parameter").loc[name]
        assert row["lo"] <= 0.25 <= row["hi"]
    again = apmc(prior, simulate, obs, n=60, generations=6, seed=3, final_draws=0)
    assert again["final"] is None and again["particles"] is again["population"]


@pytest.mark.parametrize("defensive", [0.0, 0.5])
def test_a_defensive_proposal_is_still_a_density_and_batch_zero_is_the_plain_proposal(
        defensive):
    """Mixing equal kernel weights into the proposal keeps it normalised on the box; with no
    mixing the first batch draws exactly what the one-batch sample drew (so a calibration
    run before batches existed resumes on its stored draws)."""
    from replyall_storm.experiments.calibration import importance

    u = np.array([[0.02, 0.03], [0.5, 0.5], [0.97, 0.1], [0.3, 0.9]])
    w = np.array([0.05, 0.85, 0.07, 0.03])
    q = importance.Proposal.of(u, w, np.random.default_rng(4), defensive)
    assert q.weights == pytest.approx((1 - defensive) * w + defensive / 4)
    grid = np.random.default_rng(5).random((40_000, 2))
    assert q.density(grid).mean() == pytest.approx(1.0, abs=0.03)
    x, qx = importance.propose(u, w, 50, np.random.default_rng(6), defensive)
    again = importance.Proposal.of(u, w, np.random.default_rng(6), defensive)
    rng = np.random.default_rng(6)
    importance.box_mass(u, again.cov, rng)  # the same generator: masses first, then draws
    assert np.array_equal(x, again.draw(50, rng)) and np.array_equal(qx, again.density(x))
    if defensive == 0:  # the one-batch sample's own steps, to the last bit
        w = np.random.default_rng(7).random(4) * 0.37  # normalised twice, these would differ
        rng = np.random.default_rng(8)
        wn = w / np.sum(w)
        cov = importance.kernel_covariance(u, wn)
        mass = importance.box_mass(u, cov, rng)
        before = importance.draw(u, wn, cov, 200, rng)
        rng = np.random.default_rng(8)
        now = importance.Proposal.of(u, w, rng)
        assert np.array_equal(now.weights, wn) and np.array_equal(now.cov, cov)
        assert np.array_equal(now.mass, mass) and np.array_equal(now.draw(200, rng), before)


@pytest.mark.parametrize("drawn, ess_now, target, cap, expected", [
    (500, 250.0, 200.0, 5000, 0),      # met
    (500, 100.0, 200.0, 5000, 550),    # missing ESS per draw so far, plus 10 %
    (500, 195.0, 200.0, 5000, 50),     # at least a tenth of the first batch
    (500, 0.0, 200.0, 5000, 500),      # nothing accepted yet: a whole first batch again
    (500, 10.0, 200.0, 1200, 700),     # never beyond the cap
    (1200, 10.0, 200.0, 1200, 0),      # the cap reached
])
def test_the_next_batch_is_sized_by_the_ess_so_far(drawn, ess_now, target, cap, expected):
    from replyall_storm.experiments.calibration import importance

    assert importance.next_batch(drawn, ess_now, target, 500, cap) == expected


def test_the_final_sample_draws_batches_until_its_ess_target():
    prior, obs, simulate = analytic_problem()
    res = apmc(prior, simulate, obs, n=60, generations=6, seed=3, final_draws=60,
               final_ess=150, final_max_draws=3000, defensive=0.5)
    final, particles = res["final"], res["particles"]
    assert final["met"] and final["ess"] >= 150 and final["batches"] >= 2
    assert final["draws"] <= 3000 and final["accepted"] == len(particles)
    g0 = len(res["generations"])
    batches = res["history"][res["history"]["generation"] >= g0]
    assert len(batches) == final["draws"]
    assert set(batches["generation"]) == set(range(g0, g0 + final["batches"]))
    w = particles["weight"].to_numpy()
    assert w.sum() == pytest.approx(1.0) and final["ess"] == pytest.approx(1 / np.sum(w ** 2))
    assert particles["distance"].max() <= final["epsilon"]
    post, _ = posterior_summary(particles, prior)
    for name in ("a", "b"):
        row = post.set_index("parameter").loc[name]
        assert row["lo"] <= 0.25 <= row["hi"]
    capped = apmc(prior, simulate, obs, n=60, generations=6, seed=3, final_draws=60,
                  final_ess=1e6, final_max_draws=200)["final"]
    assert capped["draws"] == 200 and not capped["met"] and capped["batches"] >= 2


def test_the_central_accepted_set_is_the_one_nearest_the_posterior_centre(tmp_path):
    """Other commands run a calibration's most central accepted set, not its set of largest
    weight (in an importance sample, the region's thinly proposed edge)."""
    import json

    from replyall_storm.experiments.calibration.accepted import calibrated_changes
    from replyall_storm.experiments.calibration.apmc import central

    prior = Prior(("remove_rate", "cutoff_min"), np.array([-5.0, 45.0]),
                  np.array([-3.0, 91.0]), np.array([True, False]))
    rng = np.random.default_rng(2)
    u = np.clip(0.5 + 0.1 * rng.standard_normal((200, 2)), 0, 1)
    u[17] = [0.5, 0.5]  # the centre itself
    u[3] = [0.95, 0.05]  # far out, and of the largest weight
    w = np.ones(200)
    w[3] = 3.0
    accepted = pd.DataFrame(prior.from_unit(u)).assign(weight=w / w.sum(), distance=0.1)
    i = central(accepted, prior)
    assert i == 17
    on_ridge = u.copy()  # a ridge: the marginal medians are no accepted point, the centre is
    on_ridge[:, 1] = on_ridge[:, 0]
    ridge = pd.DataFrame(prior.from_unit(on_ridge)).assign(weight=1.0, distance=0.1)
    j = central(ridge, prior)
    assert abs(on_ridge[j, 0] - 0.5) < 0.02 and on_ridge[j, 0] == on_ridge[j, 1]

    folder = tmp_path / "cal"
    folder.mkdir()
    accepted.to_parquet(folder / "accepted.parquet")
    heaviest, _ = calibrated_changes(folder)  # a folder of before: the largest weight
    assert heaviest["remove_rate"] == pytest.approx(float(accepted["remove_rate"].iloc[3]))
    row = accepted.iloc[i]
    (folder / "summary.json").write_text(json.dumps({"central": {
        "remove_rate": float(row["remove_rate"]), "cutoff_min": float(row["cutoff_min"]),
        "distance": 0.1, "weight": float(row["weight"])}}))
    params, where = calibrated_changes(folder)
    assert params == {"remove_rate": float(row["remove_rate"]),
                      "cutoff_min": float(row["cutoff_min"])}
    assert str(folder) in where
