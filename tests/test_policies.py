"""Each mitigation mechanism pinned down, alone and inside a run."""

import math
from collections import deque

import numpy as np
import pytest

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.policies import Admission
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import get_scenario
from replyall_storm.model.transport import Transport

PROTECT = StormParams(storm_protection=True, sp_min_recipients=2_500, sp_threshold=10,
                      sp_block_h=6.0)


def test_storm_protection_blocks_exactly_after_the_kth_reply_within_the_window():
    adm = Admission(PROTECT, list_size=3_000)
    for minute in range(9):  # nine reply-alls in nine minutes: no block
        assert adm.admit(sender=minute, minute=minute) is None
    assert not adm.blocked(9)
    assert adm.admit(sender=99, minute=9) is None  # the 10th is delivered ...
    assert adm.admit(sender=100, minute=9) == "storm_protection"  # ... and blocks the rest
    assert adm.blocked(9) and adm.blocked(9 + 6 * 60 - 1)
    assert adm.admit(sender=101, minute=9 + 6 * 60 - 1) == "storm_protection"
    assert not adm.blocked(9 + 6 * 60)  # after H hours the thread can restart
    assert adm.admit(sender=102, minute=9 + 6 * 60) is None
    assert adm.blocks == [(9, 9 + 360.0)]


def test_storm_protection_counts_in_a_sliding_window():
    adm = Admission(PROTECT, list_size=3_000)
    # one reply every 7 minutes: at most 9 fall in any 60-minute window, never 10
    for i in range(40):
        assert adm.admit(sender=i, minute=7 * i) is None
    assert adm.blocks == []
    # one every 6 minutes: the 10th within 60 minutes triggers (minutes 0..54)
    adm = Admission(PROTECT, list_size=3_000)
    results = [adm.admit(sender=i, minute=6 * i) for i in range(12)]
    assert results[:10] == [None] * 10 and results[10:] == ["storm_protection"] * 2


def test_storm_protection_ignores_threads_below_the_recipient_threshold():
    adm = Admission(PROTECT, list_size=2_499)
    assert all(adm.admit(sender=i, minute=0) is None for i in range(100))


def test_sender_restriction_refuses_every_reply_on_large_lists_only():
    params = StormParams(sender_restriction=True, sr_min_list_size=500)
    big, small = Admission(params, 501), Admission(params, 500)
    assert all(big.admit(i, i) == "sender_restriction" for i in range(50))
    assert all(small.admit(i, i) is None for i in range(50))


def test_rate_limit_holds_in_every_sliding_hour():
    adm = Admission(StormParams(rate_limit_per_hour=2.0), list_size=1_000)
    got = [adm.admit(sender=7, minute=m) for m in (0, 1, 2, 3, 59, 60, 61, 62)]
    assert got == [None, None, "rate_limit", "rate_limit", "rate_limit", None, None,
                   "rate_limit"]
    assert adm.admit(sender=8, minute=2) is None  # limits are per sender


def test_transport_offer_counts_refusals_and_keeps_conservation():
    params = StormParams(storm_protection=True, sp_min_recipients=1_000, sp_threshold=5)
    tr = Transport(1_000, params)
    tr.submit(1, 0)
    ok = tr.offer(np.arange(8), minute=1)
    assert ok.tolist() == [True] * 5 + [False] * 3
    assert tr.refused["storm_protection"] == 3 and tr.bounced == 3 and tr.accepted == 6
    tr.disable(2, purge=True)
    assert not tr.offer(np.arange(2), minute=3).any()
    assert tr.refused["list_disabled"] == 2
    assert tr.accepted * tr.list_size == tr.delivered + tr.backlog + tr.purged


def _run(**changes):
    return simulate(get_scenario("small").params(**changes), seed=3, cache=False)


def test_storm_protection_in_a_run_blocks_for_h_hours_then_lets_replies_through():
    res = _run(storm_protection=True, sp_min_recipients=1_000, sp_threshold=5,
               sp_block_h=1.0, cutoff_min=math.inf, horizon_min=600)
    s, acc = res.summary, res.series["accepted"].to_numpy()
    assert s["protection_blocks"] >= 2 and s["bounced_storm_protection"] > 0
    cum = np.cumsum(acc)
    start = int(np.argmax(cum >= 5))  # the minute of the 5th reply-all: the block starts
    assert acc[start + 1:start + 60].sum() == 0
    assert acc[start + 60:].sum() > 0  # the thread restarts after the block


def test_sender_restriction_in_a_run_stops_every_reply_all():
    res = _run(sender_restriction=True)
    s, series = res.summary, res.series
    assert s["reply_alls_accepted"] == 0 and s["senders"] == 0 and s["messages_per_user"] == 1.0
    assert s["bounced"] == s["reply_alls_sent"] > 0
    open_list = series["minute"] < 60  # before the cut-off the restriction refuses them all
    sent_open = (series["sent_remove"] + series["sent_complain"])[open_list].sum()
    assert s["bounced_sender_restriction"] == sent_open > 0


def test_purge_at_cutoff_drops_the_queue_and_accounts_for_it():
    res = _run(purge_at_cutoff=True, capacity_per_min=500.0)
    s, series = res.summary, res.series
    assert s["purged"] > 0
    assert series.loc[series["minute"] >= 60, "backlog"].eq(0).all()
    L = s["list_size"]
    assert (s["reply_alls_accepted"] + 1) * L == s["deliveries"] + s["purged"]


def test_low_priority_queue_keeps_other_mail_flowing():
    base = _run(capacity_per_min=300.0, degrade_backlog=5_000.0)
    low = _run(capacity_per_min=300.0, degrade_backlog=5_000.0, low_priority_queue=True)
    assert base.summary["peak_unable_fraction"] > 0 and base.summary["service_restored_minute"] > 0
    assert low.summary["peak_unable_fraction"] == 0 and low.series["failed_checks"].sum() == 0
    assert low.summary["service_restored_minute"] == 0.0
    assert low.series["normal_delay_min"].eq(0).all() and low.series["delay_min"].max() > 30


def test_audience_warning_lowers_replies_only_above_its_threshold():
    seeds = range(6)
    base = [simulate(get_scenario("small").params(), seed=s, cache=False) for s in seeds]
    warned = [simulate(get_scenario("small").params(audience_warning=True), seed=s, cache=False)
              for s in seeds]
    below = [simulate(get_scenario("small").params(audience_warning=True,
                                                   warning_threshold=5_000), seed=s, cache=False)
             for s in seeds]
    sent = lambda runs: sum(r.summary["reply_alls_sent"] for r in runs)  # noqa: E731
    assert sent(warned) < 0.5 * sent(base)
    for a, b in zip(base, below, strict=True):  # threshold above the list: no effect at all
        assert a.series.equals(b.series)


@pytest.mark.parametrize("field, value", [
    ("sp_threshold", 4), ("sp_threshold", 21), ("sp_min_recipients", 6_000),
    ("sp_block_h", -1.0), ("sp_block_h", 13.0), ("warning_threshold", 0),
    ("rate_limit_per_hour", 0.0), ("sr_min_list_size", -5), ("sp_window_min", 0.0),
])
def test_bad_policy_settings_are_one_line_errors_naming_field_and_range(field, value):
    with pytest.raises(ParameterError) as err:
        StormParams().replace(**{field: value})
    msg = str(err.value)
    assert msg.startswith(f"{field}=") and "must be in [" in msg and "\n" not in msg


# --- the sliding windows at their exact boundaries --------------------------------------------

def test_ten_replies_sixty_minutes_apart_do_not_trigger_storm_protection():
    """The window is the last ``sp_window_min`` minutes, ``(t - 60, t]``: the first of ten
    replies spanning exactly 60 minutes has left it when the tenth arrives."""
    adm = Admission(PROTECT, list_size=3_000)
    for minute in [0, *range(52, 60)]:  # nine replies
        assert adm.admit(sender=minute, minute=minute) is None
    assert adm.admit(sender=99, minute=60) is None and adm.blocks == []
    assert adm.admit(sender=100, minute=60) is None  # ten within (0, 60]: 52..59, 60, 60
    assert adm.blocks == [(60, 420.0)] and adm.admit(sender=101, minute=60) == "storm_protection"
    # one minute less apart and the tenth triggers
    adm = Admission(PROTECT, list_size=3_000)
    assert [adm.admit(sender=m, minute=m) for m in [1, *range(52, 60), 60]] == [None] * 10
    assert adm.blocks == [(60, 420.0)]


def test_a_fractional_window_counts_whole_minutes_inside_it():
    adm = Admission(PROTECT.replace(sp_window_min=30.5), list_size=3_000)
    for minute in range(9):
        adm.admit(sender=minute, minute=3 * minute)  # minutes 0, 3, ..., 24
    assert adm.admit(sender=9, minute=30) is None and adm.blocks == [(30, 390.0)]  # 0 > -0.5
    adm = Admission(PROTECT.replace(sp_window_min=29.5), list_size=3_000)
    for minute in range(9):
        adm.admit(sender=minute, minute=3 * minute)
    assert adm.admit(sender=9, minute=30) is None and adm.blocks == []  # 0 <= 0.5: gone


def test_after_a_block_the_count_starts_afresh():
    """Replies refused during a block are not counted, and the window is emptied when the block
    starts: with a day-long window, nine replies after the block do not trigger a second one,
    the tenth does."""
    params = PROTECT.replace(sp_window_min=1440.0, sp_block_h=1.0)
    adm = Admission(params, list_size=3_000)
    assert [adm.admit(sender=m, minute=m) for m in range(10)] == [None] * 10
    assert adm.blocks == [(9, 69.0)]
    assert all(adm.admit(sender=m, minute=m) == "storm_protection" for m in range(10, 69))
    assert [adm.admit(sender=m, minute=m) for m in range(69, 78)] == [None] * 9
    assert len(adm.blocks) == 1
    assert adm.admit(sender=78, minute=78) is None and adm.blocks == [(9, 69.0), (78, 138.0)]


def test_replies_refused_by_the_rate_limit_do_not_count_for_storm_protection():
    params = PROTECT.replace(rate_limit_per_hour=1.0)
    adm = Admission(params, list_size=3_000)
    assert adm.admit(sender=1, minute=0) is None
    assert all(adm.admit(sender=1, minute=m) == "rate_limit" for m in range(1, 20))
    assert adm.blocks == [] and adm.window == deque([0])


def test_replies_blocked_by_storm_protection_do_not_count_for_the_rate_limit():
    params = PROTECT.replace(rate_limit_per_hour=1.0, sp_block_h=1.0)
    adm = Admission(params, list_size=3_000)
    assert [adm.admit(sender=s, minute=0) for s in range(10)] == [None] * 10  # block to 60
    assert adm.admit(sender=0, minute=30) == "storm_protection"
    assert adm.admit(sender=0, minute=61) is None  # its reply at 0 left the hour; 30 never counted


def test_sender_restriction_refuses_before_any_other_policy_counts():
    params = PROTECT.replace(sender_restriction=True, rate_limit_per_hour=1.0)
    adm = Admission(params, list_size=3_000)
    assert all(adm.admit(sender=i, minute=i) == "sender_restriction" for i in range(30))
    assert adm.blocks == [] and not adm.window and not adm.recent


@pytest.mark.parametrize("limit, allowed", [(1.0, 1), (1.5, 1), (2.0, 2), (2.9, 2)])
def test_the_rate_limit_is_at_most_its_value_in_any_hour(limit, allowed):
    adm = Admission(StormParams(rate_limit_per_hour=limit), list_size=1_000)
    got = [adm.admit(sender=3, minute=m) for m in range(10)]
    assert got == [None] * allowed + ["rate_limit"] * (10 - allowed)


# --- the rate limit end to end ---------------------------------------------------------------

def naive_rate_limit(offers, limit):
    """Accepted masks of every minute's offers under 'at most ``limit`` accepted reply-alls per
    sender in the last 60 minutes' (a direct reading of the rule)."""
    accepted_at: dict[int, list[int]] = {}
    out = []
    for senders, minute in offers:
        mask = []
        for s in senders.tolist():
            recent = [m for m in accepted_at.get(s, []) if m > minute - 60]
            ok = len(recent) + 1 <= limit
            if ok:
                accepted_at.setdefault(s, []).append(minute)
            mask.append(ok)
        out.append(np.array(mask, dtype=bool))
    return out


def test_the_rate_limit_holds_through_a_run():
    """Complainers complain again (repeat factor 20): without a limit some send several an hour;
    with a limit of 2 an hour every offer is admitted exactly as a direct reading of the rule
    says, and the run's counts add up."""
    from replyall_storm.model.engines.base import run_to_horizon
    from replyall_storm.model.run import build_engine

    base = get_scenario("small").params(n_users=1_000, horizon_min=300, complain_rate=4e-3,
                                        repeat_complain_factor=20.0, cutoff_min=math.inf,
                                        capacity_per_min=1e5)

    def run(params):
        engine = build_engine("fast", params, seed=6, cache=False)
        tr = engine.loop.transport
        offers, offer = [], tr.offer

        def logged(senders, minute, kinds=None):
            ok = offer(senders, minute, kinds)
            offers.append((senders.copy(), minute, ok.copy()))
            return ok

        tr.offer = logged
        return run_to_horizon(engine), tr, offers

    free, tr_free, _ = run(base)
    times = np.asarray(tr_free.send_minutes[1:])
    senders = np.asarray(tr_free.senders[1:])
    busiest = max(np.sum((senders == s) & (times > t - 60) & (times <= t))
                  for s, t in zip(senders, times, strict=True))
    assert busiest >= 4  # without a limit someone sends four in an hour

    limited, tr, offers = run(base.replace(rate_limit_per_hour=2.0))
    expected = naive_rate_limit([(s, m) for s, m, _ in offers], 2)
    for (_, minute, ok), want in zip(offers, expected, strict=True):
        np.testing.assert_array_equal(ok, want, err_msg=f"minute {minute}")
    s = limited.summary
    refused = sum(int((~ok).sum()) for _, _, ok in offers)
    assert s["bounced_rate_limit"] == tr.refused["rate_limit"] == refused > 0
    assert s["bounced"] == refused and s["reply_alls_accepted"] == tr.accepted - 1
    assert s["reply_alls_sent"] == sum(len(x) for x, _, _ in offers)
    assert s["senders"] <= s["senders_attempted"]
