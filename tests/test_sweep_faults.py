"""A sweep folder survives damage: corrupt, copied or foreign parts, a lost manifest, a full
disk, absurd designs and refused folders (experiments/sweeps/store.py, parts.py, validate.py).
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from replyall_storm.experiments.cli import main
from replyall_storm.experiments.sweeps import store as store_module
from replyall_storm.experiments.sweeps.spec import SpecError
from replyall_storm.experiments.sweeps.store import CorruptPartError, Store
from replyall_storm.experiments.sweeps.sweep import run_sweep
from replyall_storm.experiments.sweeps.validate import MAX_RUNS, load_spec
from replyall_storm.model.errors import ParameterError

TINY = {
    "name": "tiny", "scenario": "small", "root_seed": 11, "replicates": 3,
    "fixed": {"n_users": 500, "horizon_min": 240},
    "design": {"kind": "grid", "parameters": {
        "remove_rate": {"values": [1e-3, 4e-3]}, "cutoff_min": {"values": [30.0, float("inf")]}}},
    "outputs": {"series": True, "series_every_min": 10},
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep of TINY: its runs and series tables."""
    out = tmp_path_factory.mktemp("ref") / "tiny"
    run_sweep(TINY, out, workers=1, progress=False)
    return out, tables(out)


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "runs.parquet"), pd.read_parquet(out / "series.parquet")


def assert_same_tables(out: Path, reference) -> None:
    runs, series = tables(out)
    ref_runs, ref_series = reference[1]
    pd.testing.assert_frame_equal(runs, ref_runs)
    pd.testing.assert_frame_equal(series, ref_series)
    assert runs["run_id"].is_unique and (runs["status"] == "ok").all()


def part(out: Path, run_id: int, suffix: str = ".json") -> Path:
    return out / "parts" / "0000" / f"run-{run_id:06d}{suffix}"


def resume(out: Path) -> tuple[object, list[str]]:
    said: list[str] = []
    return run_sweep(TINY, out, workers=1, progress=False, log=said.append), said


def copy_of(reference, tmp_path: Path) -> Path:
    out = tmp_path / "tiny"
    shutil.copytree(reference[0], out)
    return out


def test_corrupt_parts_are_named_and_recomputed(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    (out / "runs.parquet").unlink()
    with part(out, 3, ".series.parquet").open("r+b") as f:  # truncate -s 300
        f.truncate(300)
    part(out, 7).write_text('{"run_id": 7, "status": "ok", "summ')  # garbled JSON
    edited = json.loads(part(out, 9).read_text())  # valid JSON, edited by hand
    edited["summary"]["messages_per_user"] += 1.0
    part(out, 9).write_text(json.dumps(edited))
    result, said = resume(out)
    warnings = [s for s in said if s.startswith("warning:")]
    assert sorted(warnings) == [
        "warning: parts/0000/run-000003.series.parquet is corrupt (checksum mismatch): "
        "recomputing",
        "warning: parts/0000/run-000007.json is corrupt (not valid JSON): recomputing",
        "warning: parts/0000/run-000009.json is corrupt (checksum mismatch): recomputing"]
    assert (result.ran, result.skipped) == (3, 9)
    assert_same_tables(out, reference)
    again, said = resume(out)  # and the folder is whole again
    assert (again.ran, again.skipped) == (0, 12) and not any("warning" in s for s in said)


@pytest.mark.parametrize("source, place", [(5, 7), (9, 2)])  # forwards and backwards
def test_a_part_copied_over_another_is_foreign_and_recomputed(reference, tmp_path, source,
                                                              place):
    out = copy_of(reference, tmp_path)
    for suffix in (".json", ".series.parquet"):  # cp run-000005.* run-000007.*
        shutil.copyfile(part(out, source, suffix), part(out, place, suffix))
    result, said = resume(out)
    assert f"warning: parts/0000/run-{place:06d}.json holds run {source}, not run {place} " \
        "(copied?): recomputing" in said
    assert (result.ran, result.skipped) == (1, 11)
    assert_same_tables(out, reference)


def test_a_part_in_another_shard_is_foreign(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    (out / "parts" / "0001").mkdir()
    shutil.copyfile(part(out, 4), out / "parts" / "0001" / "run-001004.json")
    store = Store(out)
    store.hashes = json.loads((out / "manifest.json").read_text())
    bad, problem = store.check_part(1004, series=False)
    assert (bad.name, problem) == ("run-001004.json", "holds run 4, not run 1004 (copied?)")
    assert store.check_part(4, series=True) is None


def test_a_part_from_another_sweep_is_foreign(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    other = run_sweep({**TINY, "root_seed": 12, "replicates": 1}, tmp_path / "other",
                      workers=1, progress=False)
    assert other.ran == 4
    for suffix in (".json", ".series.parquet"):
        shutil.copyfile(part(tmp_path / "other", 2, suffix), part(out, 2, suffix))
    result, said = resume(out)
    assert "warning: parts/0000/run-000002.json belongs to another sweep (spec hash " \
        "differs): recomputing" in said
    assert result.ran == 1
    assert_same_tables(out, reference)


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_a_lost_manifest_is_rebuilt_from_the_spec_when_the_parts_match(reference, tmp_path,
                                                                        damage):
    out = copy_of(reference, tmp_path)
    for rid in (1, 10):  # a partial sweep
        part(out, rid).unlink()
    (out / "runs.parquet").unlink()
    if damage == "deleted":
        (out / "manifest.json").unlink()
    else:
        (out / "manifest.json").write_text('{"format": 1, "spec": {')
    result, said = resume(out)
    note = {"deleted": "missing", "garbled": "unreadable"}[damage]
    assert f"warning: manifest.json was {note}: rebuilt from the spec, whose hash matches " \
        "the 10 runs in parts/" in said
    assert (result.ran, result.skipped) == (2, 10)
    assert_same_tables(out, reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rebuilt"] and manifest["n_runs"] == 12


def test_a_lost_manifest_with_parts_of_another_spec_is_refused(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    (out / "manifest.json").unlink()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(ParameterError, match="holds no manifest.json and its runs belong "
                                             "to another spec"):
        run_sweep({**TINY, "root_seed": 99}, out, workers=1, progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_parts_written_before_checksums_are_still_accepted(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    for p in (out / "parts").rglob("run-*.json"):  # as replyall-storm 0.1 wrote them
        record = json.loads(p.read_text())
        for key in ("sweep", "series_sha256", "record_sha256"):
            record.pop(key)
        p.write_text(json.dumps(record))
    result, said = resume(out)
    assert (result.ran, result.skipped) == (0, 12)
    assert any("carry no checksums" in s for s in said)
    assert_same_tables(out, reference)


def test_consolidation_refuses_a_part_corrupted_after_the_check(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    store = Store(out)
    store.hashes = json.loads((out / "manifest.json").read_text())
    with part(out, 6, ".series.parquet").open("r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    with pytest.raises(CorruptPartError, match=r"parts/0000/run-000006.series.parquet is "
                                               r"corrupt \(checksum mismatch\)"):
        store.consolidate(list(range(12)), ["remove_rate", "cutoff_min"], True)
    assert not part(out, 6).exists()  # so that the next run recomputes it
    result, _ = resume(out)
    assert result.ran == 1
    assert_same_tables(out, reference)


def test_disk_full_mid_sweep_keeps_completed_runs_and_is_one_line(reference, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "tiny"
    real, writes = store_module.atomic_write, [0]

    def full_after_five(path, write):
        writes[0] += 1
        if writes[0] > 10:  # 5 runs of 2 files each
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, write)

    monkeypatch.setattr(store_module, "atomic_write", full_after_five)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(TINY, out, workers=1, progress=False)
    assert len(list((out / "parts").rglob("run-*.json"))) == 5
    assert not list(out.rglob("*.tmp"))
    spec = tmp_path / "tiny.toml"
    spec.write_text(TOML)
    writes[0] = 0
    result = CliRunner().invoke(main, ["sweep", str(spec), "--workers", "1", "--no-progress",
                                       "--out", str(tmp_path / "cli")])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: No space left on device: ") and len(lines) == 1
    monkeypatch.setattr(store_module, "atomic_write", real)
    again, _ = resume(out)
    assert (again.ran, again.skipped) == (7, 5)
    assert_same_tables(out, reference)


TOML = """
name = "tiny"
scenario = "small"
root_seed = 11
replicates = 3
[fixed]
n_users = 500
horizon_min = 240
[design]
kind = "grid"
[design.parameters.remove_rate]
values = [1e-3, 4e-3]
[design.parameters.cutoff_min]
values = [30.0, inf]
[outputs]
series_every_min = 10
"""


def test_a_refused_sweep_leaves_nothing_in_a_foreign_folder(tmp_path):
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["sweep", "smoke", "--out", str(stranger),
                                       "--no-progress"])
    assert result.exit_code == 2 and "no manifest.json" in result.output
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]  # no .lock


@pytest.mark.parametrize("change, runs", [
    ({"replicates": 100_000_000_000}, 400_000_000_000),
    ({"design": {"kind": "grid", "parameters": {
        name: {"values": [1e-3 * (i + 1) for i in range(100)]}
        for name in ("remove_rate", "complain_rate", "mute_rate", "evening_activity")}}},
     100_000_000 * 3),
    ({"design": {"kind": "saltelli", "n": 2 ** 30, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-3}, "mute_rate": {"low": 0.0, "high": 0.1}}}},
     2 ** 30 * 6 * 3),
])
def test_an_absurd_design_is_refused_at_once_with_its_size(tmp_path, change, runs):
    t0 = time.perf_counter()
    with pytest.raises(SpecError) as err:
        load_spec({**TINY, **change})
    assert time.perf_counter() - t0 < 2.0
    assert f"{runs:,} runs" in str(err.value) and f"at most {MAX_RUNS:,}" in str(err.value)
    spec = tmp_path / "huge.toml"
    spec.write_text(TOML.replace("replicates = 3", "replicates = 100000000000"))
    result = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "huge")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "400,000,000,000 runs" in result.output and not (tmp_path / "huge").exists()


@pytest.mark.parametrize("design", [
    {"kind": "grid", "parameters": {"remove_rate": {"values": [1e-3, 2e-3, 3e-3]},
                                    "cutoff_min": {"values": [30.0, 60.0]}}},
    {"kind": "points", "parameters": {"remove_rate": {"values": [1e-3, 2e-3, 3e-3]},
                                      "cutoff_min": {"values": [30.0, 60.0, 90.0]}}},
    {"kind": "lhs", "n": 7, "parameters": {"remove_rate": {"low": 1e-4, "high": 1e-3}}},
    {"kind": "sobol", "n": 8, "parameters": {"remove_rate": {"low": 1e-4, "high": 1e-3}}},
    {"kind": "saltelli", "n": 8, "second_order": True, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-3}, "mute_rate": {"low": 0.0, "high": 0.1},
        "cutoff_min": {"low": 10.0, "high": 100.0}}},
    {"kind": "saltelli", "n": 8, "second_order": False, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-3}, "mute_rate": {"low": 0.0, "high": 0.1}}},
    {"kind": "morris", "n": 5, "levels": 4, "parameters": {
        "remove_rate": {"low": 1e-4, "high": 1e-3}, "mute_rate": {"low": 0.0, "high": 0.1}}},
])
def test_the_design_size_is_computed_without_building_it(design):
    spec = load_spec({**TINY, "design": design})
    assert spec.n_points == len(spec.points())


def test_a_run_out_of_memory_is_left_incomplete_not_failed(reference, tmp_path, monkeypatch):
    from replyall_storm.experiments.sweeps import sweep as sweep_module
    from replyall_storm.experiments.sweeps.executor import InfrastructureError
    from replyall_storm.experiments.sweeps.tasks import run_task

    def hungry(task):
        if task.run_id == 4:
            raise MemoryError("Unable to allocate 3.07 EiB")
        return run_task(task)

    monkeypatch.setattr(sweep_module, "run_task", hungry)
    out = tmp_path / "tiny"
    with pytest.raises(InfrastructureError, match=r"^1 runs ran out of memory \(MemoryError\) "
                       r"and were left incomplete.*; 11 of 12 runs are complete in .*: run the "
                       r"same command to resume$"):
        run_sweep(TINY, out, workers=1, progress=False)
    records = [json.loads(p.read_text()) for p in (out / "parts").rglob("run-*.json")]
    assert len(records) == 11 and all(r["status"] == "ok" for r in records)
    monkeypatch.setattr(sweep_module, "run_task", run_task)
    result, _ = resume(out)
    assert (result.ran, result.skipped) == (1, 11)
    assert_same_tables(out, reference)


@pytest.mark.parametrize("key", ["spec_hash", "params_hash", "design_hash"])
def test_a_part_sealed_by_a_sweep_differing_in_any_hash_is_foreign(reference, key):
    """Same spec but other scenario defaults (params hash) or another design (design hash)
    is another sweep too."""
    from replyall_storm.experiments.sweeps import parts

    out = reference[0]
    hashes = json.loads((out / "manifest.json").read_text())
    record, problem = parts.parse_record(part(out, 4).read_text())
    assert problem is None and parts.check_record(record, 4, hashes) is None
    other = {**{k: hashes[k] for k in parts.HASHES}, key: "0" * 64}
    assert parts.check_record(record, 4, other) == \
        f"belongs to another sweep ({key.replace('_', ' ')} differs)"


@pytest.mark.parametrize("key, what", [
    ("params_hash", "holds runs of other scenario parameters"),
    ("design_hash", "holds other design points"),
    ("spec_hash", "holds a different spec"),
])
def test_a_folder_of_another_sweep_by_any_hash_is_refused(reference, tmp_path, key, what):
    out = copy_of(reference, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest[key] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ParameterError, match=what):
        resume(out)


def test_retry_failed_runs_again_the_failed_runs_only(reference, tmp_path):
    from replyall_storm.experiments.sweeps import parts

    out = copy_of(reference, tmp_path)
    record = json.loads(part(out, 6).read_text())
    hashes, series_sum = record.pop("sweep"), record.pop("series_sha256")
    record.pop("record_sha256")
    failed = {**record, "status": "failed", "error_type": "RuntimeError", "error": "boom",
              "summary": None}
    part(out, 6).write_text(parts.seal(failed, hashes, series_sum))  # sealed: a sound part
    plain, _ = resume(out)
    assert (plain.ran, plain.skipped) == (0, 12) and (plain.runs["status"] == "failed").sum() == 1
    again = run_sweep(TINY, out, workers=1, progress=False, retry_failed=True)
    assert (again.ran, again.skipped) == (1, 11)
    assert_same_tables(out, reference)


def test_a_discarded_run_leaves_no_file_and_a_corrupt_record_is_never_read(reference,
                                                                          tmp_path):
    out = copy_of(reference, tmp_path)
    store = Store(out)
    store.hashes = json.loads((out / "manifest.json").read_text())
    store.discard(3)
    assert not part(out, 3).exists() and not part(out, 3, ".series.parquet").exists()
    part(out, 8).write_text('{"run_id": 8, "status": "ok", "summ')
    with pytest.raises(CorruptPartError, match="run-000008.json is corrupt"):
        store.read(8)
    assert not part(out, 8).exists() and not part(out, 8, ".series.parquet").exists()


def test_temporary_files_of_a_killed_writer_are_cleaned_everywhere(reference, tmp_path):
    out = copy_of(reference, tmp_path)
    left = [out / ".manifest.json.abc123.tmp", out / "parts" / "0000" / ".run-000003.json.x.tmp",
            out / "parts" / "0000" / ".run-000003.series.parquet.y.tmp"]
    for p in left:
        p.write_text("half")
    result, _ = resume(out)
    assert result.ran == 0 and not any(p.exists() for p in left)

