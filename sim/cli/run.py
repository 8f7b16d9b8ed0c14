"""``ce run``: simulate one scenario into a run directory and print its KPI table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.cli._args import add_models_arg, add_set_arg
from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario and write a run directory",
        description="Simulate SCENARIO (a name under scenarios/ or a YAML path) and write "
        "runs/<scenario>-<seed>-<confighash8>/ atomically (manifest.json, kpis.json, "
        "scenario.yaml, events/*.parquet, chain/). Prints the KPI table against the targets "
        "and, as the last line, the run directory's path. Progress goes to stderr.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario name or path to a YAML file")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="root seed of the run (default: the scenario's seed)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs"),
        metavar="DIR",
        help="parent directory of the run directory (default: runs)",
    )
    add_set_arg(p, "engine.headroom_bps=150")
    p.add_argument(
        "--rpc",
        metavar="URL",
        default=None,
        help="attest on the JSON-RPC node at URL (sets chain.backend=rpc, chain.rpc_url=URL)",
    )
    add_models_arg(p)
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr",
    )
    p.set_defaults(func=_cmd)


class _Progress:
    """Throttled progress on stderr: silent for the first 2 s, then at most once a second."""

    def __init__(self, label: str, stream=sys.stderr, total_days: float | None = None) -> None:
        self._label = label
        self._total_days = total_days
        self._stream = stream
        self._t0 = time.monotonic()
        self._last = self._t0 + 1.0  # first line after 2 s
        self._shown = False

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 1.0 and fraction < 1.0:
            return
        if not self._shown and fraction >= 1.0:
            return  # a short run: say nothing
        self._last = now
        self._shown = True
        day = (
            f" (day {fraction * self._total_days:.1f} of {self._total_days:g})"
            if self._total_days
            else ""
        )
        print(
            f"ce run: {self._label}: {100.0 * fraction:5.1f}% of simulated time{day}, "
            f"{now - self._t0:.1f} s",
            file=self._stream,
            flush=True,
        )


def _cmd(args: argparse.Namespace) -> int:
    from sim.attest import AttestationError
    from sim.config.scenario import ScenarioError, check_seed, load_scenario
    from sim.ledger.book import LedgerImbalanceError
    from sim.sweep.runner import RunSpec, run_one

    overrides = list(args.overrides)
    if args.rpc:
        overrides += ["chain.backend=rpc", f"chain.rpc_url={args.rpc}"]
    try:
        if args.seed is not None:
            check_seed("--seed", args.seed)
        scenario = load_scenario(args.scenario, overrides)
    except ScenarioError as err:
        raise CliError(str(err)) from None
    seed = scenario.seed if args.seed is None else args.seed
    ref = str(scenario.source_path) if scenario.source_path is not None else args.scenario
    spec = RunSpec(scenario=ref, overrides=tuple(overrides), params=(), seed=seed)
    total_days = scenario.horizon_days + scenario.engine.runoff_days
    progress = (
        None if args.quiet else _Progress(f"{scenario.name} seed {seed}", sys.stderr, total_days)
    )
    try:
        outcome = run_one(
            spec, args.out, models_dir=args.models, progress=progress, keep_result=True
        )
    except ScenarioError as err:
        raise CliError(str(err)) from None
    except LedgerImbalanceError as err:
        raise CliError(f"run failed: the ledger does not balance: {err}", exit_code=1) from None
    except (ConnectionError, TimeoutError) as err:
        raise CliError(f"chain backend unreachable: {err}", exit_code=1) from None
    except AttestationError as err:
        raise CliError(f"attestation failed: {err}", exit_code=1) from None

    from sim.kpis import format_kpi_table

    result = outcome.result
    print(format_kpi_table(result.kpis, result.targets))
    if not args.quiet:
        print(
            f"ce run: {result.stats.get('requests', '?')} requests, "
            f"{result.stats.get('events', '?')} events in {outcome.wall_s:.1f} s",
            file=sys.stderr,
        )
    print(outcome.run_dir)
    return 0
