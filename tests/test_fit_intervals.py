"""The fit's intervals and goodness of fit on known cases (experiments/analysis/profile.py and
sir_fit.py): exact answers where the likelihood is Gaussian, the Wald quantile, the deviance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from replyall_storm.experiments.analysis.profile import profile, threshold


def linear_model(sigma: float, rho: float = 0.9, n: int = 40, seed: int = 0):
    """``y = X b + sigma e`` with two strongly correlated columns: residuals scaled by sigma
    (their sum of squares is -2 log L), the least-squares estimate and its standard errors."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    b = rho * a + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    x = np.column_stack([np.ones(n), a, b])
    y = x @ np.array([1.0, 2.0, -0.5]) + sigma * rng.standard_normal(n)
    best = np.linalg.lstsq(x, y, rcond=None)[0]
    cov = np.linalg.inv(x.T @ x) * sigma**2
    return (lambda beta: (y - x @ beta) / sigma), best, np.sqrt(np.diag(cov)), x


@pytest.mark.parametrize("sigma", [1.0, 1e-2, 1e-5])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.99])
def test_profile_interval_of_a_gaussian_linear_model_is_exact(sigma, level):
    """For a linear model with known variance the profile deviance of each coefficient is
    exactly quadratic: the interval is ``b +- sqrt(chi2_1(level)) se`` (the marginal standard
    error, the others refitted), whatever the size of se against the walk's smallest step."""
    residuals, best, se, x = linear_model(sigma)
    lo, hi = np.full(3, -1e3), np.full(3, 1e3)
    z = math.sqrt(stats.chi2.ppf(level, 1))
    assert threshold(level) == pytest.approx(z**2, rel=1e-12)
    for k in range(3):
        prof = profile(residuals, best, k, se[k], lo, hi, level)
        assert prof.lo.closed and prof.hi.closed
        assert prof.lo.value == pytest.approx(best[k] - z * se[k], abs=1e-4 * se[k])
        assert prof.hi.value == pytest.approx(best[k] + z * se[k], abs=1e-4 * se[k])
        # every vector kept as inside the interval is: its deviance is below the threshold
        q_min = float(np.sum(residuals(best) ** 2))
        for v in prof.inside:
            assert float(np.sum(residuals(v) ** 2)) <= q_min + z**2 + 1e-9
        assert prof.inside.shape[1] == 3 and np.any(np.all(prof.inside == best, axis=1))


def test_profile_refits_the_other_parameters():
    """With correlated columns the conditional interval (others held at the optimum) is much
    narrower than the profile's; the profile's is the marginal one."""
    residuals, best, se, x = linear_model(1.0, rho=0.95)
    conditional = 1.0 / math.sqrt((x.T @ x)[1, 1])
    assert conditional < 0.5 * se[1]
    prof = profile(residuals, best, 1, se[1], np.full(3, -1e3), np.full(3, 1e3), 0.95)
    assert prof.hi.value - prof.lo.value == pytest.approx(2 * 1.959964 * se[1], rel=1e-4)


def test_profile_is_open_at_a_bound_inside_the_interval():
    residuals, best, se, _ = linear_model(1.0)
    lo, hi = np.full(3, -1e3), np.full(3, 1e3)
    lo[2] = best[2] - 0.5 * se[2]  # the lower end would be at -1.96 se: the bound cuts it
    prof = profile(residuals, best, 2, se[2], lo, hi, 0.95)
    assert not prof.lo.closed and prof.lo.value == lo[2]
    assert prof.hi.closed and prof.hi.value == pytest.approx(best[2] + 1.959964 * se[2],
                                                             rel=1e-4)
