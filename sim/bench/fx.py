"""Benchmark: FX routing (routes per second over 5 venues × 20 levels) and VPIN updates per
second (one venue's meter, bars of random size and price change)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def run(quick: bool) -> dict[str, Any]:
    """Time ``market.fx.route`` on a 5-venue, 20-level book (buys and sells of 1 to 20 levels'
    worth, one venue excluded every fourth route) and ``VpinMeter.update``."""
    from market.fx import BUY, SELL, VpinMeter, ladder_quote, route

    rng = np.random.default_rng(20_261_207)
    quotes = [
        ladder_quote(
            f"venue{v}",
            5.0 * (1 + rng.normal(0, 2e-4)),
            spread_bps=float(rng.uniform(4, 20)),
            sizes_usd_cents=[int(s) for s in rng.integers(50_000, 500_000, size=20)],
            step_bps=float(rng.uniform(0.5, 3)),
            fee_bps=int(rng.integers(0, 15)),
        )
        for v in range(5)
    ]
    n_routes = 2_000 if quick else 20_000
    needs = [int(x) for x in rng.integers(100_000, 4_000_000, size=n_routes)]
    t0 = time.perf_counter()
    for i, need in enumerate(needs):
        exclude = {"venue2": "vpin"} if i % 4 == 0 else None
        route(BUY if i % 2 else SELL, need, quotes, 5.0, exclude=exclude)
    route_s = time.perf_counter() - t0

    n_bars = 20_000 if quick else 200_000
    prices = 5.0 + np.cumsum(rng.normal(0, 0.001, size=n_bars))
    volumes = rng.exponential(100.0, size=n_bars)
    meter = VpinMeter(bucket_volume=500.0, n_buckets=50)
    update = meter.update
    bars = list(zip(prices.tolist(), volumes.tolist(), strict=True))
    t0 = time.perf_counter()
    for p, v in bars:
        update(p, v)
    vpin_s = time.perf_counter() - t0
    return {
        "routes_per_s_5x20": n_routes / route_s,
        "route_us_5x20": route_s / n_routes * 1e6,
        "vpin_updates_per_s": n_bars / vpin_s,
        "vpin_update_us": vpin_s / n_bars * 1e6,
        "vpin_last": meter.vpin,
        "definitions": {
            "routes_per_s_5x20": "market.fx.route calls/s: 5 venues x 20 levels each side",
            "vpin_updates_per_s": "VpinMeter.update calls/s (bars ~ 1/5 bucket, sigma estimated)",
        },
    }
