"""What a run reports (model/observables.py): every summary field on hand-built series with known
answers, and the recorder's columns minute by minute."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from replyall_storm.model.observables import (
    COLUMNS,
    FLOAT_COLUMNS,
    NORMAL_DELAY_MIN,
    Recorder,
    service_restored_minute,
    summarise,
)
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.policies import REASONS
from replyall_storm.model.states import STATE_NAMES
from replyall_storm.model.transport import Transport


def frame(n: int, **columns) -> pd.DataFrame:
    """A per-minute series of ``n`` minutes: zeros, except the columns given."""
    df = pd.DataFrame({"minute": np.arange(n), "clock_h": (9.0 + np.arange(n) / 60.0) % 24})
    for c in COLUMNS:
        df[c] = np.asarray(columns.get(c, np.zeros(n)))
    df["list_active"] = df["list_active"].astype(bool)
    return df


def transport(**fields) -> SimpleNamespace:
    """What summarise reads of a transport at the end of a run."""
    base = dict(list_size=10, delivered=0, accepted=1, purged=0, bounced=0,
                refused=dict.fromkeys(REASONS, 0), admission=SimpleNamespace(blocks=[]),
                cut_minute=math.nan)
    return SimpleNamespace(**{**base, **fields})


# --- the storm of the hand-built run --------------------------------------------------------------
# 10 members, 12 minutes. Reply-alls: 2 remove-me at minute 1 (accepted), 1 complaint at minute 3
# (accepted), 2 complaints at minute 7 (one accepted, one bounced by storm protection), 1 remove-me
# at minute 9 (bounced: the list was disabled at minute 8). Accepted: 1 + 4 messages, 50
# deliveries; the backlog peaks twice at 24 (minutes 4 and 8: the first counts); 46 delivered,
# 4 purged at the cut-off.
SENT_REMOVE = [0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
SENT_COMPLAIN = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]
ACCEPTED = [0, 2, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
BACKLOG = [5, 20, 12, 17, 24, 18, 9, 14, 24, 0, 0, 0]
DELAY = [0.0, 1.0, 2.0, 3.0, 30.0, 5.0, 16.0, 15.0, 2.0, 0.0, 0.0, 0.0]
UNABLE = [0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def storm_summary(read=None, **changes):
    series = frame(12, sent_remove=SENT_REMOVE, sent_complain=SENT_COMPLAIN, accepted=ACCEPTED,
                   bounced=[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0], backlog=BACKLOG,
                   delay_min=DELAY, normal_delay_min=DELAY, unable_fraction=UNABLE,
                   unaware=[10, 9, 8, 6, 5, 5, 4, 4, 3, 3, 3, 2],
                   reading=[0, 1, 1, 2, 3, 2, 2, 2, 3, 3, 2, 2],
                   replied=[0, 0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3],
                   muted=[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3],
                   list_active=[True] * 8 + [False] * 4, **changes)
    refused = {**dict.fromkeys(REASONS, 0), "storm_protection": 1, "list_disabled": 1}
    tr = transport(delivered=46, accepted=5, purged=4, bounced=2, refused=refused,
                   admission=SimpleNamespace(blocks=[(7, 367.0)]), cut_minute=8.0)
    read = np.array([0, 1, 2, 3, 4, 5, 5, 5, 5, 40]) if read is None else read
    return summarise(series, tr, read, senders_reached=3, senders_attempted=4)


def test_every_summary_field_of_a_hand_built_storm():
    s = storm_summary()
    expected = {
        "list_size": 10, "messages_per_user": 4.6, "messages_per_user_eventual": 4.6,
        "messages_read_per_user": 7.0, "read_p50": 4.5, "read_p95": 24.25,
        "reply_alls_sent": 6, "reply_alls_accepted": 4, "remove_me_sent": 3,
        "complaints_sent": 3, "bounced": 2, "bounced_list_disabled": 1,
        "bounced_storm_protection": 1, "bounced_sender_restriction": 0, "bounced_rate_limit": 0,
        "protection_blocks": 1, "senders": 3, "senders_attempted": 4, "deliveries": 46,
        "purged": 4, "peak_backlog": 24, "peak_backlog_minute": 4, "max_delay_min": 30.0,
        "peak_unable_fraction": 0.2, "service_restored_minute": 7.0, "cutoff_minute": 8.0,
        "last_accepted_minute": 7, "backlog_cleared_minute": 9.0, "final_unaware": 2,
        "final_reading": 2, "final_replied": 3, "final_muted": 3,
    }
    assert set(s) == set(expected)
    for key, value in expected.items():
        assert s[key] == pytest.approx(value, rel=1e-12), key
        assert type(s[key]) in (int, float), key


def test_read_quantiles_interpolate_between_members():
    # numpy's linear percentiles: p50 of 0..20 (step 2) is 20, p95 is 38 (0.95 * 20 positions)
    s = storm_summary(read=np.arange(21) * 2)
    assert (s["read_p50"], s["read_p95"], s["messages_read_per_user"]) == (20.0, 38.0, 20.0)
    empty = storm_summary(read=np.zeros(0, dtype=np.int64))
    assert (empty["read_p50"], empty["read_p95"], empty["messages_read_per_user"]) == (0, 0, 0)


def test_eventual_messages_count_the_queue_but_not_the_purge():
    series = frame(3, accepted=[1, 0, 0], backlog=[20, 15, 15])
    tr = transport(list_size=10, delivered=5, accepted=2, purged=0)
    s = summarise(series, tr, np.zeros(10), 0, 0)
    assert s["messages_per_user"] == 0.5 and s["messages_per_user_eventual"] == 2.0
    tr.purged = 15
    assert summarise(series, tr, np.zeros(10), 0, 0)["messages_per_user_eventual"] == 0.5


def test_a_run_without_replies():
    series = frame(5, backlog=[10, 0, 0, 0, 0], unaware=[10, 8, 8, 8, 8], reading=[0, 2, 2, 2, 2])
    s = summarise(series, transport(delivered=10), np.ones(10), 0, 0)
    assert s["reply_alls_accepted"] == 0 and s["last_accepted_minute"] == 0
    assert s["backlog_cleared_minute"] == 1.0  # the original delivered in minute 1
    assert s["peak_backlog"] == 10 and s["peak_backlog_minute"] == 0
    assert s["service_restored_minute"] == 0.0 and s["final_reading"] == 2
    assert math.isnan(s["cutoff_minute"])


@pytest.mark.parametrize("accepted, backlog, cleared", [
    ([0, 1, 0, 0, 1, 0, 0, 0], [0, 10, 0, 0, 10, 5, 0, 0], 6.0),  # not the gap before the last
    ([0, 1, 0, 0, 1, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0, 0], 4.0),  # cleared in the same minute
    ([0, 1, 0, 0, 1, 0, 0, 0], [0, 10, 0, 0, 10, 5, 3, 1], math.nan),  # never within the run
    ([0, 0, 0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 20], math.nan),  # the last minute accepts
])
def test_backlog_cleared_minute_is_after_the_last_accepted_reply(accepted, backlog, cleared):
    s = summarise(frame(8, accepted=accepted, backlog=backlog), transport(), np.zeros(10), 0, 0)
    assert s["last_accepted_minute"] == max(np.flatnonzero(accepted))
    if math.isnan(cleared):
        assert math.isnan(s["backlog_cleared_minute"])
    else:
        assert s["backlog_cleared_minute"] == cleared


@pytest.mark.parametrize("unable, delay, restored", [
    ([0.0] * 6, [0.0] * 6, 0.0),  # never disrupted
    ([0.0] * 6, [NORMAL_DELAY_MIN] * 6, 0.0),  # at the threshold is not disrupted
    ([0.0] * 6, [0.0, 15.5, 0.0, 0.0, 0.0, 0.0], 2.0),  # just over it is
    ([0.0, 1e-9, 0.0, 0.0, 0.0, 0.0], [0.0] * 6, 2.0),  # any failed-check share is
    ([0.1, 0.0, 0.0, 0.0, 0.3, 0.0], [0.0] * 6, 5.0),  # a relapse: after the last disruption
    ([0.0, 0.0, 0.0, 0.0, 0.0, 0.2], [0.0] * 6, math.nan),  # disrupted in the last minute
    ([0.0] * 6, [20.0] * 6, math.nan),  # never restored
])
def test_service_restored_minute(unable, delay, restored):
    series = frame(6, unable_fraction=unable, normal_delay_min=delay, delay_min=delay)
    got = service_restored_minute(series)
    assert (math.isnan(got) and math.isnan(restored)) or got == restored
    # only ordinary mail counts: the storm's own delay, queued apart, does not
    if not any(unable):
        quiet = frame(6, delay_min=[99.0] * 6)
        assert service_restored_minute(quiet) == 0.0


def test_max_delay_is_the_storms_and_service_follows_ordinary_mail():
    """On a low-priority queue the storm's delay and ordinary mail's differ."""
    series = frame(4, delay_min=[0.0, 40.0, 41.0, 0.0], normal_delay_min=[0.0, 0.0, 0.0, 0.0],
                   backlog=[5, 5, 5, 0])
    s = summarise(series, transport(), np.zeros(10), 0, 0)
    assert s["max_delay_min"] == 41.0 and s["service_restored_minute"] == 0.0


def test_peak_backlog_minute_is_the_first_of_a_plateau():
    series = frame(6, backlog=[3, 7, 9, 9, 9, 2])
    s = summarise(series, transport(), np.zeros(10), 0, 0)
    assert (s["peak_backlog"], s["peak_backlog_minute"]) == (9, 2)


# --- the recorder -------------------------------------------------------------------------------

def test_recorder_columns_minute_by_minute():
    params = StormParams().replace(capacity_per_min=16.0, n_databases=2, degrade_backlog=1e9)
    tr = Transport(10, params)  # two databases of 5 members, 8 deliveries a minute each
    tr.submit(1, 0)  # the original, before minute 0
    rec = Recorder(horizon=4, list_size=10, start_clock_h=23.5, n_databases=2)
    counts = np.array([6, 2, 1, 1])
    for minute, senders in enumerate(([1, 2, 3], [], [4], [5, 6])):
        ok = tr.offer(np.array(senders, dtype=np.int64), minute)
        if minute == 2:
            tr.disable(3, purge=False)  # minute 3's reply-alls bounce
        made = tr.deliver()
        rec.record(minute, sent_remove=len(senders), sent_complain=0, accepted=int(ok.sum()),
                   bounced=len(senders) - int(ok.sum()), delivered=made, transport=tr,
                   read_total=7 * minute, counts=counts + minute, checks=10 + minute,
                   failed_checks=minute, unable_fraction=0.1 * minute)
    df = rec.frame()
    assert list(df.columns) == ["minute", "clock_h", *COLUMNS]
    np.testing.assert_allclose(df["clock_h"], [23.5, 23.5 + 1 / 60, 23.5 + 2 / 60, 23.55])
    np.testing.assert_array_equal(df["accepted"], [3, 0, 1, 0])
    np.testing.assert_array_equal(df["bounced"], [0, 0, 0, 2])
    # 40 deliveries queued by minute 0 (the original and three replies), 10 more in minute 2
    np.testing.assert_array_equal(df["delivered"], [16, 16, 16, 2])
    np.testing.assert_array_equal(df["backlog"], [24, 8, 2, 0])
    np.testing.assert_allclose(df["received_per_user"], [1.6, 3.2, 4.8, 5.0])
    np.testing.assert_allclose(df["read_per_user"], [0.0, 0.7, 1.4, 2.1])
    # what the transport handled: each accepted message expanded to 10 deliveries (the original
    # in minute 0), the deliveries, one non-delivery report per bounced reply
    np.testing.assert_array_equal(df["transport_events"], [40 + 16, 16, 10 + 16, 2 + 2])
    np.testing.assert_array_equal(df["list_active"], [True, True, False, False])
    np.testing.assert_array_equal(df[STATE_NAMES].iloc[2], counts + 2)
    np.testing.assert_array_equal(df["checks"], [10, 11, 12, 13])
    np.testing.assert_array_equal(df["failed_checks"], [0, 1, 2, 3])
    np.testing.assert_allclose(df["unable_fraction"], [0.0, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(rec.streams, [[8, 8], [16, 16], [24, 24], [25, 25]])
    for c in COLUMNS:
        want = bool if c == "list_active" else (np.float64 if c in FLOAT_COLUMNS else np.int64)
        assert df[c].dtype == want, c
        value = rec.value(c, 2)
        assert type(value) is (bool if c == "list_active" else
                               float if c in FLOAT_COLUMNS else int), c
        assert value == df[c].iloc[2], c


def test_recorder_keeps_the_delays_of_the_storm_and_of_ordinary_mail():
    for low_priority in (False, True):
        params = StormParams().replace(capacity_per_min=3.0, low_priority_queue=low_priority)
        tr = Transport(10, params)
        tr.submit(1, 0)
        rec = Recorder(horizon=4, list_size=10, start_clock_h=8.0)
        for minute in range(4):
            made = tr.deliver()
            rec.record(minute, sent_remove=0, sent_complain=0, accepted=0, bounced=0,
                       delivered=made, transport=tr, read_total=0,
                       counts=np.array([10, 0, 0, 0]), checks=0, failed_checks=0,
                       unable_fraction=0.0)
        df = rec.frame()
        # 3 deliveries a minute: the original is in every inbox after minute 3
        np.testing.assert_array_equal(df["delay_min"], [0.0, 1.0, 2.0, 0.0])
        normal = [0.0] * 4 if low_priority else [0.0, 1.0, 2.0, 0.0]
        np.testing.assert_array_equal(df["normal_delay_min"], normal)
