"""Every seed the experiments use, derived from one root seed, and the check of a seed given.

A sweep's run ``(point p, replicate r)`` draws from ``SeedSequence(root_seed, spawn_key=(p,
r))`` (``(0, r)`` with common random numbers); :func:`replyall_storm.model.run.simulate`
splits that into an organisation stream and a simulation stream. Everything else a sweep or a
calibration draws has a spawn key of its own, starting with one of the constants below; design
points never reach those values (a design of 1.6 billion points would be needed), so no two
streams coincide:

* ``(DESIGN_KEY,)``: the design's own sample (LHS, Sobol', Saltelli, Morris);
* ``(ORG_KEY,)``: the organisation shared by every run (``common_org``);
* ``(ABC_KEY,)``: ABC tie-breaking; ``(ABC_KEY, g)``: generation ``g``'s proposals and the
  root seed of its sweep; ``(ABC_KEY, PREDICTIVE_GEN)``: the posterior-predictive draws;
* ``(PYABC_KEY, h)``: a pyabc particle, ``h`` a hash of its parameter values;
* ``(JOINT_KEY, s)``: the root seed of the sweep that runs the joint calibration's sample on
  storm ``s`` (the same for every mechanism: common random numbers between them);
* ``(PREDICT_KEY,)``: ``replyall predict``'s draws of posterior parameter sets.

The same root seed therefore gives the same numbers bit for bit, whichever worker runs what.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from replyall_storm.model.errors import ParameterError

SEED_LIMIT = 2**63
"""Seeds are whole numbers in ``[0, 2**63)`` (they are stored as int64)."""

DESIGN_KEY = 0x5EED_DE51
ORG_KEY = 0x5EED_0126
ABC_KEY = 0xABC0_2016
PYABC_KEY = 0x9ABC
JOINT_KEY = 0x5707_0A11
PREDICT_KEY = 0x9BED_1C7
PREDICTIVE_GEN = 10_000  # the generation number of the posterior-predictive runs


def check_seed(value: Any, name: str = "--seed") -> int:
    """``value`` as a seed, or a one-line :class:`ParameterError` naming ``name``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or not 0 <= int(value) < SEED_LIMIT:
        raise ParameterError(name, value, "must be a non-negative whole number below 2**63")
    return int(value)


def run_spawn_key(point: int, replicate: int, common_seeds: bool) -> tuple[int, int]:
    """Spawn key of run ``(point, replicate)``: ``(0, replicate)`` with common random numbers."""
    return (0, replicate) if common_seeds else (point, replicate)


def run_sequence(root_seed: int, spawn_key: tuple[int, ...]) -> np.random.SeedSequence:
    """The seed of one run."""
    return np.random.SeedSequence(root_seed, spawn_key=tuple(spawn_key))


def org_seed(root_seed: int) -> int:
    """Seed of the organisation every run of a ``common_org`` sweep shares."""
    seq = np.random.SeedSequence(root_seed, spawn_key=(ORG_KEY,))
    return int(seq.generate_state(1, np.uint32)[0])


def design_sequence(root_seed: int) -> np.random.SeedSequence:
    """Seed of a sampled design (LHS, Sobol', Saltelli, Morris)."""
    return np.random.SeedSequence(root_seed, spawn_key=(DESIGN_KEY,))


def salib_seed(root_seed: int) -> int:
    """The integer seed SALib's samplers take, from the design's sequence."""
    return int(design_sequence(root_seed).generate_state(1, np.uint32)[0])


def abc_rng(root_seed: int, generation: int | None = None) -> np.random.Generator:
    """ABC's generator: tie-breaking (no generation) or generation ``g``'s proposals."""
    key = (ABC_KEY,) if generation is None else (ABC_KEY, generation)
    return np.random.default_rng(np.random.SeedSequence(root_seed, spawn_key=key))


def generation_root_seed(root_seed: int, generation: int) -> int:
    """Root seed of the sweep that simulates ABC generation ``generation`` (>= 1)."""
    seq = np.random.SeedSequence(root_seed, spawn_key=(ABC_KEY, generation))
    return int(seq.generate_state(1, np.uint64)[0] >> 1)


def pyabc_spawn_key(point: dict[str, Any]) -> tuple[int, int]:
    """Spawn key of a pyabc particle: a hash of its parameter values (workers=1 reproduces)."""
    digest = hashlib.sha256(repr(sorted(point.items())).encode()).digest()
    return (PYABC_KEY, int.from_bytes(digest[:4], "little"))


def joint_root_seed(root_seed: int, storm_index: int) -> int:
    """Root seed of the joint calibration's sweep on storm number ``storm_index``."""
    seq = np.random.SeedSequence(root_seed, spawn_key=(JOINT_KEY, storm_index))
    return int(seq.generate_state(1, np.uint64)[0] >> 1)


def predict_rng(root_seed: int) -> np.random.Generator:
    """``replyall predict``'s generator (which posterior parameter sets, in which order)."""
    return np.random.default_rng(np.random.SeedSequence(root_seed, spawn_key=(PREDICT_KEY,)))
