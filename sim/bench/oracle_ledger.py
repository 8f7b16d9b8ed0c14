"""Benchmark: oracle aggregation (µs per call) and ledger postings per second."""

from __future__ import annotations

import time
from typing import Any


def _per_call_us(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def run(quick: bool) -> dict[str, Any]:
    """Time ``market.oracle.aggregator.aggregate`` (OK path with 3/5/9 sources, TWAP fallback) and
    ``sim.ledger.book.Ledger.transfer`` / ``check``."""
    from market.oracle.aggregator import (
        DivergenceState,
        OracleConfig,
        SourceState,
        aggregate,
        divergence_step,
    )
    from sim.ledger.book import Ledger

    n_calls = 5_000 if quick else 100_000
    cfg = OracleConfig()
    out: dict[str, Any] = {}
    for n in (3, 5, 9):
        srcs = [SourceState(f"f{i}", 5.0 + 0.001 * ((i * 7) % n), 100.0 - i) for i in range(n)]
        out[f"aggregate_ok_{n}_sources_us"] = round(
            _per_call_us(lambda s=srcs: aggregate(s, 110.0, cfg), n_calls), 3
        )
    stale = [SourceState(f"f{i}", 5.0, 0.0) for i in range(5)]
    # past answers as (t, price, observed_at)
    hist = [(float(t), 5.0 + t * 1e-4, t - 1.0) for t in range(0, 200, 2)]
    out["aggregate_fallback_twap_100_inputs_us"] = round(
        _per_call_us(lambda: aggregate(stale, 110.0, cfg, history=hist), n_calls // 10), 3
    )
    five = [SourceState(f"f{i}", 5.0 + 0.01 * i, 100.0) for i in range(5)]
    out["divergence_step_5_sources_us"] = round(
        _per_call_us(lambda: divergence_step(DivergenceState(), five, 110.0, cfg), n_calls), 3
    )

    n_tr = 100_000 if quick else 1_000_000
    led = Ledger()
    accts = [f"lender:{i}:free" for i in range(100)]
    for a in accts:
        led.deposit(0.0, a, 10**12, "seed", 0)
    pairs = [(accts[i % 100], accts[(i * 7 + 1) % 100]) for i in range(1000)]
    tr = led.transfer
    t0 = time.perf_counter()
    for i in range(n_tr):
        s, d = pairs[i % 1000]
        tr(1.0, s, d, 1 + (i & 255), "move", i)
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    led.check()
    dc = time.perf_counter() - t0
    out["ledger_transfers_per_s"] = round(n_tr / dt)
    out["ledger_check_s_per_million_postings"] = round(dc / len(led) * 1e6, 3)
    return out
