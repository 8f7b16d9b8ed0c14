"""``ce chain demo`` end to end through the CLI entry point, and ``ce chain``'s help (``ce chain
verify`` on real runs is in ``test_verify_binding``)."""

from __future__ import annotations

import re

import pytest

from sim.cli import main


def test_demo_runs_every_step_and_prints_gas(capsys) -> None:
    assert main(["chain", "demo"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "deploy FundingEscrow",
        "commit o1",
        "reveal o1",
        "submitClearing #1 (FILLED)",
        "confirm #1 (LoanConfirmed)",
        "attestBatch#0",
        "-> True (a view: no gas)",
        "HedgeSettlement.settle (fixing seq 6, batch 0)",
        "long wins 1,321.00 BRL",
    ):
        assert needle in out, needle
    tx_lines = [line for line in out.splitlines() if re.search(r" gas +[\d,]+  0x", line)]
    total = int(re.search(r"(\d+) transactions, ([\d,]+) gas in total", out).group(1))
    assert len(tx_lines) == total > 40
    assert all(
        int(re.search(r"gas +([\d,]+)", ln).group(1).replace(",", "")) > 0 for ln in tx_lines
    )


def test_demo_rejects_bad_rpc(capsys) -> None:
    assert main(["chain", "demo", "--rpc", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no JSON-RPC node answers" in err[0]


@pytest.mark.parametrize("argv", [["chain"], ["chain", "verify", "--help"]])
def test_help_and_missing_action(argv, capsys) -> None:
    assert main(argv) in (0, 2)
