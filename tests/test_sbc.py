"""Simulation-based calibration: the smaller world, synthetic reports, coverage, end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from replyall_storm.experiments.calibration import sbc
from replyall_storm.experiments.calibration.settings import load_calibration
from replyall_storm.experiments.cli import main


@pytest.fixture(scope="module")
def cal():
    return load_calibration("calibrate_nhs")


def test_the_smaller_world_keeps_each_message_s_reach_and_each_member_s_share(cal):
    small = sbc.smaller_world(cal, 10_500)
    scale = 10_500 / 840_000
    assert small.base_params().n_users == 10_500
    full, part = cal.spec.design.parameters, small.design.parameters
    for name in ("remove_rate", "complain_rate"):  # hazard x members is kept
        assert part[name].low == pytest.approx(full[name].low / scale)
        assert part[name].high == pytest.approx(min(1.0, full[name].high / scale))
    assert part["capacity_per_min"].low == pytest.approx(full["capacity_per_min"].low * scale)
    assert part["capacity_per_min"].high == pytest.approx(full["capacity_per_min"].high * scale)
    for name in ("mute_rate", "annoyance_half", "capacity_spread", "cutoff_min"):
        assert (part[name].low, part[name].high) == (full[name].low, full[name].high)
    assert small.base_params().degrade_backlog == pytest.approx(
        cal.spec.base_params().degrade_backlog * scale)
    assert small.fixed["horizon_min"] == cal.spec.fixed["horizon_min"]


def test_synthetic_reports_are_read_off_the_storm_as_the_reports_were_made(cal):
    spec = sbc.smaller_world(cal, 3_000)
    truth = {"remove_rate": 0.004, "complain_rate": 0.006, "mute_rate": 0.01,
             "annoyance_half": 30.0, "capacity_per_min": 400.0, "capacity_spread": 0.5,
             "cutoff_min": 60.0}
    first, shown = sbc.synthetic_observations(spec, truth, cal.targets, "nhs2016", 0)
    again, _ = sbc.synthetic_observations(spec, truth, cal.targets, "nhs2016", 0)
    other, _ = sbc.synthetic_observations(spec, truth, cal.targets, "nhs2016", 1)
    # The same truth index: the same storm, members and minutes. Compared by repr (exact
    # for floats): from Python 3.13 a dataclass compares field by field, and nan != nan.
    assert repr(first) == repr(again)
    assert [o.value for o in first] != [o.value for o in other]
    assert [o.key for o in first] == [o.key for o in cal.targets]
    for o, real in zip(first, cal.targets, strict=True):
        assert o.lo == o.hi == o.value and o.source == "synthetic"
        assert (o.kind, o.sigma, o.tag) == (real.kind, real.sigma, real.tag)
        if o.kind == "summary":
            assert o.value == pytest.approx(float(shown[o.key]))
        if o.kind == "inbox":  # one member's count: inside the members' range that day
            assert 0 <= o.value <= shown["messages_per_user_eventual"] + 1


def test_coverage_counts_and_its_clopper_pearson_interval():
    table = pd.DataFrame({"parameter": ["a"] * 20 + ["b"] * 20,
                          "covered": [True] * 18 + [False] * 2 + [True] * 20,
                          "rank": np.r_[np.linspace(0.02, 0.98, 20), np.full(20, 0.5)]})
    c = sbc.coverage(table)
    assert (c["a"]["covered"], c["a"]["n"], c["a"]["share"]) == (18, 20, 0.9)
    assert c["a"]["lo"] == pytest.approx(stats.beta.ppf(0.025, 18, 3))
    assert c["a"]["hi"] == pytest.approx(stats.beta.ppf(0.975, 19, 2))
    assert (c["b"]["share"], c["b"]["hi"]) == (1.0, 1.0)  # all covered: the upper end is 1
    assert c["a"]["rank_ks_p"] > 0.5 > 0.01 > c["b"]["rank_ks_p"]  # uniform vs all at 0.5
    assert c["all"]["n"] == 40 and c["all"]["covered"] == 38


def test_a_small_check_end_to_end_is_reproducible(cal, tmp_path):
    kw = {"truths": 2, "users": 1_000, "particles": 20, "generations": 2, "final_draws": 12,
          "final_ess": 0.0, "workers": 1, "progress": False}
    one = sbc.run_sbc(cal, tmp_path / "one", **kw)
    two = sbc.run_sbc(cal, tmp_path / "two", **kw)
    a = pd.read_parquet(tmp_path / "one" / "sbc.parquet")
    b = pd.read_parquet(tmp_path / "two" / "sbc.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert one == two and one["truths"] == 2 and one["coverage"]["all"]["n"] == 14
    assert len(a) == 2 * 7 and set(a["parameter"]) == set(cal.spec.varied)
    assert (a["covered"] == ((a["lo"] <= a["value"]) & (a["value"] <= a["hi"]))).all()
    assert a["rank"].between(0, 1).all() and (a["generations"] == 2).all()
    assert one["final_draws"] == 12 and a["accepted"].between(1, 12).all()  # the final sample
    assert (a["draws"] == 12).all()  # one batch


def test_balance_weights_are_a_choice_of_the_spec_recorded_and_reproducible(tmp_path):
    kw = {"truths": 2, "users": 1_000, "particles": 20, "generations": 3, "final_draws": 0,
          "workers": 1, "progress": False}
    balance = load_calibration("calibrate_nhs", weights="balance")
    one = sbc.run_sbc(balance, tmp_path / "one", **kw)
    two = sbc.run_sbc(balance, tmp_path / "two", **kw)
    own = sbc.run_sbc(load_calibration("calibrate_nhs"), tmp_path / "own", **kw)
    a = pd.read_parquet(tmp_path / "one" / "sbc.parquet")
    pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "two" / "sbc.parquet"))
    assert one == two and one["weights"] == "balance" and own["weights"] == "own"
    b = pd.read_parquet(tmp_path / "own" / "sbc.parquet")
    assert not np.array_equal(a["lo"].to_numpy(), b["lo"].to_numpy())  # other proposals
    # generation 0 is the same prior sample either way; the runs of generation 1 differ
    assert (a["generations"] <= 3).all() and (b["generations"] <= 3).all()


def test_each_final_sample_reaches_the_spec_s_ess_target_scaled_to_its_particles(cal, tmp_path):
    """calibrate_nhs asks for ESS 200 with 400 particles (at most 12,000 draws): with 20
    particles, ESS 10 (at most 600 draws), reached in batches after the first 12 draws."""
    assert (cal.abc.final_ess, cal.abc.final_max_draws, cal.spec.design.n) == (200, 12000, 400)
    one = sbc.run_sbc(cal, tmp_path / "one", truths=2, users=1_000, particles=20,
                      generations=2, final_draws=12, workers=1, progress=False)
    a = pd.read_parquet(tmp_path / "one" / "sbc.parquet").drop_duplicates("truth")
    assert one["final_ess"] == pytest.approx(10.0) and one["final_max_draws"] == 600
    assert (a["draws"] > 12).all() and (a["draws"] <= 600).all()
    assert ((a["ess"] >= 10.0) | (a["draws"] == 600)).all()


@pytest.mark.parametrize("args, allowed", [
    (["--truths", "1"], "error: --truths=1: must be at least 2"),
    (["--users", "50"], "error: --users=50: must be from 100 to 1,000,000"),
    (["--particles", "5"], "error: --particles=5: must be at least 20"),
    (["--final-draws", "-1"], "error: --final-draws=-1: must be a whole number >= 0"),
])
def test_bad_sbc_options_are_one_line(tmp_path, args, allowed):
    result = CliRunner().invoke(main, ["sbc", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.strip() == allowed, result.output
    assert not (tmp_path / "o").exists()
