"""The SolaraViz app (notebooks/app.py) draws every agent, in its state's colour, headlessly.

The network panel is drawn with matplotlib (Agg): one marker per user at its place in the
organisation, coloured by state, above the edges. Mesa's own network drawing (3.3-3.5) masks
its markers with ``z_order == zorder & mask_marker`` and draws no agent at zorders other
than 1, which is how the app once showed only edges: these tests look at the markers drawn.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("solara", reason="solara (extra `notebooks`) is not installed")

import ipywidgets  # noqa: E402
import matplotlib.image  # noqa: E402
import solara  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mesa.visualization import Slider  # noqa: E402

from replyall_storm.model import StormModel  # noqa: E402
from replyall_storm.model.states import State  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "notebooks" / "app.py"


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("replyall_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stormy(app):
    """The app's default model after 90 minutes: every state is present."""
    model = app.make_model()
    model.run_for(90)
    counts = np.bincount(app.user_states(model), minlength=len(State))
    assert np.all(counts > 0), counts
    return model


def test_one_marker_per_agent_in_its_state_colour(app, stormy):
    fig = Figure(figsize=(6, 5.6))
    ax = fig.add_subplot()
    users = app.draw_network(stormy, ax)
    FigureCanvasAgg(fig).draw()
    state = np.fromiter((u.state for u in stormy.users), dtype=np.int8)
    offsets = users.get_offsets()
    assert len(offsets) == len(stormy.users) == len(stormy.agents) == 300
    xy, _ = app.network_layout(stormy)
    np.testing.assert_array_equal(offsets, xy)  # user i drawn at user i's place
    faces = users.get_facecolors()
    assert faces.shape == (300, 4)
    np.testing.assert_array_equal(faces, app.STATE_RGBA[state])
    for s in State:  # each state's colour is its own, on exactly its users
        same = np.all(faces == app.STATE_RGBA[s], axis=1)
        assert same.sum() == np.count_nonzero(state == s) > 0
    assert len({tuple(c) for c in app.STATE_RGBA}) == len(State)
    edges = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(edges) == 1 and len(edges[0].get_segments()) == \
        stormy.run_setup.org.to_networkx().number_of_edges()
    assert users.get_zorder() > edges[0].get_zorder()
    assert users.get_visible() and users.get_alpha() in (None, 1.0)


def test_the_rendered_panel_shows_every_state_colour(app, stormy):
    box, rc = solara.render(app.NetworkView(stormy), handle_error=False)
    try:
        image = rc.find(ipywidgets.Image).widget
        assert image.format == "png"
        pixels = matplotlib.image.imread(io.BytesIO(bytes(image.value)), format="png")
    finally:
        rc.close()
    rgb = np.round(pixels[..., :3] * 255).astype(int)
    for s in State:
        colour = np.round(app.STATE_RGBA[s, :3] * 255).astype(int)
        found = np.all(np.abs(rgb - colour) <= 1, axis=-1).sum()
        assert found >= 5 * np.count_nonzero(app.user_states(stormy) == s), State(s).name


@pytest.mark.parametrize("page", ["make_page", "Page"])
def test_the_page_has_its_three_panels(app, stormy, page):
    element = app.make_page(stormy) if page == "make_page" else app.Page()  # Page: `solara run`
    box, rc = solara.render(element, handle_error=False)
    try:
        assert len(rc.find(ipywidgets.Image).widgets) == 3
    finally:
        rc.close()


def test_stepping_recolours_the_network_and_the_layout_is_cached(app):
    model = app.make_model(seed=4)
    before = app.network_layout(model)
    start = app.user_states(model).copy()
    model.run_for(30)
    assert app.network_layout(model) is before  # computed once, not once per step
    assert not np.array_equal(app.user_states(model), start)
    again = app.make_model(seed=4)  # a new model of the same organisation: the same layout
    assert app.network_layout(again) is before
    assert app.network_layout(app.make_model(seed=5)) is not before


def test_reset_builds_the_model_from_the_sliders(app):
    values = {name: (p.value if isinstance(p, Slider) else p)
              for name, p in app.MODEL_PARAMS.items()}
    assert {"n_users", "cutoff_min", "remove_rate", "complain_rate", "capacity_per_min",
            "seed"} <= set(values)
    model = StormModel(**values)  # what SolaraViz's Reset does
    assert model.params == app.make_model().params
    assert len(model.agents) == values["n_users"]
    smaller = StormModel(**{**values, "n_users": 150, "cutoff_min": 20.0})
    assert len(smaller.agents) == 150 and smaller.params.cutoff_min == 20.0
