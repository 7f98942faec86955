"""Figure 4: Sobol' sensitivity indices of the storm's outputs to the model's parameters.

Reads ``indices.parquet`` of ``replyall sensitivity`` (one row per output and parameter:
``S1``, ``ST`` and their bootstrap ``_conf`` half-widths; or Morris ``mu_star``). One panel
per output; parameters in the same order in every panel (by total effect on the first
output), first-order effect drawn over total effect.

Indices are shares of variance, so the axis runs from 0 to just over 1; a whisker that runs
past either end stops there with an arrowhead. Estimates outside [0, 1] (``S1 < 0``, ``ST >
1``) are estimation noise and are flagged as such. Indices computed from the sample that ships
with the package (a spec whose name ends in ``-sample``) say so on the figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import SENSITIVITY_DIR, style

OUTPUT_LABELS = {
    "messages_per_user": "messages per user",
    "messages_per_user_eventual": "messages per user (eventual)",
    "senders": "reply-all senders",
    "peak_backlog": "peak backlog",
    "max_delay_min": "longest delay",
}
PARAM_LABELS = {
    "remove_rate": "'remove me' hazard",
    "complain_rate": "complaint hazard",
    "check_median_min": "median check interval",
    "peer_weight": "peer weight",
    "capacity_per_min": "transport capacity",
    "cutoff_min": "cut-off time",
    "mute_rate": "mute hazard",
    "annoyance_half": "annoyance half-point",
    "capacity_spread": "capacity spread",
}


def load(results: Path) -> tuple[pd.DataFrame, dict]:
    """The indices table and the analysis settings (``sensitivity.json``, if present)."""
    folder = Path(results) / SENSITIVITY_DIR
    table = pd.read_parquet(folder / "indices.parquet")
    meta_path = folder / "sensitivity.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return table, meta


X_MAX = 1.05  # indices are shares of variance: the axis ends just past 1
NOISE = "#b05000"  # flags of estimates outside [0, 1]


def whisker(ax, centre: float, half: float, y: float, colour: str, cap: float) -> None:
    """A horizontal interval ``centre +- half`` at ``y``; an arrowhead where it leaves the axis."""
    if not (np.isfinite(centre) and np.isfinite(half)):
        return
    lo, hi = centre - half, centre + half
    a, b = max(lo, 0.0), min(hi, X_MAX)
    ax.plot([a, b], [y, y], color=colour, lw=0.6, solid_capstyle="butt", zorder=3)
    for end, clipped, marker in ((a, lo < 0.0, "<"), (b, hi > X_MAX, ">")):
        if clipped:  # the interval runs past the axis: say so
            ax.plot([end], [y], marker=marker, ms=3.2, color=colour, mew=0, clip_on=False,
                    zorder=4)
        else:
            ax.plot([end], [y], marker="|", ms=cap, color=colour, mew=0.6, zorder=3)


def is_sample(meta: dict) -> bool:
    """Whether the indices come from the small sample (its spec's name ends in -sample)."""
    return str(meta.get("spec", "")).endswith("-sample")


def draw_sensitivity(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Horizontal bars: total (ST, light) and first-order (S1, dark) index with 95 % CI."""
    table, meta = load(results)
    sobol = "ST" in table.columns
    first, total = ("S1", "ST") if sobol else ("mu_star", "mu_star")
    outputs = list(dict.fromkeys(table["output"]))
    ok = table[table["status"] == "ok"]
    lead = ok[ok["output"] == outputs[0]].sort_values(total, ascending=False)
    params = list(lead["parameter"]) or list(dict.fromkeys(table["parameter"]))
    y = np.arange(len(params))
    sample, noisy = is_sample(meta), False
    with style.styled():
        fig = style.figure("two", 0.3 * len(params) + 1.3)
        axes = np.atleast_1d(fig.subplots(1, len(outputs), sharey=True))
        for ax, out in zip(axes, outputs, strict=True):
            g = table[table["output"] == out].set_index("parameter").reindex(params)
            ax.set_title(OUTPUT_LABELS.get(out, out) + (" (sample)" if sample else ""),
                         fontsize=style.FONT_PT)
            if (g["status"] != "ok").all():
                ax.text(0.5, 0.5, str(g["status"].iloc[0]), transform=ax.transAxes,
                        ha="center", va="center", fontsize=style.FONT_PT - 1, wrap=True)
                continue
            if sobol:
                ax.barh(y, g["ST"].clip(upper=X_MAX), height=0.7, color=style.PALETTE[0],
                        alpha=0.35, lw=0)
                ax.barh(y, g["S1"].clip(lower=0), height=0.4, color=style.PALETTE[0], lw=0)
                for k, (_, r) in enumerate(g.iterrows()):
                    whisker(ax, r["ST"], r["ST_conf"], y[k] - 0.27, "0.45", 2.4)
                    whisker(ax, r["S1"], r["S1_conf"], y[k], "black", 3.0)
                    flags = [t for t, bad in (("$S_1$ < 0", r["S1"] < 0),
                                              ("$S_T$ > 1", r["ST"] > 1)) if bad]
                    if flags:
                        noisy = True
                        ax.text(X_MAX - 0.01, y[k] + 0.36, ", ".join(flags), ha="right",
                                va="bottom", fontsize=style.FONT_PT - 2.5, color=NOISE,
                                style="italic")
                ax.set_xlim(0, X_MAX)
                ax.set_xlabel("share of output variance")
            else:
                ax.barh(y, g["mu_star"], height=0.6, color=style.PALETTE[0], lw=0)
                ax.errorbar(g["mu_star"], y, xerr=g["mu_star_conf"], fmt="none",
                            ecolor="black", elinewidth=0.6, capsize=1.5)
                ax.set_xlabel("Morris $\\mu^*$ (output units)")
            noise = g["noise_share"].iloc[0] if "noise_share" in g else np.nan
            if pd.notna(noise):
                ax.text(0.98, 0.02, f"run-to-run noise: {noise:.0%}", transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=style.FONT_PT - 1.5, color="0.4")
            ax.grid(axis="x", lw=0.3, color="0.85")
        axes[0].set_yticks(y, [PARAM_LABELS.get(p, p) for p in params])
        axes[0].invert_yaxis()
        for ax, letter in zip(axes, "abcdef", strict=False):
            style.panel_label(ax, letter)
        if sobol:
            handles = [Patch(color=style.PALETTE[0]), Patch(color=style.PALETTE[0], alpha=0.35),
                       Line2D([], [], color="0.3", lw=0.6, marker=">", ms=3.2,
                              markevery=[1], mew=0)]
            labels = ["first-order index $S_1$ (alone)",
                      "total index $S_T$ (with interactions)",
                      "95 % interval beyond the axis"]
            if noisy:
                handles.append(Line2D([], [], ls="", marker="$!$", color=NOISE, ms=5))
                labels.append("$S_1$ < 0 or $S_T$ > 1: estimation noise")
            fig.legend(handles, labels, loc="outside lower center", ncol=2,
                       frameon=False, handlelength=1.6, columnspacing=1.5)
        n = meta.get("n_points")
        title = ("Sobol' sensitivity indices (whiskers: 95 % bootstrap CI" if sobol
                 else "Morris screening (whiskers: 95 % bootstrap CI")
        runs = f"; {n:,} runs" if n else ""
        note = ("\nSAMPLE: indices from the small sample that ships with the package, too few "
                "runs for firm values" if sample else "")
        fig.suptitle(title + runs + ")" + note)
        return style.save(fig, out_dir, stem)
