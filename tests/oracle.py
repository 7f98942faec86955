"""A deliberately simple reference implementation of a storm, to test what both engines share.

The fast engine and the Mesa model share the world's draws, the check schedule, the decision
rule, the transport, the policies and the minute loop, so a bug in any of them is common to
both and their agreement cannot show it. This oracle is written from the model's documentation
(the docstrings of ``model/checking.py``, ``decision.py``, ``transport.py``, ``policies.py``,
``relevance.py`` and ``minute_loop.py``), imports none of that code, and does everything the
plain way, one user and one message at a time:

* its own generator (Python's ``random``, not NumPy) and its own world: originator, list,
  expansion order, each member's median interval and first check;
* a calendar of checks from the interval laws as documented (log-normal around the user's
  median or exponential, stretched by the activity of the clock at the check, whole minutes);
* the rule applied message by message: each message read, weighted by relevance and by
  attention, is a chance ``1 - exp(-H x)`` to act; the first that acts decides the action in
  proportion to the three hazards (the same law as one draw for the whole check);
* an explicit FIFO of ``(message, member)`` deliveries per mailbox database, each delivering at
  most its capacity a minute; members' inboxes are lists of message ids;
* the policies as the sentences that define them (at most ``k`` accepted reply-alls in the last
  60 minutes, the ``sp_threshold``-th accepted reply-all within the window starts a block...).

It costs a Python step per check and per delivery: a few hundred users for a few hours.
"""

from __future__ import annotations

import math
import random
from collections import deque
from statistics import NormalDist

import numpy as np
import pandas as pd

UNAWARE, READING, REPLIED, MUTED = 0, 1, 2, 3
NONE, REMOVE_ME, COMPLAIN, MUTE = 0, 1, 2, 3
UNITS = ("team", "department", "organisation", "region")


def activity(params, minute: int) -> float:
    """Relative checking rate: 1 in working hours, the evening's within two hours of them on the
    clock face, the night's otherwise (never slower than the night, never zero)."""
    clock = (params.start_clock_h + minute / 60.0) % 24.0
    start, end = params.workday_start_h, params.workday_end_h
    if start <= clock < end:
        return 1.0
    night = max(params.night_activity, 1e-6)
    before = (start - clock) % 24.0  # hours until the day starts
    after = (clock - end) % 24.0  # hours since it ended
    if 0.0 < before <= 2.0 or after < 2.0:
        return max(params.evening_activity, night)
    return night


class Oracle:
    """One run (see the module docstring); :meth:`run` returns the per-minute series."""

    def __init__(self, params, org, seed: int) -> None:
        self.p = p = params
        self.org = org
        self.rng = rng = random.Random(seed)
        n = p.n_users
        # plain Python copies of the organisation: each user's units, ties and role
        self.units = list(zip(*(getattr(org, name).tolist() for name in UNITS), strict=True))
        self.ties = [org.indices[org.indptr[u]:org.indptr[u + 1]].tolist() for u in range(n)]
        self.manager = org.is_manager.tolist()
        self.originator = rng.randrange(n)
        if p.list_level == "directory":
            self.members = list(range(n))
        else:
            unit = getattr(org, p.list_level)
            self.members = [u for u in range(n) if unit[u] == unit[self.originator]]
        order = self.members[:]
        rng.shuffle(order)  # order[r]: the member at list position r
        self.L = L = len(order)
        k = max(1, min(p.n_databases, L))
        edges = [(i * L) // k for i in range(k + 1)]
        self.db_members = [order[edges[i]:edges[i + 1]] for i in range(k)]
        self.db_of = {u: i for i, block in enumerate(self.db_members) for u in block}
        golden = (math.sqrt(5.0) - 1.0) / 2.0
        weight = [len(block) * math.exp(p.capacity_spread * NormalDist().inv_cdf(
            ((i + 0.5) * golden) % 1.0)) for i, block in enumerate(self.db_members)]
        self.capacity = [p.capacity_per_min * w / sum(weight) for w in weight]
        self.threshold = [p.degrade_backlog * len(block) / L for block in self.db_members]
        self.queues = [deque() for _ in range(k)]
        self.carry = [0.0] * k
        self.visible = p.audience_visible or (p.audience_warning and L > p.warning_threshold)
        # each member's habit and first check
        self.scale, self.calendar = {}, {}
        for u in self.members:
            self.scale[u] = p.check_median_min * math.exp(p.check_heterogeneity * rng.gauss())
            if p.check_distribution == "exponential":
                residual = rng.expovariate(1.0 / self.scale[u])
            else:
                s = p.check_sigma
                straddling = self.scale[u] * math.exp(s * s) * math.exp(s * rng.gauss())
                residual = rng.random() * straddling
            self.calendar.setdefault(math.floor(residual / activity(p, 0)), []).append(u)
        self.state = {u: UNAWARE for u in range(n)}
        self.read = {u: 0 for u in self.members}
        self.inbox = {u: [] for u in self.members}
        self.replied, self.reached, self.revealed = set(), set(), set()
        self.sender, self.sent_at = [], []  # of every accepted message, in order
        self.accepted_at: dict[int, list[int]] = {}  # sender -> minutes of accepted replies
        self.window: list[int] = []  # minutes of replies counted by storm protection
        self.blocked_until, self.blocks = -math.inf, 0
        self.active, self.purged = True, 0
        self.refused = {"list_disabled": 0, "storm_protection": 0, "sender_restriction": 0,
                        "rate_limit": 0}
        self.accept(self.originator, 0)

    # --- the transport ------------------------------------------------------------------------
    def accept(self, sender: int, minute: int) -> None:
        message = len(self.sender)
        self.sender.append(sender)
        self.sent_at.append(minute)
        for queue, block in zip(self.queues, self.db_members, strict=True):
            queue.extend((message, member) for member in block)

    def deliver(self) -> int:
        made = 0
        for k, queue in enumerate(self.queues):
            budget = self.capacity[k] + self.carry[k]
            whole = math.floor(budget)
            n = min(whole, len(queue))
            self.carry[k] = budget - whole if n == whole else 0.0
            for _ in range(n):
                message, member = queue.popleft()
                self.inbox[member].append(message)
            made += n
        return made

    def unable(self, k: int) -> float:
        if self.p.low_priority_queue:
            return 0.0
        excess = (len(self.queues[k]) - self.threshold[k]) / self.threshold[k]
        return self.p.unable_max * min(max(excess, 0.0), 1.0)

    # --- the policies -------------------------------------------------------------------------
    def admit(self, sender: int, minute: int) -> str | None:
        p = self.p
        if p.sender_restriction and self.L > p.sr_min_list_size:
            return "sender_restriction"
        protect = p.storm_protection and self.L >= p.sp_min_recipients
        if protect and minute < self.blocked_until:
            return "storm_protection"
        recent = [m for m in self.accepted_at.get(sender, []) if m > minute - 60]
        if len(recent) + 1 > p.rate_limit_per_hour:
            return "rate_limit"
        self.accepted_at.setdefault(sender, []).append(minute)
        if protect:
            self.window = [m for m in self.window if m > minute - p.sp_window_min] + [minute]
            if len(self.window) >= p.sp_threshold:
                self.blocked_until = minute + 60.0 * p.sp_block_h
                self.blocks += 1
                self.window = []
        return None

    # --- the rule -----------------------------------------------------------------------------
    def weight(self, reader: int, sender: int) -> float:
        """relevance_boost ** -(closest shared level: 0 team .. 4 only the directory)."""
        for level, (mine, theirs) in enumerate(zip(self.units[reader], self.units[sender],
                                                   strict=True)):
            if mine == theirs:
                return self.p.relevance_boost ** -level
        return self.p.relevance_boost ** -4.0

    def decide(self, u: int, new: list[int]) -> int:
        p = self.p
        seen = len(self.inbox[u])
        a = seen / (seen + p.annoyance_half)
        peers = sum(1 for v in self.ties[u] if v in self.revealed)
        audience = p.visible_audience_factor if self.visible else 1.0
        if p.bystander_exponent:
            perceived = self.L if self.visible else p.hidden_audience_size
            audience *= (perceived / p.hidden_audience_size) ** -p.bystander_exponent
        social = (1.0 + p.peer_weight * peers) * audience
        h_r = p.remove_rate * (1.0 - a) * social
        h_c = p.complain_rate * a * social
        if self.manager[u]:
            h_c *= p.manager_complain_factor
        if u in self.replied:
            h_r *= p.repeat_remove_factor
            h_c *= p.repeat_complain_factor
        h_m = p.mute_rate * a
        total = h_r + h_c + h_m
        attend = 1.0 / (1.0 + len(new) / p.attention_span)
        for message in new:
            x = self.weight(u, self.sender[message]) * attend
            if self.rng.random() < -math.expm1(-total * x):
                pick = self.rng.random() * total
                return REMOVE_ME if pick < h_r else COMPLAIN if pick < h_r + h_c else MUTE
        return NONE

    # --- the minutes --------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        p = self.p
        rows = []
        for minute in range(p.horizon_min):
            if self.active and minute >= p.cutoff_min:
                self.active = False
                if p.purge_at_cutoff:
                    self.purged += sum(len(q) for q in self.queues)
                    for q in self.queues:
                        q.clear()
            unable = [self.unable(k) for k in range(len(self.queues))]
            checks = failed = 0
            outbox, first = [], []
            for u in self.calendar.pop(minute, []):
                checks += 1
                if self.rng.random() < unable[self.db_of[u]]:
                    failed += 1
                else:
                    new = self.inbox[u][self.read[u]:]
                    if new:
                        self.read[u] = len(self.inbox[u])
                        if self.state[u] == UNAWARE:
                            self.state[u] = READING
                        action = self.decide(u, new)
                        if action in (REMOVE_ME, COMPLAIN):
                            outbox.append((u, action))
                            if u not in self.replied:
                                first.append(u)
                            self.replied.add(u)
                            self.state[u] = REPLIED
                        elif action == MUTE:
                            self.state[u] = MUTED
                if self.state[u] != MUTED:
                    self.schedule(u, minute)
            self.rng.shuffle(outbox)
            accepted = bounced = 0
            for u, _ in outbox:
                reason = "list_disabled" if not self.active else self.admit(u, minute)
                if reason is None:
                    self.accept(u, minute)
                    self.reached.add(u)
                    accepted += 1
                else:
                    self.refused[reason] += 1
                    bounced += 1
            self.revealed.update(first)
            delivered = self.deliver()
            counts = np.bincount(list(self.state.values()), minlength=4)
            rows.append({
                "sent_remove": sum(a == REMOVE_ME for _, a in outbox),
                "sent_complain": sum(a == COMPLAIN for _, a in outbox),
                "accepted": accepted, "bounced": bounced, "delivered": delivered,
                "backlog": sum(len(q) for q in self.queues),
                "delay_min": max((minute - self.sent_at[q[0][0]] for q in self.queues if q),
                                 default=0.0),
                "received_per_user": sum(len(b) for b in self.inbox.values()) / self.L,
                "read_per_user": sum(self.read.values()) / self.L,
                "unaware": counts[UNAWARE], "reading": counts[READING],
                "replied": counts[REPLIED], "muted": counts[MUTED],
                "checks": checks, "failed_checks": failed,
                "unable_fraction": sum(f * len(b) for f, b in zip(unable, self.db_members,
                                                                  strict=True)) / self.L,
                "list_active": self.active})
        return pd.DataFrame(rows)

    def schedule(self, u: int, minute: int) -> None:
        p = self.p
        if p.check_distribution == "exponential":
            raw = self.rng.expovariate(1.0 / self.scale[u])
        else:
            raw = self.scale[u] * math.exp(p.check_sigma * self.rng.gauss())
        gap = max(1, math.ceil(raw / activity(p, minute)))
        self.calendar.setdefault(minute + gap, []).append(u)


def oracle_run(params, org, seed: int) -> tuple[pd.DataFrame, dict]:
    """The series of one oracle run and its totals (senders reached and attempted, refusals)."""
    run = Oracle(params, org, seed)
    series = run.run()
    totals = {"senders": len(run.reached), "senders_attempted": len(run.replied),
              "protection_blocks": run.blocks, "purged": run.purged,
              **{f"bounced_{k}": v for k, v in run.refused.items()}}
    return series, totals
