"""Run scenarios into run directories: one run (:func:`run_one`) or a whole sweep
(:func:`run_sweep`).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.sweep.config import RunSpec, SweepError
from sim.sweep.results import RunOutcome, SweepOutcome, write_results

__all__ = ["prepare", "print_failure", "run_one", "run_sweep"]


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
    write_results(final, results_path)
    return SweepOutcome(outcomes=final, results_path=results_path)


def print_failure(outcome: RunOutcome, stream: Any = sys.stderr) -> None:
    """Write a failed run's error (and traceback, if any) to ``stream``."""
    params = ", ".join(f"{k}={v!r}" for k, v in outcome.spec.params)
    print(f"run seed={outcome.spec.seed} {params}: FAILED: {outcome.error}", file=stream)
    if outcome.detail:
        print(outcome.detail.rstrip(), file=stream)
