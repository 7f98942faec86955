"""`replyall predict`: keys, monotonicity in the cut-off, policies, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.analysis.predict import OUTPUTS, QUANTILES, predict
from replyall_storm.experiments.cli import main


@pytest.fixture(scope="module")
def posterior(tmp_path_factory):
    """A small posterior in the layout `replyall storms` writes (stormy hazards)."""
    rng = np.random.default_rng(3)
    n = 6
    frame = pd.DataFrame({
        "mechanism": "relevance", "weight": 1.0 / n, "distance": rng.random(n),
        "remove_rate": 10 ** rng.uniform(-3.3, -3.0, n),
        "complain_rate": 10 ** rng.uniform(-3.3, -3.0, n),
        "mute_rate": 0.01, "annoyance_half": 15.0, "visible_audience_factor": 0.3,
        "relevance_boost": rng.uniform(1.0, 2.0, n),
        "nhs2016:speed": rng.uniform(0.2, 0.5, n), "dhs2007:speed": rng.uniform(0.2, 0.5, n)})
    path = tmp_path_factory.mktemp("posterior") / "posterior.parquet"
    frame.to_parquet(path)
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def test_the_json_object_has_the_documented_keys(posterior):
    out = CliRunner().invoke(main, ["predict", "--list-size", "1500", "--duration", "60",
                                    "--replicates", "4", "--posterior", str(posterior),
                                    "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) == set(OUTPUTS)
    for key in OUTPUTS:
        q = data[key]
        assert set(q) == set(QUANTILES)
        assert q["p05"] <= q["p25"] <= q["median"] <= q["p75"] <= q["p95"]
    assert data["messages_per_user"]["median"] >= 1.0  # the original at least


def test_a_later_cutoff_never_gives_fewer_reply_alls(posterior):
    """Same draws and seeds: the storms agree up to the earlier cut-off, then one goes on."""
    runs = {d: predict(1500, d, replicates=8, seed=5, posterior=posterior).runs
            for d in (20.0, 60.0, 180.0)}
    m = {d: r["reply_alls_accepted"].to_numpy() for d, r in runs.items()}
    assert np.all(m[20.0] <= m[60.0]) and np.all(m[60.0] <= m[180.0])
    assert m[180.0].sum() > m[20.0].sum()  # the storms did grow
    for r in runs.values():
        assert np.array_equal(r["draw"], runs[20.0]["draw"])  # common random numbers


def test_storm_protection_composes_with_a_prediction(posterior):
    free = predict(3000, 180, replicates=6, seed=2, posterior=posterior)
    guarded = predict(3000, 180, replicates=6, seed=2, posterior=posterior,
                      changes={"storm_protection": True, "sp_min_recipients": 1000})
    assert (guarded.runs["reply_alls_accepted"] <= free.runs["reply_alls_accepted"]).all()
    assert guarded.quantiles["reply_alls_accepted"]["median"] <= \
        free.quantiles["reply_alls_accepted"]["median"]


def test_same_seed_same_prediction_and_the_audience_matters(posterior):
    a = predict(1200, 90, replicates=5, seed=9, posterior=posterior)
    b = predict(1200, 90, replicates=5, seed=9, posterior=posterior)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    shown = predict(1200, 90, replicates=5, seed=9, posterior=posterior, audience="visible")
    assert (shown.runs["reply_alls_accepted"] <= a.runs["reply_alls_accepted"]).all()


@pytest.mark.parametrize("args, fragment", [
    (["--list-size", "1"], "--list-size=1: must be a whole number from 2 to 1,000,000"),
    (["--list-size", "2000000"], "--list-size=2000000: must be a whole number from 2"),
    (["--duration", "-5"], "--duration=-5.0: must be from 0 to 10,080 minutes"),
    (["--duration", "nan"], "--duration=nan"),
    (["--start", "25:00"], "--start='25:00': must be a clock time HH:MM"),
    (["--start", "9am"], "--start='9am': must be a clock time HH:MM"),
    (["--replicates", "0"], "--replicates=0: must be from 1 to 10,000"),
    (["--set", "nonsense=1"], "nonsense='1': unknown parameter"),
])
def test_bad_input_is_one_line_and_exit_2(posterior, args, fragment):
    base = {"--list-size": "1000", "--duration": "60"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["predict", *[x for kv in base.items() for x in kv if kv[0] != "--set"],
            "--posterior", str(posterior)]
    if "--set" in base:
        argv += ["--set", base["--set"]]
    out = CliRunner().invoke(main, argv)
    assert out.exit_code == 2, out.output
    lines = [ln for ln in out.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], lines


def test_a_missing_posterior_names_the_command_that_makes_one(tmp_path):
    out = CliRunner().invoke(main, ["predict", "--list-size", "1000", "--duration", "60",
                                    "--posterior", str(tmp_path / "none.parquet")])
    assert out.exit_code == 2 and "replyall storms" in out.output
