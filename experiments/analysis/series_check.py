"""Checking the tables a fit reads, once, as they are loaded (independent of the fit itself).

A fit trusts its series: minutes that increase in even steps, counts (reply-alls per row)
and levels (messages received per member, the clock) that are finite and never negative, a
list that is active or not. :func:`check_series` refuses anything else in
one line naming the file, the column and the row (rows counted from 0, as Parquet readers
do), e.g. ``results/run/series.parquet: column sent_remove, row 42: -3 (counts must be finite
and >= 0)``; :func:`read_table` refuses a file that is not Parquet, naming the command that
rebuilds it. Both raise :class:`InputError`, a ParameterError: the CLI prints it as one line
with exit code 2, before anything is fitted or written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from replyall_storm.model.errors import ParameterError

COUNTS = ("sent_remove", "sent_complain", "accepted")  # reply-alls per row
LEVELS = ("received_per_user", "clock_h")  # messages per member so far; the clock (hours)
REQUIRED = ("minute", *COUNTS, *LEVELS, "list_active")


class InputError(ParameterError):
    """A result file that cannot be used as it is: one line naming it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__("PATH", str(path), problem)
        self.args = (f"{path}{'' if problem.startswith(' ') else ': '}{problem}",)

    def __str__(self) -> str:
        return str(self.args[0])


def read_table(path: Path, rebuild: str) -> pd.DataFrame:
    """The Parquet file ``path``; InputError naming it and ``rebuild`` if it is not one."""
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError):
        raise InputError(path, f" is not a readable Parquet file: rebuild it with `{rebuild}`"
                         ) from None


def check_series(frame: pd.DataFrame, path: Path) -> None:
    """InputError unless ``frame`` (a run's or a sweep's series) can be fitted as it is."""
    for column in REQUIRED:
        if column not in frame:
            raise InputError(path, f"has no column {column}")
    for column in (*COUNTS, *LEVELS):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            row = int(bad[0])
            what = "counts" if column in COUNTS else "values"
            raise InputError(path, f"column {column}, row {row}: {_shown(frame[column], row)} "
                             f"({what} must be finite and >= 0)")
    active = frame["list_active"]
    if active.isna().any() or not pd.api.types.is_bool_dtype(active):
        row = int(np.flatnonzero(active.isna().to_numpy())[0]) if active.isna().any() else 0
        raise InputError(path, f"column list_active, row {row}: {active.iloc[row]!r} (must be "
                         "true or false)")
    minute = pd.to_numeric(frame["minute"], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(minute) | (minute < 0) | (minute != np.round(minute)))
    if bad.size:
        row = int(bad[0])
        raise InputError(path, f"column minute, row {row}: {_shown(frame['minute'], row)} "
                         "(minutes must be whole numbers)")
    runs = frame["run_id"].to_numpy() if "run_id" in frame else np.zeros(len(frame), int)
    _check_minutes(minute, runs, path, "run_id" in frame)


def _check_minutes(minute: np.ndarray, runs: np.ndarray, path: Path, sweep: bool) -> None:
    """Each run's minutes increase in even steps (its last step may be shorter)."""
    starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
    seen: set[int] = set()
    for begin, end in zip(starts, [*starts[1:], len(runs)], strict=True):
        rid = int(runs[begin])
        where = f"; run {rid}" if sweep else ""
        if rid in seen:
            raise InputError(path, f"column run_id, row {begin}: {rid} (a run's rows must be "
                             "together)")
        seen.add(rid)
        m = minute[begin:end]
        step = np.diff(m)
        back = np.flatnonzero(step <= 0)
        if back.size:
            row = begin + int(back[0]) + 1
            raise InputError(path, f"column minute, row {row}: {m[back[0] + 1]:g} after "
                             f"{m[back[0]]:g} (minutes must increase{where})")
        if step.size > 1:
            uneven = np.flatnonzero(step[:-1] != step[0])
            if uneven.size or step[-1] > step[0]:
                i = int(uneven[0]) if uneven.size else step.size - 1
                raise InputError(path, f"column minute, row {begin + i + 1}: {m[i + 1]:g} "
                                 f"(steps of {step[0]:g} minutes before it{where}: a series "
                                 "is evenly spaced)")


def _shown(column: pd.Series, row: int) -> str:
    value = column.iloc[row]
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)
