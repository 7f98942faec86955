"""Settings valid one by one that cannot all take effect are said in one line; options that
need results to check (sensitivity --outputs) are checked before any run."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweeps.sweep import run_sweep
from replyall_storm.experiments.sweeps.tasks import result_keys
from replyall_storm.model.contradictions import contradictions
from replyall_storm.model.scenarios import get_scenario


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def warnings_of(result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("warning: ")]


@pytest.mark.parametrize("settings, expected", [
    (["cutoff_min=1e6"], "warning: cutoff_min=1e+06 is beyond the horizon (horizon_min=120): "
                         "the list is never disabled within the run"),
    (["storm_protection=true", "sp_min_recipients=5000"],
     "warning: storm_protection is on but sp_min_recipients=5,000 exceeds the list (at most "
     "n_users=2,000 members): it never applies"),
    (["sender_restriction=true", "sr_min_list_size=2000"],
     "warning: sender_restriction is on but sr_min_list_size=2,000 is not below the list (at "
     "most n_users=2,000 members): it never applies"),
    (["audience_warning=true", "warning_threshold=5000"],
     "warning: audience_warning is on but warning_threshold=5,000 is not below the list (at "
     "most n_users=2,000 members): it never applies"),
])
def test_run_warns_of_settings_that_never_take_effect(tmp_path, settings, expected):
    args = ["run", "--scenario", "small", "--hours", "2", "--out", str(tmp_path / "run"),
            "--no-progress"]
    for s in settings:
        args += ["--set", s]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [expected]


def test_sound_settings_say_nothing():
    for name in ("nhs2016", "small", "trust"):
        assert contradictions(get_scenario(name).params()) == []
    p = get_scenario("small").params(cutoff_min=float("inf"), storm_protection=True,
                                     sp_min_recipients=1000)
    assert contradictions(p) == []


def test_a_sweep_says_at_how_many_design_points(tmp_path):
    spec = {"name": "c", "scenario": "small", "root_seed": 1, "replicates": 2,
            "fixed": {"n_users": 300, "horizon_min": 60},
            "design": {"kind": "grid", "parameters": {
                "cutoff_min": {"values": [30.0, 120.0, 600.0, float("inf")]}}}}
    said: list[str] = []
    run_sweep(spec, tmp_path / "c", workers=1, progress=False, log=said.append)
    assert [s for s in said if s.startswith("warning: ")] == [
        "warning: cutoff_min=120 is beyond the horizon (horizon_min=60): the list is never "
        "disabled within the run (at 2 of 4 design points)"]


def test_compare_no_intervention_runs_without_any_mitigation(tmp_path):
    out = tmp_path / "compare"
    result = CliRunner().invoke(main, [
        "compare", "--scenario", "small", "--users", "500", "--uncalibrated", "--replicates",
        "1", "--policy", "no intervention", "--policy", "2016 response", "--set",
        "storm_protection=true", "--set", "sp_min_recipients=1000", "--set",
        "horizon_min=120", "--out", str(out), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "note: the 'no intervention' row turns off storm_protection (set for the other " \
        "rows): it runs without any mitigation" in result.stdout
    runs = pd.read_parquet(out / "runs.parquet").set_index("point")
    assert not runs.loc[0, "storm_protection"] and runs.loc[1, "storm_protection"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["design"]["parameters"]["storm_protection"]["values"] == [False,
                                                                                      True]


def test_compare_default_policies_keep_their_design():
    """Without a mitigation set for every row, the comparison's design is what it was."""
    from replyall_storm.experiments.analysis.mitigations import POLICIES, compare_spec

    spec = compare_spec("small", {}, list(POLICIES), 2, 0)
    assert "storm_protection" in spec["design"]["parameters"]
    assert spec["design"]["parameters"]["storm_protection"]["values"][0] is False
    assert "sender_restriction" in spec["design"]["parameters"]
    names = sorted(spec["design"]["parameters"])
    assert names == sorted({k for p in POLICIES for k in p.overrides if not k.startswith("__")}
                           | {"capacity_per_min"})


def test_sensitivity_refuses_an_unknown_output_before_running(tmp_path):
    spec = tmp_path / "sens.toml"
    spec.write_text("""
name = "sens"
scenario = "small"
root_seed = 9
[design]
kind = "saltelli"
n = 8
second_order = false
[design.parameters.remove_rate]
low = 5e-4
high = 8e-3
[design.parameters.cutoff_min]
low = 20.0
high = 120.0
""")
    out = tmp_path / "out"
    t0 = time.perf_counter()
    result = CliRunner().invoke(main, ["sensitivity", str(spec), "--outputs",
                                       "messages_per_user,nosuchkey", "--out", str(out)])
    assert time.perf_counter() - t0 < 20
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --outputs='nosuchkey': not a run "
                                                   "summary key"), lines
    assert "peak_backlog" in lines[0] and not out.exists()


def test_result_keys_are_the_summary_columns_of_a_sweep(tmp_path):
    spec = {"name": "k", "scenario": "small", "root_seed": 1,
            "fixed": {"n_users": 300, "horizon_min": 30},
            "design": {"kind": "grid", "parameters": {"cutoff_min": {"values": [10.0]}}}}
    runs = run_sweep(spec, tmp_path / "k", workers=1, progress=False).runs
    ids = {"run_id", "point", "replicate", "status", "error_type", "error", "seed_entropy",
           "seed_spawn_key", "cutoff_min"}
    assert set(result_keys()) == set(runs.columns) - ids
