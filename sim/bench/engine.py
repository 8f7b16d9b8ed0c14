"""Full-engine throughput: wall time of a scenario, loan requests/s, engine vs raw simpy.

- ``wall_s``: ``simulate(load_scenario("baseline"))`` end to end (world, engine, run-off,
  tables, KPIs), the model already registered (training is not timed). Goal: < 60 s. Split
  into ``setup_s`` (model load, world build, populations, engine wiring), ``sim_wall_s`` (the
  simpy event loop: arrivals, decisions, auctions, loans and run-off) and ``finish_s`` (sink
  close, CETs, ledger check, event tables, KPIs); see ``definitions`` in the output.
- ``requests_per_s``: loan requests / wall time of the event loop (``stats["sim_wall_s"]``);
  ``requests_per_s_total`` uses the whole ``simulate`` wall. Goal: >= 2,000/s (on
  ``requests_per_s``, the issue's "through the full engine").
- ``events_ratio``: engine events/s (``stats["events"] / stats["sim_wall_s"]``) divided by raw
  simpy events/s measured here in the same process (``n_procs`` processes looping on
  ``env.timeout``, before and after the run, averaged). Goal: >= 0.25.

``quick`` uses the ``small`` scenario and a shorter raw loop.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["raw_simpy_events_per_s", "run"]


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


def run(quick: bool = False) -> dict[str, Any]:
    from sim.config.scenario import load_scenario
    from sim.model import ensure_model
    from sim.run.simulation import simulate

    name = "small" if quick else "baseline"
    scenario = load_scenario(name)
    ensure_model(scenario)  # training (first use) is not part of the measurement
    raw = raw_simpy_events_per_s(100, 500 if quick else 2_000)
    t0 = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - t0
    st = result.stats
    sim_wall = float(st.get("sim_wall_s", wall))
    events = int(st["events"])
    requests = int(st["requests"])
    engine_eps = events / sim_wall
    raw_after = raw_simpy_events_per_s(100, 500 if quick else 2_000)
    raw_eps = (raw["events_per_s"] + raw_after["events_per_s"]) / 2.0
    return {
        "scenario": name,
        "wall_s": wall,
        "setup_s": st.get("setup_s"),
        "sim_wall_s": sim_wall,
        "finish_s": st.get("finish_s"),
        "simulated_days": st.get("simulated_days"),
        "requests": requests,
        "loans": st.get("loans"),
        "requests_per_s": requests / sim_wall,
        "requests_per_s_total": requests / wall,
        "engine_events": events,
        "engine_events_per_s": engine_eps,
        "raw_simpy_events_per_s": raw_eps,
        "events_ratio": engine_eps / raw_eps,
        "definitions": {
            "wall_s": "simulate() end to end, model already registered (training not timed)",
            "setup_s": "model load + world build + populations + engine wiring (in wall_s)",
            "sim_wall_s": "env.run(): the simpy event loop incl. run-off (in wall_s)",
            "finish_s": "sink close, CETs, ledger check, event tables, KPIs (in wall_s)",
            "requests_per_s": "requests / sim_wall_s (goal metric)",
            "requests_per_s_total": "requests / wall_s",
            "engine_events_per_s": "simpy events processed by the run / sim_wall_s",
            "raw_simpy_events_per_s": "bare env.timeout loops, same process, mean of before/after",
            "events_ratio": "engine_events_per_s / raw_simpy_events_per_s (goal metric)",
        },
        "goals": {"wall_s": 60.0, "requests_per_s": 2000.0, "events_ratio": 0.25},
        "goals_met": {
            "wall_s": wall < 60.0,
            "requests_per_s": requests / sim_wall >= 2000.0,
            "events_ratio": engine_eps / raw_eps >= 0.25,
        },
    }
