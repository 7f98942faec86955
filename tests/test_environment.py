"""environment.yml (conda users) must list exactly what pyproject.toml lists."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"dask[distributed]": "dask"}  # conda-forge's dask includes distributed


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", requirement)
    assert m, requirement
    name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
    return CONDA_NAMES.get(name, name), spec


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def conda_requirements() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    out = dict(_split(d.replace("=", "==", 1) if re.match(r"^[\w\-]+=[^=<>]", d) else d)
               for d in conda)
    return out, pip


def test_every_pyproject_requirement_is_in_environment_yml_with_the_same_range():
    conda, _ = conda_requirements()
    for name, spec in pyproject_requirements().items():
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        assert conda[name] == spec, (
            f"{name}: pyproject says {spec!r}, environment.yml {conda[name]!r}"
        )


def test_environment_yml_lists_nothing_pyproject_does_not():
    conda, _ = conda_requirements()
    extra = set(conda) - set(pyproject_requirements()) - {"python", "pip"}
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {sorted(extra)}"


def supported_pythons() -> list[tuple[int, int]]:
    """The Python versions pyproject's classifiers name (3.x)."""
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    found = [re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c) for c in classifiers]
    return sorted((3, int(m.group(1))) for m in found if m)


def test_python_range_agrees_and_the_project_is_installed_from_pyproject():
    conda, pip = conda_requirements()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    versions = supported_pythons()
    (_, oldest), (_, newest) = versions[0], versions[-1]
    assert versions == [(3, minor) for minor in range(oldest, newest + 1)], versions
    assert (oldest, newest) == (11, 13)  # what CI tests (.ci/run: 3.11 and 3.13)
    assert requires == f">=3.{oldest}"
    assert conda["python"] == f">=3.{oldest},<3.{newest + 1}"
    assert any("-e ." in line for block in pip for line in block["pip"])
