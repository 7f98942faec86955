"""The README's Python API section runs as written (its code blocks, in order)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_blocks() -> list[str]:
    """The ```python blocks of the README's "## Python API" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_python_api_section_shows_every_job():
    blocks = python_api_blocks()
    assert len(blocks) == 5
    code = "\n".join(blocks)
    for name in ("simulate", "StormParams", "get_scenario", "run_sweep", "load_spec",
                 "fit_series", "calibrate", "load_storms", "predict"):
        assert re.search(rf"from replyall_storm import .*\b{name}\b", code), name


@pytest.mark.slow
def test_the_python_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLYALL_CACHE", str(tmp_path / "cache"))
    namespace: dict = {}
    for i, block in enumerate(python_api_blocks()):
        exec(compile(block, f"README.md Python API block {i + 1}", "exec"), namespace)
    assert namespace["result"].summary["messages_per_user"] > 1
    assert len(namespace["sweep"].runs) == 48 and (namespace["sweep"].runs["status"] == "ok").all()
    assert namespace["fit"]["status"] in ("ok", "unidentified", "boundary", "poor_fit")
    assert (tmp_path / "results" / "calibrate-demo" / "accepted.parquet").exists()
    assert set(namespace["cal"].posterior["parameter"]) == {"remove_rate", "cutoff_min"}
    assert namespace["nhs"].list_size == 840_000
