"""Writing results so that a file on disk is either complete or absent, and JSON-ready values.

Every writer goes through a temporary file in the target folder and ``os.replace``, which is
atomic on POSIX: a run killed mid-write leaves at most a ``.tmp`` file that no reader takes
for a result. :func:`plain` is the one place where NumPy and pandas values become plain
Python values for JSON (summaries, manifests, run records). :func:`writable_folder` and
:func:`writable_file` check an output location before any work, creating nothing.
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

from replyall_storm.model.errors import ParameterError


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` as a Path if results can be written there; else a one-line ParameterError.

    Nothing is created: an existing folder is tested by opening an unnamed temporary file in
    it, a folder still to be made by the same test in its nearest existing parent (so a
    read-only place, a path under a file or ``/dev/null``, or a full permission denial is
    refused before anything is simulated). A path that is not valid UTF-8 is refused too:
    results folders are named in manifests, JSON and Parquet, which are UTF-8.
    """
    text = _utf8(path, option)
    folder = Path(text)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ParameterError(option, text, "is a file, not a folder")
    probe = folder
    while not os.path.exists(probe) and probe != probe.parent:
        probe = probe.parent
    if not os.path.isdir(probe):
        raise ParameterError(option, text, f"cannot be made: {probe} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        where = "" if probe == folder else f" ({probe} is the nearest existing folder)"
        raise ParameterError(option, text, f"is not writable{where}: "
                             f"{err.strerror or err}") from None
    return folder


def writable_file(path: str | Path, option: str) -> Path:
    """``path`` as a Path if a file can be written there (see :func:`writable_folder`)."""
    text = _utf8(path, option)
    file = Path(text)
    if os.path.isdir(file):
        raise ParameterError(option, text, "is a folder, not a file")
    try:
        writable_folder(file.parent, option)
    except ParameterError as err:
        raise ParameterError(option, text, err.allowed) from None
    return file


def _utf8(path: str | Path, option: str) -> str:
    """``path`` as text; ParameterError if it holds bytes that are not UTF-8."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(option, os.fsencode(text), "the path is not valid UTF-8; "
                             "choose a name that is") from None
    return text


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
