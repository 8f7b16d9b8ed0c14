"""``ce chain``: the on-chain side by hand -- ``demo`` (everything end to end) and ``verify``.

``ce chain demo [--rpc URL]`` deploys every contract, runs one auction with commit-reveal on the
FundingEscrow, attests a batch of records, proves one record on chain, settles an FX hedge
against an attested fixing, and prints each transaction with its gas.

``ce chain verify RUN_DIR [--rpc URL] [--sample N]`` binds the run's attestation evidence
(``RUN_DIR/chain/``) to the run: the attested records must be the ones its event tables say it
made, the bridge's settings its scenario's, and ``chain/`` as ``manifest.json`` lists it; then
every batch root is compared with the Attestor's storage on the run's chain (the saved
eth-tester chain, or the node at ``--rpc``) and a sample of proofs is checked on chain (see
:mod:`sim.run.chain_audit`).  As ``ce audit verify``: exit 0 with ``ok: …``, 1 with ``FAILED:
<first discrepancy>`` (one line on stdout) for anything wrong in the run directory, 2 with one
line on stderr when there is nothing to verify (RUN_DIR is not a directory or holds no
attestation), for a bad argument, or when the run's rpc node does not answer.
"""

from __future__ import annotations

import argparse
import sys

from sim.cli._args import add_actions
from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    actions = add_actions(
        sub,
        "chain",
        help="on-chain demo and verification of a run's attestations",
        description="Work with the chain side: run the end-to-end demo, or verify a run's "
        "attested records against the chain.",
    )

    demo = actions.add_parser(
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

    verify = actions.add_parser(
        "verify",
        help="check that a run's attested records are its own and on chain",
        description="Check that RUN_DIR's attested records (chain/) are exactly the records its "
        "event tables say it made, that chain/ matches manifest.json and the bridge ran with "
        "the scenario's chain settings, then compare every batch root with the Attestor's "
        "storage on the run's chain and check a sample of proofs on chain. Exit 0 (ok), 1 "
        "(FAILED: first discrepancy) or 2 (nothing to verify, bad argument, node down).",
    )
    verify.add_argument("run_dir", metavar="RUN_DIR", help="run directory (or its chain/ folder)")
    verify.add_argument(
        "--rpc",
        metavar="URL",
        default=None,
        help="JSON-RPC node holding an rpc run's chain (default: the URL recorded in "
        "chain.json; an eth-tester run is checked against its saved chain)",
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

    from chain.verify import ChainUnavailable, UsageError
    from sim.run.chain_audit import verify_attested_run

    if args.sample < 0:
        raise CliError(f"--sample={args.sample}: must be >= 0")
    try:
        report = verify_attested_run(args.run_dir, rpc_url=args.rpc, sample=args.sample)
    except (FileNotFoundError, UsageError, ChainUnavailable) as err:
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
