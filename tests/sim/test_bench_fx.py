"""``ce bench --only fx`` runs its two measurements (figures only; no timing is asserted)."""

from __future__ import annotations

from sim.bench import BENCHMARKS, fx


def test_fx_bench_reports_routing_and_vpin_rates() -> None:
    assert "fx" in BENCHMARKS
    out = fx.run(quick=True)
    assert out["routes_per_s_5x20"] > 0 and out["vpin_updates_per_s"] > 0
    assert 0.0 <= out["vpin_last"] <= 1.0
