"""The mean-field ODE of the storm: the engines' rules for a large population of identical users.

Units: minutes after the first send; users; messages (reply-alls); deliveries (one message in
one inbox). ``L`` is the list size, ``C = capacity_per_min``.

**Checks.** The engines let a user check with probability ``p = mean_check_rate(params)`` per
whole minute; the rate with the same survival ``(1 - p)^t`` is ``-log(1 - p)`` (not ``p``,
2.5 % apart at 20 minutes), times ``activity(t)``, thinned by failed checks::

    lam(t) = -log(1 - p) * activity(t) * (1 - unable(Q))    (unable: Transport.unable_fraction)

**Transport (fluid).** ``A`` messages accepted (``A(0) = 1``, the original), ``S`` deliveries,
``G`` purged, backlog ``Q = A L - S - G`` (a state, accurate near 0). Reply-alls sent at rate
``s`` are accepted while ``t < t_cut = ceil(cutoff_min)`` (the engines disable the list at the
first whole minute ``>= cutoff_min``), else bounced; a purge at ``t_cut`` moves ``Q`` to ``G``::

    dA/dt = s [t < t_cut],   dQ/dt = L dA/dt - dS/dt,   dS/dt = C (1 - exp(-Q / 0.01 C))

(full speed while a queue exists, the inflow otherwise). Delivered per member ``D = S / L``.

**What a check sees.** A check in minute ``m`` sees deliveries made before ``m``; the ODE's
checks see ``Ds``, ``D`` through a lag of mean ``info_lag_min`` (0.5 minute):
``dDs/dt = (D - Ds) / info_lag_min``, started at ``Ds(0) = -info_lag_min C / L`` so that
during the first delivery ``Ds(t) = D(t - info_lag_min)`` exactly.

**Unaware members** (``U``). Member ``x`` of the list holds ``ceil(D - x)`` messages. While
``Ds < 1`` only the ``L Ds`` members reached by the original can read, and since checks do not
change the others, ``L (1 - Ds)`` unaware members are unreached (not ``U (1 - Ds)``): the
reached unaware ``U - L (1 - min(1, Ds))`` read at rate ``lam``. They hold ``k = floor(Ds)``
messages, or ``k + 1`` with probability ``Ds - k`` (exactly 1 while ``Ds < 1``), and read
them all: ``new = seen = k`` or ``k + 1``, no closure needed.

**Readers** (``R`` reading, ``P`` replied) hold the original, so their inboxes grow at
``g = dDs/dt`` only once ``Ds >= 1``; ``seen = max(Ds, 1)``. Each holds ``u`` unread; since
users enter and leave ``R``, ``P`` right after a check (``u = 0``), the sums ``W = sum u`` and
``Z = sum u^2`` obey ``dW/dt = X g - lam W`` and ``dZ/dt = 2 g W - lam Z`` exactly. The rule of
:mod:`.decision` acts with probability ``1 - exp(-H u)``; the **closure** takes ``u`` gamma
with that mean and variance (:func:`.closures.unread_closure`; ``closure="exponential"`` uses
the mean only, ``E[1 - exp(-H u)] = H ub / (1 + H ub)``, biased because a reader's time since
its last check is cut at its entry). The rule's own ``hazards`` and ``action_probabilities``
give the per-check probabilities ``pX = (remove, complain, mute)`` (managers and others averaged by
``manager_fraction``; peers ``mean_degree E / n_users``, ``E`` users who ever replied)::

    dU/dt = -a,    a = lam (U - L (1 - min(1, Ds)))
    dR/dt =  a (1 - sum pU) - lam R sum pR
    dP/dt =  a (pU_r + pU_c) + lam R (pR_r + pR_c) - lam P pP_m
    dM/dt =  a pU_m + lam (R pR_m + P pP_m)
    s = a (pU_r + pU_c) + lam sum_{X=R,P} X (pX_r + pX_c),   d(read)/dt = a Ds + lam (W_R + W_P)

Members not on the list stay unaware. Cumulative counters are states; a minute's flows are
their differences over it. The audience warning, sender restriction and low-priority queue
are followed; storm protection and per-sender rate limits are not modelled, nor several
mailbox databases (``n_databases`` must be 1).

**Perception mechanisms** (:mod:`.decision`). Diffusion of responsibility is the rule's own
``hazards`` at the list size; limited attention skims a check's exposure, ``x(u) = u / (1 + u /
attention_span)``, which the closure integrates over the gamma law of ``u`` by quadrature
(:func:`.closures.exposure_closure`); relevance through the organisation enters as the mean
weight of a message (``relevance_mean``), which ignores that relevant messages cluster around
those who replied: for relevance the ODE is a mean-field bound, not the ABM's large-N limit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from .checking import activity, mean_check_rate
from .closures import exposure_closure
from .decision import action_probabilities, attention, hazards
from .errors import ParameterError
from .parameters import StormParams

_NAMES = "U R P M WR WP ZR ZP Ds A S Q G sent_r sent_c bounced read E".split()
_I = {name: i for i, name in enumerate(_NAMES)}
_TAU_Q = 0.01  # minutes of capacity over which the fluid transport switches from full to idle


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
    opts: dict[str, Any],
) -> np.ndarray:
    """Right-hand side (per minute) for one piece with constant activity and list state."""
    un, rd, rp, w_r, w_p, z_r, z_p = (max(y[_I[n]], 0.0) for n in _NAMES[:8] if n != "M")
    ds = max(y[_I["Ds"]], 0.0)
    queue = max(y[_I["Q"]], 0.0)
    cap = float(params.capacity_per_min)
    deliver = -cap * math.expm1(-queue / (cap * _TAU_Q))
    lag = opts["info_lag_min"]
    d_seen = deliver / n_list if lag <= 0 else (y[_I["S"]] / n_list - y[_I["Ds"]]) / lag
    excess = (queue - params.degrade_backlog) / params.degrade_backlog  # Transport.unable_...
    unable = 0.0 if params.low_priority_queue else min(1.0, max(0.0, excess))
    lam = lam0 * (1.0 - params.unable_max * unable)
    # Situations: [unaware holding k, unaware holding k+1, reading, replied] x [other, manager].
    k = math.floor(ds)
    f = ds - k
    seen = np.tile([k, k + 1.0, max(ds, 1.0), max(ds, 1.0)], 2)
    replied = np.tile([False, False, False, True], 2)
    manager = np.repeat([False, True], 4)
    peers = opts["mean_degree"] * y[_I["E"]] / params.n_users
    h = hazards(seen, peers, replied, manager, params, opts["audience_visible"],
                list_size=n_list)
    readers = np.array([rd, rp])
    some = readers > 1e-12
    mean = np.divide([w_r, w_p], readers, out=np.zeros(2), where=some)
    var = np.divide([z_r, z_p], readers, out=np.zeros(2), where=some) - mean**2
    if opts["closure"] == "exponential":
        var = mean**2
    closed = [2, 3, 6, 7]
    weight, span = opts["relevance_mean"], params.attention_span
    new = np.tile([k, k + 1.0, *mean], 2)
    new[closed] = exposure_closure(
        new[closed], np.tile(np.maximum(var, 0.0), 2), (h.remove + h.complain + h.mute)[closed],
        weight, span,
    )
    opened = [0, 1, 4, 5]  # unaware members read exactly k or k + 1 messages
    new[opened] = weight * new[opened] * attention(new[opened], params)
    probs = np.stack(action_probabilities(new, h))  # (remove, complain, mute) x situation
    mf = opts["manager_fraction"]
    probs = (1.0 - mf) * probs[:, :4] + mf * probs[:, 4:]
    w_k = 1.0 - f if k >= 1 else 0.0  # share of reached unaware members holding k messages
    pu = w_k * probs[:, 0] + (1.0 - w_k) * probs[:, 1]  # per check of a reached unaware
    pr, pp = probs[:, 2], probs[:, 3]
    # Only unaware members already reached by the original can read at a check; the others,
    # L (1 - min(1, Ds)) of them, all stay unaware.
    aware = lam * max(un - n_list * (1.0 - min(1.0, ds)), 0.0)
    pu = pu * aware  # flows out of U per action (users/min)
    first = pu[0] + pu[1] + lam * rd * (pr[0] + pr[1])
    send_r = pu[0] + lam * (rd * pr[0] + rp * pp[0])
    send_c = pu[1] + lam * (rd * pr[1] + rp * pp[1])
    dy = np.zeros_like(y)
    dy[_I["U"]] = -aware
    dy[_I["R"]] = aware - pu.sum() - lam * rd * pr.sum()
    dy[_I["P"]] = first - lam * rp * pp[2]
    dy[_I["M"]] = pu[2] + lam * (rd * pr[2] + rp * pp[2])
    # Readers hold the original already: while Ds < 1 the growth of Ds is first messages to
    # members not yet reached, so readers' inboxes grow only once Ds >= 1.
    gain = d_seen if ds >= 1.0 else 0.0
    dy[_I["WR"]], dy[_I["WP"]] = rd * gain - lam * w_r, rp * gain - lam * w_p
    dy[_I["ZR"]], dy[_I["ZP"]] = 2.0 * w_r * gain - lam * z_r, 2.0 * w_p * gain - lam * z_p
    dy[_I["Ds"]] = d_seen
    dy[_I["A" if active else "bounced"]] = send_r + send_c
    dy[_I["S"]] = deliver
    dy[_I["Q"]] = (n_list * (send_r + send_c) if active else 0.0) - deliver
    dy[_I["sent_r"]], dy[_I["sent_c"]] = send_r, send_c
    dy[_I["read"]] = aware * (k + 1.0 - w_k) + lam * (w_r + w_p)
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
    closure: str = "gamma",
    relevance_mean: float | None = None,
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
        closure: law of a reader's unread count at a check, ``"gamma"`` (mean and variance
            tracked) or ``"exponential"`` (mean only).
        relevance_mean: mean weight of a message read (relevance through the organisation,
            :func:`.relevance.mean_relevance` of the list); required when ``relevance_boost``
            is not 1. The mean field ignores that relevant messages cluster where replies
            come from, so it is a lower bound on the ABM's storm, not its limit.
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
    if closure not in ("gamma", "exponential"):
        raise ParameterError("closure", closure, "must be one of gamma, exponential")
    n_list = int(list_size)
    if params.n_databases != 1:
        raise ParameterError("n_databases", params.n_databases,
                             "must be 1 for the mean-field ODE (it has one transport queue)")
    if relevance_mean is None:
        if params.relevance_boost != 1.0:
            raise ParameterError("relevance_mean", None, "must be given when relevance_boost "
                                 "is not 1 (model.relevance.mean_relevance of the list)")
        relevance_mean = 1.0
    if not relevance_mean > 0:
        raise ParameterError("relevance_mean", relevance_mean, "must be > 0 (mean weight)")
    if (params.storm_protection and n_list >= params.sp_min_recipients) or math.isfinite(
        params.rate_limit_per_hour
    ):
        raise ParameterError(
            "storm_protection",
            params.storm_protection,
            "storm protection and per-sender rate limits are not in the mean-field ODE",
        )
    restricted = params.sender_restriction and n_list > params.sr_min_list_size
    opts = {
        "manager_fraction": manager_fraction,
        "mean_degree": mean_degree,
        "info_lag_min": info_lag_min,
        "closure": closure,
        "relevance_mean": float(relevance_mean),
        "audience_visible": params.audience_visible
        or (params.audience_warning and n_list > params.warning_threshold),
    }
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
    # The lag starts in its steady state for the first delivery rate (a pure delay on a ramp).
    y[_I["Ds"]] = -info_lag_min * min(params.capacity_per_min, n_list) / n_list
    states = np.empty((times.size, y.size))
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if params.purge_at_cutoff and a == max(float(t_cut), 0.0):
            y[_I["G"]] += max(y[_I["Q"]], 0.0)
            y[_I["Q"]] = 0.0
        if a == 0.0:
            states[times == 0.0] = y
        want = (times > a) & (times <= b)
        args = (
            params,
            lam0 * float(activity(0.5 * (a + b), params)),
            a < t_cut and not restricted,
            n_list,
            opts,
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
