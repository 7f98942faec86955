"""Sweep specs (experiments/sweeps/spec.py, validate.py): one-line errors, designs, seeds."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweep import thin
from replyall_storm.experiments.sweeps import load_spec, parse_spec
from replyall_storm.model.errors import ParameterError

SPECS = Path(__file__).resolve().parents[1] / "experiments" / "specs"

BASE = {
    "name": "t", "scenario": "small", "root_seed": 7, "replicates": 2,
    "fixed": {"n_users": 500, "horizon_min": 120},
    "design": {"kind": "grid", "parameters": {
        "remove_rate": {"values": [1e-3, 4e-3]}, "cutoff_min": {"values": [30, 60, 90]}}},
}


def spec(**top):
    data = copy.deepcopy(BASE)
    data.update(top)
    return data


def ranged(kind="lhs", n=8, **axis):
    return spec(design={"kind": kind, "n": n, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-2, "log": True, **axis}}})


def one_line(data, *fragments):
    with pytest.raises(ParameterError) as excinfo:
        parse_spec(data)
    text = str(excinfo.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


@pytest.mark.parametrize(("data", "fragments"), [
    (spec(nmae="x"), ["nmae: unknown key (allowed: name, description, scenario"]),
    (spec(outputs={"series": True, "every": 5}), ["outputs.every: unknown key (allowed: series"]),
    (ranged(hgh=2.0), ["design.parameters.remove_rate.hgh: unknown key", "low, high, log"]),
    (spec(design={"kind": "grid", "parameters": {}, "size": 3}), ["design.size: unknown key"]),
    (spec(replicates="3"), ["replicates='3': must be a valid integer"]),
    (spec(replicates=0), ["replicates=0: must be greater than or equal to 1"]),
    (spec(root_seed=-1), ["root_seed=-1"]),
    (spec(common_org="yes"), ["common_org='yes'"]),
    (spec(design={"kind": "latin", "parameters": {}}), ["design.kind='latin': must be one of "
                                                        "grid, points, lhs"]),
    ({k: v for k, v in BASE.items() if k != "scenario"}, ["scenario: required key is missing"]),
    (ranged(high=2.0, log=False),
     ["design.parameters.remove_rate.high=2.0: must be in [0, 1] (per message read)"]),
    (ranged(low=-1.0, log=False), ["design.parameters.remove_rate.low=-1.0: must be in [0, 1]"]),
    (ranged(low=0.0), ["design.parameters.remove_rate.low=0.0: must be > 0 with log"]),
    (ranged(low=0.5, high=0.1), ["design.parameters.remove_rate.high=0.1: must be greater"]),
    (ranged(values=[0.1]), ["design.parameters.remove_rate: kind=lhs needs `low` and `high`"]),
    (spec(design={"kind": "grid", "parameters": {"remove_rate": {"values": [0.5, 1.5]}}}),
     ["design.parameters.remove_rate.values[1]=1.5: must be in [0, 1]"]),
    (spec(fixed={}, design={"kind": "grid", "parameters": {"horizon_min": {"values": [60.5]}}}),
     ["design.parameters.horizon_min.values[0]=60.5: must be a whole number"]),
    (spec(design={"kind": "grid", "parameters": {}}), ["design.parameters: empty design"]),
    (spec(design={"kind": "grid", "parameters": {"remove_rate": {"values": []}}}),
     ["design.parameters.remove_rate.values=[]: empty design"]),
    (spec(design={"kind": "grid", "parameters": {"remove_rte": {"values": [0.1]}}}),
     ["design.parameters.remove_rte: unknown parameter"]),
    (spec(design={"kind": "grid", "parameters": {"n_users": {"values": [500]}}}),
     ["design.parameters.n_users: is also in [fixed]"]),
    (spec(design={"kind": "lhs", "n": 4, "parameters": {"list_level": {"low": 0, "high": 1}}}),
     ["design.parameters.list_level: is not numeric"]),
    (spec(design={"kind": "points", "parameters": {"remove_rate": {"values": [0.1, 0.2]},
                                                   "cutoff_min": {"values": [30.0]}}}),
     ["design.parameters=[1, 2]: kind=points needs value lists of equal length"]),
    (spec(scenario="nhs2061"),
     ["scenario='nhs2061': must be one of nhs2016, dhs2007, cisco2013, nyu2012, small, trust"]),
    (spec(fixed={"capacity_per_min": 0}), ["fixed.capacity_per_min=0.0: must be in (0, 1e+12]"]),
    (spec(fixed={"bogus": 1}), ["fixed.bogus=1: unknown parameter"]),
    (ranged(n=None), ["design.n: required for kind=lhs"]),
    (spec(design={**BASE["design"], "n": 4}), ["design.n=4: not used by kind=grid"]),
    (ranged(kind="sobol", n=12), ["design.n=12: must be a power of 2"]),
    (spec(scenario="nhs2016", engine="mesa", fixed={}), ["engine='mesa': n_users=840000"]),
])
def test_bad_spec_is_one_line_error_naming_the_key(data, fragments):
    one_line(data, *fragments)


def test_toml_problems_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nscenario = \n")
    with pytest.raises(ParameterError, match=r"^SPEC='.*bad.toml': is not valid TOML"):
        load_spec(bad)
    with pytest.raises(ParameterError, match="no such file"):
        load_spec(tmp_path / "missing.toml")


def test_cli_refuses_bad_spec_with_exit_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((SPECS / "smoke.toml").read_text().replace("values = [5e-4", "values = [5e4"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(bad), "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: design.parameters.remove_rate.values[0]=50000.0: must be in "
                     "[0, 1] (per message read)"]
    assert not out.exists()


def test_ready_specs_are_valid():
    sizes = {"smoke": 48, "nhs_calibration": 400, "sensitivity": 256 * (2 * 6 + 2)}
    for name, n_runs in sizes.items():
        s = load_spec(SPECS / f"{name}.toml")
        assert s.name == name
        assert len(s.tasks(s.points())) == n_runs


@pytest.mark.parametrize("kind", ["lhs", "sobol", "saltelli", "morris"])
def test_sampled_designs_are_in_range_deterministic_and_typed(kind):
    data = spec(fixed={"n_users": 500}, design={"kind": kind, "n": 8, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        "horizon_min": {"low": 60, "high": 240}}})
    points = parse_spec(data).points()
    assert points == parse_spec(data).points()
    expected = {"lhs": 8, "sobol": 8, "saltelli": 8 * (2 * 2 + 2), "morris": 8 * 3}[kind]
    assert len(points) == expected
    for p in points:
        assert 1e-4 <= p["remove_rate"] <= 1e-2 and type(p["remove_rate"]) is float
        assert 60 <= p["horizon_min"] <= 240 and type(p["horizon_min"]) is int
    other = parse_spec({**data, "root_seed": 8}).points()
    assert other != points


def test_seeds_depend_only_on_point_and_replicate():
    s = parse_spec(BASE)
    tasks = s.tasks(s.points())
    assert [t.run_id for t in tasks] == list(range(12))
    assert tasks[5].spawn_key == (2, 1) and tasks[5].entropy == 7
    assert tasks[5].changes == {"n_users": 500, "horizon_min": 120, "remove_rate": 1e-3,
                                "cutoff_min": 90.0}
    common = parse_spec({**BASE, "common_seeds": True, "common_org": True})
    ctasks = common.tasks(common.points())
    assert {t.spawn_key for t in ctasks} == {(0, 0), (0, 1)}
    assert ctasks[0].org_seed == common.org_seed() is not None and ctasks[0].cache
    assert tasks[0].org_seed is None and not tasks[0].cache


def test_thin_sums_counts_and_keeps_levels_at_window_end():
    n = 23
    series = pd.DataFrame({"minute": np.arange(n), "accepted": np.arange(n) % 3,
                           "backlog": np.arange(n) * 10, "list_active": np.arange(n) < 10})
    out = thin(series, 5)
    assert out["minute"].tolist() == [4, 9, 14, 19, 22]
    assert out["accepted"].sum() == series["accepted"].sum()
    assert out["accepted"].tolist()[0] == series["accepted"][:5].sum()
    assert out["backlog"].tolist() == [40, 90, 140, 190, 220]
    assert out["list_active"].tolist() == [True, True, False, False, False]
    assert out.dtypes.equals(series.dtypes)
    assert thin(series, 1) is series


def test_saltelli_and_morris_designs_feed_salib_analyze():
    from SALib.analyze import morris, sobol

    axes = {"remove_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "cutoff_min": {"low": 10.0, "high": 100.0}, "peer_weight": {"low": 0.0, "high": 1.0}}
    for kind, n in (("saltelli", 64), ("morris", 20)):
        s = parse_spec(spec(fixed={"n_users": 500},
                            design={"kind": kind, "n": n, "parameters": axes}))
        problem = s.salib_problem()  # as recorded in manifest.json
        x = np.array([[np.log10(p["remove_rate"]), p["cutoff_min"], p["peer_weight"]]
                      for p in s.points()])
        y = 3 * x[:, 0] + 0.01 * x[:, 1]  # a stand-in model: peer_weight has no effect
        if kind == "saltelli":
            st = sobol.analyze(problem, y, seed=1)["ST"]
            assert st[0] > 0.9 and st[1] < 0.1 and abs(st[2]) < 1e-9
        else:
            mu_star = morris.analyze(problem, x, y, seed=1)["mu_star"]
            assert mu_star[0] > mu_star[1] > 0 and mu_star[2] < 1e-12


def test_ready_specs_are_found_by_name_and_an_existing_path_wins(tmp_path, monkeypatch):
    packaged = load_spec(SPECS / "smoke.toml")
    assert load_spec("smoke") == load_spec("smoke.toml") == packaged
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke.toml").write_text((SPECS / "smoke.toml").read_text().replace(
        'name = "smoke"', 'name = "my-smoke"'))
    assert load_spec("smoke.toml").name == "my-smoke"  # the file here, not the packaged one
    assert load_spec("smoke").name == "smoke"  # no file called "smoke": the packaged spec
    with pytest.raises(ParameterError) as excinfo:
        load_spec("smokey")
    text = str(excinfo.value)
    assert "no such file, and no packaged spec of that name" in text and "smoke" in text
    with pytest.raises(ParameterError, match="no such file"):
        load_spec("elsewhere/smoke.toml")  # a path is a path: never a packaged name


def test_cli_sweep_takes_a_ready_spec_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["sweep", "nope", "--no-progress"])
    assert result.exit_code == 2 and "packaged: " in result.stderr
    assert "smoke" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "results").exists()
