"""Inputs read from disk are checked as they are loaded: `replyall fit` refuses a series it
cannot trust in one line naming the file, the column and the row; `replyall figures` names a
garbage input and the command that rebuilds it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.figures import SAMPLE_RESULTS
from replyall_storm.experiments.sweeps.sweep import run_sweep
from replyall_storm.model.scenarios import get_scenario


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def series(organisation):
    from replyall_storm.model.run import simulate

    params = get_scenario("small").params(horizon_min=180)
    return simulate(params, seed=3, org=organisation(2000), cache=False).series


def run_folder(tmp_path, frame: pd.DataFrame):
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    frame.to_parquet(folder / "series.parquet")
    (folder / "summary.json").write_text(json.dumps({"seed": 3}))
    return folder


def refused(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0]
    return lines[0]


def test_a_sound_series_still_fits(tmp_path, series):
    folder = run_folder(tmp_path, series)
    result = CliRunner().invoke(main, ["fit", str(folder), "--no-progress"])
    assert result.exit_code == 0, result.output


def test_garbage_series_is_one_line_naming_the_file_and_its_maker(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "series.parquet").write_bytes(b"PAR1 this is not parquet")
    line = refused(["fit", str(folder)])
    assert f"{folder / 'series.parquet'}" in line and "not a readable Parquet file" in line
    assert f"replyall run --out {folder}" in line
    assert sorted(p.name for p in folder.iterdir()) == ["series.parquet"]


@pytest.mark.parametrize("damage, where", [
    (lambda s: s.assign(sent_remove=s["sent_remove"].where(s.index != 42, -3)),
     "column sent_remove, row 42: -3 (counts must be finite and >= 0)"),
    (lambda s: s.assign(accepted=s["accepted"].astype(float).where(s.index != 7, np.nan)),
     "column accepted, row 7: nan (counts must be finite and >= 0)"),
    (lambda s: s.assign(sent_complain=s["sent_complain"].astype(float)
                        .where(s.index != 9, np.inf)),
     "column sent_complain, row 9: inf (counts must be finite and >= 0)"),
    (lambda s: s.iloc[[0, 1, 2, 4, 3, *range(5, len(s))]].reset_index(drop=True),
     "column minute, row 4: 3 after 4 (minutes must increase)"),
    (lambda s: pd.concat([s.iloc[:11], s.iloc[10:]]).reset_index(drop=True),
     "column minute, row 11: 10 after 10 (minutes must increase)"),
    (lambda s: s.drop(columns="list_active"), "has no column list_active"),
    (lambda s: s.assign(minute=s["minute"] * 1.5),
     "column minute, row 1: 1.5 (minutes must be whole numbers)"),
])
def test_a_series_that_cannot_be_trusted_is_refused_naming_column_and_row(tmp_path, series,
                                                                          damage, where):
    folder = run_folder(tmp_path, damage(series.copy()))
    line = refused(["fit", str(folder)])
    assert line.endswith(f"{folder / 'series.parquet'}: {where}"), line
    assert not (folder / "sir_fit.parquet").exists()


SWEEP = {"name": "fitme", "scenario": "small", "root_seed": 5, "replicates": 2,
         "common_org": True, "fixed": {"n_users": 500, "horizon_min": 120},
         "design": {"kind": "grid", "parameters": {"cutoff_min": {"values": [30.0, 60.0]}}},
         "outputs": {"series": True, "series_every_min": 5}}


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "fitme"
    run_sweep(SWEEP, out, workers=1, progress=False)
    return out


def test_a_sweep_without_runs_parquet_is_one_line(tmp_path, sweep_folder):
    out = tmp_path / "fitme"
    shutil.copytree(sweep_folder, out)
    (out / "runs.parquet").unlink()
    line = refused(["fit", str(out)])
    assert "holds no runs.parquet" in line and f"replyall sweep SPEC --out {out}" in line


def test_a_sweep_whose_series_has_a_run_shuffled_is_refused_naming_the_run(tmp_path,
                                                                         sweep_folder):
    out = tmp_path / "fitme"
    shutil.copytree(sweep_folder, out)
    s = pd.read_parquet(out / "series.parquet")
    rows = s.index[s["run_id"] == 2]
    s.loc[rows[[3, 4]], "minute"] = s.loc[rows[[4, 3]], "minute"].to_numpy()
    s.to_parquet(out / "series.parquet")
    line = refused(["fit", str(out)])
    assert line.endswith(f"column minute, row {rows[4]}: 19 after 24 (minutes must increase; "
                         "run 2)"), line


def test_a_garbage_runs_parquet_names_its_maker(tmp_path, sweep_folder):
    out = tmp_path / "fitme"
    shutil.copytree(sweep_folder, out)
    (out / "runs.parquet").write_bytes(b"garbage")
    line = refused(["fit", str(out)])
    assert f"{out / 'runs.parquet'}" in line and f"replyall sweep SPEC --out {out}" in line


def test_figures_name_a_garbage_input_and_the_command_that_rebuilds_it(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(SAMPLE_RESULTS, results)
    (results / "heatmap" / "runs.parquet").write_bytes(b"PAR1 garbage")
    with (results / "run-nhs2016-seed0" / "series.parquet").open("r+b") as f:
        f.truncate(300)
    out = tmp_path / "figures"
    result = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == [
        f"error: {results / 'run-nhs2016-seed0' / 'series.parquet'} is not a readable Parquet "
        f"file: rebuild it with `replyall run --out {results / 'run-nhs2016-seed0'}`; nothing "
        "written",
        f"error: {results / 'heatmap' / 'runs.parquet'} is not a readable Parquet file: "
        f"rebuild it with `replyall sweep heatmap --out {results / 'heatmap'}`; nothing "
        "written"], lines
    assert not out.exists()
    ok = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out),
                                   "--only", "calibration"])
    assert ok.exit_code == 0, ok.output
