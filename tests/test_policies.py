"""Each mitigation mechanism pinned down, alone and inside a run."""

import math

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
