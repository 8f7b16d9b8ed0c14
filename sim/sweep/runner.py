"""Run scenarios into run directories: one run (:func:`run_one`) or a whole sweep
(:func:`run_sweep`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.sweep.config import RunSpec, SweepError
from sim.sweep.journal import Journal
from sim.sweep.results import RunOutcome, SweepOutcome, write_results

__all__ = ["FAILURES_FILE", "prepare", "print_failure", "run_one", "run_sweep"]

#: where a sweep keeps the tracebacks of its failed runs (stderr gets one line each)
FAILURES_FILE = "failures.log"


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
    from sim.attest import make_sink
    from sim.config.scenario import load_scenario
    from sim.run.rundir import RunStage, run_dir_name
    from sim.run.simulation import simulate
    from sim.tables.files import EventTables

    t0 = time.perf_counter()
    scenario = load_scenario(spec.scenario, spec.overrides)
    name = run_dir_name(scenario, spec.seed)
    with RunStage(out_root, name) as stage:
        sink = make_sink(scenario.chain, stage.chain_dir)
        try:
            result = simulate(
                scenario,
                seed=spec.seed,
                sink=sink,
                progress=progress,
                models_dir=Path(models_dir),
                out_dir=stage.path,
            )
        except BaseException:
            sink.abort()  # e.g. stop the attestation worker now, not when the sink is collected
            raise
        stage.write_result(scenario, spec.seed, result, overrides=spec.overrides)
    if keep_result:  # the tables now live in the committed run directory
        result.tables = EventTables(stage.final_path / "events")
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
            try:
                ensure_model(scenario, models_dir)
            except Exception:
                continue


def run_sweep(
    specs: Sequence[RunSpec],
    out_root: str | Path,
    *,
    workers: int = 1,
    models_dir: str | Path = Path("models"),
    on_done: Callable[[int, int, RunOutcome], None] | None = None,
    resume: bool = True,
) -> SweepOutcome:
    """Run every spec (``workers`` processes; 1 = in this process) and write
    ``<out_root>/results.parquet``. ``on_done(i, n, outcome)`` is called as runs finish.

    Each finished run is appended to the sweep's journal (:mod:`sim.sweep.journal`) at once,
    so nothing finished is lost if the sweep dies; with ``resume`` (the default) runs the
    journal shows finished and complete are taken from there instead of being run again.
    Every run ends as a row: a run that raises is a ``failed`` row with its error, and so is
    a run that kills its worker process (found by running the runs that were in flight
    alone, so that another run is never blamed). Workers exit when the sweep's process dies.
    """
    if workers < 1:
        raise SweepError(f"workers={workers}: must be >= 1")
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out)
    entries = journal.entries() if resume else {}
    outcomes: list[RunOutcome | None] = [journal.reusable(s, entries) for s in specs]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    reused = len(specs) - len(todo)
    prepare([specs[i] for i in todo], models_dir)
    n = len(specs)
    done = reused

    def finish(i: int, outcome: RunOutcome) -> None:
        nonlocal done
        outcomes[i] = outcome
        journal.append(outcome)
        if outcome.detail:
            with open(out / FAILURES_FILE, "a", encoding="utf-8") as fh:
                fh.write(f"== seed={outcome.spec.seed} {list(outcome.spec.overrides)}\n")
                fh.write(outcome.detail.rstrip() + "\n")
        done += 1
        if on_done:
            on_done(done, n, outcome)

    if workers == 1 or len(todo) <= 1:
        for i in todo:
            finish(i, _task(specs[i], str(out), str(models_dir)))
    else:
        _run_in_pools(specs, todo, str(out), str(models_dir), workers, finish)
    final = [o for o in outcomes if o is not None]
    results_path = out / "results.parquet"
    write_results(final, results_path)
    return SweepOutcome(outcomes=final, results_path=results_path, reused=reused)


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as the sweep's process is gone, even when it
    was killed with SIGKILL and could not shut its pool down."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.25)
        os._exit(1)

    threading.Thread(target=watch, name="ce-sweep-parent-watch", daemon=True).start()


def _run_in_pools(
    specs: Sequence[RunSpec],
    todo: Sequence[int],
    out: str,
    models_dir: str,
    workers: int,
    finish: Callable[[int, RunOutcome], None],
    task: Callable[[RunSpec, str, str], RunOutcome] = _task,
) -> None:
    """Run ``todo`` (``task(spec, out, models_dir)`` each, a picklable module-level function)
    in ``spawn`` process pools of ``workers``. When a worker dies, every run in
    flight is suspect: each is run again alone in a pool of one, where a second death is its
    own (a ``failed`` row); the other runs go on in a fresh pool."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    pending = deque(todo)
    suspects: deque[int] = deque()
    while pending or suspects:
        alone = bool(suspects)
        queue, width = (suspects, 1) if alone else (pending, min(workers, len(pending)))
        running: dict[Any, int] = {}
        with ProcessPoolExecutor(
            max_workers=width,
            mp_context=ctx,
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            broken = False
            while (queue or running) and not broken:
                while queue and len(running) < width:
                    i = queue.popleft()
                    running[pool.submit(task, specs[i], out, models_dir)] = i
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    i = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if alone:
                            finish(i, _worker_died(specs[i]))
                        else:
                            suspects.append(i)
                        continue
                    finish(i, outcome)
            # a broken pool fails every run still in flight: all of them are suspects
            suspects.extend(running.values())


def _worker_died(spec: RunSpec) -> RunOutcome:
    return RunOutcome(
        spec=spec,
        run="",
        run_dir=None,
        status="failed",
        error="worker process died while running it (killed, out of memory or crashed)",
        kpis={},
        wall_s=float("nan"),
    )


def print_failure(outcome: RunOutcome, stream: Any = sys.stderr) -> None:
    """Write a failed run's error to ``stream``: one line (its traceback, if any, is in the
    sweep's ``failures.log``)."""
    params = ", ".join(f"{k}={v!r}" for k, v in outcome.spec.params)
    print(f"run seed={outcome.spec.seed} {params}: FAILED: {outcome.error}", file=stream)
