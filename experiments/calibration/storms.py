"""The project's facts about real reply-all storms (``experiments/data/storms.toml``), typed.

:func:`load_storms` reads the data file once, checks it and returns a :class:`StormData`:
the sources (:class:`Source`), and for each storm (:class:`Storm`) its list, audience, start,
how it ended (:class:`StormEnd`) and what was observed (:class:`StormObservation`), every
field with its tag (R reported, C anecdotal, D derived, A assumed) and source ids
(:class:`Provenance`). A bad file is refused with one line naming the key path, e.g.
``storms.toml: storms[nhs2016].observations[2].lo=300.0: must be <= hi=200.0``; the checks
themselves are in :mod:`.storms_schema`.

::

    from replyall_storm.experiments.calibration.storms import load_storms
    nhs = load_storms().storm("nhs2016")
    nhs.list_size, nhs.audience, nhs.end.cutoff_min
    [o.quantity for o in nhs.observations if o.target]
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

TAGS = ("R", "C", "D", "A")
"""Source tags: reported, anecdotal (one inbox, a tweet, an insider), derived, assumed."""

@dataclass(frozen=True)
class Quantity:
    """What an observation can name: its unit, meaning, and how a run shows it (``kind``).

    Kinds (:mod:`.observe` computes each from a run):

    * ``summary``: a key of the run's summary (``model/observables.summarise``);
    * ``inbox``: what *one* member's inbox held at the observation's clock: the observed value
      is a draw from the distribution of per-member counts then, not the mean (needs a clock);
    * ``inbox_remove_me``: the same, counting only "remove me" messages;
    * ``mean_received``: the members' mean count at the clock (or within a clock window);
    * ``transport_events``: what the transport handled by the clock (expansions of the list,
      deliveries and non-delivery reports): an upper bound, as reports count every hop;
    * ``delay``: the longest delay of ordinary mail at the clock (any member's database).
    * ``context``: a fact kept for plots and prose that no run computes.
    """

    unit: str
    meaning: str
    kind: str = "summary"

    @property
    def needs_clock(self) -> bool:
        """Whether an observation of it must say when (``clock_h``)."""
        return self.kind not in ("summary", "context")


QUANTITIES: dict[str, Quantity] = {
    "messages_per_user": Quantity("messages", "messages each member received by the end"),
    "senders": Quantity("users", "users whose reply-all reached the list"),
    "reply_alls_accepted": Quantity("messages", "reply-alls that reached the list (M)"),
    "last_accepted_minute": Quantity("minutes", "when the list took its last reply-all"),
    "max_delay_min": Quantity("minutes", "longest delivery delay"),
    "backlog_cleared_minute": Quantity("minutes", "when the queue emptied after the last "
                                       "reply-all"),
    "service_restored_minute": Quantity("minutes", "when ordinary mail flowed normally again"),
    "deliveries": Quantity("deliveries", "messages delivered to members, in all"),
    "inbox_received": Quantity("messages", "messages one member had received by the clock",
                               "inbox"),
    "inbox_remove_me": Quantity("messages", "'remove me' messages one member had received by "
                                "the clock", "inbox_remove_me"),
    "mean_received": Quantity("messages", "messages per member by the clock (members' mean)",
                              "mean_received"),
    "transport_events": Quantity("events", "transport events by the clock: list expansions, "
                                 "deliveries, non-delivery reports", "transport_events"),
    "delay": Quantity("minutes", "longest delay of ordinary mail at the clock", "delay"),
    "normal_messages_per_day": Quantity("messages", "the mail system's traffic on an ordinary "
                                        "day", "context"),
    "reply_alls_first_hour": Quantity("messages", "reply-alls in the first hour", "context"),
    "peak_messages_per_s": Quantity("messages per second", "the storm's peak rate (unit "
                                    "ambiguous)", "context"),
}
"""Every quantity an observation may name (see :class:`Quantity` for the kinds)."""

DATA_FILE = "storms.toml"


class StormDataError(ValueError):
    """A bad storms file: one line naming the file and the key path."""


@dataclass(frozen=True)
class Source:
    """A report or paper the facts come from."""

    id: str
    title: str
    publisher: str
    date: str | None = None  # ISO 8601, as precise as known: "2016-11-14", "2013-01", "2008"
    url: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a fact comes from: its tag (``"R"``, ``"C/D"``, ...), source ids and a note."""

    tag: str
    sources: tuple[str, ...]
    note: str = ""

    @property
    def firmness(self) -> str:
        """The first tag: R, C, D or A (what the calibration's uncertainty is set from)."""
        return self.tag[0]


@dataclass(frozen=True)
class StormEnd:
    """How a storm ended: ``how`` and the cut-off (minutes after the first send, a range)."""

    how: str
    cutoff_min: tuple[float, float]
    provenance: Provenance


@dataclass(frozen=True)
class StormObservation:
    """One observed quantity of a storm, as a range of reported values.

    Attributes:
        quantity: a name in :data:`QUANTITIES`; ``unit`` is its unit.
        lo, hi: the range (``hi`` may be inf: a lower bound).
        value: the headline value quoted (inside the range).
        sigma: uncertainty outside the range (natural-log units), if the file sets one.
        clock_h: when it was observed, as a clock window ``(from, to)`` in hours (> 24 is
            the next day; equal ends for a moment), if known: the run must show the value at
            some minute of the window.
        target: whether the calibration of this storm fits it.
    """

    quantity: str
    lo: float
    hi: float
    value: float
    provenance: Provenance
    unit: str
    sigma: float | None = None
    clock_h: tuple[float, float] | None = None
    target: bool = True

    @property
    def tag(self) -> str:
        """The source tag (``"R"``, ``"C/D"``, ...)."""
        return self.provenance.tag

    @property
    def note(self) -> str:
        """What was reported, how a range was derived or what was assumed."""
        return self.provenance.note

    @property
    def kind(self) -> str:
        """How a run shows the quantity (:class:`Quantity`)."""
        return QUANTITIES[self.quantity].kind

    @property
    def label(self) -> str:
        """``quantity`` or ``quantity@HH:MM`` (``@HH:MM-HH:MM`` for a window): unique per storm."""
        if self.clock_h is None:
            return self.quantity
        a, b = (_clock(x) for x in self.clock_h)
        return f"{self.quantity}@{a}" if a == b else f"{self.quantity}@{a}-{b}"


def _clock(hours: float) -> str:
    """Clock hours as HH:MM (the next day's hours go on past 24)."""
    minutes = round(hours * 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Storm:
    """One storm: its list, audience, start, end and observations, each with provenance.

    ``provenance`` has an entry for ``description``, ``list_size`` (and its range),
    ``audience`` and ``start_clock_h``.
    """

    id: str
    name: str
    date: str
    description: str
    list_size: int
    list_size_range: tuple[int, int]
    audience: str  # "hidden" | "visible": what recipients could perceive of the audience
    start_clock_h: tuple[float, float]  # clock hours of the first send (equal ends: reported)
    end: StormEnd
    observations: tuple[StormObservation, ...]
    provenance: Mapping[str, Provenance]

    def minutes_after_start(self, clock_h: float) -> float:
        """Minutes from the (earliest) first send to clock time ``clock_h`` (hours)."""
        return (clock_h - self.start_clock_h[0]) * 60.0

    def observation(self, label: str) -> StormObservation:
        """The storm's observation called ``label`` (its quantity, or ``quantity@HH:MM``)."""
        for o in self.observations:
            if label in (o.label, o.quantity):
                return o
        raise KeyError(f"{self.id} has no observation {label!r}; it has "
                       f"{', '.join(o.label for o in self.observations)}")


@dataclass(frozen=True)
class StormData:
    """The whole data file: sources by id and the storms, in file order."""

    sources: Mapping[str, Source]
    storms: tuple[Storm, ...]

    def storm(self, storm_id: str) -> Storm:
        """The storm called ``storm_id`` (KeyError naming the known ones)."""
        for s in self.storms:
            if s.id == storm_id:
                return s
        raise KeyError(f"no storm {storm_id!r}; known: {', '.join(s.id for s in self.storms)}")

    def cite(self, provenance: Provenance) -> str:
        """The sources of a fact as text: "publisher (date), ..."."""
        return "; ".join(f"{self.sources[i].publisher} ({self.sources[i].date or 'n.d.'})"
                         for i in provenance.sources)


def data_path() -> Path:
    """Path of the packaged data file."""
    return Path(str(resources.files("replyall_storm.experiments") / "data" / DATA_FILE))


@functools.lru_cache(maxsize=4)
def load_storms(path: str | Path | None = None) -> StormData:
    """Read and check a storms file (default: the packaged one); StormDataError if bad."""
    from .storms_schema import read_file

    return read_file(Path(path) if path is not None else data_path())


__all__ = ["QUANTITIES", "TAGS", "Provenance", "Quantity", "Source", "Storm", "StormData",
           "StormDataError", "StormEnd", "StormObservation", "data_path", "load_storms"]
