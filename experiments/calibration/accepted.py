"""The calibrated parameters other commands run with: a calibration's most probable set.

``replyall compare`` starts from them (``--calibrated``); by default it looks for the folder
``replyall calibrate calibrate_nhs`` writes, ``results/calibrate-calibrate_nhs`` in the
working directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams

from ..io import plain

CALIBRATED = Path("results") / "calibrate-calibrate_nhs"
"""Where ``replyall calibrate calibrate_nhs`` leaves its results (working directory)."""


def calibrated_changes(path: Path | None) -> tuple[dict[str, Any], str]:
    """Parameter overrides from a calibration, and a line saying where they come from.

    ``path`` is a calibration folder (its most central accepted set, ``summary.json``'s
    ``central``: :func:`.apmc.central`, a point inside the accepted region, unlike the
    marginal medians when parameters lie on a ridge; a folder written before that existed
    gives its accepted set of largest weight) or a JSON file of parameters. Without
    ``path``, the default calibration folder is used if it exists, else the model's
    defaults.

    Raises:
        ParameterError: ``path`` is neither (one line naming ``--calibrated``).
    """
    import pandas as pd

    if path is None:
        if not (CALIBRATED / "accepted.parquet").exists():
            return {}, (f"model defaults (no calibration in {CALIBRATED}; "
                        "`replyall calibrate calibrate_nhs` makes one)")
        path = CALIBRATED
    path = Path(path)
    fields = {f.name for f in dataclasses.fields(StormParams)}
    try:
        if path.is_dir():
            accepted = pd.read_parquet(path / "accepted.parquet")
            summary = path / "summary.json"
            centre = json.loads(summary.read_text()).get("central") if summary.exists() else None
            best = centre or accepted.sort_values(["weight", "distance"],
                                                  ascending=[False, True]).iloc[0]
            params = plain({k: best[k] for k in accepted.columns if k in fields}, finite=False)
        else:
            data = json.loads(path.read_text())
            params = dict(data.get("params", data))
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise ParameterError("--calibrated", str(path), "must be a calibration folder with "
                             "accepted.parquet (`replyall calibrate calibrate_nhs --out "
                             f"{path}` makes one) or a JSON file of parameters ({err})"
                             ) from None
    return params, f"calibrated parameters from {path}"


def describe(params: dict[str, Any]) -> str:
    """Parameter values as ``name=value, ...`` (floats to 3 significant digits)."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
