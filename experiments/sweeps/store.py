"""A sweep's results folder: manifest, one checked part per run, consolidated Parquet tables.

Layout of ``results/<spec name>/``::

    manifest.json        resolved spec, hashes, seeds, versions, git commit, sessions
    design.parquet       one row per design point: point, the varied parameters
    parts/0000/run-000123.json            run 123's row (written last: marks it complete)
    parts/0000/run-000123.series.parquet  its series, if the spec keeps series
    runs.parquet         one row per run (see :func:`.tables.runs_table`)
    series.parquet       one row per run and (thinned) minute: run_id, minute, observables
    timings.parquet      run_id, wall_s, graph_s, sim_s, graph_cached, worker

Every file is written to a temporary name and moved into place (:mod:`..io`), so a part is
complete or absent whatever kills the process; the run's JSON goes last, after its series,
sealed with checksums of both (:mod:`.parts`). Resuming trusts a part only once it is
checked: a corrupt one (torn by a disk, edited), one copied from another run (its run id is
not its place's) or from another sweep (its hashes are not the manifest's) is named in one
line, removed and run again; consolidation checks again as it reads, so nothing corrupt
reaches the tables. A folder whose manifest was lost is taken back when its parts carry this
spec's hashes (the manifest is rebuilt from the spec); any other folder that is not empty is
refused before anything is written in it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from replyall_storm.model.errors import ParameterError

from ..io import atomic_write, write_json
from . import parts
from .executor import InfrastructureError
from .tables import write_tables

MANIFEST = "manifest.json"
FORMAT = 2  # 2: parts are sealed with checksums and the sweep's hashes
SHARD = 1000  # runs per parts/ subfolder


class CorruptPartError(InfrastructureError):
    """A part failed its check while the tables were built; it was removed (run again)."""


class Store:
    """The results folder of one sweep."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.parts = self.root / "parts"
        self.hashes: dict[str, Any] | None = None  # the sweep's, once opened

    # --- opening -------------------------------------------------------------------------
    def check(self, manifest: dict[str, Any]) -> None:
        """Refuse (ParameterError) a folder this sweep may not use, creating nothing."""
        if not self.root.is_dir():
            return
        old, why = self._old_manifest()
        if old is not None:
            _same_sweep(self.root, old, manifest)
        elif self._holds_files():
            self._adoptable(manifest)

    @contextlib.contextmanager
    def locked(self) -> Iterator[Store]:
        """Hold an exclusive lock on the folder (a second sweep into it is refused).

        A sweep refused while it holds the lock removes the lock file (and the folder) it
        made, so a refused sweep leaves nothing behind.
        """
        made_root = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / ".lock"
        made_lock = not lock.exists()
        fh = open(lock, "a+")  # noqa: SIM115 - held for the whole block
        refused = False
        try:
            try:
                import fcntl
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # not POSIX: no lock, atomic writes still hold
                pass
            except OSError:
                refused = made_lock
                raise ParameterError("--out", str(self.root), "another sweep is writing to "
                                     "this folder; wait for it or choose another --out"
                                     ) from None
            yield self
        except ParameterError:
            refused = refused or made_lock
            raise
        finally:
            fh.close()
            if refused:
                lock.unlink(missing_ok=True)
                if made_root:
                    with contextlib.suppress(OSError):
                        self.root.rmdir()

    def open(self, manifest: dict[str, Any]) -> tuple[bool, list[str]]:
        """Start or resume: write the manifest, or check it matches (resumed?, warnings)."""
        self.hashes = {k: manifest[k] for k in parts.HASHES}
        path = self.root / MANIFEST
        old, why = self._old_manifest()
        if old is None:
            notes = []
            if self._holds_files():
                n = self._adoptable(manifest)
                notes.append(f"manifest.json was {why}: rebuilt from the spec, whose hash "
                             f"matches the {n} runs in parts/")
            rebuilt = {"rebuilt": manifest.get("created")} if notes else {}
            write_json({**manifest, **rebuilt, "sessions": []}, path, finite=False)
            self.clean()
            return bool(notes), notes
        _same_sweep(self.root, old, manifest)
        warnings = [f"{name} was {v} when this folder was started, is now "
                    f"{manifest['versions'].get(name)}"
                    for name, v in old.get("versions", {}).items()
                    if manifest["versions"].get(name) != v]
        if old.get("git_commit") != manifest.get("git_commit"):
            warnings.append(f"git commit was {old.get('git_commit')}, is now "
                            f"{manifest.get('git_commit')}")
        self.clean()
        return True, warnings

    def _old_manifest(self) -> tuple[dict[str, Any] | None, str]:
        """The manifest in the folder, or None and why not ("missing", "unreadable")."""
        path = self.root / MANIFEST
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, "missing"
        except (OSError, ValueError):
            return None, "unreadable"
        return (old, "") if isinstance(old, dict) else (None, "unreadable")

    def _holds_files(self) -> bool:
        return any(not p.name.startswith(".") for p in self.root.iterdir())

    def _adoptable(self, manifest: dict[str, Any]) -> int:
        """How many parts carry this sweep's hashes; ParameterError if the folder is not its."""
        mine = {k: manifest[k] for k in parts.HASHES}
        n = 0
        for path in sorted(self.parts.glob("*/run-*.json")):
            record, _ = parts.parse_record(path.read_text(encoding="utf-8", errors="replace"))
            made_by = record.get("sweep") if record is not None else None
            if made_by is None:
                continue  # corrupt (recomputed later) or written before checksums
            if {k: made_by.get(k) for k in parts.HASHES} != mine:
                raise ParameterError("--out", str(self.root), "holds no manifest.json and its "
                                     "runs belong to another spec: use another --out, or "
                                     "delete the folder to start again")
            n += 1
        if not n:
            raise ParameterError("--out", str(self.root), "is not empty and holds no "
                                 "manifest.json: choose a new or empty folder")
        return n

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

    def completed(self, run_ids: Sequence[int], series: bool, retry_failed: bool = False,
                  warn: Callable[[str], None] | None = None, progress: bool = False
                  ) -> set[int]:
        """The runs whose parts are complete and sound (failed ones too, unless retried).

        A part that fails its check is reported through ``warn`` (one line naming the file)
        and removed, so that the run is done again. ``progress``: a bar while checking (a
        million parts take a few minutes).
        """
        say = warn or (lambda _msg: None)
        names: dict[str, set[str]] = {}
        if self.parts.is_dir():
            for shard in self.parts.iterdir():
                if shard.is_dir():
                    names[shard.name] = {e.name for e in os.scandir(shard)}
        done, unsealed = set(), 0
        for rid in tqdm(run_ids, desc="checking parts", unit="run", leave=False,
                        disable=not progress, dynamic_ncols=True):
            if f"run-{rid:06d}.json" not in names.get(f"{rid // SHARD:04d}", ()):
                continue
            record, bad, problem = self._checked(rid, series)
            if problem is not None:
                say(f"warning: {self._name(bad)} {problem}: recomputing")
                self.discard(rid)
                continue
            unsealed += not parts.sealed(record)
            if retry_failed and record["status"] != "ok":
                continue
            done.add(rid)
        if unsealed:
            say(f"warning: {unsealed} parts carry no checksums (written before "
                "replyall-storm 0.2): checked only for readability")
        return done

    def check_part(self, run_id: int, series: bool) -> tuple[Path, str] | None:
        """(file, what is wrong) with run ``run_id``'s parts, or None when they are sound."""
        _, bad, problem = self._checked(run_id, series)
        return None if problem is None else (bad, problem)

    def _checked(self, run_id: int, series: bool
                 ) -> tuple[dict[str, Any] | None, Path, str | None]:
        path = self.stem(run_id).with_suffix(".json")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, path, "is missing"
        except (OSError, UnicodeDecodeError):
            return None, path, "is corrupt (cannot be read as text)"
        record, problem = parts.parse_record(text)
        if record is not None:
            problem = parts.check_record(record, run_id, self.hashes)
        if problem is not None:
            return None, path, problem
        if series and record["status"] == "ok":
            series_path = self.stem(run_id).with_suffix(".series.parquet")
            problem = parts.check_series(series_path, record)
            if problem is not None:
                return None, series_path, problem
        return record, path, None

    def discard(self, run_id: int) -> None:
        """Remove run ``run_id``'s parts (its record first: the run is then incomplete)."""
        for suffix in (".json", ".series.parquet"):
            self.stem(run_id).with_suffix(suffix).unlink(missing_ok=True)

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def write(self, record: dict[str, Any], series: pd.DataFrame | None) -> None:
        """Write one run's parts: its series first, then its sealed record (marks it complete)."""
        stem = self.stem(record["run_id"])
        checksum = None
        if series is not None:
            table = pa.Table.from_pandas(series, preserve_index=False)
            data = parts.series_bytes(table.replace_schema_metadata(None))
            checksum = parts.digest_bytes(data)
            atomic_write(stem.with_suffix(".series.parquet"), lambda tmp: tmp.write_bytes(data))
        text = parts.seal(record, self.hashes, checksum)
        atomic_write(stem.with_suffix(".json"), lambda tmp: tmp.write_text(text))

    def read(self, run_id: int) -> dict[str, Any]:
        """Run ``run_id``'s record, checked; CorruptPartError (and it is removed) if unsound."""
        record, bad, problem = self._checked(run_id, series=False)
        if problem is not None:
            self._corrupt(run_id, bad, problem)
        return record

    def _corrupt(self, run_id: int, path: Path, problem: str) -> None:
        self.discard(run_id)
        raise CorruptPartError(f"{self._name(path)} {problem}: removed; run the same "
                               "command again to recompute it", lost=1)

    # --- consolidation -------------------------------------------------------------------
    def consolidate(self, run_ids: list[int], varied: list[str], series: bool
                    ) -> dict[str, Path]:
        """Write runs.parquet, timings.parquet and series.parquet from the checked parts."""
        records = [self.read(rid) for rid in sorted(run_ids)]
        ok = [r for r in records if r["status"] == "ok"]

        def series_parts() -> Iterator[pa.Table]:
            for record in ok:
                path = self.stem(record["run_id"]).with_suffix(".series.parquet")
                table, problem = parts.read_series(path, record)
                if problem is not None:
                    self._corrupt(record["run_id"], path, problem)
                yield table

        return write_tables(self.root, records, varied, series_parts if series and ok else None)


def _same_sweep(root: Path, old: dict[str, Any], manifest: dict[str, Any]) -> None:
    """ParameterError unless the folder's manifest is this sweep's (spec, defaults, design)."""
    for key, what in (("spec_hash", "a different spec (name "
                       f"{old.get('spec', {}).get('name')!r})"),
                      ("params_hash", "runs of other scenario parameters (the model's "
                       "defaults or scenarios changed since)"),
                      ("design_hash", "other design points (scipy or SALib changed?)")):
        if old.get(key) != manifest[key]:
            raise ParameterError("--out", str(root), f"holds {what}: use another --out, or "
                                 "delete the folder to start again")


__all__ = ["FORMAT", "MANIFEST", "SHARD", "CorruptPartError", "Store"]
