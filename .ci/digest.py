"""Canonical digests of a small sweep's result tables, for CI's cross-environment check.

Runs two small sweeps through the ``replyall`` command line (the fast engine, and the Mesa
engine on a few hundred users, each with two local workers) and prints one line per table:
``<sweep>/<table> <sha256 of the table's contents>``. The digest covers column names and
values in stored order, not the Parquet bytes (whose metadata names the writer's version), and
not the timings table. ``.ci/run`` compares the lines printed in its two environments.

    python .ci/digest.py [WORKDIR]
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SPECS = {
    "fast": """
name = "ci-fast"
description = "CI cross-environment check, fast engine."
scenario = "small"
engine = "fast"
root_seed = 20161114
replicates = 2
common_org = true
[fixed]
horizon_min = 480
[design]
kind = "grid"
[design.parameters.remove_rate]
values = [1e-3, 2e-3, 4e-3]
[design.parameters.cutoff_min]
values = [30.0, 120.0, inf]
[outputs]
series = true
series_every_min = 5
""",
    "mesa": """
name = "ci-mesa"
description = "CI cross-environment check, Mesa engine."
scenario = "small"
engine = "mesa"
root_seed = 7
replicates = 2
common_org = false
[fixed]
n_users = 400
horizon_min = 120
remove_rate = 1.2e-2
complain_rate = 1.2e-2
capacity_per_min = 400.0
degrade_backlog = 20000.0
[design]
kind = "grid"
[design.parameters.cutoff_min]
values = [30.0, 60.0]
[outputs]
series = true
series_every_min = 1
""",
}
TABLES = ("runs.parquet", "series.parquet")


def table_digest(frame: pd.DataFrame) -> str:
    """sha256 of a table's column names and values (numbers as float64 bytes, others as text)."""
    h = hashlib.sha256()
    h.update(str(len(frame)).encode())
    for column in frame.columns:
        h.update(b"\x1e" + str(column).encode())
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join(map(str, values.tolist())).encode())
    return h.hexdigest()


def main(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, spec in SPECS.items():
        spec_path = workdir / f"{name}.toml"
        spec_path.write_text(spec)
        out = workdir / name
        subprocess.run(
            [sys.executable, "-m", "replyall_storm.experiments", "sweep", str(spec_path),
             "--out", str(out), "--workers", "2", "--no-progress"],
            check=True,
        )
        for table in TABLES:
            frame = pd.read_parquet(out / table)
            print(f"{name}/{table} rows={len(frame)} {table_digest(frame)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="replyall-digest-") as tmp:
            main(Path(tmp))
