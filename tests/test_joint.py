"""The joint calibration over every storm: its prior, its mapping to each mechanism, and the
rejection-ABC analysis (leave one storm out, baselines, model choice) on hand-built tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from replyall_storm.experiments.calibration import joint_analysis as ja
from replyall_storm.experiments.calibration.joint import (
    MECHANISMS,
    OWN_UNITS,
    SHARED,
    SPEED,
    Axis,
    JointPrior,
    shared_values,
    unaffected,
)
from replyall_storm.experiments.calibration.storms import load_storms

N = 64


@pytest.fixture(scope="module")
def prior() -> JointPrior:
    return JointPrior.build()


@pytest.fixture(scope="module")
def sample(prior) -> pd.DataFrame:
    return prior.sample(N, root_seed=7)


@pytest.mark.parametrize("log", [True, False])
def test_an_axis_maps_the_unit_cube_onto_its_range_and_back(log):
    axis = Axis("x", 3e-6, 0.3, log)
    u = np.linspace(0.0, 1.0, 11)
    x = axis.value(u)
    assert x[0] == pytest.approx(3e-6) and x[-1] == pytest.approx(0.3)
    assert np.all(np.diff(x) > 0)
    np.testing.assert_allclose(axis.unit(x), u, atol=1e-12)
    if log:  # equal steps in u are equal factors
        np.testing.assert_allclose(x[1:] / x[:-1], 10 ** 0.5, rtol=1e-12)


def test_the_sample_is_a_latin_hypercube_within_every_prior_and_reproducible(prior, sample):
    assert list(sample.columns) == [a.name if a.storm is None else f"{a.storm}:{a.name}"
                                    for a in prior.axes]
    for a in prior.axes:
        col = a.name if a.storm is None else f"{a.storm}:{a.name}"
        u = a.unit(sample[col].to_numpy())
        assert np.all((u >= -1e-12) & (u <= 1 + 1e-12)), col
        # one point in each of the N strata of every axis
        np.testing.assert_array_equal(np.sort(np.floor(np.clip(u, 0, 1 - 1e-12) * N)),
                                      np.arange(N))
    pd.testing.assert_frame_equal(sample, prior.sample(N, root_seed=7))
    assert not sample.equals(prior.sample(N, root_seed=8))


def test_every_storm_has_its_own_speed_and_nhs_its_database_spread(prior):
    storms = {s.id for s in prior.storms}
    assert storms == {s.id for s in load_storms().storms}
    for sid in storms:
        own = {a.name for a in prior.axes if a.storm == sid}
        assert "speed" in own
        assert ("capacity_spread" in own) == (sid == "nhs2016")
    shared = [a.name for a in prior.axes if a.storm is None]
    assert shared == [*SHARED, *[p for m in MECHANISMS.values() for p in m]]


@pytest.mark.parametrize("mechanism", [m for m in MECHANISMS if m not in OWN_UNITS])
def test_mechanisms_without_units_of_their_own_take_the_sample_as_it_is(sample, mechanism):
    pd.testing.assert_frame_equal(shared_values(sample, mechanism), sample[list(SHARED)])


def test_relevance_maps_the_same_coordinates_onto_its_own_hazard_priors(sample):
    mapped = shared_values(sample, "relevance")
    for name in SHARED:
        base = Axis(name, *SHARED[name])
        if name not in OWN_UNITS["relevance"]:
            np.testing.assert_array_equal(mapped[name], sample[name])
            continue
        own = Axis(name, *OWN_UNITS["relevance"][name])
        np.testing.assert_allclose(own.unit(mapped[name].to_numpy()),
                                   base.unit(sample[name].to_numpy()), atol=1e-9)
        assert mapped[name].min() >= own.lo * (1 - 1e-9)
        assert mapped[name].max() <= own.hi * (1 + 1e-9)
        # same order of the points: the comparison stays on common random numbers
        np.testing.assert_array_equal(np.argsort(mapped[name].to_numpy()),
                                      np.argsort(sample[name].to_numpy()))


def test_points_carry_shared_mechanism_and_the_storms_own_values(prior, sample):
    for storm in prior.storms:
        for mechanism in MECHANISMS:
            points = prior.points(sample.head(5), storm, mechanism)
            shared = shared_values(sample.head(5), mechanism)
            for i, p in enumerate(points):
                assert set(MECHANISMS[mechanism]) <= set(p)
                for other, params in MECHANISMS.items():
                    if other != mechanism:
                        assert not set(params) & set(p)
                for name in SHARED:
                    assert p[name] == shared.at[i, name]
                speed = sample.at[i, f"{storm.id}:speed"]
                assert SPEED[0] <= speed <= SPEED[1]
                assert p["capacity_per_min"] == pytest.approx(speed * storm.list_size)


def test_the_bystander_effect_leaves_hidden_audiences_alone():
    for storm in load_storms().storms:
        assert unaffected("bystander", storm) == (storm.audience == "hidden")
        for mechanism in ("none", "relevance", "attention"):
            assert not unaffected(mechanism, storm)


# --- the analysis, on hand-built tables --------------------------------------------------

def _table(distances: dict[str, list[float]], m: dict[str, list[float]]) -> pd.DataFrame:
    cols = {"sample": np.arange(len(next(iter(distances.values()))))}
    for s, d in distances.items():
        cols[f"{s}:distance"] = d
        cols[f"{s}:M"] = m[s]
    return pd.DataFrame(cols)


def test_combined_distance_is_the_rms_over_storms_and_a_failed_run_is_far():
    t = _table({"a": [3.0, 0.0, np.inf], "b": [4.0, 1.0, 0.0]},
               {"a": [0.0] * 3, "b": [0.0] * 3})
    d = ja.combined(t, ["a", "b"])
    assert d[0] == pytest.approx(math.sqrt(12.5))
    assert d[1] == pytest.approx(math.sqrt(0.5))
    assert d[2] > 1e5
    np.testing.assert_array_equal(ja.accepted(t, ["a", "b"], share=0.34), [1])
    np.testing.assert_array_equal(ja.accepted(t, ["a", "b"], share=0.01), [1])  # at least one


def test_leave_one_out_predicts_each_storm_from_the_points_closest_to_the_others():
    obs = ja.observed_m()
    ids = list(obs)
    rng = np.random.default_rng(3)
    n = 200
    dist = {s: rng.uniform(0, 10, n) for s in ids}
    m = {s: rng.uniform(1, 1e4, n) for s in ids}
    loo = ja.leave_one_out(_table(dist, m), share=0.1)
    assert list(loo["storm"]) == ids
    for _, row in loo.iterrows():
        others = [s for s in ids if s != row["storm"]]
        rms = np.sqrt(np.mean([dist[s] ** 2 for s in others], axis=0))
        idx = np.argsort(rms, kind="stable")[:20]
        want = m[row["storm"]][idx]
        assert row["predicted"] == pytest.approx(np.median(want))
        assert row["predicted_p05"] == pytest.approx(np.percentile(want, 5))
        assert row["accepted"] == 20
        o = obs[row["storm"]]
        assert row["observed"] == pytest.approx(0.5 * (o.lo + o.hi))
        assert row["abs_log_error"] == pytest.approx(abs(math.log(row["predicted"] /
                                                                  row["observed"])))
        assert row["within_factor"] == (row["abs_log_error"] <= math.log(3.0))


def test_the_constant_baseline_is_the_geometric_mean_of_the_other_storms():
    obs = list(ja.observed_m().values())
    const = ja.baselines()["constant"]
    for i, row in const.iterrows():
        rest = [o.middle for j, o in enumerate(obs) if j != i]
        assert row["predicted"] == pytest.approx(math.exp(np.mean(np.log(rest))))
        assert row["predicted_p05"] < row["predicted"] < row["predicted_p95"]
    loglin = ja.baselines()["loglinear"]
    for i, row in loglin.iterrows():  # the line through the other three storms
        rest = [o for j, o in enumerate(obs) if j != i]
        slope, icept = np.polyfit(np.log([o.list_size for o in rest]),
                                  np.log([o.middle for o in rest]), 1)
        assert row["predicted"] == pytest.approx(math.exp(icept + slope *
                                                          math.log(obs[i].list_size)))


def test_model_choice_counts_each_mechanism_at_one_common_tolerance():
    ids = list(ja.observed_m())
    close = _table({s: [0.1] * 10 for s in ids}, {s: [1.0] * 10 for s in ids})
    far = _table({s: [5.0] * 10 for s in ids}, {s: [1.0] * 10 for s in ids})
    probs = ja.model_probabilities({"close": close, "far": far}, share=0.5)
    got = dict(zip(probs["mechanism"], probs["probability"], strict=True))
    assert got == {"close": 1.0, "far": 0.0}
    assert probs["probability"].sum() == pytest.approx(1.0)
