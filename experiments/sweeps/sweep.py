"""Parameter sweeps: many storms from one spec, reproducible, resumable, local or on Dask.

::

    from replyall_storm.experiments.sweep import run_sweep
    result = run_sweep("experiments/specs/smoke.toml", "results/smoke", workers=2)
    result.runs        # one row per run (runs.parquet)
    result.series      # one row per run and minute (series.parquet), read on first use
    result.failed      # the runs that raised, with error type and message

A sweep is a list of tasks (scenario, parameter changes, seed, engine, outputs) run by
:func:`run_one`, a module-level function returning plain data, through
:func:`.executor.execute`; each result becomes a part file in the results folder
(:mod:`.store`) as soon as it arrives. Re-running skips the runs whose parts are complete;
the seed of a run depends only on the spec and its (point, replicate), never on which worker
ran it or when, so the consolidated tables are identical bit for bit however the work was
split.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import get_scenario

from .executor import Outcome, connect, execute
from .io import atomic_write
from .spec import Spec, SpecError, digest, load_spec
from .store import FORMAT, Store, runs_table

TIMING = ("graph_s", "sim_s", "graph_cached")
NOT_RESULTS = {"engine", "seed", *TIMING}  # summary keys that are not results of the model
FLOWS = ("sent_remove", "sent_complain", "accepted", "bounced", "delivered", "checks",
         "failed_checks")  # per-minute counts: summed when the series is thinned
VERSIONED = ("replyall-storm", "numpy", "pandas", "pyarrow", "scipy", "networkx", "mesa",
             "SALib", "pydantic")


def run_one(scenario: str, changes: dict[str, Any], entropy: int, spawn_key: tuple[int, ...],
            engine: str, outputs: dict[str, Any], org_seed: int | None = None,
            cache: bool = True) -> dict[str, Any]:
    """Simulate one storm and return plain data: ``summary``, ``timing``, ``series``.

    Args:
        scenario: scenario name.
        changes: parameter values applied to the scenario (validated here).
        entropy: root entropy of the run's seed (the spec's ``root_seed``).
        spawn_key: the run's seed is ``SeedSequence(entropy, spawn_key=spawn_key)``.
        engine: ``"fast"`` or ``"mesa"``.
        outputs: ``{"series": bool, "series_every_min": int}``.
        org_seed: seed of a shared organisation (None: derived from the run's seed).
        cache: keep the organisation in the on-disk cache.
    """
    params = get_scenario(scenario).params(**changes)
    seed = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))
    result = simulate(params, seed=seed, engine=engine, org_seed=org_seed, cache=cache)
    s = result.summary
    series = None
    if outputs.get("series", True):
        series = thin(result.series, int(outputs.get("series_every_min", 1)))
    return {"summary": {k: _plain(v) for k, v in s.items() if k not in NOT_RESULTS},
            "timing": {k: _plain(s[k]) for k in TIMING if k in s}, "series": series}


def _sweep_run(run_id: int, point: int, replicate: int, **kwargs: Any) -> dict[str, Any]:
    """Executor entry point: a task minus its bookkeeping keys."""
    return run_one(**kwargs)


def thin(series: pd.DataFrame, every: int) -> pd.DataFrame:
    """Keep one row per ``every`` minutes: flows summed over the window, the rest at its end.

    Row ``minute = m`` then holds the levels (backlog, states, delays) at minute ``m`` and
    the counts (sent, accepted, delivered, checks) of the minutes since the previous row.
    The last simulated minute is always kept.
    """
    if every <= 1:
        return series
    n = len(series)
    starts = np.arange(0, n, every)
    ends = np.minimum(starts + every, n) - 1
    out = series.iloc[ends].reset_index(drop=True)
    for col in (c for c in FLOWS if c in series):
        out[col] = np.add.reduceat(series[col].to_numpy(), starts)
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- the sweep --------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What :func:`run_sweep` did and where the results are."""

    spec: Spec
    out_dir: Path
    runs: pd.DataFrame  # one row per run completed so far
    n_runs: int  # runs in the design
    ran: int  # runs executed by this call
    skipped: int  # runs already complete in the folder
    wall_s: float
    interrupted: bool
    paths: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _series: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def failed(self) -> pd.DataFrame:
        """The failed runs: run_id, point, replicate, parameters, error_type, error."""
        return self.runs[self.runs["status"] == "failed"]

    @property
    def errors(self) -> Counter[str]:
        """Distinct errors (``"Type: message"``) and how many runs raised each."""
        f = self.failed
        return Counter(f"{t}: {m}" for t, m in zip(f["error_type"], f["error"], strict=True))

    @property
    def series(self) -> pd.DataFrame | None:
        """The series of every successful run (read from series.parquet on first use)."""
        if self._series is None and "series" in self.paths:
            self._series = pd.read_parquet(self.paths["series"])
        return self._series


def run_sweep(spec_or_path: Spec | dict[str, Any] | str | Path,
              out_dir: str | Path | None = None, *, scheduler: str | None = None,
              workers: int | None = None, progress: bool = True, retry_failed: bool = False,
              log: Callable[[str], None] | None = None) -> SweepResult:
    """Run every run of a spec not yet complete in ``out_dir``; consolidate the tables.

    Args:
        spec_or_path: a :class:`Spec`, a dict, or the path of a TOML spec.
        out_dir: results folder (default ``results/<spec name>``); resumed if it exists.
        scheduler: Dask scheduler address or scheduler file (default: run locally).
        workers: local processes (default: the CPUs this process may use).
        progress: show a progress bar (runs, rate, ETA).
        retry_failed: run again the runs recorded as failed.
        log: receives one-line messages (resuming, warnings); default silent.

    Raises:
        ParameterError: bad spec, bad options, a folder of another spec, no scheduler.
        WorkerLostError: a local worker process died (completed runs are kept).
    """
    say = log or (lambda _msg: None)
    spec = load_spec(spec_or_path)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ParameterError("--workers", workers, "must be a whole number >= 1")
    if scheduler is not None and workers is not None:
        raise ParameterError("--workers", workers, "sizes the local pool; with --scheduler "
                             "the Dask cluster's workers do the work")
    points = spec.points()
    tasks = spec.tasks(points)
    if not tasks:
        raise SpecError("design", None, "empty", "design: empty design (no runs)")
    store = Store(out_dir if out_dir is not None else Path("results") / spec.name)
    client = connect(scheduler) if scheduler is not None else None
    t0 = time.perf_counter()
    try:
        with store.locked():
            resumed, warnings = store.open(manifest(spec, points))
            for w in warnings:
                say(f"warning: {w}")
            design = pa.table({"point": range(len(points)),
                               **{k: [p[k] for p in points] for k in spec.varied}})
            atomic_write(store.root / "design.parquet", lambda tmp: pq.write_table(design, tmp))
            ids = [t["run_id"] for t in tasks]
            done = store.completed(ids, spec.outputs.series, retry_failed)
            todo = [t for t in tasks if t["run_id"] not in done]
            n_workers = workers or _cpus()
            executor = (f"dask {scheduler}" if scheduler else
                        f"{min(n_workers, max(len(todo), 1))} local worker(s)")
            store.add_session({"started": _now(), "host": platform.node(),
                               "executor": executor, "to_run": len(todo),
                               "done_before": len(done)})
            if resumed:
                say(f"resuming {store.root}: {len(done)} of {len(tasks)} runs already done")
            say(f"{spec.name}: {len(tasks)} runs ({len(points)} points x {spec.replicates} "
                f"replicates), {spec.scenario} scenario, {spec.engine} engine; "
                f"{len(todo)} to run on {executor}")
            failed_now, ran_now = [0], [0]
            with tqdm(total=len(todo), desc=spec.name, unit="run", disable=not progress,
                      smoothing=0.05, dynamic_ncols=True) as bar:

                def handle(task: dict[str, Any], outcome: Outcome) -> None:
                    _save(store, spec, task, outcome)
                    ran_now[0] += 1
                    if not outcome.ok:
                        failed_now[0] += 1
                        bar.set_postfix(failed=failed_now[0], refresh=False)
                    bar.update(1)

                key = digest(spec.resolved())[:8]
                interrupted = execute(
                    _sweep_run, todo, handle, workers=min(n_workers, max(len(todo), 1)),
                    scheduler=client,
                    task_key=lambda t: f"replyall-{spec.name}-{key}-run-{t['run_id']}")
            paths: dict[str, Path] = {"manifest": store.root / "manifest.json",
                                      "design": store.root / "design.parquet"}
            if interrupted:
                completed = sorted(store.completed(ids, spec.outputs.series))
                runs = runs_table([store.read(i) for i in completed], spec.varied).to_pandas()
            else:
                paths.update(store.consolidate(ids, spec.varied, spec.outputs.series))
                runs = pd.read_parquet(paths["runs"])
    finally:
        if client is not None:
            client.close(timeout=10)
    return SweepResult(spec=spec, out_dir=store.root, runs=runs, n_runs=len(tasks),
                       ran=ran_now[0],
                       skipped=len(done), wall_s=time.perf_counter() - t0,
                       interrupted=interrupted, paths=paths, warnings=warnings)


def _save(store: Store, spec: Spec, task: dict[str, Any], outcome: Outcome) -> None:
    """Write one run's parts (in the main process, as its result arrives)."""
    value = outcome.value if outcome.ok else {}
    series = value.get("series")
    if series is not None:
        series.insert(0, "run_id", np.int64(task["run_id"]))
    record = {
        "run_id": task["run_id"], "point": task["point"], "replicate": task["replicate"],
        "seed_entropy": task["entropy"], "seed_spawn_key": list(task["spawn_key"]),
        "params": {k: task["changes"][k] for k in spec.varied},
        "status": "ok" if outcome.ok else "failed",
        "error_type": outcome.error_type, "error": outcome.error,
        "summary": value.get("summary"),
        "timing": {"wall_s": outcome.wall_s, "worker": outcome.worker,
                   **value.get("timing", {})},
    }
    store.write(record, series)


def manifest(spec: Spec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Provenance of a sweep: resolved spec, hashes, seeds, versions, git commit."""
    resolved = spec.resolved()
    base = spec.base_params().as_dict()
    key = "(0, replicate)" if spec.common_seeds else "(point, replicate)"
    return {
        "format": FORMAT, "created": _now(), "spec": resolved,
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
        "versions": _versions(), "python": platform.python_version(),
        "platform": platform.platform(), **_git(),
    }


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git() -> dict[str, Any]:
    """Return the commit of the source tree the package runs from, if a git checkout."""
    root = Path(__file__).resolve().parents[1]
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


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["SweepResult", "run_one", "run_sweep", "thin"]
