"""The fitted model family: an SIR of messages with a delivery queue and engaged readers.

What shapes a reply-all storm, and what this model keeps of it (time ``t`` in minutes after
the first send, on the minute grid of the simulated series; per member of the list ``L``):

* **Exposure is through delivered messages.** The list has accepted ``A(t)`` messages (the
  original included); the transport delivers them at ``c`` messages per member per minute
  (its capacity over ``L``), so a member has received ``D(t + 1) = min(A(t), D(t) + c)``: the
  transport queue is the latent stage between sending and reading. With ``spread`` > 0 the
  members fall into five classes of delivery speed ``c exp(spread z - spread^2 / 2)``
  (Gauss-Hermite nodes ``z``, weights ``w``), as on mailbox databases of unequal capacity.
* **Reading lags delivery.** An engaged member reads ``r = (1 - exp(-kappa a)) (D - X)`` of
  its unread messages in a minute (``X``: read so far); ``a`` is the working-day activity,
  which follows the clock's rhythm (1 in working hours, 0.3 within two hours of them, 0.05 at
  night, as the model's defaults) at the pace of the checks themselves, ``a <- a + kappa a
  (a_clock - a)``: a user who checked late at night next checks hours later.
* **Messages read provoke reply-alls; readers leave by muting.** A message read by every
  engaged member provokes ``R0`` reply-alls; each message read makes an engaged reader mute
  at rate ``mu`` (``e <- e exp(-mu r)``, the engaged share). Reply-alls in a step come from
  the engaged share as it decays over the step's reading,
  ``i = R0 sum_q w_q e_q (1 - exp(-mu r_q)) / mu``. The pool is the list's engaged readers:
  ``L`` at the start (never more than the list), depleted by muting, which ends a storm.
* **The cut-off** (read from the series: the first minute the list is disabled, ``t_c``) is a
  forcing: from then on reply-alls are still sent (they bounce) but no longer accepted,
  ``A(t + 1) = A(t) + i(t) [t < t_c]``; the backlog is still delivered and read.

Final-size relation: without a cut-off, with unlimited capacity and every message read, a
storm accepts ``A`` messages with ``A = 1 + (R0 / mu) (1 - exp(-mu A))``
(:func:`final_size_uncut`); it takes off from one message only if ``R0 > 1`` (below, ``A``
stays near ``1 / (1 - R0)``), and ``A ~ R0 / mu`` once ``R0 >> 1``. ``R0`` is the branching
ratio of the messages at the start; later it is ``R0`` times the engaged share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from replyall_storm.model.checking import activity
from replyall_storm.model.parameters import StormParams

PARAMS = ("R0", "mu", "c", "kappa", "spread")
"""Fitted parameters, in order."""
UNITS = {"R0": "reply-alls per message read by the list", "mu": "per message read",
         "c": "messages per member per minute", "kappa": "per minute", "spread": "log-sd"}
CLASSES = 5  # delivery-speed classes when spread > 0
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(CLASSES)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_SINGLE = np.eye(1, CLASSES, CLASSES // 2)[0]  # all weight on the middle node (z = 0)


@dataclass(frozen=True)
class Curves:
    """The model's curves, one value per minute ``0 .. T-1`` (end of the minute)."""

    incidence: np.ndarray  # reply-alls sent in the minute
    received: np.ndarray  # messages received per member (mean over classes)
    accepted: np.ndarray  # messages accepted onto the list (the original included)
    engaged: np.ndarray  # share of members still reading the thread


def clock_activity(minutes: int, start_clock_h: float, params: StormParams | None = None,
                   dt: int = 1) -> np.ndarray:
    """The working-day rhythm (relative checking rate) at the middle of each ``dt``-minute step."""
    base = params or StormParams()
    mid = np.arange(0, minutes, dt) + (dt - 1) / 2.0
    return activity(mid, base.replace(start_clock_h=float(start_clock_h)))


def simulate(theta: np.ndarray | tuple[float, ...], minutes: int, cutoff: float,
             clock: np.ndarray, dt: int = 1) -> Curves:
    """Run the model for ``minutes`` minutes with parameters ``theta`` (see :data:`PARAMS`).

    Args:
        theta: ``(R0, mu, c, kappa, spread)`` in natural units, or a ``(B, 5)`` batch of them
            (the curves then have shape ``(B, steps)``: one pass for many parameter vectors,
            e.g. a finite-difference Jacobian).
        minutes: length of the run (minutes; a multiple of ``dt``).
        cutoff: first minute the list is disabled (``inf``: never).
        clock: the working-day rhythm at each step (:func:`clock_activity` with the same
            ``dt``).
        dt: minutes per step; the curves hold one value per step (its end). 1 is the
            engines' own grid; a few minutes is as good for bins of half an hour and that
            many times faster.
    """
    batch = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    r0, mu, c, kappa, spread = (batch[:, j : j + 1] for j in range(len(PARAMS)))
    w = np.where(spread > 0.0, _WEIGHTS[None, :], _SINGLE[None, :])
    speed = dt * np.where(spread > 0.0, c * np.exp(spread * _NODES[None, :] - spread**2 / 2.0),
                          c)
    received = np.zeros_like(speed)
    read = np.zeros_like(speed)
    engaged = np.ones_like(speed)
    accepted = np.ones((batch.shape[0], 1))
    a = np.full((batch.shape[0], 1), float(clock[0]))
    rate = kappa * dt
    steps = minutes // dt
    out = np.empty((4, batch.shape[0], steps))
    for t in range(steps):
        r = -np.expm1(-rate * a) * (received - read)
        # reply-alls from the engaged share as it decays over the step's messages read:
        # e * (1 - exp(-mu r)) / mu (= e * r as mu -> 0), so that the final-size relation holds
        leaving = -np.expm1(-mu * r)
        share = np.where(mu * r > 1e-12, leaving / np.where(mu > 0.0, mu, 1.0), r)
        i = np.sum(w * engaged * share, axis=1) * r0[:, 0]
        read += r
        engaged *= 1.0 - leaving
        if t * dt < cutoff:
            accepted[:, 0] += i
        np.minimum(accepted, received + speed, out=received)
        a += np.minimum(1.0, rate * a) * (clock[t] - a)
        out[0, :, t] = i
        out[1, :, t] = np.sum(w * received, axis=1)
        out[2, :, t] = accepted[:, 0]
        out[3, :, t] = np.sum(w * engaged, axis=1)
    if np.ndim(theta) == 1:
        out = out[:, 0, :]
    return Curves(incidence=out[0], received=out[1], accepted=out[2], engaged=out[3])


def final_size_uncut(r0: float, mu: float) -> float:
    """Messages a storm accepts with no cut-off, unlimited capacity and every message read.

    The root ``A >= 1`` of ``A = 1 + (R0 / mu) (1 - exp(-mu A))`` (messages). Below the
    threshold (``R0 < 1``) it stays near ``1 / (1 - R0)``, the geometric series of a
    subcritical cascade; above it, it approaches ``R0 / mu``. ``inf`` when ``mu = 0`` and
    ``R0 >= 1`` (nobody leaves: the storm never ends).
    """
    if r0 <= 0.0:
        return 1.0
    if mu <= 0.0:
        return 1.0 / (1.0 - r0) if r0 < 1.0 else math.inf

    def gap(a: float) -> float:
        return 1.0 + (r0 / mu) * -math.expm1(-mu * a) - a

    top = 1.0 + r0 / mu
    if r0 < 1.0:
        top = min(top, 1.0 / (1.0 - r0))
    return float(brentq(gap, 1.0, top + 1.0))
