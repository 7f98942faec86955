"""Benchmarks (``replyall bench``): wall time, peak memory and the engines' speed-up, measured.

Each measurement runs in a fresh process (so peak memory is that job's alone and no cache in
memory helps): the full NHS scenario (840,000 users, the first 24 simulated hours at
one-minute steps) with the graph built from scratch into an empty cache (cold) and then
loaded from that cache; and the speed of the fast engine against the Mesa engine per
agent-minute at 100,000 users (the Mesa side runs a few simulated minutes). Wall time "end to
end" counts everything from starting the child process to its answer: interpreter start-up
and imports ("start-up"), building or loading the graph, and simulating.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from replyall_storm.model.errors import ParameterError
from replyall_storm.model.parameters import StormParams


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


def calibration_run(cache_dir: str, users: int, seed: int, repeats: int = 3) -> dict[str, Any]:
    """Child job: one run as the NHS calibration makes it, ``repeats`` times (graph cached).

    The ``calibrate_nhs`` spec's world (its fixed settings: 72 h, 100 databases), users
    simulated only while their reply-alls can reach the list (``users_until``), the transport
    alone after, in bulk (``model/drain.py``); what the run shows of every 2016 report read
    off it. Returns the median seconds per run (simulation and observation), the implied runs
    per hour per core, and the same run with the transport's tail stepped minute by minute
    (``stepped_s``, interleaved with the bulk runs so that both see the same machine load).
    """
    import os
    import statistics

    os.environ["REPLYALL_CACHE"] = cache_dir
    from replyall_storm.experiments.calibration.observe import observed_values, users_until
    from replyall_storm.experiments.calibration.settings import load_calibration
    from replyall_storm.model.run import simulate

    cal = load_calibration("calibrate_nhs")
    params = cal.spec.base_params().replace(n_users=users)
    storm = cal.abc.storm
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(repeats):
        for bulk in (True, False):
            t0 = time.perf_counter()
            result = simulate(params, seed=seed + r, org_seed=cal.spec.org_seed(), cache=True,
                              users_until=users_until(storm, params), bulk_drain=bulk)
            observed_values(result, storm)
            times[bulk].append(time.perf_counter() - t0)
    per_run, stepped = (statistics.median(times[b][1:] if repeats > 1 else times[b])
                        for b in (True, False))  # the first run loads the graph
    return {"users": users, "horizon_min": params.horizon_min,
            "users_until": users_until(storm, params), "run_s": per_run,
            "runs_per_core_hour": 3600.0 / per_run, "stepped_s": stepped,
            "peak_mb": _peak_rss_mb()}


def _in_child(fn, *args) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        out = pool.submit(fn, *args).result()
    out["wall_s"] = time.perf_counter() - t0
    return out


def check_sizes(users: int, hours: float, speed_users: int, mesa_minutes: int,
                fast_minutes: int) -> int:
    """The simulated minutes of the full-scale run; ParameterError for sizes too small."""
    for name, value, lo in (("--users", users, 100), ("--speed-users", speed_users, 100),
                            ("--mesa-minutes", mesa_minutes, 1),
                            ("--fast-minutes", fast_minutes, 1)):
        if value < lo:
            raise ParameterError(name, value, f"must be at least {lo}")
    longest = StormParams.__dataclass_fields__["horizon_min"].metadata["hi"]  # minutes
    if not (math.isfinite(hours) and 0 < hours * 60 <= longest):
        raise ParameterError("--hours", hours, f"must be in (0, {longest // 60}] (hours)")
    minutes = int(round(hours * 60))
    if minutes < 1:
        raise ParameterError("--hours", hours, "must be > 0 (hours)")
    return minutes


def measure(users: int = 840_000, hours: float = 24.0, speed_users: int = 100_000,
            mesa_minutes: int = 5, fast_minutes: int = 120, seed: int = 0) -> dict[str, Any]:
    """Run every measurement, each in a fresh process; return the figures.

    Returns ``nhs_cold`` and ``nhs_cached`` (the NHS scenario with the graph built, then from
    the cache: ``wall_s``, ``startup_s``, ``graph_s``, ``sim_s``, ``peak_mb``, ...), ``fast``
    and ``mesa`` (seconds per agent-minute), ``speedup`` (Mesa over fast, per agent-minute)
    and ``calibration_run`` (seconds per run as the NHS calibration makes them).

    Raises:
        ParameterError: a size too small to measure (one line naming the option).
    """
    minutes = check_sizes(users, hours, speed_users, mesa_minutes, fast_minutes)
    with tempfile.TemporaryDirectory(prefix="replyall-bench-") as cache:
        cold = _in_child(nhs_day, cache, users, minutes, seed)
        warm = _in_child(nhs_day, cache, users, minutes, seed)
        fast = _in_child(engine_speed, "fast", speed_users, fast_minutes, seed, cache)
        mesa_ = _in_child(engine_speed, "mesa", speed_users, mesa_minutes, seed, cache)
        calib = _in_child(calibration_run, cache, users, seed)
    for r in (cold, warm):
        r["startup_s"] = r["wall_s"] - r["graph_s"] - r["sim_s"]
    return {"nhs_cold": cold, "nhs_cached": warm, "fast": fast, "mesa": mesa_,
            "calibration_run": calib,
            "speedup": mesa_["per_agent_minute_s"] / fast["per_agent_minute_s"]}
