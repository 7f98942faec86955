"""`tests/soak.py` (``make soak``): runs split over copies, every run logged, failures counted.

The suite itself is replaced by a stand-in ``make`` on PATH, so these tests check the soak's
bookkeeping in seconds; the real soak is ``make soak`` (README, Tests).
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).with_name("soak.py")


def load_soak():
    spec = importlib.util.spec_from_file_location("soak_script", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_make(folder: Path, fail_in: str | None = None) -> Path:
    """A ``make`` that prints a pytest summary; it fails in copy `fail_in`."""
    folder.mkdir()
    script = folder / "make"
    fail = f'case "$PWD" in *{fail_in}) echo "1 failed, 9 passed in 1.0s"; exit 1;; esac' \
        if fail_in else ""
    script.write_text(f'#!/bin/sh\necho "collecting"\n{fail}\necho "10 passed in 1.0s"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def run_soak(tmp_path: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, str(SOAK), "--out", str(tmp_path / "out"), *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, named", [(["--runs", "0"], "--runs = 0"),
                                         (["--copies", "0"], "--copies = 0"),
                                         (["--stress", "-1"], "--stress = -1")])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, named):
    done = run_soak(tmp_path, tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and named in done.stderr
    assert not (tmp_path / "out").exists()


def test_runs_are_split_over_copies_and_each_is_logged(tmp_path):
    done = run_soak(tmp_path, fake_make(tmp_path / "bin"), "--runs", "3", "--copies", "2",
                    "--stress", "0")
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "out" / "log.txt").read_text().splitlines()
    runs = [ln for ln in log if " run " in ln]
    assert sorted(ln.split()[1:4] for ln in runs) == [["copy0", "run", "1/2"],
                                                      ["copy0", "run", "2/2"],
                                                      ["copy1", "run", "1/1"]]
    assert all("exit 0" in ln and ln.endswith("| 10 passed in 1.0s") for ln in runs)
    assert log[-1].startswith("# all 3 runs passed")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.out")) == [
        "copy0-run1.out", "copy0-run2.out", "copy1-run1.out"]


def test_a_failed_run_fails_the_soak_and_is_named(tmp_path):
    done = run_soak(tmp_path, fake_make(tmp_path / "bin", fail_in="copy1"), "--runs", "4",
                    "--copies", "2", "--stress", "0")
    assert done.returncode == 1
    tail = (tmp_path / "out" / "log.txt").read_text().splitlines()[-1]
    assert tail.startswith("# 2 of 4 runs failed: ")
    assert "copy1 run 1" in tail and "copy1 run 2" in tail and "copy0" not in tail


def test_summary_line_is_pytests_last():
    soak = load_soak()
    text = "x\n==== 3 failed, 5 passed in 2.0s ====\nmake: *** [test] Error 1\n"
    assert soak.last_line(text) == "3 failed, 5 passed in 2.0s"
    assert soak.last_line("") == "(no output)"
