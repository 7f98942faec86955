"""Settings that are each valid but cannot all take effect, said in one line each.

:meth:`StormParams.validate` refuses what the model cannot run; this module names what it
runs but ignores: a cut-off after the simulated horizon (the list is never disabled), or a
mitigation switched on whose threshold the list can never reach (a list has at most
``n_users`` members). Commands print these as warnings before simulating; nothing here
changes a run.

Each check reads only a few fields (:data:`FIELDS`), from a :class:`StormParams` or a plain
mapping, so a sweep can check every design point cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .parameters import StormParams

FIELDS = ("cutoff_min", "horizon_min", "n_users", "storm_protection", "sp_min_recipients",
          "sender_restriction", "sr_min_list_size", "audience_warning", "warning_threshold")


def contradictions(params: StormParams | Mapping[str, Any]) -> list[tuple[str, str]]:
    """(the parameter at fault, one line saying why it never takes effect) for each found."""
    if isinstance(params, Mapping):
        p = params
    else:
        p = {name: getattr(params, name) for name in FIELDS}
    found = []
    cutoff, horizon, users = p["cutoff_min"], p["horizon_min"], p["n_users"]
    list_size = f"the list (at most n_users={users:,} members)"
    if math.isfinite(cutoff) and cutoff >= horizon:
        found.append(("cutoff_min", f"cutoff_min={cutoff:g} is beyond the horizon "
                      f"(horizon_min={horizon}): the list is never disabled within the run"))
    if p["storm_protection"] and p["sp_min_recipients"] > users:
        found.append(("sp_min_recipients", f"storm_protection is on but sp_min_recipients="
                      f"{p['sp_min_recipients']:,} exceeds {list_size}: it never applies"))
    if p["sender_restriction"] and p["sr_min_list_size"] >= users:
        found.append(("sr_min_list_size", f"sender_restriction is on but sr_min_list_size="
                      f"{p['sr_min_list_size']:,} is not below {list_size}: it never applies"))
    if p["audience_warning"] and p["warning_threshold"] >= users:
        found.append(("warning_threshold", f"audience_warning is on but warning_threshold="
                      f"{p['warning_threshold']:,} is not below {list_size}: it never "
                      "applies"))
    return found


def design_contradictions(base: StormParams, varied: list[str],
                          points: list[Mapping[str, Any]]) -> list[str]:
    """The contradictions of a sweep's design points, each once with how many points have it.

    ``base`` is what every point starts from, ``points`` the varied values of each point.
    """
    relevant = [k for k in varied if k in FIELDS]
    fixed = {name: getattr(base, name) for name in FIELDS}
    combos: dict[tuple[Any, ...], int] = {}
    for point in points:
        combo = tuple(point[k] for k in relevant)
        combos[combo] = combos.get(combo, 0) + 1
    found: dict[str, list[Any]] = {}  # parameter -> [points, first line]
    for combo, count in combos.items():
        for key, text in contradictions({**fixed, **dict(zip(relevant, combo, strict=True))}):
            found.setdefault(key, [0, text])[0] += count
    n = len(points)
    return [text if count == n else f"{text} (at {count:,} of {n:,} design points)"
            for count, text in found.values()]
