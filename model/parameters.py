"""Model parameters: one typed, validated record with units, defaults and sources.

Every parameter of the storm model lives in :class:`StormParams`. Each field carries its
unit, the range the model accepts and where its default comes from; :meth:`StormParams.validate`
checks them all before anything is simulated and raises :class:`ParameterError` naming the
first bad one. The ODD description in ``model/README.md`` is generated from the same table
(:func:`parameter_table`), so the documentation cannot drift from the code.

Sources are tagged as in the project's facts about real storms
(``experiments/data/storms.toml``, which lists each source): [R] reported, [C] anecdotal,
[D] derived, [A] a modelling assumption (to be calibrated).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError

_INF = math.inf


def _p(
    default: Any,
    unit: str,
    lo: float | None,
    hi: float | None,
    doc: str,
    *,
    lo_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its unit, allowed range, and documentation."""
    return field(
        default=default,
        metadata={
            "unit": unit,
            "lo": lo,
            "hi": hi,
            "lo_open": lo_open,
            "doc": doc,
            "choices": choices,
        },
    )


@dataclass(frozen=True)
class StormParams:
    """All parameters of one storm scenario (times in minutes, rates per minute)."""

    # --- population and the list -------------------------------------------------------
    n_users: int = _p(
        840_000,
        "users",
        2,
        1_000_000,
        "Accounts in the directory; 840,000 NHSmail accounts received the 2016 message [R].",
    )
    list_level: str = _p(
        "directory",
        "",
        None,
        None,
        "Hierarchy unit the distribution list expands to; in 2016 a "
        "misconfigured dynamic list reached the whole directory [R].",
        choices=("team", "department", "organisation", "region", "directory"),
    )
    # --- reading mail -------------------------------------------------------------------
    check_median_min: float = _p(
        20.0,
        "minutes",
        1.0,
        1440.0,
        "Population median of users' median interval between mail "
        "checks in working hours. Clients polled every ~5 min; reply "
        "times have mode 2 min, median 47 min (Kooti 2015) [R/A]. With "
        "exponential intervals it is the mean.",
    )
    check_heterogeneity: float = _p(
        0.8,
        "log-sd",
        0.0,
        3.0,
        "Spread between users: sd of log of each user's median "
        "check interval (0 = identical users) [A].",
    )
    check_sigma: float = _p(
        1.0,
        "log-sd",
        0.0,
        3.0,
        "Spread of one user's intervals: sd of log interval; waiting "
        "times are log-normal (Stouffer 2006) [R/A]. Ignored when "
        "check_distribution='exponential'.",
    )
    check_distribution: str = _p(
        "lognormal",
        "",
        None,
        None,
        "Law of intervals between checks; 'exponential' gives the "
        "memoryless checks the mean-field ODE assumes exactly.",
        choices=("lognormal", "exponential"),
    )
    start_clock_h: float = _p(
        8 + 29 / 60,
        "hours",
        0.0,
        24.0,
        "Clock time of the first send; the 2016 traffic window opened at 08:29 [R].",
    )
    workday_start_h: float = _p(8.0, "hours", 0.0, 24.0, "Start of working hours [A].")
    workday_end_h: float = _p(18.0, "hours", 0.0, 24.0, "End of working hours [A].")
    evening_activity: float = _p(
        0.3,
        "fraction",
        0.0,
        1.0,
        "Checking rate within 2 h of working hours, relative to "
        "working hours (Malmgren 2008: circadian cycles) [A].",
    )
    night_activity: float = _p(
        0.05, "fraction", 0.0, 1.0, "Checking rate at night, relative to working hours [A]."
    )
    # --- the decision rule (hazards per message read) ----------------------------------
    remove_rate: float = _p(
        3.0e-5,
        "per message read",
        0.0,
        1.0,
        "Hazard that one message read prompts a 'please remove me' "
        "reply-all from an unannoyed reader. The transport lets each user "
        "receive only ~10 messages before the cut-off, so ~150 accepted "
        "reply-alls need ~3e-5 [D]; to be calibrated.",
    )
    complain_rate: float = _p(
        5.0e-5,
        "per message read",
        0.0,
        1.0,
        "Hazard that one message read prompts a 'stop replying all' "
        "reply-all from a fully annoyed reader [D/A].",
    )
    annoyance_half: float = _p(
        15.0,
        "messages",
        0.0,
        1e6,
        "Messages seen at which annoyance reaches one half; annoyance "
        "a = seen/(seen + annoyance_half) shifts replies from "
        "'remove me' to complaints and drives muting [A].",
        lo_open=True,
    )
    mute_rate: float = _p(
        0.01,
        "per message read",
        0.0,
        1.0,
        "Hazard that one message read makes a fully annoyed reader mute the "
        "thread (rule, delete, ignore) [A].",
    )
    repeat_remove_factor: float = _p(
        0.05,
        "factor",
        0.0,
        1e3,
        "Multiplier on the remove-me hazard for a user who has "
        "already sent a reply-all: few ask twice [C/A].",
    )
    repeat_complain_factor: float = _p(
        0.5,
        "factor",
        0.0,
        1e3,
        "Multiplier on the complaint hazard for a user who has "
        "already sent a reply-all: complainers complain again "
        "[C/A].",
    )
    peer_weight: float = _p(
        0.5,
        "per neighbour",
        0.0,
        1e3,
        "Each graph neighbour who has sent a reply-all multiplies the "
        "reply hazards by (1 + peer_weight * neighbours) [A].",
    )
    manager_complain_factor: float = _p(
        2.0,
        "factor",
        0.0,
        1e3,
        "Multiplier on the complaint hazard for team managers, "
        "who feel entitled to tell everyone to stop [A].",
    )
    audience_visible: bool = _p(
        False,
        "",
        None,
        None,
        "Whether readers can tell how large the audience is. In 2016 "
        "they saw only a few addresses [R].",
    )
    visible_audience_factor: float = _p(
        0.1,
        "factor",
        0.0,
        1.0,
        "Multiplier on reply hazards when the audience size is visible [A].",
    )
    # --- what a user perceives: three mechanisms (off by default; model/decision.py) -----
    bystander_exponent: float = _p(
        0.0,
        "exponent",
        0.0,
        3.0,
        "Diffusion of responsibility: reply hazards times (perceived audience / "
        "hidden_audience_size) ** -exponent; the perceived audience is the list size when "
        "visible. 0 = off. Darley and Latane 1968; for e-mail requests Barron and Yechiam "
        "2002 [R: the effect; A: its size].",
    )
    hidden_audience_size: float = _p(
        5.0,
        "recipients",
        1.0,
        1e6,
        "Audience a reader perceives when the list hides its size: the few addresses "
        "shown; in 2016 recipients 'could see only a few addresses' [R/A].",
    )
    relevance_boost: float = _p(
        1.0,
        "factor per level",
        1.0,
        1e3,
        "Relevance through the organisation: a message from a sender sharing the reader's "
        "team counts 1, department 1/x, organisation 1/x^2, region 1/x^3, elsewhere in the "
        "directory 1/x^4 (the hazards are per team message). 1 = off. Information passed on "
        "decays with distance in the organisation's hierarchy: Wu, Huberman, Adamic and "
        "Tyler 2004 [R: the effect; A: its size].",
    )
    attention_span: float = _p(
        _INF,
        "messages",
        0.0,
        _INF,
        "Limited attention: a reader with n unread messages attends to each with "
        "probability 1 / (1 + n / span), skimming long threads. inf = off. Weng et al. "
        "2012; Hodas and Lerman 2012 [A].",
        lo_open=True,
    )
    # --- transport and administrators ---------------------------------------------------
    capacity_per_min: float = _p(
        120_000.0,
        "deliveries per minute",
        0.0,
        1e12,
        "Deliveries the transport completes per minute. Normal load "
        "was 3-5 M a day (~3,000/min); queues took about a day to "
        "clear [R/D].",
        lo_open=True,
    )
    n_databases: int = _p(
        1,
        "databases",
        1,
        100_000,
        "Mailbox databases the list's members live on, each with its own queue and its share "
        "of the capacity; members are spread over them at random. 1 = one FIFO for the "
        "whole list [A].",
    )
    capacity_spread: float = _p(
        0.0,
        "log-sd",
        0.0,
        3.0,
        "Spread of delivery speed per member between databases: sd of its log; "
        "0 = every inbox fills at the same pace. With a spread some inboxes are hours "
        "behind others, as the 2016 inbox counts (123 by noon, 411 by 14:30) show [A].",
    )
    degrade_backlog: float = _p(
        20e6,
        "deliveries",
        0.0,
        1e15,
        "Queued deliveries beyond which the service degrades and some users cannot connect [A].",
        lo_open=True,
    )
    unable_max: float = _p(
        0.3,
        "fraction",
        0.0,
        1.0,
        "Fraction of mail checks that fail at twice degrade_backlog and "
        "beyond (rises linearly from degrade_backlog) [R: some users could "
        "not reach Outlook Web Access; A].",
    )
    cutoff_min: float = _p(
        60.0,
        "minutes",
        0.0,
        _INF,
        "Minutes after the first send at which administrators disable the "
        "list; later reply-alls bounce. 'Less than an hour' after the "
        "original; disabled ~10:00 [R]. inf = never.",
    )
    purge_at_cutoff: bool = _p(
        False,
        "",
        None,
        None,
        "Whether the queued backlog is purged at the cut-off; in 2016 "
        "it was delivered over the following day [R].",
    )
    # --- mitigation policies (model/policies.py) ----------------------------------------
    storm_protection: bool = _p(
        False, "", None, None, "Exchange Online reply-all storm protection on or off [R]."
    )
    sp_min_recipients: int = _p(
        2_500,
        "recipients",
        1_000,
        5_000,
        "Storm protection applies to threads with at least this many "
        "recipients; 2,500 since 2021 (5,000 before) [R].",
    )
    sp_threshold: int = _p(
        10, "reply-alls", 5, 20, "Reply-alls within the window that trigger the block [R]."
    )
    sp_window_min: float = _p(
        60.0, "minutes", 1.0, 1440.0, "Sliding window in which reply-alls are counted [R]."
    )
    sp_block_h: float = _p(
        6.0,
        "hours",
        1.0,
        12.0,
        "How long further reply-alls are blocked; 6 h since 2021 (4 h before) [R].",
    )
    sender_restriction: bool = _p(
        False,
        "",
        None,
        None,
        "Only named senders may post to large lists (NHSmail's rule today) [R].",
    )
    sr_min_list_size: int = _p(
        500, "members", 0, 1_000_000, "Lists with more members than this require named senders [R]."
    )
    rate_limit_per_hour: float = _p(
        _INF,
        "reply-alls per sender per hour",
        1.0,
        _INF,
        "Per-sender limit on reply-alls in any sliding 60 min; "
        "inf = none (Exchange's 30/min never binds) [R/A].",
    )
    audience_warning: bool = _p(
        False,
        "",
        None,
        None,
        "Show a large-audience warning (Outlook MailTips), making the "
        "audience size visible to every reader [R].",
    )
    warning_threshold: int = _p(
        25,
        "recipients",
        1,
        1_000_000,
        "Warn when the list has more members than this; MailTips default 25 [R].",
    )
    low_priority_queue: bool = _p(
        False,
        "",
        None,
        None,
        "Put storm traffic on a low-priority queue: it is delivered "
        "as capacity allows but no longer degrades the service for "
        "other mail [R: one university did so].",
    )
    horizon_min: int = _p(
        2160,
        "minutes",
        1,
        60 * 24 * 14,
        "Simulated time from the first send; 36 h covers the recovery "
        "(queues cleared 15 Nov 16:30) [R].",
    )

    def __post_init__(self) -> None:
        """Normalise numbers: NumPy scalars become Python ones, whole floats of int fields ints."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                value = value.item()
            if f.type in ("int", int) and isinstance(value, float) and value.is_integer():
                value = int(value)
            object.__setattr__(self, f.name, value)

    def validate(self) -> StormParams:
        """Check every field; raise :class:`ParameterError` on the first bad one."""
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        if self.workday_end_h <= self.workday_start_h:
            raise ParameterError(
                "workday_end_h",
                self.workday_end_h,
                f"must be after workday_start_h={self.workday_start_h} (hours)",
            )
        return self

    def replace(self, **changes: Any) -> StormParams:
        """A copy with some fields changed (unknown names raise ParameterError), validated."""
        names = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key not in names:
                raise ParameterError(
                    key, changes[key], "unknown parameter; see `replyall params` for the list"
                )
        return dataclasses.replace(self, **changes).validate()

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (for Parquet rows and manifests)."""
        return dataclasses.asdict(self)


def _check(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    name, unit = f.name, meta["unit"]
    if meta["choices"] is not None:
        if value not in meta["choices"]:
            raise ParameterError(name, value, f"must be one of {', '.join(meta['choices'])}")
        return
    if f.type in ("bool", bool):
        if not isinstance(value, bool):
            raise ParameterError(name, value, "must be true or false")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, value, f"must be a number ({unit})")
    if f.type in ("int", int) and (not float(value).is_integer()):
        raise ParameterError(name, value, f"must be a whole number ({unit})")
    if math.isnan(value):
        raise ParameterError(name, value, f"must be a number ({unit})")
    lo, hi = meta["lo"], meta["hi"]
    below = value <= lo if meta["lo_open"] else value < lo
    if below or value > hi:
        left = "(" if meta["lo_open"] else "["
        raise ParameterError(
            name,
            value,
            f"must be in {left}{_fmt(lo)}, {_fmt(hi)}] ({unit})"
            if unit
            else f"must be in {left}{_fmt(lo)}, {_fmt(hi)}]",
        )


def _fmt(x: float) -> str:
    if x == _INF:
        return "inf"
    return f"{x:g}" if isinstance(x, float) else f"{x:,}"


def coerce(name: str, text: str) -> Any:
    """Parse ``text`` (from the command line or a spec) into the type of parameter ``name``."""
    fields = {f.name: f for f in dataclasses.fields(StormParams)}
    if name not in fields:
        raise ParameterError(name, text, "unknown parameter; see `replyall params` for the list")
    kind = fields[name].type
    try:
        if kind in ("bool", bool):
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if kind in ("int", int):
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind in ("float", float):
            return float(text)
    except ValueError:
        wanted = {"bool": "true or false", "int": "a whole number", "float": "a number"}
        raise ParameterError(name, text, f"must be {wanted.get(str(kind), kind)}") from None
    return text


def parameter_table() -> list[dict[str, Any]]:
    """One row per parameter: name, default, unit, allowed range, documentation."""
    rows = []
    for f in dataclasses.fields(StormParams):
        m = f.metadata
        if m["choices"]:
            allowed = " / ".join(m["choices"])
        elif f.type in ("bool", bool):
            allowed = "true / false"
        else:
            allowed = f"{'(' if m['lo_open'] else '['}{_fmt(m['lo'])}, {_fmt(m['hi'])}]"
        rows.append(
            {
                "name": f.name,
                "default": f.default,
                "unit": m["unit"],
                "allowed": allowed,
                "doc": m["doc"],
            }
        )
    return rows
