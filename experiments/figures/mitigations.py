"""Figure 5: what each mitigation does to the storm, and how much the cut-off time matters.

Reads ``replyall compare`` (``comparison.parquet``, one row per policy in design-point order,
and the sweep's ``runs.parquet`` in the same folder) and the cut-off sweep
(the ready spec ``cutoff_sweep``). Storm size is the messages each user eventually
receives (``messages_per_user_eventual``), so that a storm still queued when the run ends is
counted whole; ranges are 2.5-97.5 % over replicates (common random numbers: every policy
and cut-off sees the same storms).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from . import COMPARE_DIR, CUTOFF_DIR, style

METRIC = "messages_per_user_eventual"
REPORTED = 151.0
BASELINE = "2016 response"


def _spread(values: pd.Series) -> tuple[float, float, float]:
    v = values.to_numpy(dtype=float)
    lo, hi = np.percentile(v, [2.5, 97.5]) if v.size else (np.nan, np.nan)
    return float(v.mean()) if v.size else np.nan, float(lo), float(hi)


def policy_table(results: Path) -> pd.DataFrame:
    """One row per policy: storm size (mean, lo, hi) and hours until normal service."""
    folder = Path(results) / COMPARE_DIR
    table = pd.read_parquet(folder / "comparison.parquet").reset_index(drop=True)
    runs = pd.read_parquet(folder / "runs.parquet")
    ok = runs[runs["status"] == "ok"]
    size = [_spread(ok.loc[ok["point"] == i, METRIC]) for i in range(len(table))]
    table["size"], table["size_lo"], table["size_hi"] = np.array(size).T
    return table


def cutoff_table(results: Path) -> tuple[pd.DataFrame, dict]:
    """Storm size per cut-off time and purge setting (mean, lo, hi over replicates)."""
    folder = Path(results) / CUTOFF_DIR
    runs = pd.read_parquet(folder / "runs.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    ok = runs[runs["status"] == "ok"]
    rows = []
    for (cut, purge), g in ok.groupby(["cutoff_min", "purge_at_cutoff"]):
        m, lo, hi = _spread(g[METRIC])
        rows.append({"cutoff_min": cut, "purge": bool(purge), "size": m, "lo": lo, "hi": hi})
    return pd.DataFrame(rows), manifest


def draw_mitigations(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """(a) storm size per policy; (b) hours until normal service; (c) size vs cut-off."""
    table = policy_table(results)
    cuts, manifest = cutoff_table(results)
    n = manifest.get("base_params", {}).get("n_users", 840_000)
    with style.styled():
        fig = style.figure("two", 3.1)
        sub = fig.subfigures(1, 2, width_ratios=[1.55, 1.0], wspace=0.02)
        ax_a, ax_b = sub[0].subplots(1, 2, sharey=True)
        ax_c = sub[1].subplots()
        y = np.arange(len(table))
        base = table.index[table["policy"] == BASELINE]
        colour = style.PALETTE[0]
        not_restored = table["not_restored"].to_numpy() > 0
        for ax, (mean, lo, hi), label in (
                (ax_a, ("size", "size_lo", "size_hi"), "messages per user\n(eventually "
                 "received, log scale)"),
                (ax_b, ("service_restored_h", "service_restored_h_lo",
                        "service_restored_h_hi"), "hours until normal service")):
            m = table[mean].to_numpy(float)
            err = np.vstack([m - table[lo].to_numpy(float), table[hi].to_numpy(float) - m])
            if len(base):
                ax.axvline(m[base[0]], color="0.6", lw=0.7, ls="--", zorder=0)
            hide = not_restored if ax is ax_b else np.zeros(len(m), dtype=bool)
            ax.errorbar(m[~hide], y[~hide], xerr=np.maximum(err[:, ~hide], 0), fmt="o",
                        color=colour, ms=3.5, capsize=1.5, lw=0.9)
            ax.set_xlabel(label)
            ax.grid(axis="x", lw=0.3, color="0.85")
        if not_restored.any():  # counted as the horizon: at least this long
            ax_b.plot(table.loc[not_restored, "service_restored_h"], y[not_restored], ">",
                      color=style.PALETTE[3], ms=5, ls="")
        ax_a.set_xscale("log")
        ax_a.axvline(REPORTED, color=style.OBSERVED_COLOUR, lw=0.8, ls=":")
        ax_a.set_yticks(y, table["policy"])
        ax_a.invert_yaxis()
        ax_b.set_xlim(left=0)
        style.panel_label(ax_a, "a")
        style.panel_label(ax_b, "b")
        # (c) storm size against the cut-off time
        for purge, colour, marker, label in (
                (False, style.PALETTE[0], "o", "queue delivered (2016)"),
                (True, style.PALETTE[2], "s", "queue purged at the cut-off")):
            c = cuts[cuts["purge"] == purge].sort_values("cutoff_min")
            ax_c.fill_between(c["cutoff_min"], c["lo"], c["hi"], color=colour, alpha=0.2, lw=0)
            ax_c.plot(c["cutoff_min"], c["size"], marker=marker, color=colour, ms=3,
                      label=label)
        ax_c.axhline(REPORTED, color=style.OBSERVED_COLOUR, lw=0.8, ls=":")
        from replyall_storm.model.scenarios import NHS_CALIBRATED

        cut = NHS_CALIBRATED["cutoff_min"]  # the calibrated 2016 cut-off
        ax_c.axvline(cut, color=style.CUTOFF_COLOUR, lw=0.8, ls="-.")
        ax_c.text(cut + 3.0, 0.98, f"2016: {cut:.0f} min (calibrated)",
                  transform=ax_c.get_xaxis_transform(),
                  fontsize=style.FONT_PT - 1.5, color=style.CUTOFF_COLOUR, va="top")
        ax_c.set_yscale("log")
        ax_c.set_xlabel("list disabled after (minutes)")
        ax_c.set_ylabel("messages per user (eventually received)")
        ax_c.grid(lw=0.3, color="0.85")
        ax_c.legend(loc="lower right", frameon=False, handlelength=1.5)
        style.panel_label(ax_c, "c")
        handles = [Line2D([], [], color=style.PALETTE[0], marker="o", ms=3.5, lw=0.9),
                   Line2D([], [], color="0.6", ls="--", lw=0.7),
                   Line2D([], [], color=style.OBSERVED_COLOUR, ls=":", lw=0.8)]
        labels = ["mean and 2.5-97.5 % over replicates", "the 2016 response",
                  f"reported: ~{REPORTED:.0f} per user"]
        if not_restored.any():
            handles.append(Line2D([], [], color=style.PALETTE[3], marker=">", ls="", ms=4))
            labels.append("not restored within the run (at least)")
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False,
                   handlelength=1.8)
        scale = "" if n >= 840_000 else f" (sample: {n:,} users)"
        fig.suptitle("Mitigations: the same storms under each policy" + scale)
        return style.save(fig, out_dir, stem)
