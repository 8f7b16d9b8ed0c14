"""``ce bench``: run the benchmarks and print one merged JSON object."""

from __future__ import annotations

import argparse
import json
import sys

from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    from sim.bench import BENCHMARKS

    p = sub.add_parser(
        "bench",
        help="run benchmarks and print JSON",
        description="Run the benchmarks and print one JSON object keyed by benchmark name. "
        f"Available: {', '.join(BENCHMARKS)}.",
    )
    p.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated benchmark names to run (default: all)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes, for a smoke test of the benchmark code itself",
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from sim.bench import BENCHMARKS, run_benchmarks

    names = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise CliError(
            f"--only={args.only!r}: unknown benchmark {unknown[0]!r}; "
            f"choose from {', '.join(BENCHMARKS)}"
        )
    result = run_benchmarks(names, quick=args.quick, progress=sys.stderr)
    print(json.dumps(result, indent=2, sort_keys=False))
    return 0
