"""On-disk cache of built organisations, keyed by everything that determines them.

Building the 840,000-user directory takes a fraction of a second, but experiments build
it thousands of times (one per seed and spec); loading the uncompressed ``.npz`` is a few
times faster still and, more importantly, yields exactly the arrays that were used.

Files are ``<cache_dir>/org-<key16>.npz`` where ``key16`` is the first 16 hex digits of a
SHA-256 over (``CACHE_FORMAT``, ``n_users``, the spec's fields, ``seed``). They are written
to a temporary file in the same directory and moved into place with :func:`os.replace`, so a
killed process never leaves a half-written file under the final name; a file that cannot be
read anyway (truncated, corrupt, from another format) is rebuilt and overwritten.

The cache keeps to a size limit, ``$REPLYALL_CACHE_MAX_MB`` megabytes (default 2048; 0 keeps
nothing): each file's modification time is its last use (touched on every hit), and after
each write the least recently used files are deleted until the rest fit (a file larger than
the whole limit is not kept). Eviction only ever costs a rebuild: a file deleted while another
process reads it stays readable to that process, and a rebuilt organisation is identical.
``replyall cache info`` and ``replyall cache clear`` show and empty the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .org import MAX_USERS, MIN_USERS, Organisation, OrgSpec, _check_int
from .org_generator import build_organisation

CACHE_FORMAT = 1
"""Bump when the generator or the file layout changes, so old cache files are not reused."""

ENV_VAR = "REPLYALL_CACHE"
LIMIT_VAR = "REPLYALL_CACHE_MAX_MB"
DEFAULT_LIMIT_MB = 2048.0
MB = 1_000_000  # bytes
_PREFIX, _SUFFIX = "org-", ".npz"
_READ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    EOFError,
    zipfile.BadZipFile,
)


def default_cache_dir() -> Path:
    """Return ``$REPLYALL_CACHE`` if set (and not empty), else ``~/.cache/replyall-storm``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "replyall-storm"


def cache_limit_bytes() -> int:
    """Most bytes the cache keeps: ``$REPLYALL_CACHE_MAX_MB`` megabytes (default 2048).

    Raises:
        ParameterError: the variable is not a number >= 0 (one line naming it).
    """
    text = os.environ.get(LIMIT_VAR, "").strip()
    if not text:
        return int(DEFAULT_LIMIT_MB * MB)
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not (math.isfinite(mb) and mb >= 0):
        raise ParameterError(LIMIT_VAR, text, "must be a number of megabytes >= 0 "
                             "(0 keeps nothing)")
    return int(mb * MB)


def cache_key(n_users: int, spec: OrgSpec, seed: int) -> str:
    """Return the 16-hex-digit key of an organisation (stable across runs and machines)."""
    fields = {  # 8 and 8.0 are the same spec: hash floats as floats
        f.name: float(v) if f.type == "float" else v
        for f in dataclasses.fields(spec)
        for v in [getattr(spec, f.name)]
    }
    payload = {"format": CACHE_FORMAT, "n_users": int(n_users), "spec": fields, "seed": int(seed)}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_path(n_users: int, spec: OrgSpec, seed: int, cache_dir: Path | None = None) -> Path:
    """Return the file an organisation is (or would be) cached in."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return directory / f"{_PREFIX}{cache_key(n_users, spec, seed)}{_SUFFIX}"


def _read(path: Path, n_users: int, spec: OrgSpec, seed: int) -> Organisation | None:
    """Return the cached organisation, or None if the file is missing, unreadable or foreign."""
    try:
        org = Organisation.load(path)
    except _READ_ERRORS:
        return None
    if org.n_users != n_users or org.spec != spec or org.seed != seed:
        return None  # hash collision or a file copied in by hand
    try:
        os.utime(path)  # used now: the last file to be evicted
    except OSError:
        pass  # a read-only cache is still a cache
    return org


def _write(org: Organisation, path: Path) -> None:
    """Write ``org`` to ``path`` atomically: temp file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            org.save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_organisation(
    n_users: int, spec: OrgSpec, seed: int, cache_dir: Path | None = None
) -> tuple[Organisation, bool]:
    """Load the organisation for (n_users, spec, seed) from the cache, building it if needed.

    Args:
        n_users: Number of users (accounts), 2 to 1,000,000.
        spec: Shape of the organisation.
        seed: Integer seed >= 0 (a cache needs a reproducible seed, so no None or Generator).
        cache_dir: Directory of the cache; default :func:`default_cache_dir`.

    Returns:
        ``(organisation, from_cache)``; ``from_cache`` is False when it was built now. The
        result is identical either way (same arrays, spec and seed). If the cache cannot be
        written (read-only directory, full disk) a warning is issued and the freshly built
        organisation is returned.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ParameterError("seed", seed, "must be an integer >= 0 (cache needs a fixed seed)")
    seed = int(seed)
    _check_int("n_users", n_users, MIN_USERS, MAX_USERS, "users")
    if not isinstance(spec, OrgSpec):
        raise ParameterError("spec", spec, "must be an OrgSpec")
    spec.validate()
    path = cache_path(n_users, spec, seed, cache_dir)
    org = _read(path, n_users, spec, seed)
    if org is not None:
        return org, True
    org = build_organisation(n_users, spec, seed)
    limit = cache_limit_bytes()
    if limit > 0:
        try:
            _write(org, path)
            evict(path.parent, limit, keep=path)
        except OSError as exc:
            warnings.warn(f"could not write organisation cache {path}: {exc}", stacklevel=2)
    return org, False


@dataclasses.dataclass(frozen=True)
class CacheInfo:
    """What the cache holds: its folder, how many organisations, their bytes, the limit."""

    folder: Path
    files: int
    bytes: int
    limit_bytes: int


def _entries(directory: Path) -> list[tuple[float, int, Path]]:
    """(last use, bytes, path) of every cached organisation, least recently used first."""
    out = []
    for f in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        try:
            st = f.stat()
        except OSError:
            continue  # evicted by another process meanwhile
        out.append((st.st_mtime, st.st_size, f))
    return sorted(out)


def evict(directory: Path, limit: int, keep: Path | None = None) -> int:
    """Delete the least recently used organisations until the rest fit in ``limit`` bytes.

    ``keep`` (the file just written) stays, unless it alone exceeds the limit.
    Temporary files older than an hour (writes cut short) go too. Returns the bytes freed.
    """
    entries = _entries(directory)
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, f in entries:
        if f == keep and size > limit:  # would push out everything else and still not fit
            f.unlink(missing_ok=True)
            freed += size
    for _, size, f in entries:
        if total - freed <= limit:
            break
        if f != keep and f.exists():
            f.unlink(missing_ok=True)
            freed += size
    stale = time.time() - 3600
    for tmp in directory.glob(f".{_PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < stale:
                tmp.unlink()
    return freed


def cache_info(cache_dir: Path | None = None) -> CacheInfo:
    """The cache's folder, number of organisations, their total size and the limit."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entries = _entries(directory) if directory.is_dir() else []
    return CacheInfo(directory, len(entries), sum(size for _, size, _ in entries),
                     cache_limit_bytes())


def clear_cache(cache_dir: Path | None = None) -> int:
    """Delete every cached organisation (and stray temp files); return how many ``.npz`` went."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not directory.is_dir():
        return 0
    removed = 0
    for f in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        f.unlink(missing_ok=True)
        removed += 1
    for f in directory.glob(f".{_PREFIX}*.tmp"):
        f.unlink(missing_ok=True)
    return removed
