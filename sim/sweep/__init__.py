"""Scenario sweeps: a grid of overrides x seeds run in a process pool, one row per run."""

from __future__ import annotations

from sim.sweep.runner import (
    RunOutcome,
    RunSpec,
    SweepConfig,
    SweepError,
    SweepOutcome,
    expand,
    flatten_kpis,
    load_sweep,
    run_one,
    run_sweep,
)

__all__ = [
    "RunOutcome",
    "RunSpec",
    "SweepConfig",
    "SweepError",
    "SweepOutcome",
    "expand",
    "flatten_kpis",
    "load_sweep",
    "run_one",
    "run_sweep",
]
