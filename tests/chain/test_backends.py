"""One bridge suite, run on every backend: eth-tester always; a JSON-RPC node when one is there.

The rpc backend runs against ``$CE_TEST_RPC_URL`` if set, else an ``anvil`` started here on a
free loopback port (stopped afterwards); without either the rpc cases are skipped with the reason.
"""

from __future__ import annotations

import pytest

from chain.backends import ChainAccount, derived_account, open_backend
from chain.bridge import BridgeConfig, open_attestation_bridge
from chain.tx import TxReverted, TxSender
from chain.verify import verify_run
from tests.chain._bridge_fixtures import feed, rpc_node
from tests.chain.test_settlement import _auction


@pytest.fixture(scope="module")
def rpc_url():
    with rpc_node() as url:
        yield url


@pytest.fixture(params=["eth-tester", "rpc"])
def backend_args(request, rpc_url):
    if request.param == "rpc":
        if rpc_url is None:
            pytest.skip(
                "no JSON-RPC node: set CE_TEST_RPC_URL, put anvil on PATH or run "
                "`npm ci --prefix contracts_sol`"
            )
        return "rpc", rpc_url
    return "eth-tester", None


def test_accounts_never_show_keys(backend_args) -> None:
    backend = open_backend(*backend_args)
    try:
        assert backend.deployer.address.startswith("0x")
        text = repr(backend) + repr(backend.accounts) + str(backend.describe())
        key_hex = "0000000000000000000000000000000000000000000000000000000000000001"
        assert key_hex not in text
        acct = derived_account("lender:l1")
        assert acct.address == derived_account("lender:l1").address
        assert "key" not in repr(acct).replace("local key", "")
    finally:
        backend.close()


def test_transfer_and_decoded_revert(backend_args) -> None:
    from tests.chain._bridge_fixtures import STORE_RUNTIME, init_code

    backend = open_backend(*backend_args)
    try:
        sender = TxSender(backend, error_abi=[{"type": "error", "name": "Nope", "inputs": []}])
        target = derived_account("backend-test:payee").address
        before = backend.client.balance(target)
        r = sender.transact(target, b"", 21_000, value=12_345, label="pay")
        assert r.status == 1 and r.gas_used == 21_000
        assert backend.client.balance(target) == before + 12_345
        from chain.merkle import keccak256

        sel = keccak256(b"Nope()")[:4].hex()
        runtime = bytes.fromhex("63" + sel + "60e01b60005260046000fd")  # revert Nope()
        dep = sender.transact(None, init_code(runtime), 100_000, label="deploy reverter")
        address = dep.contract_address
        assert address is not None
        with pytest.raises(TxReverted, match=r"'poke' reverted: Nope\(\)") as info:
            sender.transact(address, b"\x01", 60_000, label="poke")
        assert info.value.error_name == "Nope"
        with pytest.raises(ValueError, match="gas=None must be a positive int"):
            sender.transact(target, b"", None)  # type: ignore[arg-type]
        store = sender.transact(None, init_code(STORE_RUNTIME), 100_000, label="deploy store")
        store_at = store.contract_address
        with pytest.raises(TxReverted, match=r"out of gas \(used all 30,000 gas\)"):
            sender.transact(store_at, (5).to_bytes(32, "big"), 30_000, label="starved")
    finally:
        backend.close()


def test_bridge_attests_and_verifies(backend_args, tmp_path) -> None:
    kind, url = backend_args
    bridge = open_attestation_bridge(BridgeConfig(kind, url, "attest", 8, 5.0), tmp_path / "chain")
    last = feed(bridge, 30)
    stats = bridge.close(last + 1)
    attestor = bridge.deployment["Attestor"]
    assert attestor.call("batchCount") == stats["batches"] >= 4
    for seq in range(30):
        batch_id, leaf, proof = bridge.proof(seq)
        assert attestor.call("verify", leaf, list(proof), batch_id) is True
    report = verify_run(tmp_path, sample=30)
    assert report.ok, report.discrepancy
    assert (report.backend, report.records, report.proofs_checked) == (kind, 30, 30)
    bridge.backend.close()


def test_full_mode_settles(backend_args, tmp_path) -> None:
    kind, url = backend_args
    bridge = open_attestation_bridge(BridgeConfig(kind, url, "full", 8, 5.0), tmp_path)
    bridge.settle_auction(_auction(11))
    assert bridge.deployment["FundingEscrow"].call("auction", 11)[1] == 6  # Active
    bridge.record("clearing", {"auction_id": 11}, 1.0)
    assert bridge.close(2.0)["records"] == 1
    bridge.backend.close()


def test_rpc_errors_are_named(tmp_path) -> None:
    with pytest.raises(
        ValueError, match=r"rpc_url='http://127\.0\.0\.1:9': no JSON-RPC node answers"
    ):
        open_backend("rpc", "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="must be an http"):
        open_backend("rpc", "ws://x")
    with pytest.raises(ValueError, match="private key is not a valid"):
        ChainAccount.from_key("0x1234")
