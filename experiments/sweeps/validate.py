"""Reading a sweep spec and checking it against the model, once, at the edge.

:func:`load_spec` takes a path, a packaged spec's name (:mod:`.catalogue`), a dict or a
:class:`~.spec.Spec`; pydantic checks the structure (unknown keys, types) and :func:`check`
checks it against the model: the scenario exists, every parameter is a :class:`StormParams`
field, every value or bound lies within that field's range (as the field's type), sampled
designs have what they need. Any problem is a one-line :class:`~.spec.SpecError` (a
:class:`ParameterError`, so the CLI exits with code 2) naming the key path, e.g.
``design.parameters.remove_rate.high=2.0: must be in [0, 1] (per message read)``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams
from replyall_storm.model.scenarios import get_scenario

from .. import seeds
from .catalogue import read_toml
from .spec import FIELDS, RANGED, Design, Outputs, ParamAxis, Spec, SpecError, Value

MAX_RUNS = 1_000_000
"""Most runs in one sweep. Consolidation holds every run's record in memory (~6 KB each:
~6 GB at this limit), and a million runs are ~2 million part files: split larger designs."""


def load_spec(source: Spec | dict[str, Any] | str | Path) -> Spec:
    """Return a checked :class:`Spec` from a TOML path or packaged name, a dict, or a Spec."""
    if isinstance(source, Spec):
        return check(source)
    if isinstance(source, dict):
        return parse_spec(source)
    data, _ = read_toml(source)
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
    seeds.check_seed(spec.root_seed, "root_seed")
    get_scenario(spec.scenario)
    fixed = {name: _typed(f"fixed.{name}", name, v) for name, v in spec.fixed.items()}
    try:
        base = get_scenario(spec.scenario).params(**fixed)
    except ParameterError as err:
        raise SpecError(f"fixed.{err.name}", err.value, err.allowed) from None
    if spec.outputs.observe is not None:
        from ..calibration.storms import load_storms

        known = [st.id for st in load_storms().storms]
        if spec.outputs.observe not in known:
            raise SpecError("outputs.observe", spec.outputs.observe,
                            f"must be a storm of experiments/data/storms.toml: {', '.join(known)}")
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
    sized = spec.model_copy(update={"design": d.model_copy(update={"parameters": axes})})
    n_runs = sized.n_points * spec.replicates
    if n_runs > MAX_RUNS:
        raise SpecError("design", n_runs, "too large", f"design: {sized.n_points:,} points x "
                        f"{spec.replicates:,} replicates = {n_runs:,} runs: at most "
                        f"{MAX_RUNS:,} runs per sweep (split the design into several specs)")
    if spec.engine == "mesa" and "n_users" not in d.parameters:
        from replyall_storm.model.engines import check_size
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
