"""Parameter sweeps: many storms from one spec, reproducible, resumable, local or on Dask.

::

    from replyall_storm import run_sweep
    result = run_sweep("smoke", "results/smoke", workers=2)   # a packaged spec, or a path
    result.runs        # one row per run (runs.parquet)
    result.series      # one row per run and minute (series.parquet), read on first use
    result.failed      # the runs that raised, with error type and message

A sweep is a list of :class:`~.tasks.RunTask` (scenario, parameter changes, seed, engine,
outputs) run by :func:`~.tasks.run_task` through :func:`.executor.execute`; each result
becomes a part file in the results folder (:mod:`.store`) as soon as it arrives. Re-running
skips the runs whose parts are complete and sound; the seed of a run depends only on the spec
and its (point, replicate), never on which worker ran it or when, so the consolidated tables
are identical bit for bit however the work was split, stopped or resumed.

Everything that can be checked is checked before any file is written: the spec (its size
included), the options, the output folder, the folder's owner, the scheduler and its workers.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from replyall_storm.model.contradictions import design_contradictions
from replyall_storm.model.errors import ParameterError

from ..io import atomic_write, writable_folder
from .cluster import quiet
from .executor import InfrastructureError, Outcome, connect, execute, local_workers
from .manifest import manifest, now
from .spec import Spec, SpecError, digest
from .store import Store
from .tables import runs_table
from .tasks import RunTask, run_task
from .validate import load_spec


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
        spec_or_path: a :class:`Spec`, a dict, the path of a TOML spec, or the name of a
            spec that ships with the package (``"smoke"``; a path that exists wins).
        out_dir: results folder (default ``results/<spec name>``); resumed if it exists.
        scheduler: Dask scheduler address or scheduler file (default: run locally).
        workers: local processes (default: the CPUs this process may use).
        progress: show a progress bar (runs, rate, ETA).
        retry_failed: run again the runs recorded as failed.
        log: receives one-line messages (resuming, warnings); default silent.

    Raises:
        ParameterError: bad spec, bad options, an output folder that cannot be written or
            belongs to another sweep, no scheduler answering.
        InfrastructureError: a local worker process, a Dask scheduler or its workers were
            lost; the runs they held are left incomplete (completed runs are kept: the same
            call resumes).
    """
    say = log or (lambda _msg: None)
    spec = load_spec(spec_or_path)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ParameterError("--workers", workers, "must be a whole number >= 1")
    if scheduler is not None and workers is not None:
        raise ParameterError("--workers", workers, "sizes the local pool; with --scheduler "
                             "the Dask cluster's workers do the work")
    n_runs = spec.n_points * spec.replicates
    if not n_runs:
        raise SpecError("design", None, "empty", "design: empty design (no runs)")
    store = Store(writable_folder(out_dir if out_dir is not None
                                  else Path("results") / spec.name))
    points = spec.points()
    for text in design_contradictions(spec.base_params(), spec.varied, points):
        say(f"warning: {text}")
    about = manifest(spec, points)
    store.check(about)  # a folder of another sweep is refused before anything is written
    with quiet() if scheduler is not None else contextlib.nullcontext():
        client = connect(scheduler) if scheduler is not None else None
        try:
            with store.locked():
                return _run(spec, store, points, about, client=client, scheduler=scheduler,
                            workers=workers, progress=progress, retry_failed=retry_failed,
                            say=say)
        finally:
            if client is not None:
                client.close(timeout=10)


def _run(spec: Spec, store: Store, points: list[dict[str, Any]], about: dict[str, Any], *,
         client: Any, scheduler: str | None, workers: int | None, progress: bool,
         retry_failed: bool, say: Callable[[str], None]) -> SweepResult:
    """Open the locked folder, run what is missing, consolidate (the body of run_sweep)."""
    t0 = time.perf_counter()
    n_runs = spec.n_points * spec.replicates
    resumed, warnings = store.open(about)
    for w in warnings:
        say(f"warning: {w}")
    design = pa.table({"point": range(len(points)),
                       **{k: [p[k] for p in points] for k in spec.varied}})
    atomic_write(store.root / "design.parquet", lambda tmp: pq.write_table(design, tmp))
    ids = range(n_runs)
    done = store.completed(ids, spec.outputs.series, retry_failed, warn=say,
                           progress=progress and resumed and n_runs >= 10_000)
    n_todo = n_runs - len(done)
    todo = (t for t in spec.iter_tasks(points) if t.run_id not in done)
    n_workers = local_workers(workers, n_todo, say) if client is None else 0
    executor = f"dask {scheduler}" if client is not None else f"{n_workers} local worker(s)"
    store.add_session({"started": now(), "host": platform.node(), "executor": executor,
                       "to_run": n_todo, "done_before": len(done)})
    if resumed:
        say(f"resuming {store.root}: {len(done)} of {n_runs} runs already done")
    say(f"{spec.name}: {n_runs} runs ({len(points)} points x {spec.replicates} replicates), "
        f"{spec.scenario} scenario, {spec.engine} engine; {n_todo} to run on {executor}")
    failed_now, saved = [0], set()
    with tqdm(total=n_todo, desc=spec.name, unit="run", disable=not progress,
              smoothing=0.05, dynamic_ncols=True) as bar:

        def handle(task: RunTask, outcome: Outcome) -> None:
            _save(store, spec, task, outcome)
            saved.add(task.run_id)
            if not outcome.ok:
                failed_now[0] += 1
                bar.set_postfix(failed=failed_now[0], refresh=False)
            bar.update(1)

        key = digest(spec.resolved())[:8]
        try:
            interrupted = execute(
                run_task, todo, handle, workers=n_workers, scheduler=client,
                task_key=lambda t: f"replyall-{spec.name}-{key}-run-{t.run_id}")
        except InfrastructureError as err:
            raise type(err)(f"{err}; {len(done | saved)} of {n_runs} runs are complete in "
                            f"{store.root}: run the same command to resume",
                            lost=err.lost) from None
    paths: dict[str, Path] = {"manifest": store.root / "manifest.json",
                              "design": store.root / "design.parquet"}
    if interrupted:
        completed = sorted(done | saved)
        runs = runs_table([store.read(i) for i in completed], spec.varied).to_pandas()
    else:
        paths.update(store.consolidate(list(ids), spec.varied, spec.outputs.series))
        runs = pd.read_parquet(paths["runs"])
    return SweepResult(spec=spec, out_dir=store.root, runs=runs, n_runs=n_runs,
                       ran=len(saved), skipped=len(done), wall_s=time.perf_counter() - t0,
                       interrupted=interrupted, paths=paths, warnings=warnings)


def _save(store: Store, spec: Spec, task: RunTask, outcome: Outcome) -> None:
    """Write one run's parts (in the main process, as its result arrives)."""
    value = outcome.value if outcome.ok else {}
    series = value.get("series")
    if series is not None:
        series.insert(0, "run_id", np.int64(task.run_id))
    record = {
        "run_id": task.run_id, "point": task.point, "replicate": task.replicate,
        "seed_entropy": task.entropy, "seed_spawn_key": list(task.spawn_key),
        "params": {k: task.changes[k] for k in spec.varied},
        "status": "ok" if outcome.ok else "failed",
        "error_type": outcome.error_type, "error": outcome.error,
        "summary": value.get("summary"),
        "timing": {"wall_s": outcome.wall_s, "worker": outcome.worker,
                   **value.get("timing", {})},
    }
    store.write(record, series)


__all__ = ["SweepResult", "run_sweep"]
