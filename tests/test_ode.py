"""The mean-field ODE (model/ode.py): invariants, limits, and the ABM converging to it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replyall_storm.model.checking import mean_check_rate
from replyall_storm.model.closures import exposure_closure, unread_closure
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.ode import ode_summary, solve_ode
from replyall_storm.model.parameters import StormParams

# The ODE's assumptions (identical memoryless users, no peers, one constant activity, a
# directory-wide list) with per-member transport capacity 0.15 messages/min as in 2016.
HOMOGENEOUS = dict(
    list_level="directory",
    check_distribution="exponential",
    check_heterogeneity=0.0,
    peer_weight=0.0,
    manager_complain_factor=1.0,
    evening_activity=1.0,
    night_activity=1.0,
    remove_rate=0.0125,
    complain_rate=0.02,
    mute_rate=0.03,
    annoyance_half=10.0,
    degrade_backlog=1e15,
    cutoff_min=60.0,
)


def storm_params(n_users: int, horizon_min: int = 180, **changes) -> StormParams:
    """The homogeneous storm at ``n_users`` users (capacity scales with the list)."""
    return StormParams().replace(
        **{
            **HOMOGENEOUS,
            "n_users": n_users,
            "capacity_per_min": 0.15 * n_users,
            "horizon_min": horizon_min,
            **changes,
        }
    )


@pytest.fixture(scope="module")
def small():
    return storm_params(2000, horizon_min=400, capacity_per_min=1500.0, degrade_backlog=2e5)


@pytest.fixture(scope="module")
def small_ode(small):
    return solve_ode(small)


# --- invariants ---------------------------------------------------------------------------


def test_compartments_sum_to_users_and_counters_only_grow(small, small_ode):
    df = small_ode
    total = df[["unaware", "reading", "replied", "muted"]].sum(axis=1)
    np.testing.assert_allclose(total, small.n_users, rtol=1e-6)
    for c in ("unaware", "reading", "replied", "muted", "backlog", "purged"):
        assert df[c].min() > -1e-6 * small.n_users, c
    for c in ("sent_remove", "sent_complain", "accepted", "bounced", "delivered"):
        assert df[c].min() > -1e-6, c  # per-minute counts: cumulative ones never decrease
    for c in ("received_per_user", "read_per_user", "muted"):
        assert np.diff(df[c]).min() > -1e-6, c
    assert np.diff(df["unaware"]).max() < 1e-6
    np.testing.assert_allclose(
        df["sent_remove"] + df["sent_complain"], df["accepted"] + df["bounced"], atol=1e-6
    )
    assert (df["read_per_user"] <= df["received_per_user"] + 1e-9).all()
    assert df["minute"].tolist() == list(range(small.horizon_min))


def test_a_storm_happens_and_the_backlog_degrades_service(small, small_ode):
    summary = ode_summary(small_ode, small)
    assert summary["reply_alls_accepted"] > 50
    assert summary["peak_backlog"] > 2 * small.degrade_backlog  # checks fail at the peak
    assert summary["peak_time"] == pytest.approx(math.ceil(small.cutoff_min) - 1, abs=1)
    assert summary["messages_per_user"] == pytest.approx(small_ode["received_per_user"].iloc[-1])
    finals = [summary[f"final_{s}"] for s in ("unaware", "reading", "replied", "muted")]
    assert sum(finals) == pytest.approx(small.n_users, rel=1e-6)


@pytest.mark.parametrize("purge", [False, True])
def test_transport_conserves_deliveries(small, purge):
    params = small.replace(purge_at_cutoff=purge, cutoff_min=40.5)
    df = solve_ode(params)
    n_list = params.n_users
    accepted = 1.0 + df["accepted"].cumsum()  # the original is not a reply-all
    delivered = df["delivered"].cumsum()
    np.testing.assert_allclose(
        accepted * n_list, delivered + df["backlog"] + df["purged"], rtol=1e-6, atol=1e-3 * n_list
    )
    np.testing.assert_allclose(delivered / n_list, df["received_per_user"], rtol=1e-9)
    # The list is disabled at the first whole minute >= cutoff_min, as in the engines.
    after = df["minute"] >= 41
    assert df.loc[after, "accepted"].abs().max() < 1e-9
    assert df.loc[~after, "accepted"].iloc[-5:].min() > 0.1
    assert df.loc[after, "bounced"].sum() > 10
    assert (df["list_active"] == ~after).all()
    if purge:
        assert df.loc[after, "backlog"].max() < 1e-6 * n_list
        assert df["purged"].iloc[-1] > 0
        assert df.loc[after, "delivered"].max() < 1e-6 * n_list
    else:
        assert df["purged"].max() == 0.0
        assert df.loc[after, "delivered"].iloc[0] == pytest.approx(
            params.capacity_per_min, rel=1e-3
        )


def test_row_m_is_the_end_of_minute_m(small):
    params = small.replace(remove_rate=0.0, complain_rate=0.0, horizon_min=5)
    df = solve_ode(params)
    # The original's 2,000 deliveries at 1,500 a minute: 1,500 in minute 0, 500 in minute 1.
    np.testing.assert_allclose(df["delivered"], [1500, 500, 0, 0, 0], atol=0.1)
    np.testing.assert_allclose(df["backlog"], [500, 0, 0, 0, 0], atol=0.1)
    custom = solve_ode(params, t_eval=np.array([1.0, 3.0]))
    np.testing.assert_allclose(custom["unaware"], df["unaware"].iloc[[1, 3]], rtol=1e-5)


# --- limits ---------------------------------------------------------------------------------


def test_without_reply_hazards_only_the_original_arrives(small):
    df = solve_ode(small.replace(remove_rate=0.0, complain_rate=0.0))
    assert (df["sent_remove"] + df["sent_complain"]).abs().max() < 1e-12
    assert df["replied"].abs().max() < 1e-9
    assert df["received_per_user"].iloc[-1] == pytest.approx(1.0, rel=1e-6)
    assert df["read_per_user"].iloc[-1] == pytest.approx(1.0 - math.exp(-400 / 20), abs=1e-3)
    assert df["muted"].iloc[-1] > 0


def test_without_mute_hazard_nobody_mutes(small):
    df = solve_ode(small.replace(mute_rate=0.0))
    assert df["muted"].abs().max() < 1e-9
    assert df["accepted"].sum() > 50


def test_cutoff_at_zero_accepts_no_reply(small):
    df = solve_ode(small.replace(cutoff_min=0.0))
    assert df["accepted"].abs().sum() < 1e-9
    assert df["bounced"].sum() > 10
    assert df["received_per_user"].iloc[-1] == pytest.approx(1.0, rel=1e-6)
    purged = solve_ode(small.replace(cutoff_min=0.0, purge_at_cutoff=True))
    assert purged["received_per_user"].abs().max() < 1e-9  # even the original is purged
    assert purged["reading"].abs().max() < 1e-9


def test_the_list_closes_at_the_first_whole_minute_after_the_cutoff(small):
    """As in the engines: a cut-off at 30.2 min disables the list at minute 31, exactly as one
    at 31 does; one at 30 closes it a minute earlier."""
    at = {c: solve_ode(small.replace(cutoff_min=c, horizon_min=120)) for c in (30.0, 30.2, 31.0)}
    pd.testing.assert_frame_equal(at[30.2], at[31.0])
    assert not at[30.2]["list_active"].iloc[31] and at[30.2]["list_active"].iloc[30]
    assert not at[30.0]["list_active"].iloc[30]
    assert at[30.0]["accepted"].sum() < at[31.0]["accepted"].sum()


def test_sender_restriction_bounces_every_reply(small):
    df = solve_ode(small.replace(sender_restriction=True, sr_min_list_size=500))
    assert df["accepted"].abs().sum() < 1e-9
    assert df["bounced"].sum() > 10


def test_checks_follow_the_activity_of_the_hour(small):
    """With nothing to act on, unaware users decay at exactly -log(1 - p) * activity."""
    quiet = small.replace(
        remove_rate=0.0, complain_rate=0.0, mute_rate=0.0, capacity_per_min=1e6, night_activity=0.05
    )
    lam = -math.log1p(-mean_check_rate(quiet))
    for clock, act in ((10.0, 1.0), (2.0, 0.05)):
        df = solve_ode(quiet.replace(start_clock_h=clock), t_eval=np.array([10.0, 70.0]))
        ratio = df["unaware"].iloc[1] / df["unaware"].iloc[0]
        assert ratio == pytest.approx(math.exp(-lam * act * 60.0), rel=1e-4)


def test_managers_and_peers(small):
    base = solve_ode(small.replace(complain_rate=0.04), manager_fraction=0.0)
    bosses = solve_ode(small.replace(manager_complain_factor=2.0), manager_fraction=1.0)
    for c in ("accepted", "muted", "reading"):
        np.testing.assert_allclose(bosses[c], base[c], rtol=1e-4, atol=1e-6)
    peers = small.replace(peer_weight=0.5)
    more = solve_ode(peers, mean_degree=10.0)["accepted"].sum()
    assert more > 1.05 * solve_ode(peers)["accepted"].sum()


def test_list_members_only_and_unmodelled_policies(small):
    team = small.replace(list_level="team")
    with pytest.raises(ParameterError):
        solve_ode(team)  # the list's size is not known without an organisation
    df = solve_ode(team, list_size=500, t_eval=np.array([0.0, 399.0]))
    assert df["unaware"].min() >= small.n_users - 500 - 1e-6
    assert df["received_per_user"].iloc[-1] > 1.0
    with pytest.raises(ParameterError):
        solve_ode(small.replace(storm_protection=True, sp_min_recipients=1000))


@pytest.mark.parametrize("mean,var,h", [(3.0, 9.0, 0.05), (3.0, 2.0, 0.3), (10.0, 30.0, 0.01)])
def test_unread_closure_is_the_gamma_expectation(mean, var, h):
    law = stats.gamma(a=mean**2 / var, scale=var / mean)
    expected = law.expect(lambda u: -np.expm1(-h * u))
    n = float(unread_closure(mean, var, h))
    assert -math.expm1(-h * n) == pytest.approx(expected, rel=1e-6)
    assert float(unread_closure(mean, 0.0, h)) == pytest.approx(mean)  # no spread: u = mean
    assert float(unread_closure(mean, var, 0.0)) == pytest.approx(mean)
    assert float(unread_closure(mean, mean**2, h)) == pytest.approx(math.log1p(h * mean) / h)


# --- the ABM approaches the ODE as the population grows --------------------------------------

CURVES = ("reading", "muted", "accepted", "received_per_user", "read_per_user")


def _curves(series) -> dict[str, np.ndarray]:
    out = {c: series[c].to_numpy(dtype=float) for c in CURVES}
    out["accepted"] = np.cumsum(out["accepted"])  # cumulative reply-alls accepted
    return out


def _sup_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max_t |a - b| relative to max_t |b|: a relative error that ignores near-zero starts."""
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.slow
def test_abm_mean_approaches_the_ode_as_n_grows(run_storm):
    """Fast engine with the ODE's assumptions, 8 seeds each at 2,000 and 50,000 users.

    The same storm per member at both sizes: capacity 0.15 deliveries per member per minute
    keeps the transport saturated (``D(t) = 0.15 t`` for every run), and the hazards per
    message are fixed, so every per-member quantity is the same and reply-alls grow with N
    (~170 at 2,000, ~4,300 at 50,000). Scaling the hazards as 1/N instead keeps ~170
    reply-alls at every N: the accepted curve then fluctuates by ~7 % a run at any N and
    cannot converge (measured at 50,000: -2.7 +- 1.6 % over 24 seeds).

    (a) Tolerances for the mean of 8 runs at 50,000 (sup over minutes, relative to the
    curve's peak): the closure's bias, measured over 24 seeds, is <= 0.7 % (accepted) and
    <= 0.3 % (the rest); run-to-run spread is 1.7 % for accepted (Poisson: 1/sqrt(4300))
    and ~0.5 % for the compartments, so the mean of 8 is within 3 standard errors at 0.7 %
    (accepted) and 0.5 %. Hence 3 % (accepted), 1.5 % (reading, muted), 1 % (reads) and
    0.1 % (deliveries: exact up to the fluid queue's 0.01-minute smoothing).
    (b) The typical error of one run (root mean square over seeds) shrinks from 2,000 to
    50,000 users for every stochastic curve, as the law of large numbers says (expected
    ratio ~ sqrt(25) = 5; the mean's error at 50,000 is bias-limited, so comparing means
    would compare two numbers of similar size).
    """
    errors, rms = {}, {}
    for n in (2000, 50_000):
        params = storm_params(n)
        ode = _curves(solve_ode(params))
        runs = [_curves(run_storm(params, seed=s).series) for s in range(8)]
        errors[n] = {c: _sup_rel(np.mean([r[c] for r in runs], axis=0), ode[c]) for c in ode}
        rms[n] = {c: math.sqrt(np.mean([_sup_rel(r[c], ode[c]) ** 2 for r in runs])) for c in ode}
    tolerance = {
        "reading": 0.015,
        "muted": 0.015,
        "accepted": 0.03,
        "read_per_user": 0.01,
        "received_per_user": 0.001,
    }
    for c, tol in tolerance.items():
        assert errors[50_000][c] < tol, (c, errors)
    for c in ("reading", "muted", "accepted", "read_per_user"):
        assert rms[50_000][c] < 0.6 * rms[2000][c], (c, rms)


# --- perception mechanisms in the mean field ------------------------------------------------

@pytest.mark.parametrize("span", [1.0, 5.0, 40.0])
def test_the_attention_closure_is_the_gamma_expectation(span):
    rng = np.random.default_rng(5)
    for mean, var, h in ((3.0, 4.0, 0.2), (12.0, 30.0, 0.05), (0.7, 0.5, 1.0), (40.0, 8.0, 0.1)):
        u = rng.gamma(mean**2 / var, var / mean, 400_000)
        x = 1.7 * u / (1.0 + u / span)
        expected = float(np.mean(-np.expm1(-h * x)))
        n = float(exposure_closure(np.array([mean]), np.array([var]), np.array([h]), 1.7, span)[0])
        # Monte Carlo error of the mean of 400,000 draws in [0, 1]: sd <= 0.5 / 632 < 1e-3
        assert -math.expm1(-h * n) == pytest.approx(expected, abs=3e-3)
    # unlimited attention: the closure of the weighted count, as before
    assert float(exposure_closure(np.array([4.0]), np.array([9.0]), np.array([0.3]), 2.0,
                                  math.inf)[0]) == pytest.approx(
        2.0 * float(unread_closure(4.0, 9.0, 0.6)))


def test_the_ode_refuses_what_it_does_not_model(small):
    with pytest.raises(ParameterError, match="n_databases=4: must be 1"):
        solve_ode(small.replace(n_databases=4))
    with pytest.raises(ParameterError, match="relevance_mean=None: must be given"):
        solve_ode(small.replace(relevance_boost=3.0))
    off = solve_ode(small)
    same = solve_ode(small, relevance_mean=1.0)
    pd.testing.assert_frame_equal(off, same)


@pytest.mark.parametrize("changes", [{"bystander_exponent": 0.1, "audience_visible": True,
                                      "visible_audience_factor": 1.0},
                                     {"attention_span": 2.0}], ids=["bystander", "attention"])
def test_each_mechanism_damps_the_mean_field_storm_as_it_damps_the_abm(run_storm, changes):
    """Switched on, the mechanism lowers the ODE's reply-alls; the ABM's mean follows it.

    Mean of 8 runs at 20,000 users against the ODE, on the homogeneous storm of the test
    above: the accepted curve's sup error relative to its peak within 6 % (the closure's bias
    is <= 1 % and the mean of 8 runs of ~1,700 reply-alls has a standard error ~1 %: 3
    standard errors plus the bias and the finite-N lag of the first minutes).
    """
    base = storm_params(20_000)
    on = base.replace(**changes)
    ode_off, ode_on = (_curves(solve_ode(p)) for p in (base, on))
    assert ode_on["accepted"][-1] < 0.9 * ode_off["accepted"][-1]
    runs = [_curves(run_storm(on, seed=s).series) for s in range(8)]
    mean = np.mean([r["accepted"] for r in runs], axis=0)
    assert _sup_rel(mean, ode_on["accepted"]) < 0.06
    assert _sup_rel(np.mean([r["read_per_user"] for r in runs], axis=0),
                    ode_on["read_per_user"]) < 0.02


def test_relevance_in_the_mean_field_scales_the_exposure(organisation, small):
    from replyall_storm.model.relevance import mean_relevance

    org = organisation(small.n_users)
    params = small.replace(relevance_boost=2.0)
    w = mean_relevance(org, np.arange(small.n_users), params)
    assert 2.0**-4 < w < 1.0  # between a stranger's message and a team-mate's
    boosted = solve_ode(params, relevance_mean=w)
    scaled = solve_ode(small.replace(remove_rate=small.remove_rate * w,
                                     complain_rate=small.complain_rate * w,
                                     mute_rate=small.mute_rate * w))
    # relevance weighs every hazard's exposure alike: the same as scaling the three hazards
    np.testing.assert_allclose(boosted["accepted"], scaled["accepted"], rtol=1e-4, atol=1e-6)
