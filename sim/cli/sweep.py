"""``ce sweep``: run a grid of scenario overrides x seeds in a process pool."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sim.cli._args import add_models_arg
from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a parameter grid x seeds, one run directory each, plus results.parquet",
        description="Run every combination of SWEEP.yaml's grid (key path -> list of values) "
        "and seeds as one run directory each, in a process pool, then write "
        "results.parquet (one row per run: parameters, seed, KPIs, run dir). A failed run is "
        "reported and recorded without stopping the others (exit code 1 if any failed). "
        "Finished runs are journaled as they end, so a rerun into the same folder resumes: "
        "runs that finished ok are kept, the rest run (--fresh runs everything again). "
        "The last stdout line is the path of results.parquet.",
    )
    p.add_argument("sweep", metavar="SWEEP.yaml", type=Path, help="sweep file")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: number of CPUs, at most the number of runs; "
        "1 runs in this process)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the run directories and results.parquet go (default: runs/sweep-<file stem>)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="run every combination again, ignoring runs an earlier sweep into --out finished",
    )
    add_models_arg(p)
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from sim.sweep import SweepError, expand, load_sweep, print_failure, run_sweep

    try:
        cfg, ref = load_sweep(args.sweep)
    except SweepError as err:
        raise CliError(str(err)) from None
    specs = expand(cfg, ref)
    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, len(specs))
    if workers < 1:
        raise CliError(f"--workers={workers}: must be >= 1")
    out = args.out if args.out is not None else Path("runs") / f"sweep-{args.sweep.stem}"
    print(
        f"ce sweep: {len(specs)} runs ({len(specs) // len(cfg.seeds)} combinations x "
        f"{len(cfg.seeds)} seeds), {workers} worker(s) -> {out}",
        file=sys.stderr,
        flush=True,
    )

    def on_done(i: int, n: int, o) -> None:
        params = " ".join(f"{k}={v}" for k, v in o.spec.params)
        state = o.run if o.status == "ok" else f"FAILED ({o.error})"
        print(
            f"ce sweep: [{i}/{n}] seed={o.spec.seed} {params} {state} {o.wall_s:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    try:
        outcome = run_sweep(
            specs,
            out,
            workers=workers,
            models_dir=args.models,
            on_done=on_done,
            resume=not args.fresh,
        )
    except SweepError as err:
        raise CliError(str(err)) from None
    for o in outcome.failed:
        print_failure(o)
    ok = len(outcome.outcomes) - len(outcome.failed)
    kept = f" ({outcome.reused} kept from an earlier sweep)" if outcome.reused else ""
    print(f"{ok} of {len(outcome.outcomes)} runs ok{kept}")
    for o in outcome.outcomes:
        print(f"  {o.status:<6} {o.run_dir or '-'}")
    print(outcome.results_path)
    return 1 if outcome.failed else 0
