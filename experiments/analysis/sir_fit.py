"""Fit the queued SIR (:mod:`.queued_sir`) to a storm: reply-alls over time and inbox growth.

Two curves of a run are fitted together (``t`` in minutes after the first send):

* (a) the reply-all **incidence**, reply-alls sent per ``bin_min`` bin (bounced ones included:
  people go on replying while the backlog is read), by Poisson deviance;
* (b) the **messages received per member**, cumulative, at the end of each bin, by least
  squares; its final value is the storm's messages per user (2016: ~151).

The objective is ``-2 log L`` of a quasi-Poisson incidence and a Gaussian inbox curve:
``Q = deviance / phi + RSS_received / s^2``, with the dispersion ``phi`` (deviance per degree
of freedom) and ``s^2`` (mean squared inbox residual) estimated at a first fit and
then held, so that ``Q`` rises by ``chi2_1(level)`` at the edges of a profile-likelihood
interval (:mod:`.profile`; ``intervals="wald"`` gives Jacobian intervals instead). Parameters
are searched in log space within physical bounds (``spread`` in [0, 3]); the pool is the list
itself. Derived quantities (final size, peak minute, the uncut final size of the final-size
relation) get the range they take over the parameter vectors visited inside the profiles.

A row never raises on bad data; its ``status`` says what the fit is worth: ``no_storm``
(fewer than ``MIN_EVENTS`` reply-alls), ``too_few_points``, ``flat``, ``no_convergence``,
``poor_fit`` (R^2 of either curve below ``GOOD_R2``), ``boundary`` (a parameter stuck at a
search bound), ``unidentified`` (a profile interval open or wider than ``WIDE``-fold), or
``ok``. A figure or table must show any status but ``ok`` as flagged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.optimize import least_squares

from . import queued_sir
from .profile import profile
from .queued_sir import PARAMS

MIN_EVENTS = 10  # fewer reply-alls than this is "no storm"
MIN_BINS = 5  # fewer non-empty bins than this is "too few points"
GOOD_R2 = 0.9  # a fit below this on either curve is "poor_fit"
WIDE = 1e3  # an interval spanning more than this factor is "unidentified"
STEP_MIN = 5  # the fitted model's time step (minutes), when the bins allow it
LOG = np.array([True, True, True, True, False])  # log-space search, except spread
LO = np.array([math.log(1e-3), math.log(1e-7), math.log(1e-5), math.log(1e-4), 0.0])
HI = np.array([math.log(1e5), 0.0, math.log(1e4), 0.0, 3.0])


def _natural(x: np.ndarray) -> np.ndarray:
    return np.where(LOG, np.exp(np.minimum(x, 700.0)), x)


def _deviance_residuals(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    mu = np.maximum(mu, 1e-10)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return np.sign(y - mu) * np.sqrt(np.maximum(2.0 * (term - (y - mu)), 0.0))


class _Data:
    """The two curves of a series on bins, and what the model needs to be compared with them."""

    def __init__(self, series: pd.DataFrame, bin_min: int, until_min: float | None) -> None:
        minute = series["minute"].to_numpy(np.int64)
        self.step = int(minute[1] - minute[0]) if minute.size > 1 else 1
        per = max(1, math.ceil(bin_min / self.step))
        self.bin_min = per * self.step
        sent = (series["sent_remove"].to_numpy(float) + series["sent_complain"].to_numpy(float))
        received = series["received_per_user"].to_numpy(float)
        off = np.flatnonzero(~series["list_active"].to_numpy(bool))
        self.cutoff = float(minute[off[0]] - self.step + 1) if off.size else math.inf
        rows = sent.size if until_min is None else min(sent.size, int(until_min) // self.step)
        n = rows // per
        self.y = sent[: n * per].reshape(-1, per).sum(axis=1)
        self.received = received[per - 1 : n * per : per]
        self.minutes = n * self.bin_min
        self.dt = math.gcd(self.bin_min, STEP_MIN)
        self.clock = queued_sir.clock_activity(self.minutes, float(series["clock_h"].iloc[0]),
                                               dt=self.dt)
        self.events = float(sent[: n * per].sum())
        self.scale = np.ones(2)  # 1/sqrt(phi) and 1/s, set after the first fit

    def curves(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = queued_sir.simulate(_natural(x), self.minutes, self.cutoff, self.clock, self.dt)
        b = self.bin_min // self.dt
        return c.incidence.reshape(-1, b).sum(axis=1), c.received[b - 1 :: b]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self._residuals(np.atleast_2d(x))[0]

    def _residuals(self, xs: np.ndarray) -> np.ndarray:
        """Scaled residuals of a batch of parameter vectors (one row each)."""
        c = queued_sir.simulate(_natural(xs), self.minutes, self.cutoff, self.clock, self.dt)
        b = self.bin_min // self.dt
        inc = c.incidence.reshape(xs.shape[0], -1, b).sum(axis=2)
        rec = c.received[:, b - 1 :: b]
        out = np.concatenate([_deviance_residuals(self.y[None, :], inc) * self.scale[0],
                              (self.received[None, :] - rec) * self.scale[1]], axis=1)
        return np.where(np.isfinite(out), out, 1e6)

    def jacobian(self, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
        """Central-difference Jacobian of the scaled residuals, in one batched run."""
        h = np.eye(x.size) * step
        r = self._residuals(np.vstack([x + h, x - h]))
        return ((r[: x.size] - r[x.size :]) / (2 * step)).T


def _row(status: str, message: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"status": status, "message": message}
    for name in (*PARAMS, "final_size", "accepted_final", "peak_min", "final_size_uncut"):
        row.update({name: math.nan, f"{name}_lo": math.nan, f"{name}_hi": math.nan})
    return {**row, "r2_incidence": math.nan, "r2_received": math.nan, "dispersion": math.nan,
            "aic": math.nan, "intervals": "", **extra}


def _derived(data: _Data, x: np.ndarray) -> np.ndarray:
    """(final size, accepted reply-alls, peak minute, uncut final size) at ``x``."""
    th = _natural(x)
    c = queued_sir.simulate(th, data.minutes, data.cutoff, data.clock, data.dt)
    peak = (float(np.argmax(c.incidence)) + 0.5) * data.dt
    return np.array([c.incidence.sum(), c.accepted[-1] - 1.0, peak,
                     queued_sir.final_size_uncut(th[0], th[1])])


def fit_series(series: pd.DataFrame, *, bin_min: int = 30, level: float = 0.95,
               until_min: float | None = None, intervals: str = "profile",
               **extra: Any) -> dict[str, Any]:
    """Fit one run's series (``replyall run`` or sweep columns); ``extra`` joins the row.

    Args:
        series: per-minute (or thinned) series with ``minute``, ``clock_h``, ``sent_remove``,
            ``sent_complain``, ``received_per_user`` and ``list_active``.
        bin_min: bin width of the incidence (minutes; rounded up to the series' step).
        level: confidence level of the intervals.
        until_min: fit only the first minutes.
        intervals: ``"profile"`` (profile likelihood) or ``"wald"`` (Jacobian).
        **extra: columns that label the row (``source``, ``run_id``, ...).
    """
    if intervals not in ("profile", "wald"):
        raise ValueError("intervals must be profile or wald")
    try:
        data = _Data(series, bin_min, until_min)
    except (KeyError, ValueError, IndexError) as err:
        return {**extra, **_row("bad_input", f"series unusable: {err}")}
    base = {**extra, "bin_min": data.bin_min, "n_points": int(data.y.size),
            "n_events": data.events, "cutoff_min": data.cutoff, "level": level}
    if data.events < MIN_EVENTS:
        return _row("no_storm", f"{data.events:g} reply-alls (< {MIN_EVENTS})", **base)
    if np.count_nonzero(data.y) < MIN_BINS or data.y.size < len(PARAMS) + 3:
        return _row("too_few_points", f"{np.count_nonzero(data.y)} non-empty bins", **base)
    if np.ptp(data.y) == 0:
        return _row("flat", "constant incidence: no epidemic curve", **base)
    best = _search(data)
    if best is None:
        return _row("no_convergence", "least_squares did not converge", **base)
    try:
        return _summarise(data, best, level, intervals, base)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:
        return _row("no_convergence", f"summary failed: {err}", **base)


def _search(data: _Data) -> np.ndarray | None:
    """Best of a few starts under one objective, then the weights re-estimated and refined.

    The weights (``phi`` and ``s^2``, module docstring) come from a first fit of the default
    start with unit weights and are held while every start is fitted and ranked by the same
    objective ``Q``; the winner's weights are then re-estimated and it is refitted, and the
    weights are set from that final optimum. (Ranking starts each by its own weights cannot
    work: each start's own ``Q`` is ``(n - 5) + m`` however well it fits.)
    """
    total, final = data.events, max(float(data.received[-1]), 1.0)
    speed = max(float(np.max(np.diff(np.concatenate(([0.0], data.received))))) / data.bin_min,
                1e-4)
    starts = [np.clip(np.array([math.log(r0), math.log(mu), math.log(speed), math.log(kappa),
                                0.3]), LO + 1e-6, HI - 1e-6)
              for r0, mu, kappa in ((3.0 * total / final, 0.01, 0.05),
                                    (total / final, 1e-3, 0.02),
                                    (10.0 * total / final, 0.03, 0.1))]
    data.scale = np.ones(2)
    starts[0] = _least_squares(data, starts[0])
    data.scale = _weights(data, starts[0], final)
    best = None
    for x0 in starts:
        x = _least_squares(data, x0)
        cost = float(np.sum(data.residuals(x) ** 2))
        if np.isfinite(cost) and (best is None or cost < best[0]):
            best = (cost, x)
    if best is None:
        return None
    data.scale = _weights(data, best[1], final)
    x = _least_squares(data, best[1])
    data.scale = _weights(data, x, final)
    return x


def _least_squares(data: _Data, x0: np.ndarray) -> np.ndarray:
    """The optimum of ``Q`` under the current weights, from ``x0`` (fitted units)."""
    return least_squares(data.residuals, x0, jac=lambda z, *_: data.jacobian(z),
                         bounds=(LO, HI), max_nfev=200, ftol=1e-7, xtol=1e-7).x


def _weights(data: _Data, x: np.ndarray, final: float) -> np.ndarray:
    """The curves' weights ``1 / sqrt(phi)`` and ``1 / s`` at ``x``.

    ``phi``: the incidence's deviance per degree of freedom; ``s^2``: the inbox curve's mean
    squared residual (floored at ``(1e-4 final)^2``, messages per member squared).
    """
    inc, rec = data.curves(x)
    phi = np.sum(_deviance_residuals(data.y, inc) ** 2) / max(data.y.size - len(PARAMS), 1)
    s2 = max(float(np.mean((data.received - rec) ** 2)), (1e-4 * final) ** 2)
    return np.array([1.0 / math.sqrt(max(phi, 1e-3)), 1.0 / math.sqrt(s2)])


def _summarise(data: _Data, x: np.ndarray, level: float, intervals: str,
               base: dict[str, Any]) -> dict[str, Any]:
    """Estimates, intervals, goodness of fit and status at the optimum ``x``."""
    inc, rec = data.curves(x)
    theta = _natural(x)
    row = _row("ok", "", **base, intervals=intervals)
    row.update(dict(zip(PARAMS, theta, strict=True)))
    r2 = [1.0 - np.sum((y - m) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-300)
          for y, m in ((data.y, inc), (data.received, rec))]
    m = np.maximum(inc, 1e-10)
    loglik = float(np.sum(data.y * np.log(m) - m - special.gammaln(data.y + 1.0)))
    row.update(r2_incidence=float(r2[0]), r2_received=float(r2[1]),
               dispersion=float(np.sum(_deviance_residuals(data.y, inc) ** 2)
                                / max(data.y.size - len(PARAMS), 1)),
               aic=2 * len(PARAMS) - 2 * loglik)
    derived = _derived(data, x)
    for name, value in zip(("final_size", "accepted_final", "peak_min", "final_size_uncut"),
                           derived, strict=True):
        row[name] = float(value)
    jac = data.jacobian(x)
    cov = np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    visited = [x[None, :]]
    open_sides = []
    for k, name in enumerate(PARAMS):
        if intervals == "profile":
            prof = profile(data.residuals, x, k, se[k], LO, HI, level, jacobian=data.jacobian)
            lo_x, hi_x = prof.lo.value, prof.hi.value
            visited.append(prof.inside)
            if not prof.lo.closed and not (name == "spread" and lo_x == 0.0):
                open_sides.append(f"{name} below")
            if not prof.hi.closed:
                open_sides.append(f"{name} above")
        else:
            q = float(stats.norm.ppf(0.5 + level / 2))
            lo_x, hi_x = max(x[k] - q * se[k], LO[k]), min(x[k] + q * se[k], HI[k])
        lo_v, hi_v = (math.exp(lo_x), math.exp(hi_x)) if LOG[k] else (max(lo_x, 0.0), hi_x)
        row[f"{name}_lo"], row[f"{name}_hi"] = lo_v, hi_v
    if intervals == "profile":
        env = np.array([_derived(data, v) for v in np.unique(np.vstack(visited), axis=0)])
        for j, name in enumerate(("final_size", "accepted_final", "peak_min",
                                  "final_size_uncut")):
            row[f"{name}_lo"], row[f"{name}_hi"] = float(env[:, j].min()), float(env[:, j].max())
    return _status(row, x, open_sides)


def _status(row: dict[str, Any], x: np.ndarray, open_sides: list[str]) -> dict[str, Any]:
    at_bound = [p for k, p in enumerate(PARAMS)
                if (x[k] - LO[k] < 1e-3 and p != "spread") or HI[k] - x[k] < 1e-3]
    wide = [p for p in PARAMS[:4] if not row[f"{p}_hi"] < WIDE * row[f"{p}_lo"]]
    if min(row["r2_incidence"], row["r2_received"]) < GOOD_R2:
        row.update(status="poor_fit", message=f"R^2 {row['r2_incidence']:.2f} (reply-alls), "
                   f"{row['r2_received']:.3f} (inbox) below {GOOD_R2}: the model misses "
                   "this storm's shape")
    elif at_bound:
        row.update(status="boundary", message=f"{', '.join(at_bound)} at the search bound")
    elif open_sides or wide:
        what = ", ".join(open_sides + [f"{p} wider than x{WIDE:g}" for p in wide])
        row.update(status="unidentified", message=f"interval open: {what}")
    return row


def fitted_curves(row: dict[str, Any], minutes: int, start_clock_h: float) -> pd.DataFrame:
    """The fitted model's per-minute curves for a row of :func:`fit_series` (for figures)."""
    theta = np.array([row[p] for p in PARAMS], dtype=float)
    clock = queued_sir.clock_activity(minutes, start_clock_h)
    c = queued_sir.simulate(theta, minutes, row["cutoff_min"], clock)  # on the 1-minute grid
    return pd.DataFrame({"minute": np.arange(minutes), "incidence": c.incidence,
                         "received_per_user": c.received, "accepted": c.accepted,
                         "engaged": c.engaged})


def ensemble_mean(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise mean of several runs' series over their common rows (for one fit of many).

    The list counts as active while it is active in any run (runs that share a cut-off agree;
    with different cut-offs the forcing is approximate).
    """
    if not frames:
        raise ValueError("no series to average")
    n = min(len(f) for f in frames)
    cols = ["sent_remove", "sent_complain", "accepted", "received_per_user"]
    out = pd.DataFrame(sum(f[cols].iloc[:n].to_numpy(float) for f in frames) / len(frames),
                       columns=cols)
    out.insert(0, "minute", frames[0]["minute"].iloc[:n].to_numpy())
    out.insert(1, "clock_h", frames[0]["clock_h"].iloc[:n].to_numpy())
    out["list_active"] = np.logical_or.reduce([f["list_active"].iloc[:n].to_numpy(bool)
                                               for f in frames])
    return out
