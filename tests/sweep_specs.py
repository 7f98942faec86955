"""Sweep specs the fault tests share: small, quick runs, enough of them to be interrupted."""

from __future__ import annotations

INTERRUPTIBLE = """
name = "{name}"
scenario = "small"
root_seed = 3
replicates = 4
common_org = true
[fixed]
n_users = 600
horizon_min = 240
[design]
kind = "grid"
[design.parameters.remove_rate]
values = [5e-4, 1e-3, 2e-3, 3e-3, 4e-3]
[design.parameters.complain_rate]
values = [1e-3, 3e-3]
[outputs]
series_every_min = 15
"""
"""40 runs of ~0.1 s each on 600 users: long enough to be interrupted on one worker."""


def interruptible(name: str) -> str:
    """The TOML text of :data:`INTERRUPTIBLE` named ``name``."""
    return INTERRUPTIBLE.format(name=name)
