"""The whole suite, again and again, on a loaded machine: is any test flaky? (``make soak``)

Clones the checkout's committed ``HEAD`` into ``--copies`` fresh folders, and in each runs the
README's test command (``make test``: ruff and the whole suite, ``pytest -n 2``, notebooks
included) until ``--runs`` runs have been made in all, the copies running side by side, while
``stress --cpu K`` (Debian's ``stress``; ``--stress 0`` for none) keeps K more cores busy.
With two copies and one ``stress`` worker on a 2-core machine, every run competes with at
least three other busy processes: more load than ``stress --cpu 2`` beside one suite, in half
the time. Each copy has its own venv (built by its first run) and its own graph cache.

    python tests/soak.py                       # 10 runs: 2 copies x 5, with stress --cpu 1
    python tests/soak.py --runs 4 --copies 1 --stress 2

One line per run (clock, copy, run, exit code, seconds, load average, pytest's last line) goes
to standard output and to ``results/soak/log.txt``; each run's whole output is kept as
``results/soak/<copy>-run<k>.out``. Exits 1 if any run failed, 2 on bad input, and on Ctrl-C
or SIGTERM stops every run and the load (runs already made stay in the log).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STOPPING = threading.Event()
CHILDREN: set[subprocess.Popen] = set()
LOCK = threading.Lock()


def positive(name: str, value: int, low: int) -> int:
    if value < low:
        sys.stderr.write(f"soak: {name} = {value}: must be an integer >= {low}\n")
        raise SystemExit(2)
    return value


def start(cmd: list[str], **kw) -> subprocess.Popen:
    """Start `cmd` in its own process group, remembered so that a stop can end it."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    with LOCK:
        CHILDREN.add(proc)
    return proc


def stop_all(*_args) -> None:
    STOPPING.set()
    with LOCK:
        for proc in CHILDREN:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def last_line(text: str) -> str:
    """pytest's summary line (``N passed in ...``), or the output's last line."""
    lines = [ln.strip("= ").strip() for ln in text.splitlines() if ln.strip()]
    summary = [ln for ln in lines if " passed" in ln or " failed" in ln or " error" in ln]
    return (summary or lines or ["(no output)"])[-1]


def run_copy(name: str, folder: Path, runs: int, out: Path, log, failures: list[str]) -> None:
    """Make `runs` runs of ``make test`` in `folder`, one line per run in `log`."""
    env = dict(os.environ, MPLBACKEND="Agg", REPLYALL_CACHE=str(folder / ".graph-cache"))
    for k in range(1, runs + 1):
        if STOPPING.is_set():
            return
        t0 = time.monotonic()
        target = out / f"{name}-run{k}.out"
        with open(target, "w") as fh:
            proc = start(["make", "test", f"PYTHON={sys.executable}"], cwd=folder, env=env,
                         stdout=fh, stderr=subprocess.STDOUT)
            code = proc.wait()
        if STOPPING.is_set():
            return
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) \
            if Path("/proc/loadavg").exists() else "n/a"
        line = (f"{dt.datetime.now():%H:%M:%S} {name} run {k}/{runs} exit {code} "
                f"{time.monotonic() - t0:.0f} s load {load} | {last_line(target.read_text())}")
        with LOCK:
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
            if code != 0:
                failures.append(f"{name} run {k}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="runs of the suite in all (10)")
    ap.add_argument("--copies", type=int, default=2, help="copies running side by side (2)")
    ap.add_argument("--stress", type=int, default=1, help="cores kept busy by stress (1)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "soak")
    opts = ap.parse_args(argv)
    runs = positive("--runs", opts.runs, 1)
    copies = positive("--copies", opts.copies, 1)
    load = positive("--stress", opts.stress, 0)
    if load and shutil.which("stress") is None:
        sys.stderr.write(f"soak: --stress = {load} needs the `stress` program (apt-get "
                         "install stress), or pass --stress 0\n")
        return 2
    if shutil.which("make") is None or shutil.which("git") is None:
        sys.stderr.write("soak: needs `make` and `git` on PATH\n")
        return 2
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    opts.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    per_copy = [runs // copies + (1 if j < runs % copies else 0) for j in range(copies)]
    failures: list[str] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replyall-soak-") as tmp, \
            open(opts.out / "log.txt", "a") as log:
        head = (f"# {dt.datetime.now():%Y-%m-%d %H:%M} soak of {commit[:10]}: {runs} runs, "
                f"{copies} copies side by side, stress --cpu {load}, {os.cpu_count()} cores")
        print(head, flush=True)
        log.write(head + "\n")
        folders = []
        for j in range(copies):
            folder = Path(tmp) / f"copy{j}"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
            subprocess.run(["git", "-C", str(folder), "checkout", "-q", commit], check=True)
            folders.append(folder)
        stressor = start(["stress", "--cpu", str(load)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL) if load else None
        threads = [threading.Thread(target=run_copy, args=(f"copy{j}", folders[j], per_copy[j],
                                                           opts.out, log, failures))
                   for j in range(copies) if per_copy[j]]
        try:
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        finally:
            if stressor is not None:
                os.killpg(stressor.pid, signal.SIGTERM)
                stressor.wait()
        verdict = ("stopped" if STOPPING.is_set() else
                   f"{len(failures)} of {runs} runs failed: {', '.join(failures)}" if failures
                   else f"all {runs} runs passed")
        tail = f"# {verdict} ({(time.monotonic() - t0) / 60:.1f} min)"
        print(tail, flush=True)
        log.write(tail + "\n")
    if STOPPING.is_set():
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
