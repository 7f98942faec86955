"""Figure 6: a sample of the organisation graph, each user coloured by state, at a few moments.

Reads the graph sample that ``replyall run`` keeps (``snapshots.parquet``: user, team,
manager, minute, state; ``graph_sample.parquet``: edges between sampled users). The layout is
computed once (NetworkX spring layout, fixed seed) and shared by every panel, so a user stays
in the same place while the storm spreads.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from . import RUN_DIR, style
from .storm import load_run


def layout(states: pd.DataFrame, edges: pd.DataFrame, seed: int = 0) -> dict[int, np.ndarray]:
    """Node positions of the sampled graph (deterministic for a given NetworkX version)."""
    g = nx.Graph()
    g.add_nodes_from(sorted(int(u) for u in states["user"].unique()))
    g.add_edges_from(zip(edges["source"].tolist(), edges["target"].tolist(), strict=True))
    k = 2.5 / np.sqrt(max(g.number_of_nodes(), 1))
    pos = nx.spring_layout(g, seed=seed, k=k, iterations=300)
    nodes = list(pos)
    xy = np.array([pos[u] for u in nodes])
    xy -= xy.mean(axis=0)
    if len(nodes) > 2:  # turn the long axis upright: the panels are taller than wide
        _, _, vt = np.linalg.svd(xy, full_matrices=False)
        xy = xy @ vt.T[:, ::-1]
    return dict(zip(nodes, xy, strict=True))


def clock(minute: int, start_h: float = 8 + 29 / 60) -> str:
    """Clock time ``minute`` minutes after the first send (HH:MM)."""
    t = (start_h * 60 + minute) % 1440
    return f"{int(t // 60):02d}:{int(round(t % 60)):02d}"


def draw_graph(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """One panel per stored moment: the same users, coloured by their state then."""
    folder = Path(results) / RUN_DIR
    states = pd.read_parquet(folder / "snapshots.parquet")
    edges = pd.read_parquet(folder / "graph_sample.parquet")
    _, summary = load_run(results)
    states["state"] = states["state"].astype(str)
    pos = layout(states, edges)
    xy = np.array([pos[u] for u in sorted(pos)])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.04 * (hi - lo)
    seg = np.array([[pos[s], pos[t]] for s, t in zip(edges["source"], edges["target"],
                                                      strict=True)])
    minutes = sorted(states["minute"].unique())
    with style.styled():
        fig = style.figure("two", 2.35)
        axes = np.atleast_1d(fig.subplots(1, len(minutes)))
        from matplotlib.collections import LineCollection

        for ax, minute in zip(axes, minutes, strict=True):
            now = states[states["minute"] == minute].sort_values("user")
            p = np.array([pos[u] for u in now["user"]])
            if len(seg):
                ax.add_collection(LineCollection(seg, colors="0.75", linewidths=0.3,
                                                 zorder=0))
            for z, (state, colour) in enumerate(style.STATE_COLOURS.items()):
                m = (now["state"] == state).to_numpy()
                if m.any():  # later states on top: the few repliers stay visible
                    ax.scatter(p[m, 0], p[m, 1], s=5.0 if state != "replied" else 9.0,
                               c=[colour], marker="o", linewidths=0.2, edgecolors="0.25",
                               zorder=2 + (z if state != "replied" else 9))
            counts = now["state"].value_counts()
            replied = int(counts.get("replied", 0))
            ax.set_title(f"{minute} min ({clock(int(minute))})", pad=2)
            ax.text(0.5, -0.02, f"{replied} replied, {int(counts.get('muted', 0))} muted",
                    transform=ax.transAxes, ha="center", va="top",
                    fontsize=style.FONT_PT - 1)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
            ax.set_aspect("equal")
            ax.set_axis_off()
        handles = [Line2D([], [], ls="", marker="o", ms=4, mfc=c, mec="0.2", mew=0.3)
                   for c in style.STATE_COLOURS.values()]
        labels = [style.STATE_LABELS[s] for s in style.STATE_COLOURS]
        handles.append(Line2D([], [], color="0.75", lw=0.6))
        labels.append("tie (colleagues, hierarchy)")
        fig.legend(handles, labels, loc="outside lower center", ncol=5, frameon=False,
                   handlelength=1.2, columnspacing=1.2)
        n = states["user"].nunique()
        total = summary.get("n_users")
        fig.suptitle(f"{n} of {total:,} users, near the first to reply: state after the "
                     "first send")
        return style.save(fig, out_dir, stem)
