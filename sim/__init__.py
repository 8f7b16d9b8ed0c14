"""The simulated CreditEngine: scenarios, time and agents, the engine, KPIs, runs and sweeps.

Public names are re-exported here *lazily* (PEP 562): ``import sim`` stays cheap, and a run
with ``chain: off`` never imports web3. The ``ce`` command line lives in :mod:`sim.cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "AttestationSink": "sim.attest",
    "Borrowers": "sim.agents.population",
    "DynamicBatcher": "sim.model.batcher",
    "Ledger": "sim.ledger.book",
    "LedgerError": "sim.ledger.book",
    "LedgerImbalanceError": "sim.ledger.book",
    "PreparedPostings": "sim.ledger.book",
    "ModelHandle": "sim.model.registry",
    "NullSink": "sim.attest",
    "OracleService": "sim.world.oracle_service",
    "PDScorer": "sim.model.serving",
    "RunStage": "sim.run.rundir",
    "Scenario": "sim.config.scenario",
    "ScenarioError": "sim.config.scenario",
    "ScoredBatch": "sim.model.batcher",
    "SeedTree": "sim.seeds",
    "SimResult": "sim.run.simulation",
    "SweepConfig": "sim.sweep",
    "SweepError": "sim.sweep",
    "World": "sim.world",
    "available_scenarios": "sim.config.scenario",
    "build_world": "sim.world",
    "compute_kpis": "sim.kpis",
    "ensure_model": "sim.model.registry",
    "format_kpi_table": "sim.kpis",
    "load_scenario": "sim.config.scenario",
    "load_sweep": "sim.sweep",
    "make_sink": "sim.attest",
    "run_dir_name": "sim.run.rundir",
    "run_one": "sim.sweep",
    "run_sweep": "sim.sweep",
    "sample_borrowers": "sim.agents.population",
    "simulate": "sim.run.simulation",
}

__all__ = [
    "AttestationSink",
    "Borrowers",
    "DynamicBatcher",
    "Ledger",
    "LedgerError",
    "LedgerImbalanceError",
    "ModelHandle",
    "NullSink",
    "OracleService",
    "PDScorer",
    "PreparedPostings",
    "RunStage",
    "Scenario",
    "ScenarioError",
    "ScoredBatch",
    "SeedTree",
    "SimResult",
    "SweepConfig",
    "SweepError",
    "World",
    "available_scenarios",
    "build_world",
    "compute_kpis",
    "ensure_model",
    "format_kpi_table",
    "load_scenario",
    "load_sweep",
    "make_sink",
    "run_dir_name",
    "run_one",
    "run_sweep",
    "sample_borrowers",
    "simulate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
