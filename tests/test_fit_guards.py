"""The SIR fit's guards, its search and its ensemble mean (experiments/analysis/sir_fit.py):
exact thresholds, the weights of the two curves, a bad start, a spread of zero, hand-built
ensembles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_sir_fit import THETA, synthetic

from replyall_storm.experiments.analysis import sir_fit
from replyall_storm.experiments.analysis.sir_fit import (
    MIN_BINS,
    MIN_EVENTS,
    ensemble_mean,
    fit_series,
)


def with_counts(counts: np.ndarray) -> pd.DataFrame:
    """A synthetic series whose reply-alls are ``counts`` (one per minute)."""
    s = synthetic(0, minutes=counts.size)
    s["sent_remove"], s["sent_complain"] = counts.astype(int), 0
    return s


@pytest.mark.parametrize("events, status", [(MIN_EVENTS - 1, "no_storm"),
                                            (MIN_EVENTS, "too_few_points")])
def test_min_events_is_the_first_count_that_is_a_storm(events, status):
    counts = np.zeros(300)
    counts[100] = events  # all in one bin: a storm of MIN_EVENTS has too few points to fit
    row = fit_series(with_counts(counts))
    assert row["status"] == status, row["message"]
    assert row["n_events"] == events


def test_fewer_bins_than_parameters_plus_three_is_too_few_points():
    """Seven 30-minute bins, every one with reply-alls: enough non-empty bins (>= MIN_BINS)
    and events, but too few points for five parameters and their dispersion."""
    counts = np.zeros(7 * 30)
    counts[::15] = np.arange(1, 15)  # 2 sends a bin, growing: not flat
    s = with_counts(counts)
    row = fit_series(s)
    assert 7 >= MIN_BINS and counts.sum() >= MIN_EVENTS
    assert row["status"] == "too_few_points" and row["n_points"] == 7
    eight = with_counts(np.r_[counts, np.zeros(30)])
    eight.loc[eight.index[-1], "sent_remove"] = 1
    assert fit_series(eight, intervals="wald")["status"] != "too_few_points"


def test_the_curves_are_weighed_by_their_own_scatter_at_the_optimum():
    """After the search the incidence deviance is divided by the dispersion (deviance per
    degree of freedom) and the inbox residuals by their root mean square, both at the
    returned optimum: the objective is then -2 log L of the quasi-likelihood."""
    data = sir_fit._Data(synthetic(2), 30, None)
    x = sir_fit._search(data)
    inc, rec = data.curves(x)
    phi = np.sum(sir_fit._deviance_residuals(data.y, inc) ** 2) / (data.y.size - 5)
    s2 = np.mean((data.received - rec) ** 2)
    np.testing.assert_allclose(data.scale, [1 / math.sqrt(phi), 1 / math.sqrt(s2)], rtol=1e-6)
    # so the weighed incidence deviance is its degrees of freedom
    r = data.residuals(x)[: data.y.size]
    assert np.sum(r**2) == pytest.approx(data.y.size - 5, rel=1e-6)


def test_a_start_that_goes_nowhere_is_not_the_fit(monkeypatch):
    """The search keeps the best of its starts: a start whose optimiser ends at a hopeless
    point (every parameter at its lower bound: no storm at all) must lose to the others, and
    the start refined at the end is the winner."""
    real, calls = sir_fit.least_squares, []
    hopeless = sir_fit.LO + 1e-6

    def first_start_lost(fun, x0, **kwargs):
        calls.append(np.array(x0))
        res = real(fun, x0, **kwargs)
        if len(calls) == 2:  # the first start, fitted under the weights all starts share
            res.x = hopeless.copy()
        return res

    monkeypatch.setattr(sir_fit, "least_squares", first_start_lost)
    data = sir_fit._Data(synthetic(2), 30, None)
    x = sir_fit._search(data)
    assert len(calls) == 5  # weights, three starts, the winner refined
    assert not np.allclose(calls[-1], hopeless) and not np.allclose(x, hopeless)
    inc, rec = data.curves(x)
    for y, m in ((data.y, inc), (data.received, rec)):
        assert 1 - np.sum((y - m) ** 2) / np.sum((y - y.mean()) ** 2) > 0.9


def test_a_spread_interval_reaching_zero_is_a_value_not_an_open_end():
    """No spread between databases is a possible value, not a bound the storm was cut at:
    its profile stops at 0 without making the fit 'unidentified'."""
    theta = THETA.copy()
    theta[4] = 0.0
    row = fit_series(synthetic(1, theta=theta))
    assert row["spread_lo"] == 0.0 and row["spread_hi"] > row["spread"]
    assert row["status"] == "ok", row["message"]


def frame(minutes: int, sent: float, active_until: int) -> pd.DataFrame:
    minute = np.arange(minutes)
    return pd.DataFrame({"minute": minute, "clock_h": (9.0 + minute / 60) % 24,
                         "sent_remove": np.full(minutes, sent), "sent_complain": 1.0,
                         "accepted": np.cumsum(np.full(minutes, sent)),
                         "received_per_user": minute * sent,
                         "list_active": minute < active_until})


def test_ensemble_mean_of_hand_built_runs():
    runs = [frame(10, 2.0, 4), frame(12, 4.0, 6), frame(11, 6.0, 5)]
    mean = ensemble_mean(runs)
    assert len(mean) == 10  # the rows all runs have
    np.testing.assert_array_equal(mean["sent_remove"], 4.0)
    np.testing.assert_array_equal(mean["sent_complain"], 1.0)
    np.testing.assert_array_equal(mean["received_per_user"], np.arange(10) * 4.0)
    np.testing.assert_array_equal(mean["minute"], np.arange(10))
    # the list is active while any run's is: until the latest cut-off of the three
    np.testing.assert_array_equal(mean["list_active"], np.arange(10) < 6)
    assert ensemble_mean(runs[:1]).equals(runs[0].iloc[:10][mean.columns])
    with pytest.raises(ValueError, match="no series"):
        ensemble_mean([])

