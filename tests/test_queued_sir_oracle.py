"""The fitted family (experiments/analysis/queued_sir.py) against a slow scalar reference.

The reference below is written from the module docstring's equations, one member class and
one minute at a time in plain Python floats, with none of the vectorised code's batching,
masks or in-place updates: if the two disagree, one of them does not say what the docstring
says. The clocks used switch between night and day, so that the reading rate, the pace at
which activity follows the clock, and the middle-of-step clock are all exercised.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from replyall_storm.experiments.analysis import queued_sir
from replyall_storm.model.checking import activity
from replyall_storm.model.parameters import StormParams


def reference(theta, minutes: int, cutoff: float, clock, dt: int = 1) -> dict[str, list]:
    """``(R0, mu, c, kappa, spread)``: the docstring's model, class by class, step by step."""
    r0, mu, c, kappa, spread = (float(v) for v in theta)
    if spread > 0.0:
        nodes, weights = np.polynomial.hermite_e.hermegauss(5)
        classes = [(float(w / weights.sum()), c * math.exp(spread * z - spread**2 / 2))
                   for z, w in zip(nodes, weights, strict=True)]
    else:
        classes = [(1.0, c)]
    received = [0.0] * len(classes)  # D per class
    read = [0.0] * len(classes)  # X per class
    engaged = [1.0] * len(classes)  # e per class
    accepted = 1.0  # the original message
    a = float(clock[0])
    out = {"incidence": [], "received": [], "accepted": [], "engaged": []}
    for t in range(minutes // dt):
        incidence = 0.0
        for q, (w, _) in enumerate(classes):
            r = (1.0 - math.exp(-kappa * dt * a)) * (received[q] - read[q])
            incidence += w * engaged[q] * (1.0 - math.exp(-mu * r)) / mu * r0
            read[q] += r
            engaged[q] *= math.exp(-mu * r)
        if t * dt < cutoff:
            accepted += incidence
        for q, (_, speed) in enumerate(classes):
            received[q] = min(accepted, received[q] + speed * dt)
        a += min(1.0, kappa * dt * a) * (float(clock[t]) - a)
        out["incidence"].append(incidence)
        out["received"].append(sum(w * d for (w, _), d in zip(classes, received, strict=True)))
        out["accepted"].append(accepted)
        out["engaged"].append(sum(w * e for (w, _), e in zip(classes, engaged, strict=True)))
    return out


def night_then_day(minutes: int, dt: int) -> np.ndarray:
    """A run that starts at 07:50: two hours' edge (0.3) at first, working hours from 08:00."""
    return queued_sir.clock_activity(minutes, 7.0 + 50 / 60, dt=dt)


@pytest.mark.parametrize("theta", [
    (6.0, 0.02, 0.4, 0.05, 0.0),
    (6.0, 0.02, 0.4, 0.05, 0.6),
    (2.5, 0.005, 0.05, 0.2, 1.2),  # a slow transport: the queue is the latent stage
])
@pytest.mark.parametrize("dt", [1, 5])
def test_the_vectorised_model_is_the_reference_step_by_step(theta, dt):
    minutes, cutoff = 300, 95.0
    clock = night_then_day(minutes, dt)
    assert set(np.round(clock, 6)) == {0.3, 1.0}
    fast = queued_sir.simulate(np.array(theta), minutes, cutoff, clock, dt)
    ref = reference(theta, minutes, cutoff, clock, dt)
    for name in ("incidence", "received", "accepted", "engaged"):
        np.testing.assert_allclose(getattr(fast, name), ref[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_reading_follows_the_activity_and_activity_follows_the_clock_at_the_checks_pace():
    """Known answers at night (activity 0.05): in step 1 the original message, delivered in
    step 0, is read at ``1 - exp(-kappa a)``; after the clock turns to day the activity rises
    by ``kappa a (1 - a)`` a minute, not at once."""
    r0, mu, kappa = 3.0, 0.01, 0.1
    theta = np.array([r0, mu, 1e4, kappa, 0.0])
    night = np.full(50, 0.05)
    c = queued_sir.simulate(theta, 50, math.inf, night)
    r = 1.0 - math.exp(-kappa * 0.05)
    assert c.incidence[0] == 0.0  # nothing delivered before the first step ends
    assert c.incidence[1] == pytest.approx(r0 * -math.expm1(-mu * r) / mu, rel=1e-12)
    assert c.engaged[1] == pytest.approx(math.exp(-mu * r), rel=1e-12)

    dawn = np.r_[0.05, np.ones(49)]  # the clock says day from minute 1
    c = queued_sir.simulate(np.array([1e-9, mu, 1e4, kappa, 0.0]), 50, math.inf, dawn)
    a, unread = 0.05, 1.0
    for t in range(1, 6):  # the activity after minute t - 1, as the model carries it
        a += kappa * a * (1.0 - a) if t > 1 else 0.0
        read = (1.0 - math.exp(-kappa * a)) * unread
        unread -= read
        assert c.engaged[t] == pytest.approx(math.exp(-mu * (1.0 - unread)), rel=1e-9), t
    assert a < 0.08  # four minutes after dawn a user who checked at night is still asleep


def test_the_rhythm_is_read_in_the_middle_of_each_step():
    params = StormParams()
    start = params.workday_start_h - 2.0 / 60.0  # 2 minutes before the working day
    five = queued_sir.clock_activity(20, start, dt=5)
    minutes = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(five, activity(minutes[:, 2], params.replace(
        start_clock_h=start)))
    assert five[0] == 1.0  # minute 2 of the first step is the working day's first minute
    one = queued_sir.clock_activity(20, start, dt=1)
    assert one[1] < 1.0 == one[2]
