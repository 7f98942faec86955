"""Figures 1 and 7: one storm over time, beside what was reported in 2016.

Both read a ``replyall run`` folder (``series.parquet``, ``summary.json``). Figure 1 also fits
the queued SIR of :mod:`..analysis.sir_fit` to the reply-alls sent and the messages received
per member (a deterministic fit of a few seconds: no simulation), shows its statistics and,
when the fit is flagged, says so on the figure; and it draws the 2016 observations
(:mod:`..calibration.observations`, from ``experiments/data/storms.toml``) with their
reported ranges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ..analysis.sir_fit import fit_series, fitted_curves
from ..calibration import observations
from . import RUN_DIR, style

BIN_MIN = 10  # minutes per bar of reply-alls
CLEARED_MIN = observations.get("backlog_cleared_minute").value  # 15 Nov 16:30 [R] (its value
# is the minute; the observation has no clock time of its own)


def load_run(results: Path) -> tuple[pd.DataFrame, dict]:
    """The series and summary of the NHS run under ``results``."""
    folder = Path(results) / RUN_DIR
    return (pd.read_parquet(folder / "series.parquet"),
            json.loads((folder / "summary.json").read_text()))


def _obs(key: str) -> observations.Observation:
    return observations.get(key)


def _cutoff(ax, summary: dict) -> None:
    """The minute the list was disabled, as a dash-dot vertical line."""
    cut = summary.get("cutoff_minute")
    if cut is not None and math.isfinite(cut):
        ax.axvline(cut / 60.0, color=style.CUTOFF_COLOUR, lw=0.8, ls="-.", zorder=1)


def _scale_note(summary: dict) -> str:
    n = summary.get("n_users", summary.get("list_size"))
    return "" if n is None or n >= 840_000 else f" (sample: {n:,} users)"


def sir_fit_curve(series: pd.DataFrame, stored: Path | None = None
                  ) -> tuple[dict, pd.DataFrame | None]:
    """Fit the queued SIR to the run, or read ``replyall fit``'s fit.

    Returns the fit row and the fitted model's per-minute curves (None when the fit has no
    parameters). The fit is ``replyall fit``'s when the run folder has one (``stored``: its
    ``sir_fit.parquet``), else made here with the same defaults.
    """
    fit = None
    if stored is not None and stored.exists():
        rows = pd.read_parquet(stored)
        fit = rows.iloc[0].to_dict() if len(rows) and "r2_received" in rows else None
    if fit is None:
        fit = fit_series(series)
    if not np.isfinite(fit.get("R0", math.nan)):
        return fit, None
    return fit, fitted_curves(fit, len(series), float(series["clock_h"].iloc[0]))


def fit_label(fit: dict) -> str:
    """The fit's headline with its intervals and goodness of fit, and its flag if any."""
    if not np.isfinite(fit.get("R0", math.nan)):
        return f"queued-SIR fit: {fit['status']} ({fit['message']})"
    flag = "" if fit["status"] == "ok" else f" FLAGGED ({fit['status']})"
    return (f"queued-SIR fit{flag}: $R_0$ = {fit['R0']:.3g} [{fit['R0_lo']:.3g}, "
            f"{fit['R0_hi']:.3g}],\n    $\\mu$ = {fit['mu']:.2g}/msg, $R^2$ = "
            f"{fit['r2_incidence']:.2f} (reply-alls) / {fit['r2_received']:.3f} (inbox)")


def _inbox_label(o: observations.Observation, summary: dict, text: str,
                 what: str = "5-95 % of members", unit: float = 1.0) -> str:
    """A report's legend entry with what the run shows of it (inside or how far outside).

    ``what`` names the run's range (one inbox: the central 90 % of members), ``unit`` divides
    its values for display (60 for minutes shown as hours).
    """
    low, high = summary.get(observations.LO + o.key), summary.get(observations.HI + o.key)
    if low is None or high is None:
        return text
    miss = float(o.miss(low, high))
    verdict = "inside" if miss == 0 else f"{miss:.1f} sd outside"
    fmt = ".1f" if unit != 1.0 else ".0f"
    shown = (f"{low / unit:{fmt}}" if low == high
             else f"{low / unit:{fmt}}-{high / unit:{fmt}}")
    return f"{text}\n    model {what} {shown}: {verdict}"


def draw_storm(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 1: the storm against the 2016 reports, where and when they were made.

    Panels: (a) reply-alls sent per 10 min with the queued-SIR fit and its statistics (a
    flagged fit is drawn dashed and labelled FLAGGED); (b) messages received per member: the
    members' median, 25-75 % and 5-95 % bands and mean, against the single inboxes reported
    at 11:30, 12:00 and 14:30 and the tweet's mean; (c) "remove me" messages per member
    against the inbox that held 187 of them three hours in.
    """
    series, summary = load_run(results)
    inboxes = pd.read_parquet(Path(results) / RUN_DIR / "inboxes.parquet")
    stored_fit = Path(results) / RUN_DIR / "sir_fit.parquet"
    fit, fitted = sir_fit_curve(series, stored_fit)
    flagged = fit["status"] != "ok"
    show = 8.0  # hours shown in (a): the replying happens early
    with style.styled():
        fig = style.figure("two", 4.6)
        ax_a, ax_b, ax_c = fig.subplots(1, 3)
        # (a) reply-alls sent per bin, stacked by kind, with the fit
        bins = series["minute"] // BIN_MIN
        sent = series.groupby(bins)[["sent_remove", "sent_complain"]].sum()
        x = (sent.index.to_numpy() * BIN_MIN) / 60.0
        keep = x < show
        width = BIN_MIN / 60.0
        ax_a.bar(x[keep], sent["sent_remove"][keep], width=width, align="edge",
                 color=style.REMOVE_COLOUR, lw=0, label='model: "remove me" sent')
        ax_a.bar(x[keep], sent["sent_complain"][keep], width=width, align="edge",
                 bottom=sent["sent_remove"][keep], color=style.COMPLAIN_COLOUR, lw=0,
                 label='model: "stop replying all" sent')
        if fitted is not None:
            per_bin = fitted.groupby(fitted["minute"] // BIN_MIN)["incidence"].sum()
            starts = per_bin.index.to_numpy() * BIN_MIN
            k = starts / 60.0 < show
            ax_a.step(np.append(starts[k], starts[k][-1] + BIN_MIN) / 60.0,
                      np.append(per_bin.to_numpy()[k], per_bin.to_numpy()[k][-1]),
                      where="post", color=style.FIT_COLOUR, lw=1.0,
                      ls="--" if flagged else "-", label=fit_label(fit))
        ax_a.text(0.98, 0.97, ("FIT FLAGGED: " + fit["status"]) if flagged else
                  f"fit ok\n$R^2$ {fit['r2_incidence']:.2f} (reply-alls)\n"
                  f"{fit['r2_received']:.3f} (inbox)", transform=ax_a.transAxes, ha="right",
                  va="top", fontsize=style.FONT_PT - 1.5,
                  color=style.OBSERVED_COLOUR if flagged else "0.3")
        ax_a.set_xlim(0, show)
        ax_a.set_ylabel(f"reply-alls sent per {BIN_MIN} min")
        # (b) messages received per member: the spread between members, and the reports
        h = inboxes["minute"].to_numpy() / 60.0
        ax_b.fill_between(h, inboxes["received_p05"], inboxes["received_p95"], lw=0,
                          color=style.RECEIVED_COLOUR, alpha=0.18,
                          label="model: 5-95 % of members")
        ax_b.fill_between(h, inboxes["received_p25"], inboxes["received_p75"], lw=0,
                          color=style.RECEIVED_COLOUR, alpha=0.35,
                          label="model: 25-75 % of members")
        ax_b.plot(h, inboxes["received_p50"], color=style.RECEIVED_COLOUR, lw=1.0,
                  label="model: median member")
        hours = series["minute"].to_numpy() / 60.0
        ax_b.plot(hours, series["received_per_user"], color=style.RECEIVED_COLOUR, ls="--",
                  lw=0.8, label="model: mean over members")
        if fitted is not None:
            ax_b.plot(fitted["minute"] / 60.0, fitted["received_per_user"],
                      color=style.FIT_COLOUR, lw=0.7, ls="--" if flagged else ":",
                      label="queued-SIR fit: mean received")
        mean = _obs("mean_received")
        if mean.window is not None:
            ax_b.fill_between([mean.window[0] / 60.0, mean.window[1] / 60.0], mean.lo, mean.hi,
                              color=style.OBSERVED_COLOUR, alpha=0.12, lw=0,
                              label=_inbox_label(mean, summary, "2016: 151 [C] to 221 [D] "
                                                 "each, 'so far today'", "mean, 12-18 h"))
        markers = {"inbox_received@11:30": ("o", "insider's inbox, 70-80 by 11:30 [R]"),
                   "inbox_received@12:00": ("s", "one inbox, 123 by 12:00 [C]"),
                   "inbox_received@14:30": ("D", "one inbox, 411 by 14:30 [C]")}
        for key, (marker, text) in markers.items():
            o = _obs(key)
            ax_b.errorbar([o.minute / 60.0], [o.value], yerr=[[o.value - o.lo], [o.hi - o.value]],
                          fmt=marker, color=style.OBSERVED_COLOUR, ms=4, mfc="white", mew=1.0,
                          capsize=2, label=_inbox_label(o, summary, "2016: " + text))
        ax_b.set_xlim(0, 12)
        top = max(450.0, float(inboxes["received_p95"][h <= 12].max()) * 1.1)
        ax_b.set_ylim(0, top)
        ax_b.set_ylabel("messages received per member")
        # (c) "remove me" messages per member, against the inbox with 187 in three hours
        ax_c.fill_between(h, inboxes["remove_me_p05"], inboxes["remove_me_p95"], lw=0,
                          color=style.REMOVE_COLOUR, alpha=0.2)
        ax_c.plot(h, inboxes["remove_me_p50"], color=style.REMOVE_COLOUR, lw=1.0,
                  label='model: "remove me" received,\n    median and 5-95 % of members')
        o = _obs("inbox_remove_me")
        ax_c.plot([o.minute / 60.0], [o.value], "v", color=style.OBSERVED_COLOUR, ms=5,
                  mfc="white", mew=1.0,
                  label=_inbox_label(o, summary, "2016: one inbox, 187 'please unsubscribe "
                                     "me' in 3 h [C]"))
        ax_c.set_xlim(0, 12)
        ax_c.set_ylim(0, max(220.0, float(inboxes["remove_me_p95"][h <= 12].max()) * 1.1))
        ax_c.set_ylabel('"remove me" received per member')
        for ax, letter in zip((ax_a, ax_b, ax_c), "abc", strict=True):
            _cutoff(ax, summary)
            ax.set_xlabel("hours after 08:29 (first send)")
            style.panel_label(ax, letter)
            ax.grid(axis="y", lw=0.3, color="0.85")
        _legend_below(fig, (ax_a, ax_b, ax_c), ncol=2)
        fig.suptitle("NHSmail, 14 Nov 2016: the model against each report, where and when it "
                     "was made" + _scale_note(summary))
        return style.save(fig, out_dir, stem)


def _legend_below(fig, axes, ncol: int) -> None:
    """One legend under the panels: every labelled artist once, then the cut-off line."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    handles.append(Line2D([], [], color=style.CUTOFF_COLOUR, ls="-.", lw=0.8))
    labels.append("model: list disabled (cut-off)")
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False,
               handlelength=1.8, columnspacing=1.5)


def draw_transport(results: Path, out_dir: Path, stem: str) -> list[Path]:
    """Draw figure 7: the transport against the 2016 reports.

    Panels: (a) queued deliveries; (b) delivery delay of storm and ordinary mail; (c) share
    of mail checks that fail.
    """
    series, summary = load_run(results)
    hours = series["minute"].to_numpy() / 60.0
    note = style.FONT_PT - 1.5
    with style.styled():
        fig = style.figure("two", 2.8)
        ax_a, ax_b, ax_c = fig.subplots(1, 3, sharex=True)
        backlog = series["backlog"].to_numpy()
        unit, unit_label = (1e6, "millions") if backlog.max() >= 1e6 else (1e3, "thousands")
        ax_a.plot(hours, backlog / unit, color=style.PALETTE[4], label="model: queued deliveries")
        degrade = summary.get("degrade_backlog")
        if degrade:
            ax_a.axhline(degrade / unit, color="0.5", lw=0.7, ls=":")
            ax_a.text(hours[-1], degrade / unit, "service degrades\nabove this backlog",
                      ha="right", va="bottom", fontsize=note, color="0.4")
        ax_a.set_ylabel(f"queued deliveries ({unit_label})")
        storm_delay = series["delay_min"].to_numpy(float) / 60.0
        normal_delay = series["normal_delay_min"].to_numpy(float) / 60.0
        # storm mail: a wide pale band; ordinary mail: a thin dark dashed line drawn on top,
        # so both stay visible where they coincide (one queue, no low-priority lane)
        ax_b.plot(hours, storm_delay, color=style.PALETTE[5], lw=3.2, alpha=0.45,
                  solid_capstyle="butt", label="model: delay of storm messages")
        ax_b.plot(hours, normal_delay, color=style.PALETTE[0], lw=0.9, ls=(0, (3, 1.5)),
                  label="model: delay of ordinary mail")
        same = bool(np.allclose(storm_delay, normal_delay, atol=1.0 / 60.0))
        if same and storm_delay.max() > 0:
            peak = int(np.argmax(storm_delay))
            ax_b.annotate("ordinary mail waits\nbehind the storm:\nthe delays coincide",
                          (hours[peak], storm_delay[peak]), xytext=(0.97, 0.66),
                          textcoords="axes fraction", ha="right", va="top", fontsize=note,
                          color="0.3", zorder=5,
                          bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none",
                                "alpha": 0.9},
                          arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5})
        elif storm_delay.max() > 0:
            ax_b.text(0.97, 0.66, "ordinary mail\nbypasses the\nstorm's queue",
                      transform=ax_b.transAxes, ha="right", va="top", fontsize=note,
                      color="0.3", zorder=5,
                      bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none",
                            "alpha": 0.9})
        delay = _obs("delay")
        ax_b.errorbar([delay.minute / 60.0], [delay.value / 60.0], fmt="o",
                      color=style.OBSERVED_COLOUR, ms=4, mfc="white", mew=1.0,
                      label=_inbox_label(delay, summary, '2016: mail "delayed by at least '
                                         'three hours", "up to three hours at midday" [R]',
                                         "longest delay at 12:00 (h)", unit=60.0))
        ax_b.set_ylabel("delivery delay (hours)")
        ax_c.plot(hours, 100.0 * series["unable_fraction"], color=style.PALETTE[7],
                  label="model: mail checks that fail")
        ax_c.set_ylabel("mail checks that fail (%)")
        ax_c.set_ylim(0, 100.0 * max(0.35, float(series["unable_fraction"].max()) * 1.25))
        ax_c.text(0.97, 0.97, "2016: some users could not\nreach Outlook Web Access [R]",
                  transform=ax_c.transAxes, ha="right", va="top", fontsize=note,
                  color=style.OBSERVED_COLOUR)
        for ax in (ax_a, ax_b):
            ax.axvline(CLEARED_MIN / 60.0, color=style.OBSERVED_COLOUR, lw=0.8, ls="--",
                       label="2016: queues cleared, 15 Nov 16:30 [R]")
        for ax, letter in zip((ax_a, ax_b, ax_c), "abc", strict=True):
            _cutoff(ax, summary)
            ax.set_xlabel("hours after 08:29 (first send)")
            ax.set_xlim(0, hours[-1] + 1.0 / 60.0)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", lw=0.3, color="0.85")
            style.panel_label(ax, letter)
        _legend_below(fig, (ax_a, ax_b, ax_c), ncol=2)
        fig.suptitle("The mail transport during the storm" + _scale_note(summary))
        return style.save(fig, out_dir, stem)
