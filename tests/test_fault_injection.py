"""The fault-injection script (tests/fault_injection.py) on the smoke sweep, one test per fault.

Every fault ends, after a plain resume, with runs.parquet and series.parquet equal to an
uninterrupted sweep's; the faulted command's exit code and warnings are the documented ones.
"""

from __future__ import annotations

import random

import pytest
from fault_injection import Injector, has_dask


@pytest.fixture(scope="module")
def injector(tmp_path_factory):
    return Injector("smoke", tmp_path_factory.mktemp("faults"), workers=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_kill_9_at_a_random_point(injector, seed):
    injector.rng = random.Random(seed)
    report = injector.kill_9()
    assert report.identical, report.line()
    assert report.code in (-9, 0), report.line()  # 0: it finished before the kill
    assert report.kept + report.recomputed == injector.n_runs, report.line()


@pytest.mark.slow
@pytest.mark.parametrize("fault, code", [("scheduler-loss", 75), ("dask-worker-loss", 0)])
def test_dask_faults(injector, fault, code):
    if not has_dask():
        pytest.skip("distributed is not installed")
    report = injector.inject(fault)
    assert report.identical and report.code == code, report.line()
    if fault == "scheduler-loss":
        assert report.recomputed == injector.n_runs - report.kept > 0, report.line()


@pytest.mark.slow
def test_local_worker_loss(injector):
    report = injector.inject("local-worker-loss")
    assert report.identical and report.code == 75, report.line()
    assert report.recomputed == injector.n_runs - report.kept > 0, report.line()


@pytest.mark.slow
@pytest.mark.parametrize("fault, warned", [
    ("corrupt-part", ["series.parquet is corrupt (checksum mismatch): recomputing",
                      ".json is corrupt (not valid JSON): recomputing"]),
    ("copied-part", ["(copied?): recomputing"]),
])
def test_damaged_parts(injector, fault, warned):
    report = injector.inject(fault)
    assert report.identical and report.code == 130, report.line()
    for text in warned:
        assert any(text in note for note in report.notes), report.line()
