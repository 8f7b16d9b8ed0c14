"""``ce chain``: the on-chain side by hand -- ``demo`` (everything end to end) and ``verify``.

``ce chain demo [--rpc URL]`` deploys every contract, runs one auction with commit-reveal on the
FundingEscrow, attests a batch of records, proves one record on chain, settles an FX hedge
against an attested fixing, and prints each transaction with its gas.

``ce chain verify RUN_DIR [--rpc URL] [--sample N]`` recomputes every batch root from the run's
records and compares it with the Attestor's storage on the run's chain (the saved eth-tester
chain, or the node at ``--rpc``), and checks a sample of proofs on chain.  Exit 0 when
everything holds, 1 with the first discrepancy on one line, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys

from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chain",
        help="on-chain demo and verification of a run's attestations",
        description="Work with the chain side: run the end-to-end demo, or verify a run's "
        "attested records against the chain.",
    )
    chain_sub = p.add_subparsers(dest="chain_command", metavar="ACTION")
    chain_sub.required = True

    demo = chain_sub.add_parser(
        "demo",
        help="deploy everything and run one auction, an attestation and a hedge",
        description="Deploy every contract, run one auction end to end with commit-reveal, "
        "attest a batch, prove one record, settle an FX hedge against an attested fixing, and "
        "print each transaction with its gas.",
    )
    demo.add_argument(
        "--rpc",
        metavar="URL",
        default=None,
        help="JSON-RPC node to use (e.g. http://127.0.0.1:8545); default: in-process eth-tester",
    )
    demo.set_defaults(func=_cmd_demo)

    verify = chain_sub.add_parser(
        "verify",
        help="check a run's records and roots against the chain",
        description="Recompute every batch root from RUN_DIR's records, compare with the "
        "Attestor's storage on the run's chain, and check a sample of proofs on chain. Exit 0 "
        "when all hold, 1 with the first discrepancy, 2 for usage errors.",
    )
    verify.add_argument("run_dir", metavar="RUN_DIR", help="run directory (or its bridge folder)")
    verify.add_argument(
        "--rpc",
        metavar="URL",
        default=None,
        help="JSON-RPC node holding the run's chain (default: the saved eth-tester chain, or "
        "the URL recorded in chain.json)",
    )
    verify.add_argument(
        "--sample",
        type=int,
        default=32,
        metavar="N",
        help="number of proofs to check on chain with Attestor.verify (default 32; 0 skips)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    import json

    from chain.verify import verify_run

    if args.sample < 0:
        raise CliError(f"--sample={args.sample} must be >= 0")
    try:
        report = verify_run(args.run_dir, rpc_url=args.rpc, sample=args.sample)
    except (FileNotFoundError, ValueError) as err:
        raise CliError(str(err)) from None
    print(json.dumps(report.to_json(), indent=1) if args.json else report.summary())
    return 0 if report.ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from chain.demo import run_demo

    try:
        run_demo(rpc_url=args.rpc, out=sys.stdout)
    except ValueError as err:
        raise CliError(str(err)) from None
    return 0
