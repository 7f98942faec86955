r"""What a user is doing about the storm (the compartments), and what they do at a mail check.

The states form an SIR-style compartment model::

    UNAWARE --first read--> READING --reply-all--> REPLIED
        \\                     |                     |
         \\----------------> MUTED <-----------------/

``UNAWARE`` users have read nothing of the thread (the susceptible pool S). ``READING`` and
``REPLIED`` users read every new message of the thread; each message they read may make them
reply all, so together they are the exposed-and-engaged pool whose reading turns messages
into new messages. ``REPLIED`` users have sent at least one reply-all: the "infected" (I) of
the classic SIR reading, since the infection here is the act of replying. ``MUTED`` users stop
reading the thread for good (removed, R). The mean-field ODE (``model/ode.py``) has one
compartment per state.
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    """Compartment of one user; stored as int8 in the fast engine."""

    UNAWARE = 0
    READING = 1
    REPLIED = 2
    MUTED = 3


class Action(IntEnum):
    """What a user does after reading new messages at a mail check (at most one action)."""

    NONE = 0
    REMOVE_ME = 1  # reply-all "please remove me from this list"
    COMPLAIN = 2  # reply-all "stop replying all!" (itself a reply-all)
    MUTE = 3  # stop reading the thread


STATE_NAMES = [s.name.lower() for s in State]
