"""The ``ce`` command line: one module per subcommand, registered here.

Every subcommand module exposes ``register(subparsers)``; heavy imports (web3, onnxruntime,
simpy, pandas) happen inside the handlers so that ``ce --help`` and ``chain: off`` runs stay
light.  A handler returns an exit code; user errors raise :class:`CliError` and are printed as
one line on stderr, never as a traceback.

Every path ends in exit 0 (done), 1 (a failure: a check that failed, an internal error, a
reader that closed the output early) or 2 (bad input, including bad arguments), with at most
one line on stderr. An unexpected exception is one ``internal error`` line; set
``CE_TRACEBACK=1`` to see its traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sim.cli._errors import CliError

__all__ = ["CliError", "build_parser", "main"]

#: preferred order in ``ce --help``; any other public module in this package is added after
_ORDER = ("run", "sweep", "auction", "model", "chain", "audit", "bench")


def _subcommand_modules() -> list[str]:
    import pkgutil

    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``ce`` argument parser with every subcommand registered."""
    import importlib

    parser = _Parser(
        prog="ce",
        description="CreditEngine workbench: simulate the P2P credit marketplace engine, "
        "clear auctions, train the PD model, attest on chain, benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _subcommand_modules():
        importlib.import_module(f"sim.cli.{name}").register(sub)
    return parser


#: Arrow's allocator for every command (and the sweep and bench processes they start), unless
#: the user chose one: ``malloc`` hands freed pages back (``release_unused``), where Arrow's
#: default (mimalloc) keeps the pages of buffers one thread built and another freed (a
#: run's tables are built by the simulation and freed by its writer thread). Peak RSS of a
#: chain-off baseline: 30 days 294 -> 261 MB, 180 days 481 -> 387 MB. It must be set before
#: pyarrow is first imported, which the handlers do.
ARROW_POOL = ("ARROW_DEFAULT_MEMORY_POOL", "system")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ce`` console script."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(*ARROW_POOL)
    command = "ce"
    try:
        args = build_parser().parse_args(argv)
        command = f"ce {args.command}"
        code = args.func(args)
        sys.stdout.flush()
    except SystemExit as done:  # argparse: --help, or bad arguments (one line, exit 2)
        sys.stdout.flush()
        return done.code if isinstance(done.code, int) else 2
    except CliError as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader closed our output (e.g. `| head -c1`): stop quietly; point stdout at
        # /dev/null so that the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except MemoryError:
        print(f"{command}: error: out of memory", file=sys.stderr)
        return 1
    except Exception as err:
        if os.environ.get("CE_TRACEBACK"):
            raise
        detail = " ".join(str(err).split())[:300]
        print(
            f"{command}: internal error: {type(err).__name__}: {detail} "
            "(CE_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
