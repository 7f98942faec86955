"""The ready specs that ship with the package, found by name wherever the package is installed.

``replyall sweep smoke``, ``replyall sweep smoke.toml`` and ``run_sweep("smoke")`` all name
``experiments/specs/smoke.toml`` inside the installed package (read through
:mod:`importlib.resources`, so a wheel installed without the repository has them too). A
path that exists always wins over a packaged name: ``replyall sweep ./smoke.toml`` reads the
file in the working directory when there is one.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .spec import SpecError

PACKAGE = "replyall_storm.experiments"
MAX_SPEC_BYTES = 1_000_000  # a spec is a few hundred lines of TOML


def packaged_specs() -> dict[str, Traversable]:
    """Every spec shipped in the package: name (file stem) -> resource."""
    folder = resources.files(PACKAGE) / "specs"
    return {p.name.removesuffix(".toml"): p for p in sorted(folder.iterdir(),
                                                            key=lambda p: p.name)
            if p.name.endswith(".toml")}


def locate(source: str | Path) -> Path | Traversable:
    """The file ``source`` names: an existing path, else a packaged spec of that name.

    Raises:
        SpecError: neither a file nor a packaged spec (the message lists the packaged ones).
    """
    path = Path(source)
    if path.exists():
        return path
    text = str(source)
    name = text.removesuffix(".toml")
    specs = packaged_specs()
    if "/" not in text and "\\" not in text and name in specs:
        return specs[name]
    raise SpecError("SPEC", text, f"no such file, and no packaged spec of that name "
                    f"(packaged: {', '.join(specs)})")


def read_toml(source: str | Path) -> tuple[dict[str, Any], str]:
    """Parse the TOML spec ``source`` names (:func:`locate`); (data, where it was read).

    Raises:
        SpecError: not found, not a regular file (a folder, ``/dev/zero``), too large,
            unreadable, or not valid TOML (one line naming the file).
    """
    where = locate(source)
    label = str(where) if isinstance(where, Path) else f"{source} (packaged)"
    if isinstance(where, Path):  # not a device, a pipe or a folder: they may never end
        try:
            size = where.stat().st_size if where.is_file() else None
        except OSError:
            size = None
        if size is None:
            raise SpecError("SPEC", str(source), "is not a regular file")
        if size > MAX_SPEC_BYTES:
            raise SpecError("SPEC", str(source), f"is {size:,} bytes: a spec is a TOML file "
                            f"of at most {MAX_SPEC_BYTES:,}")
    try:
        text = where.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError("SPEC", str(source), f"cannot be read: {err}") from None
    try:
        return tomllib.loads(text), label
    except tomllib.TOMLDecodeError as err:
        raise SpecError("SPEC", str(source), f"is not valid TOML: {err}") from None
