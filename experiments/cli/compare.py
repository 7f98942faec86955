"""``replyall compare``: the storm under each mitigation policy, as a table and a figure.

The work is :func:`..analysis.mitigations.compare_policies`; this module reads the options,
says which parameters the runs use (the calibration's, then ``--set``) and prints the table.
"""

from __future__ import annotations

from pathlib import Path

import click

from replyall_storm.model.errors import ParameterError

from .. import seeds
from ..analysis.mitigations import (
    POLICIES,
    compare_policies,
    format_table,
    get_policies,
    switched_on,
)
from ..io import writable_folder
from .options import WHOLE, parse_settings, say


@click.command()
@click.option("--scenario", default="nhs2016", show_default=True)
@click.option("--users", type=WHOLE, default=None, help="Users (default: the scenario's).")
@click.option("--replicates", type=WHOLE, default=10, show_default=True,
              help="Runs per policy (same seeds for every policy).")
@click.option("--policy", "policies", multiple=True,
              help="Policy to include (repeatable; default all): "
                   + "; ".join(p.name for p in POLICIES))
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override a model parameter for every policy.")
@click.option("--calibrated", type=click.Path(path_type=Path), default=None,
              help="Calibration folder or JSON of parameters (default: "
                   "results/calibrate-calibrate_nhs in the "
                   "working directory, if it exists).")
@click.option("--uncalibrated", is_flag=True,
              help="Use the scenario's defaults even if a calibration exists.")
@click.option("--seed", type=WHOLE, default=0, show_default=True, help="Root random seed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=None, help="Output folder (default: results/compare-SCENARIO in the "
              "working directory).")
@click.option("--scheduler", default=None, help="Dask scheduler address (default: local).")
@click.option("--workers", type=WHOLE, default=None, help="Local worker processes.")
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

    # imported here: the calibration package reads the storms data file (which may be broken)
    from ..calibration.accepted import calibrated_changes, describe

    if replicates < 1:
        raise ParameterError("--replicates", replicates, "must be at least 1")
    seeds.check_seed(seed)
    chosen = get_policies(list(policies))
    if uncalibrated and calibrated is not None:
        raise ParameterError("--uncalibrated", True, "cannot be combined with --calibrated")
    if uncalibrated:
        base_changes, source = {}, "the scenario's default parameters (--uncalibrated)"
    else:
        base_changes, source = calibrated_changes(calibrated)
    overrides = parse_settings(settings)
    base_changes.update(overrides)
    if users is not None:
        base_changes["n_users"] = users
    base = get_scenario(scenario).params(**base_changes)
    out_dir = writable_folder(out_dir or Path("results") / f"compare-{scenario}")
    click.echo(f"{scenario}: {base.n_users:,} users, {len(chosen)} policies x {replicates} "
               f"replicates")
    click.echo(f"  parameters: {source}" + (f"; then --set {', '.join(overrides)}"
                                            if overrides else ""))
    off = switched_on(base)
    if off and any(p.baseline for p in chosen):
        click.echo(f"  note: the 'no intervention' row turns off {', '.join(off)} (set for the "
                   "other rows): it runs without any mitigation")
    ran_with = {k: getattr(base, k) for k in base_changes if k != "n_users"}
    if ran_with:  # the values every run starts from, after --set (each policy adds its own)
        click.echo(f"  running with: {describe(ran_with)}")
    done = compare_policies(scenario, base_changes, chosen, replicates, seed, out_dir,
                            scheduler=scheduler, workers=workers, progress=not no_progress,
                            log=say)
    if done is None:
        click.echo("interrupted: completed runs are kept; run the same command to resume", err=True)
        raise SystemExit(130)
    table, result, paths = done.table, done.sweep, done.paths
    click.echo("\nmean [2.5 %, 97.5 %] over replicates; + : not restored within the run "
               "(counted as the horizon)")
    click.echo(format_table(table))
    if len(result.failed):
        click.echo(f"{len(result.failed)} runs failed: {dict(result.errors)}")
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())} "
               f"({result.wall_s:.0f} s)")
