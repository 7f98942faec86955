"""``replyall compare``'s own figure (``comparison.png``): each policy's effect and its range.

Drawn as the comparison finishes; the publication figure 5 is :mod:`.mitigations`'s.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io import atomic_write  # noqa: E402

PANELS = (
    ("messages_per_user_eventual", "messages per user\n(eventually received)"),
    ("senders", "reply-all senders"),
    ("service_restored_h", "hours until normal service"),
)


def plot_comparison(table: pd.DataFrame, path: Path) -> Path:
    """Dot-and-range panels (mean, 2.5-97.5 % over replicates), one row per policy."""
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(7.0, 0.32 * len(table) + 1.2),
                             sharey=True, layout="constrained")
    y = range(len(table))
    colour = sns.color_palette("colorblind")[0]
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        mean = table[metric]
        err = [mean - table[f"{metric}_lo"], table[f"{metric}_hi"] - mean]
        base = table.loc[table["policy"] == "2016 response", metric]
        if len(base):
            ax.axvline(float(base.iloc[0]), color="0.5", lw=0.8, ls="--", zorder=0)
        ax.errorbar(mean, y, xerr=err, fmt="o", color=colour, ms=4, capsize=2, lw=1)
        ax.set_xlabel(label)
        ax.set_xlim(left=0)
    axes[0].set_yticks(list(y), table["policy"])
    axes[0].invert_yaxis()
    fig.suptitle("Mean and 2.5-97.5 % range over replicates; dashed: the 2016 response",
                 fontsize=8)
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=150, format="png"))
    plt.close(fig)
    return Path(path)
