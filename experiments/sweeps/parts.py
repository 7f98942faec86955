"""One run's part files: sealed with checksums when written, checked before they are trusted.

A run's record ``parts/0000/run-000123.json`` carries, besides the run's row:

* ``sweep``: the hashes of the sweep that wrote it (``spec_hash``, ``params_hash``,
  ``design_hash``, as in the manifest), so a part copied from another sweep is recognised
  and a lost manifest can be rebuilt from the spec (:meth:`.store.Store.open`);
* ``series_sha256``: the SHA-256 of its series file (None when it keeps none);
* ``record_sha256``: the SHA-256 of every other field as canonical JSON.

:func:`check_record` and :func:`check_series` say what is wrong with a part in a few words
(``is corrupt (checksum mismatch)``, ``holds run 5, not run 7 (copied?)``, ``belongs to
another sweep (spec hash differs)``), or None when it is sound. Records written before
checksums (format 1) carry none: they are checked for what they can be (valid JSON, the
right run id, a readable series file).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HASHES = ("spec_hash", "params_hash", "design_hash")
CHECK = "record_sha256"
SERIES_CHECK = "series_sha256"
CORRUPT = "is corrupt (checksum mismatch)"


def digest_bytes(data: bytes) -> str:
    """SHA-256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


def record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a record without its own checksum, as canonical JSON (NaN, inf kept)."""
    body = {k: v for k, v in record.items() if k != CHECK}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return digest_bytes(text.encode())


def seal(record: dict[str, Any], hashes: dict[str, str] | None,
         series_sha256: str | None) -> str:
    """The record's JSON line with the sweep's hashes and both checksums."""
    sealed = {**record, "sweep": hashes, SERIES_CHECK: series_sha256}
    sealed[CHECK] = record_digest(sealed)
    return json.dumps(sealed, allow_nan=True, separators=(",", ":")) + "\n"


def parse_record(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None), or (None, what is wrong) for text that is no sealed record."""
    try:
        record = json.loads(text)
    except ValueError:
        return None, "is corrupt (not valid JSON)"
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), int):
        return None, "is corrupt (not a run record)"
    if CHECK in record and record[CHECK] != record_digest(record):
        return None, CORRUPT
    return record, None


def check_record(record: dict[str, Any], run_id: int,
                 hashes: dict[str, str] | None) -> str | None:
    """What is wrong with ``record`` found at run ``run_id``'s place, or None."""
    if record["run_id"] != run_id:
        return f"holds run {record['run_id']}, not run {run_id} (copied?)"
    made_by = record.get("sweep")
    if hashes is not None and made_by is not None:
        for key in HASHES:
            if made_by.get(key) != hashes.get(key):
                return f"belongs to another sweep ({key.replace('_', ' ')} differs)"
    return None


def sealed(record: dict[str, Any]) -> bool:
    """Whether the record carries checksums (format 2 and later)."""
    return CHECK in record


def check_series(path: Path, record: dict[str, Any]) -> str | None:
    """What is wrong with the series file of a successful run, or None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "is missing"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if sealed(record):
        return None if digest_bytes(data) == record.get(SERIES_CHECK) else CORRUPT
    try:  # an old part: readable Parquet is all that can be checked
        pq.read_metadata(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError):
        return "is corrupt (not a Parquet file)"
    return None


def read_series(path: Path, record: dict[str, Any]) -> tuple[pa.Table | None, str | None]:
    """The series table of a run (read once, checked against its checksum)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if sealed(record) and digest_bytes(data) != record.get(SERIES_CHECK):
        return None, CORRUPT
    try:
        return pq.read_table(pa.BufferReader(data)), None
    except (pa.ArrowException, OSError, ValueError):
        return None, "is corrupt (not a Parquet file)"


def series_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of a Parquet file (hashed, then written)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
