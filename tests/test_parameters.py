"""Bad input gives one ParameterError naming the parameter and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from replyall_storm.model import run_setup as run_setup_module
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams, coerce, parameter_table
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import SCENARIOS, get_scenario


def one_line_error(excinfo, name, *fragments):
    """The error names ``name``, says each fragment, and fits on one line."""
    err = excinfo.value
    text = str(err)
    assert isinstance(err, ParameterError)
    assert err.name == name
    assert text.startswith(f"{name}=")
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("mute_rate", 1.5, "[0, 1]"),
    ("unable_max", -0.1, "[0, 1]"),
    ("night_activity", 1.01, "[0, 1]"),
    ("visible_audience_factor", 2.0, "[0, 1]"),
    ("remove_rate", -1e-5, "[0, 1]"),
    ("complain_rate", -0.5, "[0, 1]"),
    ("peer_weight", -1.0, "[0, 1000]"),
    ("capacity_per_min", 0.0, "(0, 1e+12]"),
    ("capacity_per_min", -5.0, "(0, 1e+12]"),
    ("annoyance_half", 0.0, "(0, "),
    ("degrade_backlog", 0.0, "(0, "),
    ("check_median_min", 0.5, "[1, 1440]"),
    ("cutoff_min", -1.0, "[0, inf]"),
    ("horizon_min", 0, "[1, "),
    ("n_users", 1, "[2, 1,000,000]"),
    ("n_users", 2_000_000, "[2, 1,000,000]"),
    ("workday_start_h", 25.0, "[0, 24]"),
])
def test_out_of_range_values_are_refused_with_the_range(name, value, allowed):
    with pytest.raises(ParameterError) as excinfo:
        StormParams().replace(**{name: value})
    one_line_error(excinfo, name, repr(value), allowed)
    # the same through a scenario and through the plain validator
    with pytest.raises(ParameterError) as excinfo:
        get_scenario("small").params(**{name: value})
    one_line_error(excinfo, name, allowed)
    with pytest.raises(ParameterError) as excinfo:
        dataclasses.replace(StormParams(), **{name: value}).validate()
    one_line_error(excinfo, name, allowed)


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("remove_rate", "abc", "must be a number"),
    ("remove_rate", math.nan, "must be a number"),
    ("capacity_per_min", None, "must be a number"),
    ("mute_rate", True, "must be a number"),
    ("horizon_min", 12.5, "whole number"),
    ("audience_visible", "yes", "true or false"),
    ("purge_at_cutoff", 1, "true or false"),
    ("list_level", "building", "team, department, organisation, region, directory"),
    ("check_distribution", "gamma", "lognormal, exponential"),
])
def test_wrong_types_and_choices_are_refused(name, value, fragment):
    with pytest.raises(ParameterError) as excinfo:
        StormParams().replace(**{name: value})
    one_line_error(excinfo, name, fragment)


def test_whole_number_floats_for_int_fields_are_converted_or_refused(run_storm):
    params = get_scenario("small").params(horizon_min=120.0, n_databases=3.0)
    assert type(params.horizon_min) is int and params.horizon_min == 120
    assert type(params.n_databases) is int and params.n_databases == 3
    assert run_storm(params).series.shape[0] == 120
    with pytest.raises(ParameterError) as excinfo:
        get_scenario("small").params(horizon_min=120.5)
    one_line_error(excinfo, "horizon_min", "whole number")


def test_numpy_numbers_are_numbers():
    params = StormParams().replace(n_users=np.int64(2_000), horizon_min=np.int64(60))
    assert params.n_users == 2_000 and type(params.n_users) is int


@pytest.mark.parametrize(("name", "edge", "beyond"), [
    ("mute_rate", 0.0, -1e-12), ("remove_rate", 1.0, 1.0 + 1e-12), ("unable_max", 1.0, 1.01),
    ("n_users", 2, 1), ("n_users", 1_000_000, 1_000_001), ("horizon_min", 1, 0),
    ("cutoff_min", math.inf, -1.0), ("check_median_min", 1.0, 0.999),
    ("rate_limit_per_hour", 1.0, 0.999), ("sp_threshold", 5, 4), ("sp_threshold", 20, 21),
    ("n_databases", 1, 0), ("capacity_spread", 3.0, 3.001), ("attention_span", math.inf, 0.0),
])
def test_boundaries_are_accepted_and_just_beyond_refused(name, edge, beyond):
    params = StormParams().replace(**{name: edge})
    assert getattr(params, name) == edge and params.validate() is params
    with pytest.raises(ParameterError) as excinfo:
        StormParams().replace(**{name: beyond})
    one_line_error(excinfo, name, "must be")


def test_open_lower_bounds_accept_anything_above():
    params = StormParams().replace(capacity_per_min=1e-6, annoyance_half=1e-9,
                                   degrade_backlog=1e-9, attention_span=1e-9)
    assert (params.capacity_per_min, params.attention_span) == (1e-6, 1e-9)
    for name in ("capacity_per_min", "annoyance_half", "degrade_backlog", "attention_span"):
        with pytest.raises(ParameterError) as excinfo:
            StormParams().replace(**{name: 0.0})
        one_line_error(excinfo, name, "must be in (0, ")


@pytest.mark.parametrize("end", [7.0, 8.0])
def test_workday_must_end_after_it_starts(end):
    with pytest.raises(ParameterError) as excinfo:
        StormParams().replace(workday_start_h=8.0, workday_end_h=end)
    one_line_error(excinfo, "workday_end_h", "workday_start_h=8.0")


def test_unknown_parameter_name():
    with pytest.raises(ParameterError) as excinfo:
        StormParams().replace(mutte_rate=0.1)
    one_line_error(excinfo, "mutte_rate", "unknown parameter")
    with pytest.raises(ParameterError) as excinfo:
        get_scenario("small").params(bogus=1)
    one_line_error(excinfo, "bogus", "unknown parameter")
    with pytest.raises(ParameterError) as excinfo:
        coerce("bogus", "1")
    one_line_error(excinfo, "bogus", "unknown parameter")


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ParameterError) as excinfo:
        get_scenario("nhs2017")
    one_line_error(excinfo, "scenario", *SCENARIOS)


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("remove_rate", "abc", "must be a number"),
    ("horizon_min", "1.5", "must be a whole number"),
    ("horizon_min", "two", "must be a whole number"),
    ("audience_visible", "maybe", "must be true or false"),
])
def test_coerce_refuses_text_of_the_wrong_type(name, text, fragment):
    with pytest.raises(ParameterError) as excinfo:
        coerce(name, text)
    one_line_error(excinfo, name, repr(text), fragment)


def test_coerce_parses_each_type():
    assert coerce("remove_rate", "1e-3") == 1e-3
    assert coerce("cutoff_min", "inf") == math.inf
    assert coerce("horizon_min", "120") == 120 and isinstance(coerce("horizon_min", "120"), int)
    assert coerce("n_users", "2e3") == 2000
    assert coerce("audience_visible", "True") is True
    assert coerce("purge_at_cutoff", "no") is False
    assert coerce("list_level", "team") == "team"


def test_unknown_engine_is_refused_before_anything_is_built(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("an organisation was built")

    monkeypatch.setattr(run_setup_module, "organisation", boom)
    with pytest.raises(ParameterError) as excinfo:
        simulate(get_scenario("small").params(), engine="gpu")
    one_line_error(excinfo, "engine", "fast", "mesa")


def test_bad_seed_is_refused():
    with pytest.raises(ParameterError) as excinfo:
        simulate(get_scenario("small").params(), seed=-1, cache=False)
    one_line_error(excinfo, "seed", "non-negative")


def test_mesa_refuses_the_full_directory_before_building_anything(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("an organisation was built")

    monkeypatch.setattr(run_setup_module, "organisation", boom)
    params = get_scenario("nhs2016").params()
    assert params.n_users == 840_000
    with pytest.raises(ParameterError) as excinfo:
        simulate(params, engine="mesa")
    one_line_error(excinfo, "n_users", "200,000", "fast")


def test_mesa_refusal_is_fast():
    import replyall_storm.model.engines.mesa_engine  # noqa: F401  (time the refusal, not Mesa)

    start = time.process_time()
    with pytest.raises(ParameterError):
        simulate(StormParams(), engine="mesa", cache=False)
    assert time.process_time() - start < 1.0


def test_defaults_and_every_scenario_are_valid():
    assert StormParams().validate() == StormParams()
    for scenario in SCENARIOS.values():
        params = scenario.params()
        assert params.validate() is params
        for key, value in scenario.overrides.items():
            assert getattr(params, key) == value


def test_parameter_table_covers_every_field():
    names = [row["name"] for row in parameter_table()]
    assert names == [f.name for f in dataclasses.fields(StormParams)]
    rows = {row["name"]: row for row in parameter_table()}
    assert rows["mute_rate"]["allowed"] == "[0, 1]"
    assert rows["capacity_per_min"]["allowed"].startswith("(0, ")
