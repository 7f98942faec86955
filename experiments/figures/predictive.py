"""The posterior-predictive check of a calibration: every observation against its reports.

One small panel per observation of the storm (targets first, then the context the
calibration did not fit): the reported range as a shaded band, and, for each storm
re-simulated from the accepted parameter sets, the range the run shows of the quantity (a
single inbox: the central 90 % of the members at that minute, with the median marked) as a
vertical bar. Panels are titled with the share of re-simulated storms whose range meets the
report (within one unit of its uncertainty, :data:`MET_WITHIN`); a panel where none does is
marked "NOT MET". ``replyall calibrate`` draws it
(``predictive.png``) and ``replyall figures`` draws the publication version from the
calibration folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..calibration.observations import MID, Observation
from . import style

MET_WITHIN = 1.0
"""A run meets a report when its range is within this many of the report's uncertainty units
(``Observation.scale``) of it: overlapping ranges are 0; a point report (one inbox's 123, the
3 h delay) is met by a run within one unit of it, never only by equality."""


def met_share(runs: pd.DataFrame, o: Observation) -> float:
    """Share of the runs whose range of ``o``'s quantity meets the report (:data:`MET_WITHIN`)."""
    lo_col, hi_col = o.columns
    if lo_col not in runs or hi_col not in runs or not len(runs):
        return math.nan
    miss = o.miss(runs[lo_col].to_numpy(float), runs[hi_col].to_numpy(float))
    return float(np.mean(miss <= MET_WITHIN))


def draw_checks(runs: pd.DataFrame, observations: tuple[Observation, ...],
                targets: set[str], title: str):
    """The figure (not saved): one panel per observation; see the module docstring."""
    n = len(observations)
    cols = 4 if n > 6 else 3
    rows = math.ceil(n / cols)
    fig = style.figure("two", 1.55 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, o in zip(axes, observations, strict=False):
        lo_col, hi_col = o.columns
        low = runs[lo_col].to_numpy(float) if lo_col in runs else np.full(len(runs), np.nan)
        high = runs[hi_col].to_numpy(float) if hi_col in runs else low
        x = np.arange(len(runs))
        finite_hi = o.hi if math.isfinite(o.hi) else max(o.lo * 3.0, np.nanmax(high))
        ax.axhspan(o.lo, finite_hi, color=style.OBSERVED_COLOUR, alpha=0.18, lw=0)
        if o.lo == o.hi:
            ax.axhline(o.lo, color=style.OBSERVED_COLOUR, lw=0.9)
        ax.vlines(x, low, high, color=style.PALETTE[0], lw=1.2)
        ax.plot(x, low, "_", color=style.PALETTE[0], ms=4)
        ax.plot(x, high, "_", color=style.PALETTE[0], ms=4)
        mid = MID + o.key
        if mid in runs:
            ax.plot(x, runs[mid].to_numpy(float), ".", color=style.PALETTE[0], ms=3)
        share = met_share(runs, o)
        verdict = "NOT MET" if share == 0 else f"met by {share:.0%}"
        role = "target" if o.key in targets else "context"
        ax.set_title(f"{o.key}\n{role}, [{o.tag}]: {verdict}", fontsize=style.FONT_PT - 1,
                     color=style.OBSERVED_COLOUR if share == 0 else "0.1")
        ax.set_xticks([])
        ax.set_xlim(-0.8, max(len(runs) - 0.2, 0.8))
        values = np.concatenate([low[np.isfinite(low)], high[np.isfinite(high)],
                                 [o.lo, finite_hi]])
        positive = values[values > 0]
        if positive.size and positive.max() / positive.min() > 30:
            ax.set_yscale("log")
        ax.tick_params(labelsize=style.FONT_PT - 2)
        ax.set_ylabel(o.unit, fontsize=style.FONT_PT - 2)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{title}\nbars: the range each re-simulated storm shows (dot: median member); "
                 "shaded or line: the report")
    return fig


def plot_predictive(runs: pd.DataFrame, observations: tuple[Observation, ...],
                    targets: set[str], path: Path, title: str) -> Path:
    """Draw :func:`draw_checks` and save it as a PNG at ``path``."""
    from ..io import atomic_write

    with style.styled():
        fig = draw_checks(runs, observations, targets, title)
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=150, format="png"))
        import matplotlib.pyplot as plt

        plt.close(fig)
    return Path(path)


def draw_predictive(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 8: the calibration's posterior predictive against every report.

    Reads the calibration folder's ``predictive_runs.parquet`` (one row per re-simulated
    storm, with the range it shows of each observation) and ``summary.json`` (the storm and
    its targets); a report that no re-simulated storm meets is titled NOT MET.
    """
    import json

    from ..calibration.observations import storm_observations
    from . import CALIBRATION_DIR

    folder = Path(results) / CALIBRATION_DIR
    runs = pd.read_parquet(folder / "predictive_runs.parquet")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    storm = summary.get("storm", "nhs2016")
    every = storm_observations(storm)
    targets = {o.key for o in every if o.key in set(summary.get("targets", []))}
    n = summary.get("n_users", 0)
    scale = "" if n >= 840_000 else f" (sample: {n:,} users)"
    flag = ("; FLAGGED: ABC NOT CONVERGED (generation cap)"
            if summary.get("converged") is False else "")
    with style.styled():
        fig = draw_checks(runs, every, targets,
                          f"{storm}, posterior predictive ({len(runs)} storms){scale}{flag}")
        return style.save(fig, out_dir, stem)
