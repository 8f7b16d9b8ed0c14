"""Attestation overhead: the baseline attested on the chain against the same run with the chain off.

- ``attest_overhead``: mean wall of ``make_sink`` + ``simulate()`` of the baseline with its own
  chain settings (hourly Merkle batches on the in-process eth-tester chain, the bridge in its
  worker process) divided by the mean wall of ``simulate()`` with ``chain.backend=off``,
  measured here in interleaved pairs (on/off, then off/on, ...) so that drift on a shared
  machine falls on both sides. Goal: <= 1.5.
- Per side: the raw walls, the event loop (``sim_wall_s``) and finishing (``finish_s``) times;
  for the attested side also the worker's timings (``open_s``: backend + deploy, ``busy_s``:
  records and transactions, ``close_s``: last batch + files) and how long the simulation
  waited for it at close (``close_wait_s``).

``quick`` runs one pair of ``small`` with the baseline's chain settings (eth-tester, batches of
up to 1,024 records or one simulated hour) instead of two pairs of ``baseline``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["GOAL_OVERHEAD", "run"]

#: attested wall / chain-off wall of the baseline
GOAL_OVERHEAD = 1.5
#: the baseline's chain settings, used for ``small`` in quick mode
_BASELINE_CHAIN = (
    "chain.backend=eth-tester",
    "chain.batch_size=1024",
    "chain.batch_interval_s=3600",
)


def _one(name: str, overrides: list[str], chain_on: bool, workdir: Path) -> dict[str, Any]:
    from sim import load_scenario, make_sink, simulate

    scenario = load_scenario(name, overrides)
    t0 = time.perf_counter()
    sink = make_sink(scenario.chain, workdir / "chain") if chain_on else None
    result = simulate(scenario, sink=sink)
    wall = time.perf_counter() - t0
    st = result.stats
    out: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "sim_wall_s": round(float(st["sim_wall_s"]), 3),
        "finish_s": round(float(st["finish_s"]), 3),
    }
    if chain_on:
        att = st["attestation"]
        worker = att.get("worker", {})
        out["records"] = att["records"]
        out["transactions"] = att["transactions"]
        out["worker"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in worker.items()}
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Measure ``attest_overhead`` (see the module docstring)."""
    from sim import ensure_model, load_scenario

    name = "small" if quick else "baseline"
    on_overrides = list(_BASELINE_CHAIN) if quick else []
    ensure_model(load_scenario(name))  # training (first use) is not part of the measurement
    pairs = 1 if quick else 2
    on: list[dict[str, Any]] = []
    off: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ce-bench-attest-") as tmp:
        for i in range(pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            for chain_on in order:
                workdir = Path(tmp) / f"{'on' if chain_on else 'off'}-{i}"
                if chain_on:
                    on.append(_one(name, on_overrides, True, workdir))
                else:
                    off.append(_one(name, ["chain.backend=off"], False, workdir))
    on_wall = statistics.fmean(r["wall_s"] for r in on)
    off_wall = statistics.fmean(r["wall_s"] for r in off)
    overhead = on_wall / off_wall
    return {
        "scenario": name,
        "pairs": pairs,
        "attest_overhead": round(overhead, 3),
        "attested_wall_s": [r["wall_s"] for r in on],
        "chain_off_wall_s": [r["wall_s"] for r in off],
        "attested": on,
        "chain_off": off,
        "definitions": {
            "attest_overhead": "mean attested wall_s / mean chain-off wall_s (goal metric)",
            "wall_s": "make_sink + simulate() (the model already registered)",
            "worker.open_s": "worker: backend opened and contracts deployed",
            "worker.busy_s": "worker: records hashed, batches attested (transactions)",
            "worker.close_wait_s": "simulation waiting at close for the worker to finish",
        },
        "goals": {"attest_overhead": GOAL_OVERHEAD},
        "goals_met": {"attest_overhead": overhead <= GOAL_OVERHEAD},
        "note": "timings on a shared 2-core machine; pairs interleaved",
    }
