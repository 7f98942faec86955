"""StormModel as a Mesa user expects it: keyword constructor, step(), run_model(), DataCollector.

And as ``simulate(engine="mesa")`` runs it: the same seed gives the same run either way.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from replyall_storm.model import StormModel
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.observables import COLUMNS
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import SCENARIOS, get_scenario
from replyall_storm.model.states import STATE_NAMES, State

ROOT = Path(__file__).resolve().parents[1]
STORMY = dict(remove_rate=1.2e-2, complain_rate=1.2e-2, capacity_per_min=300.0,
              degrade_backlog=30_000.0, cutoff_min=60.0, horizon_min=120)


def test_defaults_are_the_small_scenario_at_300_users():
    model = StormModel()
    assert isinstance(model, mesa.Model)
    assert model.params == get_scenario("small").params(n_users=300)
    assert model.running and model.minute == 0 and model.steps == 0
    assert len(model.agents) == len(model.users) == 300
    assert model.series().empty


def test_every_agent_sits_on_its_own_cell_of_the_organisation_network():
    model = StormModel(n_users=200, seed=3)
    org = model.run_setup.org
    graph = org.to_networkx()
    assert sorted(model.grid.G.nodes) == list(range(200))
    assert model.grid.G.number_of_edges() == graph.number_of_edges()
    for user in model.users:
        assert user.cell.coordinate == user.user_id
        assert user.cell.agents == [user]
        colleagues = sorted(other.user_id for other in user.colleagues())
        assert colleagues == sorted(graph.neighbors(user.user_id))
        assert user.manager == bool(org.is_manager[user.user_id])


def test_a_step_is_a_minute_and_the_datacollector_holds_the_series():
    model = StormModel(seed=1, **STORMY)
    for minute in range(1, 61):
        model.step()
        assert model.minute == model.steps == minute
    frame = model.datacollector.get_model_vars_dataframe()
    series = model.series()
    assert len(frame) == len(series) == 60
    assert list(frame.columns) == COLUMNS
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), series[COLUMNS]
                                  .reset_index(drop=True), check_dtype=False)
    assert series["accepted"].sum() > 0, "choose a storm"
    counts = frame[STATE_NAMES].to_numpy()
    assert np.all(counts.sum(axis=1) == 300)
    assert np.array_equal(np.bincount(model.final_arrays()[0], minlength=4), counts[-1])


def test_run_for_run_model_and_the_horizon():
    model = StormModel(seed=2, horizon_min=50)
    model.run_for(20)
    assert model.minute == 20 and model.running
    model.run_model()
    assert model.minute == 50 and not model.running
    model.step()  # past the horizon: nothing happens
    model.run_for(5)
    assert model.minute == 50 and len(model.datacollector.get_model_vars_dataframe()) == 50
    again = StormModel(seed=2, horizon_min=50)
    again.run_for(500)  # stops at the horizon
    pd.testing.assert_frame_equal(again.series(), model.series())


@pytest.mark.parametrize("build", ["keywords", "from_params"])
def test_the_model_is_the_mesa_engine_of_simulate(build):
    params = get_scenario("small").params(n_users=300, **STORMY)
    if build == "keywords":
        model = StormModel(n_users=300, seed=7, **STORMY)
    else:
        model = StormModel.from_params(params, seed=7)
    assert model.params == params
    model.run_model()
    result = simulate(params, seed=7, engine="mesa", cache=False)
    pd.testing.assert_frame_equal(model.series(), result.series)
    state, read, _, _ = model.final_arrays()
    assert np.array_equal(state, result.final_state) and np.array_equal(read, result.read)


def test_seed_and_rng_are_the_same_root_and_none_is_fresh_entropy():
    def run(**kwargs):
        model = StormModel(**{**STORMY, "horizon_min": 40}, **kwargs)
        model.run_model()
        return model

    by_seed, by_rng = run(seed=5), run(rng=5)
    pd.testing.assert_frame_equal(by_seed.series(), by_rng.series())
    assert by_rng.run_setup.seed_entropy == "5"
    sequence = run(rng=np.random.SeedSequence(5))
    pd.testing.assert_frame_equal(sequence.series(), by_seed.series())
    fresh = run(seed=None)
    replay = run(seed=int(fresh.run_setup.seed_entropy))
    pd.testing.assert_frame_equal(fresh.series(), replay.series())
    with pytest.raises(ParameterError, match="rng"):
        StormModel(seed=4, rng=5)
    with pytest.raises(ParameterError, match="seed"):
        StormModel(rng=np.random.default_rng(5))


def test_scenarios_and_bad_parameters():
    assert StormModel(scenario="trust", n_users=400).params == SCENARIOS["trust"].params(
        n_users=400)
    assert StormModel(scenario=SCENARIOS["trust"], n_users=400).params.remove_rate == 4e-4
    with pytest.raises(ParameterError, match="^scenario='mars'"):
        StormModel(scenario="mars")
    with pytest.raises(ParameterError, match="^remove_rat="):
        StormModel(remove_rat=0.1)
    with pytest.raises(ParameterError, match="^n_users=300000: the mesa engine"):
        StormModel(n_users=300_000)


def test_mesa_scenario_passed_by_solaraviz_on_reset_is_understood():
    """Mesa >= 3.5's SolaraViz re-creates the model with ``scenario=<mesa Scenario>``."""
    try:
        from mesa.experimental.scenarios import Scenario
    except ImportError:  # Mesa 3.3: SolaraViz passes only the sliders' values

        class Scenario:
            def __init__(self, rng=None, **entries):
                self.__dict__.update(entries, rng=rng)

            def __iter__(self):
                return iter(self.__dict__.items())

    model = StormModel(n_users=300, scenario=Scenario(), **STORMY)
    assert model.params == get_scenario("small").params(n_users=300, **STORMY)
    seeded = StormModel(n_users=300, scenario=Scenario(rng=9, cutoff_min=30.0))
    assert seeded.params.cutoff_min == 30.0 and seeded.run_setup.seed_entropy == "9"


def test_the_constructor_is_what_solaraviz_needs():
    parameters = inspect.signature(StormModel.__init__).parameters
    kinds = {p.kind for p in parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    for name, p in parameters.items():
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD:
            assert p.default is not inspect.Parameter.empty, name
    # Mesa 3.3's SolaraViz accepts extra keyword parameters only through one named `kwargs`
    assert [n for n, p in parameters.items() if p.kind is p.VAR_KEYWORD] == ["kwargs"]


def test_release_frees_the_agents():
    model = StormModel(seed=1, horizon_min=10)
    model.run_model()
    model.release()
    assert len(model.agents) == 0 and model.users == [] and not model.running


def test_visible_senders_and_reached_flags_follow_the_series():
    model = StormModel(seed=1, **STORMY)
    model.run_model()
    users = model.users
    series = model.series()
    attempted = sum(u.replied for u in users)
    assert attempted == sum(u.visible_sender for u in users) > 0
    assert sum(u.reached for u in users) <= attempted
    assert sum(u.state == State.REPLIED for u in users) == series["replied"].iloc[-1]


PRIVATE_MESA = re.compile(r"\._cells\b|\b_ids\b|_clear_cache|__new__\(|_mesa_cell|\._agents\b")


def test_no_private_mesa_api_in_the_project():
    sources = [*(ROOT / "model").rglob("*.py"), *(ROOT / "notebooks").glob("*.py"),
               *(ROOT / "notebooks").glob("*.ipynb")]
    assert sources
    for path in sources:
        found = PRIVATE_MESA.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(ROOT)} uses private Mesa API: {found}"
