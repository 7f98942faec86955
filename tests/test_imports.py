"""The model's modules import without cycles, each on its own, and the fast path without Mesa."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"
PACKAGE = "replyall_storm.model"


def module_name(path: Path) -> str:
    parts = path.relative_to(MODEL).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


MODULES = {module_name(p): p for p in sorted(MODEL.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """Project modules ``name`` imports anywhere in its source (lazy and type-only included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [stem, *(f"{stem}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(t for t in targets if t in MODULES)
    found.discard(name)
    return found


def test_the_model_has_no_import_cycle():
    graph = {name: imports_of(name, path) for name, path in MODULES.items()}
    assert graph[f"{PACKAGE}.engines.mesa_engine"] >= {f"{PACKAGE}.agents"}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = trail[trail.index(name):] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*trail, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_each_module_imports_on_its_own_and_the_fast_path_needs_no_mesa():
    names = sorted(MODULES)
    script = f"""
import importlib, sys
for name in {names!r}:
    for loaded in [m for m in sys.modules if m.startswith("replyall_storm")]:
        del sys.modules[loaded]
    importlib.import_module(name)
for loaded in [m for m in sys.modules if m.startswith(("replyall_storm", "mesa"))]:
    del sys.modules[loaded]
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import get_scenario
simulate(get_scenario("small").params(horizon_min=5), cache=False)
print("mesa" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "the fast engine's run imported Mesa"
