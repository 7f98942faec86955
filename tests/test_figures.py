"""`replyall figures`: every figure from the committed sample, reproducibly, or a clear refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.figures import FIGURES, RUN_DIR, SAMPLE_RESULTS

STEMS = [f.stem for f in FIGURES]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """All ten figures built once from the sample, in this process."""
    out = tmp_path_factory.mktemp("figures")
    result = CliRunner().invoke(main, ["figures", "--sample", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_sample_builds_every_figure_as_pdf_and_png(built):
    assert len(STEMS) == 10
    for stem in STEMS:
        for suffix, least in ((".pdf", 10_000), (".png", 30_000)):
            path = built / f"{stem}{suffix}"
            assert path.exists(), f"{path.name} missing"
            assert path.stat().st_size > least, f"{path.name} is suspiciously small"
    assert sorted(p.name for p in built.iterdir()) == sorted(
        f"{s}{x}" for s in STEMS for x in (".pdf", ".png"))


def test_pdf_embeds_truetype_fonts_and_no_dates(built):
    pdf = (built / "fig1_storm.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType (pdf.fonttype 42), not Type 3
    assert b"/Type3" not in pdf
    assert b"CreationDate" not in pdf
    png = (built / "fig1_storm.png").read_bytes()
    assert b"Software" not in png[:4096]


def test_a_second_build_in_a_new_process_is_byte_identical(built, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "replyall_storm.experiments", "figures", "--sample",
         "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for stem in STEMS:
        for suffix in (".pdf", ".png"):
            first = (built / f"{stem}{suffix}").read_bytes()
            second = (tmp_path / f"{stem}{suffix}").read_bytes()
            assert first == second, f"{stem}{suffix} differs between two builds"


def test_missing_results_name_the_command_and_write_nothing(tmp_path):
    out = tmp_path / "figs"
    result = CliRunner().invoke(main, ["figures", "--results", str(tmp_path / "none"),
                                       "--out", str(out)])
    assert result.exit_code == 2
    text = result.output
    assert "nothing written" in text
    assert f"replyall run --out {tmp_path / 'none' / RUN_DIR}" in text
    assert "replyall sweep heatmap --out" in text
    assert "replyall compare" in text
    assert "replyall calibrate" in text
    assert "replyall sensitivity" in text
    assert "replyall sweep cutoff_sweep --out" in text
    lines = [ln for ln in text.splitlines() if " <- " in ln]
    assert len(lines) == len({ln.split(" <- ")[0] for ln in lines}), "one line per missing file"
    assert not out.exists()


def test_only_builds_the_figures_whose_results_exist(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(SAMPLE_RESULTS / RUN_DIR, results / RUN_DIR)
    out = tmp_path / "figs"
    refused = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out)])
    assert refused.exit_code == 2
    assert "fig2_heatmap" in refused.output and "fig1_storm" not in refused.output
    ok = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out),
                                   "--only", "graph"])
    assert ok.exit_code == 0, ok.output
    assert sorted(p.name for p in out.iterdir()) == ["fig6_graph.pdf", "fig6_graph.png"]


def test_sample_and_results_together_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["figures", "--sample", "--results", str(tmp_path)])
    assert result.exit_code == 2
    assert "--sample" in result.output


def test_sample_is_small_and_documented():
    files = [p for p in SAMPLE_RESULTS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    readme = (SAMPLE_RESULTS / "README.md").read_text()
    for spec in ("specs/heatmap.toml", "specs/cutoff_sweep.toml", "specs/calibrate_nhs.toml",
                 "specs/sensitivity_nhs.toml", "specs/calibrate_nhs.toml"):
        assert spec in readme
    assert not any(p.name in (".lock", "timings.parquet") or "parts" in p.parts for p in files)


def test_a_missing_input_never_suggests_the_flag_just_used(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    only = CliRunner().invoke(main, ["figures", "--results", str(empty), "--only", "storm",
                                     "--out", str(tmp_path / "a")])
    hint = only.output.splitlines()[0]
    assert only.exit_code == 2 and "try --sample" in hint and "--only" not in hint
    monkeypatch.setattr("replyall_storm.experiments.cli.figures.SAMPLE_RESULTS", empty)
    sample = CliRunner().invoke(main, ["figures", "--sample", "--out", str(tmp_path / "b")])
    assert sample.exit_code == 2
    first = sample.output.splitlines()[0]
    assert "reinstall replyall-storm" in first and "--sample" not in first
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_notebooks_require_their_inputs_instead_of_falling_back(tmp_path):
    from replyall_storm.experiments.figures import require

    assert require(["calibration", "mitigations"], SAMPLE_RESULTS) == SAMPLE_RESULTS.resolve()
    with pytest.raises(FileNotFoundError) as excinfo:
        require(["mitigations"], tmp_path / "results")
    text = str(excinfo.value)
    assert f"replyall compare --out {tmp_path / 'results' / 'compare-nhs2016'}" in text
    assert f"replyall sweep cutoff_sweep --out {tmp_path / 'results' / 'cutoff_sweep'}" in text
    assert "REPLYALL_RESULTS" in text and "sample" not in text


def test_a_report_is_met_by_an_overlapping_range_or_a_value_within_one_unit():
    import math

    import pandas as pd

    from replyall_storm.experiments.calibration.observations import Observation
    from replyall_storm.experiments.figures.predictive import met_share

    point = Observation("delay@12:00", "delay", "delay", 180.0, 180.0, 180.0, "R", "minutes",
                        "test", sigma=0.1)
    lo, hi = point.columns
    runs = pd.DataFrame({lo: [180.0, 185.0, 180.0 * math.exp(0.1), 181.0 * math.exp(0.1),
                              100.0],
                         hi: [180.0, 185.0, 180.0 * math.exp(0.1), 181.0 * math.exp(0.1),
                              170.0]})
    # equal; 0.28 units off; exactly one unit off; just beyond; far below
    assert met_share(runs, point) == pytest.approx(3 / 5)
    ranged = Observation("inbox_received@12:00", "inbox_received", "inbox", 100.0, 130.0,
                         123.0, "C", "messages", "test", sigma=0.1)
    lo, hi = ranged.columns
    overlap = pd.DataFrame({lo: [90.0, 131.0, 10.0], hi: [101.0, 500.0, 20.0]})
    assert met_share(overlap, ranged) == pytest.approx(2 / 3)
    assert math.isnan(met_share(pd.DataFrame({"other": [1.0]}), ranged))


@pytest.mark.parametrize("draw", ["draw_storm", "draw_transport"])
def test_every_line_and_marker_of_the_run_figures_is_drawn_where_it_can_be_seen(
        draw, tmp_path, monkeypatch):
    """A reported moment placed at NaN draws nothing and still gets its legend entry (the
    queues-cleared line of figure 7 did): every line and marker lies inside its axes."""
    import math

    from replyall_storm.experiments.figures import storm, style

    drawn = []

    def keep(fig, out_dir, stem):
        drawn.append(fig)
        return []

    monkeypatch.setattr(style, "save", keep)
    getattr(storm, draw)(SAMPLE_RESULTS, tmp_path, "fig")
    (fig,) = drawn
    checked = 0
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for line in ax.get_lines():
            xs, ys = line.get_xdata(orig=False), line.get_ydata(orig=False)
            if line.get_transform() == ax.get_xaxis_transform():  # axvline: x in data
                ys = [y0] * len(xs)
            elif line.get_transform() == ax.get_yaxis_transform():  # axhline: y in data
                xs = [x0] * len(ys)
            finite = [(float(a), float(b)) for a, b in zip(xs, ys, strict=False)
                      if math.isfinite(float(a)) and math.isfinite(float(b))]
            assert finite, f"{line.get_label()!r} has no finite point"
            assert any(x0 <= a <= x1 and y0 <= b <= y1 for a, b in finite), \
                f"{line.get_label()!r} lies outside its axes"
            checked += 1
    assert checked >= 10


def test_the_sbc_figure_flags_coverage_whose_interval_misses_the_nominal_level():
    from scipy import stats

    from replyall_storm.experiments.figures import sbc

    assert sbc.flagged({"lo": 0.72, "hi": 0.86}) == "under"
    assert sbc.flagged({"lo": 0.92, "hi": 0.99}) == "over"
    assert sbc.flagged({"lo": 0.82, "hi": 0.93}) == ""
    # the band is the exact two-sided 95 % Kolmogorov critical value, narrowing as 1/sqrt(n)
    assert sbc.ks_band(20) == pytest.approx(stats.kstwo.ppf(0.95, 20))
    assert sbc.ks_band(80) < sbc.ks_band(20) / 1.9


def test_the_sbc_figure_reads_what_replyall_sbc_writes(tmp_path):
    """The sample's SBC table has the columns run_sbc writes, and its summary agrees with it."""
    import json

    import pandas as pd

    from replyall_storm.experiments.calibration.sbc import coverage
    from replyall_storm.experiments.figures import SBC_DIR

    folder = SAMPLE_RESULTS / SBC_DIR
    table = pd.read_parquet(folder / "sbc.parquet")
    summary = json.loads((folder / "summary.json").read_text())
    assert coverage(table)["all"]["covered"] == summary["coverage"]["all"]["covered"]
    assert table["truth"].nunique() == summary["truths"]
