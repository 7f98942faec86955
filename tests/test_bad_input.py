"""Every bad input is one line on stderr, exit code 2, before any work and nothing written.

Click's own usage errors included; non-finite numbers; output folders that cannot be written
(inside a file, under /dev/null, read-only, non-UTF-8 names); a broken data file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


def one_line(result, code: int = 2) -> str:
    """The single line a failed command printed (asserting there is exactly one)."""
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (["run", "--users", "abc"], "error: --users='abc': must be a whole number"),
    (["run", "--users", "1.5"], "error: --users='1.5': must be a whole number"),
    (["run", "--seed", "x"], "error: --seed='x': must be a whole number"),
    (["run", "--hours", "soon"], "error: --hours='soon': must be a finite number"),
    (["run", "--hours", "inf"], "error: --hours='inf': must be a finite number"),
    (["run", "--hours", "nan"], "error: --hours='nan': must be a finite number"),
    (["bench", "--hours", "nan"], "error: --hours='nan': must be a finite number"),
    (["bench", "--hours", "-inf"], "error: --hours='-inf': must be a finite number"),
    (["fit", ".", "--until", "nan"], "error: --until='nan': must be a finite number"),
    (["fit", ".", "--level", "inf"], "error: --level='inf': must be a finite number"),
    (["compare", "--replicates", "two"], "error: --replicates='two': must be a whole number"),
    (["sweep", "smoke", "--workers", "many"], "error: --workers='many': must be a whole number"),
    (["fit", ".", "--intervals", "nope"], "error: --intervals"),
    (["run", "--bogus"], "error: no such option '--bogus'"),
    (["sweep"], "error: missing argument 'SPEC'"),
    (["nosuchcommand"], "error: no such command 'nosuchcommand'"),
    (["--bogus"], "error: no such option '--bogus'"),
])
def test_click_usage_errors_are_one_line_naming_option_and_value(args, expected):
    line = one_line(CliRunner().invoke(main, args))
    assert line.startswith(expected), line
    assert "Usage:" not in line and "Try '" not in line


def test_help_still_works():
    for args in (["--help"], ["run", "--help"], ["sweep", "-h"], ["cache", "--help"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args
    for args in ([], ["cache"]):  # a group alone shows its help, as click does
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "Commands:" in result.output, args


@pytest.mark.parametrize("hours", ["1e308", "1e6", "-5", "0"])
def test_hours_out_of_range_name_the_option(tmp_path, hours):
    out = tmp_path / "out"
    line = one_line(CliRunner().invoke(main, ["run", "--scenario", "small", "--hours", hours,
                                              "--out", str(out), "--no-progress"]))
    assert line.startswith(f"error: --hours={float(hours)!r}: must be")
    assert not out.exists()


def test_bench_hours_too_large_is_refused():
    line = one_line(CliRunner().invoke(main, ["bench", "--hours", "1e308"]))
    assert line.startswith("error: --hours=1e+308: must be")


@pytest.mark.parametrize("until", ["-5", "0"])
def test_fit_until_must_be_positive(tmp_path, until):
    run = tmp_path / "run"
    run.mkdir()
    line = one_line(CliRunner().invoke(main, ["fit", str(run), "--until", until]))
    assert line.startswith(f"error: --until={float(until)!r}: must be > 0")
    assert list(run.iterdir()) == []


@pytest.mark.parametrize("where", ["/dev/null/x", "FILE/x", "FILE"])
def test_unwritable_out_is_refused_before_simulating(tmp_path, where):
    (tmp_path / "FILE").write_text("a file, not a folder")
    out = where.replace("FILE", str(tmp_path / "FILE"))
    for args in (["run", "--scenario", "small", "--hours", "1", "--no-progress"],
                 ["sweep", "smoke", "--workers", "1", "--no-progress"],
                 ["compare", "--scenario", "small", "--uncalibrated", "--replicates", "1",
                  "--no-progress"],
                 ["figures", "--sample"]):
        line = one_line(CliRunner().invoke(main, [*args, "--out", out]))
        assert line.startswith(f"error: --out={out!r}: ") and "folder" in line, line
    assert (tmp_path / "FILE").read_text() == "a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]  # no cache, no .lock


def test_fit_out_in_an_unwritable_place_is_refused_before_fitting(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    line = one_line(CliRunner().invoke(main, ["fit", str(run), "--out", "/dev/null/x.parquet"]))
    assert line.startswith("error: --out='/dev/null/x.parquet': ")


def test_bench_json_in_an_unwritable_place_is_refused_before_measuring():
    line = one_line(CliRunner().invoke(main, ["bench", "--json", "/dev/null/b.json"]))
    assert line.startswith("error: --json='/dev/null/b.json': ")


def test_non_utf8_out_is_refused_before_any_file(tmp_path):
    bad = os.fsdecode(bytes(tmp_path) + b"/caf\xe9")  # latin-1 bytes: not UTF-8
    for args in (["sweep", "smoke", "--workers", "1", "--no-progress"],
                 ["run", "--scenario", "small", "--hours", "1", "--no-progress"]):
        line = one_line(CliRunner().invoke(main, [*args, "--out", bad]))
        assert "not valid UTF-8" in line, line
    assert list(tmp_path.iterdir()) == []
    # and from a real shell: the bytes as the kernel passes them
    env = {**os.environ, "REPLYALL_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable.encode(), b"-m", b"replyall_storm", b"sweep",
                           b"smoke", b"--out", bytes(tmp_path) + b"/caf\xe9", b"--no-progress"],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(b"\n") == 1 and b"not valid UTF-8" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def as_ordinary_user(args: list[str]) -> tuple[int, str]:
    """(exit code, output) of ``replyall ARGS`` run by a user who is not root.

    As root (who may write anywhere) the command runs in a forked child that has dropped to
    nobody (uid 65534): the package is already imported, so the checkout need not be
    readable by that user.
    """
    if os.geteuid() != 0:
        result = CliRunner().invoke(main, args)
        return result.exit_code, result.output
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run the command, report, exit
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            result = CliRunner().invoke(main, args)
            os.write(write, json.dumps([result.exit_code, result.output]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    code, output = json.loads(data)
    return code, output


def test_read_only_out_is_refused_for_a_user_who_cannot_write(monkeypatch):
    top = Path(tempfile.mkdtemp(prefix="replyall-ro-"))
    try:
        top.chmod(0o755)
        ro = top / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH
                 | stat.S_IXOTH)
        cache = top / "cache"
        cache.mkdir()
        cache.chmod(0o777)
        monkeypatch.setenv("REPLYALL_CACHE", str(cache))
        code, output = as_ordinary_user(["run", "--scenario", "small", "--hours", "1", "--out",
                                         str(ro / "x"), "--no-progress"])
        lines = [ln for ln in output.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1, output
        assert lines[0].startswith(f"error: --out={str(ro / 'x')!r}: is not writable"), lines
        assert not list(ro.iterdir()) and not list(cache.iterdir())  # refused before building
    finally:
        (top / "ro").chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)


def test_a_broken_data_file_is_one_line_and_only_for_the_commands_that_read_it(tmp_path):
    bad = tmp_path / "storms.toml"
    bad.write_text("schema = 1\n[[storm]]\nid = 'Bad Id'\n")
    # the installed data file, as if edited badly: every read of it returns the bad text
    patched = ("import pathlib, sys; read = pathlib.Path.read_text; "
               "pathlib.Path.read_text = lambda self, *a, **k: (read(pathlib.Path("
               f"{str(bad)!r}), *a, **k) if self.as_posix().endswith('data/storms.toml') "
               "else read(self, *a, **k)); "
               "from replyall_storm.experiments.cli import main; main(sys.argv[1:])")
    env = {**os.environ, "REPLYALL_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}

    def replyall(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", patched, *args], capture_output=True,
                              text=True, env=env, timeout=300, cwd=tmp_path)

    for args in (["calibrate", "calibrate_nhs", "--quick", "--out", str(tmp_path / "cal")],
                 ["storms", "--samples", "50", "--out", str(tmp_path / "cmp")]):
        proc = replyall(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: storms.toml")
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "cal").exists() and not (tmp_path / "cmp").exists()
    ok = replyall("run", "--scenario", "small", "--hours", "1", "--out", str(tmp_path / "run"),
                  "--no-progress")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("source, allowed", [
    ("/dev/zero", "is not a regular file"), ("/tmp", "is not a regular file"),
    ("BIG", "is 2,000,000 bytes: a spec is a TOML file of at most 1,000,000"),
    ("LATIN1", "cannot be read: 'utf-8' codec can't decode"),
])
def test_a_spec_that_is_not_a_small_text_file_is_one_line_at_once(tmp_path, source, allowed):
    (tmp_path / "BIG").write_text("# padding\n" * 200_000)
    (tmp_path / "LATIN1").write_bytes(b'name = "caf\xe9"\n')
    source = str(tmp_path / source) if source.isupper() else source
    line = one_line(CliRunner().invoke(main, ["sweep", source, "--out", str(tmp_path / "o")]))
    assert line.startswith(f"error: SPEC={source!r}: {allowed}"), line
    assert not (tmp_path / "o").exists()
