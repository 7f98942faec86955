"""Fit an SIR model with a cut-off forcing to a storm's reply-all curve.

A plain SIR over all ``L`` list members cannot fit a storm in which ~0.02 % of them reply:
the susceptible pool never depletes visibly. The model fitted here is an SIR over an
*effective pool of would-be reply-alls* (time ``t`` in minutes after the first send)::

    dS/dt = -beta S I                      S(0) = S0      (fitted)
    dI/dt =  f(t) beta S I - gamma I       I(0) = 1       (the original message)
    C(t)  =  S0 - S(t)                     cumulative reply-alls sent
    f(t)  =  1 before the cut-off t_c, 0 after

Infection is *sending a reply-all*; ``I`` counts live messages (delivered or queued and still
being read), each read by the engaged pool at rate ``beta`` per would-be reply-all per
message per minute; a message stops provoking replies at rate ``gamma`` per minute (``1/gamma``
is its mean active life, transport delay included). The admin cut-off is a known forcing read
from the series (``list_active``): later reply-alls are still *sent* (they bounce) but no longer
create live messages. ``R0 = beta S0 / gamma`` is the number of reply-alls one message
provokes in a fresh pool. Curves: ``sent`` (every reply-all, bounced ones included) or
``accepted`` (reply-alls the list took, ``A(t) = C(min(t, t_c))``).

Fitting (``scipy.optimize.least_squares`` on log parameters, solutions by ``solve_ivp``):

* ``form="incidence"`` (default): reply-alls per ``bin_min`` bin, residuals on the Anscombe
  scale ``2(sqrt(y + 3/8) - sqrt(mu + 3/8))`` (variance ~1 for Poisson counts);
* ``form="cumulative"``: cumulative counts, plain residuals. Cumulative residuals are
  autocorrelated, so their Jacobian intervals are too narrow: prefer ``incidence``.

Intervals: covariance ``s^2 (J^T J)^-1`` of the log parameters from the Jacobian at the optimum
(``s^2`` = residual variance, so over-dispersion widens them), Student-t quantiles with ``n - 3``
degrees of freedom; ``R0`` is linear in the log parameters (exact delta method); peak time and
final size use the delta method with a finite-difference gradient. Goodness of fit: R^2 and RMSE
on the fitted curve's own scale, AIC = ``n ln(RSS/n) + 2k`` on the residual scale.

Degenerate inputs never raise: the row's ``status`` says why (``no_storm``, ``too_few_points``,
``flat``, ``no_convergence``, ``unidentifiable``, ``boundary``) and estimates are NaN or flagged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

CURVES = ("sent", "accepted")
FORMS = ("incidence", "cumulative")
PARAMS = ("beta", "gamma", "S0")
MIN_EVENTS = 10  # fewer reply-alls than this is "no storm"
MIN_BINS = 5  # fewer non-empty bins than this is "too few points"


def storm_counts(series: pd.DataFrame, curve: str = "sent") -> tuple[np.ndarray, float]:
    """Reply-alls per minute of ``curve`` and the cut-off minute (inf if never cut)."""
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {', '.join(CURVES)}")
    if curve == "sent":
        counts = series["sent_remove"].to_numpy(float) + series["sent_complain"].to_numpy(float)
    else:
        counts = series["accepted"].to_numpy(float).copy()
        counts[0] = max(counts[0] - 1.0, 0.0)  # the original message is I(0), not a reply
    cut = np.flatnonzero(~series["list_active"].to_numpy(bool))
    return counts, float(series["minute"].iloc[cut[0]]) if cut.size else math.inf


def sir_cumulative(
    edges: np.ndarray,
    beta: float,
    gamma: float,
    s0: float,
    cutoff: float = math.inf,
    curve: str = "sent",
    i0: float = 1.0,
) -> np.ndarray:
    """Model cumulative reply-alls ``C`` (or accepted ones) at times ``edges`` (minutes)."""

    def rhs_on(_t: float, y: np.ndarray) -> list[float]:
        inf = beta * y[0] * y[1]
        return [-inf, inf - gamma * y[1]]

    def rhs_off(_t: float, y: np.ndarray) -> list[float]:
        return [-beta * y[0] * y[1], -gamma * y[1]]

    edges = np.asarray(edges, dtype=float)
    s = np.empty_like(edges)
    t_end = float(edges[-1])
    y0 = np.array([s0, i0])
    split = min(cutoff, t_end)
    on = edges <= split
    opts = {"method": "LSODA", "rtol": 1e-7, "atol": 1e-9}
    t_on = np.union1d(edges[on], [split])
    sol = solve_ivp(rhs_on, (0.0, max(split, 1e-9)), y0, t_eval=t_on, **opts)
    if not sol.success:
        raise RuntimeError(sol.message)
    s[on] = sol.y[0][np.searchsorted(t_on, edges[on])]
    if (~on).any():
        y1 = sol.y[:, -1]
        sol2 = solve_ivp(rhs_off, (split, t_end), y1, t_eval=edges[~on], **opts)
        if not sol2.success:
            raise RuntimeError(sol2.message)
        s[~on] = sol2.y[0] if curve == "sent" else y1[0]
    return s0 - s


def _model_target(
    theta: np.ndarray, edges: np.ndarray, cutoff: float, curve: str, form: str
) -> np.ndarray:
    beta, gamma, s0 = np.exp(theta)
    c = sir_cumulative(edges, beta, gamma, s0, cutoff, curve)
    return np.diff(c) if form == "incidence" else c[1:]


def _residuals(
    theta: np.ndarray, y: np.ndarray, edges: np.ndarray, cutoff: float, curve: str, form: str
) -> np.ndarray:
    try:
        mu = _model_target(theta, edges, cutoff, curve, form)
    except (RuntimeError, ValueError, FloatingPointError):
        return np.full(y.size, 1e6)
    if form == "incidence":
        return deviance_residuals(y, mu)
    return y - mu


def deviance_residuals(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Poisson deviance residuals: their sum of squares is the deviance, so least squares
    on them is the Poisson maximum-likelihood fit."""
    mu = np.maximum(mu, 1e-10)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return np.sign(y - mu) * np.sqrt(np.maximum(2.0 * (term - (y - mu)), 0.0))


def _empty_row(status: str, message: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"status": status, "message": message}
    for name in (*PARAMS, "R0", "peak_min", "final_size"):
        row.update({name: math.nan, f"{name}_lo": math.nan, f"{name}_hi": math.nan})
    row.update(r2=math.nan, rmse=math.nan, aic=math.nan, infectious_period_min=math.nan)
    row.update(extra)
    return row


def _peak_and_final(
    theta: np.ndarray, horizon: float, cutoff: float, curve: str
) -> tuple[float, float]:
    dt = 0.25
    grid = np.arange(0.0, horizon + dt / 2, dt)
    c = sir_cumulative(grid, *np.exp(theta), cutoff, curve)
    rate = np.diff(c)
    i = int(np.argmax(rate))
    shift = 0.0
    if 0 < i < rate.size - 1:  # parabola through the three rates around the maximum
        a, b, d = rate[i - 1], rate[i], rate[i + 1]
        curv = a - 2 * b + d
        shift = 0.5 * (a - d) / curv if curv < 0 else 0.0
    return float(grid[i] + dt / 2 + shift * dt), float(c[-1])


def fit_counts(
    counts: np.ndarray,
    cutoff: float = math.inf,
    *,
    curve: str = "sent",
    form: str = "incidence",
    bin_min: int = 5,
    level: float = 0.95,
    min_events: int = MIN_EVENTS,
) -> dict[str, Any]:
    """Fit the forced SIR to reply-alls per minute ``counts``; one result row (never raises).

    Args:
        counts: reply-alls in each minute ``[m, m+1)`` after the first send.
        cutoff: minute the list was disabled (inf = never).
        curve: which curve ``counts`` is (``sent`` or ``accepted``), for the forcing.
        form: ``incidence`` (per bin, Anscombe residuals) or ``cumulative``.
        bin_min: bin width (minutes) of the incidence.
        level: confidence level of the intervals.
        min_events: fewer reply-alls than this is flagged ``no_storm``.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}")
    counts = np.nan_to_num(np.asarray(counts, dtype=float))
    n_min = counts.size // bin_min * bin_min
    y_inc = counts[:n_min].reshape(-1, bin_min).sum(axis=1) if n_min else np.zeros(0)
    total = float(counts.sum())
    base = {
        "curve": curve,
        "form": form,
        "bin_min": bin_min,
        "n_points": int(y_inc.size),
        "n_events": total,
        "cutoff_min": cutoff,
    }
    if total < min_events:
        return _empty_row("no_storm", f"{total:g} reply-alls (< {min_events})", **base)
    if np.count_nonzero(y_inc) < MIN_BINS or y_inc.size < len(PARAMS) + 3:
        return _empty_row("too_few_points", f"{np.count_nonzero(y_inc)} non-empty bins", **base)
    if np.ptp(y_inc) == 0:
        return _empty_row("flat", "constant incidence: no epidemic curve", **base)
    edges = np.arange(y_inc.size + 1, dtype=float) * bin_min
    y = y_inc if form == "incidence" else np.cumsum(y_inc)
    lo = np.log([1e-12, 1e-4, 0.5 * total])
    hi = np.log([10.0, 10.0, max(1e4 * total, 1e7)])
    best = None
    for r0, life in ((2.0, 20.0), (5.0, 100.0), (1.5, 400.0), (20.0, 30.0)):
        s0 = 1.5 * total
        x0 = np.clip(np.log([r0 / (life * s0), 1.0 / life, s0]), lo + 1e-6, hi - 1e-6)
        try:
            res = least_squares(
                _residuals,
                x0,
                bounds=(lo, hi),
                x_scale=1.0,
                method="trf",
                args=(y, edges, cutoff, curve, form),
                max_nfev=400,
            )
        except (RuntimeError, ValueError, FloatingPointError):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None or best.status <= 0 or not np.isfinite(best.cost):
        return _empty_row("no_convergence", "least_squares did not converge", **base)
    theta = best.x
    return _summarise_fit(theta, best, y, y_inc, edges, cutoff, curve, form, level, lo, hi, base)


def _summarise_fit(
    theta: np.ndarray,
    res: Any,
    y: np.ndarray,
    y_inc: np.ndarray,
    edges: np.ndarray,
    cutoff: float,
    curve: str,
    form: str,
    level: float,
    lo: np.ndarray,
    hi: np.ndarray,
    base: dict[str, Any],
) -> dict[str, Any]:
    n, k = y.size, len(PARAMS)
    mu = _model_target(theta, edges, cutoff, curve, form)
    ss_res = float(np.sum((y - mu) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    row = _empty_row("ok", "", **base)
    if form == "incidence":  # Poisson log-likelihood
        m = np.maximum(mu, 1e-10)
        loglik = float(np.sum(y * np.log(m) - m - special.gammaln(y + 1.0)))
    else:  # Gaussian, variance estimated
        loglik = -0.5 * n * (math.log(2 * math.pi * max(ss_res, 1e-300) / n) + 1.0)
    row.update(
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        rmse=math.sqrt(ss_res / n),
        aic=2 * k - 2 * loglik,
    )
    horizon = float(edges[-1])
    peak, final = _peak_and_final(theta, horizon, cutoff, curve)
    beta, gamma, s0 = np.exp(theta)
    row.update(
        beta=beta,
        gamma=gamma,
        S0=s0,
        R0=beta * s0 / gamma,
        peak_min=peak,
        final_size=final,
        infectious_period_min=1.0 / gamma,
    )
    at_bound = (theta - lo < 1e-3) | (hi - theta < 1e-3)
    jac = np.empty((n, k))  # d mu / d log-parameter, central differences
    for i in range(k):
        step = np.zeros(k)
        step[i] = 1e-4
        jac[:, i] = (
            _model_target(theta + step, edges, cutoff, curve, form)
            - _model_target(theta - step, edges, cutoff, curve, form)
        ) / 2e-4
    if form == "incidence":  # Pearson scaling: J^T J is then the Poisson Fisher information
        w = 1.0 / np.sqrt(np.maximum(mu, 1e-10))
        jac = jac * w[:, None]
        s2 = float(np.sum(((y - mu) * w) ** 2)) / max(n - k, 1)
    else:
        s2 = ss_res / max(n - k, 1)
    jtj = jac.T @ jac
    if not np.all(np.isfinite(jtj)) or np.linalg.cond(jtj) > 1e14:
        row.update(status="unidentifiable", message="singular Jacobian: no intervals")
        return row
    cov = s2 * np.linalg.inv(jtj)
    q = float(stats.t.ppf(0.5 + level / 2, max(n - k, 1)))
    for i, name in enumerate(PARAMS):
        se = math.sqrt(max(cov[i, i], 0.0))
        row[f"{name}_lo"], row[f"{name}_hi"] = (
            math.exp(theta[i] - q * se),
            math.exp(theta[i] + q * se),
        )
    a = np.array([1.0, -1.0, 1.0])  # log R0 = log beta - log gamma + log S0
    se_r0 = math.sqrt(max(float(a @ cov @ a), 0.0))
    row["R0_lo"], row["R0_hi"] = row["R0"] * math.exp(-q * se_r0), row["R0"] * math.exp(q * se_r0)
    grads = np.zeros((2, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = 1e-4
        up = _peak_and_final(theta + step, horizon, cutoff, curve)
        down = _peak_and_final(theta - step, horizon, cutoff, curve)
        grads[:, i] = (np.array(up) - np.array(down)) / 2e-4
    for j, name in enumerate(("peak_min", "final_size")):
        se = math.sqrt(max(float(grads[j] @ cov @ grads[j]), 0.0))
        row[f"{name}_lo"], row[f"{name}_hi"] = row[name] - q * se, row[name] + q * se
    if at_bound.any():
        names = ", ".join(p for p, b in zip(PARAMS, at_bound, strict=True) if b)
        row.update(status="boundary", message=f"{names} at the search bound: not identified")
    return row


def fit_series(
    series: pd.DataFrame,
    *,
    curve: str = "sent",
    form: str = "incidence",
    bin_min: int = 5,
    level: float = 0.95,
    until_min: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Fit one run's per-minute series (``replyall run`` columns); ``extra`` joins the row."""
    try:
        counts, cutoff = storm_counts(series, curve)
    except (KeyError, ValueError) as err:
        return {**_empty_row("bad_input", f"series lacks {err}"), **extra}
    if until_min is not None:
        counts = counts[: int(until_min)]
    return {
        **extra,
        **fit_counts(counts, cutoff, curve=curve, form=form, bin_min=bin_min, level=level),
    }


def ensemble_mean(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-minute mean of several runs' series over their common minutes (list_active: any)."""
    if not frames:
        raise ValueError("no series to average")
    n = min(len(f) for f in frames)
    cols = ["sent_remove", "sent_complain", "accepted"]
    mean = sum(f[cols].iloc[:n].to_numpy(float) for f in frames) / len(frames)
    out = pd.DataFrame(mean, columns=cols)
    out.insert(0, "minute", np.arange(n))
    out["list_active"] = np.logical_or.reduce(
        [f["list_active"].iloc[:n].to_numpy(bool) for f in frames]
    )
    return out
