"""Mutation testing of replyall-storm: does the suite catch hand-made bugs? (``make mutate``)

Each mutant in ``mutants.toml`` (next to this file) replaces one snippet of one source file
(the snippet must occur exactly once, and the change must change the code's syntax tree). For
every mutant the script runs the tests that cover its module, stops at the first failure, and
counts the mutant *caught* if a test fails or errors (or the run exceeds its time limit) and
*survived* if every test passes. A mutant marked ``equivalent = "reason"`` cannot change
behaviour; it is run all the same (a caught "equivalent" mutant is reported as a mistake in the
list) and left out of the score. The score of a module is caught / non-equivalent mutants.

The work happens on copies of the tree in a temporary folder (one per parallel job), imported
through ``PYTHONPATH`` ahead of the editable install, so the checkout is never modified and an
interrupted run leaves nothing behind. Before the mutants, every module's tests run once on the
unmutated copy: they must pass, and their time sets the mutants' limit.

    python tests/mutation/run.py                     # every mutant, one job
    python tests/mutation/run.py --jobs 2 --module checking --module policies
    python tests/mutation/run.py --list              # the mutants, without running them

Writes ``results/mutation/report.md`` and ``report.json`` (``--out``); exits 1 if a module
scores below ``--min-score`` (90 %).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STOPPING = threading.Event()  # set on Ctrl-C / SIGTERM: running tests are killed, not counted
RUNNING: set[subprocess.Popen] = set()
PACKAGE_DIRS = {"src/replyall_storm": "pkg/replyall_storm",
                "model": "pkg/replyall_storm/model",
                "experiments": "pkg/replyall_storm/experiments"}


@dataclass
class Mutant:
    """One hand-made change of one file, and the tests that should notice it."""

    id: str
    module: str
    file: str
    original: str
    replacement: str
    tests: list[str]
    args: list[str]
    note: str = ""
    equivalent: str = ""
    line: int = 0
    outcome: str = ""  # caught, survived, timeout, or invalid
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Module:
    """A module under test: its file and the tests run against its mutants."""

    name: str
    file: str
    tests: list[str]
    args: list[str] = field(default_factory=list)
    baseline_s: float = 0.0


def load(path: Path) -> tuple[dict[str, Module], list[Mutant]]:
    """The modules and mutants of ``path``, each mutant checked against its source file."""
    data = tomllib.loads(path.read_text())
    modules = {name: Module(name, m["file"], list(m["tests"]), list(m.get("args", [])))
               for name, m in data["modules"].items()}
    mutants, seen = [], set()
    for i, m in enumerate(data["mutant"]):
        mod = modules[m["module"]]
        mid = m.get("id") or f"{mod.name}-{i:03d}"
        if mid in seen:
            raise SystemExit(f"mutants.toml: mutant id {mid!r} used twice")
        seen.add(mid)
        mutant = Mutant(mid, mod.name, m.get("file", mod.file), m["original"], m["replacement"],
                        list(m.get("tests", mod.tests)), list(m.get("args", mod.args)),
                        m.get("note", ""), m.get("equivalent", ""))
        text = (ROOT / mutant.file).read_text()
        count = text.count(mutant.original)
        if count != 1:
            raise SystemExit(f"mutants.toml: {mid}: the original snippet occurs {count} times "
                             f"in {mutant.file} (it must occur exactly once)")
        mutant.line = text[: text.index(mutant.original)].count("\n") + 1
        changed = text.replace(mutant.original, mutant.replacement)
        if ast.dump(ast.parse(changed)) == ast.dump(ast.parse(text)):
            raise SystemExit(f"mutants.toml: {mid}: the replacement does not change the code")
        mutants.append(mutant)
    return modules, mutants


def stage(into: Path) -> None:
    """A copy of the package and the tests, importable through PYTHONPATH=<into>/pkg."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "results")
    for src, dst in PACKAGE_DIRS.items():
        shutil.copytree(ROOT / src, into / dst, ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(ROOT / "tests", into / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")
    for src, dst in PACKAGE_DIRS.items():  # tests that read the sources find the copies
        if src != "src/replyall_storm":
            (into / src).symlink_to(into / dst, target_is_directory=True)
    for name in ("notebooks", "README.md", "docs"):  # read, never mutated
        (into / name).symlink_to(ROOT / name)


def staged(path: str) -> str:
    """Where a repository file lives in a staged copy."""
    for src, dst in sorted(PACKAGE_DIRS.items(), key=lambda kv: -len(kv[0])):
        if path.startswith(src + "/"):
            return dst + path[len(src):]
    return path


def pytest(copy: Path, tests: list[str], args: list[str], timeout: float) -> tuple[str, str]:
    """Run ``tests`` in ``copy``: ("passed" | "failed" | "timeout", last lines of output)."""
    env = {**os.environ, "PYTHONPATH": str(copy / "pkg"), "PYTHONDONTWRITEBYTECODE": "1",
           "REPLYALL_CACHE": str(copy / "cache"), "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0",
           "--no-header", "-c", str(copy / "pyproject.toml"), "--rootdir", str(copy),
           *args, *tests]
    proc = subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    RUNNING.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        return "timeout", f"no result within {timeout:.0f} s"
    except BaseException:
        _kill(proc)
        proc.wait()
        raise
    finally:
        RUNNING.discard(proc)
    if STOPPING.is_set():
        raise KeyboardInterrupt
    tail = " | ".join(line for line in out.strip().splitlines()[-3:])
    if proc.returncode == 0:
        return "passed", tail
    if proc.returncode in (4, 5):  # usage error, no tests collected: the list is wrong
        raise SystemExit(f"pytest could not run {tests} {args}: {tail}")
    return "failed", tail


def _kill(proc: subprocess.Popen) -> None:
    """Kill a test run and every process it started (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def run_mutant(copy: Path, mutant: Mutant, limit: float) -> None:
    """Apply ``mutant`` to ``copy``, run its tests, restore the file."""
    target = copy / staged(mutant.file)
    original = target.read_text()
    t0 = time.perf_counter()
    try:
        target.write_text(original.replace(mutant.original, mutant.replacement))
        result, mutant.detail = pytest(copy, mutant.tests, mutant.args, limit)
    finally:
        target.write_text(original)
    mutant.seconds = time.perf_counter() - t0
    mutant.outcome = {"passed": "survived", "failed": "caught", "timeout": "timeout"}[result]


def baseline(copies: list[Path], used: list[Module]) -> None:
    """Run each module's tests once, unmutated (in parallel over the copies): they must pass;
    their time sets the mutants' time limit. Modules with the same tests share one run."""
    runs: dict[tuple, list[Module]] = {}
    for mod in used:
        runs.setdefault((tuple(mod.tests), tuple(mod.args)), []).append(mod)
    todo: queue.Queue[tuple] = queue.Queue()
    for key in runs:
        todo.put(key)
    failures = []

    def work(copy: Path) -> None:
        while not STOPPING.is_set():
            try:
                tests, args = todo.get_nowait()
            except queue.Empty:
                return
            t0 = time.perf_counter()
            try:
                result, tail = pytest(copy, list(tests), list(args), 3600)
            except KeyboardInterrupt:  # stopped: its run was killed
                return
            for mod in runs[(tests, args)]:
                mod.baseline_s = time.perf_counter() - t0
                print(f"baseline {mod.name}: {result} in {mod.baseline_s:.0f} s", flush=True)
                if result != "passed":
                    failures.append(f"the tests of {mod.name} fail without any mutant: {tail}")

    _run_all(work, copies)  # on Ctrl-C: its test runs killed before the copies go
    if failures:
        raise SystemExit("\n".join(failures))


def _run_all(work: Callable[[Path], None], copies: list[Path]) -> None:
    """Run ``work(copy)`` in one thread per copy until all end; on Ctrl-C, halt them all
    (their test runs killed) and raise KeyboardInterrupt."""
    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in copies]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        _halt(threads)
        raise


def _halt(threads: list[threading.Thread]) -> None:
    """Stop the workers: kill every test run (and what it started), wait for the threads."""
    STOPPING.set()
    for proc in list(RUNNING):
        _kill(proc)
    for t in threads:
        t.join()


def score(modules: dict[str, Module], mutants: list[Mutant]) -> list[dict]:
    """One row per module: mutants, equivalent ones, caught, survived, score (%)."""
    rows = []
    for name in modules:
        mine = [m for m in mutants if m.module == name and m.outcome]
        live = [m for m in mine if not m.equivalent]
        caught = sum(m.outcome in ("caught", "timeout") for m in live)
        rows.append({"module": name, "file": modules[name].file, "mutants": len(mine),
                     "equivalent": len(mine) - len(live), "caught": caught,
                     "survived": len(live) - caught,
                     "score": round(100.0 * caught / len(live), 1) if live else None})
    return rows


def report(rows: list[dict], mutants: list[Mutant], out: Path, wall_s: float) -> str:
    """Write report.md and report.json to ``out``; return the markdown."""
    date = dt.date.today().isoformat()
    done = [m for m in mutants if m.outcome]
    total_live = sum(r["mutants"] - r["equivalent"] for r in rows)
    total_caught = sum(r["caught"] for r in rows)
    lines = [f"# Mutation testing, {date}", "",
             f"{len(done)} mutants ({sum(r['equivalent'] for r in rows)} equivalent); "
             f"{total_caught} of {total_live} non-equivalent caught "
             f"({100.0 * total_caught / max(total_live, 1):.1f} %); {wall_s / 60:.1f} min.", "",
             "| module | file | mutants | equivalent | caught | score |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if r["mutants"]:
            live = r["mutants"] - r["equivalent"]
            lines.append(f"| {r['module']} | `{r['file']}` | {r['mutants']} | {r['equivalent']}"
                         f" | {r['caught']} / {live} | {r['score']} % |")
    survivors = [m for m in done if m.outcome == "survived" and not m.equivalent]
    lines += ["", "## Survivors", ""] + ([f"- `{m.id}` {m.file}:{m.line}: {m.note or '-'}"
                                          for m in survivors] or ["none"])
    lines += ["", "## Equivalent mutants", ""]
    for m in (m for m in done if m.equivalent):
        flag = " **(caught: not equivalent after all)**" if m.outcome != "survived" else ""
        lines.append(f"- `{m.id}` {m.file}:{m.line}: {m.equivalent}{flag}")
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(
        {"date": date, "wall_s": wall_s, "modules": rows,
         "mutants": [{k: getattr(m, k) for k in ("id", "module", "file", "line", "note",
                                                 "equivalent", "outcome", "detail", "seconds")}
                     for m in done]}, indent=1) + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the mutants (see the module docstring); the exit code says whether scores held."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=Path, default=HERE / "mutants.toml")
    ap.add_argument("--module", action="append", help="only this module (repeatable)")
    ap.add_argument("--id", action="append", help="only this mutant (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run in parallel")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "mutation")
    ap.add_argument("--min-score", type=float, default=90.0)
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    opts = ap.parse_args(argv)
    modules, mutants = load(opts.mutants)
    if opts.module:
        mutants = [m for m in mutants if m.module in opts.module]
    if opts.id:
        mutants = [m for m in mutants if m.id in opts.id]
    if opts.list:
        for m in mutants:
            mark = "  [equivalent]" if m.equivalent else ""
            print(f"{m.id:28s} {m.file}:{m.line}  {m.note}{mark}")
        print(f"{len(mutants)} mutants")
        return 0
    signal.signal(signal.SIGTERM, _stop)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="replyall-mutate-") as tmp:
        copies = [Path(tmp) / f"copy{j}" for j in range(max(1, opts.jobs))]
        try:
            for c in copies:
                stage(c)
            baseline(copies, [modules[name] for name in sorted({m.module for m in mutants})])
        except KeyboardInterrupt:
            print("interrupted before the first mutant: nothing to report", file=sys.stderr)
            return 130
        todo: queue.Queue[Mutant] = queue.Queue()
        for m in mutants:
            todo.put(m)
        lock, finished = threading.Lock(), [0]

        def work(copy: Path) -> None:
            while not STOPPING.is_set():
                try:
                    m = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    run_mutant(copy, m, 4 * modules[m.module].baseline_s + 120)
                except KeyboardInterrupt:
                    return
                with lock:
                    finished[0] += 1
                    print(f"[{finished[0]}/{len(mutants)}] {m.outcome:8s} {m.id} "
                          f"({m.seconds:.0f} s){'  equivalent' if m.equivalent else ''}",
                          flush=True)

        try:
            _run_all(work, copies)
        except KeyboardInterrupt:
            print("interrupted: reporting the mutants run so far", file=sys.stderr)
    rows = score(modules, mutants)
    print(report(rows, mutants, opts.out, time.perf_counter() - t0))
    low = [r for r in rows if r["score"] is not None and r["score"] < opts.min_score]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
