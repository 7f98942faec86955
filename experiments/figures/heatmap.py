"""Figure 2: messages per user over two parameters, with the contour of the reported 151.

Reads the runs of a two-parameter grid sweep (``experiments/specs/heatmap.toml``:
``remove_rate`` x ``cutoff_min``). Each cell is the mean over replicates of the messages each
user eventually receives (``messages_per_user_eventual``: everything the list accepted,
delivered or still queued when the run ends, less any purge), on a log colour scale; the line
is where the model gives the reported ~151 messages per user.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from . import HEATMAP_DIR, style

METRIC = "messages_per_user_eventual"
REPORTED = 151.0  # "approx 151 emails" each [C]
LABELS = {
    "remove_rate": "'remove me' hazard (per message read)",
    "complain_rate": "complaint hazard (per message read)",
    "cutoff_min": "list disabled after (minutes)",
    "capacity_per_min": "transport capacity (deliveries per minute)",
}
DEFAULTS_2016 = {"remove_rate": 3e-5, "cutoff_min": 60.0}


def grid(results: Path) -> tuple[pd.DataFrame, str, str, dict]:
    """The metric as a table (rows: second parameter, columns: first), and the manifest."""
    folder = Path(results) / HEATMAP_DIR
    runs = pd.read_parquet(folder / "runs.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    x, y = manifest["varied"][:2]
    ok = runs[runs["status"] == "ok"]
    table = ok.pivot_table(index=y, columns=x, values=METRIC, aggfunc="mean")
    return table.sort_index(ascending=False), x, y, manifest


def _ticks(values: np.ndarray) -> tuple[list[str], str]:
    """Tick labels with a common power of ten taken out, and that factor for the axis label."""
    values = np.asarray(values, dtype=float)
    top = float(np.nanmax(np.abs(values)))
    exp = int(np.floor(np.log10(top))) if top > 0 else 0
    if -2 <= exp <= 3:
        return [f"{v:g}" for v in values], ""
    return [f"{v / 10.0 ** exp:.2g}" for v in values], f"$\\times 10^{{{exp}}}$ "


def _with_factor(label: str, factor: str) -> str:
    """Put a power-of-ten factor in front of the unit in parentheses."""
    if not factor or "(" not in label:
        return label
    head, unit = label.split("(", 1)
    return f"{head}({factor}{unit}"


def draw_heatmap(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Cells coloured by messages per user (log scale), the 151 contour, the 2016 point."""
    table, x, y, manifest = grid(results)
    base = manifest.get("base_params", {})
    values = table.to_numpy(dtype=float)
    with style.styled():
        import seaborn as sns

        fig = style.figure("one", 3.2)
        ax = fig.subplots()
        finite = values[np.isfinite(values) & (values > 0)]
        xt, xf = _ticks(table.columns.to_numpy(float))
        yt, yf = _ticks(table.index.to_numpy(float))
        norm = LogNorm(vmin=max(finite.min(), 1.0), vmax=finite.max())
        sns.heatmap(table, ax=ax, cmap="viridis", norm=norm, linewidths=0.0,
                    xticklabels=xt, yticklabels=yt,
                    cbar_kws={"label": "messages per user (eventually received)",
                              "pad": 0.02})
        cx = np.arange(values.shape[1]) + 0.5
        cy = np.arange(values.shape[0]) + 0.5
        if finite.min() < REPORTED < finite.max():
            cs = ax.contour(cx, cy, np.log(np.where(values > 0, values, np.nan)),
                            levels=[np.log(REPORTED)], colors="white", linewidths=1.4)
            cs.set(path_effects=[])
            ax.contour(cx, cy, np.log(np.where(values > 0, values, np.nan)),
                       levels=[np.log(REPORTED)], colors="black", linewidths=0.6,
                       linestyles="--")
        # the 2016 defaults (scaled like the sample, if the grid is a scaled sample)
        scale = 840_000 / base.get("n_users", 840_000)
        px, py = DEFAULTS_2016.get(x), DEFAULTS_2016.get(y)
        if px is not None and py is not None:
            px *= scale if x.endswith("_rate") else 1.0
            ix = np.interp(np.log(px), np.log(table.columns.to_numpy(float)), cx)
            iy = np.interp(py, table.index.to_numpy(float)[::-1], cy[::-1])
            ax.plot([ix], [iy], marker="*", ms=9, mfc="white", mec="black", mew=0.6, ls="")
            ax.annotate("2016 defaults", (ix, iy), xytext=(6, -8),
                        textcoords="offset points", fontsize=style.FONT_PT - 1.5,
                        color="white")
        ax.set_xlabel(_with_factor(LABELS.get(x, x), xf))
        ax.set_ylabel(_with_factor(LABELS.get(y, y), yf))
        ax.tick_params(axis="x", rotation=0, labelsize=style.FONT_PT - 2)
        ax.tick_params(axis="y", rotation=0)
        n = base.get("n_users")
        where = "" if n is None or n >= 840_000 else f"\n(sample: {n:,} users)"
        ax.set_title(f"Storm size; dashed: the reported {REPORTED:.0f} per user{where}",
                     fontsize=style.FONT_PT)
        return style.save(fig, out_dir, stem)
