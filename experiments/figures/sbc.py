"""Figure 10: simulation-based calibration, whether the calibration's 90 % intervals hold.

Reads ``replyall sbc``' folder: ``sbc.parquet`` (one row per synthetic truth and parameter: the
truth, the posterior median and 90 % interval, whether it covered, the truth's rank among the
weighted posterior, the final sample's ESS) and ``summary.json`` (coverage with its
Clopper-Pearson 95 % interval, the SBC's world size and settings).

Panels: (a) each parameter's coverage with its binomial interval against the nominal 0.9, the
pooled coverage last; a parameter whose interval excludes 0.9 is drawn hollow and named in the
title as under- or over-covering. (b) each parameter's empirical CDF of ranks minus the
uniform CDF (Säilynoja, Bürkner and Vehtari 2022), with the 95 % Kolmogorov band of a
calibrated posterior: a curve that leaves the band is a miscalibrated parameter. (c) each
truth's final-sample ESS and generations, so a reader sees which calibrations were thin.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import SBC_DIR, style

LEVEL = 0.9
"""The nominal level of the intervals the SBC checks."""


def load(results: Path) -> tuple[pd.DataFrame, dict]:
    """The per-truth table and the summary of ``replyall sbc``."""
    folder = Path(results) / SBC_DIR
    return (pd.read_parquet(folder / "sbc.parquet"),
            json.loads((folder / "summary.json").read_text(encoding="utf-8")))


def ks_band(n: int) -> float:
    """Half-width of the 95 % Kolmogorov band of an ECDF of ``n`` uniform ranks (exact)."""
    return float(stats.kstwo.ppf(0.95, n))


def flagged(cov: dict) -> str:
    """"under" or "over" when the Clopper-Pearson interval excludes ``LEVEL``, else ""."""
    if cov["hi"] < LEVEL:
        return "under"
    if cov["lo"] > LEVEL:
        return "over"
    return ""


def draw_sbc(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 10 from the SBC folder under ``results``."""
    table, summary = load(results)
    coverage = summary["coverage"]
    names = list(dict.fromkeys(table["parameter"]))
    truths = int(table["truth"].nunique())
    with style.styled():
        fig = style.figure("two", 3.7)
        ax_a, ax_b, ax_c = fig.subplots(1, 3, width_ratios=[1.2, 1.2, 0.9])
        # (a) coverage per parameter and pooled
        rows = [*names, "all"]
        y = np.arange(len(rows))[::-1]
        for yi, name in zip(y, rows, strict=True):
            cov = coverage[name]
            colour = "0.1" if name == "all" else style.PALETTE[names.index(name)
                                                               % len(style.PALETTE)]
            hollow = bool(flagged(cov))
            ax_a.plot([cov["lo"], cov["hi"]], [yi, yi], color=colour, lw=1.6 if name == "all"
                      else 1.1, solid_capstyle="butt")
            ax_a.plot(cov["share"], yi, "o" if name != "all" else "D", color=colour,
                      mfc="white" if hollow else colour, mew=1.1, ms=5 if name == "all" else 4)
            ax_a.text(1.015, yi, f"{cov['covered']}/{cov['n']}", va="center", fontsize=6,
                      transform=ax_a.get_yaxis_transform())
        ax_a.axvline(LEVEL, color=style.CUTOFF_COLOUR, ls="--", lw=0.8)
        ax_a.set_yticks(y, [r if r != "all" else "pooled" for r in rows])
        ax_a.set_xlim(0.4, 1.03)
        ax_a.set_xlabel(f"share of truths inside their {LEVEL:.0%} interval")
        bad = [n for n in names if flagged(coverage[n])]
        pooled_flag = flagged(coverage["all"])
        ax_a.set_title("coverage, 95 % binomial interval" + (
            f"\nFLAGGED: pooled {pooled_flag}-covers" if pooled_flag else ""),
            color="firebrick" if pooled_flag else "black", loc="left")
        style.panel_label(ax_a, "a")
        # (b) rank ECDF minus the uniform CDF, with the Kolmogorov band
        grid = np.linspace(0, 1, 201)
        band = ks_band(truths)
        ax_b.fill_between(grid, -band, band, color="0.88", lw=0,
                          label=f"95 % band ({truths} truths)")
        outside = []
        for k, name in enumerate(names):
            ranks = np.sort(table.loc[table["parameter"] == name, "rank"].to_numpy(float))
            ecdf = np.searchsorted(ranks, grid, side="right") / len(ranks)
            if np.abs(ecdf - grid).max() > band:
                outside.append(name)
            ax_b.step(grid, ecdf - grid, where="post", lw=0.9,
                      color=style.PALETTE[k % len(style.PALETTE)], label=name)
        ax_b.axhline(0, color="0.4", lw=0.6)
        ax_b.set_xlim(0, 1)
        ax_b.set_ylim(-0.36, 0.42)
        ax_b.set_xlabel("rank of the truth in its posterior")
        ax_b.set_ylabel("ECDF - uniform")
        ax_b.set_title("rank ECDF difference" + (" (FLAGGED)" if outside else ""),
                       color="firebrick" if outside else "black", loc="left")
        if outside:
            ax_b.text(0.5, 0.985, "outside the band:\n" + ", ".join(outside), ha="center",
                      va="top", fontsize=5.5, color="firebrick", transform=ax_b.transAxes)
        ax_b.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=5.5, ncol=3,
                    frameon=False, handlelength=1.2, columnspacing=0.8)
        style.panel_label(ax_b, "b")
        # (c) each truth's final ESS against its generations
        per_truth = table.drop_duplicates("truth")
        target = summary.get("final_ess")
        thin = per_truth["ess"] < target if target else np.zeros(len(per_truth), bool)
        ax_c.scatter(per_truth.loc[~thin, "generations"], per_truth.loc[~thin, "ess"], s=12,
                     color=style.PALETTE[0], label="target ESS met")
        ax_c.scatter(per_truth.loc[thin, "generations"], per_truth.loc[thin, "ess"], s=14,
                     facecolor="white", edgecolor="firebrick", label="draw cap hit")
        if target:
            ax_c.axhline(target, color=style.CUTOFF_COLOUR, ls="--", lw=0.8)
        ax_c.set_yscale("log")
        ax_c.set_xlabel("APMC generations")
        ax_c.set_ylabel("final-sample ESS")
        ax_c.set_title("each truth's fit", loc="left")
        ax_c.legend(loc="center left", fontsize=5.5, frameon=False)
        style.panel_label(ax_c, "c")
        pooled = coverage["all"]
        fig.suptitle(
            f"Simulation-based calibration: {truths} truths from the prior, "
            f"{summary.get('users', 0):,} users, {summary.get('particles', '?')} particles\n"
            f"pooled coverage {pooled['share']:.2f} [{pooled['lo']:.2f}, {pooled['hi']:.2f}]"
            + (f"; flagged: {', '.join(bad)}" if bad else ""))
        return style.save(fig, out_dir, stem)


__all__ = ["draw_sbc", "flagged", "ks_band", "load"]
