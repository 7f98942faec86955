"""A sweep's consolidated tables: ``runs.parquet``, ``series.parquet``, ``timings.parquet``.

Built from the run records and series parts that :class:`.store.Store` has checked, in run
id order, so the same parts give byte-identical tables whatever wrote them and when.
``runs.parquet`` and ``series.parquet`` hold only what is reproducible bit for bit; wall
times and worker names live in ``timings.parquet``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..io import atomic_write

ROW_GROUP = 500_000  # rows per row group of series.parquet
RUN_COLUMNS = {"run_id": pa.int64(), "point": pa.int64(), "replicate": pa.int64(),
               "status": pa.string(), "error_type": pa.string(), "error": pa.string(),
               "seed_entropy": pa.int64(), "seed_spawn_key": pa.string()}
TIMING_COLUMNS = ("wall_s", "graph_s", "sim_s", "graph_cached", "worker")


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


def timings_table(records: list[dict[str, Any]]) -> pa.Table:
    """run_id and each run's wall time, graph and simulation time, worker."""
    return pa.table({
        "run_id": pa.array([r["run_id"] for r in records], pa.int64()),
        **{k: [r.get("timing", {}).get(k) for r in records] for k in TIMING_COLUMNS}})


def write_series(parts: Iterable[pa.Table], target: Path) -> None:
    """Stream the runs' series tables into one file, in the order given, bounded memory."""
    writer: pq.ParquetWriter | None = None
    buffer: list[pa.Table] = []
    rows = 0
    try:
        for part in parts:
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


def write_tables(root: Path, records: list[dict[str, Any]], varied: list[str],
                 series: Callable[[], Iterable[pa.Table]] | None) -> dict[str, Path]:
    """Write series.parquet (when ``series`` yields the parts), then runs and timings.

    The series go first: a part found corrupt while they are streamed stops everything
    before any table is replaced.
    """
    paths: dict[str, Path] = {}
    if series is not None:
        paths["series"] = atomic_write(root / "series.parquet",
                                       lambda tmp: write_series(series(), tmp))
    runs, timings = runs_table(records, varied), timings_table(records)
    paths["runs"] = atomic_write(root / "runs.parquet", lambda tmp: pq.write_table(runs, tmp))
    paths["timings"] = atomic_write(root / "timings.parquet",
                                    lambda tmp: pq.write_table(timings, tmp))
    return {k: paths[k] for k in ("runs", "timings", "series") if k in paths}
