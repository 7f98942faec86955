"""Mitigations that decide whether a reply-all reaches the list: real mechanisms, real settings.

Each mechanism is switched on and tuned by fields of :class:`StormParams`, so policies compose
(any combination can be on) and sweep like any parameter. The transport asks
:class:`Admission` about every reply-all offered in a minute, in order; refused ones bounce
back to their senders (a non-delivery report) and are counted by reason.

* **Reply-all storm protection** (Exchange Online, 2020/2021): on a thread sent to at least
  ``sp_min_recipients`` (default 2,500; configurable 1,000-5,000; 5,000 before 2021) the
  ``sp_threshold``-th reply-all (default 10; 5-20) accepted within a sliding
  ``sp_window_min`` (60 min) blocks further reply-alls for ``sp_block_h`` hours (default 6;
  1-12; 4 before 2021). The reply that reaches the threshold is itself delivered; once the
  block ends the count starts afresh and the thread can restart.
* **Sender restriction** (NHSmail today): on a list of more than ``sr_min_list_size`` members
  (default 500) only named senders may post; here the named sender is the list's owner who
  sent the original message, so every reply-all bounces.
* **Per-sender rate limit**: at most ``rate_limit_per_hour`` reply-alls per sender within any
  sliding 60 minutes (Exchange Online's limit is 30 a minute; a list counts as one recipient,
  so the real limit never binds in a storm; lower it to see what would).
* **Administrator cut-off** and **purge** (``cutoff_min``, ``purge_at_cutoff``), the
  **large-audience warning** (``audience_warning``, ``warning_threshold``: the audience is
  shown, lowering reply hazards) and the **low-priority queue** (``low_priority_queue``: storm
  traffic no longer degrades the service for other mail) act elsewhere: in the minute loop,
  the decision rule and the transport's degradation.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .parameters import StormParams

REASONS = ("list_disabled", "storm_protection", "sender_restriction", "rate_limit")
"""Why a reply-all bounced, as counted in the transport's ``refused`` dict."""


class Admission:
    """The policies that admit or refuse each reply-all offered to the list.

    Args:
        params: the scenario (policy switches and settings).
        list_size: members of the list (users).
    """

    def __init__(self, params: StormParams, list_size: int) -> None:
        self.params = params
        self.protect = params.storm_protection and list_size >= params.sp_min_recipients
        self.restrict = params.sender_restriction and list_size > params.sr_min_list_size
        self.rate_limited = np.isfinite(params.rate_limit_per_hour)
        self.window: deque[int] = deque()  # minutes of reply-alls counted by storm protection
        self.blocked_until = -1.0  # storm protection blocks replies before this minute
        self.blocks: list[tuple[int, float]] = []  # (start, end) minute of each block
        self.recent: dict[int, deque[int]] = {}  # sender -> minutes of accepted reply-alls

    @property
    def active(self) -> bool:
        """Whether any policy here can refuse a reply-all (else everything is admitted)."""
        return bool(self.protect or self.restrict or self.rate_limited)

    def blocked(self, minute: int) -> bool:
        """Whether storm protection blocks reply-alls at ``minute``."""
        return minute < self.blocked_until

    def admit(self, sender: int, minute: int) -> str | None:
        """None if the reply-all from ``sender`` at ``minute`` is accepted, else the reason.

        Accepting updates the policies' state (sliding windows, blocks).
        """
        p = self.params
        if self.restrict:
            return "sender_restriction"
        if self.protect and self.blocked(minute):
            return "storm_protection"
        if self.rate_limited:
            sent = self.recent.setdefault(sender, deque())
            while sent and sent[0] <= minute - 60:
                sent.popleft()
            if len(sent) + 1 > p.rate_limit_per_hour:  # at most the limit, also when fractional
                return "rate_limit"
            sent.append(minute)
        if self.protect:
            window = self.window
            window.append(minute)
            while window and window[0] <= minute - p.sp_window_min:
                window.popleft()
            if len(window) >= p.sp_threshold:
                self.blocked_until = minute + p.sp_block_h * 60.0
                self.blocks.append((minute, self.blocked_until))
                window.clear()
        return None
