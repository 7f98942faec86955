"""A sweep's provenance: the resolved spec, its hashes and seeds, package versions, git commit.

``manifest.json`` is written when a results folder is started; resuming checks the hashes
(another spec, other scenario defaults or another design refuse the folder) and warns when
package versions or the commit changed since.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .spec import Spec, digest
from .store import FORMAT

VERSIONED = ("replyall-storm", "numpy", "pandas", "pyarrow", "scipy", "networkx", "mesa",
             "SALib", "pydantic")


def manifest(spec: Spec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Provenance of a sweep: resolved spec, hashes, seeds, versions, git commit."""
    resolved = spec.resolved()
    base = spec.base_params().as_dict()
    key = "(0, replicate)" if spec.common_seeds else "(point, replicate)"
    return {
        "format": FORMAT, "created": now(), "spec": resolved,
        "spec_hash": digest({k: v for k, v in resolved.items() if k != "description"}),
        "params_hash": digest(base), "design_hash": digest(points),
        "n_points": len(points), "replicates": spec.replicates,
        "n_runs": len(points) * spec.replicates, "varied": spec.varied, "engine": spec.engine,
        "seeds": {"root_seed": spec.root_seed,
                  "run_seed": f"SeedSequence({spec.root_seed}, spawn_key={key})",
                  "org_seed": spec.org_seed()},
        "base_params": base,
        "salib_problem": spec.salib_problem() if spec.design.kind in ("saltelli", "morris")
        else None,
        "versions": versions(), "python": platform.python_version(),
        "platform": platform.platform(), **git_commit(),
    }


def versions() -> dict[str, str | None]:
    """Installed versions of the packages whose changes could change results."""
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, Any]:
    """Return the commit of the source tree the package runs from, if a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    out: dict[str, Any] = {}
    for key, args in (("git_commit", ["rev-parse", "HEAD"]),
                      ("git_dirty", ["--no-optional-locks", "status", "--porcelain",
                                     "--untracked-files=no"])):
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=10, check=True)
            out[key] = proc.stdout.strip() if key == "git_commit" else bool(proc.stdout)
        except (OSError, subprocess.SubprocessError):
            out[key] = None
    return out


def now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
