"""PD scoring throughput: one-row calls vs batches, directly and through the DynamicBatcher.

Measured (rows or requests per wall-clock second, this process, one onnxruntime thread):

- ``direct``: ``PDScorer.score`` on one row per call vs on batches of ``max_batch_size`` rows.
- ``batcher``: the same stream of requests (Poisson arrivals at ``rate_per_s`` per simulated
  second) pushed through :class:`~sim.model.batcher.DynamicBatcher` in a simpy environment,
  once in one-row mode (``max_batch_size=1``) and once with the scenario's batching; the wall
  time includes simpy scheduling and the per-request events, i.e. the cost in the engine.

The goal is batching >= 5x the one-row throughput. Models: the ``baseline`` scenario's (the
default GBM) and, for comparison, a logistic regression on the same population.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["run"]


def _direct(scorer: Any, x: np.ndarray, batch: int) -> dict[str, float]:
    n = x.shape[0]
    rows = [np.ascontiguousarray(x[i : i + 1]) for i in range(n)]
    scorer.score(rows[0])  # warm up
    t0 = time.perf_counter()
    for r in rows:
        scorer.score(r)
    one = n / (time.perf_counter() - t0)
    chunks = [np.ascontiguousarray(x[i : i + batch]) for i in range(0, n, batch)]
    t0 = time.perf_counter()
    for c in chunks:
        scorer.score(c)
    batched = n / (time.perf_counter() - t0)
    return {
        "one_row_rows_per_s": one,
        "batched_rows_per_s": batched,
        "speedup": batched / one,
    }


def _through_batcher(
    scorer: Any, x: np.ndarray, gaps_s: np.ndarray, size: int, delay_ms: float, model_cfg: Any
) -> tuple[float, dict[str, Any]]:
    import simpy

    from sim.model.batcher import DynamicBatcher

    env = simpy.Environment()
    b = DynamicBatcher(env, scorer, size, delay_ms, model_cfg.inference_ms)
    rows = list(x)

    def arrivals():
        for row, dt in zip(rows, gaps_s.tolist(), strict=True):
            yield env.timeout(dt)
            b.submit(row)

    env.process(arrivals())
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    return len(rows) / wall, b.stats()


def _measure(scorer: Any, x: np.ndarray, model_cfg: Any, rate_per_s: float) -> dict[str, Any]:
    size = model_cfg.max_batch_size
    out: dict[str, Any] = {"batch_size": size, **_direct(scorer, x, size)}
    gaps = np.random.default_rng(0).exponential(1.0 / rate_per_s, x.shape[0])
    one, _ = _through_batcher(scorer, x, gaps, 1, model_cfg.max_batch_delay_ms, model_cfg)
    many, stats = _through_batcher(scorer, x, gaps, size, model_cfg.max_batch_delay_ms, model_cfg)
    out.update(
        {
            "batcher_one_row_requests_per_s": one,
            "batcher_batched_requests_per_s": many,
            "batcher_speedup": many / one,
            "batcher_mean_batch_size": stats["mean_batch_size"],
            "batcher_wait_ms_p95": stats["wait_ms_p95"],
        }
    )
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from sim.agents.population import sample_borrowers
    from sim.config.scenario import load_scenario
    from sim.model import ensure_model
    from sim.model.serving import PDScorer

    scenario = load_scenario("small" if quick else "baseline")
    n = 4_000 if quick else 40_000
    rate = 5_000.0  # requests per simulated second: enough to fill batches
    x = sample_borrowers(scenario.population, np.random.default_rng(1), n).features
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "rows": n,
        "arrival_rate_per_sim_s": rate,
        "goal_speedup": 5.0,
    }
    handle = ensure_model(scenario)
    result[scenario.model.algorithm] = {
        "model": handle.version,
        **_measure(PDScorer(handle.path), x, scenario.model, rate),
    }
    other = "logistic" if scenario.model.algorithm == "gbm" else "gbm"
    other_model = scenario.model.model_copy(update={"algorithm": other})
    h2 = ensure_model((scenario.population, other_model))
    result[other] = {"model": h2.version, **_measure(PDScorer(h2.path), x, other_model, rate)}
    main = result[scenario.model.algorithm]
    result["speedup"] = main["speedup"]
    result["batcher_speedup"] = main["batcher_speedup"]
    result["goal_met"] = bool(main["batcher_speedup"] >= 5.0 and main["speedup"] >= 5.0)
    return result
