"""A sweep's outcomes and ``results.parquet``: one row per run in expansion order with
``run``, ``run_dir``, ``status``, ``error``, ``seed``, ``param.<key path>`` for each grid key and
``kpi.<name>`` for every KPI (nested KPI mappings flattened with dots, lists as JSON text). It
holds no wall-clock values, so it is deterministic too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.sweep.config import RunSpec

__all__ = ["RunOutcome", "SweepOutcome", "flatten_kpis", "results_table", "write_results"]


@dataclass
class RunOutcome:
    """A finished (or failed) run: its directory, status, error, KPIs and the SimResult."""

    spec: RunSpec
    run: str
    run_dir: str | None
    status: str  # "ok" | "failed"
    error: str | None
    kpis: dict[str, Any]
    wall_s: float
    detail: str | None = None  # traceback of a failure
    result: Any = None  # the SimResult (in-process runs only)


@dataclass
class SweepOutcome:
    """Every run's outcome in expansion order, where ``results.parquet`` went, and how many
    runs were taken from an earlier sweep's journal instead of being run."""

    outcomes: list[RunOutcome]
    results_path: Path
    reused: int = 0

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]


# ----------------------------------------------------------------------------- sweep files


def flatten_kpis(kpis: Mapping[str, Any], prefix: str = "kpi.") -> dict[str, Any]:
    """Nested KPI mapping -> flat ``{prefix + dotted.name: scalar}``; lists become JSON text,
    non-finite floats None."""
    out: dict[str, Any] = {}
    for key in sorted(kpis):
        value = kpis[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_kpis(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(value, sort_keys=True, default=str)
        elif isinstance(value, float) and not math.isfinite(value):
            out[name] = None
        elif hasattr(value, "item") and not isinstance(value, str):
            out[name] = value.item()
        else:
            out[name] = value
    return out


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array(
            [None if v is None else json.dumps(v, sort_keys=True, default=str) for v in values],
            type=pa.string(),
        )


def results_table(outcomes: Sequence[RunOutcome]) -> Any:
    """The ``results.parquet`` Arrow table (one row per outcome, see the module docstring)."""
    import pyarrow as pa

    rows = []
    for o in outcomes:
        row: dict[str, Any] = {
            "run": o.run or None,
            "run_dir": o.run_dir,
            "status": o.status,
            "error": o.error,
            "seed": o.spec.seed,
        }
        row.update({f"param.{k}": v for k, v in o.spec.params})
        row.update(flatten_kpis(o.kpis))
        rows.append(row)
    fixed = ["run", "run_dir", "status", "error", "seed"]
    params = [f"param.{k}" for k, _ in outcomes[0].spec.params] if outcomes else []
    kpi_cols = sorted({c for r in rows for c in r if c.startswith("kpi.")})
    names = fixed + params + kpi_cols
    arrays = [_column([r.get(c) for r in rows]) for c in names]
    return pa.Table.from_arrays(arrays, names=names)


def write_results(outcomes: Sequence[RunOutcome], path: Path) -> None:
    from sim.run.atomic import atomic_target
    from sim.run.rundir import write_parquet

    with atomic_target(path) as tmp:
        write_parquet(results_table(outcomes), tmp)
