"""Chain benchmark: attested records per second and gas per record by batch size (eth-tester).

For batch sizes 1, 64 and 1024 a fresh in-process chain is deployed and a stream of realistic
``price`` records goes through the real :class:`chain.bridge.AttestationBridge` (canonical JSON,
keccak, Merkle tree, one ``attestBatch`` transaction per batch, records and proofs streamed to
disk).  ``records_per_s`` is end to end: from the first ``record`` call until the last record
is attested on chain; writing the chain state at ``close`` is timed separately
(``close_s``).  Also reported: transactions per second, gas per record, the speed-up over one
transaction per record, and the Merkle root + all proofs time for 1,024 leaves.

Goal (spec/chain.md): at batch 1024 at least 10,000 records/s, at least 100x one transaction per
record, at most 100 gas per record.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_RECORDS_PER_S = 10_000
GOAL_SPEEDUP = 100.0
GOAL_GAS_PER_RECORD = 100.0


def _payload(i: int) -> dict[str, Any]:
    return {
        "feed": "usd_brl",
        "price_e8": 500_000_000 + (i * 7919) % 100_000,
        "sources": 3,
        "status": "OK",
        "age_s": i % 30,
    }


def _one(batch_size: int, n: int, workdir: Path) -> dict[str, Any]:
    from chain.bridge import BridgeConfig, open_attestation_bridge

    t0 = time.perf_counter()
    config = BridgeConfig("eth-tester", None, "attest", batch_size, 3600.0)
    bridge = open_attestation_bridge(config, workdir / f"b{batch_size}")
    t1 = time.perf_counter()
    dt = 0.01
    for i in range(n):
        bridge.record("price", _payload(i), i * dt)
    bridge.tick(n * dt + 3600.0)  # seal whatever is left: every record is now attested
    t2 = time.perf_counter()
    stats = bridge.close(n * dt + 3600.0)
    t3 = time.perf_counter()
    attest_s = t2 - t1
    return {
        "records": stats["records"],
        "transactions": stats["transactions"],
        "records_per_s": round(stats["records"] / attest_s, 1),
        "tx_per_s": round(stats["transactions"] / attest_s, 1),
        "gas_per_record": round(stats["gas_per_record"], 2),
        "gas_total": stats["gas_total"],
        "attest_s": round(attest_s, 3),
        "open_deploy_s": round(t1 - t0, 3),
        "close_s": round(t3 - t2, 3),
    }


def _merkle_ms(n: int = 1024, reps: int = 20) -> float:
    from chain.merkle import build_tree, keccak256, leaf_hash

    leaves = [leaf_hash(i, 1, keccak256(str(i).encode()), i) for i in range(n)]
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        build_tree(leaves)
        best = min(best, time.perf_counter() - t0)
    return round(best * 1e3, 3)


def run(quick: bool) -> dict[str, Any]:
    """Measure the bridge at batch sizes 1, 64, 1024 (``quick``: fewer records)."""
    sizes = {
        1: 40 if quick else 200,
        64: 64 * (5 if quick else 40),
        1024: 1024 * (4 if quick else 40),
    }
    out: dict[str, Any] = {"backend": "eth-tester", "note": "timings on a shared 2-core machine"}
    with tempfile.TemporaryDirectory(prefix="ce-bench-chain-") as tmp:
        _one(1, 20, Path(tmp) / "warm-up")  # imports, first-call caches: not measured
        by_size = {bs: _one(bs, n, Path(tmp)) for bs, n in sizes.items()}
    for bs, res in by_size.items():
        out[f"batch_{bs}"] = res
    big, one = by_size[1024], by_size[1]
    speedup = big["records_per_s"] / one["records_per_s"]
    out["speedup_1024_vs_1"] = round(speedup, 1)
    out["merkle_root_and_proofs_1024_ms"] = _merkle_ms()
    out["goal"] = {
        "records_per_s_at_1024": f">= {GOAL_RECORDS_PER_S}",
        "speedup_vs_one_tx_per_record": f">= {GOAL_SPEEDUP:g}x",
        "gas_per_record_at_1024": f"<= {GOAL_GAS_PER_RECORD:g}",
        "met": bool(
            big["records_per_s"] >= GOAL_RECORDS_PER_S
            and speedup >= GOAL_SPEEDUP
            and big["gas_per_record"] <= GOAL_GAS_PER_RECORD
        ),
    }
    return out
