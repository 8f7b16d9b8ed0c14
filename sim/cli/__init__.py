"""The ``ce`` command line: one module per subcommand, registered here.

Every subcommand module exposes ``register(subparsers)``; heavy imports (web3, onnxruntime,
simpy, pandas) happen inside the handlers so that ``ce --help`` and ``chain: off`` runs stay
light.  A handler returns an exit code; user errors raise :class:`CliError` and are printed as
one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sim.cli._errors import CliError

__all__ = ["CliError", "build_parser", "main"]

#: preferred order in ``ce --help``; any other public module in this package is added after
_ORDER = ("run", "sweep", "auction", "model", "chain", "bench")


def _subcommand_modules() -> list[str]:
    import pkgutil

    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser() -> argparse.ArgumentParser:
    """Build the ``ce`` argument parser with every subcommand registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="ce",
        description="CreditEngine workbench: simulate the P2P credit marketplace engine, "
        "clear auctions, train the PD model, attest on chain, benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _subcommand_modules():
        importlib.import_module(f"sim.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ce`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except CliError as err:
        print(f"ce {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"ce {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
