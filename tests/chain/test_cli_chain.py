"""``ce chain demo`` and ``ce chain verify`` end to end through the CLI entry point."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from chain.bridge import open_attestation_bridge
from sim.cli import main
from tests.chain._bridge_fixtures import feed


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


def test_verify_subprocess_exit_codes(tmp_path) -> None:
    bridge = open_attestation_bridge(
        "eth-tester", None, "attest", 4, 5.0, tmp_path / "run" / "chain"
    )
    bridge.close(feed(bridge, 10))
    ce = [sys.executable, "-m", "sim.cli"]
    ok = subprocess.run(
        [*ce, "chain", "verify", str(tmp_path / "run")], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: 10 records in 3 batches")
    records = tmp_path / "run" / "chain" / "records.jsonl"
    records.write_text(records.read_text().replace("500000037", "500000038"))
    bad = subprocess.run(
        [*ce, "chain", "verify", str(tmp_path / "run")], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stdout.strip().splitlines() == [bad.stdout.strip()]
    assert bad.stdout.startswith("FAILED: record seq=1: payload_hash")
    usage = subprocess.run([*ce, "chain", "verify"], capture_output=True, text=True)
    assert usage.returncode == 2


@pytest.mark.parametrize("argv", [["chain"], ["chain", "verify", "--help"]])
def test_help_and_missing_action(argv, capsys) -> None:
    assert main(argv) in (0, 2)
