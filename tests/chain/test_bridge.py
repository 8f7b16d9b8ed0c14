"""The attestation bridge on eth-tester: sealing rules, files, proofs on chain, idempotency."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chain.backends import eth_tester_backend
from chain.bridge import (
    BATCHES_FILE,
    BRIDGE_FILE,
    RECORDS_FILE,
    AttestationBridge,
    BridgeConfig,
    open_attestation_bridge,
    read_proofs,
)
from chain.deploy import deploy_all
from chain.merkle import build_tree, keccak256, leaf_hash, proof_from_nodes
from chain.records import KINDS
from sim.attest import STATS_KEYS
from tests.chain._bridge_fixtures import KIND_CYCLE, feed, sample_payload


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A closed bridge: 61 records, batch_size 8, batch_interval_s 4 (both rules fire)."""
    d = tmp_path_factory.mktemp("bridge")
    bridge = open_attestation_bridge(BridgeConfig("eth-tester", None, "attest", 8, 4.0), d)
    last = feed(bridge, 61, dt_s=0.75, tick_every=5)
    stats = bridge.close(last + 1.0)
    return bridge, stats, d


def test_stats_follow_the_sink_contract(finished) -> None:
    bridge, stats, _ = finished
    assert set(stats) >= set(STATS_KEYS)  # the keys of every sink's close()
    assert stats["records"] == 61
    assert stats["batches"] == stats["transactions"] == len(bridge.batches)
    assert stats["gas_total"] == sum(b["gas_used"] for b in bridge.batches)
    assert stats["gas_per_record"] == pytest.approx(stats["gas_total"] / 61)
    assert bridge.close(999.0) is stats  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        bridge.record("price", {}, 1000.0)


def test_batches_respect_size_and_interval(finished) -> None:
    bridge, _, _ = finished
    batches = bridge.batches
    assert [b["first_seq"] for b in batches] == list(
        np.cumsum([0] + [b["count"] for b in batches[:-1]])
    )
    assert sum(b["count"] for b in batches) == 61
    assert all(1 <= b["count"] <= 8 for b in batches)
    times = [i * 0.75 for i in range(61)]
    for b in batches[:-1]:
        oldest = times[b["first_seq"]]
        # sealed either full or because the oldest record waited batch_interval_s
        assert b["count"] == 8 or b["sealed_at"] - oldest >= 4.0
        # ... and never later than the record or tick that found it too old
        assert b["sealed_at"] - oldest < 4.0 + 0.75 * 5
    assert any(b["count"] < 8 for b in batches[:-1])  # the interval rule did fire


def test_latency_stats_are_exact(finished) -> None:
    bridge, stats, _ = finished
    lat = []
    for b in bridge.batches:
        lat += [
            b["sealed_at"] - i * 0.75 for i in range(b["first_seq"], b["first_seq"] + b["count"])
        ]
    p50, p95, mx = np.percentile(lat, [50, 95, 100])
    assert stats["inclusion_latency_s_p50"] == pytest.approx(p50)
    assert stats["inclusion_latency_s_p95"] == pytest.approx(p95)
    assert stats["inclusion_latency_s_max"] == pytest.approx(mx)
    assert min(lat) >= 0


def test_files_roots_and_every_proof_on_chain(finished) -> None:
    bridge, _, d = finished
    rows = [json.loads(line) for line in (d / RECORDS_FILE).read_text().splitlines()]
    assert [r["seq"] for r in rows] == list(range(61))
    assert [r["kind"] for r in rows] == [KIND_CYCLE[i % 5] for i in range(61)]
    batches = [json.loads(line) for line in (d / BATCHES_FILE).read_text().splitlines()]
    assert batches == bridge.batches
    meta = json.loads((d / BRIDGE_FILE).read_text())
    assert meta["stats"]["records"] == 61 and meta["contracts"]["Attestor"]
    attestor = bridge.deployment["Attestor"]
    assert attestor.call("batchCount") == len(batches)
    trees = {bid: (nodes, pos) for bid, nodes, pos in read_proofs(d)}
    for b in batches:
        recs = rows[b["first_seq"] : b["first_seq"] + b["count"]]
        assert {r["batch_id"] for r in recs} == {b["batch_id"]}
        leaves = []
        for i, r in enumerate(recs):
            text = r["payload"]
            assert text == json.dumps(
                sample_payload(b["first_seq"] + i), sort_keys=True, separators=(",", ":")
            )
            assert r["payload_hash"] == "0x" + keccak256(text.encode()).hex()
            assert r["sim_time"] == math.floor((b["first_seq"] + i) * 0.75)
            leaves.append(
                leaf_hash(r["seq"], KINDS[r["kind"]], keccak256(text.encode()), r["sim_time"])
            )
        root = build_tree(leaves).root
        assert b["root"] == "0x" + root.hex()
        on_chain = attestor.call("batch", b["batch_id"])
        assert on_chain == (root, b["first_seq"], b["count"])
        nodes, positions = trees[b["batch_id"]]
        for i, leaf in enumerate(leaves):
            seq = b["first_seq"] + i
            bid, leaf2, proof = bridge.proof(seq)
            assert (bid, leaf2) == (b["batch_id"], leaf)
            assert proof == proof_from_nodes(nodes, positions[i])
            assert attestor.call("verify", leaf, list(proof), bid) is True
            assert (
                attestor.call(
                    "leafHash",
                    seq,
                    KINDS[recs[i]["kind"]],
                    keccak256(recs[i]["payload"].encode()),
                    recs[i]["sim_time"],
                )
                == leaf
            )
    # a proof for the wrong batch does not verify
    _, leaf, proof = bridge.proof(0)
    assert attestor.call("verify", leaf, list(proof), batches[-1]["batch_id"]) is False
    with pytest.raises(KeyError, match="seq=61 is not attested"):
        bridge.proof(61)


def _run_files(tmp_path, name):
    d = tmp_path / name
    bridge = open_attestation_bridge(BridgeConfig("eth-tester", None, "attest", 16, 10.0), d)
    last = feed(bridge, 40)
    bridge.close(last)
    return d


def test_same_inputs_same_bytes(tmp_path) -> None:
    a, b = _run_files(tmp_path, "a"), _run_files(tmp_path, "b")
    for name in (RECORDS_FILE, BATCHES_FILE, "proofs.bin"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_resent_batch_is_detected_and_skipped(tmp_path) -> None:
    backend = eth_tester_backend()
    dep = deploy_all(backend)
    first = AttestationBridge(
        backend, dep, batch_size=8, batch_interval_s=100.0, state_dir=tmp_path / "1"
    )
    feed(first, 16)
    first.close(20.0)
    assert dep["Attestor"].call("batchCount") == 2
    # a second bridge (a restarted process) re-sends the same records on the same contract
    again = AttestationBridge(
        backend, dep, batch_size=8, batch_interval_s=100.0, state_dir=tmp_path / "2"
    )
    feed(again, 16)
    stats = again.close(20.0)
    assert dep["Attestor"].call("batchCount") == 2  # nothing attested twice
    assert [b["already_attested"] for b in again.batches] == [True, True]
    assert [b["batch_id"] for b in again.batches] == [0, 1]
    assert stats["already_attested_batches"] == 2


def test_lost_answers_and_refused_sends_never_double_attest(tmp_path, monkeypatch) -> None:
    backend = eth_tester_backend()
    dep = deploy_all(backend)
    bridge = AttestationBridge(
        backend, dep, batch_size=4, batch_interval_s=100.0, state_dir=tmp_path
    )
    client = backend.client
    real_send = client.send_raw
    plan = iter(["lose-answer", "refuse", "refuse", "ok", "lose-answer"])

    def flaky(raw):
        step = next(plan, "ok")
        if step == "refuse":
            raise ConnectionError("connection reset by peer (injected)")
        real_send(raw)
        if step == "lose-answer":
            raise ConnectionError("connection reset after send (injected)")

    monkeypatch.setattr(client, "send_raw", flaky)
    bridge._attestor.sender._sleep = lambda s: None
    feed(bridge, 16)
    stats = bridge.close(20.0)
    assert dep["Attestor"].call("batchCount") == 4 == stats["batches"] == stats["transactions"]
    assert all(not b["already_attested"] for b in bridge.batches)


def test_attest_mode_ignores_settlements_and_validates(tmp_path) -> None:
    bridge = open_attestation_bridge(BridgeConfig("eth-tester", None, "attest", 4, 1.0), tmp_path)
    bridge.settle_auction({"auction_id": 1})  # no-op in attest mode
    with pytest.raises(ValueError, match="kind='trade' is not a record kind"):
        bridge.record("trade", {}, 0.0)
    with pytest.raises(ValueError, match=r"sim_time_s=-1\.0 must be finite and >= 0"):
        bridge.record("price", {}, -1.0)
    with pytest.raises(ValueError, match="not canonical JSON-able"):
        bridge.record("price", {"x": object()}, 0.0)
    assert bridge.pending == 0
    assert bridge.close(0.0)["records"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "fast"}, "mode='fast' is not a bridge mode"),
        ({"batch_size": 0}, "batch_size=0 must be an int >= 1"),
        ({"batch_interval_s": 0}, "batch_interval_s=0 must be a number > 0"),
        ({"backend": "ganache"}, "backend='ganache' is not a chain backend"),
        ({"backend": "rpc"}, "backend='rpc' needs rpc_url"),
    ],
)
def test_bad_configuration_is_named(tmp_path, kwargs, message) -> None:
    args = {
        "backend": "eth-tester",
        "rpc_url": None,
        "mode": "attest",
        "batch_size": 4,
        "batch_interval_s": 1.0,
        "state_dir": tmp_path,
    }
    args.update(kwargs)
    state_dir = args.pop("state_dir")
    with pytest.raises(ValueError, match=message):
        open_attestation_bridge(BridgeConfig(**args), state_dir)
