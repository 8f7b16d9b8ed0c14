"""Chain backends: one interface over eth-tester (py-evm, in process) and any JSON-RPC node.

``open_backend("eth-tester")`` (the default) builds a fresh in-memory py-evm chain whose ten
genesis accounts are eth-tester's well-known test keys; ``open_backend("rpc", url)`` connects to
a JSON-RPC node (anvil, hardhat, geth ``--dev``) over HTTP and uses the key in the environment
variable ``CE_RPC_PRIVATE_KEY`` (if set) followed by the node's unlocked accounts.  Both give a
:class:`Backend`: a :class:`~chain.client.ChainClient` (the only way to the node; no web3 layer
on either backend), the chain id and funded :class:`ChainAccount` s, ``accounts[0]`` being the
deployer / engine account.

Private keys live only inside :class:`ChainAccount` objects: they are never logged, printed,
put in a ``repr`` or written to a file.  :func:`derived_account` makes deterministic *dev-chain*
accounts (for lenders and borrowers in ``mode: full``) from a label; their keys are public by
construction and must never hold value on a real network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from chain.client import ChainClient, JsonRpcClient, TesterClient

if TYPE_CHECKING:  # pragma: no cover
    from eth_tester import EthereumTester, PyEVMBackend

__all__ = [
    "BACKENDS",
    "RPC_KEY_ENV",
    "Backend",
    "ChainAccount",
    "derived_account",
    "eth_tester_backend",
    "open_backend",
    "rpc_backend",
]

BackendKind = Literal["eth-tester", "rpc"]
#: accepted backend names
BACKENDS: tuple[str, ...] = ("eth-tester", "rpc")
#: environment variable holding a hex private key for the rpc backend (never logged)
RPC_KEY_ENV = "CE_RPC_PRIVATE_KEY"


class ChainAccount:
    """An account that can send transactions: a local key (signed here) or a node-unlocked one.

    The key is kept in a private attribute and never appears in ``repr``/``str``.
    """

    __slots__ = ("_local", "address")

    def __init__(self, address: str, local: Any | None = None) -> None:
        self.address: str = address
        self._local = local  # eth_account LocalAccount or None (unlocked on the node)

    @classmethod
    def from_key(cls, key: bytes | str) -> ChainAccount:
        """An account signing locally with ``key`` (32 bytes or 0x-hex)."""
        from eth_account import Account

        try:
            local = Account.from_key(key)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"private key is not a valid secp256k1 key ({type(err).__name__})"
            ) from None
        return cls(local.address, local)

    @property
    def signs_locally(self) -> bool:
        """True when transactions are signed in process (else the node signs them)."""
        return self._local is not None

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """Sign ``tx`` locally; returns ``(raw_transaction, tx_hash)``."""
        if self._local is None:
            raise RuntimeError(f"account {self.address} has no local key; the node signs for it")
        signed = self._local.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def __repr__(self) -> str:
        where = "local key" if self._local is not None else "unlocked on node"
        return f"ChainAccount({self.address}, {where})"

    __str__ = __repr__


def derived_account(label: str) -> ChainAccount:
    """A deterministic dev-chain account for ``label`` (e.g. ``"lender:l17"``).

    key = keccak256("creditengine-dev-account:" + label); the same label gives the same address
    in every run and process.  Dev chains only: anyone can recompute the key.
    """
    from chain.merkle import keccak256

    if not isinstance(label, str) or not label:
        raise ValueError(f"label={label!r} must be a non-empty string")
    return ChainAccount.from_key(keccak256(f"creditengine-dev-account:{label}".encode()))


@dataclass
class Backend:
    """A connected chain: its ``client``, ``chain_id`` and funded ``accounts``
    (``accounts[0]`` deploys).

    ``tester``/``pyevm`` are set for the eth-tester backend only (used by :mod:`chain.state`).
    """

    kind: BackendKind
    client: ChainClient
    chain_id: int
    accounts: list[ChainAccount]
    url: str | None = None
    tester: EthereumTester | None = field(default=None, repr=False)
    pyevm: PyEVMBackend | None = field(default=None, repr=False)

    @property
    def deployer(self) -> ChainAccount:
        """The account that deploys the contracts and holds every role."""
        return self.accounts[0]

    def describe(self) -> dict[str, Any]:
        """Public facts for run directories and reports (addresses only, never keys)."""
        return {
            "backend": self.kind,
            "url": self.url,
            "chain_id": self.chain_id,
            "deployer": self.deployer.address,
            "accounts": len(self.accounts),
        }

    def close(self) -> None:
        """Release the connection: the HTTP session for rpc (nothing to do for eth-tester)."""
        self.client.close()


def eth_tester_backend(pyevm: PyEVMBackend | None = None, *, num_accounts: int = 10) -> Backend:
    """An in-process py-evm chain (auto-mining on: one block per transaction).

    ``pyevm`` lets :mod:`chain.state` hand in a backend whose database was reloaded from disk.
    """
    from eth_tester import EthereumTester, PyEVMBackend

    if pyevm is None:
        genesis_state = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        pyevm = PyEVMBackend(genesis_state=genesis_state)
    tester = EthereumTester(pyevm, auto_mine_transactions=True)
    client = TesterClient(tester)
    accounts = [ChainAccount.from_key(k.to_bytes()) for k in pyevm.account_keys]
    return Backend(
        kind="eth-tester",
        client=client,
        chain_id=client.chain_id(),
        accounts=accounts,
        tester=tester,
        pyevm=pyevm,
    )


def rpc_backend(url: str, *, timeout_s: float = 30.0) -> Backend:
    """Connect to the JSON-RPC node at ``url``.

    Accounts: the key in ``$CE_RPC_PRIVATE_KEY`` first (if set), then the node's unlocked
    accounts.  Raises ``ValueError`` naming the url when the node does not answer or there is no
    account to send from.
    """
    import requests
    from eth_utils import to_checksum_address

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"rpc_url={url!r} must be an http(s):// JSON-RPC endpoint")
    session = requests.Session()
    client = JsonRpcClient(url, session, timeout_s=timeout_s)
    try:
        chain_id = client.chain_id()
        unlocked = client.accounts()
    except Exception as err:  # connection refused, timeout, bad JSON...
        session.close()
        raise ValueError(
            f"rpc_url={url!r}: no JSON-RPC node answers there ({type(err).__name__})"
        ) from None
    accounts: list[ChainAccount] = []
    key = os.environ.get(RPC_KEY_ENV)
    if key:
        accounts.append(ChainAccount.from_key(key.strip()))
    accounts.extend(ChainAccount(to_checksum_address(a)) for a in unlocked)
    if not accounts:
        session.close()
        raise ValueError(
            f"rpc_url={url!r}: the node has no unlocked account and ${RPC_KEY_ENV} is not set"
        )
    return Backend(kind="rpc", client=client, chain_id=chain_id, accounts=accounts, url=url)


def open_backend(kind: str = "eth-tester", rpc_url: str | None = None) -> Backend:
    """Open the backend named ``kind`` (``"eth-tester"`` or ``"rpc"``; rpc needs ``rpc_url``)."""
    if kind == "eth-tester":
        if rpc_url is not None:
            raise ValueError(f"rpc_url={rpc_url!r} is given but backend='eth-tester'; use 'rpc'")
        return eth_tester_backend()
    if kind == "rpc":
        if not rpc_url:
            raise ValueError("backend='rpc' needs rpc_url (e.g. http://127.0.0.1:8545)")
        return rpc_backend(rpc_url)
    raise ValueError(
        f"backend={kind!r} is not a chain backend; choose one of {', '.join(BACKENDS)}"
    )
