"""The mean-field ODE of the storm: the engines' rules for a large population of identical users.

Units: time ``t`` in minutes after the first send; users; messages (reply-alls); deliveries
(one message placed in one inbox). ``L`` is the list size, ``C = capacity_per_min``.

**Checks.** Both engines let each user check with probability ``p = mean_check_rate(params)``
per whole minute (exponential intervals rounded up). The continuous rate with the same
survival ``(1 - p)^t`` is ``lam0 = -log(1 - p)`` (not ``p``: 2.5 % apart at a 20-minute
median); it is scaled by ``activity(t)`` and thinned by failed checks::

    lam(t) = lam0 * activity(t) * (1 - unable(Q)),   unable as in Transport.unable_fraction

**Transport (fluid).** ``A`` messages accepted (``A(0) = 1``: the original), ``S`` deliveries
made, ``G`` deliveries purged, ``Q = A L - S - G`` the backlog (an ODE state, so that it stays
accurate near zero). Replies sent at rate ``s(t)`` are accepted while ``t < ceil(cutoff_min)``
(the engines disable the list at the first whole minute ``>= cutoff_min``), else bounced::

    dA/dt = s [t < t_cut],   dQ/dt = L dA/dt - dS/dt,   dS/dt = C Q / (Q + C tau_q)

i.e. full speed while a queue exists and the inflow otherwise, smoothed over ``tau_q = 0.01``
minute of capacity. A purge at ``t_cut`` moves ``Q`` into ``G``. Delivered per member
``D = S / L``.

**What a check sees.** The engines decide at minute ``m`` on the deliveries made before it,
half a minute old on average; the ODE reads ``Ds``, ``D`` through a first-order lag with mean
``info_lag_min`` (0.5): ``dDs/dt = (D - Ds) / info_lag_min`` (``Ds = D`` if 0).

**Compartments.** ``U`` unaware members, ``R`` reading, ``P`` replied, ``M`` muted. An unaware
member at list position ``r`` holds exactly ``k`` or ``k + 1`` messages (``k = floor(Ds)``, the
latter with probability ``f = Ds - k``, positions being independent of checks), so its decision
is exact: it reads ``u = seen = k`` or ``k + 1`` (none if 0). Readers each hold ``u`` unread;
the totals ``W_R``, ``W_P`` obey ``dW_X/dt = X dDs/dt - lam W_X`` (users enter and leave right
after a check, with ``u = 0``). Their annoyance uses ``seen = Ds``. At a check the rule of
:mod:`.decision` acts with probability ``1 - exp(-H u)``; the **closure** takes ``u``
exponential with mean ``W_X / X`` (exact when ``D`` grows linearly, as while the transport is
saturated), so ``E[1 - exp(-H u)] = H ub / (1 + H ub)``, which is the rule's own
``action_probabilities`` at the effective count ``log(1 + H ub) / H``
(:func:`exponential_closure`). With per-check probabilities ``p_X = (remove, complain, mute)``
(averaged over managers and others, ``manager_fraction``; peers ``mean_degree E / n_users``
with ``E`` the users who ever replied)::

    dU/dt = -lam U min(1, Ds)
    dR/dt =  lam U min(1, Ds) - lam U (pU_r + pU_c + pU_m) - lam R (pR_r + pR_c + pR_m)
    dP/dt =  lam U (pU_r + pU_c) + lam R (pR_r + pR_c) - lam P pP_m
    dM/dt =  lam (U pU_m + R pR_m + P pP_m)
    s = lam sum_X X (pX_r + pX_c),  d(read)/dt = lam (U Ds + W_R + W_P)

Members not on the list stay unaware. Cumulative counters are states; per-minute values are
their differences over each whole minute.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from .checking import activity, mean_check_rate
from .decision import action_probabilities, hazards
from .errors import ParameterError
from .parameters import StormParams

_NAMES = [
    "U",
    "R",
    "P",
    "M",
    "WR",
    "WP",
    "Ds",
    "A",
    "S",
    "Q",
    "G",
    "sent_r",
    "sent_c",
    "bounced",
    "read",
    "E",
]
_I = {name: i for i, name in enumerate(_NAMES)}
_TAU_Q = 0.01  # minutes of capacity over which the fluid transport switches from full to idle


def exponential_closure(
    mean_unread: np.ndarray | float, total_hazard: np.ndarray | float
) -> np.ndarray:
    """Effective number of messages read at a check when the unread count is exponential.

    For ``u ~ Exp(mean ub)``, ``E[1 - exp(-H u)] = H ub / (1 + H ub) = 1 - exp(-H n)`` with
    ``n = log(1 + H ub) / H`` (messages; ``n -> ub`` as ``H -> 0``), so the decision rule
    applied to ``n`` gives the expected action probabilities of the whole distribution.
    """
    ub = np.asarray(mean_unread, dtype=np.float64)
    h = np.asarray(total_hazard, dtype=np.float64)
    x = h * ub
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 1e-12, np.log1p(x) / np.where(h > 0, h, 1.0), ub)


def _activity_breaks(params: StormParams, end: float) -> list[float]:
    """Minutes in (0, end) where ``activity`` jumps (clock edges of the working day)."""
    s, e = params.workday_start_h, params.workday_end_h
    out = []
    for edge in (s - 2.0, s, e, e + 2.0):
        first = ((edge - params.start_clock_h) % 24.0) * 60.0
        out += [first + 1440.0 * k for k in range(int(end // 1440) + 2)]
    return sorted(b for b in out if 0.0 < b < end)


def _rhs(
    t: float,
    y: np.ndarray,
    params: StormParams,
    lam0: float,
    active: bool,
    n_list: int,
    manager_fraction: float,
    mean_degree: float,
    info_lag: float,
) -> np.ndarray:
    """Right-hand side (per minute) for one piece with constant activity and list state."""
    un, rd, rp, _, w_r, w_p, ds = (max(v, 0.0) for v in y[:7])
    queue = max(y[_I["Q"]], 0.0)
    cap = float(params.capacity_per_min)
    deliver = cap * queue / (queue + cap * _TAU_Q)
    d_seen = deliver / n_list if info_lag <= 0 else (y[_I["S"]] / n_list - ds) / info_lag
    excess = (queue - params.degrade_backlog) / params.degrade_backlog
    lam = lam0 * (1.0 - params.unable_max * min(1.0, max(0.0, excess)))
    # Situations: [unaware holding k, unaware holding k+1, reading, replied] x [other, manager].
    k = math.floor(ds)
    f = ds - k
    readers = np.array([rd, rp])
    mean_unread = np.divide([w_r, w_p], readers, out=np.zeros(2), where=readers > 1e-12)
    seen = np.tile([k, k + 1.0, ds, ds], 2)
    replied = np.tile([False, False, False, True], 2)
    manager = np.repeat([False, True], 4)
    peers = mean_degree * y[_I["E"]] / params.n_users
    h = hazards(seen, peers, replied, manager, params)
    new = np.tile([k, k + 1.0, *mean_unread], 2)
    closed = [2, 3, 6, 7]
    new[closed] = exponential_closure(new[closed], (h.remove + h.complain + h.mute)[closed])
    probs = np.stack(action_probabilities(new, h))  # (remove, complain, mute) x situation
    probs = (1.0 - manager_fraction) * probs[:, :4] + manager_fraction * probs[:, 4:]
    pu = (1.0 - f) * probs[:, 0] + f * probs[:, 1]  # per check of an unaware member
    pr, pp = probs[:, 2], probs[:, 3]
    aware = lam * un * min(1.0, ds)
    first = lam * (un * (pu[0] + pu[1]) + rd * (pr[0] + pr[1]))
    send_r = lam * (un * pu[0] + rd * pr[0] + rp * pp[0])
    send_c = lam * (un * pu[1] + rd * pr[1] + rp * pp[1])
    dy = np.zeros_like(y)
    dy[_I["U"]] = -aware
    dy[_I["R"]] = aware - lam * un * pu.sum() - lam * rd * pr.sum()
    dy[_I["P"]] = first - lam * rp * pp[2]
    dy[_I["M"]] = lam * (un * pu[2] + rd * pr[2] + rp * pp[2])
    dy[_I["WR"]] = rd * d_seen - lam * w_r
    dy[_I["WP"]] = rp * d_seen - lam * w_p
    dy[_I["Ds"]] = d_seen
    dy[_I["A" if active else "bounced"]] = send_r + send_c
    dy[_I["S"]] = deliver
    dy[_I["Q"]] = (n_list * (send_r + send_c) if active else 0.0) - deliver
    dy[_I["sent_r"]], dy[_I["sent_c"]] = send_r, send_c
    dy[_I["read"]] = lam * (un * ds + w_r + w_p)
    dy[_I["E"]] = first
    return dy


def solve_ode(
    params: StormParams,
    *,
    t_eval: np.ndarray | None = None,
    list_size: int | None = None,
    mean_degree: float = 0.0,
    manager_fraction: float = 0.0,
    info_lag_min: float = 0.5,
    rtol: float = 1e-6,
    max_step: float = 0.5,
) -> pd.DataFrame:
    """Integrate the mean-field ODE; one row per minute, as the engines' series.

    Args:
        params: the scenario (validated here).
        t_eval: minutes ``m`` to report (default ``0 .. horizon_min - 1``); row ``m`` holds the
            state at the END of minute ``m`` (time ``m + 1``) and the flows during it, as
            row ``m`` of an engine's series.
        list_size: members of the list (users); default ``n_users``, required unless
            ``list_level`` is ``"directory"``.
        mean_degree: graph neighbours per user for the peer term (0: no peer effect).
        manager_fraction: share of users who manage a team (their probabilities averaged in).
        info_lag_min: mean age of the deliveries a check sees (minutes; 0.5 mimics the
            engines' whole-minute steps, 0 is the pure continuous-time model).
        rtol: LSODA relative tolerance.
        max_step: largest LSODA step (minutes).

    Returns:
        Columns ``minute, clock_h, sent_remove, sent_complain, accepted, bounced, delivered``
        (per minute; accepted excludes the original), ``backlog, purged`` (deliveries),
        ``received_per_user, read_per_user`` (cumulative means over members),
        ``unaware, reading, replied, muted`` (users, summing to ``n_users``), ``list_active``.
    """
    params = params.validate()
    if list_size is None:
        if params.list_level != "directory":
            raise ParameterError(
                "list_size", list_size, f"must be given for list_level={params.list_level!r}"
            )
        list_size = params.n_users
    if not 1 <= list_size <= params.n_users:
        raise ParameterError("list_size", list_size, f"must be in [1, {params.n_users}] (users)")
    if not 0.0 <= manager_fraction <= 1.0:
        raise ParameterError("manager_fraction", manager_fraction, "must be in [0, 1]")
    n_list = int(list_size)
    minutes = (
        np.arange(params.horizon_min, dtype=np.float64)
        if t_eval is None
        else np.asarray(t_eval, dtype=np.float64)
    )
    times = np.unique(np.concatenate([minutes, minutes + 1.0]))
    end = float(times.max())
    t_cut = math.ceil(params.cutoff_min) if math.isfinite(params.cutoff_min) else math.inf
    edges = sorted(
        {0.0, end, *_activity_breaks(params, end), *([float(t_cut)] if 0 < t_cut < end else [])}
    )
    lam0 = -math.log1p(-mean_check_rate(params))
    y = np.zeros(len(_NAMES))
    y[_I["U"]], y[_I["A"]], y[_I["Q"]] = n_list, 1.0, n_list
    states = np.empty((times.size, y.size))
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if params.purge_at_cutoff and a == max(float(t_cut), 0.0):
            y[_I["G"]] += max(y[_I["Q"]], 0.0)
            y[_I["Q"]] = 0.0
        states[times == a] = y if a == 0.0 else states[times == a]
        want = (times > a) & (times <= b)
        args = (
            params,
            lam0 * float(activity(0.5 * (a + b), params)),
            a < t_cut,
            n_list,
            manager_fraction,
            mean_degree,
            info_lag_min,
        )
        sol = solve_ivp(
            _rhs,
            (a, b),
            y,
            method="LSODA",
            t_eval=np.union1d(times[want], [b]),
            args=args,
            rtol=rtol,
            atol=1e-9 * n_list,
            max_step=max_step,
        )
        if not sol.success:
            raise RuntimeError(f"ODE integration failed on [{a}, {b}]: {sol.message}")
        states[want] = sol.y.T[np.isin(sol.t, times[want])]
        y = sol.y[:, -1].copy()
    return _frame(minutes, times, states, params, n_list, t_cut)


def _frame(
    minutes: np.ndarray,
    times: np.ndarray,
    states: np.ndarray,
    params: StormParams,
    n_list: int,
    t_cut: float,
) -> pd.DataFrame:
    """Build the per-minute series from the states at the start and end of each minute."""
    start = states[np.searchsorted(times, minutes)]
    stop = states[np.searchsorted(times, minutes + 1.0)]
    col = {name: stop[:, i] for name, i in _I.items()}
    flow = {name: stop[:, i] - start[:, i] for name, i in _I.items()}
    df = pd.DataFrame(
        {"minute": minutes, "clock_h": (params.start_clock_h + minutes / 60.0) % 24.0}
    )
    df["sent_remove"], df["sent_complain"] = flow["sent_r"], flow["sent_c"]
    df["accepted"], df["bounced"], df["delivered"] = flow["A"], flow["bounced"], flow["S"]
    df["backlog"], df["purged"] = np.maximum(col["Q"], 0.0), col["G"]
    df["received_per_user"], df["read_per_user"] = col["S"] / n_list, col["read"] / n_list
    df["unaware"] = col["U"] + (params.n_users - n_list)
    df["reading"], df["replied"], df["muted"] = col["R"], col["P"], col["M"]
    df["list_active"] = minutes < t_cut
    return df


def ode_summary(df: pd.DataFrame, params: StormParams) -> dict[str, Any]:
    """Headline numbers of an ODE series, named as in the engines' summary where they match.

    ``messages_per_user`` is the final ``received_per_user``; ``peak_time`` (minute) is when
    the backlog peaks; ``final_<state>`` are users at the end.
    """
    last = df.iloc[-1]
    peak = int(np.argmax(df["backlog"].to_numpy()))
    return {
        "n_users": params.n_users,
        "messages_per_user": float(last["received_per_user"]),
        "messages_read_per_user": float(last["read_per_user"]),
        "reply_alls_sent": float(df["sent_remove"].sum() + df["sent_complain"].sum()),
        "reply_alls_accepted": float(df["accepted"].sum()),
        "bounced": float(df["bounced"].sum()),
        "peak_backlog": float(df["backlog"].iloc[peak]),
        "peak_time": float(df["minute"].iloc[peak]),
        **{f"final_{s}": float(last[s]) for s in ("unaware", "reading", "replied", "muted")},
    }
