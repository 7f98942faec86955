"""A sweep's results folder: manifest, one part per run, consolidated Parquet tables.

Layout of ``results/<spec name>/``::

    manifest.json        resolved spec, hashes, seeds, versions, git commit, sessions
    design.parquet       one row per design point: point, the varied parameters
    parts/0000/run-000123.json            run 123's row (written last: marks it complete)
    parts/0000/run-000123.series.parquet  its series, if the spec keeps series
    runs.parquet         one row per run (see :func:`runs_table`)
    series.parquet       one row per run and (thinned) minute: run_id, minute, observables
    timings.parquet      run_id, wall_s, graph_s, sim_s, graph_cached, worker

Every file is written to a temporary name and moved into place (:mod:`..io`), so a part is
complete or absent whatever kills the process; the run's JSON goes last, after its series.
``runs.parquet`` and ``series.parquet`` contain only results that are reproducible bit for
bit (identical files whatever the workers); wall times live in ``timings.parquet``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from replyall_storm.model.errors import ParameterError

from ..io import atomic_write, write_json

MANIFEST = "manifest.json"
FORMAT = 1
SHARD = 1000  # runs per parts/ subfolder
ROW_GROUP = 500_000  # rows per row group of series.parquet
RUN_COLUMNS = {"run_id": pa.int64(), "point": pa.int64(), "replicate": pa.int64(),
               "status": pa.string(), "error_type": pa.string(), "error": pa.string(),
               "seed_entropy": pa.int64(), "seed_spawn_key": pa.string()}


class Store:
    """The results folder of one sweep."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.parts = self.root / "parts"
        self._lock: Any = None

    # --- opening -------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[Store]:
        """Hold an exclusive lock on the folder (a second sweep into it is refused)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the whole block
        try:
            try:
                import fcntl
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # not POSIX: no lock, atomic writes still hold
                pass
            except OSError:
                raise ParameterError("--out", str(self.root), "another sweep is writing to "
                                     "this folder; wait for it or choose another --out"
                                     ) from None
            yield self
        finally:
            fh.close()

    def open(self, manifest: dict[str, Any]) -> tuple[bool, list[str]]:
        """Start or resume: write the manifest, or check it matches (resumed?, warnings)."""
        path = self.root / MANIFEST
        if not path.exists():
            if any(not p.name.startswith(".") for p in self.root.iterdir()):
                raise ParameterError("--out", str(self.root), "is not empty and holds no "
                                     "manifest.json: choose a new or empty folder")
            write_json({**manifest, "sessions": []}, path, finite=False)
            self.clean()
            return False, []
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ParameterError("--out", str(self.root), f"has an unreadable {MANIFEST} "
                                 f"({err}); choose another folder") from None
        for key, what in (("spec_hash", "a different spec (name "
                           f"{old.get('spec', {}).get('name')!r})"),
                          ("params_hash", "runs of other scenario parameters (the model's "
                           "defaults or scenarios changed since)"),
                          ("design_hash", "other design points (scipy or SALib changed?)")):
            if old.get(key) != manifest[key]:
                raise ParameterError("--out", str(self.root), f"holds {what}: use another "
                                     "--out, or delete the folder to start again")
        warnings = [f"{name} was {v} when this folder was started, is now "
                    f"{manifest['versions'].get(name)}"
                    for name, v in old.get("versions", {}).items()
                    if manifest["versions"].get(name) != v]
        if old.get("git_commit") != manifest.get("git_commit"):
            warnings.append(f"git commit was {old.get('git_commit')}, is now "
                            f"{manifest.get('git_commit')}")
        self.clean()
        return True, warnings

    def add_session(self, session: dict[str, Any]) -> None:
        """Append one line of provenance (start time, host, executor) to the manifest."""
        path = self.root / MANIFEST
        data = json.loads(path.read_text())
        data["sessions"] = [*data.get("sessions", []), session]
        write_json(data, path, finite=False)

    def clean(self) -> int:
        """Delete temporary files left by a killed process; return how many went."""
        n = 0
        for folder in (self.root, *(p for p in self.parts.glob("*") if p.is_dir())):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                n += 1
        return n

    # --- parts ---------------------------------------------------------------------------
    def stem(self, run_id: int) -> Path:
        """Path of run ``run_id``'s part files, without suffix."""
        return self.parts / f"{run_id // SHARD:04d}" / f"run-{run_id:06d}"

    def completed(self, run_ids: Iterable[int], series: bool,
                  retry_failed: bool = False) -> set[int]:
        """Return the runs whose parts are complete (failed ones too, unless ``retry_failed``)."""
        names: set[str] = set()
        if self.parts.is_dir():
            for shard in self.parts.iterdir():
                if shard.is_dir():
                    names.update(e.name for e in os.scandir(shard))
        done = set()
        for rid in run_ids:
            stem = f"run-{rid:06d}"
            if f"{stem}.json" not in names:
                continue
            has_series = f"{stem}.series.parquet" in names
            if (series and not has_series) or retry_failed:
                status = self.read(rid)["status"]
                if retry_failed and status != "ok":
                    continue
                if series and not has_series and status == "ok":
                    continue
            done.add(rid)
        return done

    def write(self, record: dict[str, Any], series: pd.DataFrame | None) -> None:
        """Write one run's parts: its series first, then its record (marks it complete)."""
        stem = self.stem(record["run_id"])
        if series is not None:
            table = pa.Table.from_pandas(series, preserve_index=False)
            table = table.replace_schema_metadata(None)
            atomic_write(stem.with_suffix(".series.parquet"),
                         lambda tmp: pq.write_table(table, tmp))
        text = json.dumps(record, allow_nan=True, separators=(",", ":")) + "\n"
        atomic_write(stem.with_suffix(".json"), lambda tmp: tmp.write_text(text))

    def read(self, run_id: int) -> dict[str, Any]:
        """Run ``run_id``'s record."""
        return json.loads(self.stem(run_id).with_suffix(".json").read_text())

    # --- consolidation -------------------------------------------------------------------
    def consolidate(self, run_ids: list[int], varied: list[str], series: bool
                    ) -> dict[str, Path]:
        """Write runs.parquet, timings.parquet and series.parquet from the parts."""
        records = [self.read(rid) for rid in sorted(run_ids)]
        paths = {"runs": self.root / "runs.parquet", "timings": self.root / "timings.parquet"}
        table = runs_table(records, varied)
        atomic_write(paths["runs"], lambda tmp: pq.write_table(table, tmp))
        timings = pa.table({
            "run_id": pa.array([r["run_id"] for r in records], pa.int64()),
            **{k: [r.get("timing", {}).get(k) for r in records]
               for k in ("wall_s", "graph_s", "sim_s", "graph_cached", "worker")}})
        atomic_write(paths["timings"], lambda tmp: pq.write_table(timings, tmp))
        ok = [r["run_id"] for r in records if r["status"] == "ok"]
        if series and ok:
            paths["series"] = self.root / "series.parquet"
            atomic_write(paths["series"], lambda tmp: self._concat_series(ok, tmp))
        return paths

    def _concat_series(self, run_ids: list[int], target: Path) -> None:
        """Stream the series parts into one file, in run_id order, bounded memory."""
        writer: pq.ParquetWriter | None = None
        buffer: list[pa.Table] = []
        rows = 0
        try:
            for rid in run_ids:
                part = pq.read_table(self.stem(rid).with_suffix(".series.parquet"))
                if writer is None:
                    writer = pq.ParquetWriter(target, part.schema)
                buffer.append(part)
                rows += part.num_rows
                if rows >= ROW_GROUP:
                    writer.write_table(pa.concat_tables(buffer), row_group_size=ROW_GROUP)
                    buffer, rows = [], 0
            if writer is not None and buffer:
                writer.write_table(pa.concat_tables(buffer), row_group_size=ROW_GROUP)
        finally:
            if writer is not None:
                writer.close()


def runs_table(records: list[dict[str, Any]], varied: list[str]) -> pa.Table:
    """One row per run: ids, status, seed, the varied parameters, every summary field.

    Failed runs have ``status="failed"``, ``error_type`` and ``error``, and nulls for the
    summary fields. ``seed_spawn_key`` is ``"p,r"``: the run's seed is
    ``SeedSequence(seed_entropy, spawn_key=(p, r))``.
    """
    summary_keys: dict[str, None] = {}
    for r in records:
        summary_keys.update(dict.fromkeys(r.get("summary") or {}))
    cols: dict[str, pa.Array] = {}
    for name, typ in RUN_COLUMNS.items():
        values = [r.get(name) for r in records]
        if name == "seed_spawn_key":
            values = [",".join(str(k) for k in v) for v in values]
        cols[name] = pa.array(values, typ)
    for name in varied:
        cols[name] = pa.array([r["params"][name] for r in records])
    for key in summary_keys:
        if key in cols:
            raise ValueError(f"summary field {key!r} clashes with a runs.parquet column")
        cols[key] = pa.array([(r.get("summary") or {}).get(key) for r in records])
    return pa.table(cols)
