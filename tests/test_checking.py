"""When users check mail (model/checking.py): the working-day rhythm and the laws of the
intervals, against their formulas, with tolerances derived from the sample sizes.

Every comparison of a sampled frequency ``f`` with its probability ``p`` allows ``Z`` binomial
standard errors, ``Z * sqrt(p (1 - p) / n)``: with ``Z = 5`` a correct implementation fails one
comparison with probability below 6e-7 (and the seeds are fixed, so the suite is deterministic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from replyall_storm.model.checking import (
    activity,
    draw_intervals,
    first_checks,
    mean_check_rate,
    user_scales,
)
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.scenarios import get_scenario

Z = 5.0
# the clock starts at midnight: minute m is m/60 o'clock (working day 08-18, evening 06-08 and
# 18-20, night 20-06)
DAY = StormParams().replace(start_clock_h=0.0, workday_start_h=8.0, workday_end_h=18.0,
                            evening_activity=0.3, night_activity=0.05)
ALWAYS_DAY = DAY.replace(workday_start_h=0.0, workday_end_h=24.0)  # activity 1 at every minute


def at(hours: int, minutes: int = 0) -> int:
    """Minute of the clock time hh:mm with DAY's clock."""
    return 60 * hours + minutes


def close(f: float, p: float, n: int) -> bool:
    """Whether the frequency ``f`` over ``n`` trials is within Z standard errors of ``p``."""
    return abs(f - p) <= Z * math.sqrt(p * (1.0 - p) / n)


# --- the working-day rhythm -------------------------------------------------------------------

@pytest.mark.parametrize("clock, expected", [
    ((0, 0), 0.05), ((5, 59), 0.05), ((6, 0), 0.3), ((7, 59), 0.3), ((8, 0), 1.0),
    ((12, 0), 1.0), ((17, 59), 1.0), ((18, 0), 0.3), ((19, 59), 0.3), ((20, 0), 0.05),
    ((23, 59), 0.05),
])
def test_activity_at_the_edges_of_the_working_day(clock, expected):
    minute = at(*clock)
    assert float(activity(minute, DAY)) == expected
    assert float(activity(minute + 3 * 1440, DAY)) == expected  # every day alike
    # minutes count from start_clock_h: 08:30 plus 15.5 h is midnight
    assert float(activity(minute + 930, DAY.replace(start_clock_h=8.5))) == expected
    many = activity(np.array([minute, minute + 1440]), DAY)
    assert many.shape == (2,) and np.all(many == expected)


def test_activity_follows_the_scenario_settings():
    params = DAY.replace(workday_start_h=9.5, workday_end_h=16.0, evening_activity=0.6,
                         night_activity=0.1)
    got = activity(np.array([at(7, 29), at(7, 30), at(9, 29), at(9, 30), at(15, 59), at(16),
                             at(17, 59), at(18)]), params)
    np.testing.assert_array_equal(got, [0.1, 0.6, 0.6, 1.0, 1.0, 0.6, 0.6, 0.1])


@pytest.mark.parametrize("start, end, clock, expected", [
    (1.0, 18.0, (23, 30), 0.3),  # 1.5 h before a 01:00 start, across midnight
    (1.0, 18.0, (22, 59), 0.05),
    (1.0, 18.0, (0, 30), 0.3),
    (6.0, 23.0, (0, 30), 0.3),  # 1.5 h after a 23:00 end, across midnight
    (6.0, 23.0, (1, 0), 0.05),
    (6.0, 23.0, (23, 30), 0.3),
    (0.0, 22.5, (23, 59), 0.3),
])
def test_the_evening_wraps_around_midnight(start, end, clock, expected):
    """'Within two hours of working hours' is on the clock face: 23:30 is 1.5 h before 01:00."""
    params = DAY.replace(workday_start_h=start, workday_end_h=end)
    assert float(activity(at(*clock), params)) == expected


def test_the_evening_is_never_slower_than_the_night():
    params = DAY.replace(evening_activity=0.01, night_activity=0.05)
    np.testing.assert_array_equal(activity(np.array([at(7), at(19), at(2), at(12)]), params),
                                  [0.05, 0.05, 0.05, 1.0])


def test_no_activity_at_night_still_gives_finite_intervals():
    params = DAY.replace(night_activity=0.0, evening_activity=0.0)
    night = float(activity(at(2), params))
    assert 0.0 < night <= 1e-6
    gaps = draw_intervals(np.random.default_rng(0), np.full(100, 20.0), at(2), params)
    assert np.all(gaps >= 1) and np.all(gaps < np.iinfo(np.int64).max)


# --- intervals between checks -----------------------------------------------------------------

CLOCKS = [(at(10), 1.0), (at(19), 0.3), (at(2), 0.05)]


@pytest.mark.parametrize("minute, act", CLOCKS)
@pytest.mark.parametrize("median, sigma", [(20.0, 1.0), (3.0, 0.5), (1.0, 2.0)])
def test_lognormal_intervals_follow_their_law(minute, act, median, sigma):
    """``ceil(median * exp(sigma Z) / activity)``, at least 1, so for every whole k >= 1
    ``P(interval <= k) = Phi((log(k * activity) - log(median)) / sigma)``."""
    params = DAY.replace(check_sigma=sigma)
    n = 100_000
    got = draw_intervals(np.random.default_rng(int(median * 10 + sigma)), np.full(n, median),
                         minute, params)
    assert got.dtype == np.int64 and got.shape == (n,) and got.min() >= 1
    for q in (0.05, 0.2, 0.5, 0.8, 0.95):
        k = max(1, math.ceil(median * math.exp(sigma * stats.norm.ppf(q)) / act))
        p = stats.norm.cdf((math.log(k * act) - math.log(median)) / sigma)
        f = float(np.mean(got <= k))
        assert close(f, p, n), (q, k, f, p)


@pytest.mark.parametrize("minute, act", CLOCKS)
@pytest.mark.parametrize("scale", [20.0, 2.0])
def test_exponential_intervals_follow_their_law(minute, act, scale):
    """``ceil(Exp(scale) / activity)`` is geometric: ``P(interval <= k) = 1 - exp(-k act / scale)``.
    """
    params = DAY.replace(check_distribution="exponential")
    n = 100_000
    got = draw_intervals(np.random.default_rng(7), np.full(n, scale), minute, params)
    assert got.min() >= 1
    mean = scale / act
    for k in sorted({max(1, round(mean * f)) for f in (0.1, 0.5, 1.0, 2.0, 4.0)}):
        p = 1.0 - math.exp(-k * act / scale)
        assert close(float(np.mean(got <= k)), p, n), (k, p)


def test_the_spread_of_one_users_intervals_is_check_sigma():
    """Long intervals (median 10,000 min: whole minutes change log-intervals by < 1e-4): the
    sample log-sd of n normal logs is within Z sigma / sqrt(2 n) of sigma, the log-median
    within Z sigma / sqrt(n) of log(median / activity)."""
    n = 100_000
    for sigma in (0.3, 1.0, 2.0):
        params = DAY.replace(check_sigma=sigma)
        logs = np.log(draw_intervals(np.random.default_rng(3), np.full(n, 1e4), at(19), params))
        assert abs(logs.std() - sigma) < Z * sigma / math.sqrt(2 * n) + 1e-4
        assert abs(np.median(logs) - math.log(1e4 / 0.3)) < Z * 1.26 * sigma / math.sqrt(n)


def test_each_user_draws_around_their_own_scale():
    scales = np.tile([2.0, 200.0], 50_000)
    params = DAY.replace(check_sigma=0.5)
    got = draw_intervals(np.random.default_rng(5), scales, at(10), params)
    for s in (2.0, 200.0):
        mine = got[scales == s]
        p = stats.norm.cdf(math.log(math.ceil(s) / s) / 0.5)  # P(interval <= ceil(median))
        assert close(float(np.mean(mine <= math.ceil(s))), p, mine.size)


def test_users_median_intervals_spread_log_normally_around_the_population_median():
    n = 200_000
    for het in (0.0, 0.8, 2.0):
        params = DAY.replace(check_median_min=30.0, check_heterogeneity=het)
        scales = user_scales(np.random.default_rng(11), n, params)
        assert scales.shape == (n,) and scales.dtype == np.float64
        logs = np.log(scales / 30.0)
        assert abs(logs.mean()) <= Z * het / math.sqrt(n) + 1e-12
        assert abs(logs.std() - het) <= Z * het / math.sqrt(2 * n) + 1e-12


# --- the first check --------------------------------------------------------------------------

def residual_survival(r, median: float, sigma: float):
    """``P(R > r)`` for the residual life of a stationary renewal process with log-normal
    intervals X (renewal theory: ``P(R > r) = E[(X - r)+] / E[X]``), in closed form."""
    r = np.asarray(r, dtype=np.float64)
    mu = math.log(median)
    mean = math.exp(mu + sigma**2 / 2)
    return (stats.norm.cdf((mu + sigma**2 - np.log(r)) / sigma)
            - r / mean * stats.norm.cdf((mu - np.log(r)) / sigma))


@pytest.mark.parametrize("start_clock, act", [(10.0, 1.0), (2.0, 0.05)])
@pytest.mark.parametrize("median, sigma", [(20.0, 1.0), (5.0, 0.4)])
def test_first_checks_are_the_residual_time_of_a_renewal_process(start_clock, act, median,
                                                                 sigma):
    """Users are caught mid-interval: ``first = floor(R / activity(0))`` with R the
    equilibrium residual life, so ``P(first >= k) = P(R > k * activity)``."""
    params = DAY.replace(start_clock_h=start_clock, check_sigma=sigma)
    n = 200_000
    got = first_checks(np.random.default_rng(13), np.full(n, median), params)
    assert got.dtype == np.int64 and got.min() >= 0
    mean = median * math.exp(sigma**2 / 2)
    for f in (0.05, 0.3, 1.0, 2.0, 4.0):
        k = max(1, round(f * mean / act))
        p = float(residual_survival(k * act, median, sigma))
        assert close(float(np.mean(got >= k)), p, n), (k, p)
    # length bias: the mean residual is E[X^2] / (2 E[X]) = E[X] exp(sigma^2) / 2, more than
    # half a mean interval; the mean first minute is sum_k P(R > k act), within Z s.e.
    k = np.arange(1, 1000 * round(mean / act))
    expected = float(residual_survival(k * act, median, sigma).sum())
    assert abs(got.mean() - expected) <= Z * got.std() / math.sqrt(n)
    mean_residual = 0.5 * mean * math.exp(sigma**2)
    assert mean_residual / act - 1.0 < expected <= mean_residual / act  # floor(R / act)


@pytest.mark.parametrize("start_clock, act", [(10.0, 1.0), (19.0, 0.3)])
def test_exponential_first_checks_are_memoryless(start_clock, act):
    params = DAY.replace(start_clock_h=start_clock, check_distribution="exponential")
    n = 200_000
    got = first_checks(np.random.default_rng(17), np.full(n, 12.0), params)
    for k in (0, 1, 5, 40, 120):
        p = math.exp(-k * act / 12.0)  # P(floor(Exp(12) / act) >= k)
        assert close(float(np.mean(got >= k)), p, n), (k, p)


# --- the mean check rate, counted ---------------------------------------------------------------

def count_checks(params: StormParams, n: int, minutes: int, seed: int) -> np.ndarray:
    """Checks each of ``n`` users makes in ``[0, minutes)``: first check, then one interval after
    another, exactly as the engines schedule them (activity 1 at every minute)."""
    rng = np.random.default_rng(seed)
    scales = user_scales(rng, n, params)
    t = first_checks(rng, scales, params)
    counts = np.zeros(n, dtype=np.int64)
    due = t < minutes
    while due.any():
        idx = np.flatnonzero(due)
        counts[idx] += 1
        t[idx] += draw_intervals(rng, scales[idx], 0, params)
        due = t < minutes
    return counts


@pytest.mark.parametrize("median", [2.0, 5.0, 20.0])
def test_exponential_checks_are_a_bernoulli_process_with_the_mean_check_rate(median):
    """Exponential intervals on whole minutes are geometric, and so is the first check: a user
    checks in each minute independently with probability ``1 - exp(-1 / median)``, which is
    ``mean_check_rate``. Checks of n users over T minutes are Binomial(n T, p)."""
    params = ALWAYS_DAY.replace(check_distribution="exponential", check_median_min=median,
                                check_heterogeneity=0.0)
    p = mean_check_rate(params)
    assert p == pytest.approx(-math.expm1(-1.0 / median), rel=1e-12)
    n, minutes = 20_000, 400
    counts = count_checks(params, n, minutes, seed=int(median))
    assert close(counts.sum() / (n * minutes), p, n * minutes)


def test_lognormal_check_rate_of_identical_users_is_the_renewal_rate():
    """Identical users (no heterogeneity), log-normal intervals: the renewal theorem gives
    ``1 / E[ceil X]`` checks per minute, ``E[ceil X] = sum_k P(X > k)``. ``mean_check_rate``
    approximates it by ``1 - exp(-1 / E[X])`` (whole minutes add ~1/2 to each interval, which
    that form accounts for to first order): within 0.5 % from a median of 20 minutes. The count
    of n users over T minutes has a standard error of at most sqrt(n T rate) / (n T) for
    intervals at least as regular as a Poisson process (log-sd 1: CV 1.3, so ``Z`` is
    taken twice)."""
    for median in (20.0, 60.0):
        params = ALWAYS_DAY.replace(check_median_min=median, check_heterogeneity=0.0,
                                    check_sigma=1.0)
        k = np.arange(1, 400_000)
        expected_ceil = 1.0 + float(np.sum(stats.norm.sf(np.log(k / median))))
        renewal = 1.0 / expected_ceil
        assert mean_check_rate(params) == pytest.approx(renewal, rel=5e-3)
        n, minutes = 20_000, 2_000
        rate = count_checks(params, n, minutes, seed=int(median)).sum() / (n * minutes)
        assert abs(rate - renewal) <= 2 * Z * math.sqrt(renewal / (n * minutes))


def test_mean_check_rate_with_heterogeneous_users_matches_their_counted_checks():
    """Users' medians spread log-normally (the defaults: median 20 min, spread 0.8, log-sd 1):
    the population's checks per minute. Users are independent, so the mean count per user has
    the standard error sd(count) / sqrt(n), estimated from the sample; the formula itself
    (users' mean rate ``exp(het^2 / 2) / (median exp(sigma^2 / 2))`` on whole minutes) is
    within 2 % of the exact renewal rate here (1.7 %, by quadrature over users)."""
    params = ALWAYS_DAY.replace(check_median_min=20.0, check_heterogeneity=0.8, check_sigma=1.0)
    n, minutes = 50_000, 1_000
    counts = count_checks(params, n, minutes, seed=21)
    rate = counts.mean() / minutes
    se = counts.std() / math.sqrt(n) / minutes
    assert abs(rate / mean_check_rate(params) - 1.0) <= 0.02 + Z * se / rate
    plain = mean_check_rate(params.replace(check_heterogeneity=0.0, check_sigma=0.0))
    assert plain == pytest.approx(-math.expm1(-1.0 / 20.0))


def test_a_run_counts_the_checks_of_a_bernoulli_process(run_storm):
    """End to end through the fast engine: nobody acts (zero hazards), exponential intervals,
    identical users, the whole run in working hours, then at night. Each of the n members checks
    in each of the T minutes with probability ``p = 1 - exp(-activity / median)``: the run's
    checks are Binomial(n T, p); the series' unaware users are those not yet checked."""
    quiet = get_scenario("small").params(remove_rate=0.0, complain_rate=0.0, mute_rate=0.0,
                                         check_distribution="exponential",
                                         check_heterogeneity=0.0, check_median_min=5.0,
                                         horizon_min=300)
    for clock, act, median in ((9.0, 1.0, 5.0), (21.0, 0.05, 1.0)):  # 09:00-14:00, 21:00-02:00
        params = quiet.replace(start_clock_h=clock, check_median_min=median)
        p = -math.expm1(-act / params.check_median_min)
        res = run_storm(params, seed=4)
        n, minutes = res.summary["list_size"], params.horizon_min
        checks = res.series["checks"].to_numpy()
        assert close(checks.sum() / (n * minutes), p, n * minutes), (clock, checks.sum())
        assert res.series["failed_checks"].sum() == 0
        # the original reaches every inbox in minute 0 (capacity 2,000 a minute), so a member
        # is still unaware at the end of minute 9 if it did not check in minutes 1-9
        unaware = res.series["unaware"].iloc[9] / n
        assert close(unaware, (1 - p) ** 9, n)
