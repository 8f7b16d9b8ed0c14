"""Full-engine throughput, finishing share and peak memory of a scenario (chain off).

- ``wall_s``: ``simulate(load_scenario("baseline"))`` end to end (world, engine, run-off,
  streamed tables, KPIs), the model already registered (training is not timed). Goal:
  < 60 s. Split into ``setup_s`` (model load, world build, populations, engine wiring),
  ``sim_wall_s`` (the simpy event loop: arrivals, decisions, auctions, loans and run-off, and
  the tables streamed as it goes) and ``finish_s`` (sink close, the rows left, loan CETs,
  final event tables, ledger check, KPIs); see ``definitions`` in the output.
- ``requests_per_s``: loan requests / wall time of the event loop (``stats["sim_wall_s"]``);
  ``requests_per_s_total`` uses the whole ``simulate`` wall. Goal: >= 2,000/s.
- ``finish_share``: ``finish_s / wall_s``. Goal: <= 0.10.
- ``peak_rss_mb``: peak resident memory of a whole run (``ru_maxrss`` of a process that runs
  only it) at horizons of 30 and 180 days (the scenario with ``horizon_days`` overridden),
  each in its own process. Goals: <= 1,024 MB at 180 days and at most 1.5 times the 30-day
  figure (memory flat in the horizon).
- ``events_ratio``: engine events/s (``stats["events"] / stats["sim_wall_s"]``) divided by raw
  simpy events/s measured here in the same process (``n_procs`` processes looping on
  ``env.timeout``, before and after the run, averaged). A figure, not a goal: batching, which
  makes the engine faster, lowers it.

``quick`` uses the ``small`` scenario, a shorter raw loop and horizons of 2 and 12 days.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["peak_rss_mb", "raw_simpy_events_per_s", "run"]

_REPO_ROOT = Path(__file__).resolve().parents[2]

#: run in a fresh process: simulate one scenario, print its peak RSS (MB) as JSON
_CHILD = """
import json, resource, sys, tempfile
from pathlib import Path
from sim.config.scenario import load_scenario
from sim.run.simulation import simulate
name, models, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
with tempfile.TemporaryDirectory(prefix="ce-bench-") as out:
    res = simulate(load_scenario(name, overrides), models_dir=Path(models), out_dir=Path(out))
    stats = {k: res.stats[k] for k in ("requests", "wall_s", "finish_s")}
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **stats}))
"""


def raw_simpy_events_per_s(n_procs: int = 100, steps: int = 2_000) -> dict[str, float]:
    """Events/s of bare simpy: ``n_procs`` processes each doing ``steps`` ``env.timeout(1)``."""
    import simpy

    env = simpy.Environment()

    def proc():
        timeout = env.timeout
        for _ in range(steps):
            yield timeout(1)

    for _ in range(n_procs):
        env.process(proc())
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    # each process: 1 Initialize event + `steps` timeouts + the process' own completion event
    events = n_procs * (steps + 2)
    return {"events": float(events), "wall_s": wall, "events_per_s": events / wall}


def peak_rss_mb(scenario: str, horizon_days: float, models_dir: Path) -> dict[str, float]:
    """Peak RSS (MB) of one chain-off run of ``scenario`` at ``horizon_days``, measured in a
    process of its own (``ru_maxrss`` there), with its requests and wall time."""
    overrides = [f"horizon_days={horizon_days:g}", "chain.backend=off"]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, scenario, str(models_dir), *overrides],
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"peak_rss_mb run {scenario} horizon_days={horizon_days:g}: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    from sim.config.scenario import load_scenario
    from sim.model import ensure_model
    from sim.run.simulation import simulate

    name = "small" if quick else "baseline"
    horizons = (2.0, 12.0) if quick else (30.0, 180.0)
    models_dir = Path("models").resolve()
    scenario = load_scenario(name)
    ensure_model(scenario, models_dir)  # training (first use) is not part of the measurement
    raw = raw_simpy_events_per_s(100, 500 if quick else 2_000)
    t0 = time.perf_counter()
    result = simulate(scenario, models_dir=models_dir)
    wall = time.perf_counter() - t0
    st = result.stats
    sim_wall = float(st.get("sim_wall_s", wall))
    events = int(st["events"])
    requests = int(st["requests"])
    engine_eps = events / sim_wall
    raw_after = raw_simpy_events_per_s(100, 500 if quick else 2_000)
    raw_eps = (raw["events_per_s"] + raw_after["events_per_s"]) / 2.0
    finish_share = float(st["finish_s"]) / float(st["wall_s"])
    memory = {f"{h:g}d": peak_rss_mb(name, h, models_dir) for h in horizons}
    short, long = (memory[f"{h:g}d"]["peak_rss_mb"] for h in horizons)
    return {
        "scenario": name,
        "wall_s": wall,
        "setup_s": st.get("setup_s"),
        "sim_wall_s": sim_wall,
        "finish_s": st.get("finish_s"),
        "finish_share": finish_share,
        "simulated_days": st.get("simulated_days"),
        "requests": requests,
        "loans": st.get("loans"),
        "requests_per_s": requests / sim_wall,
        "requests_per_s_total": requests / wall,
        "engine_events": events,
        "engine_events_per_s": engine_eps,
        "raw_simpy_events_per_s": raw_eps,
        "events_ratio": engine_eps / raw_eps,
        "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in memory.items()},
        "peak_rss_ratio": long / short,
        "peak_rss_runs": memory,
        "definitions": {
            "wall_s": "simulate() end to end, model already registered (training not timed)",
            "setup_s": "model load + world build + populations + engine wiring (in wall_s)",
            "sim_wall_s": "the simpy event loop incl. run-off and streamed tables (in wall_s)",
            "finish_s": "sink close, rows left, CETs, final tables, ledger check, KPIs (in wall_s)",
            "finish_share": "finish_s / wall_s of simulate() (goal metric)",
            "requests_per_s": "requests / sim_wall_s (goal metric)",
            "requests_per_s_total": "requests / wall_s",
            "engine_events_per_s": "simpy events processed by the run / sim_wall_s",
            "raw_simpy_events_per_s": "bare env.timeout loops, same process, mean of before/after",
            "events_ratio": "engine_events_per_s / raw_simpy_events_per_s (a figure, no goal)",
            "peak_rss_mb": "ru_maxrss of a process running one chain-off run, per horizon",
            "peak_rss_ratio": "peak_rss_mb of the longer horizon / of the shorter (goal metric)",
        },
        "goals": {
            "wall_s": 60.0,
            "requests_per_s": 2000.0,
            "finish_share": 0.10,
            "peak_rss_mb_long": 1024.0,
            "peak_rss_ratio": 1.5,
        },
        "goals_met": {
            "wall_s": wall < 60.0,
            "requests_per_s": requests / sim_wall >= 2000.0,
            "finish_share": finish_share <= 0.10,
            "peak_rss_mb_long": long <= 1024.0,
            "peak_rss_ratio": long / short <= 1.5,
        },
    }
