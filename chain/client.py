"""The one door to a chain node: eth-tester in process or a JSON-RPC node, same few calls.

Everything the project asks a node goes through a :class:`ChainClient` -- nonce, latest block,
raw transaction, receipt, ``eth_call``, gas estimate, balance, and signing by the node for
its unlocked accounts -- with the same Python values on both backends (``bytes`` for data and
hashes, ``int`` for numbers, checksummed ``str`` addresses):

- :class:`TesterClient` calls ``eth_tester.EthereumTester`` directly (its public API over
  py-evm), with no web3 provider, middleware or formatter stack in between;
- :class:`JsonRpcClient` posts JSON-RPC 2.0 requests over one ``requests.Session``.

A reverted ``eth_call`` raises :class:`CallReverted` carrying the raw revert bytes when the
node gives them; any other error answer of a node raises :class:`NodeError` with its message;
connection errors and timeouts propagate as raised (:mod:`chain.tx` retries those).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import requests
    from eth_tester import EthereumTester

__all__ = [
    "BlockHead",
    "CallReverted",
    "ChainClient",
    "JsonRpcClient",
    "NodeError",
    "NodeReceipt",
    "TesterClient",
]

#: eth_abi-free encoding of the standard ``Error(string)`` selector
_ERROR_STRING = bytes.fromhex("08c379a0")


class NodeError(RuntimeError):
    """A node answered a request with an error (its message, lower-cased checks are callers')."""


class CallReverted(NodeError):
    """An ``eth_call`` reverted; ``data`` is the raw revert bytes when the node returns them."""

    def __init__(self, message: str, data: bytes | None) -> None:
        super().__init__(message)
        self.data = data


@dataclass(frozen=True, slots=True)
class NodeReceipt:
    """What the project reads from a transaction receipt."""

    block_number: int
    gas_used: int
    status: int
    contract_address: str | None


@dataclass(frozen=True, slots=True)
class BlockHead:
    """What the project reads from the latest block."""

    number: int
    hash: bytes
    state_root: bytes
    base_fee: int


class ChainClient(Protocol):
    """The calls the project makes on a node (see the module docstring)."""

    def chain_id(self) -> int: ...

    def accounts(self) -> list[str]: ...

    def nonce(self, address: str) -> int: ...

    def head(self) -> BlockHead: ...

    def balance(self, address: str) -> int: ...

    def send_raw(self, raw: bytes) -> None: ...

    def receipt(self, tx_hash: bytes) -> NodeReceipt | None: ...

    def call(self, tx: Mapping[str, Any], block: int | str = "latest") -> bytes: ...

    def estimate_gas(self, tx: Mapping[str, Any]) -> int: ...

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes: ...

    def close(self) -> None: ...


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _unhex(text: str | bytes | None) -> bytes:
    if text is None:
        return b""
    if isinstance(text, bytes | bytearray):
        return bytes(text)
    return bytes.fromhex(text.removeprefix("0x"))


def _int(value: int | str | None) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else int(value, 16)


class TesterClient:
    """:class:`ChainClient` over an in-process ``EthereumTester`` (auto-mining)."""

    def __init__(self, tester: EthereumTester) -> None:
        self.tester = tester

    def chain_id(self) -> int:
        return int(self.tester.backend.chain.chain_id)

    def accounts(self) -> list[str]:
        return list(self.tester.get_accounts())

    def nonce(self, address: str) -> int:
        return int(self.tester.get_nonce(address, "pending"))

    def head(self) -> BlockHead:
        block = self.tester.get_block_by_number("latest")
        return BlockHead(
            number=int(block["number"]),
            hash=_unhex(block["hash"]),
            state_root=_unhex(block["state_root"]),
            base_fee=int(block.get("base_fee_per_gas") or 0),
        )

    def balance(self, address: str) -> int:
        return int(self.tester.get_balance(address))

    def send_raw(self, raw: bytes) -> None:
        self.tester.send_raw_transaction(_hex(raw))

    def receipt(self, tx_hash: bytes) -> NodeReceipt | None:
        from eth_tester.exceptions import TransactionNotFound

        try:
            r = self.tester.get_transaction_receipt(_hex(tx_hash))
        except TransactionNotFound:
            return None
        return NodeReceipt(
            block_number=int(r["block_number"]),
            gas_used=int(r["gas_used"]),
            status=int(r["status"]),
            contract_address=r.get("contract_address") or None,
        )

    def call(self, tx: Mapping[str, Any], block: int | str = "latest") -> bytes:
        from eth_tester.exceptions import TransactionFailed

        try:
            return _unhex(self.tester.call(self._tx(tx), block))
        except TransactionFailed as err:
            text = str(err.args[0]) if err.args else ""
            raise CallReverted(f"execution reverted: {text}", _tester_revert_data(text)) from None

    def estimate_gas(self, tx: Mapping[str, Any]) -> int:
        return int(self.tester.estimate_gas(self._tx(tx)))

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        raise NodeError("eth-tester signs nothing for callers: send from a local key")

    def close(self) -> None:
        """Nothing to release: the chain lives in this process."""

    @staticmethod
    def _tx(tx: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in tx.items() if v is not None}
        if isinstance(out.get("data"), bytes | bytearray):
            out["data"] = _hex(out["data"])
        return out


def _tester_revert_data(text: str) -> bytes | None:
    """eth-tester reports a revert as the ``repr`` of its data bytes (parsed back exactly), or
    as the decoded reason of an ``Error(string)`` (encoded back to that error's data)."""
    if text[:2] in ("b'", 'b"'):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, bytes):
            return value
    if not text:
        return None
    from eth_abi import encode

    return _ERROR_STRING + encode(["string"], [text])


class JsonRpcClient:
    """:class:`ChainClient` over a JSON-RPC 2.0 node at ``url`` (one HTTP session)."""

    def __init__(self, url: str, session: requests.Session, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.session = session
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    def request(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; returns ``result`` or raises :class:`NodeError`."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = self.session.post(self.url, json=body, timeout=self.timeout_s)
        answer.raise_for_status()
        reply = answer.json()
        error = reply.get("error")
        if error is not None:
            message = str(error.get("message", error)) if isinstance(error, Mapping) else str(error)
            data = error.get("data") if isinstance(error, Mapping) else None
            if isinstance(data, Mapping):
                data = data.get("data")
            if method == "eth_call" and ("revert" in message.lower() or data):
                raw = _unhex(data) if isinstance(data, str) and data.startswith("0x") else None
                raise CallReverted(message, raw)
            raise NodeError(message)
        return reply.get("result")

    def chain_id(self) -> int:
        return _int(self.request("eth_chainId", []))

    def accounts(self) -> list[str]:
        return list(self.request("eth_accounts", []) or [])

    def nonce(self, address: str) -> int:
        return _int(self.request("eth_getTransactionCount", [address, "pending"]))

    def head(self) -> BlockHead:
        block = self.request("eth_getBlockByNumber", ["latest", False])
        return BlockHead(
            number=_int(block["number"]),
            hash=_unhex(block["hash"]),
            state_root=_unhex(block["stateRoot"]),
            base_fee=_int(block.get("baseFeePerGas")),
        )

    def balance(self, address: str) -> int:
        return _int(self.request("eth_getBalance", [address, "latest"]))

    def send_raw(self, raw: bytes) -> None:
        self.request("eth_sendRawTransaction", [_hex(raw)])

    def receipt(self, tx_hash: bytes) -> NodeReceipt | None:
        r = self.request("eth_getTransactionReceipt", [_hex(tx_hash)])
        if r is None:
            return None
        return NodeReceipt(
            block_number=_int(r["blockNumber"]),
            gas_used=_int(r["gasUsed"]),
            status=_int(r["status"]),
            contract_address=_checksum(r.get("contractAddress")),
        )

    def call(self, tx: Mapping[str, Any], block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return _unhex(self.request("eth_call", [self._tx(tx), tag]))

    def estimate_gas(self, tx: Mapping[str, Any]) -> int:
        return _int(self.request("eth_estimateGas", [self._tx(tx)]))

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        # nodes answer either the raw hex (anvil, hardhat) or {"raw": ..., "tx": ...} (geth)
        result = self.request("eth_signTransaction", [self._tx(tx)])
        return _unhex(result["raw"] if isinstance(result, Mapping) else result)

    def close(self) -> None:
        self.session.close()

    @staticmethod
    def _tx(tx: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tx.items():
            if value is None:
                continue
            if isinstance(value, bytes | bytearray):
                value = _hex(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = hex(value)
            out[key] = value
        return out


def _checksum(address: str | None) -> str | None:
    if not address:
        return None
    from eth_utils import to_checksum_address

    return to_checksum_address(address)
