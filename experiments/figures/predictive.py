"""The posterior-predictive storms of a calibration against the 2016 observations.

``replyall calibrate`` draws ``predictive.png`` with :func:`plot_predictive` once the accepted
sets have been simulated again; the observations are the project's
(:mod:`..calibration.observations`, from ``experiments/data/storms.toml``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..calibration.observations import CONTEXT, TARGETS
from ..io import atomic_write


def plot_predictive(series: pd.DataFrame, fits: pd.DataFrame, path: Path, title: str) -> Path:
    """Plot each re-simulated storm against the 2016 observations.

    Panels: messages received per user, cumulative reply-alls accepted, delivery delay;
    reported ranges as bars, [C] single inboxes as crosses.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")
    obs = {o.key: o for o in TARGETS + CONTEXT}
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 8.0), sharex=True, layout="constrained")
    for _rid, g in series.groupby("run_id"):
        h = g["minute"] / 60.0
        axes[0].plot(h, g["received_per_user"], color="C0", alpha=0.6, lw=1)
        axes[1].plot(h, g["accepted"].cumsum(), color="C1", alpha=0.6, lw=1)
        axes[2].plot(h, g["delay_min"] / 60.0, color="C2", alpha=0.6, lw=1)
    end = series["minute"].max() / 60.0
    m = obs["messages_per_user"]
    axes[0].errorbar([end], [m.value], yerr=[[0], [m.hi - m.value]], fmt="ks", capsize=4,
                     label="2016: 151-221 per user [C/D]")
    for key in ("received_by_noon", "received_by_1430"):
        axes[0].plot(obs[key].minute / 60.0, obs[key].value, "kx", ms=8)
    axes[0].set_ylabel("messages received\nper user")
    axes[0].legend(loc="lower right")
    c = obs["last_accepted_minute"]
    axes[1].axvspan(c.lo / 60.0, c.hi / 60.0, color="0.85", label="2016: list disabled [R]")
    s = obs["senders"]
    axes[1].errorbar([c.hi / 60.0], [s.value], yerr=[[s.value - s.lo], [s.hi - s.value]],
                     fmt="ks", capsize=4, label="2016: 70-220 senders [R/C]")
    ens = fits[fits["source"] == "ensemble mean"]
    if len(ens) and ens["status"].iloc[0] in ("ok", "unidentified", "boundary"):
        r = ens.iloc[0]
        flag = "" if r["status"] == "ok" else f" [FLAGGED: {r['status']}]"
        axes[1].set_title(f"queued-SIR fit (ensemble mean): R0 = {r['R0']:.3g} "
                          f"[{r['R0_lo']:.3g}, {r['R0_hi']:.3g}]{flag}", fontsize=9)
    axes[1].set_ylabel("reply-alls accepted\n(cumulative)")
    axes[1].legend(loc="lower right")
    d = obs["max_delay_min"]
    axes[2].axhline(d.lo / 60.0, color="k", ls="--", label="2016: delays >= 3 h [R]")
    b = obs["backlog_cleared_minute"]
    axes[2].axvline(b.hi / 60.0, color="k", ls=":", label="2016: queues cleared [R]")
    axes[2].set_ylabel("oldest undelivered\nmessage (h)")
    axes[2].set_xlabel("hours after the first send")
    axes[2].legend(loc="upper right")
    axes[0].set_title(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path
