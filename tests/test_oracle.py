"""The fast engine against an independent reference implementation (tests/oracle.py).

The engines' agreement (tests/test_engines.py) cannot see a bug in what they share: the check
schedule, the rule, the transport, the policies, the minute loop. The oracle re-implements all
of it from the documentation, one user and one message at a time, with its own generator. Over
many seeds the two must give the same distribution of outcomes that each depend on a different
part: the checks made (the interval laws and the working-day rhythm), the checks that failed
(degradation per database), the storm's size, its senders and complaints (the rule, peers,
repeat replies, policies), the muted, the unaware (first checks and deliveries), messages read
and received (transport capacity per database) and the backlog and its delay.

Each outcome is compared with two-sample Kolmogorov-Smirnov and Mann-Whitney tests; the two
samples agree if every p-value is above ``ALPHA`` = 0.001 (about 20 p-values per scenario, so a
correct implementation fails a scenario with probability of about 2 %; the seeds are fixed, so
the suite is deterministic). The power check runs the same comparison against the fast engine
with one thing changed by a modest amount, and requires that it fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from oracle import oracle_run
from scipy import stats

from replyall_storm.model.scenarios import get_scenario

ALPHA = 1e-3
RUNS = 150

# a storm on 300 users from 17:00 (the working day ends at 18:00, the night starts at 20:00),
# a transport that queues (half a message per member per minute) and degrades, a cut-off
PLAIN = dict(n_users=300, horizon_min=240, start_clock_h=17.0, remove_rate=6e-3,
             complain_rate=6e-3, peer_weight=1.0, repeat_complain_factor=3.0,
             capacity_per_min=150.0, degrade_backlog=1_500.0, cutoff_min=150.0)
# every mechanism and policy a 300-user list can have: three databases of unequal speed, a purge
# at the cut-off, exponential checks, relevance, limited attention, a visible audience with the
# bystander effect, a per-sender rate limit for keen complainers. Relevance weighs a team's
# message 1 and a stranger's BOOST ** -4: the hazards are per team message, BOOST ** 4 times
# those of a list where every message weighs 1
BOOST = 2.0
MECHANISMS = {**PLAIN, "n_databases": 3, "capacity_spread": 1.0, "purge_at_cutoff": True,
              "check_distribution": "exponential", "relevance_boost": BOOST,
              "attention_span": 10.0, "audience_warning": True, "bystander_exponent": 0.3,
              "visible_audience_factor": 0.8, "remove_rate": 6e-3 * BOOST**4,
              "complain_rate": 1e-2 * BOOST**4,
              "mute_rate": get_scenario("small").params().mute_rate * BOOST**4,
              "repeat_complain_factor": 20.0, "rate_limit_per_hour": 2.0}
# storm protection needs a list of at least 1,000 members
PROTECTION = dict(n_users=1_000, horizon_min=180, remove_rate=2e-3, complain_rate=2e-3,
                  peer_weight=1.0, capacity_per_min=2_000.0, cutoff_min=float("inf"),
                  storm_protection=True, sp_min_recipients=1_000, sp_threshold=8,
                  sp_window_min=20.0, sp_block_h=1.0)
SCENARIOS = {"plain": (PLAIN, RUNS), "mechanisms": (MECHANISMS, RUNS),
             "protection": (PROTECTION, 60)}
# changes the comparison must detect: checks 10 % less often; reply hazards 1.25 times
ALTERNATIVES = {"slower_checks": dict(check_median_min=22.0),
                "keener_replies": dict(remove_rate=7.5e-3, complain_rate=7.5e-3)}


def outcomes(series: pd.DataFrame, senders: int, attempted: int) -> dict[str, float]:
    """What is compared for one run (each column depends on a different part of the model)."""
    return {
        "checks": series["checks"].sum(),
        "failed_checks": series["failed_checks"].sum(),
        "accepted": series["accepted"].sum(),
        "bounced": series["bounced"].sum(),
        "complaints": series["sent_complain"].sum(),
        "senders": senders,
        "attempted": attempted,
        "muted": series["muted"].iloc[-1],
        "unaware@20": series["unaware"].iloc[20],
        "unaware@end": series["unaware"].iloc[-1],
        "read@end": series["read_per_user"].iloc[-1],
        "received@60": series["received_per_user"].iloc[60],
        "peak_backlog": series["backlog"].max(),
        "max_delay": series["delay_min"].max(),
    }


def fast_ensemble(run_storm, params, runs: int) -> pd.DataFrame:
    rows = []
    for seed in range(runs):
        res = run_storm(params, seed=seed)
        rows.append(outcomes(res.series, res.summary["senders"],
                             res.summary["senders_attempted"]))
    return pd.DataFrame(rows)


def oracle_ensemble(organisation, params, runs: int) -> pd.DataFrame:
    rows = []
    for seed in range(runs):
        series, totals = oracle_run(params, organisation(params.n_users), 10_000 + seed)
        rows.append(outcomes(series, totals["senders"], totals["senders_attempted"]))
    return pd.DataFrame(rows)


def p_values(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    """The smaller of the KS and Mann-Whitney p-values, per outcome (1 if both are constant)."""
    out = {}
    for col in a.columns:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        if np.ptp(np.r_[x, y]) == 0:
            out[col] = 1.0
            continue
        out[col] = min(stats.ks_2samp(x, y).pvalue,
                       stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    return out


_CACHE: dict[tuple[str, str], pd.DataFrame] = {}


def ensemble(run_storm, organisation, scenario: str, kind: str) -> pd.DataFrame:
    """The outcomes of ``scenario`` by the oracle, the fast engine, or the fast engine under an
    alternative (plain scenario), computed once per session (a few seconds each)."""
    key = (scenario, kind)
    if key not in _CACHE:
        changes, runs = SCENARIOS[scenario]
        params = get_scenario("small").params(**changes)
        if kind == "oracle":
            _CACHE[key] = oracle_ensemble(organisation, params, runs)
        else:
            params = params.replace(**ALTERNATIVES.get(kind, {}))
            _CACHE[key] = fast_ensemble(run_storm, params, runs)
    return _CACHE[key]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_fast_engine_agrees_with_the_oracle(run_storm, organisation, scenario):
    p = p_values(ensemble(run_storm, organisation, scenario, "oracle"),
                 ensemble(run_storm, organisation, scenario, "fast"))
    low = {k: v for k, v in p.items() if v <= ALPHA}
    assert not low, (scenario, low, p)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_ensembles_exercise_what_they_compare(run_storm, organisation, scenario):
    for kind in ("oracle", "fast"):
        frame = ensemble(run_storm, organisation, scenario, kind)
        assert frame["accepted"].max() >= 25 and frame["accepted"].std() > 5
        assert frame["senders"].max() >= 20 and frame["muted"].max() >= 10
        assert frame["checks"].std() > 0 and frame["bounced"].max() > 0
        if scenario != "protection":  # a queue that degrades the service
            assert frame["failed_checks"].max() > 0 and frame["max_delay"].max() > 60


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_the_comparison_detects_a_real_difference(run_storm, organisation, alternative):
    p = p_values(ensemble(run_storm, organisation, "plain", "oracle"),
                 ensemble(run_storm, organisation, "plain", alternative))
    assert min(p.values()) <= ALPHA, (alternative, p)  # the agreement test would fail
