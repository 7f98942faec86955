"""``replyall run``: simulate one storm, print its summary, write its data and its figure."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from replyall_storm.model.contradictions import contradictions
from replyall_storm.model.engines import ENGINES, check_size
from replyall_storm.model.errors import ParameterError
from replyall_storm.model.inboxes import quantile_table
from replyall_storm.model.run import simulate
from replyall_storm.model.scenarios import SCENARIOS

from .. import seeds
from ..analysis.snapshots import SNAPSHOT_MINUTES, snapshot_tables
from ..io import writable_folder, write_json, write_parquet
from .options import WHOLE, resolve_params, scenario_options

SUMMARY_LINES = [
    ("messages_per_user", "messages received per user", "{:.1f}"),
    ("messages_read_per_user", "messages read per user", "{:.1f}"),
    ("reply_alls_accepted", "reply-alls delivered to the list", "{:,}"),
    ("senders", "users whose reply-all reached the list", "{:,}"),
    ("remove_me_sent", '"remove me" reply-alls sent', "{:,}"),
    ("complaints_sent", '"stop replying all" reply-alls sent', "{:,}"),
    ("bounced", "reply-alls bounced (list disabled)", "{:,}"),
    ("deliveries", "deliveries made", "{:,}"),
    ("purged", "deliveries purged", "{:,}"),
    ("peak_backlog", "peak backlog (deliveries)", "{:,}"),
    ("max_delay_min", "longest delivery delay (min)", "{:.0f}"),
    ("peak_unable_fraction", "peak share of failed mail checks", "{:.0%}"),
    ("cutoff_minute", "list disabled at (min)", "{:.0f}"),
    ("backlog_cleared_minute", "backlog cleared at (min)", "{:.0f}"),
    ("final_muted", "users who muted the thread", "{:,}"),
]


def format_summary(summary: dict) -> str:
    """The headline numbers as aligned text lines."""
    out = []
    for key, label, fmt in SUMMARY_LINES:
        value = summary.get(key)
        text = "n/a" if value is None or pd.isna(value) else fmt.format(value)
        out.append(f"  {label:<42} {text}")
    return "\n".join(out)


@click.command()
@scenario_options
@click.option(
    "--engine",
    default="fast",
    show_default=True,
    help=f"Engine: {', '.join(ENGINES)} (mesa: one Mesa agent per user, at most 200,000 users).",
)
@click.option("--seed", type=WHOLE, default=0, show_default=True, help="Root random seed.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder (default: results/run-SCENARIO-seedSEED in the working directory).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--no-cache", is_flag=True, help="Rebuild the organisation graph.")
def run(
    scenario: str,
    users: int | None,
    hours: float | None,
    settings: tuple[str, ...],
    engine: str,
    seed: int,
    out_dir: Path | None,
    no_progress: bool,
    no_cache: bool,
) -> None:
    """Simulate one storm (default: NHSmail 2016 at full scale, fast engine).

    Writes series.parquet (one row per simulated minute), summary.json, storm.png, and
    snapshots.parquet + graph_sample.parquet (a few hundred users' states at a few moments).
    """
    params = resolve_params(scenario, users, hours, settings)
    seeds.check_seed(seed)
    if engine not in ENGINES:
        raise ParameterError("engine", engine, f"must be one of {', '.join(ENGINES)}")
    if engine == "mesa":
        check_size(params.n_users, params.horizon_min)
    out_dir = writable_folder(out_dir or Path("results") / f"run-{scenario}-seed{seed}")
    for _, text in contradictions(params):
        click.echo(f"warning: {text}", err=True)
    click.echo(
        f"{scenario}: {params.n_users:,} users, {params.list_level} list, "
        f"{params.horizon_min / 60:g} h simulated, {engine} engine, seed {seed}"
    )
    result = simulate(
        params,
        seed=seed,
        engine=engine,
        progress=not no_progress,
        cache=not no_cache,
        snapshot_minutes=SNAPSHOT_MINUTES,
    )
    summary = {**result.summary, "scenario": scenario, **params.as_dict()}
    from ..figures.run_overview import plot_storm  # matplotlib is slow: only when needed

    write_parquet(result.series, out_dir / "series.parquet")
    write_parquet(quantile_table(result.transport), out_dir / "inboxes.parquet")
    storm = _storm_of(scenario)
    if storm is not None:  # what the run shows of the storm's reports, for the figures
        from ..calibration.observe import observed_values

        summary.update(observed_values(result, storm), observed_storm=storm)
    write_json(summary, out_dir / "summary.json")
    states, edges = snapshot_tables(result)
    write_parquet(states, out_dir / "snapshots.parquet")
    write_parquet(edges, out_dir / "graph_sample.parquet")
    plot_storm(
        result.series,
        summary,
        out_dir / "storm.png",
        title=f"{scenario}: {params.n_users:,} users, seed {seed}",
    )
    click.echo(format_summary(summary))
    click.echo(
        f"  graph {summary['graph_s']:.1f} s "
        f"({'cached' if summary['graph_cached'] else 'built'}), "
        f"simulation {summary['sim_s']:.1f} s"
    )
    click.echo(f"wrote {out_dir}/: series.parquet, inboxes.parquet, summary.json, storm.png, "
               "snapshots.parquet, graph_sample.parquet")


def _storm_of(scenario: str) -> str | None:
    """The storm of the data file a scenario reproduces, if any (only those read the file)."""
    return SCENARIOS[scenario].storm
