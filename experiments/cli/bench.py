"""``replyall bench``: wall time, peak memory and engine speed-up, measured and printed.

The measurements are :func:`..benchmark.measure`'s (each in a fresh process); this module
prints them as the table the README quotes and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import multiprocessing as mp
import platform
from pathlib import Path

import click

from .. import seeds
from ..benchmark import check_sizes, measure
from ..io import writable_file, write_json
from .options import NUMBER, WHOLE


@click.command()
@click.option("--users", type=WHOLE, default=840_000, show_default=True,
              help="Users in the full-scale scenario.")
@click.option("--hours", type=NUMBER, default=24.0, show_default=True,
              help="Simulated hours of the full-scale scenario.")
@click.option("--speed-users", type=WHOLE, default=100_000, show_default=True,
              help="Users for the engine speed-up comparison.")
@click.option("--mesa-minutes", type=WHOLE, default=5, show_default=True,
              help="Simulated minutes for the Mesa side of the speed-up.")
@click.option("--fast-minutes", type=WHOLE, default=120, show_default=True,
              help="Simulated minutes for the fast side of the speed-up.")
@click.option("--seed", type=WHOLE, default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the figures to this JSON file.")
def bench(users: int, hours: float, speed_users: int, mesa_minutes: int, fast_minutes: int,
          seed: int, json_path: Path | None) -> None:
    """Measure the full NHS day (cold and cached graph) and the fast/Mesa speed-up."""
    check_sizes(users, hours, speed_users, mesa_minutes, fast_minutes)
    seeds.check_seed(seed)
    if json_path is not None:
        writable_file(json_path, "--json")
    click.echo(f"machine: {platform.processor() or platform.machine()}, "
               f"{mp.cpu_count()} cores, Python {platform.python_version()}")
    figures = measure(users, hours, speed_users, mesa_minutes, fast_minutes, seed)
    cold, warm = figures["nhs_cold"], figures["nhs_cached"]
    click.echo(f"\nNHS scenario: {users:,} users, {hours:g} simulated hours, 1-minute steps, "
               "fast engine")
    click.echo(f"  {'':<14}{'wall':>9}{'start-up':>10}{'graph':>9}{'simulate':>10}"
               f"{'peak RSS':>11}")
    for label, r in (("cold graph", cold), ("cached graph", warm)):
        click.echo(f"  {label:<14}{r['wall_s']:>8.1f}s{r['startup_s']:>9.1f}s"
                   f"{r['graph_s']:>8.1f}s{r['sim_s']:>9.1f}s{r['peak_mb']:>8.0f} MB")
    click.echo(f"  messages received per user: {cold['messages_per_user']:.1f}; "
               f"mail checks simulated: {cold['checks']:,}")
    click.echo(f"\nEngine speed at {speed_users:,} users (NHS scenario, from the first send)")
    for r in (figures["fast"], figures["mesa"]):
        click.echo(f"  {r['engine']:<5} {r['minutes']:>4} min simulated in {r['step_s']:7.2f} s "
                   f"(set-up {r['setup_s']:5.1f} s): "
                   f"{r['per_agent_minute_s'] * 1e9:9.1f} ns per agent-minute")
    click.echo(f"  speed-up of the fast engine: {figures['speedup']:,.0f}x per agent-minute")
    c = figures["calibration_run"]
    click.echo(f"\nA calibration run (calibrate_nhs: {c['users']:,} users, "
               f"{c['horizon_min'] / 60:g} h, users simulated to minute {c['users_until']}, "
               "every report observed)")
    click.echo(f"  {c['run_s']:.2f} s a run: {c['runs_per_core_hour']:,.0f} runs per core-hour, "
               f"peak RSS {c['peak_mb']:.0f} MB")
    click.echo(f"  {c['stepped_s']:.2f} s with the transport's tail stepped minute by minute: "
               f"the tail in bulk is {c['stepped_s'] / c['run_s']:.1f}x faster a run")
    if json_path:
        write_json(figures, json_path)
