"""Figure 9: one model for every storm, each storm predicted from the others.

Reads ``replyall storms``' folder: ``loo.parquet`` (for every candidate mechanism and both
baselines, each storm's reply-alls ``M`` predicted from the other storms: median and 90 %
interval, against the reported range), ``models.parquet`` (ABC model probabilities at a common
tolerance) and ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import STORMS_DIR, style

FLOOR, CEILING = 0.5, 1e6
"""The vertical range of panel (a), in reply-alls: M below one (no storm) sits on the floor."""


def _colour(names: list[str], name: str):
    if name.startswith("baseline"):
        return "0.35" if "constant" in name else "0.6"
    mechanisms = [n for n in names if not n.startswith("baseline")]
    return style.PALETTE[mechanisms.index(name) % len(style.PALETTE)] if name in mechanisms \
        else "0.5"


def load(results: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The leave-one-out table, the model probabilities and the summary."""
    folder = Path(results) / STORMS_DIR
    return (pd.read_parquet(folder / "loo.parquet"), pd.read_parquet(folder / "models.parquet"),
            json.loads((folder / "summary.json").read_text(encoding="utf-8")))


def draw_storms(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 9: every storm's reply-alls predicted from the other storms.

    Panels: (a) M against list size, reported and predicted leave-one-out by each model;
    (b) each model's mean |log error| over the storms left out; (c) the ABC model
    probabilities of the mechanisms.
    """
    loo, models, summary = load(results)
    names = list(dict.fromkeys(loo["model"]))
    storms = loo.drop_duplicates("storm").sort_values("list_size")
    with style.styled():
        fig = style.figure("two", 3.3)
        ax_a, ax_b, ax_c = fig.subplots(1, 3, width_ratios=[2.2, 1.1, 1.0])
        # (a) observed ranges and leave-one-out predictions against list size
        for _, s in storms.iterrows():
            ax_a.fill_between([s["list_size"] / 1.25, s["list_size"] * 1.25], s["observed_lo"],
                              s["observed_hi"], color=style.OBSERVED_COLOUR, alpha=0.22, lw=0)
        offsets = np.exp(np.linspace(-0.18, 0.18, len(names)))
        for k, name in enumerate(names):
            g = loo[loo["model"] == name].sort_values("list_size")
            x = g["list_size"].to_numpy(float) * offsets[k]
            baseline = name.startswith("baseline")
            colour = _colour(names, name)
            # M < 1 (no storm) is drawn at the floor; intervals beyond the axes are clipped
            y = np.clip(g["predicted"].to_numpy(float), FLOOR, CEILING)
            low = np.clip(g["predicted_p05"].to_numpy(float), FLOOR, CEILING)
            high = np.clip(g["predicted_p95"].to_numpy(float), FLOOR, CEILING)
            ax_a.errorbar(x, y, yerr=np.vstack([y - low, high - y]),
                          fmt=("s" if "constant" in name else "D") if baseline else "o",
                          ms=3.2, mfc="white" if baseline else colour, color=colour,
                          capsize=1.5, lw=0.8, label=name)
        for k, (_, s) in enumerate(storms.iterrows()):
            ax_a.annotate(s["storm"], (s["list_size"], FLOOR), xytext=(0, 3 + 8 * (k % 2)),
                          textcoords="offset points", ha="center", fontsize=style.FONT_PT - 2,
                          color=style.OBSERVED_COLOUR)
        ax_a.set_xscale("log")
        ax_a.set_yscale("log")
        ax_a.set_ylim(FLOOR / 1.5, CEILING * 1.5)
        ax_a.set_xlim(storms["list_size"].min() / 2.5, storms["list_size"].max() * 2.5)
        ax_a.set_xlabel("list size (members)")
        ax_a.set_ylabel("reply-alls that reached the list, M")
        ax_a.set_title("a   each storm predicted from the others (median, 90 %);\n"
                       "shaded: reported", fontsize=style.FONT_PT, loc="left")
        # (b) mean |log error| per model
        crit = summary.get("criteria", {})
        err_mean = [crit.get(n, {}).get("mean_abs_log_error", np.nan) for n in names]
        ax_b.barh(range(len(names)), err_mean, color=[_colour(names, n) for n in names])
        ax_b.axvline(np.log(3.0), color="0.3", ls=":", lw=0.8)
        ax_b.set_yticks(range(len(names)), names, fontsize=style.FONT_PT - 1.5)
        ax_b.invert_yaxis()
        ax_b.set_xlabel("mean |log(predicted / observed)|")
        ax_b.set_title("b   error, storms left out\n(dotted: a factor 3)", fontsize=style.FONT_PT,
                       loc="left")
        # (c) model probabilities
        ax_c.bar(models["mechanism"], models["probability"],
                 color=[_colour(names, m) for m in models["mechanism"]])
        ax_c.set_ylim(0, 1)
        ax_c.set_ylabel("posterior probability")
        ax_c.tick_params(axis="x", labelrotation=35, labelsize=style.FONT_PT - 1.5)
        ax_c.set_title("c   model choice\n(ABC, all storms)", fontsize=style.FONT_PT, loc="left")
        fig.legend(*ax_a.get_legend_handles_labels(), loc="outside lower center",
                   ncol=min(len(names), 6), frameon=False)
        beats = summary.get("beats_baselines", {})
        verdict = (f"chosen: {summary.get('chosen', '?')}" if any(beats.values()) else
                   f"FLAGGED: no mechanism beats the baselines (best: {summary.get('chosen')})")
        fig.suptitle(f"One model for every storm: {summary.get('samples', '?')} prior points "
                     f"on {len(storms)} storms, {summary.get('accept', 0):.0%} accepted\n"
                     f"{verdict}", color="0.1" if any(beats.values()) else
                     style.OBSERVED_COLOUR)
        return style.save(fig, out_dir, stem)
