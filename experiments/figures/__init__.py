"""Every publication figure, rebuilt from stored results (``replyall figures``).

Each figure reads the result folders that the ordinary commands write (``replyall run``,
``replyall sweep``, ``replyall compare``, calibration, sensitivity) and never simulates. The
table below names each figure, the files it reads (relative to the results folder,
``results/`` by default) and the command that makes them at full scale; ``replyall figures``
checks every input before it draws anything and prints that command for each one missing.

The committed sample in ``experiments/sample_results/`` has the same layout at reduced size
(``replyall figures --sample``); its README says how it was made.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUN_DIR = "run-nhs2016-seed0"
HEATMAP_DIR = "heatmap"
CALIBRATION_DIR = "calibrate-calibrate_nhs"
SENSITIVITY_DIR = "sensitivity-sensitivity"
COMPARE_DIR = "compare-nhs2016"
CUTOFF_DIR = "cutoff_sweep"

SAMPLE_RESULTS = Path(__file__).resolve().parents[1] / "sample_results"
"""The committed sample of results (``replyall figures --sample``)."""


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
_run = (Input(f"{RUN_DIR}/series.parquet", RUN_CMD), Input(f"{RUN_DIR}/summary.json", RUN_CMD))
_graph = (Input(f"{RUN_DIR}/snapshots.parquet", RUN_CMD),
          Input(f"{RUN_DIR}/graph_sample.parquet", RUN_CMD))
HEATMAP_CMD = "replyall sweep experiments/specs/heatmap.toml --out {dir}"
_heatmap = (Input(f"{HEATMAP_DIR}/runs.parquet", HEATMAP_CMD),
            Input(f"{HEATMAP_DIR}/manifest.json", HEATMAP_CMD))
CALIBRATE_CMD = "replyall calibrate experiments/specs/calibrate_nhs.toml --out {dir}"
_calibration = (Input(f"{CALIBRATION_DIR}/accepted.parquet", CALIBRATE_CMD),
                Input(f"{CALIBRATION_DIR}/posterior.parquet", CALIBRATE_CMD),
                Input(f"{CALIBRATION_DIR}/summary.json", CALIBRATE_CMD))
SENSITIVITY_CMD = "replyall sensitivity experiments/specs/sensitivity.toml --out {dir}"
_sensitivity = (Input(f"{SENSITIVITY_DIR}/indices.parquet", SENSITIVITY_CMD),)
COMPARE_CMD = "replyall compare --out {dir}"
CUTOFF_CMD = "replyall sweep experiments/specs/cutoff_sweep.toml --out {dir}"
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


__all__ = ["FIGURES", "SAMPLE_RESULTS", "FigureDef", "Input", "get_figures"]
