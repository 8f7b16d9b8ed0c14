"""Sending transactions: explicit gas, local nonces, retries with backoff, no double sends.

:class:`TxSender` sends from one :class:`~chain.backends.ChainAccount`.  Rules:

- **Explicit gas, always**: the caller passes ``gas``; nothing is estimated on the hot path
  (estimation makes a call ~2.4x slower on eth-tester).  Fees: EIP-1559 with
  ``maxFeePerGas = 2 * baseFee + tip``, the base fee read once and refreshed when a node says
  the fee is too low.
- **Nonces are tracked locally** (read once from the node, then incremented).
- **The hash is known before sending**: a locally signed transaction (or one signed by the node
  with ``eth_signTransaction``) is sent raw, so after a transient error (connection reset,
  timeout, "already known") the sender first looks for the receipt of *that* hash and only
  re-sends the same signed bytes; it re-signs with a fresh nonce only when the node reports the
  nonce as used and no receipt of its own transaction exists.  One logical send therefore
  lands at most once; contract-level idempotency (e.g. an already attested batch) is the
  caller's job (see :mod:`chain.bridge`).
- A mined transaction with status 0 raises :class:`TxReverted` carrying the decoded custom
  error (name and arguments) when the revert data matches one of the given error ABIs.

Every receipt is kept as it arrives (``sender.receipts``), so nothing ever needs to scan logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.backends import Backend, ChainAccount
from chain.client import CallReverted, NodeReceipt

__all__ = [
    "TransientTxError",
    "TxError",
    "TxReceipt",
    "TxReverted",
    "TxSender",
    "decode_custom_error",
    "error_selectors",
]

_PRIORITY_FEE_WEI = 10**9  # 1 gwei tip


class TxError(RuntimeError):
    """A transaction could not be sent or was rejected."""


class TransientTxError(TxError):
    """Retries were exhausted on errors that looked transient (connection, timeout)."""


class TxReverted(TxError):
    """A transaction was mined with status 0 (or its call reverts).

    ``error_name``/``error_args`` are the decoded custom error when known, else ``None``/().
    """

    def __init__(
        self,
        label: str,
        tx_hash: str | None,
        error_name: str | None,
        error_args: tuple[Any, ...],
        gas_used: int | None,
        detail: str = "",
    ) -> None:
        self.label = label
        self.tx_hash = tx_hash
        self.error_name = error_name
        self.error_args = error_args
        self.gas_used = gas_used
        what = f"{error_name}{error_args!r}" if error_name else (detail or "no revert data")
        super().__init__(f"transaction {label!r} reverted: {what} (tx {tx_hash})")


@dataclass(frozen=True, slots=True)
class TxReceipt:
    """The facts kept about one mined transaction."""

    label: str
    tx_hash: str
    block_number: int
    gas_used: int
    status: int
    #: the deployed contract's address (deployments only)
    contract_address: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of this receipt."""
        out: dict[str, Any] = {
            "label": self.label,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "gas_used": self.gas_used,
            "status": self.status,
        }
        if self.contract_address is not None:
            out["contract_address"] = self.contract_address
        return out


def error_selectors(abi: Iterable[Mapping[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    """Map the 4-byte selector of every custom error in ``abi`` to ``(name, [types])``."""
    from chain.merkle import keccak256

    out: dict[bytes, tuple[str, list[str]]] = {}
    for item in abi:
        if item.get("type") != "error":
            continue
        types = [_abi_type(i) for i in item.get("inputs", [])]
        sig = f"{item['name']}({','.join(types)})"
        out[keccak256(sig.encode())[:4]] = (item["name"], types)
    return out


def _abi_type(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param.get("components", []))
        return f"({inner}){t[5:]}"
    return t


def decode_custom_error(
    data: bytes, selectors: Mapping[bytes, tuple[str, list[str]]]
) -> tuple[str | None, tuple[Any, ...]]:
    """Decode revert ``data`` into ``(error_name, args)``; ``(None, ())`` when unknown.

    Also understands the standard ``Error(string)`` and ``Panic(uint256)``.
    """
    from eth_abi import decode

    if len(data) < 4:
        return None, ()
    sel, body = bytes(data[:4]), bytes(data[4:])
    if sel == bytes.fromhex("08c379a0"):
        return "Error", tuple(decode(["string"], body))
    if sel == bytes.fromhex("4e487b71"):
        return "Panic", tuple(decode(["uint256"], body))
    if sel in selectors:
        name, types = selectors[sel]
        try:
            return name, tuple(decode(types, body))
        except Exception:  # malformed data: keep the name
            return name, ()
    return None, ()


def _is_transient(err: BaseException) -> bool:
    import requests

    if isinstance(
        err, requests.ConnectionError | requests.Timeout | ConnectionError | TimeoutError
    ):
        return True
    text = str(err).lower()
    return any(s in text for s in ("timeout", "timed out", "connection reset", "temporarily"))


def _message(err: BaseException) -> str:
    msg = getattr(err, "message", None) or (err.args[0] if err.args else str(err))
    if isinstance(msg, Mapping):
        msg = msg.get("message", str(msg))
    return str(msg).lower()


class TxSender:
    """Send transactions from ``account`` on ``backend`` (see the module docstring for rules).

    ``error_abi`` is the list of ABI entries used to decode custom errors; ``retries`` the
    number of extra attempts on transient errors, sleeping ``backoff_s * 2**attempt``.
    """

    def __init__(
        self,
        backend: Backend,
        account: ChainAccount | None = None,
        *,
        error_abi: Sequence[Mapping[str, Any]] = (),
        retries: int = 4,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.client = backend.client
        self.account = account if account is not None else backend.deployer
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._selectors = error_selectors(error_abi)
        self._nonce: int | None = None
        self._max_fee: int | None = None
        self.receipts: list[TxReceipt] = []

    # -- fees and nonces -------------------------------------------------------------------
    def _refresh_fee(self) -> None:
        self._max_fee = 2 * self.client.head().base_fee + _PRIORITY_FEE_WEI

    def _sync_nonce(self) -> None:
        self._nonce = self.client.nonce(self.account.address)

    def add_error_abi(self, abi: Sequence[Mapping[str, Any]]) -> None:
        """Learn more custom errors (e.g. of a contract deployed later)."""
        self._selectors.update(error_selectors(abi))

    # -- signing ---------------------------------------------------------------------------
    def _build(self, to: str | None, data: bytes, gas: int, value: int) -> dict[str, Any]:
        if self._nonce is None:
            self._sync_nonce()
        if self._max_fee is None:
            self._refresh_fee()
        tx: dict[str, Any] = {
            "from": self.account.address,
            "nonce": self._nonce,
            "gas": gas,
            "maxFeePerGas": self._max_fee,
            "maxPriorityFeePerGas": _PRIORITY_FEE_WEI,
            "chainId": self.backend.chain_id,
            "value": value,
            "data": data,
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        return tx

    def _sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        if self.account.signs_locally:
            unsigned = {k: v for k, v in tx.items() if k != "from"}
            return self.account.sign(unsigned)
        from chain.client import NodeError
        from chain.merkle import keccak256

        try:
            raw = self.client.sign_transaction(tx)  # eth_signTransaction on the node
        except NodeError as err:
            raise TxError(f"the node cannot sign for {self.account.address}: {err}") from None
        return raw, keccak256(raw)

    # -- sending ---------------------------------------------------------------------------
    def transact(
        self, to: str | None, data: bytes, gas: int, *, value: int = 0, label: str = ""
    ) -> TxReceipt:
        """Send one transaction with explicit ``gas`` and wait for its receipt.

        ``to=None`` deploys ``data`` as init code.  Raises :class:`TxReverted` on status 0,
        :class:`TransientTxError` when retries are exhausted, :class:`TxError` otherwise.
        """
        if not isinstance(gas, int) or gas <= 0:
            raise ValueError(f"gas={gas!r} must be a positive int (explicit gas is required)")
        label = label or (f"call {to}" if to else "deploy")
        raw, tx_hash = self._sign(self._build(to, data, gas, value))
        attempt = 0
        while True:
            try:
                self.client.send_raw(raw)
                break
            except Exception as err:
                if self._receipt_or_none(tx_hash) is not None:
                    break  # it did land: the error was about the answer, not the send
                msg = _message(err)
                if "already known" in msg or "known transaction" in msg:
                    break  # the node has it in its pool
                if "nonce too low" in msg or "nonce is too low" in msg:
                    self._sync_nonce()  # our nonce was used by another tx; ours never landed
                    raw, tx_hash = self._sign(self._build(to, data, gas, value))
                elif "fee" in msg and ("too low" in msg or "less than" in msg):
                    self._refresh_fee()
                    raw, tx_hash = self._sign(self._build(to, data, gas, value))
                elif not _is_transient(err):
                    raise TxError(f"transaction {label!r} rejected by the node: {err}") from None
                if attempt >= self.retries:
                    raise TransientTxError(
                        f"transaction {label!r}: {attempt + 1} attempts failed; last: {err}"
                    ) from None
                self._sleep(self.backoff_s * (2**attempt))
                attempt += 1
        self._nonce = int(self._nonce or 0) + 1
        receipt = self._wait(tx_hash, label)
        rec = TxReceipt(
            label=label,
            tx_hash="0x" + tx_hash.hex(),
            block_number=receipt.block_number,
            gas_used=receipt.gas_used,
            status=receipt.status,
            contract_address=receipt.contract_address,
        )
        self.receipts.append(rec)
        if rec.status != 1:
            if rec.gas_used >= gas:
                raise TxReverted(
                    label, rec.tx_hash, None, (), rec.gas_used, f"out of gas (used all {gas:,} gas)"
                )
            name, args, detail = self._revert_reason(to, data, value, rec.block_number)
            raise TxReverted(label, rec.tx_hash, name, args, rec.gas_used, detail)
        return rec

    def _receipt_or_none(self, tx_hash: bytes) -> NodeReceipt | None:
        try:
            return self.client.receipt(tx_hash)
        except Exception as err:
            if _is_transient(err):
                return None
            raise

    def _wait(self, tx_hash: bytes, label: str, timeout_s: float = 120.0) -> NodeReceipt:
        receipt = self._receipt_or_none(tx_hash)
        if receipt is not None:
            return receipt
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        while time.monotonic() < deadline:
            self._sleep(delay)
            receipt = self._receipt_or_none(tx_hash)
            if receipt is not None:
                return receipt
            delay = min(delay * 2, 0.5)
        raise TransientTxError(
            f"transaction {label!r} (0x{tx_hash.hex()}) not mined within {timeout_s:.0f} s"
        )

    def _revert_reason(
        self, to: str | None, data: bytes, value: int, block_number: int
    ) -> tuple[str | None, tuple[Any, ...], str]:
        """Replay the call on the parent block to recover the revert data."""
        tx: dict[str, Any] = {"from": self.account.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        try:
            self.client.call(tx, max(block_number - 1, 0))
        except CallReverted as err:
            if err.data:
                name, args = decode_custom_error(err.data, self._selectors)
                return name, args, "0x" + err.data.hex()
            return None, (), str(err)
        return None, (), "the call succeeds when replayed (out of gas?)"

    def call(self, to: str, data: bytes, *, block: int | str = "latest") -> bytes:
        """``eth_call`` ``data`` on ``to``; raises :class:`TxReverted` with the decoded error."""
        try:
            return self.client.call({"from": self.account.address, "to": to, "data": data}, block)
        except CallReverted as err:
            if err.data is None:
                raise
            name, args = decode_custom_error(err.data, self._selectors)
            raise TxReverted(f"call {to}", None, name, args, None, "0x" + err.data.hex()) from None
