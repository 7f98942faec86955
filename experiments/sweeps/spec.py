"""Sweep specifications: a TOML file naming a scenario, a design over parameters and seeds.

A spec is read with :mod:`tomllib`, checked by pydantic models (unknown keys refused) and then
against the model itself: every parameter must be a :class:`StormParams` field and every value
or bound within that field's range. Any problem is a one-line :class:`SpecError` (a
:class:`ParameterError`, so the CLI exits with code 2) naming the key path, e.g.
``design.parameters.remove_rate.high=2.0: must be in [0, 1] (per message read)``.

Seeds: run (point p, replicate r) uses ``SeedSequence(root_seed, spawn_key=(p, r))``, or
``(0, r)`` with ``common_seeds`` (the same random streams at every point). The design's own
randomness (LHS, Sobol, Saltelli, Morris) uses ``spawn_key=(DESIGN_KEY,)`` and the shared
organisation of ``common_org`` is seeded from ``spawn_key=(ORG_KEY,)``; design points never
reach those keys, so no two streams coincide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.scenarios import get_scenario

DESIGN_KEY = 0x5EED_DE51
ORG_KEY = 0x5EED_0126
RANGED = ("lhs", "sobol", "saltelli", "morris")
FIELDS = {f.name: f for f in dataclasses.fields(StormParams)}
Value = bool | int | float | str


class SpecError(ParameterError):
    """A bad spec: one line naming the key path (``text`` overrides the name=value form)."""

    def __init__(self, name: str, value: object, allowed: str, text: str | None = None) -> None:
        super().__init__(name, value, allowed)
        if text is not None:
            self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ParamAxis(_Model):
    """How one parameter varies: listed ``values`` or a ``low``-``high`` range."""

    values: list[Value] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False


class Design(_Model):
    """The design points: a grid, listed points, or a sample of ``n`` over ranges."""

    kind: Literal["grid", "points", "lhs", "sobol", "saltelli", "morris"]
    n: int | None = Field(None, ge=1)
    levels: int = Field(4, ge=2)  # Morris grid levels
    second_order: bool = True  # Saltelli: sample for second-order indices too
    parameters: dict[str, ParamAxis]


class Outputs(_Model):
    """What each run keeps besides its summary row."""

    series: bool = True
    series_every_min: int = Field(1, ge=1)


class Spec(_Model):
    """A whole sweep: scenario, engine, seeds, fixed overrides, design, outputs."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    scenario: str
    engine: Literal["fast", "mesa"] = "fast"
    root_seed: int = Field(ge=0, lt=2**63)
    replicates: int = Field(1, ge=1)
    common_org: bool = False
    common_seeds: bool = False
    fixed: dict[str, Value] = Field(default_factory=dict)
    design: Design
    outputs: Outputs = Field(default_factory=Outputs)

    # --- derived -----------------------------------------------------------------------
    @property
    def varied(self) -> list[str]:
        """Names of the parameters the design varies, in spec order."""
        return list(self.design.parameters)

    def base_params(self) -> StormParams:
        """Return the scenario with the ``fixed`` overrides (what every point starts from)."""
        return get_scenario(self.scenario).params(**self.fixed)

    def org_seed(self) -> int | None:
        """Seed of the organisation shared by all runs (``common_org``), else None."""
        if not self.common_org:
            return None
        seq = np.random.SeedSequence(self.root_seed, spawn_key=(ORG_KEY,))
        return int(seq.generate_state(1, np.uint32)[0])

    def salib_problem(self) -> dict[str, Any]:
        """Return the SALib problem of a ranged design (log10 bounds for ``log`` axes)."""
        axes = self.design.parameters
        bounds = [[_fwd(a.low, a.log), _fwd(a.high, a.log)] for a in axes.values()]
        return {"num_vars": len(axes), "names": list(axes), "bounds": bounds,
                "log10": [a.log for a in axes.values()]}

    def points(self) -> list[dict[str, Value]]:
        """Return the design points: a dict of varied values each, in natural units."""
        d = self.design
        axes = d.parameters
        if d.kind == "grid":
            combos = itertools.product(*(a.values or [] for a in axes.values()))
            return [dict(zip(axes, c, strict=True)) for c in combos]
        if d.kind == "points":
            return [dict(zip(axes, c, strict=True))
                    for c in zip(*(a.values or [] for a in axes.values()), strict=True)]
        x = self._sample()
        out = []
        for row in x:
            point: dict[str, Value] = {}
            for (name, axis), v in zip(axes.items(), row, strict=True):
                v = 10.0 ** float(v) if axis.log else float(v)
                point[name] = int(round(v)) if FIELDS[name].type == "int" else v
            out.append(point)
        return out

    def _sample(self) -> np.ndarray:
        """Sample matrix (points x parameters) in sampling space (log10 where ``log``)."""
        d = self.design
        seq = np.random.SeedSequence(self.root_seed, spawn_key=(DESIGN_KEY,))
        rng = np.random.default_rng(seq)
        problem = {k: v for k, v in self.salib_problem().items() if k != "log10"}
        assert d.n is not None
        if d.kind in ("saltelli", "morris"):
            seed = int(seq.generate_state(1, np.uint32)[0])
            if d.kind == "saltelli":
                from SALib.sample import sobol as salib_sobol
                return salib_sobol.sample(problem, d.n, calc_second_order=d.second_order,
                                          seed=seed)
            from SALib.sample import morris as salib_morris
            return salib_morris.sample(problem, d.n, num_levels=d.levels, seed=seed)
        from scipy.stats import qmc
        k = len(problem["names"])
        sampler = qmc.LatinHypercube(k, rng=rng) if d.kind == "lhs" else qmc.Sobol(k, rng=rng)
        unit = sampler.random(d.n)
        lo, hi = np.array(problem["bounds"]).T
        return lo + unit * (hi - lo)

    def tasks(self, points: list[dict[str, Value]]) -> list[dict[str, Any]]:
        """One task per run: run_id = point * replicates + replicate, in that order."""
        org_seed = self.org_seed()
        out = []
        for p, point in enumerate(points):
            for r in range(self.replicates):  # a graph used once: keep it out of the cache
                out.append({"run_id": p * self.replicates + r, "point": p, "replicate": r,
                            "scenario": self.scenario, "changes": {**self.fixed, **point},
                            "entropy": self.root_seed,
                            "spawn_key": (0, r) if self.common_seeds else (p, r),
                            "engine": self.engine, "outputs": self.outputs.model_dump(),
                            "org_seed": org_seed, "cache": self.common_org})
        return out

    def resolved(self) -> dict[str, Any]:
        """Return the spec with every default filled in (the manifest records and hashes it)."""
        return self.model_dump(mode="python")


def digest(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (floats exactly, inf and NaN included)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(blob.encode()).hexdigest()


def _fwd(x: float | None, log: bool) -> float:
    assert x is not None
    return math.log10(x) if log else float(x)


# --- loading and checking ------------------------------------------------------------------
def load_spec(source: Spec | dict[str, Any] | str | Path) -> Spec:
    """Return a checked :class:`Spec` from a path to a TOML file, a dict, or a Spec."""
    if isinstance(source, Spec):
        return check(source)
    if isinstance(source, dict):
        return parse_spec(source)
    path = Path(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError("SPEC", str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError("SPEC", str(path), f"cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError("SPEC", str(path), f"is not valid TOML: {err}") from None
    return parse_spec(data)


def parse_spec(data: dict[str, Any]) -> Spec:
    """Validate a spec given as a dict (e.g. parsed TOML); SpecError on the first problem."""
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        raise _one_line(err) from None
    return check(spec)


def _one_line(err: ValidationError) -> SpecError:
    """Turn the first pydantic error into one line naming the key path."""
    errors = err.errors()
    e = errors[0]
    path = ".".join(str(p) for p in e["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    kind = e["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_keys_at(e["loc"][:-1]))
        return SpecError(path, e["input"], "unknown key",
                         f"{path}: unknown key (allowed: {allowed}){more}")
    if kind == "missing":
        return SpecError(path, None, "required", f"{path}: required key is missing{more}")
    if kind == "literal_error":
        allowed = "must be one of " + e["ctx"]["expected"].replace("'", "")
    else:
        allowed = e["msg"].replace("Input should", "must").replace("String should", "must")
    return SpecError(path, e["input"], allowed + more)


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """Keys the model accepts at ``loc``."""
    model: type[BaseModel] = (Spec if not loc else Outputs if loc[0] == "outputs" else
                              ParamAxis if loc[:2] == ("design", "parameters") else Design)
    return list(model.model_fields)


def check(spec: Spec) -> Spec:
    """Check a structurally valid spec against the model; return it with typed values."""
    get_scenario(spec.scenario)
    fixed = {name: _typed(f"fixed.{name}", name, v) for name, v in spec.fixed.items()}
    try:
        base = get_scenario(spec.scenario).params(**fixed)
    except ParameterError as err:
        raise SpecError(f"fixed.{err.name}", err.value, err.allowed) from None
    d = spec.design
    if not d.parameters:
        raise SpecError("design.parameters", {}, "no parameters",
                        "design.parameters: empty design (add [design.parameters.NAME])")
    ranged = d.kind in RANGED
    if ranged and d.n is None:
        raise SpecError("design.n", None, "required",
                        f"design.n: required for kind={d.kind} (number of samples)")
    if not ranged and d.n is not None:
        raise SpecError("design.n", d.n, f"not used by kind={d.kind}; remove it")
    if d.kind in ("sobol", "saltelli") and d.n is not None and d.n & (d.n - 1):
        raise SpecError("design.n", d.n, f"must be a power of 2 for kind={d.kind} "
                        "(Sobol' sequences lose balance otherwise)")
    lengths = set()
    axes: dict[str, ParamAxis] = {}
    for name, axis in d.parameters.items():
        where = f"design.parameters.{name}"
        if name not in FIELDS:
            raise SpecError(where, name, "unknown", f"{where}: unknown parameter; see "
                            "`replyall params` for the list")
        if name in fixed:
            raise SpecError(where, name, "twice", f"{where}: is also in [fixed]; keep it in "
                            "one place")
        if ranged:
            _check_range(where, name, axis, base, d.kind)
        else:
            if axis.values is None or axis.low is not None or axis.high is not None or axis.log:
                raise SpecError(f"{where}.values", axis.values,
                                f"kind={d.kind} needs `values = [...]` (no low/high/log)")
            if not axis.values:
                raise SpecError(f"{where}.values", [], "empty design: list at least one value")
            values = [_typed(f"{where}.values[{i}]", name, v)
                      for i, v in enumerate(axis.values)]
            for i, v in enumerate(values):
                _check_value(f"{where}.values[{i}]", name, v, base)
            axis = axis.model_copy(update={"values": values})
            lengths.add(len(values))
        axes[name] = axis
    if d.kind == "points" and len(lengths) > 1:
        raise SpecError("design.parameters", sorted(lengths),
                        "kind=points needs value lists of equal length (one entry per point)")
    if spec.engine == "mesa" and "n_users" not in d.parameters:
        from replyall_storm.model.engines.mesa_engine import check_size
        try:
            check_size(base.n_users, base.horizon_min)
        except ParameterError as err:
            raise SpecError("engine", "mesa", f"{err.name}={err.value}: {err.allowed}") from None
    design = d.model_copy(update={"parameters": axes})
    return spec.model_copy(update={"fixed": fixed, "design": design})


def _check_range(where: str, name: str, axis: ParamAxis, base: StormParams,
                 kind: str) -> None:
    if axis.values is not None or axis.low is None or axis.high is None:
        raise SpecError(where, None, "range", f"{where}: kind={kind} needs `low` and `high` "
                        "(and no `values`)")
    if FIELDS[name].type not in ("int", "float"):
        raise SpecError(where, name, "not numeric", f"{where}: is not numeric; vary it with "
                        "kind=grid and values")
    _check_value(f"{where}.low", name, _typed(f"{where}.low", name, axis.low), base)
    _check_value(f"{where}.high", name, _typed(f"{where}.high", name, axis.high), base)
    if not axis.low < axis.high:
        raise SpecError(f"{where}.high", axis.high, f"must be greater than low={axis.low}")
    if axis.log and axis.low <= 0:
        raise SpecError(f"{where}.low", axis.low, "must be > 0 with log = true")
    if not (math.isfinite(axis.low) and math.isfinite(axis.high)):
        raise SpecError(where, [axis.low, axis.high], "a range needs finite bounds")


def _typed(where: str, name: str, value: Value) -> Value:
    """``value`` as the type of parameter ``name`` (ints for int fields, floats for floats)."""
    if name not in FIELDS:
        raise SpecError(where, value, "unknown parameter; see `replyall params` for the list")
    kind = FIELDS[name].type
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "float" and numeric:
        return float(value)
    if kind == "int" and numeric:
        if not float(value).is_integer():
            raise SpecError(where, value, "must be a whole number")
        return int(value)
    return value


def _check_value(where: str, name: str, value: Value, base: StormParams) -> None:
    """One value of one parameter, against that field's own range.

    Constraints between fields (``workday_end_h`` after ``workday_start_h``) are left to
    each run: a point that breaks one is recorded as a failed run, the sweep goes on.
    """
    try:
        dataclasses.replace(base, **{name: value}).validate()
    except ParameterError as err:
        if err.name == name:
            raise SpecError(where, value, err.allowed) from None
