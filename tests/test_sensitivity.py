"""Sensitivity indices (experiments/analysis/sensitivity.py) and `replyall sensitivity`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from SALib.sample import morris as morris_sample
from SALib.test_functions import Ishigami

from replyall_storm.experiments.analysis.sensitivity import (
    analyse,
    outputs_by_point,
    sobol_of_function,
)
from replyall_storm.experiments.cli import main

PI3 = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}

SPEC = """
name = "sens"
scenario = "small"
root_seed = 9
common_org = true
[fixed]
horizon_min = 240
[design]
kind = "saltelli"
n = 8
second_order = false
[design.parameters.remove_rate]
low = 5e-4
high = 8e-3
log = true
[design.parameters.cutoff_min]
low = 20.0
high = 120.0
[outputs]
series = false
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def test_sobol_wrapper_ranks_ishigami_like_the_analytic_indices():
    # analytic (a=7, b=0.1): S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244
    table, pairs = sobol_of_function(Ishigami.evaluate, PI3, 512, seed=1)
    t = table.set_index("parameter")
    assert list(table["parameter"]) == ["x1", "x2", "x3"] and list(table["rank"]) == [1, 2, 3]
    for name, s1, st in (("x1", 0.314, 0.558), ("x2", 0.442, 0.442), ("x3", 0.0, 0.244)):
        assert abs(t.loc[name, "S1"] - s1) < 0.1 and abs(t.loc[name, "ST"] - st) < 0.1
    p = pairs.set_index(["a", "b"])["S2"]
    assert p.loc[("x1", "x3")] > 0.1 and abs(p.loc[("x1", "x2")]) < 0.1


def test_morris_ranks_a_linear_function():
    x = morris_sample.sample(PI3, 20, num_levels=4, seed=2)
    y = 10 * x[:, 0] + x[:, 1]
    table, _ = analyse(PI3, x, y, method="morris", seed=2)
    t = table.set_index("parameter")
    assert list(table["parameter"]) == ["x1", "x2", "x3"]
    # SALib scales elementary effects to the unit range: 10 x (2 pi) per unit of x1
    assert t.loc["x1", "mu_star"] == pytest.approx(20 * np.pi) and t.loc["x3", "mu_star"] == 0.0


def test_noise_share_and_failed_points():
    runs = pd.DataFrame({"point": [0, 0, 1, 1, 2], "status": ["ok"] * 4 + ["failed"],
                         "y": [1.0, 3.0, 11.0, 13.0, np.nan]})
    means, noise = outputs_by_point(runs, 3, ("y",))
    assert means["y"].tolist()[:2] == [2.0, 12.0] and np.isnan(means["y"].iloc[2])
    within, total = 2.0, np.var([1.0, 3.0, 11.0, 13.0], ddof=1)
    assert noise["y"] == pytest.approx(within / total)


def test_sensitivity_command_on_a_tiny_model_design(tmp_path):
    spec = tmp_path / "sens.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["sensitivity", str(spec), "--out", str(out), "--workers",
                                    "1", "--no-progress", "--resamples", "50"])
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "indices.parquet")
    assert set(table["output"]) == {"messages_per_user", "senders", "peak_backlog"}
    assert set(table["parameter"]) == {"remove_rate", "cutoff_min"}
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 4 and set(ok["rank"]) == {1, 2}
    assert np.isfinite(ok[["S1", "ST", "S1_conf", "ST_conf"]].to_numpy()).all()
    assert len(pd.read_parquet(out / "runs" / "runs.parquet")) == 8 * (2 + 2)
    assert "remove_rate" in res.output and (out / "sensitivity.json").exists()


@pytest.mark.parametrize("edit, where", [
    (('kind = "saltelli"', 'kind = "lhs"'), "design.kind"),
    (("n = 8", "n = 6"), "design.n"),
])
def test_bad_sensitivity_spec_exits_2_and_writes_nothing(tmp_path, edit, where):
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.replace(*edit))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["sensitivity", str(spec), "--out", str(out)])
    assert res.exit_code == 2 and where in res.output
    assert not out.exists()
