"""Saving and reloading the embedded eth-tester chain: same head, same storage, still usable."""

from __future__ import annotations

import json

import pytest

from chain.backends import eth_tester_backend
from chain.state import (
    META_FILE,
    STATE_FILE,
    ChainStateError,
    load_chain_state,
    read_chain_meta,
    save_chain_state,
)
from chain.tx import TxSender
from tests.chain._bridge_fixtures import STORE_RUNTIME, init_code


def _slot0(backend, address: str) -> int:
    """Storage slot 0 of ``address`` on an eth-tester backend."""
    return int(backend.tester.get_storage_at(address, "0x0"), 16)


@pytest.fixture
def saved(tmp_path):
    backend = eth_tester_backend()
    sender = TxSender(backend)
    deploy = sender.transact(None, init_code(STORE_RUNTIME), 100_000, label="deploy")
    address = deploy.contract_address
    sender.transact(address, (0xC0FFEE).to_bytes(32, "big"), 60_000, label="store")
    sender.transact(backend.accounts[3].address, b"", 21_000, value=12345, label="pay")
    meta = save_chain_state(backend, tmp_path, contracts={"Store": address})
    return backend, address, meta, tmp_path


def test_reload_keeps_head_storage_and_balances(saved) -> None:
    backend, address, meta, path = saved
    loaded, meta2 = load_chain_state(path)
    assert meta2 == meta == read_chain_meta(path)
    a, b = backend.client, loaded.client
    assert b.head().number == a.head().number == meta["head_block_number"]
    assert b.head().hash == a.head().hash
    assert _slot0(loaded, address) == _slot0(backend, address) == 0xC0FFEE
    who = backend.accounts[3].address
    assert b.balance(who) == a.balance(who)
    assert meta["contracts"] == {"Store": {"address": address, "artifact": "Store"}}
    # the reloaded chain keeps working from the saved nonce
    TxSender(loaded).transact(address, (7).to_bytes(32, "big"), 60_000, label="store again")
    assert _slot0(loaded, address) == 7
    assert _slot0(backend, address) == 0xC0FFEE


def test_same_chain_saves_same_bytes(saved, tmp_path_factory) -> None:
    backend, address, _meta, path = saved
    other = tmp_path_factory.mktemp("again")
    save_chain_state(backend, other, contracts={"Store": address})
    assert (other / STATE_FILE).read_bytes() == (path / STATE_FILE).read_bytes()


def test_tampered_state_is_rejected(saved) -> None:
    _, _, _, path = saved
    blob = bytearray((path / STATE_FILE).read_bytes())
    blob[-5] ^= 0xFF
    (path / STATE_FILE).write_bytes(bytes(blob))
    with pytest.raises(ChainStateError, match=r"sha256 .* differs"):
        load_chain_state(path)


def test_missing_or_foreign_meta(tmp_path) -> None:
    with pytest.raises(ChainStateError, match="is missing"):
        load_chain_state(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({"format": 1, "backend": "rpc"}))
    with pytest.raises(ChainStateError, match="only eth-tester state"):
        load_chain_state(tmp_path)
    (tmp_path / META_FILE).write_text("{oops")
    with pytest.raises(ChainStateError, match="not valid JSON"):
        read_chain_meta(tmp_path)
