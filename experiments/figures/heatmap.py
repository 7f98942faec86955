"""Figure 2: messages per user over two parameters, with the contour of the reported 151.

Reads the runs of a two-parameter grid sweep (the ready spec ``heatmap``: ``remove_rate`` x
``cutoff_min``). Each cell is the mean over replicates of the messages each user eventually
receives (``messages_per_user_eventual``: everything the list accepted, delivered or still
queued when the run ends, less any purge), on a log colour scale; the line is where the model
gives the reported ~151 messages per user.

Both axes are true scales, not one cell per grid value: the hazards (rates, sampled on a
geometric grid) on a log axis, the cut-off (15 ... 90, 120, 150, 180, 240 min: unevenly spaced)
on a linear one. Each cell spans halfway to its neighbours (in log units on a log axis), and
the contour is traced in those same coordinates (log10 of a rate), so its bends are the
model's, not the grid's.
"""

from __future__ import annotations

import json
from pathlib import Path

import contourpy
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.colors import LogNorm
from matplotlib.ticker import FixedLocator, NullLocator

from . import HEATMAP_DIR, style

METRIC = "messages_per_user_eventual"
REPORTED = 151.0  # "approx 151 emails" each [C]
LABELS = {
    "remove_rate": "'remove me' hazard (per message read)",
    "complain_rate": "complaint hazard (per message read)",
    "cutoff_min": "list disabled after (minutes)",
    "capacity_per_min": "transport capacity (deliveries per minute)",
}
def calibrated_2016() -> dict[str, float]:
    """The nhs2016 scenario's (calibrated) value of each parameter the grid may vary."""
    from replyall_storm.model.scenarios import NHS_CALIBRATED

    return dict(NHS_CALIBRATED)


def grid(results: Path) -> tuple[pd.DataFrame, str, str, dict]:
    """The metric as a table (rows: second parameter, columns: first), and the manifest."""
    folder = Path(results) / HEATMAP_DIR
    runs = pd.read_parquet(folder / "runs.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    x, y = manifest["varied"][:2]
    ok = runs[runs["status"] == "ok"]
    table = ok.pivot_table(index=y, columns=x, values=METRIC, aggfunc="mean")
    return table.sort_index().sort_index(axis=1), x, y, manifest


def is_log(name: str, values: np.ndarray) -> bool:
    """Whether parameter ``name`` is drawn on a log axis (rates, or a geometric grid)."""
    v = np.asarray(values, dtype=float)
    if name.endswith("_rate") or name == "capacity_per_min":
        return bool(np.all(v > 0))
    if np.any(v <= 0) or v.size < 3:
        return False
    ratios = v[1:] / v[:-1]
    return bool(np.ptp(np.log(ratios)) < 0.25 * np.mean(np.log(ratios)))


def edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges halfway between grid values (in log10 units if ``log``), ends mirrored."""
    v = np.log10(values) if log else np.asarray(values, dtype=float)
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2.0
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10.0 ** e if log else e


def factor(values: np.ndarray) -> tuple[int, str]:
    """A power of ten to take out of tick labels, and its text for the axis label."""
    top = float(np.nanmax(np.abs(np.asarray(values, dtype=float))))
    exp = int(np.floor(np.log10(top))) if top > 0 else 0
    return (0, "") if -2 <= exp <= 3 else (exp, f"$\\times 10^{{{exp}}}$ ")


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 3, 5 x 10^k between ``lo`` and ``hi``."""
    out = [m * 10.0 ** k for k in range(int(np.floor(np.log10(lo))) - 1,
                                          int(np.ceil(np.log10(hi))) + 1) for m in (1, 2, 3, 5)]
    return [t for t in out if lo <= t <= hi]


def _with_factor(label: str, factor: str) -> str:
    """Put a power-of-ten factor in front of the unit in parentheses."""
    if not factor or "(" not in label:
        return label
    head, unit = label.split("(", 1)
    return f"{head}({factor}{unit}"


def contour_lines(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, level: float,
                  xlog: bool, ylog: bool) -> list[np.ndarray]:
    """Lines where ``z`` (rows: ys, columns: xs) crosses ``level``, traced in axis units."""
    gx = np.log10(xs) if xlog else xs
    gy = np.log10(ys) if ylog else ys
    lines = contourpy.contour_generator(gx, gy, np.ma.masked_invalid(z)).lines(level)
    out = []
    for line in lines:
        px, py = line[:, 0], line[:, 1]
        out.append(np.column_stack([10.0 ** px if xlog else px, 10.0 ** py if ylog else py]))
    return out


def _axis(ax, which: str, name: str, values: np.ndarray, log: bool) -> None:
    """Scale, limits, ticks at true positions and the label (with a power of ten)."""
    e = edges(values, log)
    exp, text = factor(values)
    setter = ax.set_xscale if which == "x" else ax.set_yscale
    setter("log" if log else "linear")
    (ax.set_xlim if which == "x" else ax.set_ylim)(e[0], e[-1])
    axis = ax.xaxis if which == "x" else ax.yaxis
    ticks = nice_log_ticks(e[0], e[-1]) if log else list(values)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_minor_locator(NullLocator())
    axis.set_ticklabels([f"{t / 10.0 ** exp:g}" for t in ticks])
    label = _with_factor(LABELS.get(name, name), text)
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(label)


def draw_heatmap(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Cells coloured by messages per user (log scale), the 151 contour, the 2016 point."""
    table, x, y, manifest = grid(results)
    base = manifest.get("base_params", {})
    values = table.to_numpy(dtype=float)
    xs, ys = table.columns.to_numpy(float), table.index.to_numpy(float)
    xlog, ylog = is_log(x, xs), is_log(y, ys)
    with style.styled():
        fig = style.figure("one", 3.2)
        ax = fig.subplots()
        finite = values[np.isfinite(values) & (values > 0)]
        norm = LogNorm(vmin=max(finite.min(), 1.0), vmax=finite.max())
        mesh = ax.pcolormesh(edges(xs, xlog), edges(ys, ylog), np.ma.masked_invalid(values),
                             cmap="viridis", norm=norm, shading="flat", linewidth=0,
                             rasterized=False)
        bar = fig.colorbar(mesh, ax=ax, pad=0.02)
        bar.set_label("messages per user (eventually received)")
        with np.errstate(divide="ignore", invalid="ignore"):
            logz = np.log(np.where(values > 0, values, np.nan))
        if finite.min() < REPORTED < finite.max():
            for line in contour_lines(xs, ys, logz, float(np.log(REPORTED)), xlog, ylog):
                ax.plot(line[:, 0], line[:, 1], color="white", lw=1.4, solid_capstyle="round")
                ax.plot(line[:, 0], line[:, 1], color="black", lw=0.6, ls="--")
        # the calibrated 2016 point (scaled like the sample, if the grid is a scaled sample)
        scale = 840_000 / base.get("n_users", 840_000)
        px, py = calibrated_2016().get(x), calibrated_2016().get(y)
        if px is not None and py is not None:
            px *= scale if x.endswith("_rate") else 1.0
            ax.plot([px], [py], marker="*", ms=9, mfc="white", mec="black", mew=0.6, ls="")
            # to the star's right, inside the axes, outlined so it reads on any colour
            ax.annotate("2016, calibrated", (px, py), xytext=(8, 0), ha="left", va="center",
                        textcoords="offset points", fontsize=style.FONT_PT - 1.5,
                        color="white", annotation_clip=True,
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="0.15")])
        _axis(ax, "x", x, xs, xlog)
        _axis(ax, "y", y, ys, ylog)
        ax.tick_params(axis="x", labelsize=style.FONT_PT - 2)
        ax.tick_params(axis="y", labelsize=style.FONT_PT - 2)
        n = base.get("n_users")
        where = "" if n is None or n >= 840_000 else f"\n(sample: {n:,} users)"
        ax.set_title(f"Storm size; dashed: the reported {REPORTED:.0f} per user{where}",
                     fontsize=style.FONT_PT)
        return style.save(fig, out_dir, stem)
