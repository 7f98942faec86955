"""ABC generations as sweeps: each generation's particles run through :func:`run_sweep`.

Generation 0 is the calibration spec's own design (a sample of the prior box); generation
``g >= 1`` is a ``points`` design of the proposed particles with a root seed derived from the
spec's and ``g`` (:func:`..seeds.generation_root_seed`). Each generation's sweep lives in
``OUT/gen-NN``, so an interrupted calibration resumes run by run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .. import seeds
from ..sweeps.spec import Spec
from ..sweeps.sweep import run_sweep
from .apmc import Simulator


def generation_spec(spec: Spec, g: int, points: list[dict[str, Any]] | None,
                    series: bool = False, label: str | None = None) -> dict[str, Any]:
    """Build the sweep spec of generation ``g`` (the spec's design for 0, else ``points``).

    ``label`` names the sweep (default ``genNN``); seeds come from ``(root_seed, g)``. A
    generation that keeps its series (the posterior-predictive one) simulates users to the
    horizon.
    """
    data = spec.resolved()
    data["name"] = f"{spec.name}-{label or f'gen{g:02d}'}"
    data["outputs"] = {**data["outputs"], "series": series, "series_every_min": 1}
    if series:  # storms kept whole (the SIR fit reads the replies sent after the cut-off)
        data["outputs"]["users_after_cutoff"] = True
    if points is not None:
        data["root_seed"] = seeds.generation_root_seed(spec.root_seed, g)
        data["design"] = {"kind": "points", "parameters": {
            k: {"values": [p[k] for p in points]} for k in spec.varied}}
    return _without_none(data)


def _without_none(obj: Any) -> Any:
    """A pydantic dump as a dict the spec parser accepts again (None defaults dropped)."""
    if isinstance(obj, dict):
        return {k: _without_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [_without_none(v) for v in obj]
    return obj


def sweep_simulator(spec: Spec, out_dir: Path, *, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True,
                    log: Callable[[str], None] | None = None) -> Simulator:
    """Return a :data:`~.apmc.Simulator` running each generation as a sweep in ``gen-NN``."""

    def simulate(g: int, points: list[dict[str, Any]] | None) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
        res = run_sweep(generation_spec(spec, g, points), Path(out_dir) / f"gen-{g:02d}",
                        scheduler=scheduler, workers=workers, progress=progress, log=log)
        if res.interrupted:
            raise KeyboardInterrupt
        return pd.read_parquet(res.paths["design"]), res.runs

    return simulate
