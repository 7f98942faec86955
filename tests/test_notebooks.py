"""The notebooks are committed without outputs; running them is CI's `pytest --nbmake notebooks/`.

Run them the way CI does (fast mode: small organisations, few runs)::

    REPLYALL_FAST=1 pytest --nbmake notebooks/
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_explore_the_model", "02_the_2016_storm", "03_calibration", "04_mitigations",
            "05_every_storm"]


def test_the_four_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_outputs_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        where = f"{path.name} cell {i}: clear outputs before committing (nbstripout)"
        assert cell.get("outputs") == [], where
        assert cell.get("execution_count") is None, where
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: widget state saved"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_fast_mode(path):
    text = path.read_text(encoding="utf-8")
    assert "REPLYALL_FAST" in text, f"{path.name} must honour REPLYALL_FAST=1 (CI runs it so)"
