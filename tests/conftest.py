"""Shared fixtures: one organisation per size, and a runner that uses it without disk cache."""

from __future__ import annotations

import functools

import pytest

from replyall_storm.model.org_generator import build_organisation
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.run import simulate

ORG_SEED = 20161114


@functools.lru_cache(maxsize=8)
def _organisation(n_users: int):
    return build_organisation(n_users, rng=ORG_SEED)


def _run(params: StormParams, seed: int = 0, engine: str = "fast", **kwargs):
    """Simulate on the shared organisation of ``params.n_users`` users (never the disk cache)."""
    return simulate(params, seed=seed, engine=engine, org=_organisation(params.n_users),
                    cache=False, **kwargs)


@pytest.fixture(scope="session")
def organisation():
    """``organisation(n_users)``: a fixed organisation of that size, built once per session."""
    return _organisation


@pytest.fixture(scope="session")
def run_storm():
    """``run_storm(params, seed=0, engine="fast", **simulate_kwargs)`` on a fixed organisation."""
    return _run
