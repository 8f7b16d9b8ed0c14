"""The attestation sink interface: NullSink, make_sink, and no web3 with chain off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.attest import (
    KIND_CODES,
    KINDS,
    STATS_KEYS,
    AttestationSink,
    NullSink,
    canonical_json,
    make_sink,
)
from sim.config.world import ChainConfig


def test_kinds_and_codes_are_the_agreed_ones() -> None:
    assert KINDS == ("price", "decision", "clearing", "fx_fixing", "pm_resolution")
    assert [KIND_CODES[k] for k in KINDS] == [1, 2, 3, 4, 5]


def test_null_sink_counts_and_reports_every_stats_key(tmp_path: Path) -> None:
    sink = make_sink(ChainConfig(), tmp_path / "chain")
    assert isinstance(sink, NullSink) and isinstance(sink, AttestationSink)
    assert not (tmp_path / "chain").exists()  # nothing written for chain off
    for i in range(3):
        sink.record("price", {"feed": "cdi", "price": 0.149, "t": i}, float(i))
    sink.record("decision", {"request": "r1", "approved": True}, 3.0)
    sink.tick(60.0)
    sink.settle_auction({"auction_id": 1})
    stats = sink.close(100.0)
    assert set(STATS_KEYS) <= set(stats)
    assert stats["records"] == 4 and stats["batches"] == 0 and stats["gas_total"] == 0
    assert stats["records_by_kind"]["price"] == 3 and stats["settlements"] == 1
    assert sink.close(200.0) == stats  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        sink.record("price", {}, 101.0)


def test_null_sink_rejects_unknown_kinds_and_checks_payloads_on_request() -> None:
    with pytest.raises(ValueError, match="attestation kind='quote': must be one of price"):
        NullSink().record("quote", {}, 0.0)
    strict = NullSink(check_payloads=True)
    strict.record("clearing", {"rate_bps": 2400, "ids": ["o1"]}, 1.0)
    with pytest.raises(ValueError, match="not canonical JSON"):
        strict.record("clearing", {"x": float("nan")}, 1.0)
    with pytest.raises(ValueError, match="not canonical JSON"):
        strict.record("clearing", {"x": {1, 2}}, 1.0)


def test_canonical_json_is_the_agreed_encoding() -> None:
    payload = {"b": 1, "a": [1, 2], "é": "ç"}
    text = canonical_json(payload)
    assert text == '{"a":[1,2],"b":1,"\\u00e9":"\\u00e7"}'
    assert text == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def test_rpc_without_url_is_a_clear_error(tmp_path: Path) -> None:
    cfg = ChainConfig.model_construct(
        backend="rpc", rpc_url=None, mode="attest", batch_size=10, batch_interval_s=60.0
    )
    with pytest.raises(ValueError, match=r"chain.backend='rpc' needs chain.rpc_url"):
        make_sink(cfg, tmp_path)


def test_chain_off_imports_no_web3() -> None:
    code = (
        "import sys\n"
        "from sim.attest import make_sink\n"
        "from sim.config.world import ChainConfig\n"
        "s = make_sink(ChainConfig(backend='off'), '/nonexistent/state')\n"
        "s.record('price', {'p': 1}, 0.0); s.close(1.0)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('web3', 'eth_tester', 'eth', 'solcx', 'chain'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.slow
def test_eth_tester_backend_goes_through_the_bridge_worker(tmp_path: Path) -> None:
    sink = make_sink(ChainConfig(backend="eth-tester", batch_size=4), tmp_path / "chain")
    assert type(sink).__module__ == "chain.worker" and isinstance(sink, AttestationSink)
    for i in range(10):
        sink.record("price", {"i": i}, float(i))
    sink.tick(100.0)
    stats = sink.close(200.0)
    assert set(STATS_KEYS) <= set(stats)
    assert stats["records"] == 10 and stats["batches"] == 3 and stats["gas_total"] > 0
    assert (tmp_path / "chain").is_dir()


class _Recorder(NullSink):
    """A NullSink that keeps what it is given, and says whether it reads payloads."""

    def __init__(self, wants: bool) -> None:
        super().__init__()
        self.wants_payloads = wants
        self.wants_settlements = wants
        self.payloads: list[tuple[str, dict]] = []
        self.settled: list[dict] = []

    def record(self, kind, payload, sim_time_s):  # type: ignore[override]
        super().record(kind, payload, sim_time_s)
        self.payloads.append((kind, dict(payload)))

    def settle_auction(self, auction):  # type: ignore[override]
        super().settle_auction(auction)
        self.settled.append(dict(auction))


def test_engine_builds_payloads_only_for_a_sink_that_reads_them() -> None:
    from sim.config import load_scenario
    from sim.config.scenario import REPO_ROOT
    from sim.run.simulation import simulate

    sc = load_scenario("small", ["horizon_days=0.3", "engine.runoff_days=0", "auction.ttl_s=3600"])
    reading, blind = _Recorder(True), _Recorder(False)
    a = simulate(sc, sink=reading, models_dir=REPO_ROOT / "models")
    b = simulate(sc, sink=blind, models_dir=REPO_ROOT / "models")
    # the same records are made either way, and the run itself is the same
    assert [k for k, _ in reading.payloads] == [k for k, _ in blind.payloads]
    assert len(reading.settled) == len(blind.settled) > 0
    assert a.kpis == b.kpis
    # only the reading sink gets contents
    assert all(p for _, p in reading.payloads) and all(s["offers"] for s in reading.settled)
    assert not any(p for _, p in blind.payloads) and not any(blind.settled)
    kinds = {k for k, _ in reading.payloads}
    assert kinds == {"price", "decision", "clearing"}
