"""Writing results so that a file on disk is either complete or absent, and JSON-ready values.

Every writer goes through a temporary file in the target folder and ``os.replace``, which is
atomic on POSIX: a run killed mid-write leaves at most a ``.tmp`` file that no reader takes
for a result. :func:`plain` is the one place where NumPy and pandas values become plain
Python values for JSON (summaries, manifests, run records).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then move ``tmp`` onto ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def plain(value: Any, *, finite: bool = True) -> Any:
    """A JSON-ready copy of ``value``: NumPy/pandas scalars as Python numbers, recursively.

    Dicts (keys as strings), lists and tuples are copied element by element; anything with
    ``.item()`` (NumPy scalars, 0-d arrays) becomes its Python value. With ``finite`` (the
    default) NaN and infinities become ``None`` (``null`` in strict JSON); ``finite=False``
    keeps them (for files written with ``allow_nan``, read back by Python, where an infinite
    cut-off must stay infinite).
    """
    if isinstance(value, dict):
        return {str(k): plain(v, finite=finite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, finite=finite) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as Parquet atomically."""
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_json(data: dict[str, Any], path: Path, *, finite: bool = True) -> Path:
    """Write ``data`` as indented JSON atomically, through :func:`plain` (see ``finite``)."""
    text = json.dumps(plain(data, finite=finite), indent=2) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))
