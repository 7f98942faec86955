"""``replyall compare``: the storm under each mitigation policy, as a table and a figure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from .mitigation import POLICIES, compare_spec, format_table, get_policies, policy_table
from .options import parse_settings

CALIBRATED = Path("results") / "calibrate-calibrate_nhs"
"""Where ``replyall calibrate experiments/specs/calibrate_nhs.toml`` leaves its results."""


def calibrated_changes(path: Path | None) -> tuple[dict, str]:
    """Parameter overrides from a calibration: its most probable accepted parameter set.

    ``path`` is a calibration folder (its ``accepted.parquet``: the accepted set with the
    largest ABC weight, a point inside the accepted region, unlike the marginal medians when
    parameters lie on a ridge) or a JSON file of parameters. Without ``path``, the default
    calibration folder is used if it exists, else the model's defaults.
    """
    import dataclasses

    import pandas as pd

    from replyall_storm.model.parameters import StormParams

    if path is None:
        if not (CALIBRATED / "accepted.parquet").exists():
            return {}, f"model defaults (no calibration in {CALIBRATED})"
        path = CALIBRATED
    path = Path(path)
    fields = {f.name for f in dataclasses.fields(StormParams)}
    try:
        if path.is_dir():
            accepted = pd.read_parquet(path / "accepted.parquet")
            best = accepted.sort_values(["weight", "distance"], ascending=[False, True]).iloc[0]
            params = {k: best[k].item() if hasattr(best[k], "item") else best[k]
                      for k in accepted.columns if k in fields}
        else:
            data = json.loads(path.read_text())
            params = dict(data.get("params", data))
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise ParameterError("--calibrated", str(path), "must be a calibration folder with "
                             f"accepted.parquet or a JSON file of parameters ({err})") from None
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in params.items())
    return params, f"calibrated parameters from {path} ({shown})"


@click.command()
@click.option("--scenario", default="nhs2016", show_default=True)
@click.option("--users", type=int, default=None, help="Users (default: the scenario's).")
@click.option("--replicates", type=int, default=10, show_default=True,
              help="Runs per policy (same seeds for every policy).")
@click.option("--policy", "policies", multiple=True,
              help="Policy to include (repeatable; default all): "
                   + "; ".join(p.name for p in POLICIES))
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a model parameter for every policy.")
@click.option("--calibrated", type=click.Path(path_type=Path), default=None,
              help=f"Calibration folder or JSON of parameters (default: {CALIBRATED} if it "
                   "exists).")
@click.option("--uncalibrated", is_flag=True,
              help="Use the scenario's defaults even if a calibration exists.")
@click.option("--seed", type=int, default=0, show_default=True, help="Root random seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder (default: results/compare-SCENARIO).")
@click.option("--scheduler", default=None, help="Dask scheduler address (default: local).")
@click.option("--workers", type=int, default=None, help="Local worker processes.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def compare(scenario: str, users: int | None, replicates: int, policies: tuple[str, ...],
            settings: tuple[str, ...], calibrated: Path | None, uncalibrated: bool, seed: int,
            out_dir: Path | None, scheduler: str | None, workers: int | None,
            no_progress: bool) -> None:
    """Run a scenario under each mitigation policy and under none; print and save a table.

    Every policy gets the same seeds (common random numbers). Writes comparison.csv,
    comparison.parquet and comparison.png, plus the sweep's runs and series.
    """
    from replyall_storm.model.scenarios import get_scenario

    from .sweep import run_sweep

    if replicates < 1:
        raise ParameterError("--replicates", replicates, "must be at least 1")
    if seed < 0:
        raise ParameterError("--seed", seed, "must be a non-negative integer")
    chosen = get_policies(list(policies))
    if uncalibrated and calibrated is not None:
        raise ParameterError("--uncalibrated", True, "cannot be combined with --calibrated")
    if uncalibrated:
        base_changes, source = {}, "the scenario's default parameters (--uncalibrated)"
    else:
        base_changes, source = calibrated_changes(calibrated)
    base_changes.update(parse_settings(settings))
    if users is not None:
        base_changes["n_users"] = users
    base = get_scenario(scenario).params(**base_changes)
    spec = compare_spec(scenario, base_changes, chosen, replicates, seed)
    out_dir = out_dir or Path("results") / f"compare-{scenario}"
    click.echo(f"{scenario}: {base.n_users:,} users, {len(chosen)} policies x {replicates} "
               f"replicates; {source}")
    result = run_sweep(spec, out_dir, scheduler=scheduler, workers=workers,
                       progress=not no_progress, log=click.echo)
    if result.interrupted:
        click.echo("interrupted: completed runs are kept; run the same command to resume")
        raise SystemExit(130)
    table = policy_table(result.runs, chosen, base.horizon_min)
    from .mitigation import write_outputs
    from .mitigation_plot import plot_comparison

    paths = write_outputs(table, out_dir)
    paths["png"] = plot_comparison(table, out_dir / "comparison.png")
    click.echo("\nmean [2.5 %, 97.5 %] over replicates; + : not restored within the run "
               "(counted as the horizon)")
    click.echo(format_table(table))
    if len(result.failed):
        click.echo(f"{len(result.failed)} runs failed: {dict(result.errors)}")
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())} "
               f"({result.wall_s:.0f} s)")
