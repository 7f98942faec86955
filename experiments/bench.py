"""``replyall bench``: wall time, peak memory and engine speed-up, measured and printed.

Each measurement runs in a fresh process (so peak memory is that job's alone and no cache in
memory helps): the full NHS scenario (840,000 users, the first 24 simulated hours at
one-minute steps) with the graph built from scratch into an empty cache (cold) and then
loaded from that cache; and the speed of the fast engine against the Mesa engine per
agent-minute at 100,000 users (the Mesa side runs a few simulated minutes). Wall time "end to
end" counts everything from starting the child process to its answer: interpreter start-up
and imports ("start-up"), building or loading the graph, and simulating.
"""

from __future__ import annotations

import multiprocessing as mp
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click

from .io import write_json


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def nhs_day(cache_dir: str, users: int, minutes: int, seed: int) -> dict[str, Any]:
    """Child job: the NHS scenario for ``minutes`` minutes; timings and peak memory."""
    import os

    os.environ["REPLYALL_CACHE"] = cache_dir
    from replyall_storm.model.run import simulate
    from replyall_storm.model.scenarios import get_scenario

    params = get_scenario("nhs2016").params(n_users=users, horizon_min=minutes)
    result = simulate(params, seed=seed)
    s = result.summary
    return {
        "graph_s": s["graph_s"],
        "sim_s": s["sim_s"],
        "graph_cached": s["graph_cached"],
        "peak_mb": _peak_rss_mb(),
        "messages_per_user": s["messages_per_user"],
        "checks": int(result.series["checks"].sum()),
    }


def engine_speed(
    engine: str, users: int, minutes: int, seed: int, cache_dir: str
) -> dict[str, Any]:
    """Child job: seconds per agent-minute of one engine over the first ``minutes`` minutes."""
    import os

    os.environ["REPLYALL_CACHE"] = cache_dir
    from replyall_storm.model.run import build_engine
    from replyall_storm.model.scenarios import get_scenario

    params = get_scenario("nhs2016").params(n_users=users, horizon_min=minutes)
    t0 = time.perf_counter()
    eng = build_engine(engine, params, seed)  # the run's set-up, then the engine (agents)
    t1 = time.perf_counter()
    for _ in range(minutes):
        eng.step()
    t2 = time.perf_counter()
    checks = int(eng.loop.series()["checks"].sum())
    return {
        "engine": engine,
        "users": users,
        "minutes": minutes,
        "setup_s": t1 - t0 - eng.run_setup.graph_s,
        "step_s": t2 - t1,
        "per_agent_minute_s": (t2 - t1) / (users * minutes),
        "checks": checks,
        "peak_mb": _peak_rss_mb(),
    }


def _in_child(fn, *args) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        out = pool.submit(fn, *args).result()
    out["wall_s"] = time.perf_counter() - t0
    return out


@click.command()
@click.option(
    "--users",
    type=int,
    default=840_000,
    show_default=True,
    help="Users in the full-scale scenario.",
)
@click.option(
    "--hours",
    type=float,
    default=24.0,
    show_default=True,
    help="Simulated hours of the full-scale scenario.",
)
@click.option(
    "--speed-users",
    type=int,
    default=100_000,
    show_default=True,
    help="Users for the engine speed-up comparison.",
)
@click.option(
    "--mesa-minutes",
    type=int,
    default=5,
    show_default=True,
    help="Simulated minutes for the Mesa side of the speed-up.",
)
@click.option(
    "--fast-minutes",
    type=int,
    default=120,
    show_default=True,
    help="Simulated minutes for the fast side of the speed-up.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures to this JSON file.",
)
def bench(
    users: int,
    hours: float,
    speed_users: int,
    mesa_minutes: int,
    fast_minutes: int,
    seed: int,
    json_path: Path | None,
) -> None:
    """Measure the full NHS day (cold and cached graph) and the fast/Mesa speed-up."""
    from replyall_storm.model.errors import ParameterError

    for name, value, lo in (
        ("--users", users, 100),
        ("--speed-users", speed_users, 100),
        ("--mesa-minutes", mesa_minutes, 1),
        ("--fast-minutes", fast_minutes, 1),
    ):
        if value < lo:
            raise ParameterError(name, value, f"must be at least {lo}")
    minutes = int(round(hours * 60))
    if minutes < 1:
        raise ParameterError("--hours", hours, "must be > 0 (hours)")
    click.echo(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{mp.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="replyall-bench-") as cache:
        cold = _in_child(nhs_day, cache, users, minutes, seed)
        warm = _in_child(nhs_day, cache, users, minutes, seed)
        fast = _in_child(engine_speed, "fast", speed_users, fast_minutes, seed, cache)
        mesa_ = _in_child(engine_speed, "mesa", speed_users, mesa_minutes, seed, cache)
    click.echo(
        f"\nNHS scenario: {users:,} users, {hours:g} simulated hours, 1-minute steps, fast engine"
    )
    click.echo(f"  {'':<14}{'wall':>9}{'start-up':>10}{'graph':>9}{'simulate':>10}{'peak RSS':>11}")
    for label, r in (("cold graph", cold), ("cached graph", warm)):
        r["startup_s"] = r["wall_s"] - r["graph_s"] - r["sim_s"]
        click.echo(
            f"  {label:<14}{r['wall_s']:>8.1f}s{r['startup_s']:>9.1f}s"
            f"{r['graph_s']:>8.1f}s{r['sim_s']:>9.1f}s{r['peak_mb']:>8.0f} MB"
        )
    click.echo(
        f"  messages received per user: {cold['messages_per_user']:.1f}; "
        f"mail checks simulated: {cold['checks']:,}"
    )
    speedup = mesa_["per_agent_minute_s"] / fast["per_agent_minute_s"]
    click.echo(f"\nEngine speed at {speed_users:,} users (NHS scenario, from the first send)")
    for r in (fast, mesa_):
        click.echo(
            f"  {r['engine']:<5} {r['minutes']:>4} min simulated in {r['step_s']:7.2f} s "
            f"(set-up {r['setup_s']:5.1f} s): "
            f"{r['per_agent_minute_s'] * 1e9:9.1f} ns per agent-minute"
        )
    click.echo(f"  speed-up of the fast engine: {speedup:,.0f}x per agent-minute")
    if json_path:
        write_json(
            {
                "nhs_cold": cold,
                "nhs_cached": warm,
                "fast": fast,
                "mesa": mesa_,
                "speedup": speedup,
            },
            json_path,
        )
