"""The decision rule, written once and used by every engine and by the ODE.

At a mail check a user reads the ``new`` thread messages delivered since the last check and
takes at most one action. Each message read exposes the user to three competing hazards
(units: per message read):

* remove-me   ``h_r = remove_rate * (1 - a) * social * bystander``
* complain    ``h_c = complain_rate * a * social * bystander * role``
* mute        ``h_m = mute_rate * a``

where ``a = seen / (seen + annoyance_half)`` is the annoyance after reading (``seen`` counts
every thread message read so far, these included), ``social = (1 + peer_weight * peers) *
audience`` with ``peers`` the user's graph neighbours who have sent a reply-all and ``audience
= visible_audience_factor`` when the user can see how many people the list reaches (else 1),
and ``role = manager_complain_factor`` for team managers (else 1). A user who already replied
has ``h_r`` multiplied by ``repeat_remove_factor`` and ``h_c`` by ``repeat_complain_factor``.

Three mechanisms make the reply hazards depend on what the user perceives; each is off at its
default and then leaves the rule as above (the tests check it):

* **Diffusion of responsibility** (bystander effect; Darley and Latane 1968, and for e-mail
  Barron and Yechiam 2002): ``bystander = (perceived / hidden_audience_size) **
  -bystander_exponent``, with ``perceived`` the list size when the audience is visible and
  ``hidden_audience_size`` (the few addresses a reader sees) when it is not.
* **Relevance through the organisation**: a message from a sender who shares the reader's
  team counts 1, one from the same department ``1 / relevance_boost``, organisation
  ``relevance_boost ** -2``, region ``** -3`` and a stranger's elsewhere in the directory
  ``** -4`` (:func:`relevance_weights`): the hazards are per message from one's own team,
  so that with a large boost what a reader is exposed to no longer grows with the list.
  The engines pass the sum of the weights of the messages read, ``weighted``
  (:mod:`.relevance` computes it); without it every message weighs 1.
* **Limited attention** (Weng et al. 2012; Hodas and Lerman 2012): a reader facing ``new``
  unread messages attends to each with probability ``1 / (1 + new / attention_span)``, so a
  long unread thread is skimmed and the branching ratio falls as a storm grows.

The exposure of a check is ``x = weighted * attention`` (messages); the user acts with
probability ``1 - exp(-(h_r + h_c + h_m) x)`` and the action is drawn in proportion to the three
hazards. One uniform number per check decides both, so the rule is a pure function of its
inputs and one draw: the engines differ only in how they schedule checks.

Each engine gathers what the rule sees of its checking users in one place, as a
:class:`RuleInputs` (the fast engine for all of a minute's readers at once, a Mesa ``User`` for
itself), and calls :func:`decide_for`. A new input to the rule is a new field there, filled in
by each engine's one gathering method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parameters import StormParams
from .states import Action

LEVELS = 5
"""Hierarchy levels a sender can share with a reader: team, department, organisation, region,
directory (the last: nothing closer)."""


@dataclass(frozen=True)
class RuleInputs:
    """What the decision rule sees of each checking user (arrays of equal length).

    Attributes:
        new: messages read at this check (messages; 0 means nothing to read: no action).
        seen: messages read so far, ``new`` included (messages).
        peers: graph neighbours who have sent a reply-all (users).
        replied: whether the user has already sent a reply-all.
        manager: whether the user manages a team.
        audience_visible: whether the user sees the audience size (array, or one bool for all).
        list_size: members of the list (users): the audience a user sees when it is visible.
        weighted: relevance-weighted count of the messages read (``None``: every message
            weighs 1, the mechanism is off).
    """

    new: np.ndarray
    seen: np.ndarray
    peers: np.ndarray
    replied: np.ndarray
    manager: np.ndarray
    audience_visible: np.ndarray | bool
    list_size: int
    weighted: np.ndarray | None = None


@dataclass(frozen=True)
class Hazards:
    """Per-message hazards (arrays or scalars), before multiplying by the messages read."""

    remove: np.ndarray
    complain: np.ndarray
    mute: np.ndarray


def annoyance(seen: np.ndarray | float, params: StormParams) -> np.ndarray:
    """Annoyance in [0, 1) after ``seen`` thread messages: ``seen / (seen + annoyance_half)``."""
    seen = np.asarray(seen, dtype=np.float64)
    return seen / (seen + params.annoyance_half)


def bystander_factor(audience_visible: np.ndarray | bool, list_size: np.ndarray | float,
                     params: StormParams) -> np.ndarray:
    """Multiplier on the reply hazards from the audience a user perceives (1 when off)."""
    if params.bystander_exponent == 0.0:
        return np.ones(np.shape(audience_visible))
    perceived = np.where(audience_visible, np.asarray(list_size, dtype=np.float64),
                         params.hidden_audience_size)
    return (perceived / params.hidden_audience_size) ** -params.bystander_exponent


def relevance_weights(params: StormParams) -> np.ndarray:
    """Weight of a message by the closest unit its sender shares with the reader.

    Index 0 = same team, 1 department, 2 organisation, 3 region, 4 only the directory:
    ``relevance_boost ** -level`` (a team's message weighs 1); all ones when the mechanism is
    off.
    """
    return float(params.relevance_boost) ** -np.arange(LEVELS, dtype=np.float64)


def attention(new: np.ndarray | float, params: StormParams) -> np.ndarray:
    """Share of the ``new`` unread messages a reader attends to: ``1 / (1 + new / span)``."""
    new = np.asarray(new, dtype=np.float64)
    if not np.isfinite(params.attention_span):
        return np.ones_like(new)
    return 1.0 / (1.0 + new / params.attention_span)


def exposure(new: np.ndarray | float, weighted: np.ndarray | float | None,
             params: StormParams) -> np.ndarray:
    """Messages' worth of exposure at a check: ``weighted * attention(new)`` (messages).

    ``weighted`` is the relevance-weighted count of the messages read (``new`` when None).
    """
    new = np.asarray(new, dtype=np.float64)
    base = new if weighted is None else np.asarray(weighted, dtype=np.float64)
    return base * attention(new, params)


def hazards(
    seen: np.ndarray | float,
    peers: np.ndarray | float,
    replied: np.ndarray | bool,
    manager: np.ndarray | bool,
    params: StormParams,
    audience_visible: np.ndarray | bool | None = None,
    *,
    list_size: int | float | None = None,
) -> Hazards:
    """Hazards per message read for users in the given situation (vectorised over users).

    Args:
        seen: thread messages read so far, including this check's (messages).
        peers: graph neighbours who have sent a reply-all (users).
        replied: whether the user has already sent a reply-all.
        manager: whether the user manages a team.
        params: the scenario's parameters.
        audience_visible: whether the user sees the audience size; defaults to
            ``params.audience_visible`` (a mitigation may set it per user).
        list_size: members of the list (users), for the bystander effect; default
            ``params.n_users``.
    """
    a = annoyance(seen, params)
    if audience_visible is None:
        audience_visible = params.audience_visible
    audience = np.where(audience_visible, params.visible_audience_factor, 1.0)
    size = params.n_users if list_size is None else list_size
    audience = audience * bystander_factor(audience_visible, size, params)
    social = (1.0 + params.peer_weight * np.asarray(peers, dtype=np.float64)) * audience
    replied = np.asarray(replied, dtype=bool)
    remove = params.remove_rate * (1.0 - a) * social
    remove = np.where(replied, remove * params.repeat_remove_factor, remove)
    complain = params.complain_rate * a * social
    complain = np.where(manager, complain * params.manager_complain_factor, complain)
    complain = np.where(replied, complain * params.repeat_complain_factor, complain)
    mute = params.mute_rate * a
    return Hazards(remove=remove, complain=complain, mute=mute)


def action_probabilities(new: np.ndarray | float, h: Hazards) -> tuple[np.ndarray, ...]:
    """Probabilities of (remove-me, complain, mute) at a check with exposure ``new``.

    ``new`` is the check's exposure in messages (:func:`exposure`; the messages read when
    no mechanism weighs them).
    """
    new = np.asarray(new, dtype=np.float64)
    total = h.remove + h.complain + h.mute
    p_act = -np.expm1(-total * new)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, p_act / total, 0.0)
    return h.remove * share, h.complain * share, h.mute * share


def decide(
    new: np.ndarray,
    seen: np.ndarray,
    peers: np.ndarray,
    replied: np.ndarray,
    manager: np.ndarray,
    uniform: np.ndarray,
    params: StormParams,
    audience_visible: np.ndarray | bool | None = None,
    *,
    weighted: np.ndarray | None = None,
    list_size: int | float | None = None,
) -> np.ndarray:
    """The action (:class:`Action` codes, int8) each checking user takes.

    Args:
        new: messages read at this check (messages; 0 means nothing to read: no action).
        seen: messages read so far including ``new``.
        peers: graph neighbours who have sent a reply-all (users).
        replied: whether the user has already sent a reply-all.
        manager: whether the user manages a team.
        uniform: one U(0, 1) draw per user, from the run's generator.
        params: the scenario's parameters.
        audience_visible: whether the user sees the audience size (default: the params').
        weighted: relevance-weighted count of the messages read (default ``new``).
        list_size: members of the list (users), for the bystander effect.
    """
    h = hazards(seen, peers, replied, manager, params, audience_visible, list_size=list_size)
    p_remove, p_complain, p_mute = action_probabilities(exposure(new, weighted, params), h)
    u = np.asarray(uniform, dtype=np.float64)
    c1 = p_remove
    c2 = c1 + p_complain
    c3 = c2 + p_mute
    action = np.full(np.shape(u), Action.NONE, dtype=np.int8)
    action = np.where(u < c3, np.int8(Action.MUTE), action)
    action = np.where(u < c2, np.int8(Action.COMPLAIN), action)
    action = np.where(u < c1, np.int8(Action.REMOVE_ME), action)
    return action.astype(np.int8)


def decide_for(inputs: RuleInputs, uniform: np.ndarray, params: StormParams) -> np.ndarray:
    """:func:`decide` for users described by ``inputs``, with one U(0, 1) draw each."""
    return decide(inputs.new, inputs.seen, inputs.peers, inputs.replied, inputs.manager,
                  uniform, params, inputs.audience_visible, weighted=inputs.weighted,
                  list_size=inputs.list_size)
