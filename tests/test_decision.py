"""Limits, monotonicity and sampling of the shared decision rule (model/decision.py)."""

from __future__ import annotations

import numpy as np
import pytest

from replyall_storm.model.decision import (
    action_probabilities,
    annoyance,
    attention,
    bystander_factor,
    decide,
    exposure,
    hazards,
    relevance_weights,
)
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.states import Action

# Large hazards so that every probability is far from 0 and differences are visible.
BASE = StormParams().replace(remove_rate=0.02, complain_rate=0.03, mute_rate=0.05,
                             annoyance_half=10.0, peer_weight=0.5,
                             manager_complain_factor=2.0, repeat_remove_factor=0.1,
                             repeat_complain_factor=0.5, visible_audience_factor=0.2)


def probs(params, *, new=3.0, seen=10.0, peers=0.0, replied=False, manager=False,
          audience_visible=None):
    """(p_remove, p_complain, p_mute) as floats for one user."""
    h = hazards(seen, peers, replied, manager, params, audience_visible)
    return tuple(float(p) for p in action_probabilities(new, h))


def grid():
    """A grid of situations covering every input (arrays of equal length)."""
    new, seen, peers, replied, manager = np.meshgrid(
        [0, 1, 2, 7, 40], [1, 5, 20, 300], [0, 1, 4], [False, True], [False, True],
        indexing="ij")
    seen = seen + new  # seen includes this check's messages
    return (new.ravel().astype(float), seen.ravel().astype(float), peers.ravel().astype(float),
            replied.ravel(), manager.ravel())


# --- limits -----------------------------------------------------------------------------------

def test_zero_hazards_never_act():
    params = BASE.replace(remove_rate=0.0, complain_rate=0.0, mute_rate=0.0)
    new, seen, peers, replied, manager = grid()
    for p in action_probabilities(new, hazards(seen, peers, replied, manager, params)):
        assert np.all(p == 0.0)
    u = np.random.default_rng(1).random(new.size)
    u[:5] = 0.0  # even the smallest uniform draw
    assert np.all(decide(new, seen, peers, replied, manager, u, params) == Action.NONE)


def test_nothing_new_never_acts():
    _, seen, peers, replied, manager = grid()
    new = np.zeros_like(seen)
    for p in action_probabilities(new, hazards(seen, peers, replied, manager, BASE)):
        assert np.all(p == 0.0)
    u = np.zeros(new.size)  # u = 0 would pick any action with positive probability
    assert np.all(decide(new, seen, peers, replied, manager, u, BASE) == Action.NONE)


def test_probabilities_are_a_sub_distribution_with_the_exponential_total():
    new, seen, peers, replied, manager = grid()
    h = hazards(seen, peers, replied, manager, BASE)
    pr, pc, pm = action_probabilities(new, h)
    for p in (pr, pc, pm):
        assert np.all((p >= 0.0) & (p <= 1.0))
    total = pr + pc + pm
    assert np.all(total <= 1.0 + 1e-12)
    expected = 1.0 - np.exp(-(h.remove + h.complain + h.mute) * new)
    np.testing.assert_allclose(total, expected, rtol=1e-12, atol=1e-15)
    # the action is drawn in proportion to the hazards
    acting = total > 0
    np.testing.assert_allclose(pr[acting] / total[acting],
                               (h.remove / (h.remove + h.complain + h.mute))[acting], rtol=1e-12)


def test_huge_hazards_saturate_at_one():
    params = BASE.replace(remove_rate=1.0, complain_rate=1.0, mute_rate=1.0)
    total = sum(probs(params, new=10_000, seen=10_020, peers=50))
    assert total == pytest.approx(1.0)
    assert total <= 1.0 + 1e-12


def test_annoyance_formula():
    assert float(annoyance(0, BASE)) == 0.0
    assert float(annoyance(BASE.annoyance_half, BASE)) == pytest.approx(0.5)
    a = annoyance(np.array([1.0, 10.0, 100.0, 1e6]), BASE)
    assert np.all(np.diff(a) > 0) and np.all(a < 1.0)


# --- monotonicity -----------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    BASE,
    BASE.replace(remove_rate=0.5, complain_rate=0.001, mute_rate=0.001),  # remove dominates
    BASE.replace(remove_rate=0.001, complain_rate=0.5, mute_rate=0.5),  # annoyance dominates
])
@pytest.mark.parametrize("new", [1.0, 5.0, 60.0])
def test_annoyance_shifts_from_remove_me_to_complaints_and_muting(params, new):
    seens = new + np.array([0, 1, 3, 10, 30, 100, 1000, 10_000], dtype=float)
    rows = np.array([probs(params, new=new, seen=s, peers=1) for s in seens])
    remove, complain, mute = rows.T
    assert np.all(np.diff(complain) > 0)
    assert np.all(np.diff(mute) > 0)
    assert np.all(np.diff(remove) < 0)


@pytest.mark.parametrize("manager", [False, True])
@pytest.mark.parametrize("replied", [False, True])
def test_peers_raise_both_reply_probabilities(replied, manager):
    rows = np.array([probs(BASE, peers=k, replied=replied, manager=manager)
                     for k in (0, 1, 2, 5, 20)])
    remove, complain, mute = rows.T
    assert np.all(np.diff(remove) > 0)
    assert np.all(np.diff(complain) > 0)
    assert np.all(np.diff(mute) < 0)  # competing: more replies leave less room to mute


def test_peers_have_no_effect_without_peer_weight():
    params = BASE.replace(peer_weight=0.0)
    base = probs(params, peers=0)
    for k in (1, 3, 100):
        assert probs(params, peers=k) == base


def test_visible_audience_scales_reply_hazards_by_its_factor():
    new, seen, peers, replied, manager = grid()
    hidden = hazards(seen, peers, replied, manager, BASE, audience_visible=False)
    shown = hazards(seen, peers, replied, manager, BASE, audience_visible=True)
    f = BASE.visible_audience_factor
    np.testing.assert_allclose(shown.remove, f * hidden.remove, rtol=1e-12)
    np.testing.assert_allclose(shown.complain, f * hidden.complain, rtol=1e-12)
    np.testing.assert_allclose(shown.mute, hidden.mute, rtol=1e-12)
    # the scenario flag is the default, and a per-user array overrides it
    flagged = BASE.replace(audience_visible=True)
    np.testing.assert_allclose(hazards(seen, peers, replied, manager, flagged).remove,
                               shown.remove, rtol=1e-12)
    mask = np.arange(seen.size) % 2 == 0
    mixed = hazards(seen, peers, replied, manager, BASE, audience_visible=mask)
    np.testing.assert_allclose(mixed.remove, np.where(mask, shown.remove, hidden.remove))
    # probabilities are lower; for rare events the ratio is the factor itself
    for a, b in list(zip(probs(BASE, audience_visible=True), probs(BASE), strict=True))[:2]:
        assert a < b
    rare = BASE.replace(remove_rate=1e-6, complain_rate=1e-6, mute_rate=0.0)
    for a, b in list(zip(probs(rare, audience_visible=True), probs(rare), strict=True))[:2]:
        assert a / b == pytest.approx(f, rel=1e-4)


def test_managers_complain_more_by_their_factor():
    new, seen, peers, replied, _ = grid()
    staff = hazards(seen, peers, replied, False, BASE)
    boss = hazards(seen, peers, replied, True, BASE)
    np.testing.assert_allclose(boss.complain, BASE.manager_complain_factor * staff.complain)
    np.testing.assert_allclose(boss.remove, staff.remove)
    np.testing.assert_allclose(boss.mute, staff.mute)
    assert probs(BASE, manager=True)[1] > probs(BASE, manager=False)[1]
    same = BASE.replace(manager_complain_factor=1.0)
    assert probs(same, manager=True) == probs(same, manager=False)


def test_repeat_factors_apply_only_to_users_who_replied():
    new, seen, peers, _, manager = grid()
    first = hazards(seen, peers, False, manager, BASE)
    again = hazards(seen, peers, True, manager, BASE)
    np.testing.assert_allclose(again.remove, BASE.repeat_remove_factor * first.remove)
    np.testing.assert_allclose(again.complain, BASE.repeat_complain_factor * first.complain)
    np.testing.assert_allclose(again.mute, first.mute)
    keen = BASE.replace(repeat_remove_factor=3.0, repeat_complain_factor=4.0)
    np.testing.assert_allclose(hazards(seen, peers, True, manager, keen).complain,
                               4.0 * first.complain)


def test_hazard_formulas():
    seen, peers = 30.0, 2.0
    a = seen / (seen + BASE.annoyance_half)
    social = 1 + BASE.peer_weight * peers
    h = hazards(seen, peers, False, False, BASE)
    assert float(h.remove) == pytest.approx(BASE.remove_rate * (1 - a) * social)
    assert float(h.complain) == pytest.approx(BASE.complain_rate * a * social)
    assert float(h.mute) == pytest.approx(BASE.mute_rate * a)


# --- sampling ---------------------------------------------------------------------------------

@pytest.mark.parametrize("situation", [
    dict(new=3.0, seen=10.0, peers=0.0, replied=False, manager=False),
    dict(new=1.0, seen=40.0, peers=3.0, replied=True, manager=True),
    dict(new=12.0, seen=12.0, peers=1.0, replied=False, manager=True),
])
def test_decide_samples_the_action_probabilities(situation):
    n = 200_000
    rng = np.random.default_rng(12345)
    full = {k: np.full(n, v) for k, v in situation.items()}
    actions = decide(full["new"], full["seen"], full["peers"], full["replied"],
                     full["manager"], rng.random(n), BASE)
    assert actions.dtype == np.int8 and actions.shape == (n,)
    pr, pc, pm = probs(BASE, **situation)
    for code, p in ((Action.REMOVE_ME, pr), (Action.COMPLAIN, pc), (Action.MUTE, pm),
                    (Action.NONE, 1.0 - pr - pc - pm)):
        assert 0.0 < p < 1.0
        count = int(np.count_nonzero(actions == code))
        sd = np.sqrt(n * p * (1 - p))
        assert abs(count - n * p) < 4.5 * sd, (Action(code).name, count, n * p, sd)


def test_decide_thresholds_follow_cumulative_probabilities():
    pr, pc, pm = probs(BASE)
    one = dict(new=np.array([3.0]), seen=np.array([10.0]), peers=np.array([0.0]),
               replied=np.array([False]), manager=np.array([False]))

    def act(u):
        return int(decide(**one, uniform=np.array([u]), params=BASE)[0])

    eps = 1e-9
    assert act(0.0) == Action.REMOVE_ME
    assert act(pr - eps) == Action.REMOVE_ME
    assert act(pr + eps) == Action.COMPLAIN
    assert act(pr + pc - eps) == Action.COMPLAIN
    assert act(pr + pc + eps) == Action.MUTE
    assert act(pr + pc + pm - eps) == Action.MUTE
    assert act(pr + pc + pm + eps) == Action.NONE
    assert act(1.0 - eps) == Action.NONE


def test_vectorised_call_equals_scalar_calls():
    new, seen, peers, replied, manager = grid()
    rng = np.random.default_rng(7)
    u = rng.random(new.size)
    visible = rng.random(new.size) < 0.5
    vec = decide(new, seen, peers, replied, manager, u, BASE, audience_visible=visible)
    h = hazards(seen, peers, replied, manager, BASE, audience_visible=visible)
    vp = action_probabilities(new, h)
    for i in range(new.size):
        one = decide(np.array([new[i]]), np.array([seen[i]]), np.array([peers[i]]),
                     np.array([replied[i]]), np.array([manager[i]]), np.array([u[i]]), BASE,
                     audience_visible=bool(visible[i]))
        assert one.shape == (1,) and int(one[0]) == int(vec[i])
        hi = hazards(seen[i], peers[i], bool(replied[i]), bool(manager[i]), BASE,
                     audience_visible=bool(visible[i]))
        for p_vec, p_one in zip(vp, action_probabilities(new[i], hi), strict=True):
            assert float(p_one) == float(p_vec[i])
    # every action occurs in this sample, so the comparison covers them all
    assert set(np.unique(vec)) == {int(a) for a in Action}


# --- the perception mechanisms (bystander, relevance, attention) -------------------------------

def test_each_mechanism_switched_off_is_todays_rule():
    new, seen, peers, replied, manager = grid()
    u = np.random.default_rng(7).random(new.size)
    base = decide(new, seen, peers, replied, manager, u, BASE)
    off = BASE.replace(bystander_exponent=0.0, relevance_boost=1.0, attention_span=np.inf)
    for kwargs in ({}, {"weighted": new, "list_size": 840_000}):
        np.testing.assert_array_equal(decide(new, seen, peers, replied, manager, u, off,
                                             **kwargs), base)
    for visible in (False, True):
        h0 = hazards(seen, peers, replied, manager, BASE, visible)
        h1 = hazards(seen, peers, replied, manager, off, visible, list_size=10_000)
        for a, b in zip((h0.remove, h0.complain, h0.mute), (h1.remove, h1.complain, h1.mute),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(exposure(new, None, off), new)


@pytest.mark.parametrize("beta", [0.3, 1.0])
def test_bystander_hazards_fall_with_the_perceived_audience(beta):
    params = BASE.replace(bystander_exponent=beta, hidden_audience_size=5.0)
    sizes = np.array([5, 50, 500, 7_500, 840_000])
    h = hazards(10.0, 0.0, False, False, params, True, list_size=sizes)
    assert np.all(np.diff(h.remove) < 0) and np.all(np.diff(h.complain) < 0)
    np.testing.assert_allclose(h.remove / h.remove[0], (sizes / 5.0) ** -beta)
    mute = hazards(10.0, 0.0, False, False, BASE, True, list_size=sizes).mute
    assert float(h.mute) == float(mute)  # muting is not a reply: no bystander effect
    hidden = hazards(10.0, 0.0, False, False, params, False, list_size=840_000)
    plain = hazards(10.0, 0.0, False, False, BASE, False)
    assert float(hidden.remove) == pytest.approx(float(plain.remove))  # few addresses shown
    np.testing.assert_allclose(bystander_factor(np.array([False, True]), 500, params),
                               [1.0, 100.0 ** -beta])


def test_relevance_weights_fall_with_organisational_distance():
    w = relevance_weights(BASE.replace(relevance_boost=3.0))
    np.testing.assert_allclose(w, [1.0, 1 / 3, 1 / 9, 1 / 27, 1 / 81], rtol=1e-15)
    assert np.all(relevance_weights(BASE) == 1.0)
    # a check reading close messages is more likely to reply than one reading strangers'
    near = probs(BASE, new=4.0)
    far = action_probabilities(exposure(4.0, 4.0 / 81.0, BASE),
                               hazards(10.0, 0.0, False, False, BASE))
    assert float(far[0]) < near[0] and float(far[1]) < near[1]


@pytest.mark.parametrize("span", [1.0, 10.0, 100.0])
def test_limited_attention_skims_long_unread_threads(span):
    params = BASE.replace(attention_span=span)
    new = np.array([1.0, 2.0, 10.0, 100.0, 1_000.0])
    share = attention(new, params)
    assert np.all(np.diff(share) < 0) and np.all(share <= 1.0)
    x = exposure(new, None, params)
    assert np.all(np.diff(x) > 0) and np.all(x < span)  # more to read, but never past span
    np.testing.assert_allclose(x, new / (1.0 + new / span))
    # the chance to act per message read falls as the unread pile grows
    h = hazards(20.0, 0.0, False, False, params)
    p_act = sum(action_probabilities(x, h))
    assert np.all(np.diff(p_act / new) < 0)


def test_decide_for_hands_the_rule_every_input():
    """Each field of RuleInputs reaches the rule: the list's own size (a department's list
    under the bystander effect, not the organisation's), weights, audience, roles."""
    from replyall_storm.model.decision import RuleInputs, decide_for

    params = BASE.replace(n_users=2_000, bystander_exponent=0.5, relevance_boost=2.0)
    new, seen, peers, replied, manager = grid()
    rng = np.random.default_rng(9)
    u = rng.random(new.size)
    weighted = new * rng.uniform(0.5, 4.0, new.size)
    visible = rng.random(new.size) < 0.5
    inputs = RuleInputs(new=new, seen=seen, peers=peers, replied=replied, manager=manager,
                        audience_visible=visible, list_size=60, weighted=weighted)
    got = decide_for(inputs, u, params)
    want = decide(new, seen, peers, replied, manager, u, params, visible, weighted=weighted,
                  list_size=60)
    np.testing.assert_array_equal(got, want)
    whole = decide(new, seen, peers, replied, manager, u, params, visible, weighted=weighted)
    assert not np.array_equal(got, whole)  # the list's size matters here
