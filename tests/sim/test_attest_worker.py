"""The attestation bridge in its worker process: same batches as in process, every record
attested on the real chain, outputs unchanged by the chain, one-line failures, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chain.bridge import (
    BATCHES_FILE,
    PROOFS_FILE,
    RECORDS_FILE,
    BridgeConfig,
    open_attestation_bridge,
)
from chain.verify import verify_run
from chain.worker import BridgeWorker, BridgeWorkerError
from sim.attest import AttestationError, make_sink
from sim.cli import main
from sim.config.scenario import REPO_ROOT
from sim.config.world import ChainConfig
from tests.chain._bridge_fixtures import feed
from tests.chain.test_settlement import _auction


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _wait_gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_worker_seals_the_same_batches_as_the_bridge_in_process(tmp_path) -> None:
    worker = BridgeWorker(BridgeConfig("eth-tester", None, "attest", 8, 4.0), tmp_path / "worker")
    stats = worker.close(feed(worker, 61, dt_s=0.75, tick_every=5) + 1.0)
    bridge = open_attestation_bridge(
        BridgeConfig("eth-tester", None, "attest", 8, 4.0), tmp_path / "inline"
    )
    inline = bridge.close(feed(bridge, 61, dt_s=0.75, tick_every=5) + 1.0)
    for name in (RECORDS_FILE, BATCHES_FILE, PROOFS_FILE):
        assert (tmp_path / "worker" / name).read_bytes() == (
            tmp_path / "inline" / name
        ).read_bytes()
    assert {k: stats[k] for k in inline} == dict(inline)
    assert 0 < stats["worker"]["chunks"] <= stats["batches"] == 11  # shipped per batch
    assert worker.close(99.0) == stats  # idempotent
    assert _wait_gone(worker.pid)
    with pytest.raises(RuntimeError, match="closed"):
        worker.record("price", {}, 100.0)


def test_full_mode_settles_in_the_worker(tmp_path) -> None:
    worker = BridgeWorker(BridgeConfig("eth-tester", None, "full", 8, 5.0), tmp_path)
    assert worker.wants_settlements
    worker.settle_auction(_auction(11))
    worker.record("clearing", {"auction_id": 11}, 1.0)
    stats = worker.close(2.0)
    assert stats["records"] == stats["batches"] == 1
    bridge = json.loads((tmp_path / "bridge.json").read_text())
    assert [s["auction_id"] for s in bridge["settlements"]] == [11]


def test_a_record_the_worker_rejects_fails_with_one_line(tmp_path) -> None:
    worker = make_sink(ChainConfig(backend="eth-tester", batch_size=4), tmp_path)
    worker.record("price", {"ids": {1, 2}}, 0.0)  # a set is not JSON
    with pytest.raises(AttestationError) as info:
        worker.close(1.0)
    assert str(info.value).splitlines() == [str(info.value)]
    assert str(info.value).startswith("ValueError: payload is not canonical JSON-able")
    assert _wait_gone(worker.pid)


def test_a_killed_worker_fails_the_run(tmp_path) -> None:
    worker = BridgeWorker(BridgeConfig("eth-tester", None, "attest", 4, 60.0), tmp_path)
    worker.record("price", {"i": 1}, 0.0)
    os.kill(worker.pid, signal.SIGKILL)
    assert _wait_gone(worker.pid)
    with pytest.raises(BridgeWorkerError, match=r"worker exited with code -9"):
        for i in range(10_000):  # shipping notices the broken pipe, else close does
            worker.record("price", {"i": i}, float(i))
        worker.close(1e5)


_OPEN_AND_HANG = """
import sys, time
from pathlib import Path
from chain.bridge import BridgeConfig
from chain.worker import BridgeWorker
sink = BridgeWorker(BridgeConfig("eth-tester", None, "attest", 4, 60.0), Path(sys.argv[1]))
sink.record("price", {"i": 0}, 0.0)
print(sink.pid, flush=True)
if sys.argv[2] == "hang":
    time.sleep(600)
raise KeyboardInterrupt
"""


@pytest.mark.parametrize("ending", ["SIGKILL", "KeyboardInterrupt"])
def test_the_worker_never_outlives_its_parent(tmp_path, ending) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _OPEN_AND_HANG,
            str(tmp_path),
            "hang" if ending == "SIGKILL" else "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    worker_pid = int(child.stdout.readline())
    if ending == "SIGKILL":
        assert not _gone(worker_pid)
        child.kill()
    child.wait(timeout=30)
    assert _wait_gone(worker_pid), f"worker {worker_pid} outlived its parent ({ending})"


def _ce_run(out: Path, *overrides: str) -> Path:
    argv = ["run", "small", "--quiet", "--out", str(out), "--models", str(REPO_ROOT / "models")]
    for item in ("chain.batch_interval_s=3600", *overrides):
        argv += ["--set", item]
    assert main(argv) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def test_small_attested_in_the_worker_matches_chain_off_and_verifies(tmp_path, capsys) -> None:
    on = _ce_run(tmp_path / "on", "chain.backend=eth-tester")
    off = _ce_run(tmp_path / "off", "chain.backend=off")
    capsys.readouterr()
    kpis_on = json.loads((on / "kpis.json").read_text())
    kpis_off = json.loads((off / "kpis.json").read_text())
    attest = {k: v for k, v in kpis_on["kpis"].items() if k.startswith("attest_")}
    kpis_on["kpis"] = {k: v for k, v in kpis_on["kpis"].items() if k not in attest}
    assert kpis_on == kpis_off
    tables = sorted(p.name for p in (off / "events").iterdir())
    assert tables == sorted(p.name for p in (on / "events").iterdir()) and tables
    for name in tables:  # same schema, same rows (pandas' comparison is slow on categoricals)
        assert pq.read_table(on / "events" / name).equals(pq.read_table(off / "events" / name))
    # every record the engine made is attested, in a batch on chain
    made = json.loads((off / "manifest.json").read_text())["run_info"]["stats"]["attestation"]
    lines = (on / "chain" / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == made["records"] == attest["attest_records"] > 0
    report = verify_run(on, sample=16)  # every root and stored proof; 16 proofs on chain too
    assert report.ok, report.discrepancy
    assert report.records == len(lines)


def test_ce_run_reports_a_dead_chain_in_one_line(tmp_path) -> None:
    argv = [sys.executable, "-m", "sim.cli", "run", "small", "--quiet", "--out", str(tmp_path)]
    argv += ["--models", str(REPO_ROOT / "models"), "--rpc", "http://127.0.0.1:9"]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert out.returncode == 1
    err = out.stderr.strip().splitlines()
    assert len(err) == 1, out.stderr
    assert err[0].startswith("ce run: error: attestation failed: ValueError: rpc_url=")
    assert "no JSON-RPC node answers" in err[0]
    assert not any(tmp_path.iterdir())  # nothing that looks like a run


def test_a_failed_run_aborts_its_worker_at_once(tmp_path) -> None:
    """`run_one` aborts the sink when the simulation raises: the worker stops then, not when
    the sink object is collected (a sweep worker or a notebook lives on)."""
    worker = make_sink(ChainConfig(backend="eth-tester", batch_size=4), tmp_path)
    worker.record("price", {"i": 1}, 0.0)
    assert not _gone(worker.pid)
    worker.abort()
    assert _wait_gone(worker.pid)
    worker.abort()  # idempotent
