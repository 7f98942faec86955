"""When users check their mail: heavy-tailed waiting times and a working-day rhythm.

Each user has a personal median interval between checks, drawn once (log-normal across users,
spread ``check_heterogeneity``). Each interval is then drawn log-normal around that median
(spread ``check_sigma``; Stouffer, Malmgren and Amaral 2006 found log-normal waiting times)
or exponential with that scale, and stretched by the inverse of the activity at the moment it
starts: 1 in working hours, ``evening_activity`` within two hours of them, ``night_activity``
otherwise (Malmgren et al. 2008: circadian cycles). Checks fall on whole simulated minutes; an
interval is at least one minute. Both engines call these functions, so they schedule checks
from the same law; only the order of the random draws differs.
"""

from __future__ import annotations

import math

import numpy as np

from .parameters import StormParams

NEVER = np.iinfo(np.int32).max
"""``next_check`` value of a user who will not check again (muted, or not on the list)."""


def activity(minute: np.ndarray | float, params: StormParams) -> np.ndarray:
    """Relative checking rate (0, 1] at ``minute`` after the first send (minutes)."""
    clock = (params.start_clock_h + np.asarray(minute, dtype=np.float64) / 60.0) % 24.0
    start, end = params.workday_start_h, params.workday_end_h
    in_day = (clock >= start) & (clock < end)
    near = ((clock >= start - 2.0) & (clock < start)) | ((clock >= end) & (clock < end + 2.0))
    # on the clock face: a day from 01:00 has its early hours from 23:00, one to 23:00 until 01:00
    near |= (clock >= start + 22.0) | (clock < end - 22.0)
    night = max(params.night_activity, 1e-6)
    return np.where(in_day, 1.0, np.where(near, max(params.evening_activity, night), night))


def user_scales(rng: np.random.Generator, n: int, params: StormParams) -> np.ndarray:
    """Each user's median interval between checks in working hours (minutes, float64)."""
    z = rng.standard_normal(n)
    return params.check_median_min * np.exp(params.check_heterogeneity * z)


def draw_intervals(
    rng: np.random.Generator, scales: np.ndarray, minute: int, params: StormParams
) -> np.ndarray:
    """Whole minutes until each user's next check, for checks made at ``minute`` (int64, >= 1)."""
    scales = np.asarray(scales, dtype=np.float64)
    if params.check_distribution == "exponential":
        raw = rng.exponential(scales)
    else:
        raw = scales * np.exp(params.check_sigma * rng.standard_normal(scales.shape))
    stretched = raw / activity(minute, params)
    return np.maximum(1, np.ceil(stretched)).astype(np.int64)


def first_checks(rng: np.random.Generator, scales: np.ndarray, params: StormParams) -> np.ndarray:
    """Minute of each user's first check after the first send (int64, >= 0).

    Users are caught mid-interval, as in a renewal process in equilibrium: the interval
    straddling minute 0 is length-biased (for a log-normal with log-sd s, that is the
    log-normal with its median multiplied by exp(s^2)) and the user is uniformly placed in it.
    For exponential intervals the residual time is simply another interval (no memory).
    """
    scales = np.asarray(scales, dtype=np.float64)
    if params.check_distribution == "exponential":
        residual = rng.exponential(scales)
    else:
        s = params.check_sigma
        straddling = scales * math.exp(s * s) * np.exp(s * rng.standard_normal(scales.shape))
        residual = rng.random(scales.shape) * straddling
    return np.floor(residual / activity(0, params)).astype(np.int64)


def mean_check_rate(params: StormParams) -> float:
    """Population-average checks per minute in working hours, as the mean-field ODE uses it.

    A user whose median interval is ``m`` checks on average every ``m * exp(check_sigma^2 / 2)``
    minutes (log-normal intervals) or every ``m`` minutes (exponential intervals, where the
    user's scale is the mean). Users' ``m`` are log-normal around ``check_median_min`` with
    log-sd ``check_heterogeneity``, so the average of their rates is
    ``exp(check_heterogeneity^2 / 2) / (check_median_min * exp(check_sigma^2 / 2))``. Checks
    happen on whole minutes, so the rate is returned as the chance of a check in a minute,
    ``1 - exp(-rate)``.
    """
    rate = math.exp(params.check_heterogeneity**2 / 2.0) / params.check_median_min
    if params.check_distribution == "lognormal":
        rate *= math.exp(-(params.check_sigma**2) / 2.0)
    return -math.expm1(-rate)
