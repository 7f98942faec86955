"""Figure 3: the calibration's accepted region, as a pair plot over the calibrated parameters.

Reads a ``replyall calibrate`` folder: ``accepted.parquet`` (the final weighted population),
``posterior.parquet`` (median, 90 % interval and prior range per parameter),
``correlation.parquet`` (weighted correlations, log10 for log axes) and, when present,
``particles.parquet`` (every simulated set, drawn in grey: where the ABC looked). Log-uniform
priors get log axes. The prior is drawn on every panel: its box (each parameter's range, with
a little room around it) in the pair plots, its range and its flat density in the histograms,
so one sees at a glance whether the accepted region fills the prior or presses on its edges.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import LogLocator, NullFormatter

from . import CALIBRATION_DIR, style

LABELS = {
    "remove_rate": "'remove me' hazard\n(per message read)",
    "complain_rate": "complaint hazard\n(per message read)",
    "capacity_per_min": "capacity\n(deliveries/min)",
    "cutoff_min": "cut-off\n(minutes)",
    "mute_rate": "mute hazard\n(per message read)",
    "check_median_min": "median check\ninterval (min)",
    "peer_weight": "peer weight\n(per neighbour)",
    "annoyance_half": "annoyance half\n(messages)",
    "capacity_spread": "capacity spread\n(log-sd)",
}
ROW_LABELS = {"remove_rate": "'remove me'\nhazard", "complain_rate": "complaint\nhazard",
              "mute_rate": "mute\nhazard", "annoyance_half": "annoyance\nhalf",
              "capacity_per_min": "capacity", "capacity_spread": "capacity\nspread",
              "cutoff_min": "cut-off"}
"""Row labels, without units (the column below gives them): the rows are short."""
SCENARIO = "nhs2016"
"""The star marks this scenario's value of each parameter (the calibrated point it runs)."""
PER_LIST = {"remove_rate": 1, "complain_rate": 1, "capacity_per_min": -1}  # scaled samples


def load(results: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None,
                                  pd.DataFrame | None, dict]:
    """(accepted, posterior, correlation or None, every particle or None, summary)."""
    folder = Path(results) / CALIBRATION_DIR
    accepted = pd.read_parquet(folder / "accepted.parquet")
    post = pd.read_parquet(folder / "posterior.parquet")
    corr = (pd.read_parquet(folder / "correlation.parquet").set_index("parameter")
            if (folder / "correlation.parquet").exists() else None)
    every = (pd.read_parquet(folder / "particles.parquet")
             if (folder / "particles.parquet").exists() else None)
    summary = json.loads((folder / "summary.json").read_text())
    return accepted, post, corr, every, summary


def default_value(name: str, n_users: int) -> float | None:
    """The nhs2016 scenario's value of ``name``, scaled like a reduced-size sample.

    Rates are scaled by 840,000/N; None for a name that is not a parameter.
    """
    from replyall_storm.model.scenarios import get_scenario

    v = getattr(get_scenario(SCENARIO).params(), name, None)
    if not isinstance(v, int | float) or isinstance(v, bool):
        return None
    return v * (840_000 / n_users) ** PER_LIST.get(name, 0)


PAD = 0.06  # room around the prior box, as a share of its width (in log units on log axes)
PRIOR_FACE, PRIOR_EDGE = "0.95", "0.45"
BINS = 12


def padded(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """Axis limits a little wider than the prior range ``[lo, hi]``."""
    if log:
        a, b = np.log10(lo), np.log10(hi)
        return 10 ** (a - PAD * (b - a)), 10 ** (b + PAD * (b - a))
    return lo - PAD * (hi - lo), hi + PAD * (hi - lo)


def _log_ticks(ax) -> None:
    """Decade ticks only, labelled 10^k, on log axes (no crowded minor labels)."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_locator(LogLocator(base=10, numticks=4))
            axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 0.1,
                                              numticks=10))
            axis.set_minor_formatter(NullFormatter())


def draw_calibration(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 3, a pair plot of the accepted region.

    Lower triangle: accepted sets (size ~ weight) over all simulated sets; diagonal: weighted
    histogram with median and 90 % interval; upper triangle: weighted correlation.
    """
    accepted, post, corr, every, summary = load(results)
    names = list(post["parameter"])
    info = post.set_index("parameter")
    n_users = int(summary.get("n_users", 840_000))
    w = accepted["weight"].to_numpy(float)
    w = w / w.sum()
    k = len(names)
    accent = style.PALETTE[0]
    with style.styled():
        fig = style.figure("two", 6.6)
        axes = np.atleast_2d(fig.subplots(k, k))
        for i, yname in enumerate(names):
            for j, xname in enumerate(names):
                ax = axes[i, j]
                xi = info.loc[xname]
                lo_x, hi_x = float(xi["prior_lo"]), float(xi["prior_hi"])
                if j > i:  # upper: correlation
                    ax.set_axis_off()
                    if corr is not None:
                        r = float(corr.loc[yname, xname])
                        ax.text(0.5, 0.5, f"r = {r:+.2f}", ha="center", va="center",
                                transform=ax.transAxes, fontsize=style.FONT_PT,
                                color="black" if abs(r) >= 0.5 else "0.5",
                                fontweight="bold" if abs(r) >= 0.5 else "normal")
                    continue
                if xi["log"]:
                    ax.set_xscale("log")
                ax.set_xlim(*padded(lo_x, hi_x, bool(xi["log"])))
                if i == j:  # diagonal: weighted histogram over the flat prior
                    x = accepted[xname].to_numpy(float)
                    edges = (np.geomspace(lo_x, hi_x, BINS + 1) if xi["log"]
                             else np.linspace(lo_x, hi_x, BINS + 1))
                    ax.axvspan(lo_x, hi_x, facecolor=PRIOR_FACE, edgecolor="none", zorder=0)
                    ax.hist(x, bins=edges, weights=w, color=accent, alpha=0.6, lw=0)
                    ax.plot([lo_x, lo_x, hi_x, hi_x], [0, 1 / BINS, 1 / BINS, 0],
                            color=PRIOR_EDGE, lw=0.7, ls=":", zorder=3)
                    ax.axvline(float(xi["median"]), color="black", lw=0.9)
                    for q in ("lo", "hi"):
                        ax.axvline(float(xi[q]), color="black", lw=0.6, ls="--")
                    ax.set_yticks([])
                    ax.spines[["left", "top", "right"]].set_visible(False)
                else:  # lower: the accepted region over everything simulated
                    yi = info.loc[yname]
                    lo_y, hi_y = float(yi["prior_lo"]), float(yi["prior_hi"])
                    if yi["log"]:
                        ax.set_yscale("log")
                    ax.set_ylim(*padded(lo_y, hi_y, bool(yi["log"])))
                    ax.add_patch(Rectangle((lo_x, lo_y), hi_x - lo_x, hi_y - lo_y,
                                           facecolor=PRIOR_FACE, edgecolor=PRIOR_EDGE, lw=0.6,
                                           ls="--", zorder=0))
                    if every is not None:
                        ax.scatter(every[xname], every[yname], s=2.0, color="0.75", lw=0,
                                   zorder=1, rasterized=False)
                    ax.scatter(accepted[xname], accepted[yname], s=4.0 + 60.0 * w,
                               color=accent, alpha=0.8, lw=0, zorder=2)
                    dx, dy = default_value(xname, n_users), default_value(yname, n_users)
                    if dx is not None and dy is not None:
                        ax.plot([dx], [dy], marker="*", ms=7, mfc="white", mec="black",
                                mew=0.5, ls="", zorder=3)
                _log_ticks(ax)
                ax.tick_params(which="both", labelsize=style.FONT_PT - 2.5, pad=1)
                if i < k - 1:
                    ax.tick_params(which="both", labelbottom=False)
                else:
                    ax.set_xlabel(LABELS.get(xname, xname), fontsize=style.FONT_PT - 1)
                if j > 0 or i == 0:
                    ax.tick_params(which="both", labelleft=False)
                else:
                    ax.set_ylabel(ROW_LABELS.get(yname, LABELS.get(yname, yname)),
                                  fontsize=style.FONT_PT - 1)
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=accent, alpha=0.8),
                   Line2D([], [], ls="", marker="o", ms=2.5, color="0.75"),
                   Line2D([], [], color="black", lw=0.9),
                   Line2D([], [], color="black", lw=0.6, ls="--"),
                   Line2D([], [], ls="", marker="*", ms=7, mfc="white", mec="black", mew=0.5)]
        handles += [Patch(facecolor=PRIOR_FACE, edgecolor=PRIOR_EDGE, lw=0.6, ls="--"),
                    Line2D([], [], color=PRIOR_EDGE, lw=0.7, ls=":")]
        labels = ["accepted (size: ABC weight)", "every set simulated",
                  "weighted median", "90 % interval", "nhs2016 scenario",
                  "prior box (uniform; log-uniform on log axes)", "prior density"]
        if corr is not None:
            handles.append(Line2D([], [], ls="", marker="$r$", ms=5, color="black"))
            labels.append("weighted correlation\n(of log10 for log axes)")
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False,
                   handlelength=1.5)
        scale = "" if n_users >= 840_000 else f"; sample: {n_users:,} users"
        eps = summary.get("epsilon")
        eps_text = f", tolerance {eps:.2g}" if isinstance(eps, int | float) else ""
        ess = summary.get("ess")
        ess_text = f", ESS {ess:.0f}" if isinstance(ess, int | float) else ""
        flagged = summary.get("converged") is False
        verdict = ("\nFLAGGED: NOT CONVERGED (stopped at the generation cap)" if flagged
                   else "")
        fig.suptitle(f"Parameter sets that reproduce the 2016 reports\n(ABC: "
                     f"{summary.get('accepted', len(accepted))} accepted of "
                     f"{summary.get('runs', '?')} runs{eps_text}{ess_text}{scale}){verdict}",
                     color=style.OBSERVED_COLOUR if flagged else "0.1")
        return style.save(fig, out_dir, stem)
