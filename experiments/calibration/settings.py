"""A calibration spec: a sweep spec whose ranged design is the prior, plus an ``[abc]`` table.

::

    [abc]                  # every key optional
    storm = "nhs2016"      # the storm of experiments/data/storms.toml to fit
    alpha = 0.5            # share of particles kept each generation
    min_acceptance = 0.05  # convergence: stop once the acceptance rate falls below this
    generations = 40       # a safety cap, generation 0 included (reaching it is reported)
    targets = ["inbox_received@12:00", ...]   # default: every target of the storm
    predictive = 6         # accepted sets re-simulated for the predictive check
    backend = "builtin"    # or "pyabc"
    final_draws = 0        # > 0: the posterior is a fresh importance sample of this many draws
                           # at the last tolerance (builtin backend; .importance)
    final_ess = 0          # > 0: more batches of draws until the sample's ESS reaches this
    final_max_draws = 0    # the cap on the final sample's draws (0: final_draws)
    final_defensive = 0.0  # share of equal kernel weights in the final proposal, in [0, 1)
    final_kernel_scale = 2.0  # the final proposal's kernel covariance / the population's
    weights = "own"        # APMC's weights: "own" (each particle's prior / its proposal) or
                           # "balance" (prior / every generation's proposals; batched draws)

:func:`load_calibration` reads one (a path, a packaged spec's name such as
``"calibrate_nhs"``, or a dict) and checks it once: the sweep part as any spec
(:mod:`..sweeps.validate`), the ``[abc]`` table, the targets against the storm's observations.
Every generation's runs show the storm's observations (``outputs.observe``), so a spec need
not say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..sweeps.catalogue import read_toml
from ..sweeps.spec import Spec, SpecError
from ..sweeps.validate import parse_spec
from .observations import STORM, Observation, storm_observations
from .storms import load_storms


class ABCSettings(BaseModel):
    """The ``[abc]`` table of a calibration spec (all optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    storm: str = STORM  # the storm whose observations are fitted
    alpha: float = Field(0.5, gt=0.0, lt=1.0)  # share of particles kept each generation
    generations: int = Field(40, ge=1)  # safety cap on generations, generation 0 included
    min_acceptance: float = Field(0.05, ge=0.0, le=1.0)  # converged once p_acc falls below
    targets: list[str] | None = None  # observation labels; default: the storm's targets
    predictive: int = Field(6, ge=0)  # accepted sets re-simulated for the predictive check
    backend: str = Field("builtin", pattern="^(builtin|pyabc)$")
    final_draws: int = Field(0, ge=0)  # fresh draws at the last tolerance (builtin only)
    final_ess: float = Field(0.0, ge=0.0)  # batches of draws until this ESS (0: one batch)
    final_max_draws: int = Field(0, ge=0)  # cap on the final sample's draws (0: final_draws)
    final_defensive: float = Field(0.0, ge=0.0, lt=1.0)  # equal kernel weights' share
    final_kernel_scale: float = Field(2.0, gt=0.0, le=10.0)  # kernel cov / population's cov
    weights: str = Field("own", pattern="^(own|balance)$")  # APMC's weights (.proposal)


@dataclass
class CalibrationSpec:
    """A checked calibration spec: the sweep spec, the ABC settings, the observations."""

    spec: Spec
    abc: ABCSettings
    targets: tuple[Observation, ...]
    path: Path | None = None


def load_calibration(source: str | Path | dict[str, Any], *, particles: int | None = None,
                     **abc_overrides: Any) -> CalibrationSpec:
    """Read and check a calibration spec (TOML path, packaged name or dict).

    ``particles`` replaces ``design.n``; ``abc_overrides`` (not None) replace ``[abc]`` keys.

    Raises:
        SpecError: the first problem, in one line naming the key.
    """
    path = None
    if isinstance(source, dict):
        data = dict(source)
    else:
        data, label = read_toml(source)
        path = Path(label) if Path(label).exists() else None
    raw = {**data.pop("abc", {}), **{k: v for k, v in abc_overrides.items() if v is not None}}
    if particles is not None and isinstance(data.get("design"), dict):
        data["design"] = {**data["design"], "n": particles}
    try:
        abc = ABCSettings.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(["abc", *(str(p) for p in e["loc"])])
        raise SpecError(where, e.get("input"), e["msg"].replace("Input should", "must")) from None
    if abc.final_max_draws and abc.final_max_draws < abc.final_draws:
        raise SpecError("abc.final_max_draws", abc.final_max_draws,
                        f"must be 0 or at least abc.final_draws = {abc.final_draws}")
    if abc.final_ess and not abc.final_draws:
        raise SpecError("abc.final_ess", abc.final_ess, "needs abc.final_draws > 0")
    if abc.weights != "own" and abc.backend != "builtin":
        raise SpecError("abc.weights", abc.weights,
                        "must be \"own\" with backend = \"pyabc\" (the balance weights are the "
                        "builtin's)")
    if abc.final_draws and abc.backend != "builtin":
        raise SpecError("abc.final_draws", abc.final_draws,
                        "must be 0 with backend = \"pyabc\" (the final sample is the builtin's)")
    known_storms = [st.id for st in load_storms().storms]
    if abc.storm not in known_storms:
        raise SpecError("abc.storm", abc.storm, f"must be one of {', '.join(known_storms)}")
    outputs = dict(data.get("outputs") or {})
    outputs.setdefault("observe", abc.storm)
    data["outputs"] = outputs
    spec = parse_spec(data)
    if spec.outputs.observe != abc.storm:
        raise SpecError("outputs.observe", spec.outputs.observe,
                        f"must be the calibrated storm, abc.storm = {abc.storm!r}")
    if spec.design.kind not in ("lhs", "sobol"):
        raise SpecError("design.kind", spec.design.kind, "must be lhs or sobol for a calibration "
                        "(generation 0 samples the prior box)")
    every = storm_observations(abc.storm)
    known = {o.key: o for o in every}
    chosen = abc.targets if abc.targets is not None else [
        o.key for o in storm_observations(abc.storm, target=True)]
    for key in chosen:
        if key not in known:
            raise SpecError("abc.targets", key, f"must be among {', '.join(known)}")
    if not chosen:
        raise SpecError("abc.targets", [], "list at least one observation")
    n = spec.design.n or 0
    if round(abc.alpha * n) < 2 or n - round(abc.alpha * n) < 1:
        raise SpecError("design.n", spec.design.n, f"too few particles for alpha={abc.alpha}")
    return CalibrationSpec(spec, abc, tuple(known[k] for k in chosen), path)
