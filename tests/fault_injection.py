"""Fault injection: a sweep survives any single fault, ending with an uninterrupted one's tables.

Run it as a user would run the commands (``python -m replyall_storm sweep``), from the
repository or anywhere the package is installed::

    python tests/fault_injection.py                    # the smoke spec: 48 runs
    python tests/fault_injection.py --spec my.toml --kills 10 --seed 3

Each fault is injected into a fresh sweep, then the same command is run again (a plain
resume, locally), and ``runs.parquet`` and ``series.parquet`` are compared with those of an
uninterrupted sweep, as tables (``pandas.testing.assert_frame_equal``):

* ``kill-9``: ``kill -9`` of the sweep's whole process group (what the out-of-memory killer
  or a lost node does) once a random number of runs is complete, a random fraction of a
  second later (so inside a write as often as not); repeated ``--kills`` times;
* ``scheduler-loss``: the Dask scheduler killed mid-sweep (exit 75 expected), resumed locally;
* ``dask-worker-loss``: a Dask worker process killed mid-sweep (its nanny starts another and
  Dask reruns the task: the sweep completes);
* ``local-worker-loss``: one local worker process killed (exit 75 expected);
* ``corrupt-part``: a completed run's series part truncated to 300 bytes and another run's
  record garbled, after an interrupted sweep;
* ``copied-part``: one run's parts copied over another's.

It prints one line per fault (exit code of the faulted command, runs complete after it, runs
recomputed by the resume, seconds, whether the tables match) and exits 1 if any differ.
``tests/test_fault_injection.py`` runs the same faults on a smaller sweep in the test suite.
Dask faults are skipped when ``distributed`` is not installed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

BIN = Path(sys.executable).parent
FAULTS = ("kill-9", "scheduler-loss", "dask-worker-loss", "local-worker-loss",
          "corrupt-part", "copied-part")


def wait_until(condition, timeout: float = 180.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds (a generous timeout: machines are shared)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def parts(out: Path) -> int:
    """Runs complete in a results folder (their records are written last)."""
    return len(list((out / "parts").rglob("run-*.json"))) if (out / "parts").is_dir() else 0


def part(out: Path, run_id: int, suffix: str) -> Path:
    return out / "parts" / f"{run_id // 1000:04d}" / f"run-{run_id:06d}{suffix}"


class Cluster:
    """`dask scheduler` and `dask worker` processes on loopback, started and killed."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.procs = tmp, env, []
        self.file = tmp / "scheduler.json"

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("w")
        proc = subprocess.Popen([str(BIN / "dask"), *args], stdout=log,
                                stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def scheduler(self) -> subprocess.Popen:
        proc = self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                           "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                           str(self.file))
        wait_until(self.file.exists, what="the scheduler file")
        return proc

    def worker(self, *extra: str) -> subprocess.Popen:
        return self._start(f"worker{len(self.procs)}", "worker", "--scheduler-file",
                           str(self.file), "--nthreads", "1", "--no-dashboard",
                           "--local-directory", str(self.tmp / "work"), *extra)

    def worker_pids(self) -> list[int]:
        """The worker processes (a nanny's child), as the cluster reports them."""
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout=30) as client:
            return list(client.run(os.getpid).values())

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout=30) as client:
            client.wait_for_workers(n, timeout=120)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass
class Report:
    """What one fault did and whether the sweep recovered from it."""

    fault: str
    code: int  # exit code of the faulted command (-9: killed)
    kept: int  # runs complete in the folder after the fault
    recomputed: int  # runs the resume ran
    seconds: float  # faulted command + resume
    identical: bool  # runs.parquet and series.parquet equal the uninterrupted tables
    bytes_identical: bool
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        same = "same tables" if self.identical else "TABLES DIFFER"
        same += " (and bytes)" if self.bytes_identical else ""
        notes = f"  [{'; '.join(self.notes)}]" if self.notes else ""
        return (f"{self.fault:<20} exit {self.code:>4}  kept {self.kept:>4}  recomputed "
                f"{self.recomputed:>4}  {self.seconds:6.1f} s  {same}{notes}")


class Injector:
    """Runs one spec again and again in fresh folders, with faults, against a reference."""

    def __init__(self, spec: str, root: Path, workers: int = 2, seed: int = 0) -> None:
        self.spec, self.root, self.workers = spec, root, workers
        self.rng = random.Random(seed)
        self.env = {**os.environ, "REPLYALL_CACHE": str(root / "cache"), "MPLBACKEND": "Agg"}
        self.n = 0
        t0 = time.perf_counter()
        code, out, err = self.run(self.folder("reference"), "--workers", str(workers))
        if code != 0:
            raise RuntimeError(f"the reference sweep failed: {err}")
        self.reference_s = time.perf_counter() - t0
        self.n_runs = int(re.search(r": (\d+) runs, ", out).group(1))
        self.ref = root / "reference"

    def folder(self, name: str) -> Path:
        return self.root / name

    def command(self, out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "replyall_storm", "sweep", self.spec, "--out", str(out),
                "--no-progress", *extra]

    def start(self, out: Path, *extra: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen:
        # SIGINT back to its default in the child: a job started in the background by a
        # non-interactive shell (`bash .ci/run &`) inherits SIGINT ignored, and a Python
        # started so keeps ignoring it, so the Ctrl-C below would never arrive
        return subprocess.Popen(self.command(out, *extra), env=env or self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def run(self, out: Path, *extra: str) -> tuple[int, str, str]:
        return finish(self.start(out, *extra))

    def resume(self, out: Path) -> tuple[int, int, list[str], str]:
        """A plain resume: (exit code, runs it ran, its warnings, stderr)."""
        code, stdout, err = self.run(out, "--workers", str(self.workers))
        ran = re.search(r"(\d+) run now", stdout)
        warnings = [ln for ln in err.splitlines() if ln.startswith("warning: ")
                    and "git commit" not in ln]
        return code, int(ran.group(1)) if ran else -1, warnings, err

    def judge(self, fault: str, out: Path, code: int, t0: float) -> Report:
        """Resume ``out`` and compare its tables with the reference."""
        kept = parts(out)
        rcode, ran, warnings, err = self.resume(out)
        notes = [w.removeprefix("warning: ") for w in warnings]
        if rcode != 0:
            notes.append(f"resume exited {rcode}: {err.strip()[-300:]}")
        return Report(fault, code, kept, ran, time.perf_counter() - t0, *self.same(out),
                      notes)

    def same(self, out: Path) -> tuple[bool, bool]:
        equal = sha = True
        for name in ("runs.parquet", "series.parquet"):
            a, b = out / name, self.ref / name
            if not a.exists():
                return False, False
            try:
                pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
            except AssertionError:
                equal = False
            sha = sha and a.read_bytes() == b.read_bytes()
        return equal, sha

    # --- the faults ----------------------------------------------------------------------
    def kill_9(self) -> Report:
        """kill -9 of the whole group once a random number of runs is done (0 included)."""
        self.n += 1
        out = self.folder(f"kill-{self.n}")
        at = self.rng.randrange(0, self.n_runs)
        extra = self.rng.uniform(0.0, 0.3)
        t0 = time.perf_counter()
        proc = self.start(out, "--workers", str(self.workers))
        wait_until(lambda: parts(out) >= at or proc.poll() is not None, what=f"{at} runs")
        time.sleep(extra)  # the random point itself, not a wait for something
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        code, _, _ = finish(proc)
        report = self.judge("kill-9", out, code, t0)
        report.notes.insert(0, f"killed after {at} runs + {extra:.2f} s")
        return report

    def scheduler_loss(self) -> Report:
        return self._dask("scheduler-loss")

    def dask_worker_loss(self) -> Report:
        return self._dask("dask-worker-loss")

    def _dask(self, fault: str) -> Report:
        out = self.folder(fault)
        cluster = Cluster(Path(tempfile.mkdtemp(dir=self.root, prefix="dask-")), self.env)
        try:
            scheduler = cluster.scheduler()
            cluster.worker()
            cluster.wait_for_workers(1)
            t0 = time.perf_counter()
            proc = self.start(out, "--scheduler", str(cluster.file))
            at = max(1, self.n_runs // 4)
            wait_until(lambda: parts(out) >= at or proc.poll() is not None, what=f"{at} runs")
            if fault == "scheduler-loss":
                os.killpg(scheduler.pid, signal.SIGKILL)
            else:
                (pid,) = cluster.worker_pids()
                os.kill(pid, signal.SIGKILL)
            code, _, err = finish(proc)
        finally:
            cluster.stop()
        report = self.judge(fault, out, code, t0)
        if code:
            report.notes.insert(0, err.strip().splitlines()[-1][:110] + "...")
        return report

    def local_worker_loss(self) -> Report:
        out = self.folder("local-worker-loss")
        t0 = time.perf_counter()
        proc = self.start(out, "--workers", str(max(2, self.workers)))
        wait_until(lambda: parts(out) >= self.n_runs // 4 or proc.poll() is not None,
                   what="a quarter of the runs")
        pids = pool_workers(proc.pid)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
        code, _, _ = finish(proc)
        return self.judge("local-worker-loss", out, code, t0)

    def corrupt_part(self) -> Report:
        out = self.folder("corrupt-part")
        t0 = time.perf_counter()
        code = self._interrupted(out)
        done = sorted(int(p.stem.split("-")[1]) for p in (out / "parts").rglob("run-*.json"))
        series = part(out, done[0], ".series.parquet")
        if series.exists():
            with series.open("r+b") as f:  # truncate -s 300
                f.truncate(300)
        part(out, done[-1], ".json").write_text('{"run_id": 1, "status": "ok", "summ')
        return self.judge("corrupt-part", out, code, t0)

    def copied_part(self) -> Report:
        out = self.folder("copied-part")
        t0 = time.perf_counter()
        code = self._interrupted(out)
        done = sorted(int(p.stem.split("-")[1]) for p in (out / "parts").rglob("run-*.json"))
        for suffix in (".json", ".series.parquet"):
            if part(out, done[0], suffix).exists():
                shutil.copyfile(part(out, done[0], suffix), part(out, done[1], suffix))
        return self.judge("copied-part", out, code, t0)

    def _interrupted(self, out: Path) -> int:
        """A sweep stopped with Ctrl-C (SIGINT to its whole process group, as a terminal
        sends it) once half its runs are done; its exit code (130)."""
        proc = self.start(out, "--workers", str(self.workers))
        wait_until(lambda: parts(out) >= self.n_runs // 2 or proc.poll() is not None,
                   what="half the runs")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        code, _, _ = finish(proc)
        return code

    def inject(self, fault: str) -> Report:
        return getattr(self, fault.replace("-", "_"))()


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out or "", err or ""


def pool_workers(pid: int) -> list[int]:
    """The local pool's worker processes (not multiprocessing's resource tracker)."""
    ps = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)],
                        capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in ps.splitlines() if "spawn_main" in line]


def has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Inject every fault; print one line each; 0 if every sweep recovered its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="smoke", help="spec path or ready spec's name")
    parser.add_argument("--kills", type=int, default=5, help="random kill -9 faults")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill points")
    parser.add_argument("--out", default=None, help="keep the folders here (default: temp)")
    args = parser.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="replyall-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inj = Injector(args.spec, root, workers=args.workers, seed=args.seed)
    print(f"{args.spec}: {inj.n_runs} runs, uninterrupted in {inj.reference_s:.1f} s with "
          f"{args.workers} workers; folders in {root}")
    faults = ["kill-9"] * args.kills + [f for f in FAULTS if f != "kill-9"]
    reports = []
    for fault in faults:
        if fault in ("scheduler-loss", "dask-worker-loss") and not has_dask():
            print(f"{fault:<20} skipped: distributed is not installed")
            continue
        reports.append(inj.inject(fault))
        print(reports[-1].line(), flush=True)
    bad = [r for r in reports if not r.identical]
    print(f"{len(reports) - len(bad)} of {len(reports)} faults ended with the uninterrupted "
          f"tables; {time.perf_counter() - t0:.0f} s in all")
    if args.out is None and not bad:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
