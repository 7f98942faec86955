"""A built wheel, installed in a fresh virtual environment, works from an empty folder.

This is what a user gets from ``pip install replyall-storm``: no checkout, no editable
install, no ``experiments/`` folder beside the working directory. The wheel is built from a
copy of the tracked files (so nothing untracked slips in), the build log is checked for
setuptools deprecation warnings, and the commands the README promises run from an empty
folder: a storm, a packaged sweep by name, every figure from the packaged sample, and
``python -m replyall_storm --version``. Dependencies come from pip's cache when it has them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from replyall_storm.experiments.figures import FIGURES

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IGNORE = shutil.ignore_patterns(".git", ".venv", "results", "build", "dist", "*.egg-info",
                                "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
                                ".ipynb_checkpoints")


def _source_copy(dest: Path) -> Path:
    """The tracked files of the checkout (all files, if this is not a git checkout)."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True,
                                capture_output=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        shutil.copytree(ROOT, dest, ignore=IGNORE)
        return dest
    for name in filter(None, listed):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    return dest


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600
         ) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(MPLBACKEND="Agg", REPLYALL_CACHE=str(tmp_path / "cache"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    src = _source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist),
                  str(src)], tmp_path, env)
    log = build.stdout + build.stderr
    assert "SetuptoolsDeprecationWarning" not in log and "is deprecated" not in log, \
        [ln for ln in log.splitlines() if "eprecat" in ln][:5]
    wheels = list(dist.glob("replyall_storm-*.whl"))
    assert [w.name for w in wheels] == [f"replyall_storm-{VERSION}-py3-none-any.whl"]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    bin_dir = venv / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--no-compile", "--quiet",
          str(wheels[0])], tmp_path, env, timeout=900)

    work = tmp_path / "empty"
    work.mkdir()
    where = _run([str(bin_dir / "python"), "-c", "import replyall_storm, sys; "
                  "print(replyall_storm.__file__); print(replyall_storm.__version__)"],
                 work, env).stdout.split()
    assert Path(where[0]).is_relative_to(venv) and where[1] == VERSION

    version = _run([str(bin_dir / "python"), "-m", "replyall_storm", "--version"], work, env)
    assert version.stdout.strip() == f"replyall-storm {VERSION}"

    _run([str(bin_dir / "replyall"), "run", "--scenario", "small", "--no-progress"], work, env)
    series = pd.read_parquet(work / "results" / "run-small-seed0" / "series.parquet")
    assert len(series) == 720 and series["received_per_user"].iloc[-1] > 1

    _run([str(bin_dir / "replyall"), "sweep", "smoke", "--no-progress"], work, env)
    runs = pd.read_parquet(work / "results" / "smoke" / "runs.parquet")
    assert len(runs) == 48 and (runs["status"] == "ok").all()

    predicted = _run([str(bin_dir / "replyall"), "predict", "--list-size", "2000", "--duration",
                      "60", "--replicates", "3", "--json"], work, env)
    forecast = json.loads(predicted.stdout)  # from the posterior that ships with the package
    assert set(forecast) == {"reply_alls_accepted", "messages_per_user",
                             "hours_until_normal_service"}

    figures = _run([str(bin_dir / "replyall"), "figures", "--sample"], work, env)
    pngs = sorted(p.name for p in (work / "results" / "figures-sample").glob("*.png"))
    assert len(pngs) == len(FIGURES), figures.stdout
    assert sorted(p.name for p in work.iterdir()) == ["results"]  # nothing else was written
