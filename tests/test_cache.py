"""The organisation cache keeps to its size limit (least recently used first) and
`replyall cache info|clear` show and empty it."""

from __future__ import annotations

import os
import time

import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.model.graph_cache import cache_info, cache_path, cached_organisation
from replyall_storm.model.org import OrgSpec

SPEC = OrgSpec()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("REPLYALL_CACHE", str(folder))
    monkeypatch.delenv("REPLYALL_CACHE_MAX_MB", raising=False)
    return folder


def npz(folder):
    return sorted(p.name for p in folder.glob("org-*.npz"))


def test_the_least_recently_used_organisations_go_first(cache, monkeypatch):
    cached_organisation(2000, SPEC, 1)
    size = cache_path(2000, SPEC, 1).stat().st_size
    monkeypatch.setenv("REPLYALL_CACHE_MAX_MB", str(2.5 * size / 1e6))  # room for two
    cached_organisation(2000, SPEC, 2)
    now = time.time()
    os.utime(cache_path(2000, SPEC, 1), (now - 100, now - 100))  # used long ago ...
    os.utime(cache_path(2000, SPEC, 2), (now - 50, now - 50))
    org, hit = cached_organisation(2000, SPEC, 1)  # ... and now again: the most recent
    assert hit
    cached_organisation(2000, SPEC, 3)  # a third: seed 2, the least recently used, goes
    assert npz(cache) == sorted(cache_path(2000, SPEC, s).name for s in (1, 3))
    info = cache_info()
    assert info.files == 2 and info.bytes <= info.limit_bytes
    # a file larger than the whole limit is not kept (the organisation is still returned)
    monkeypatch.setenv("REPLYALL_CACHE_MAX_MB", str(0.5 * size / 1e6))
    org, hit = cached_organisation(2000, SPEC, 4)
    assert not hit and org.n_users == 2000
    assert cache_info().bytes <= cache_info().limit_bytes


def test_a_zero_limit_keeps_nothing(cache, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE_MAX_MB", "0")
    org, hit = cached_organisation(500, SPEC, 7)
    again, hit_again = cached_organisation(500, SPEC, 7)
    assert not hit and not hit_again and org.n_users == again.n_users == 500
    assert not cache.exists() or npz(cache) == []


def test_cache_info_and_clear(cache):
    result = CliRunner().invoke(main, ["cache", "info"])
    assert result.exit_code == 0, result.output
    assert str(cache) in result.output and "files   0 organisations, 0.0 MB" in result.output
    for seed in (1, 2):
        cached_organisation(1000, SPEC, seed)
    total = sum(p.stat().st_size for p in cache.glob("org-*.npz"))
    result = CliRunner().invoke(main, ["cache", "info"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"folder  {cache} ($REPLYALL_CACHE)"
    assert lines[1] == f"files   2 organisations, {total / 1e6:.1f} MB"
    assert lines[2] == "limit   2,048 MB (the default; $REPLYALL_CACHE_MAX_MB sets it); the " \
        "least recently used files go first"
    (cache / ".org-0123-x.tmp").write_bytes(b"half")  # a write cut short
    result = CliRunner().invoke(main, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"removed 2 organisations ({total / 1e6:.1f} MB) from {cache}"
    assert list(cache.iterdir()) == []


def test_a_malformed_limit_is_one_line_before_any_work(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("REPLYALL_CACHE_MAX_MB", "lots")
    for args in (["cache", "info"],
                 ["run", "--scenario", "small", "--hours", "1", "--out", str(tmp_path / "r")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output.strip() == "error: REPLYALL_CACHE_MAX_MB='lots': must be a " \
            "number of megabytes >= 0 (0 keeps nothing)"
    assert not (tmp_path / "r").exists()
