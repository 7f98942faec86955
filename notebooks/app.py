"""The reply-all storm, agent by agent: a SolaraViz app of the Mesa ``StormModel``.

Serve it with::

    solara run notebooks/app.py        # then open the address it prints (port 8765)

Each browser session gets its own model (:func:`Page`); notebook 01 shows the same page
(``make_page()``) and draws the same panels for its static figure. Panels: the organisation
network with every user drawn and coloured by state, the storm curves (users per state,
reply-alls sent), and the transport (deliveries queued, messages received and read per user).
Sliders set the list size (users; the list reaches the whole organisation), the two reply
hazards, the cut-off, the transport's capacity, the peer weight and the seed: press *Reset*
after moving one, then *Step* (one minute) or play.

The network is drawn here with matplotlib rather than with Mesa's space component, whose
network drawing masks markers with ``z_order == zorder & mask_marker`` (an operator-precedence
bug in Mesa 3.3-3.5): with zorders other than 1 it draws no agents. The spring layout is
computed once per organisation and cached, so each step only recolours the users.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import networkx as nx
import numpy as np
import solara
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from replyall_storm.experiments.figures import style
from replyall_storm.model import StormModel
from replyall_storm.model.states import STATE_NAMES, State

DEFAULTS = dict(
    n_users=300,
    remove_rate=1.2e-2,
    complain_rate=1.2e-2,
    cutoff_min=60.0,
    capacity_per_min=300.0,
    peer_weight=0.5,
    seed=1,
)
"""The app's starting point: the ``small`` scenario at 300 users, hazards raised so that the
list's 300 readers make a storm (rates are per message read; at 2,000 users the scenario's
own 2e-3 does)."""

FIXED = dict(degrade_backlog=30_000.0, horizon_min=480)
"""Parameters the sliders leave alone: checks start failing beyond 30,000 queued deliveries
(100 messages per user at 300 users); eight simulated hours."""

MODEL_PARAMS = {
    "n_users": Slider("list size (users)", DEFAULTS["n_users"], 100, 600, 50),
    "remove_rate": Slider(
        "'remove me' hazard (per message read)", DEFAULTS["remove_rate"], 0.0, 3e-2, 1e-3
    ),
    "complain_rate": Slider(
        "complaint hazard (per message read)", DEFAULTS["complain_rate"], 0.0, 3e-2, 1e-3
    ),
    "cutoff_min": Slider("list disabled after (min)", DEFAULTS["cutoff_min"], 5.0, 480.0, 5.0),
    "capacity_per_min": Slider(
        "transport capacity (deliveries/min)", DEFAULTS["capacity_per_min"], 50.0, 3000.0, 50.0
    ),
    "peer_weight": Slider(
        "peer weight (per colleague who replied)", DEFAULTS["peer_weight"], 0.0, 3.0, 0.1
    ),
    "seed": Slider("random seed", DEFAULTS["seed"], 0, 20, 1),
    **FIXED,
}
"""What SolaraViz's *Reset* passes to ``StormModel(**values)``."""

PANEL_IN = (5.6, 3.2)
"""Size of each panel (inches; 616 x 352 pixels at 110 dpi, one card of SolaraViz's grid)."""

STATE_RGBA = to_rgba_array([style.STATE_COLOURS[name] for name in STATE_NAMES])
"""Face colour of a user in each State (rows in State order)."""

_LAYOUTS: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_LAYOUTS_LOCK = threading.Lock()


def network_layout(model: StormModel) -> tuple[np.ndarray, np.ndarray]:
    """(position of each user, indexed by user id; edge segments), cached per organisation.

    A spring layout (NetworkX, fixed seed) takes about 0.1 s at 300 users and 1 s at 600;
    it is computed once per organisation graph (keyed by its adjacency), not once per step.
    """
    org = model.run_setup.org
    key = (org.n_users, hashlib.sha1(org.indptr.tobytes() + org.indices.tobytes()).hexdigest())
    with _LAYOUTS_LOCK:  # browser sessions run in threads
        if key not in _LAYOUTS:
            graph = org.to_networkx()
            pos = nx.spring_layout(graph, seed=0, k=2.0 / np.sqrt(org.n_users))
            xy = np.array([pos[u] for u in range(org.n_users)])
            edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
            _LAYOUTS[key] = (xy, xy[edges])
            while len(_LAYOUTS) > 8:
                _LAYOUTS.popitem(last=False)
        _LAYOUTS.move_to_end(key)
        return _LAYOUTS[key]


def user_states(model: StormModel) -> np.ndarray:
    """Each user's State (int8), by user id."""
    return np.fromiter((u.state for u in model.users), dtype=np.int8, count=len(model.users))


def clock(model: StormModel) -> str:
    """Clock time at the end of the minutes simulated (HH:MM)."""
    t = (model.params.start_clock_h * 60 + model.minute) % 1440
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


def draw_network(model: StormModel, ax) -> PathCollection:
    """Every user as one marker at its place in the organisation, coloured by state.

    Edges are drawn under the users (zorder 1 and 2); users who replied are drawn larger.
    Returns the users' markers (one per user, in user-id order).
    """
    xy, segments = network_layout(model)
    state = user_states(model)
    ax.add_collection(LineCollection(segments, colors="0.82", linewidths=0.35, zorder=1))
    users = ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=np.where(state == State.REPLIED, 26.0, 10.0),
        c=STATE_RGBA[state],
        edgecolors="0.3",
        linewidths=0.3,
        zorder=2,
    )
    counts = np.bincount(state, minlength=len(State))
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=4.5,
            markerfacecolor=STATE_RGBA[s],
            markeredgecolor="0.3",
            markeredgewidth=0.3,
            label=f"{name} {counts[s]}",
        )
        for s, name in enumerate(STATE_NAMES)
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(handles),
        fontsize=7,
        frameon=False,
        handletextpad=0.2,
        columnspacing=1.2,
    )
    cut = model.loop.transport.cut_minute
    status = "list open" if np.isnan(cut) else f"list disabled at minute {int(cut)}"
    ax.set_title(
        f"{len(state)} users, minute {model.minute} ({clock(model)}): {status}", fontsize=9
    )
    ax.margins(0.02)
    ax.set_axis_off()  # the layout fills the panel: distances on it mean nothing
    return users


def draw_storm(model: StormModel, ax) -> None:
    """Users per state and reply-alls sent, minute by minute (the DataCollector's table)."""
    data = model.datacollector.get_model_vars_dataframe()
    for s, name in enumerate(STATE_NAMES):
        ax.plot(data.index, data[name], color=STATE_RGBA[s], label=style.STATE_LABELS[name])
    sent = (data["sent_remove"] + data["sent_complain"]).cumsum()
    ax.plot(data.index, sent, color="0.2", ls="--", label="reply-alls sent (cumulative)")
    p = model.params
    ax.axvline(p.cutoff_min, color=style.CUTOFF_COLOUR, ls="-.", lw=0.8)
    ax.set_xlim(0, min(p.horizon_min, max(60, model.minute, p.cutoff_min + 10)))
    top = max(len(model.users), float(sent.max()) if len(sent) else 0.0)
    ax.set_ylim(0, 1.45 * top)  # headroom for the legend
    ax.set_xlabel("minutes after the first send")
    ax.set_ylabel("users")
    ax.set_title("the storm (dash-dot: cut-off)", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper center", ncol=3)


def draw_transport(model: StormModel, ax) -> None:
    """Deliveries queued at the transport, and messages received and read per user."""
    data = model.datacollector.get_model_vars_dataframe()
    ax.fill_between(
        data.index,
        data["backlog"],
        color=style.PALETTE[7],
        alpha=0.5,
        lw=0,
        label="deliveries queued (left)",
    )
    p = model.params
    ax.set_xlim(0, min(p.horizon_min, max(60, model.minute, p.cutoff_min + 10)))
    ax.set_ylim(0, max(100.0, 1.1 * float(data["backlog"].max()) if len(data) else 0.0))
    ax.set_xlabel("minutes after the first send")
    ax.set_ylabel("deliveries queued")
    per_user = ax.twinx()
    per_user.plot(
        data.index,
        data["received_per_user"],
        color=style.RECEIVED_COLOUR,
        label="received per user (right)",
    )
    per_user.plot(
        data.index,
        data["read_per_user"],
        color=style.RECEIVED_COLOUR,
        ls=":",
        label="read per user (right)",
    )
    per_user.set_ylim(bottom=0)
    per_user.set_ylabel("messages per user")
    lines = ax.get_legend_handles_labels()
    more = per_user.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, frameon=False, loc="upper left")
    ax.set_title(f"the transport ({model.params.capacity_per_min:,.0f} deliveries/min)", fontsize=9)


def _figure(draw, model: StormModel, size: tuple[float, float]) -> None:
    fig = Figure(figsize=size, layout="constrained")
    draw(model, fig.add_subplot())
    solara.FigureMatplotlib(fig, format="png", dpi=110)


@solara.component
def NetworkView(model: StormModel):  # noqa: N802 (Solara components are CamelCase)
    """The organisation network, every user coloured by state."""
    update_counter.get()  # redrawn after every step
    _figure(draw_network, model, PANEL_IN)


@solara.component
def StormView(model: StormModel):  # noqa: N802
    """The storm curves."""
    update_counter.get()
    _figure(draw_storm, model, PANEL_IN)


@solara.component
def TransportView(model: StormModel):  # noqa: N802
    """The transport's backlog and the messages per user."""
    update_counter.get()
    _figure(draw_transport, model, PANEL_IN)


def make_model(**overrides) -> StormModel:
    """A model with the app's defaults (``DEFAULTS``, ``FIXED``), overridden by ``overrides``."""
    return StormModel(**{**DEFAULTS, **FIXED, **overrides})


def make_page(model: StormModel | None = None):
    """The SolaraViz page around ``model`` (default: :func:`make_model`)."""
    return SolaraViz(
        model if model is not None else make_model(),
        components=[NetworkView, StormView, TransportView],
        model_params=MODEL_PARAMS,
        name="Reply-all storm: one step is one minute",
        play_interval=150,
    )


@solara.component
def Page():  # noqa: N802 (what `solara run` serves)
    """The app: one model per browser session, so that visitors do not share a storm."""
    model = solara.use_memo(make_model, [])
    return make_page(model)
