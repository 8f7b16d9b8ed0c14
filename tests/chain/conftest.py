"""Contract-test harness: an in-process eth-tester chain, deployment from the committed artefacts,
explicit-gas transactions and custom-error decoding.

Each test module gets one chain (module-scoped ``chain``; deploy module-scoped fixtures on it)
and each test runs between an eth-tester snapshot and a revert (the function-scoped ``evm``
fixture), so tests are isolated without redeploying. Every transaction passes explicit ``gas``
and fees: estimation first makes a call ~2.4x slower on eth-tester.

eth-tester mines a reverting transaction (status 0) without raising, and its receipt carries no
revert data, so :meth:`EVM.reverts` checks reverts with an ``eth_call`` of the same call (same
sender, same state), decoding the returned error with the selectors of every committed ABI.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from eth_abi import decode
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import collapse_if_tuple, keccak, to_checksum_address
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.logs import DISCARD

from chain.artifacts import artifact_names, load_artifact

N_ACCOUNTS = 20
DEFAULT_GAS = 3_000_000
DEPLOY_GAS = 8_000_000
FEES = {"maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9}
CENTAVO = 10**16


class ContractError(AssertionError):
    """A transaction expected to succeed reverted; carries the decoded custom error."""


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector -> (error name, ABI input types) over every committed artefact."""
    table: dict[bytes, tuple[str, list[str]]] = {
        keccak(text="Error(string)")[:4]: ("Error", ["string"]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"]),
    }
    for name in artifact_names():
        for item in load_artifact(name).abi:
            if item.get("type") != "error":
                continue
            types = [collapse_if_tuple(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = (item["name"], types)
    return table


def _norm(value: Any) -> Any:
    """Make decoded and expected values comparable (addresses checksummed, tuples to lists)."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return value


def b32(text: str) -> bytes:
    """A short ASCII name as a left-aligned, zero-padded bytes32 (Solidity `bytes32("name")`)."""
    raw = text.encode("ascii")
    assert len(raw) <= 32
    return raw.ljust(32, b"\0")


class EVM:
    """One in-process chain: accounts, deploy, send, expect reverts."""

    def __init__(self, n_accounts: int = N_ACCOUNTS) -> None:
        backend = PyEVMBackend(
            genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=n_accounts)
        )
        self.tester = EthereumTester(backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: list[str] = list(self.w3.eth.accounts)
        self._errors = _error_table()

    # -- snapshots
    def snapshot(self) -> int:
        return self.tester.take_snapshot()

    def revert_to(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)

    # -- deployment and transactions
    def deploy(self, name: str, *args: Any, sender: str | None = None, gas: int = DEPLOY_GAS):
        """Deploy contract ``name`` from its committed artefact; returns the web3 contract."""
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        tx = {"from": sender or self.accounts[0], "gas": gas, **FEES}
        receipt = self._mine(factory.constructor(*args).transact(tx))
        if receipt.status != 1:
            raise ContractError(f"deploying {name}{args} failed")
        return self.w3.eth.contract(address=receipt.contractAddress, abi=list(art.abi))

    def deploy_reverts(self, name: str, args: Sequence[Any], error: str, *eargs: Any) -> None:
        """Assert deploying ``name(*args)`` reverts with custom error ``error(*eargs)``."""
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        data = factory.constructor(*args).data_in_transaction
        try:
            self.w3.eth.call({"from": self.accounts[0], "data": data, "gas": DEPLOY_GAS})
        except TransactionFailed as exc:
            name_, decoded = self.decode_revert(exc)
            assert (name_, decoded) == (error, _norm(list(eargs))), (name_, decoded)
        else:
            raise AssertionError(f"deploying {name} did not revert (expected {error})")

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=address, abi=list(load_artifact(name).abi))

    def _mine(self, tx_hash: bytes):
        return self.w3.eth.get_transaction_receipt(tx_hash)

    def send(self, fn: Any, sender: str, gas: int = DEFAULT_GAS):
        """Transact ``fn`` (a bound contract function) from ``sender``; assert it succeeded."""
        receipt = self._mine(fn.transact({"from": sender, "gas": gas, **FEES}))
        if receipt.status != 1:
            err = self.call_error(fn, sender, gas)
            raise ContractError(f"{fn.fn_name} reverted: {err}")
        return receipt

    def call_error(self, fn: Any, sender: str, gas: int = DEFAULT_GAS) -> tuple[str, list] | None:
        """The decoded error of calling ``fn`` from ``sender`` now, or None if it succeeds."""
        try:
            fn.call({"from": sender, "gas": gas})
        except TransactionFailed as exc:
            return self.decode_revert(exc)
        return None

    def decode_revert(self, exc: TransactionFailed) -> tuple[str, list]:
        """(error name, decoded arguments) of an eth-tester revert."""
        msg = str(exc.args[0]) if exc.args else ""
        msg = msg.removeprefix("execution reverted: ")
        if not msg.startswith(("b'", 'b"')):
            return ("Error", [msg])  # web3 already decoded an Error(string)
        data = ast.literal_eval(msg)
        return self.decode_error_data(data)

    def decode_error_data(self, data: bytes) -> tuple[str, list]:
        if len(data) < 4:
            return ("<no data>", [data])
        selector, body = data[:4], data[4:]
        if selector not in self._errors:
            return (f"<unknown 0x{selector.hex()}>", [body])
        name, types = self._errors[selector]
        return (name, _norm(list(decode(types, body))))

    def reverts(self, fn: Any, sender: str, error: str, *args: Any, gas: int = DEFAULT_GAS):
        """Assert calling ``fn`` from ``sender`` reverts with custom error ``error(*args)``.

        Pass ``...`` (Ellipsis) for an argument not to check it. Returns the decoded arguments.
        """
        got = self.call_error(fn, sender, gas)
        assert got is not None, f"{fn.fn_name} did not revert (expected {error}{args})"
        name, decoded = got
        assert name == error, f"{fn.fn_name} reverted with {name}{tuple(decoded)}, expected {error}"
        if args:
            expected = _norm(list(args))
            assert len(expected) == len(decoded), f"{error}: got {decoded}, expected {expected}"
            for i, (want, have) in enumerate(zip(expected, decoded, strict=True)):
                if want is not Ellipsis:
                    assert have == want, f"{error} argument {i}: got {have!r}, expected {want!r}"
        return decoded

    def events(self, contract: Contract, receipt: Any, name: str) -> list[dict[str, Any]]:
        """Decoded ``name`` events of ``contract`` in ``receipt`` (their ``args``)."""
        event = getattr(contract.events, name)()
        return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]

    def role(self, contract: Contract, name: str) -> bytes:
        return getattr(contract.functions, name)().call()


@pytest.fixture(scope="module")
def chain() -> EVM:
    """One eth-tester chain per test module; deploy module-scoped fixtures on it."""
    return EVM()


@pytest.fixture
def evm(chain: EVM) -> Iterator[EVM]:
    """The module's chain, rolled back after the test (snapshot / revert)."""
    snap = chain.snapshot()
    try:
        yield chain
    finally:
        chain.revert_to(snap)


@pytest.fixture(scope="module")
def roles(chain: EVM) -> dict[str, str]:
    """Named accounts: admin, engine, gateway, governance, fee, borrower, outsider."""
    a = chain.accounts
    return {
        "admin": a[0],
        "engine": a[1],
        "gateway": a[2],
        "governance": a[3],
        "fee": a[4],
        "borrower": a[5],
        "outsider": a[6],
    }


@pytest.fixture(scope="module")
def lenders(chain: EVM) -> Sequence[str]:
    """Lender accounts (13)."""
    return chain.accounts[7:]
