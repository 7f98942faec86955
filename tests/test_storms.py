"""The project's facts about real storms (experiments/data/storms.toml) and their loader."""

from __future__ import annotations

import copy
import math
import tomllib

import pytest

from replyall_storm.experiments.calibration import observations
from replyall_storm.experiments.calibration.storms import (
    QUANTITIES,
    StormDataError,
    data_path,
    load_storms,
)
from replyall_storm.experiments.calibration.storms_schema import parse, read_file

RAW = tomllib.loads(data_path().read_text(encoding="utf-8"))
START = 8 + 29 / 60


def test_every_storm_and_its_facts_load_typed():
    data = load_storms()
    assert [s.id for s in data.storms] == ["nhs2016", "dhs2007", "cisco2013", "nyu2012"]
    nhs = data.storm("nhs2016")
    assert (nhs.list_size, nhs.list_size_range, nhs.audience) == (840_000, (840_000, 850_000),
                                                                  "hidden")
    assert nhs.start_clock_h == (START, START) and nhs.end.cutoff_min == (45.0, 91.0)
    assert nhs.provenance["audience"].tag == "R" and nhs.date == "2016-11-14"
    assert data.storm("dhs2007").audience == "visible"
    sizes = {s.id: s.list_size for s in data.storms}
    assert sizes == {"nhs2016": 840_000, "dhs2007": 7_500, "cisco2013": 23_565,
                     "nyu2012": 39_979}
    for storm in data.storms:  # M: the reply-alls that reached each list
        m = storm.observation("reply_alls_accepted")
        assert m.lo <= m.value <= m.hi and m.unit == "messages"
        assert storm.start_clock_h[0] <= storm.start_clock_h[1]
        for prov in (*storm.provenance.values(), storm.end.provenance,
                     *(o.provenance for o in storm.observations)):
            assert prov.sources and all(s in data.sources for s in prov.sources)
            assert prov.firmness in "RCDA"
    assert {o.quantity for s in data.storms for o in s.observations} <= set(QUANTITIES)


def test_sources_have_an_address_or_say_why_not():
    data = load_storms()
    for source in data.sources.values():
        assert source.title and source.publisher
        assert source.url or source.note, source.id
        if source.url:
            assert source.url.startswith(("http://", "https://"))
    urls = {s.url for s in data.sources.values() if s.url}
    assert len(urls) == 16  # every address in the project's notes on these storms
    assert "http://content.digital.nhs.uk/article/7507/NHSmail---update" in urls


def _minutes(clock_h: float) -> float:
    return (clock_h - START) * 60.0


def test_calibration_targets_are_the_reports_where_and_when_they_were_made():
    """TARGETS come from the data file: each report with its range, its tag and its clock."""
    expected = [
        ("mean_received@12:00-18:00", "mean_received", 151.0, 221.0, "C/D", 0.25,
         (_minutes(12.0), _minutes(18.0))),
        ("inbox_received@11:30", "inbox", 70.0, 80.0, "R", 0.25, (_minutes(11.5),) * 2),
        ("inbox_received@12:00", "inbox", 123.0, 123.0, "C", math.nan, (_minutes(12.0),) * 2),
        ("inbox_received@14:30", "inbox", 411.0, 411.0, "C", math.nan, (_minutes(14.5),) * 2),
        ("inbox_remove_me@11:29", "inbox_remove_me", 187.0, 187.0, "C", math.nan,
         (180.0, 180.0)),
        ("transport_events@09:45", "transport_events", 0.0, 5e8, "R", math.nan,
         (_minutes(9.75),) * 2),
        ("delay@12:00", "delay", 180.0, 180.0, "R", math.nan, (_minutes(12.0),) * 2),
        ("backlog_cleared_minute", "summary", 180.0, _minutes(24 + 16.5), "R", math.nan, None),
        ("service_restored_minute", "summary", 0.0, 1440.0, "R", math.nan, None)]
    got = observations.TARGETS
    assert [o.key for o in got] == [e[0] for e in expected]
    for o, (_, kind, lo, hi, tag, sigma, window) in zip(got, expected, strict=True):
        assert (o.kind, o.lo, o.hi, o.tag) == (kind, lo, hi, tag)
        assert (math.isnan(o.sigma) and math.isnan(sigma)) or o.sigma == sigma
        if window is None:
            assert o.window is None and math.isnan(o.minute)
        else:
            assert o.window == pytest.approx(window) and o.minute == pytest.approx(
                0.5 * (window[0] + window[1]))
        assert o.columns == ((o.key, o.key) if kind == "summary" else
                             (observations.LO + o.key, observations.HI + o.key))
    context = {o.key: o for o in observations.CONTEXT}
    assert (context["reply_alls_accepted"].lo, context["reply_alls_accepted"].hi) == \
        (151.0, 600.0)
    assert (context["senders"].lo, context["senders"].hi) == (70.0, 220.0)
    assert "normal_messages_per_day" not in context  # a fact no run computes
    assert not {o.key for o in observations.TARGETS} & set(context)


def _nhs(data):
    return next(s for s in data["storms"] if s["id"] == "nhs2016")


def _edit(fn):
    data = copy.deepcopy(RAW)
    fn(data)
    return data


@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda d: d.update(extra=1), ["extra: unknown key (allowed: schema, sources, storms)"]),
    (lambda d: d.update(schema=2), ["schema=2: must be 1"]),
    (lambda d: _nhs(d).update(colour="red"), ["storms[nhs2016].colour: unknown key"]),
    (lambda d: _nhs(d).pop("list_size"), ["storms[nhs2016].list_size: required key"]),
    (lambda d: _nhs(d).update(list_size_sources=["register2016", "nope"]),
     ["storms[nhs2016].list_size_sources[1]='nope': unknown source id"]),
    (lambda d: _nhs(d)["observations"][1].update(lo=300.0),
     ["storms[nhs2016].observations[1].lo=300.0: must be <= hi=80"]),
    (lambda d: _nhs(d)["observations"][0].update(value=500.0),
     ["storms[nhs2016].observations[0].value=500.0: must lie in [lo, hi] = [151, 221]"]),
    (lambda d: _nhs(d)["observations"][0].update(tag="X"),
     ["storms[nhs2016].observations[0].tag='X': must be R, C, D or A"]),
    (lambda d: _nhs(d)["observations"][0].update(tag="R/"), ["observations[0].tag='R/'"]),
    (lambda d: _nhs(d).update(audience_tag="reported"), ["storms[nhs2016].audience_tag="]),
    (lambda d: _nhs(d)["observations"][2].update(quantity="happiness"),
     ["storms[nhs2016].observations[2].quantity='happiness': unknown quantity"]),
    (lambda d: _nhs(d)["observations"][7].update(quantity="service_restored_minute"),
     ["storms[nhs2016].observations[8].quantity='service_restored_minute': is observed "
      "twice"]),
    (lambda d: _nhs(d)["observations"][3].update(clock_h=12.0),
     ["storms[nhs2016].observations[3].quantity='inbox_received': is observed twice in this "
      "storm (inbox_received@12:00)"]),
    (lambda d: _nhs(d)["observations"][2].pop("clock_h"),
     ["storms[nhs2016].observations[2].clock_h=None: is required for inbox_received"]),
    (lambda d: _nhs(d)["observations"][0].update(clock_h=[18.0, 12.0]),
     ["storms[nhs2016].observations[0].clock_h=[18.0, 12.0]: must have lo <= hi"]),
    (lambda d: _nhs(d)["observations"][0].update(sigma=0.0), ["observations[0].sigma=0.0"]),
    (lambda d: _nhs(d)["observations"][3].update(clock_h=50.0),
     ["observations[3].clock_h=50.0: must be in [0, 48)"]),
    (lambda d: _nhs(d)["observations"][0].update(target="yes"),
     ["observations[0].target='yes': must be true or false"]),
    (lambda d: _nhs(d).update(audience="partial"),
     ["storms[nhs2016].audience='partial': must be one of hidden, visible"]),
    (lambda d: _nhs(d).update(list_size=900_000),
     ["storms[nhs2016].list_size=900000: must lie in list_size_range"]),
    (lambda d: _nhs(d).update(start_clock_h=[9.0, 8.0]),
     ["storms[nhs2016].start_clock_h=[9.0, 8.0]: must have lo <= hi"]),
    (lambda d: _nhs(d)["end"].update(cutoff_min=[91.0]),
     ["storms[nhs2016].end.cutoff_min=[91.0]: must be a pair"]),
    (lambda d: _nhs(d)["end"].update(when="10:00"), ["storms[nhs2016].end.when: unknown key"]),
    (lambda d: _nhs(d).update(date="14 Nov 2016"), ["storms[nhs2016].date='14 Nov 2016'"]),
    (lambda d: d["storms"][1].update(id="nhs2016"),
     ["storms[nhs2016].id='nhs2016': is used by another storm"]),
    (lambda d: d["sources"]["register2016"].update(url="www.theregister.com"),
     ["sources.register2016.url='www.theregister.com': must start with http"]),
    (lambda d: d["sources"]["register2016"].pop("publisher"),
     ["sources.register2016.publisher: required key is missing"]),
])
def test_a_bad_file_is_refused_in_one_line_naming_the_key(edit, fragments):
    with pytest.raises(StormDataError) as excinfo:
        parse(_edit(edit))
    text = str(excinfo.value)
    assert "\n" not in text and text.startswith("storms.toml: ")
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_the_packaged_file_parses_and_a_broken_one_names_the_file(tmp_path):
    assert parse(copy.deepcopy(RAW)) == load_storms()
    bad = tmp_path / "mine.toml"
    bad.write_text(data_path().read_text(encoding="utf-8").replace('audience = "hidden"',
                                                                   'audience = hidden', 1))
    with pytest.raises(StormDataError, match=r"mine.toml: cannot be read as TOML"):
        read_file(bad)
    edited = tmp_path / "edited.toml"
    edited.write_text(data_path().read_text(encoding="utf-8").replace(
        "list_size = 840000", "list_size = 840001", 1))
    assert load_storms(edited).storm("nhs2016").list_size == 840_001


def test_each_storm_has_a_scenario_that_agrees_with_the_data_file():
    from replyall_storm.model.scenarios import SCENARIOS, get_scenario

    reproduced = {s.storm for s in SCENARIOS.values() if s.storm}
    assert reproduced == {st.id for st in load_storms().storms}
    for storm in load_storms().storms:
        assert get_scenario(storm.id).storm == storm.id
        p = get_scenario(storm.id).params()
        assert p.n_users == storm.list_size
        assert p.audience_visible is (storm.audience == "visible")
        assert storm.start_clock_h[0] <= p.start_clock_h <= storm.start_clock_h[1]
        lo, hi = storm.end.cutoff_min
        assert lo <= p.cutoff_min <= hi
        assert p.horizon_min > p.cutoff_min
