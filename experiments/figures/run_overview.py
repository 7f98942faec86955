"""``replyall run``'s own figure (``storm.png``): reply-alls sent, messages per user, backlog.

A quick look at one run, drawn as the run finishes; the publication figures 1 and 7 of the
same run are :mod:`.storm`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io import atomic_write  # noqa: E402


def plot_storm(
    series: pd.DataFrame, summary: dict[str, Any], path: Path, title: str = "Reply-all storm"
) -> Path:
    """Three stacked panels against hours after the first send; saved as PNG at ``path``."""
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")
    hours = series["minute"].to_numpy() / 60.0
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 7.5), sharex=True, layout="constrained")
    bin_min = 10
    bins = series["minute"] // bin_min
    sent = series.groupby(bins)[["sent_remove", "sent_complain", "bounced"]].sum()
    centres = (sent.index.to_numpy() * bin_min + bin_min / 2) / 60.0
    width = bin_min / 60.0
    colours = sns.color_palette("colorblind")
    ax = axes[0]
    ax.bar(centres, sent["sent_remove"], width=width, color=colours[0], label='"remove me"')
    ax.bar(
        centres,
        sent["sent_complain"],
        width=width,
        bottom=sent["sent_remove"],
        color=colours[1],
        label='"stop replying all"',
    )
    ax.set_ylabel(f"reply-alls sent\n(per {bin_min} min)")
    ax.set_title(title)
    ax = axes[1]
    ax.plot(hours, series["received_per_user"], color=colours[2], label="received")
    ax.plot(hours, series["read_per_user"], color=colours[3], ls="--", label="read")
    ax.set_ylabel("messages per user")
    ax.legend(loc="lower right", frameon=False)
    ax = axes[2]
    ax.plot(hours, series["backlog"] / 1e6, color=colours[4], label="backlog")
    ax.set_ylabel("queued deliveries\n(millions)")
    ax.set_xlabel("hours after the first send")
    twin = ax.twinx()
    twin.plot(hours, series["delay_min"] / 60.0, color=colours[5], ls=":", label="delay")
    twin.set_ylabel("delivery delay (h)")
    twin.grid(False)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right", frameon=False)
    cut = summary.get("cutoff_minute")
    if cut is not None and np.isfinite(cut):
        for a in axes:
            a.axvline(cut / 60.0, color="0.3", lw=0.8, ls="-.")
        axes[0].axvspan(cut / 60.0, hours[-1], color="0.85", alpha=0.5, lw=0, zorder=0)
        axes[0].text(
            cut / 60.0,
            0.97,
            "  list disabled: later reply-alls bounce",
            transform=axes[0].get_xaxis_transform(),
            va="top",
            ha="left",
            fontsize=8,
            color="0.25",
        )
    axes[0].legend(loc="center right", frameon=False)
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=150, format="png"))
    plt.close(fig)
    return Path(path)
