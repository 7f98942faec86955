"""Writing results so that a file on disk is either complete or absent.

Every writer goes through a temporary file in the target folder and ``os.replace``, which is
atomic on POSIX: a run killed mid-write leaves at most a ``.tmp`` file that no reader takes
for a result.
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


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as Parquet atomically."""
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def write_json(data: dict[str, Any], path: Path) -> Path:
    """Write ``data`` as indented JSON atomically (NaN and inf become null)."""
    clean = {k: _jsonable(v) for k, v in data.items()}
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(clean, indent=2) + "\n"))
