"""Reading and checking a storms file (:mod:`.storms`): every rule, one line per problem.

The file is checked once, as it is read, and the first problem raises
:class:`~.storms.StormDataError` naming the file and the key path: unknown keys (with the
keys allowed there), missing keys, wrong types, unknown source ids, unknown quantities, tags
other than R, C, D, A (or several joined by "/"), ranges with ``lo > hi``, values outside
their range, duplicate storm ids or quantities, dates that are not ISO 8601.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, NoReturn

from .storms import (
    QUANTITIES,
    Provenance,
    Source,
    Storm,
    StormData,
    StormDataError,
    StormEnd,
    StormObservation,
)

SCHEMA = 1
TAG = re.compile(r"^[RCDA](/[RCDA])*$")
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
AUDIENCES = ("hidden", "visible")
_MISSING = object()


class _Table:
    """One TOML table being read: typed getters, and unknown keys refused at the end."""

    def __init__(self, data: Any, where: str, file: str) -> None:
        self.where, self.file = where, file
        if not isinstance(data, dict):
            self.fail(None, data, "must be a table")
        self.data: dict[str, Any] = data
        self.asked: list[str] = []

    def path(self, key: str | None) -> str:
        return self.where if key is None else f"{self.where}.{key}" if self.where else key

    def fail(self, key: str | None, value: Any, allowed: str) -> NoReturn:
        raise StormDataError(f"{self.file}: {self.path(key)}={value!r}: {allowed}")

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.asked.append(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise StormDataError(f"{self.file}: {self.path(key)}: required key is missing")
        return default

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if value is not default and (not isinstance(value, str) or not value.strip()):
            self.fail(key, value, "must be a non-empty string")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(key, value, "must be a number")
        return float(value)

    def pair(self, key: str, lo: float, hi: float) -> tuple[float, float]:
        value = self.get(key)
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))
        if not ok:
            self.fail(key, value, "must be a pair [lo, hi] of numbers")
        a, b = float(value[0]), float(value[1])
        if not lo <= a <= b <= hi:
            self.fail(key, value, f"must have lo <= hi, both in [{lo:g}, {hi:g}]")
        return a, b

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, value, "must be true or false")
        return value

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.asked]
        if unknown:
            raise StormDataError(f"{self.file}: {self.path(unknown[0])}: unknown key "
                                 f"(allowed: {', '.join(self.asked)})")


def read_file(path: Path) -> StormData:
    """Parse and check the storms file at ``path``."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise StormDataError(f"{path}: cannot be read as TOML: {err}") from None
    return parse(data, Path(path).name)


def parse(data: dict[str, Any], file: str = "storms.toml") -> StormData:
    """Check a parsed storms file (a dict) and build the typed data."""
    top = _Table(data, "", file)
    if top.get("schema") != SCHEMA:
        top.fail("schema", data.get("schema"), f"must be {SCHEMA}")
    raw_sources = _Table(top.get("sources"), "sources", file)
    sources: dict[str, Source] = {}
    for sid in list(raw_sources.data):
        if not ID.match(sid):
            raw_sources.fail(sid, sid, "source ids are lower-case letters, digits and '-'")
        sources[sid] = _source(sid, _Table(raw_sources.get(sid), f"sources.{sid}", file))
    raw_sources.done()
    raw_storms = top.get("storms")
    if not isinstance(raw_storms, list) or not raw_storms:
        top.fail("storms", raw_storms, "must be a list of [[storms]] tables")
    storms: list[Storm] = []
    for i, raw in enumerate(raw_storms):
        sid = raw.get("id") if isinstance(raw, dict) else None
        where = f"storms[{sid}]" if isinstance(sid, str) else f"storms[{i}]"
        storm = _storm(_Table(raw, where, file), sources)
        if any(s.id == storm.id for s in storms):
            _Table(raw, where, file).fail("id", storm.id, "is used by another storm")
        storms.append(storm)
    top.done()
    return StormData(sources=sources, storms=tuple(storms))


def _source(sid: str, t: _Table) -> Source:
    title, publisher = t.text("title"), t.text("publisher")
    date = t.text("date", None)
    if date is not None and not DATE.match(date):
        t.fail("date", date, "must be an ISO 8601 date: YYYY, YYYY-MM or YYYY-MM-DD")
    url = t.text("url", None)
    if url is not None and not url.startswith(("http://", "https://")):
        t.fail("url", url, "must start with http:// or https://")
    note = t.text("note", "")
    t.done()
    return Source(sid, title, publisher, date, url, note)


def _provenance(t: _Table, prefix: str, sources: dict[str, Source]) -> Provenance:
    key = f"{prefix}_" if prefix else ""
    tag = t.get(f"{key}tag")
    if not isinstance(tag, str) or not TAG.match(tag):
        t.fail(f"{key}tag", tag, "must be R, C, D or A, or several joined by '/' (e.g. C/D)")
    ids = t.get(f"{key}sources")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        t.fail(f"{key}sources", ids, "must be a non-empty list of source ids")
    for j, sid in enumerate(ids):
        if sid not in sources:
            t.fail(f"{key}sources[{j}]", sid, "unknown source id (add it under [sources])")
    return Provenance(tag, tuple(ids), t.text(f"{key}note", ""))


def _storm(t: _Table, sources: dict[str, Source]) -> Storm:
    sid = t.text("id")
    if not ID.match(sid):
        t.fail("id", sid, "storm ids are lower-case letters, digits and '-'")
    name, date = t.text("name"), t.text("date")
    if not DATE.match(date):
        t.fail("date", date, "must be an ISO 8601 date: YYYY, YYYY-MM or YYYY-MM-DD")
    prov = {"description": None, "list_size": None, "audience": None, "start_clock_h": None}
    description = t.text("description")
    prov["description"] = _provenance(t, "description", sources)
    size = t.get("list_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        t.fail("list_size", size, "must be a whole number >= 1 (list members)")
    lo, hi = t.pair("list_size_range", 1, 1e12)
    if not (lo.is_integer() and hi.is_integer()):
        t.fail("list_size_range", [lo, hi], "must be whole numbers (list members)")
    if not lo <= size <= hi:
        t.fail("list_size", size, f"must lie in list_size_range [{lo:g}, {hi:g}]")
    prov["list_size"] = _provenance(t, "list_size", sources)
    audience = t.get("audience")
    if audience not in AUDIENCES:
        t.fail("audience", audience, f"must be one of {', '.join(AUDIENCES)}")
    prov["audience"] = _provenance(t, "audience", sources)
    start = t.pair("start_clock_h", 0.0, 24.0)
    prov["start_clock_h"] = _provenance(t, "start_clock_h", sources)
    end_t = _Table(t.get("end"), t.path("end"), t.file)
    end = StormEnd(end_t.text("how"), end_t.pair("cutoff_min", 0.0, math.inf),
                   _provenance(end_t, "", sources))
    end_t.done()
    raw_obs = t.get("observations")
    if not isinstance(raw_obs, list) or not raw_obs:
        t.fail("observations", raw_obs, "must be a list of [[storms.observations]] tables")
    observations: list[StormObservation] = []
    for j, raw in enumerate(raw_obs):
        o = _observation(_Table(raw, t.path(f"observations[{j}]"), t.file), sources)
        if any(p.label == o.label for p in observations):
            _Table(raw, t.path(f"observations[{j}]"), t.file).fail(
                "quantity", o.quantity, f"is observed twice in this storm ({o.label})")
        observations.append(o)
    t.done()
    return Storm(sid, name, date, description, size, (int(lo), int(hi)), audience, start, end,
                 tuple(observations), prov)


def _observation(t: _Table, sources: dict[str, Source]) -> StormObservation:
    quantity = t.get("quantity")
    if quantity not in QUANTITIES:
        t.fail("quantity", quantity, f"unknown quantity (known: {', '.join(QUANTITIES)})")
    lo, hi, value = t.number("lo"), t.number("hi"), t.number("value")
    if lo > hi:
        t.fail("lo", lo, f"must be <= hi={hi:g}")
    if not lo <= value <= hi:
        t.fail("value", value, f"must lie in [lo, hi] = [{lo:g}, {hi:g}]")
    if not math.isfinite(value):
        t.fail("value", value, "must be finite (the headline number quoted)")
    sigma = t.number("sigma", None)
    if sigma is not None and not 0 < sigma < math.inf:
        t.fail("sigma", sigma, "must be > 0 (natural-log units)")
    clock = _clock_window(t)
    if QUANTITIES[quantity].needs_clock and clock is None:
        t.fail("clock_h", None, f"is required for {quantity} (when it was observed)")
    target = t.flag("target", True)
    prov = _provenance(t, "", sources)
    t.done()
    return StormObservation(quantity, lo, hi, value, prov, QUANTITIES[quantity].unit, sigma,
                            clock, target)


def _clock_window(t: _Table) -> tuple[float, float] | None:
    """``clock_h``: one clock time, or a window ``[from, to]`` (hours in [0, 48))."""
    raw = t.get("clock_h", None)
    if raw is None:
        return None
    if isinstance(raw, list):
        return t.pair("clock_h", 0.0, 48.0 - 1e-9)
    clock = t.number("clock_h")
    if not 0 <= clock < 48:
        t.fail("clock_h", clock, "must be in [0, 48) (clock hours; > 24 is the next day)")
    return clock, clock
