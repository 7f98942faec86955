"""Every publication figure, rebuilt from stored results (``replyall figures``).

Each figure reads the result folders that the ordinary commands write (``replyall run``,
``replyall sweep``, ``replyall compare``, calibration, sensitivity) and never simulates. The
table below names each figure, the files it reads (relative to the results folder:
``results/`` in the working directory by default, or ``$REPLYALL_RESULTS``) and the command
that makes them at full scale; ``replyall figures`` checks every input before it draws
anything and prints that command for each one missing (:func:`missing_inputs`), and the
notebooks do the same (:func:`require`).

A small sample of results ships with the package (``experiments/sample_results/``, the same
layout at reduced size: ``replyall figures --sample``); its README says how it was made.

Modules: one per publication figure (:mod:`.storm` figures 1 and 7, :mod:`.heatmap`,
:mod:`.calibration`, :mod:`.sensitivity`, :mod:`.mitigations`, :mod:`.graph`,
:mod:`.predictive`, :mod:`.across_storms`, :mod:`.sbc`), the commands' own quick-look figures
(:mod:`.run_overview`, :mod:`.comparison`) and the
house style (:mod:`.style`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

RUN_DIR = "run-nhs2016-seed0"
HEATMAP_DIR = "heatmap"
CALIBRATION_DIR = "calibrate-calibrate_nhs"
SENSITIVITY_DIR = "sensitivity-sensitivity_nhs"
COMPARE_DIR = "compare-nhs2016"
CUTOFF_DIR = "cutoff_sweep"
STORMS_DIR = "storms"
SBC_DIR = "sbc-calibrate_nhs"

SAMPLE_RESULTS = Path(str(resources.files("replyall_storm.experiments") / "sample_results"))
"""The sample of results shipped with the package (``replyall figures --sample``)."""


def results_dir() -> Path:
    """Where results are read and written by default: ``$REPLYALL_RESULTS`` or ``./results``."""
    return Path(os.environ.get("REPLYALL_RESULTS") or "results")


@dataclass(frozen=True)
class Input:
    """A result file a figure reads and the command that writes it.

    ``command`` is a template: ``{dir}`` becomes the folder the file should be in.
    """

    path: str
    command: str

    def command_for(self, results: Path) -> str:
        """The command that writes this input under ``results``."""
        return self.command.format(dir=Path(results) / self.path.split("/")[0])


@dataclass(frozen=True)
class FigureDef:
    """One publication figure: file stem, what it shows, inputs, and its drawing function."""

    name: str
    stem: str
    title: str
    inputs: tuple[Input, ...]
    builder: str  # "module:function" in this package; function(results_dir, out_dir) -> paths

    def missing(self, results: Path) -> list[Input]:
        """The inputs absent from ``results``."""
        return [i for i in self.inputs if not (Path(results) / i.path).exists()]

    def build(self, results: Path, out_dir: Path) -> list[Path]:
        """Draw the figure from ``results`` into ``out_dir`` (PDF and PNG)."""
        module, function = self.builder.split(":")
        draw: Callable[[Path, Path, str], list[Path]] = getattr(
            importlib.import_module(f"{__name__}.{module}"), function)
        return draw(Path(results), Path(out_dir), self.stem)


RUN_CMD = "replyall run --out {dir}"
_run = (Input(f"{RUN_DIR}/series.parquet", RUN_CMD), Input(f"{RUN_DIR}/summary.json", RUN_CMD),
        Input(f"{RUN_DIR}/inboxes.parquet", RUN_CMD))
_graph = (Input(f"{RUN_DIR}/snapshots.parquet", RUN_CMD),
          Input(f"{RUN_DIR}/graph_sample.parquet", RUN_CMD))
HEATMAP_CMD = "replyall sweep heatmap --out {dir}"
_heatmap = (Input(f"{HEATMAP_DIR}/runs.parquet", HEATMAP_CMD),
            Input(f"{HEATMAP_DIR}/manifest.json", HEATMAP_CMD))
CALIBRATE_CMD = "replyall calibrate calibrate_nhs --out {dir}"
_calibration = (Input(f"{CALIBRATION_DIR}/accepted.parquet", CALIBRATE_CMD),
                Input(f"{CALIBRATION_DIR}/posterior.parquet", CALIBRATE_CMD),
                Input(f"{CALIBRATION_DIR}/summary.json", CALIBRATE_CMD))
SENSITIVITY_CMD = "replyall sensitivity sensitivity_nhs --out {dir}"
_sensitivity = (Input(f"{SENSITIVITY_DIR}/indices.parquet", SENSITIVITY_CMD),)
COMPARE_CMD = "replyall compare --out {dir}"
CUTOFF_CMD = "replyall sweep cutoff_sweep --out {dir}"
_predictive = (Input(f"{CALIBRATION_DIR}/predictive_runs.parquet", CALIBRATE_CMD),
               Input(f"{CALIBRATION_DIR}/summary.json", CALIBRATE_CMD))
STORMS_CMD = "replyall storms --out {dir}"
_storms = (Input(f"{STORMS_DIR}/loo.parquet", STORMS_CMD),
           Input(f"{STORMS_DIR}/models.parquet", STORMS_CMD),
           Input(f"{STORMS_DIR}/summary.json", STORMS_CMD))
SBC_CMD = "replyall sbc calibrate_nhs --out {dir}"
_sbc = (Input(f"{SBC_DIR}/sbc.parquet", SBC_CMD), Input(f"{SBC_DIR}/summary.json", SBC_CMD))
_mitigations = (Input(f"{COMPARE_DIR}/comparison.parquet", COMPARE_CMD),
                Input(f"{COMPARE_DIR}/runs.parquet", COMPARE_CMD),
                Input(f"{CUTOFF_DIR}/runs.parquet", CUTOFF_CMD),
                Input(f"{CUTOFF_DIR}/manifest.json", CUTOFF_CMD))

FIGURES: tuple[FigureDef, ...] = (
    FigureDef("storm", "fig1_storm", "The NHS storm: reply-alls sent and messages received per "
              "user, the SIR fit and the 2016 reports", _run, "storm:draw_storm"),
    FigureDef("heatmap", "fig2_heatmap", "Messages per user over the remove-me hazard and the "
              "cut-off time, with the 151 contour", _heatmap, "heatmap:draw_heatmap"),
    FigureDef("calibration", "fig3_calibration", "The calibration's accepted region",
              _calibration, "calibration:draw_calibration"),
    FigureDef("sensitivity", "fig4_sensitivity", "Sobol' sensitivity indices", _sensitivity,
              "sensitivity:draw_sensitivity"),
    FigureDef("mitigations", "fig5_mitigations", "Mitigations compared, and messages per user "
              "against the cut-off time", _mitigations, "mitigations:draw_mitigations"),
    FigureDef("graph", "fig6_graph", "A sample of the organisation graph coloured by state",
              _graph, "graph:draw_graph"),
    FigureDef("transport", "fig7_transport", "Transport backlog, delivery delay and failed "
              "checks over time", _run, "storm:draw_transport"),
    FigureDef("predictive", "fig8_predictive", "The calibration's posterior predictive against "
              "every 2016 report", _predictive, "predictive:draw_predictive"),
    FigureDef("storms", "fig9_storms", "Every storm predicted from the others by each "
              "mechanism and two baselines", _storms, "across_storms:draw_storms"),
    FigureDef("sbc", "fig10_sbc", "Simulation-based calibration: coverage of the 90 % "
              "intervals and the ranks of the truths", _sbc, "sbc:draw_sbc"),
)


def get_figures(names: list[str] | None = None) -> list[FigureDef]:
    """The figures called ``names`` (all when empty); KeyError naming the known ones."""
    if not names:
        return list(FIGURES)
    known = {f.name: f for f in FIGURES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown figure {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def missing_inputs(figures: Iterable[FigureDef], results: Path) -> list[tuple[str, str, str]]:
    """(figure stem, missing path, command that makes it), each missing file once."""
    seen, out = set(), []
    for fig in figures:
        for item in fig.missing(results):
            path = str(Path(results) / item.path)
            if path not in seen:
                seen.add(path)
                out.append((fig.stem, path, item.command_for(results)))
    return out


def unreadable_inputs(figures: Iterable[FigureDef], results: Path) -> list[tuple[str, str]]:
    """(path, command that rebuilds it) of each input present but unreadable, each once.

    A Parquet file must read as a table, a JSON file parse: a truncated or garbage file is
    named before any figure is drawn, instead of failing inside a plot.
    """
    seen, out = set(), []
    for fig in figures:
        for item in fig.inputs:
            path = Path(results) / item.path
            if path in seen or not path.exists():
                continue
            seen.add(path)
            if not _readable(path):
                out.append((str(path), item.command_for(results)))
    return out


def _readable(path: Path) -> bool:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    except (pa.ArrowException, OSError, ValueError):
        return False
    return True


def require(names: list[str], results: Path) -> Path:
    """``results`` if it holds every input of the figures ``names``; else FileNotFoundError.

    The error names each missing file and the command that makes it, with ``--out`` pointing
    there (an absolute path, so it can be run from any folder), so that a notebook never
    falls back silently to other results.
    """
    results = Path(results).resolve()
    missing = missing_inputs(get_figures(names), results)
    if missing:
        files = ", ".join(str(Path(path).relative_to(results)) for _, path, _ in missing)
        commands = "\n".join(f"  {c}" for c in dict.fromkeys(c for _, _, c in missing))
        raise FileNotFoundError(
            f"{len(missing)} result file(s) missing under {results} ({files}). Make them "
            f"with:\n{commands}\nor set REPLYALL_RESULTS to the folder that holds them.")
    return results


__all__ = ["FIGURES", "SAMPLE_RESULTS", "FigureDef", "Input", "get_figures",
           "missing_inputs", "require", "results_dir", "unreadable_inputs"]
