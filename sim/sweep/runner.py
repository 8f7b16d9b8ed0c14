"""Run scenarios into run directories: one run (:func:`run_one`) or a grid sweep.

A sweep file (YAML, validated by :class:`SweepConfig`, unknown keys rejected)::

    scenario: small                 # a name (scenarios/<name>.yaml) or a path relative to the file
    description: headroom vs fill   # optional
    grid:                           # key path -> list of values (YAML scalars or lists)
      engine.headroom_bps: [100, 200]
    seeds: [1, 2]

expands to the cartesian product of the grid (in file order, last key fastest) times the
seeds (fastest); each combination is one ``ce run`` with ``--set key=value`` overrides,
written to its own run directory ``<out>/<scenario>-<seed>-<confighash8>/``. Every combination
is validated before anything runs (a bad key or value stops the sweep with one message). Runs
go to a process pool (``spawn`` context, one whole run per task, so start-up costs are paid
once per run, not per event); models are trained once in the parent first. A run that fails
becomes a row with ``status="failed"`` and its error; the others are kept.

``<out>/results.parquet`` (written atomically) has one row per run in expansion order:
``run``, ``run_dir``, ``status``, ``error``, ``seed``, ``param.<key path>`` for each grid key
and ``kpi.<name>`` for every KPI (nested KPI mappings flattened with dots, lists as JSON
text). It holds no wall-clock values, so it is deterministic too.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim.config.yaml_io import YamlError, read_yaml_file

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


class SweepError(ValueError):
    """A sweep file or combination that cannot run: one line naming file, key and rule."""


class SweepConfig(BaseModel):
    """A grid sweep over one scenario (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str = Field(min_length=1, description="scenario name or path (relative to file)")
    description: str = Field(default="", max_length=4000)
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key path -> values")
    seeds: list[int] = Field(min_length=1, description="run seeds")

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not key or "=" in key or key.strip() != key:
                raise ValueError(f"key {key!r}: must be a key path like engine.headroom_bps")
            if key == "seed":
                raise ValueError("key 'seed': list run seeds under `seeds`, not in the grid")
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return grid

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        from sim.config.scenario import check_seed  # the scenario schema's seed rule

        for i, s in enumerate(seeds):
            check_seed(f"seeds[{i}]", s)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds}: must be distinct")
        return seeds


@dataclass(frozen=True)
class RunSpec:
    """One combination: the scenario reference, ``--set`` overrides, grid values, seed."""

    scenario: str
    overrides: tuple[str, ...]
    params: tuple[tuple[str, Any], ...]
    seed: int


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
    outcomes: list[RunOutcome]
    results_path: Path

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]


# ----------------------------------------------------------------------------- sweep files


def load_sweep(path: str | Path) -> tuple[SweepConfig, str]:
    """Read and validate a sweep file; returns the config and the resolved scenario reference
    (an absolute path if the file names a path, else the bare scenario name)."""
    p = Path(path)
    try:
        raw = read_yaml_file(p)
    except YamlError as err:
        raise SweepError(str(err)) from None
    if not isinstance(raw, dict):
        raise SweepError(f"{p}: must be a mapping with scenario, grid, seeds")
    try:
        cfg = SweepConfig.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(x) for x in e["loc"]) or "(top)"
        value = e.get("input")
        rule = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            rule = "unknown key (allowed: scenario, description, grid, seeds)"
        shown = "" if e["type"] in ("missing", "extra_forbidden") else f"={value!r}"
        raise SweepError(f"{p}: {loc}{shown}: {rule}") from None
    ref = cfg.scenario
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        target = (p.parent / ref).resolve()
        if not target.is_file():
            raise SweepError(
                f"{p}: scenario={ref!r}: no file at {target} (a relative path resolves against "
                f"the sweep file's folder, {p.parent.resolve()}; a bare name is a scenario "
                "shipped in scenarios/)"
            )
        ref = str(target)
    return cfg, ref


def _render(value: Any) -> str:
    """A grid value as a ``--set`` value (JSON is valid YAML flow syntax)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def expand(cfg: SweepConfig, scenario_ref: str) -> list[RunSpec]:
    """Every (grid combination x seed) in order: grid keys in file order, seeds fastest."""
    keys = list(cfg.grid)
    specs = []
    for values in itertools.product(*(cfg.grid[k] for k in keys)):
        params = tuple(zip(keys, values, strict=True))
        overrides = tuple(f"{k}={_render(v)}" for k, v in params)
        for seed in cfg.seeds:
            specs.append(RunSpec(scenario_ref, overrides, params, int(seed)))
    return specs


# ----------------------------------------------------------------------------- one run


def run_one(
    spec: RunSpec,
    out_root: str | Path,
    *,
    models_dir: str | Path = Path("models"),
    progress: Callable[[float], None] | None = None,
    keep_result: bool = False,
) -> RunOutcome:
    """Load, simulate and write one run directory; raise on failure (see :func:`_task`).

    Scenario errors raise :class:`sim.config.scenario.ScenarioError`; everything else
    (simulation, ledger, chain) propagates as raised. The staging folder is removed on error.
    """
    import time

    from sim.attest import make_sink
    from sim.config.scenario import load_scenario
    from sim.run.rundir import RunStage, run_dir_name
    from sim.run.simulation import simulate

    t0 = time.perf_counter()
    scenario = load_scenario(spec.scenario, spec.overrides)
    name = run_dir_name(scenario, spec.seed)
    with RunStage(out_root, name) as stage:
        sink = make_sink(scenario.chain, stage.chain_dir)
        result = simulate(
            scenario, seed=spec.seed, sink=sink, progress=progress, models_dir=Path(models_dir)
        )
        stage.write_result(scenario, spec.seed, result, overrides=spec.overrides)
    return RunOutcome(
        spec=spec,
        run=name,
        run_dir=str(stage.final_path),
        status="ok",
        error=None,
        kpis=dict(result.kpis),
        wall_s=time.perf_counter() - t0,
        result=result if keep_result else None,
    )


def _task(spec: RunSpec, out_root: str, models_dir: str) -> RunOutcome:
    """Pool task: one whole run; a failure is returned as a ``failed`` outcome."""
    import time

    t0 = time.perf_counter()
    try:
        return run_one(spec, out_root, models_dir=models_dir)
    except BaseException as err:  # a failed run must not take the sweep down
        if isinstance(err, KeyboardInterrupt):
            raise
        return RunOutcome(
            spec=spec,
            run="",
            run_dir=None,
            status="failed",
            error=f"{type(err).__name__}: {err}".splitlines()[0],
            kpis={},
            wall_s=time.perf_counter() - t0,
            detail=traceback.format_exc(),
        )


# ----------------------------------------------------------------------------- sweeps


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


def _write_results(outcomes: Sequence[RunOutcome], path: Path) -> None:
    from sim.run.atomic import atomic_target
    from sim.run.rundir import write_parquet

    with atomic_target(path) as tmp:
        write_parquet(results_table(outcomes), tmp)


def prepare(specs: Sequence[RunSpec], models_dir: str | Path) -> None:
    """Validate every combination (raise :class:`SweepError` naming the first bad one) and
    train each distinct model once, before any worker starts."""
    from sim.config.scenario import ScenarioError, load_scenario
    from sim.model import ensure_model, training_key

    seen: set[str] = set()
    for spec in specs:
        try:
            scenario = load_scenario(spec.scenario, spec.overrides)
        except ScenarioError as err:
            raise SweepError(str(err)) from None
        key = training_key(scenario.population, scenario.model)
        if key not in seen:
            seen.add(key)
            ensure_model(scenario, models_dir)


def run_sweep(
    specs: Sequence[RunSpec],
    out_root: str | Path,
    *,
    workers: int = 1,
    models_dir: str | Path = Path("models"),
    on_done: Callable[[int, int, RunOutcome], None] | None = None,
) -> SweepOutcome:
    """Run every spec (``workers`` processes; 1 = in this process) and write
    ``<out_root>/results.parquet``. ``on_done(i, n, outcome)`` is called as runs finish."""
    if workers < 1:
        raise SweepError(f"workers={workers}: must be >= 1")
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    prepare(specs, models_dir)
    n = len(specs)
    outcomes: list[RunOutcome | None] = [None] * n
    done = 0
    if workers == 1 or n <= 1:
        for i, spec in enumerate(specs):
            outcomes[i] = _task(spec, str(out), str(models_dir))
            done += 1
            if on_done:
                on_done(done, n, outcomes[i])  # type: ignore[arg-type]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=ctx) as pool:
            futures = {
                pool.submit(_task, spec, str(out), str(models_dir)): i
                for i, spec in enumerate(specs)
            }
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    outcomes[i] = fut.result()
                except BaseException as err:  # the worker process itself died
                    outcomes[i] = RunOutcome(
                        spec=specs[i],
                        run="",
                        run_dir=None,
                        status="failed",
                        error=f"worker failed: {type(err).__name__}: {err}".splitlines()[0],
                        kpis={},
                        wall_s=float("nan"),
                    )
                done += 1
                if on_done:
                    on_done(done, n, outcomes[i])  # type: ignore[arg-type]
    final = [o for o in outcomes if o is not None]
    results_path = out / "results.parquet"
    _write_results(final, results_path)
    return SweepOutcome(outcomes=final, results_path=results_path)


def print_failure(outcome: RunOutcome, stream: Any = sys.stderr) -> None:
    """Write a failed run's error (and traceback, if any) to ``stream``."""
    params = ", ".join(f"{k}={v!r}" for k, v in outcome.spec.params)
    print(f"run seed={outcome.spec.seed} {params}: FAILED: {outcome.error}", file=stream)
    if outcome.detail:
        print(outcome.detail.rstrip(), file=stream)
