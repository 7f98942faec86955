"""The layout shows the architecture: small modules, a thin CLI nothing imports, one package."""

from __future__ import annotations

import ast
import os
import tomllib
from collections import Counter
from pathlib import Path

from replyall_storm.experiments.calibration.settings import load_calibration
from replyall_storm.experiments.sweeps import load_spec, packaged_specs

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"replyall_storm": ROOT / "src" / "replyall_storm",
          "replyall_storm.model": ROOT / "model",
          "replyall_storm.experiments": ROOT / "experiments"}
MAX_LINES = 320  # "< ~300 lines, one job each"
SKIP = {".git", ".venv", "results", "build", "dist", "__pycache__", ".pytest_cache",
        ".ruff_cache", ".hypothesis", ".ipynb_checkpoints"}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = ["replyall_storm", "experiments",
               *path.relative_to(ROOT / "experiments").parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            out += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return out


def test_nothing_outside_cli_imports_the_command_line():
    cli = "replyall_storm.experiments.cli"
    for path in _modules(ROOT / "experiments"):
        rel = path.relative_to(ROOT / "experiments")
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue  # the command line itself, and `python -m` (an entry point)
        bad = [m for m in _imports(path) if m == cli or m.startswith(cli + ".")]
        assert not bad, f"experiments/{rel} imports the command line ({bad[0]})"


def test_modules_are_small():
    for folder in (ROOT / "experiments", ROOT / "src"):
        for path in _modules(folder):
            n = len(path.read_text(encoding="utf-8").splitlines())
            assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines: split it by job"


def test_class_names_are_distinct():
    names: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    for folder in (ROOT / "model", ROOT / "experiments"):
        for path in _modules(folder):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    names[node.name] += 1
                    where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    twice = {n: where[n] for n, k in names.items() if k > 1}
    assert not twice, f"classes defined twice: {twice}"


def test_pyproject_names_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {k: str(v.relative_to(ROOT)) for k, v in MAPPED.items()}
    found = set()
    for name, folder in MAPPED.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join([name, *rel]))
    assert sorted(config["packages"]) == sorted(found)
    assert not (ROOT / "replyall_storm").exists(), "a replyall_storm/ folder at the root " \
        "would shadow the installed package when Python runs from the repository"
    assert sorted(p.name for p in (ROOT / "src" / "replyall_storm").iterdir()
                  if p.name != "__pycache__") == ["__init__.py", "__main__.py"]


def test_every_packaged_spec_is_valid():
    specs = packaged_specs()
    assert {"smoke", "heatmap", "cutoff_sweep", "sensitivity", "calibrate_nhs"} <= set(specs)
    for name in specs:
        if name.startswith("calibrate"):
            assert load_calibration(name).spec.name == name
        else:
            assert load_spec(name).name == name


def test_no_file_cites_notes_outside_the_project():
    banned = ["shared" + "/reference", ".." + "/shared", "/work" + "/shared"]
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if path.suffix in (".parquet", ".png", ".pdf", ".pyc"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for word in banned:
                assert word not in text, f"{path.relative_to(ROOT)} cites {word}: cite the " \
                    "project's data (experiments/data/storms.toml) or the sources themselves"
