"""``ce audit verify RUN_DIR``: check a run directory against its own manifest.

Exit 0 with ``ok: …`` when every artefact's sha256 and size match ``manifest.json``, no file
is unlisted, and the scenario, seed and ids agree; 1 with ``FAILED: <first discrepancy>``; 2
when RUN_DIR is not a directory. See :mod:`sim.run.audit` for what is and is not detectable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli._args import add_actions
from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    actions = add_actions(
        sub,
        "audit",
        help="verify a run directory against its manifest",
        description="Audit a run directory: `verify` checks every artefact against the sha256 "
        "and size in manifest.json, refuses unlisted files, and checks that the scenario, seed "
        "and ids agree. Exit 0 (ok), 1 (FAILED: first discrepancy) or 2 (usage).",
    )
    verify = actions.add_parser(
        "verify",
        help="check RUN_DIR's artefacts, scenario and ids against its manifest.json",
        description="Check RUN_DIR against its manifest.json: every artefact's sha256 and size, "
        "no unlisted file, and the scenario hashes, seed, run name and ids.",
    )
    verify.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="run directory")
    verify.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from sim.run.audit import AuditFailure, verify_run

    if not args.run_dir.is_dir():
        raise CliError(f"RUN_DIR={str(args.run_dir)!r}: must be a run directory")
    try:
        result = verify_run(args.run_dir)
    except AuditFailure as err:
        print(f"FAILED: {err}")
        return 1
    print(
        f"ok: {result.artefacts} artefacts ({result.bytes:,} bytes) of {result.run} match "
        "manifest.json; scenario, seed and ids agree"
    )
    return 0
