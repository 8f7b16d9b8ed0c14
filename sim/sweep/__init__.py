"""Scenario sweeps: a grid of overrides x seeds, one run directory per run and one row per run
in ``results.parquet``; see :mod:`sim.sweep.config` for the sweep file."""

from __future__ import annotations

from sim.sweep.config import RunSpec, SweepConfig, SweepError, expand, load_sweep
from sim.sweep.results import RunOutcome, SweepOutcome, flatten_kpis, results_table
from sim.sweep.runner import prepare, print_failure, run_one, run_sweep

__all__ = [
    "RunOutcome",
    "RunSpec",
    "SweepConfig",
    "SweepError",
    "SweepOutcome",
    "expand",
    "flatten_kpis",
    "load_sweep",
    "prepare",
    "print_failure",
    "results_table",
    "run_one",
    "run_sweep",
]
